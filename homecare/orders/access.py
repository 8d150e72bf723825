"""Who may see an order: the one rule every use case reading an order goes through."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from homecare.auth import Actor
from homecare.orders.errors import OrderNotFound
from homecare.orders.models import Order
from homecare.orders.states import NURSE_SEES
from homecare.orders.views import nurse_id_of
from homecare.patients.models import CareRecipient


def _visible(session: Session, actor: Actor, order: Order) -> bool:
    if actor.role == "admin":
        return True
    if actor.role == "supervisor":
        return actor.organization_id == order.organization_id
    if actor.role == "nurse":
        nurse_id = nurse_id_of(session, actor)
        return (nurse_id is not None and order.nurse_id == nurse_id
                and order.status in NURSE_SEES)
    if actor.role == "patient":
        owner = session.scalar(sa.select(CareRecipient.owner_id)
                               .where(CareRecipient.id == order.patient_id))
        return owner == actor.user_id
    return False


def access_order(session: Session, actor: Actor, order_id: int, *, lock: bool = False) -> Order:
    """An order the caller may see: her recipient's, assigned to her, or her organization's.
    ``lock`` takes its row lock until commit.

    :raises OrderNotFound: (404) no such order, or the caller may not see it (another
        owner's, a nurse it is not assigned to, another organization's).
    """
    order = session.get(Order, order_id, populate_existing=True,
                        with_for_update=True if lock else None)
    if order is None or not _visible(session, actor, order):
        raise OrderNotFound(order_id=order_id)
    return order

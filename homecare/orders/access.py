"""Who may see an order: the one rule every use case reading an order goes through."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from homecare.auth import Actor, ensure_visible
from homecare.nurses.models import Nurse
from homecare.orders.errors import OrderNotFound
from homecare.orders.models import Order
from homecare.orders.states import NURSE_SEES
from homecare.patients.models import CareRecipient


def _parties(session: Session, actor: Actor, order: Order) -> dict[str, int | None]:
    """Who is party to the order, looked up for the caller's role only: the family that
    owns the recipient, and the nurse it is assigned to while she works it."""
    if actor.role == "patient":
        return {"patient": session.scalar(sa.select(CareRecipient.owner_id)
                                          .where(CareRecipient.id == order.patient_id))}
    if actor.role == "nurse" and order.nurse_id is not None and order.status in NURSE_SEES:
        return {"nurse": session.scalar(sa.select(Nurse.user_id)
                                        .where(Nurse.id == order.nurse_id))}
    return {}


def access_order(session: Session, actor: Actor, order_id: int, *, lock: bool = False) -> Order:
    """An order the caller may see: her recipient's, assigned to her, or her organization's.
    ``lock`` takes its row lock until commit.

    :raises OrderNotFound: (404) no such order, or the caller may not see it (another
        owner's, a nurse it is not assigned to, another organization's).
    """
    order = session.get(Order, order_id, populate_existing=True,
                        with_for_update=True if lock else None)
    if order is None:
        raise OrderNotFound(order_id=order_id)
    # Nurses see an order as its nurse only, not as staff of its organization.
    ensure_visible(actor, order.organization_id, OrderNotFound, staff=("admin", "supervisor"),
                   parties=_parties(session, actor, order), order_id=order_id)
    return order

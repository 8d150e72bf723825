"""Taking an order back from its nurse into dispatch: a supervisor's un-assign, a nurse
handing a visit back before she sets off, and a nurse falling ill (``nurses.unavailability``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from homecare.auth import Actor
from homecare.config import Config
from homecare.db import atomic
from homecare.dispatch.models import Offer
from homecare.dispatch.service import start_dispatch
from homecare.errors import Conflict
from homecare.orders.access import access_order
from homecare.orders.models import Order
from homecare.orders.states import InvalidTransition, may, transition


class HandbackTooLate(Conflict):
    code, title = "handback_too_late", "Too close to the visit to hand it back"


def return_to_dispatch(session: Session, order: Order, *, actor: Actor | None, reason: str,
                       now: datetime, config: Config) -> list[Offer]:
    """An ``assigned`` order goes back to dispatch (no commit): ``approved`` without a
    nurse or a planned arrival, then offered as usual. The nurses who held it are not
    offered it again (``dispatch.rounds``); with nobody to offer it to the supervisor
    gets an ``unassigned`` alert. The state machine's hooks tell the family
    (``nurse_unassigned``) and the nurse who held it (``order_reassigned``), unless
    she did it herself.

    :raises InvalidTransition: (409) the order is not ``assigned`` (under way, done).
    """
    if not may("return_to_dispatch", order.status):
        raise InvalidTransition(f"only an assigned order goes back to dispatch; this one is "
                                f"{order.status}", order_id=order.id,
                                current_status=order.status)
    transition(session, order, "approved", actor=actor, now=now, reason=reason, nurse_id=None,
               planned_arrival=None)
    return start_dispatch(session=session, order=order, now=now, config=config)


@atomic
def unassign(*, session: Session, actor: Actor, order_id: int, reason: str, now: datetime,
             config: Config) -> dict[str, Any]:
    """``POST /orders/{id}/unassign``: a supervisor takes an order back from its nurse,
    or the nurse hands it back, until ``config.handback_lead_minutes`` before its
    window opens and before she sets off. Both say why.

    :raises OrderNotFound: (404) not the caller's organization's order, or not hers.
    :raises InvalidTransition: (409) the order is not ``assigned``.
    :raises HandbackTooLate: (409) a nurse, within the lead time of the window.
    """
    order = access_order(session, actor, order_id, lock=True)
    previous = order.nurse_id
    if actor.role == "nurse" and order.status == "assigned":
        latest = order.window_start - timedelta(minutes=config.handback_lead_minutes)
        if now > latest:
            raise HandbackTooLate(
                f"a visit can be handed back until {config.handback_lead_minutes} min before "
                f"its window opens ({latest.isoformat()}); ask the supervisor",
                order_id=order.id, latest=latest.isoformat())
    offers = return_to_dispatch(session, order, actor=actor, reason=reason, now=now,
                                config=config)
    session.commit()
    return {"order_id": order.id, "status": order.status, "previous_nurse_id": previous,
            "offers_made": len(offers)}

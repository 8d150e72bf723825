"""The nurse's offers: what she sees, accepting once, declining with a reason."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from homecare.audit.service import record
from homecare.auth import Actor, ensure_visible
from homecare.catalogue.models import ServiceItem
from homecare.config import Config
from homecare.db import atomic
from homecare.dispatch import rounds
from homecare.dispatch.matching import check_nurse
from homecare.dispatch.models import Offer
from homecare.dispatch.service import assignment, withdrawn_at
from homecare.errors import Conflict, NotFound, Problem
from homecare.nurseday.load import lock_nurses
from homecare.nurses.models import Nurse
from homecare.orders.models import Order
from homecare.orders.states import InvalidTransition, may, transition
from homecare.patients.models import Address

# Rules whose failure at accept time means her day filled up meanwhile.
_SLOT_RULES = frozenset({"schedule_conflict", "daily_cap"})


class OfferNotFound(NotFound):
    code, title = "offer_not_found", "No such offer"


class OfferTaken(Conflict):
    code, title = "offer_taken", "Another nurse has taken this visit"


class OfferExpired(Conflict):
    code, title = "offer_expired", "The offer's deadline has passed"


class OfferNotOpen(Conflict):
    code, title = "offer_not_open", "The offer has already been answered"


class SlotTaken(Conflict):
    code, title = "slot_taken", "The visit no longer fits into the nurse's day"


class NurseNoLongerEligible(Conflict):
    code, title = "nurse_no_longer_eligible", "The nurse no longer meets a rule for this visit"


def _my_nurse_id(session: Session, actor: Actor) -> int | None:
    return session.scalar(sa.select(Nurse.id).where(Nurse.user_id == actor.user_id))


def list_offers(*, session: Session, actor: Actor, now: datetime) -> list[dict[str, Any]]:
    """The caller's open offers, soonest deadline first.

    Only what she needs to decide (service, window, distance, pay, district):
    the patient's name, address, phone and conditions come after she accepts.
    """
    nurse_id = _my_nurse_id(session, actor)
    if nurse_id is None:
        return []
    rows = session.execute(
        sa.select(Offer.id, Offer.order_id, Offer.round, Offer.distance_km, Offer.eta_min,
                  Offer.expires_at, Order.service_code, Order.window_start, Order.window_end,
                  Order.duration_min, Order.price_fen, ServiceItem.name_zh,
                  ServiceItem.name_en, Address.district)
        .join(Order, Order.id == Offer.order_id)
        .join(ServiceItem, ServiceItem.code == Order.service_code)
        .join(Address, Address.id == Order.address_id)
        .where(Offer.nurse_id == nurse_id, Offer.status == "open", Offer.expires_at > now)
        .order_by(Offer.expires_at, Offer.id))
    return [dict(row._mapping) for row in rows]


def access_offer(session: Session, actor: Actor, offer_id: int) -> Offer:
    offer = session.get(Offer, offer_id)
    if offer is None:
        raise OfferNotFound(offer_id=offer_id)
    # An offer is the nurse's alone: someone else's looks missing, so offer ids
    # do not reveal other nurses' work.
    ensure_visible(actor, None, OfferNotFound, staff=(),
                   parties={"nurse": session.scalar(
                       sa.select(Nurse.user_id).where(Nurse.id == offer.nurse_id))},
                   offer_id=offer_id)
    return offer


def _closed(offer: Offer, now: datetime) -> Problem:
    """Why an offer can no longer be answered."""
    if offer.status == "withdrawn":
        return OfferTaken("the visit went to another nurse or was cancelled",
                          offer_id=offer.id, order_id=offer.order_id)
    if offer.status == "expired" or (offer.status == "open" and offer.expires_at <= now):
        return OfferExpired(f"the offer expired at {offer.expires_at.isoformat()}",
                            offer_id=offer.id, expires_at=offer.expires_at.isoformat())
    return OfferNotOpen(f"the offer was already {offer.status}", offer_id=offer.id,
                        offer_status=offer.status)


@atomic
def accept_offer(*, session: Session, actor: Actor, offer_id: int, now: datetime,
                 config: Config) -> dict[str, Any]:
    """The nurse accepts an offer: of all simultaneous accepts exactly one wins.

    The order's row is locked first (every accept of it queues there), then hers
    (her day), then the offer moves open -> accepted in one conditional UPDATE
    (still open, deadline not passed) and the order offered -> assigned by the
    state machine's compare-and-set. Her day is checked again under the lock,
    so she cannot hold two overlapping visits. Sibling offers are withdrawn.

    :raises OfferNotFound: (404) no such offer, or it is not hers.
    :raises OfferTaken: (409) another nurse took the visit, or it was cancelled.
    :raises OfferExpired: (409) the deadline has passed.
    :raises OfferNotOpen: (409) she already accepted or declined it.
    :raises SlotTaken: (409) her day filled up meanwhile (overlap or daily cap).
    :raises NurseNoLongerEligible: (409) she no longer meets another rule (``rule``).
    """
    offer = access_offer(session, actor, offer_id)
    order = session.get(Order, offer.order_id, populate_existing=True, with_for_update=True)
    lock_nurses(session, [offer.nurse_id])
    session.refresh(offer)
    if offer.status != "open" or offer.expires_at <= now:
        raise _closed(offer, now)
    if not may("accept_offer", order.status):
        raise OfferTaken(f"the order is {order.status} now", offer_id=offer.id,
                         order_id=order.id)
    standing = check_nurse(session, order, offer.nurse_id, now=now, config=config)
    if not standing.eligible:
        cls = SlotTaken if standing.excluded_by in _SLOT_RULES else NurseNoLongerEligible
        raise cls(standing.reason, rule=standing.excluded_by, offer_id=offer.id)
    won = session.execute(
        sa.update(Offer).where(Offer.id == offer.id, Offer.status == "open",
                               Offer.expires_at > now)
        .values(status="accepted", responded_at=now)
        .execution_options(synchronize_session=False))
    if won.rowcount != 1:
        session.refresh(offer)
        raise _closed(offer, now)
    try:
        transition(session, order, "assigned", actor=actor, now=now,
                   nurse_id=offer.nurse_id, planned_arrival=standing.planned_arrival,
                   route_position=None)
    except InvalidTransition as exc:
        raise OfferTaken("another nurse took the visit first", offer_id=offer.id,
                         order_id=order.id) from exc
    record(session, actor=actor, action="offer.accepted", object_type="offer",
           object_id=offer.id, organization_id=order.organization_id, now=now,
           detail={"order_id": order.id})
    withdrawn = withdrawn_at(session, order.id, now)
    session.commit()
    return assignment(order, withdrawn)


@atomic
def decline_offer(*, session: Session, actor: Actor, offer_id: int, reason: str,
                  now: datetime, config: Config) -> Offer:
    """The nurse declines an offer, saying why. If that was the round's last open
    offer, the next round starts at once rather than at the deadline.

    :raises OfferNotFound: (404) no such offer, or it is not hers.
    :raises OfferExpired: (409) the deadline has passed.
    :raises OfferTaken: (409) the visit went to someone else or was cancelled.
    :raises OfferNotOpen: (409) she already answered it.
    """
    offer = access_offer(session, actor, offer_id)
    order = session.get(Order, offer.order_id, populate_existing=True, with_for_update=True)
    done = session.execute(
        sa.update(Offer).where(Offer.id == offer.id, Offer.status == "open",
                               Offer.expires_at > now)
        .values(status="declined", responded_at=now, decline_reason=reason.strip())
        .execution_options(synchronize_session=False))
    session.refresh(offer)
    if done.rowcount != 1:
        raise _closed(offer, now)
    record(session, actor=actor, action="offer.declined", object_type="offer",
           object_id=offer.id, organization_id=order.organization_id, now=now,
           detail={"order_id": order.id, "reason": offer.decline_reason})
    rounds.next_round(session, order, now, config)
    session.commit()
    return offer

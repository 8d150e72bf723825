"""Dispatch rounds: offer an order to the next best nurses, or stop and alert the supervisor."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session, make_transient_to_detached

from homecare.alerts.service import raise_alert
from homecare.audit.service import record
from homecare.config import Config
from homecare.dispatch.matching import Candidate, list_candidates
from homecare.dispatch.models import Offer
from homecare.family_beds.continuity import preferred_round
from homecare.notifications.service import notify
from homecare.nurses.models import Nurse
from homecare.orders.models import Order, OrderEvent
from homecare.orders.states import HOLDS_NURSE, touch, transition, untouched
from homecare.patients.models import Address

log = logging.getLogger(__name__)


def unassigned_cause(session: Session, order_id: int) -> str:
    """The cause of the order's ``unassigned`` alert: the order, and how often it went
    back to the queue after having a nurse. Failing to dispatch it again after
    that is a new episode the supervisor must hear about; within one episode the
    alert is raised once, and one she resolved stays resolved."""
    returned = session.scalar(sa.select(sa.func.count()).select_from(OrderEvent).where(
        OrderEvent.order_id == order_id, OrderEvent.from_status.in_(HOLDS_NURSE),
        OrderEvent.to_status == "approved"))
    return f"unassigned:order:{order_id}:returned:{returned}"


def offer_minutes(order: Order, now: datetime, config: Config) -> int:
    """Minutes a nurse has to answer: short for today's visits, longer for later days.

    A visit booked for just after midnight (at 23:50 for 00:30) is as urgent as
    a same-day one: the long deadline would leave its window at risk, so it gets
    the short one. Otherwise the calendar day decides.
    """
    today = now.astimezone(ZoneInfo(config.timezone)).date()
    if order.service_date <= today:
        return config.offer_minutes_same_day
    if _ends_too_late(now + timedelta(minutes=config.offer_minutes_later), order, config):
        return config.offer_minutes_same_day
    return config.offer_minutes_later


def _ends_too_late(deadline: datetime, order: Order, config: Config) -> bool:
    return deadline > order.window_end - timedelta(minutes=config.offer_window_risk_minutes)


def window_at_risk(order: Order, now: datetime, config: Config) -> bool:
    """Whether a new round would end too close to the window's close to still be kept."""
    return _ends_too_late(now + timedelta(minutes=offer_minutes(order, now, config)), order,
                          config)


# The nurses an order was offered to or held by: one round trip, built once.
_OFFERED_OR_HELD = sa.union(
    sa.select(Offer.nurse_id).where(Offer.order_id == sa.bindparam("order_id")),
    sa.select(OrderEvent.nurse_id).where(
        OrderEvent.order_id == sa.bindparam("order_id"),
        OrderEvent.to_status.in_(sorted(HOLDS_NURSE)), OrderEvent.nurse_id.is_not(None)))


def _fresh_candidates(session: Session, order: Order, now: datetime,
                      config: Config) -> list[Candidate]:
    """The next nurses to offer to: eligible, best first, never offered this order before
    and never holding it before (one who handed it back or was taken off it)."""
    offered = (set() if untouched(session, order.id)
               else set(session.scalars(_OFFERED_OR_HELD, {"order_id": order.id})))
    ranked = list_candidates(session=session, order=order, now=now, config=config)
    fresh = [c for c in ranked if c.nurse_id not in offered]
    # A family bed's visit goes to its responsible nurse first, alone (family_beds.continuity).
    return (preferred_round(session, order, fresh, offered, now=now, config=config)
            or fresh[:max(config.offer_fanout, 0)])


def _write_offers(session: Session, order: Order, chosen: list[Candidate], round_no: int,
                  now: datetime, config: Config) -> list[Offer]:
    expires = now + timedelta(minutes=offer_minutes(order, now, config))
    # The ranking read her account with her profile: no second read of it.
    users = {c.nurse_id: c.user_id for c in chosen}
    if None in users.values():
        users = dict(session.execute(sa.select(Nurse.id, Nurse.user_id)
                                     .where(Nurse.id.in_(list(users)))).all())
    # session.get: a booking's round finds the address it just read in the session.
    address = session.get(Address, order.address_id)
    district = address.district if address is not None else None
    same_day = offer_minutes(order, now, config) == config.offer_minutes_same_day
    # Every column: the Offers made from these rows have nothing left to load.
    offers = _insert_offers(session, [
        {"order_id": order.id, "nurse_id": c.nurse_id, "round": round_no, "status": "open",
         "distance_km": c.distance_km, "eta_min": c.eta_min, "score": c.score,
         "expires_at": expires, "created_at": now, "responded_at": None,
         "decline_reason": None} for c in chosen])
    touch(session, order.id)
    for offer in offers:
        record(session, actor=None, action="offer.created", object_type="offer",
               object_id=offer.id, organization_id=order.organization_id, now=now,
               detail={"order_id": order.id, "nurse_id": offer.nurse_id, "round": round_no,
                       "expires_at": expires.isoformat()})
        # What she decides on, and nothing that identifies the patient (PIPL): no
        # name, address or phone until she has accepted.
        notify(session, user_id=users[offer.nurse_id], kind="offer", now=now,
               order_id=order.id, urgent=same_day, payload={
                   "offer_id": offer.id, "order_id": order.id,
                   "service_code": order.service_code,
                   "window_start": order.window_start.isoformat(),
                   "window_end": order.window_end.isoformat(), "district": district,
                   "distance_km": offer.distance_km, "eta_min": offer.eta_min,
                   "price_fen": order.price_fen, "expires_at": expires.isoformat()})
    return offers


_INSERT_OFFERS = (sa.insert(Offer.__table__)
                  .returning(Offer.__table__.c.id, sort_by_parameter_order=True))


def _insert_offers(session: Session, rows: list[dict[str, Any]]) -> list[Offer]:
    """Insert the offers in one Core statement, returning them as detached Offers.

    The audit entries and notifications need the offers' ids; taking them from a
    flush also flushed every row the booking had queued so far (its events, their
    audit entries and notifications), so those tables took two INSERTs each per
    booking instead of one. The Offers are snapshots of the rows as written, kept out
    of the session: one added as if loaded would outlive a rollback of its row (a
    phantom the identity map hands back for a reused id); a later read in the same
    transaction loads the row itself.
    """
    ids = session.execute(_INSERT_OFFERS, rows).scalars().all()
    offers = []
    for offer_id, row in zip(ids, rows, strict=True):
        offer = Offer(id=offer_id, **row)
        make_transient_to_detached(offer)
        offers.append(offer)
    return offers


def stop_offering(session: Session, order: Order, reason: str, now: datetime) -> None:
    """Offers stop: an ``offered`` order goes back to the supervisor's queue, who is
    alerted. The alert resolves itself once the order is assigned or finished
    (``alerts.service.resolve_gone``)."""
    if order.status == "offered":
        transition(session, order, "approved", actor=None, now=now, reason=reason)
    raise_alert(session, kind="unassigned", cause=unassigned_cause(session, order.id),
                organization_id=order.organization_id, order_id=order.id, now=now,
                detail=reason)


def first_round(session: Session, order: Order, now: datetime, config: Config) -> list[Offer]:
    """Open the first round of an approved order (no commit)."""
    if window_at_risk(order, now, config):
        stop_offering(session, order, "the window is too close for offers; assign a nurse",
                      now)
        return []
    chosen = _fresh_candidates(session, order, now, config)
    if not chosen:
        stop_offering(session, order, "no eligible nurse for offers; assign a nurse", now)
        return []
    round_no = order.dispatch_round + 1
    transition(session, order, "offered", actor=None, now=now, dispatch_round=round_no)
    return _write_offers(session, order, chosen, round_no, now, config)


def next_round(session: Session, order: Order, now: datetime, config: Config) -> dict[str, Any]:
    """After a round ended with no taker: the next K nurses, or stop (no commit).

    Runs only for an ``offered`` order without open offers. The round counter is a
    compare-and-set, so two sweeps (or a sweep and a decline) racing over the same
    round open the next one once; the unique (order, nurse) pair backs that up.
    """
    open_left = session.scalar(sa.select(sa.func.count()).select_from(Offer).where(
        Offer.order_id == order.id, Offer.status == "open"))
    if order.status != "offered" or open_left:
        return {}
    if order.dispatch_round >= config.offer_max_rounds:
        stop_offering(session, order, f"no nurse accepted in {order.dispatch_round} rounds",
                      now)
        return {"stopped": 1}
    if window_at_risk(order, now, config):
        stop_offering(session, order, "the window is at risk; assign a nurse", now)
        return {"stopped": 1}
    chosen = _fresh_candidates(session, order, now, config)
    if not chosen:
        stop_offering(session, order, "no further eligible nurse; assign a nurse", now)
        return {"stopped": 1}
    round_no = order.dispatch_round + 1
    moved = session.execute(
        sa.update(Order).where(Order.id == order.id, Order.status == "offered",
                               Order.dispatch_round == order.dispatch_round)
        .values(dispatch_round=round_no).execution_options(synchronize_session=False))
    if moved.rowcount != 1:
        return {}
    sa.orm.attributes.set_committed_value(order, "dispatch_round", round_no)
    _write_offers(session, order, chosen, round_no, now, config)
    return {"rounds_started": 1}


"""Dispatch: find the right nurses, offer the order, accept once, assign, sweep deadlines."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from homecare.audit.service import record
from homecare.auth import Actor, ensure_visible
from homecare.config import Config
from homecare.db import atomic
from homecare.dispatch import rounds
from homecare.dispatch.matching import Candidate, check_nurse, list_candidates
from homecare.dispatch.models import Offer
from homecare.errors import Conflict, NotFound, Problem, ValidationProblem
from homecare.notifications.service import notify
from homecare.nurseday.load import lock_nurses
from homecare.nurses.models import Nurse
from homecare.orders.access import access_order
from homecare.orders.models import Order
from homecare.orders.states import (
    HOLDS_NURSE,
    SEEKING_NURSE,
    InvalidTransition,
    allowed,
    may,
    transition,
)

log = logging.getLogger(__name__)

__all__ = ["assign_nurse", "expire_offers", "find_candidates", "list_candidates", "nurse_day",
           "start_dispatch", "withdraw_open_offers"]

# Orders a supervisor may look for nurses for.


class NurseNotFound(NotFound):
    code, title = "nurse_not_found", "No such nurse"


class NurseNotEligible(ValidationProblem):
    code, title = "nurse_not_eligible", "The nurse may not take this visit"


class AlreadyAssigned(Conflict):
    code, title = "already_assigned", "The order is already assigned to this nurse"


class OrderNotDispatchable(Conflict):
    code, title = "order_not_dispatchable", "The order is past dispatch"


# ---------------------------------------------------------------- seams for orders


def start_dispatch(*, session: Session, order: Order, now: datetime,
                   config: Config) -> list[Offer]:
    """Offer a freshly approved order to the first round of candidates (no commit).

    Called by the orders service right after approval, in its transaction. The
    best ``offer_fanout`` eligible nurses get an offer each and a notification;
    the order becomes ``offered``. With no eligible nurse, or a window too close
    for offers, the order stays ``approved`` and the supervisor gets an
    ``unassigned`` alert. Returns the offers made.
    """
    if not may("start_dispatch", order.status):
        return []
    return rounds.first_round(session, order, now, config)


def withdraw_open_offers(*, session: Session, order_id: int, now: datetime,
                         actor: Actor | None = None) -> int:
    """Withdraw every open offer of an order (cancelled, assigned elsewhere). No commit.

    The nurses whose offers are withdrawn are told, so their app drops the offer.
    Each withdrawal goes on the audit trail in the name of ``actor``, whose action
    caused it (None: the service).
    """
    offers = session.execute(sa.select(Offer.id, Nurse.user_id, Order.organization_id)
                             .join(Nurse, Nurse.id == Offer.nurse_id)
                             .join(Order, Order.id == Offer.order_id)
                             .where(Offer.order_id == order_id, Offer.status == "open")).all()
    if not offers:
        return 0
    withdrawn = set(session.scalars(
        sa.update(Offer).where(Offer.id.in_([o.id for o in offers]), Offer.status == "open")
        .values(status="withdrawn", responded_at=now).returning(Offer.id)
        .execution_options(synchronize_session=False)))
    for offer_id, user_id, organization_id in offers:
        if offer_id not in withdrawn:
            continue
        notify(session, user_id=user_id, kind="offer_withdrawn", now=now, order_id=order_id,
               payload={"offer_id": offer_id, "order_id": order_id})
        record(session, actor=actor, action="offer.withdrawn", object_type="offer",
               object_id=offer_id, organization_id=organization_id, now=now,
               detail={"order_id": order_id})
    return len(withdrawn)


# ---------------------------------------------------------------- supervisor


def access_staff_nurse(session: Session, actor: Actor, nurse_id: int) -> Nurse:
    nurse = session.get(Nurse, nurse_id)
    if nurse is None:
        raise NurseNotFound(nurse_id=nurse_id)
    ensure_visible(actor, nurse.organization_id, NurseNotFound, nurse_id=nurse_id)
    return nurse


def find_candidates(*, session: Session, actor: Actor, order_id: int, now: datetime,
                    config: Config, explain_nurse_id: int | None = None) -> list[Candidate]:
    """The ranked eligible nurses for an order (``GET /orders/{id}/candidates``), or
    with ``explain_nurse_id`` one nurse's standing: scored, or the rule excluding her.

    :raises OrderNotFound: (404) no such order in the caller's organization.
    :raises NurseNotFound: (404) the nurse to explain is not of the caller's organization.
    :raises OrderNotDispatchable: (409) the order is finished (completed, cancelled, ...).
    """
    order = access_order(session, actor, order_id)
    if not may("list_candidates", order.status):
        raise OrderNotDispatchable(f"an order that is {order.status} has no candidates",
                                   order_id=order.id, current_status=order.status)
    if explain_nurse_id is not None:
        access_staff_nurse(session, actor, explain_nurse_id)
    return list_candidates(session=session, order=order, now=now, config=config,
                           explain_nurse_id=explain_nurse_id)


def withdrawn_at(session: Session, order_id: int, now: datetime) -> int:
    """How many of the order's offers were withdrawn at ``now``: by the transition just
    made (``homecare.order_hooks.offers``), in this transaction."""
    return session.scalar(sa.select(sa.func.count()).select_from(Offer).where(
        Offer.order_id == order_id, Offer.status == "withdrawn", Offer.responded_at == now))


def assignment(order: Order, withdrawn: int = 0) -> dict[str, Any]:
    """The answer to an accept or an assignment: the order's new state, in short."""
    return {"order_id": order.id, "status": order.status, "nurse_id": order.nurse_id,
            "service_code": order.service_code, "window_start": order.window_start,
            "window_end": order.window_end, "planned_arrival": order.planned_arrival,
            "dispatch_round": order.dispatch_round, "withdrawn_offers": withdrawn}


@atomic
def assign_nurse(*, session: Session, actor: Actor, order_id: int, nurse_id: int,
                 now: datetime, config: Config, reason: str | None = None) -> dict[str, Any]:
    """A supervisor assigns a nurse directly, or reassigns an assigned order.

    Every hard filter applies. Open offers are withdrawn; the state machine
    resolves the ``unassigned`` alert and tells the family, the new nurse and (on
    reassignment) the nurse taken off.

    :raises OrderNotFound: (404) no such order in the supervisor's organization.
    :raises NurseNotFound: (404) no such nurse in the supervisor's organization.
    :raises InvalidTransition: (409) the order is not approved, offered or assigned.
    :raises AlreadyAssigned: (409) the order is assigned to this nurse already.
    :raises NurseNotEligible: (422) she breaks a hard filter; ``rule`` names it.
    """
    order = access_order(session, actor, order_id, lock=True)
    access_staff_nurse(session, actor, nurse_id)
    if not allowed(order.status, "assigned", actor.role):
        raise InvalidTransition(f"an order that is {order.status} cannot be assigned",
                                order_id=order.id, current_status=order.status)
    if order.status == "assigned" and order.nurse_id == nurse_id:
        raise AlreadyAssigned(order_id=order.id, nurse_id=nurse_id)
    lock_nurses(session, [nurse_id])
    standing = check_nurse(session, order, nurse_id, now=now, config=config)
    if not standing.eligible:
        raise NurseNotEligible(standing.reason, rule=standing.excluded_by, nurse_id=nurse_id,
                               order_id=order.id, errors={"nurse_id": [standing.reason]})
    transition(session, order, "assigned", actor=actor, now=now, reason=reason,
               nurse_id=nurse_id, planned_arrival=standing.planned_arrival,
               route_position=None)
    withdrawn = withdrawn_at(session, order.id, now)
    session.commit()
    return assignment(order, withdrawn)


# ---------------------------------------------------------------- the sweep


@atomic
def expire_offers(*, session: Session, now: datetime, config: Config) -> dict:
    """Sweep deadlines (the jobs process runs this every few seconds); commits.

    Orders whose window has closed with no nurse become ``expired``; open offers
    past their deadline become ``expired``; an ``offered`` order left with no open
    offer goes to its next round, or stops with an ``unassigned`` alert after
    ``offer_max_rounds`` or when its window is at risk. Idempotent and safe to
    run twice or concurrently: each order is handled under its row lock (rows
    another sweep holds are skipped), every change is a conditional UPDATE, and
    the round counter is compare-and-set. An order that fails for any other
    reason is logged with its id and counted (``orders_failed``); the others go
    ahead. Returns counts of what it did.
    """
    counts: Counter[str] = Counter()
    closed = session.scalars(sa.select(Order.id).where(
        Order.status.in_(SEEKING_NURSE), Order.window_end < now)
        .order_by(Order.id)).all()
    for order_id in closed:
        try:
            with session.begin_nested():
                order = _lock_for_sweep(session, order_id)
                if order is None or order.status not in SEEKING_NURSE \
                        or order.window_end >= now:
                    continue
                transition(session, order, "expired", actor=None, now=now,
                           reason="the window passed with no nurse")
                withdrawn = withdrawn_at(session, order.id, now)
                if withdrawn:
                    counts["offers_withdrawn"] += withdrawn
                counts["orders_expired"] += 1
        except Problem as exc:
            log.info("sweep skipped order %s: %s", order_id, exc)
            counts["orders_skipped"] += 1
        except Exception:
            # A bug met on one order (its savepoint is rolled back) must not stall
            # every organization's sweep until that order's window closes.
            log.exception("sweep failed on order %s", order_id)
            counts["orders_failed"] += 1

    due = set(session.scalars(sa.select(Offer.order_id).where(
        Offer.status == "open", Offer.expires_at <= now)))
    # An offered order with no open offer lost its round (all declined, or a crash
    # between rounds): it needs the next one too.
    stalled = set(session.scalars(sa.select(Order.id).where(
        Order.status == "offered",
        ~sa.exists().where(Offer.order_id == Order.id, Offer.status == "open"))))
    for order_id in sorted(due | stalled):
        try:
            with session.begin_nested():
                order = _lock_for_sweep(session, order_id)
                if order is None:
                    continue
                expired = session.scalars(
                    sa.update(Offer).where(Offer.order_id == order.id, Offer.status == "open",
                                           Offer.expires_at <= now)
                    .values(status="expired", responded_at=now).returning(Offer.id)
                    .execution_options(synchronize_session=False)).all()
                for offer_id in expired:
                    record(session, actor=None, action="offer.expired", object_type="offer",
                           object_id=offer_id, organization_id=order.organization_id,
                           now=now, detail={"order_id": order.id})
                if expired:
                    counts["offers_expired"] += len(expired)
                counts.update(rounds.next_round(session, order, now, config))
        except (Problem, sa.exc.IntegrityError) as exc:
            # Another writer changed this order between our read and write: the
            # next sweep sees the new state. Other orders go ahead.
            log.info("sweep skipped order %s: %s", order_id, exc)
            counts["orders_skipped"] += 1
        except Exception:
            log.exception("sweep failed on order %s", order_id)
            counts["orders_failed"] += 1
    session.commit()
    return dict(counts)


def _lock_for_sweep(session: Session, order_id: int) -> Order | None:
    return session.get(Order, order_id, populate_existing=True,
                       with_for_update={"skip_locked": True})


# ---------------------------------------------------------------- a nurse's day


def nurse_day(*, session: Session, nurse_id: int, day: date,
              statuses: frozenset[str] = HOLDS_NURSE) -> list[Order]:
    """The orders a nurse holds on a local ``day``, in visiting order.

    Visiting order is the planned arrival where there is one, else the window's
    start. ``statuses`` defaults to the ones holding her slot; pass
    ``HOLDS_NURSE | {"completed"}`` for the whole day including what is done.
    """
    orders = session.scalars(sa.select(Order).where(
        Order.nurse_id == nurse_id, Order.service_date == day,
        Order.status.in_(statuses))).all()
    return sorted(orders, key=lambda o: (o.planned_arrival or o.window_start, o.window_start,
                                         o.id))

"""The repair queue: a planned day that changes is repaired by the jobs process, once
per burst of changes, never two repairs of one organization and day at once.

What asks for a repair (``request_repair``, written as the change's transaction commits,
so a committed change always has its repair queued and a rolled-back one never does):

- an order of the day moving (``request_for_transition``, the state machine's
  ``repairs`` hook in ``homecare.order_hooks``): approved (a new booking,
  ``order_added``), taken back from its nurse (``unassigned``: un-assign, hand-back,
  her unavailability), cancelled or expired (``order_cancelled``), ``no_show``;
- a nurse becoming unavailable (``nurses.unavailability``: ``nurse_unavailable``);
- a visit in service more than ``HOMECARE_REPAIR_OVERRUN_MINUTES`` past its planned
  end (``note_overruns``, swept by the jobs process, once per visit: ``overrun``).

Only a day that has a stored plan (a ``DayPlan``) and is not over is repaired: an
unplanned day is dispatched order by order as before. Changes the repair itself makes
(it reassigns orders) ask for nothing, or a repair would queue the next.

Debounce: the changes merge into the day's one ``pending`` row; it is due
``HOMECARE_REPAIR_DEBOUNCE_SECONDS`` after the latest change, but no later than
``HOMECARE_REPAIR_MAX_DELAY_SECONDS`` after the first, so a steady trickle of
changes is still repaired.

Serialisation: ``claim_due_repair`` moves a due row to ``running`` with a conditional
UPDATE that only one claimer wins (PostgreSQL also skips rows another claimer holds,
``FOR UPDATE SKIP LOCKED``), and only while no repair of that organization and day is
running. A change arriving meanwhile starts a new pending row (the partial unique
index allows one pending row beside the running one), repaired after it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction, aliased, scoped_session

from homecare.accounts.service import organization_in_charge
from homecare.alerts.service import raise_alert
from homecare.auth import Actor
from homecare.clock import utcnow
from homecare.config import Config
from homecare.db import atomic, before_root_commit
from homecare.nurseday.model import local_day
from homecare.orders.models import Order
from homecare.pagination import Listing
from homecare.scheduling.models import DayPlan, DayRepair, RepairOverrun
from homecare.scheduling.repair import REASON_KINDS, repair_day
from homecare.scheduling.service import DayChangedMeanwhile

log = logging.getLogger(__name__)

# ``Session.info`` key set while the jobs process runs a repair: the transitions the
# repair makes are its result, not changes to repair.
REPAIRING = "homecare.repairing"
# ``Session.info`` key: the repairs asked for in the session's transaction, not yet written.
_REQUESTS = "homecare.repair_requests"
# A repair running this long died with its process (its search is capped at
# HOMECARE_REPAIR_SECONDS, about a second): it counts as a failed attempt and is retried.
LEASE = timedelta(minutes=10)
# Due rows looked at per claim; each is tried until one is won.
_CANDIDATES = 10
# Inserting the day's pending row, each lost to a concurrent insert whose row was
# claimed before it could be read back: three races in a row do not happen.
_INSERT_TRIES = 3

RepairDay = Callable[..., DayPlan | None]
# Offers the orders a repair sent back to dispatch (session, order ids, now; no commit).
OfferReleased = Callable[[Session, list[int], datetime], None]


def request_repair(session: Session, *, organization_id: int, day: date,
                   reason: dict[str, Any], now: datetime, config: Config) -> None:
    """Ask for a repair of the organization's ``day`` for ``reason``; written when
    ``session`` commits, in its transaction (``write_requests``), so it commits with
    the change that caused it, and a rolled-back change asks for nothing.

    ``reason`` is ``{"kind": one of REASON_KINDS, "order_id"?: .., "nurse_id"?: ..}``.
    Nothing is queued when the day is over or has no stored plan.
    """
    if reason.get("kind") not in REASON_KINDS:
        raise ValueError(f"unknown repair reason {reason!r}")
    # Tagged with the innermost transaction open now: if that savepoint rolls back (a
    # refused ``atomic`` call), the change did not happen and its request goes too.
    actual = session() if isinstance(session, scoped_session) else session
    within = actual.get_nested_transaction() or actual.get_transaction()
    session.info.setdefault(_REQUESTS, []).append(
        _Request(organization_id, day, reason, now, config, within))


class _Request(NamedTuple):
    organization_id: int
    day: date
    reason: dict[str, Any]
    now: datetime
    config: Config
    within: SessionTransaction | None


# Asked as every transaction that moved an order commits (a booking's too): a Core
# statement built once rather than an ORM one built each time.
_HAS_PLAN = sa.select(sa.exists().where(
    DayPlan.__table__.c.organization_id == sa.bindparam("organization_id"),
    DayPlan.__table__.c.day == sa.bindparam("day")))


def write_requests(session: Session) -> list[DayRepair]:
    """Write the repairs ``session`` was asked for (no commit; run as it commits):
    each into a new pending row of its day, or merged into the day's pending row,
    pushing its due time back (the debounce). Returns the pending rows written.

    Written last, just before the commit, and day by day in one order: a transaction
    takes its order and nurse locks first and these rows' locks after, so two
    transactions changing orders of one day never wait on each other in a cycle.
    """
    requests: list[_Request] = session.info.pop(_REQUESTS, [])
    by_day: dict[tuple[int, date], list[_Request]] = {}
    for request in requests:
        by_day.setdefault((request.organization_id, request.day), []).append(request)
    rows = []
    for (organization_id, day), asked in sorted(by_day.items()):
        first, config = asked[0].now, asked[0].config
        if day < local_day(first, config.timezone) or not session.scalar(
                _HAS_PLAN, {"organization_id": organization_id, "day": day}):
            continue
        reasons = [r.reason for r in asked]
        last = max(r.now for r in asked)
        row = _pending_or_new(session, organization_id, day,
                              first=min(r.now for r in asked), last=last)
        _merge(row, reasons, last, config)
        rows.append(row)
    return rows


def _pending_or_new(session: Session, organization_id: int, day: date, *,
                    first: datetime, last: datetime) -> DayRepair:
    # Two changes of one day in concurrent transactions: the unique index lets one
    # insert win; the other waits for it and merges into its row. If that row was
    # claimed in the meantime, a new pending row is tried again: the change that asked
    # must commit, never fail over its repair.
    for _ in range(_INSERT_TRIES):
        row = _pending(session, organization_id, day)
        if row is not None:
            return row
        row = DayRepair(organization_id=organization_id, day=day, state="pending",
                        reasons=[], first_change_at=first, last_change_at=last,
                        due_at=last, attempts=0)
        try:
            with session.begin_nested():
                session.add(row)
            return row
        except sa.exc.IntegrityError:
            continue
    raise RuntimeError(f"no pending repair row for organization {organization_id}, {day}")


def forget_requests(session: Session) -> None:
    """Drop the repairs asked for in a transaction that rolled back."""
    session.info.pop(_REQUESTS, None)


def install() -> None:
    """Write every session's repair requests as it commits (idempotent; ``create_app``
    calls this through ``homecare.order_hooks.register``)."""
    before_root_commit(write_requests)
    if not event.contains(Session, "after_transaction_end", _after_transaction):
        event.listen(Session, "before_commit", _commit_by_another_route)
        event.listen(Session, "after_transaction_end", _after_transaction)
        event.listen(Session, "after_soft_rollback", _after_rollback)


def _commit_by_another_route(session: Session) -> None:
    # HomecareSession.commit wrote them already; a transaction committed another way
    # (``with session.begin():``) still writes them, when no savepoint is open (the
    # event also fires as one is released, which is not the commit).
    if session.info.get(_REQUESTS) and not session.in_nested_transaction():
        write_requests(session)


def _after_transaction(session: Session, transaction: SessionTransaction) -> None:
    # A committed transaction wrote its requests already; one rolled back or closed
    # (a failed request) takes its requests with it.
    if transaction.parent is None:
        forget_requests(session)


def _after_rollback(session: Session, previous: SessionTransaction) -> None:
    # A savepoint rolled back (a refused step): the requests made inside it, or inside
    # savepoints within it, go with the changes that asked for them.
    requests = session.info.get(_REQUESTS)
    if requests:
        requests[:] = [r for r in requests if not _inside(r.within, previous)]


def _inside(transaction: SessionTransaction | None, outer: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is outer:
            return True
        transaction = transaction.parent
    return False


def request_for_transition(session: Session, *, order: Order, from_status: str | None,
                           to_status: str, previous_nurse_id: int | None, now: datetime,
                           config: Config) -> None:
    """The order moved: queue a repair of its day when the move changes the day's
    routes (see the module's list); no commit."""
    if session.info.get(REPAIRING):
        return
    kind = _kind_of(from_status, to_status)
    if kind is None:
        return
    reason: dict[str, Any] = {"kind": kind, "order_id": order.id}
    nurse_id = previous_nurse_id or order.nurse_id
    if nurse_id is not None:
        reason["nurse_id"] = nurse_id
    request_repair(session, organization_id=order.organization_id, day=order.service_date,
                   reason=reason, now=now, config=config)


def _kind_of(from_status: str | None, to_status: str) -> str | None:
    if from_status is None:
        return None  # booked, not yet vetted: no plan places a submitted order
    if to_status == "approved":
        # An order whose offers ran out (offered -> approved) was never on a route.
        return {"submitted": "order_added", "assigned": "unassigned"}.get(from_status)
    if from_status == "submitted":
        return None  # rejected or cancelled before it could be planned
    if to_status in ("cancelled", "expired"):
        return "order_cancelled"
    if to_status == "no_show":
        return "no_show"
    return None


def _pending(session: Session, organization_id: int, day: date) -> DayRepair | None:
    return session.scalar(
        sa.select(DayRepair).where(DayRepair.organization_id == organization_id,
                                   DayRepair.day == day, DayRepair.state == "pending")
        .with_for_update().execution_options(populate_existing=True))


def _due(first: datetime, last: datetime, config: Config) -> datetime:
    return min(last + timedelta(seconds=config.repair_debounce_seconds),
               first + timedelta(seconds=config.repair_max_delay_seconds))


def _merge(row: DayRepair, reasons: list[dict[str, Any]], now: datetime,
           config: Config) -> None:
    # A new list, not an in-place append: the JSON column notices assignment only.
    merged = list(row.reasons or [])
    merged.extend(reason for reason in reasons if reason not in merged)
    row.reasons = merged
    row.last_change_at = max(row.last_change_at, now)
    row.due_at = _due(row.first_change_at, row.last_change_at, config)


@atomic
def note_overruns(*, session: Session, now: datetime, config: Config) -> int:
    """Queue a repair for each visit in service more than
    ``config.repair_overrun_minutes`` past its planned end (planned arrival plus its
    duration); each visit once, however often this runs. Commits; returns how many
    visits were noted."""
    over = timedelta(minutes=config.repair_overrun_minutes)
    orders = session.scalars(
        sa.select(Order).where(
            Order.status == "in_service", Order.planned_arrival.is_not(None),
            # The duration is added below: this only narrows the rows read.
            Order.planned_arrival < now - over,
            ~sa.exists().where(RepairOverrun.order_id == Order.id))
        .order_by(Order.id)).all()
    noted = 0
    for order in orders:
        if order.planned_arrival + timedelta(minutes=order.duration_min) + over >= now:
            continue
        request_repair(session, organization_id=order.organization_id,
                       day=order.service_date, now=now, config=config,
                       reason={"kind": "overrun", "order_id": order.id,
                               "nurse_id": order.nurse_id})
        session.add(RepairOverrun(order_id=order.id, noted_at=now))
        noted += 1
    session.commit()
    return noted


def claim_due_repair(session: Session, *, now: datetime) -> DayRepair | None:
    """Take one due pending repair to run (``running``, its attempt counted) and commit,
    so every other claimer sees it taken; None when nothing is due.

    Only one claimer wins a row: the UPDATE changes it only while it is still pending,
    and only while no repair of the same organization and day is running (one whose
    lease has not run out). Safe in any number of processes and on SQLite, whose
    writers take turns.
    """
    ids = list(session.scalars(
        sa.select(DayRepair.id).where(DayRepair.state == "pending", DayRepair.due_at <= now)
        .order_by(DayRepair.due_at, DayRepair.id).limit(_CANDIDATES)
        .with_for_update(skip_locked=True)))
    running = aliased(DayRepair)
    for repair_id in ids:
        won = session.execute(
            sa.update(DayRepair)
            .where(DayRepair.id == repair_id, DayRepair.state == "pending",
                   ~sa.exists().where(running.organization_id == DayRepair.organization_id,
                                      running.day == DayRepair.day,
                                      running.state == "running",
                                      running.started_at > now - LEASE))
            .values(state="running", started_at=now, attempts=DayRepair.attempts + 1)
            .execution_options(synchronize_session=False)).rowcount == 1
        if won:
            session.commit()
            return session.get(DayRepair, repair_id, populate_existing=True)
    session.commit()
    return None


def run_due_repairs(*, session: Session, now: datetime, config: Config,
                    repair: RepairDay | None = None, limit: int = 20,
                    offer: OfferReleased | None = None) -> dict[str, int]:
    """The jobs process's turn: repair every due day (up to ``limit``), one at a time.

    ``repair`` (default ``scheduling.repair.repair_day``) commits the repaired plan
    and its ``DayPlan``. A repair that raises is logged and retried after
    ``config.repair_retry_seconds``, doubling per attempt, and given up after
    ``config.repair_max_attempts`` with a ``repair_failed`` alert for the supervisors,
    except one that found the day changing under every attempt (``DayChangedMeanwhile``),
    which is due again soon and counts no attempt; a repair whose process died is
    found by its lease and retried the same way. A day that is over by the time its
    repair is due is closed without repairing. The orders a repair sent back to
    dispatch are offered by ``offer`` (the jobs process passes dispatch's first round;
    scheduling sits below dispatch). Each row is committed as it goes; returns counts.
    """
    repair = repair or repair_day
    counts: Counter[str] = Counter()
    for row in session.scalars(sa.select(DayRepair).where(
            DayRepair.state == "running", DayRepair.started_at <= now - LEASE)).all():
        log.error("repair %s of organization %s for %s outlived its lease; retrying",
                  row.id, row.organization_id, row.day)
        counts[_settle_failure(session, row, "the repair did not finish (process stopped?)",
                               now, config)] += 1
    session.commit()
    for _ in range(limit):
        row = claim_due_repair(session, now=now)
        if row is None:
            break
        repair_id, organization_id, day = row.id, row.organization_id, row.day
        if day < local_day(now, config.timezone):
            _finish(session, repair_id, now, error="the day was over before its repair")
            counts["day_over"] += 1
            continue
        session.info[REPAIRING] = True
        try:
            # Its own now: the freeze horizon counts from when this repair reads the
            # day, not from the start of a turn that may have run others first.
            plan = repair(session=session, organization_id=organization_id, day=day,
                          now=max(now, utcnow()), config=config, reasons=list(row.reasons))
            plan_id = plan.id if plan is not None else None
        except DayChangedMeanwhile:
            # A busy day, not a failure: nothing was written and the change that beat
            # the repair queued its own; no attempt counted, no alert, soon again.
            session.rollback()
            log.info("repair %s of organization %s for %s: the day kept changing during "
                     "it; repairing it again", repair_id, organization_id, day)
            counts[_settle_changed(session, session.get(DayRepair, repair_id), now,
                                   config)] += 1
            session.commit()
            continue
        except Exception as exc:
            session.rollback()
            log.exception("repair %s of organization %s for %s failed (attempt %s)",
                          repair_id, organization_id, day, row.attempts)
            # The message may quote SQL, hosts or values: it stays in the log; the
            # row, the repairs list and the alert name only the kind of failure.
            counts[_settle_failure(session, session.get(DayRepair, repair_id),
                                   f"the repair failed ({type(exc).__name__}; see the "
                                   f"jobs log for repair {repair_id})", now, config)] += 1
            session.commit()
            continue
        finally:
            session.info.pop(REPAIRING, None)
        released = (plan.result or {}).get("released_order_ids", []) if plan else []
        if released and offer is not None:
            offer(session, released, now)
            session.commit()
        _finish(session, repair_id, now, day_plan_id=plan_id,
                error=None if plan_id is not None else "the day has no stored plan")
        counts["repaired" if plan_id is not None else "no_plan"] += 1
        log.info("repaired organization %s for %s (repair %s, day plan %s)",
                 organization_id, day, repair_id, plan_id)
    return dict(counts)


def _finish(session: Session, repair_id: int, now: datetime, *,
            day_plan_id: int | None = None, error: str | None = None) -> None:
    row = session.get(DayRepair, repair_id, populate_existing=True, with_for_update=True)
    if row.state != "running" or row.started_at != now:
        # Outlived its lease and was taken back meanwhile: the retry records its own end.
        log.warning("repair %s finished after its lease ran out (now %s)", row.id, row.state)
    else:
        row.state, row.finished_at, row.day_plan_id = "done", now, day_plan_id
        row.error = error
    session.commit()


def _settle_changed(session: Session, row: DayRepair, now: datetime, config: Config) -> str:
    """A repair that gave up because the day kept changing under it (no commit): its
    attempt is not counted; it is folded into a newer pending repair of the day or
    due again after ``repair_retry_seconds``, without doubling. Returns ``"changed"``."""
    error = "the day kept changing during the repair"
    row.attempts = max(row.attempts - 1, 0)
    row.error, row.finished_at = error, now
    _again(session, row, error, now, config, timedelta(seconds=config.repair_retry_seconds))
    return "changed"


def _settle_failure(session: Session, row: DayRepair, error: str, now: datetime,
                    config: Config) -> str:
    """A failed attempt (no commit): retry later, fold into a newer pending repair of
    the day, or give up with an alert. Returns which."""
    row.error, row.finished_at = error, now
    if row.attempts >= config.repair_max_attempts:
        row.state = "failed"
        raise_alert(session, kind="repair_failed", cause=f"repair_failed:day_repair:{row.id}",
                    organization_id=row.organization_id, now=now, severity="high",
                    detail=f"the plan of {row.day.isoformat()} could not be repaired after "
                           f"{row.attempts} attempts ({error}); plan the day again")
        return "gave_up"
    _again(session, row, error, now, config, timedelta(
        seconds=config.repair_retry_seconds * 2 ** max(row.attempts - 1, 0)))
    return "retry"


def _again(session: Session, row: DayRepair, error: str, now: datetime, config: Config,
           delay: timedelta) -> None:
    """Try the row's repair again (no commit): folded into a newer pending repair of
    the day if there is one, else due again after ``delay``."""
    newer = _pending(session, row.organization_id, row.day)
    if newer is not None:
        # Changes came in meanwhile: their repair covers this one's reasons too.
        _merge(newer, list(row.reasons), now, config)
        row.state = "failed"
        row.error = f"{error}; retried with repair {newer.id}"
        return
    row.state = "pending"
    row.due_at = now + delay


def list_repairs(*, session: Session, actor: Actor, day: date,
                 organization_id: int | None = None) -> Listing:
    """The repairs of the caller's organization's ``day``, newest first: why (the
    reasons gathered), their state and times, and what the repair changed (the diff
    of the ``DayPlan`` it recorded). An admin names the organization.

    :raises OrganizationRequired: (422) an admin did not name the organization.
    :raises OrganizationNotFound: (404) no such organization, or another one's.
    """
    organization_id = organization_in_charge(session, actor, organization_id,
                                             what="day plan")
    stmt = (sa.select(DayRepair)
            .where(DayRepair.organization_id == organization_id, DayRepair.day == day)
            .order_by(DayRepair.first_change_at.desc(), DayRepair.id.desc()))
    return Listing(stmt, session, lambda rows: _views(session, rows))


def _views(session: Session, rows: list[DayRepair]) -> list[dict[str, Any]]:
    plan_ids = [row.day_plan_id for row in rows if row.day_plan_id is not None]
    plans = {plan.id: plan for plan in session.scalars(
        sa.select(DayPlan).where(DayPlan.id.in_(plan_ids)))} if plan_ids else {}
    views = []
    for row in rows:
        plan = plans.get(row.day_plan_id)
        views.append({
            "id": row.id, "date": row.day, "state": row.state, "reasons": row.reasons,
            "first_change_at": row.first_change_at, "last_change_at": row.last_change_at,
            "due_at": row.due_at, "started_at": row.started_at,
            "finished_at": row.finished_at, "attempts": row.attempts, "error": row.error,
            "day_plan_id": row.day_plan_id,
            "diff": (plan.result or {}).get("diff") if plan is not None else None,
            "stats": plan.stats if plan is not None else None})
    return views

"""Family beds (家庭病床): open an episode with its plan, generate its visits, close it.

Opening (建床) follows the organization's assessment at home, so it *is* the
first-visit assessment (首诊评估): the recipient counts as assessed by the organization,
and every visit the plan generates is approved by the system at once and handed
to dispatch in the same transaction, the path a booking of an assessed recipient
takes (``orders.states`` for every status change, ``dispatch.service.start_dispatch``
for the first offer round). Continuity needs nothing here: dispatch already ranks
the nurse who served this recipient before higher, and for an episode that is the
episode's nurse.

The plan. Each line is an item on ISO weekdays (Monday = 1 ... Sunday = 7) in a
window given as local times of day in the service area's zone. A line keeps the
booking rules of any visit (``orders.service.check_window``): at least the item's
duration long, inside the service hours.

The first round (查床) within 24 h. An episode *opens* at the later of the moment
it was opened and 00:00 local on its ``start_date``; its first round is due 24 h
after that (``first_round_due``). A visit is in time when its window opens by then.
If the plan has such a visit, the earliest is the first round. If it has none, one
extra visit of the plan's first line (its item, its window) is generated on the
first day of the episode whose window still lies ahead: the opening day's, or the
next day's once that has begun, whatever the line's weekdays. A daily window
recurs every 24 h, so that visit is always in time; an episode that ends before
it is refused (``first_round_not_possible``). The rule is a function of the
episode alone (``opened_at``, dates, plan), so the nightly job that reaches an
episode starting later finds the same first round.

Generation and its idempotency key. Visits are generated ``family_bed_horizon_days``
ahead (local today up to and including today + that many days): when an episode
opens, and every night (``jobs/generate_family_bed_visits.py``) for every open
episode. Each visit has a slot key, (episode, plan line, local date), unique in the
database (``FamilyBedVisit``): a rerun skips slots that have a key, and of two
generators racing for a slot one inserts it, the other's savepoint rolls back with
its order. Keys are never deleted, so a visit cancelled on its own is not generated
again. The extra first-round visit is keyed on the first line and its date: it is
that line's visit on a day the plan does not give the line (had it, the plan would
have had its first round in time). Slots whose window has begun are skipped, and
so are slots the booking rules refuse on the day (an item since withdrawn, a
horizon longer than the booking horizon: such a slot is generated on a later night).

Closing (撤床) cancels every generated visit not yet started (submitted, approved,
offered, assigned) through the orders' own cancellation, which withdraws offers and
notifies; visits under way or done are kept. The episode row is locked while it is
closed or extended, so a close and a nightly run never interleave.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from homecare.audit.service import record
from homecare.auth import Actor, ensure_visible, visible_filter
from homecare.catalogue.models import ServiceItem
from homecare.config import Config
from homecare.db import atomic
from homecare.dispatch.service import start_dispatch
from homecare.errors import Conflict, NotFound, Problem, ValidationProblem
from homecare.family_beds.episode import add_event, ending_cause, visit_counts
from homecare.family_beds.models import (
    FamilyBed,
    FamilyBedPlanLine,
    FamilyBedVisit,
)
from homecare.orders.models import Order
from homecare.orders.service import (
    OutsideServiceArea,
    UnknownAddress,
    UnknownPatient,
    UnknownService,
    apply_cancellation,
    check_window,
)
from homecare.orders.states import (
    NOT_STARTED,
    InvalidTransition,
    TransitionForbidden,
    open_order,
    transition,
)
from homecare.pagination import Listing
from homecare.patients.models import Address, CareRecipient
from homecare.patients.service import mark_assessed, serves_recipient

log = logging.getLogger(__name__)

FIRST_ROUND_WITHIN = timedelta(hours=24)


class FamilyBedNotFound(NotFound):
    code, title = "family_bed_not_found", "No such family bed"


class StartDateInPast(ValidationProblem):
    code, title = "start_date_in_past", "The episode cannot start before today"


class EndBeforeStart(ValidationProblem):
    code, title = "end_before_start", "The episode must end on or after its start date"


class EpisodeTooLong(ValidationProblem):
    code, title = "episode_too_long", "The episode is longer than a family bed may last"


class FirstRoundNotPossible(ValidationProblem):
    code, title = "first_round_not_possible", "The episode leaves no window for the first round"


class FamilyBedAlreadyOpen(Conflict):
    code, title = "family_bed_already_open", "The care recipient has an open family bed"


class FamilyBedAlreadyClosed(Conflict):
    code, title = "family_bed_already_closed", "The family bed is closed already"


class UnknownNurse(ValidationProblem):
    code, title = "unknown_nurse", "No such active nurse in the organization"


# ---------------------------------------------------------------- the episode's events


def plan_snapshot(lines: Sequence[FamilyBedPlanLine]) -> list[dict[str, Any]]:
    """A plan as JSON for an event and the record: what the API shows of each line."""
    return [{"line_no": line.line_no, "service_code": line.service_code,
             "weekdays": list(line.weekdays),
             "window_start": line.window_start.strftime("%H:%M"),
             "window_end": line.window_end.strftime("%H:%M")} for line in lines]


def check_responsible_nurse(session: Session, organization_id: int,
                            nurse_id: int | None) -> int | None:
    """The responsible nurse's id if she is an active nurse of the organization.

    :raises UnknownNurse: (422) no such nurse, another organization's, or inactive.
    """
    from homecare.nurses.models import Nurse

    if nurse_id is None:
        return None
    nurse = session.get(Nurse, nurse_id)
    if nurse is None or nurse.organization_id != organization_id or not nurse.active:
        raise UnknownNurse(nurse_id=nurse_id, errors={
            "responsible_nurse_id": ["no active nurse of this organization"]})
    return nurse.id


# ---------------------------------------------------------------- the calendar


def _window(line: FamilyBedPlanLine, day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    return (datetime.combine(day, line.window_start, zone).astimezone(UTC),
            datetime.combine(day, line.window_end, zone).astimezone(UTC))


def _days(first: date, last: date) -> Iterator[date]:
    for n in range((last - first).days + 1):
        yield first + timedelta(days=n)


def _plan_slots(lines: Sequence[FamilyBedPlanLine], first: date, last: date,
                zone: ZoneInfo) -> list[tuple[FamilyBedPlanLine, date, datetime, datetime]]:
    """Every (line, day, window) the plan gives from ``first`` to ``last``, by window."""
    slots = [(line, day, *_window(line, day, zone))
             for day in _days(first, last) for line in lines
             if day.isoweekday() in line.weekdays]
    return sorted(slots, key=lambda s: (s[2], s[0].line_no))


def _opens(bed: FamilyBed, zone: ZoneInfo) -> datetime:
    return max(bed.opened_at, datetime.combine(bed.start_date, time(0), zone).astimezone(UTC))


def _first_round_due(bed: FamilyBed, config: Config) -> datetime:
    """When the episode's first round is due: 24 h after it opens (module docstring)."""
    return _opens(bed, ZoneInfo(config.timezone)) + FIRST_ROUND_WITHIN


def _first_round(bed: FamilyBed, lines: Sequence[FamilyBedPlanLine],
                 zone: ZoneInfo) -> tuple[int, date]:
    """The slot (line number, local date) of the episode's first round.

    :raises FirstRoundNotPossible: the episode ends before any window for it.
    """
    opens = _opens(bed, zone)
    due = opens + FIRST_ROUND_WITHIN
    first = opens.astimezone(zone).date()
    last = min(bed.end_date, due.astimezone(zone).date())
    for line, day, start, _end in _plan_slots(lines, first, last, zone):
        if bed.opened_at < start <= due:
            return line.line_no, day
    line = lines[0]
    for day in (first, first + timedelta(days=1)):
        if day <= bed.end_date and _window(line, day, zone)[0] > bed.opened_at:
            return line.line_no, day
    raise FirstRoundNotPossible(
        "the episode ends before a window of its first plan line in which the first "
        "round could be made", errors={"end_date": ["too early for the first round"]})


# ---------------------------------------------------------------- opening


def _check_recipient_and_address(session: Session, actor: Actor, patient_id: int,
                                 address_id: int) -> tuple[Any, Any]:
    recipient = session.get(CareRecipient, patient_id)
    if recipient is None or not serves_recipient(
            session=session, organization_id=actor.organization_id, patient_id=patient_id):
        raise UnknownPatient(patient_id=patient_id, errors={"patient_id": ["not found"]})
    address = session.get(Address, address_id)
    if address is None or address.patient_id != recipient.id:
        raise UnknownAddress(address_id=address_id, errors={"address_id": ["not found"]})
    # The same refusals, in the same order, as a booking by staff.
    if address.outside_service_area or address.organization_id is None:
        raise OutsideServiceArea("no organization's service area covers this address",
                                 address_id=address_id)
    if address.organization_id != actor.organization_id:
        raise UnknownAddress(address_id=address_id, errors={"address_id": ["not found"]})
    return recipient, address


def _check_dates(start_date: date, end_date: date, *, now: datetime, config: Config) -> None:
    today = now.astimezone(ZoneInfo(config.timezone)).date()
    if start_date < today:
        raise StartDateInPast(f"start_date must be {today.isoformat()} or later",
                              errors={"start_date": ["must not be in the past"]})
    if end_date < start_date:
        raise EndBeforeStart(errors={"end_date": ["must not be before start_date"]})
    days = (end_date - start_date).days + 1
    if days > config.family_bed_max_days:
        raise EpisodeTooLong(
            f"a family bed lasts at most {config.family_bed_max_days} days; this one {days}",
            max_days=config.family_bed_max_days,
            errors={"end_date": [f"at most {config.family_bed_max_days} days, both included"]})


def _check_plan(session: Session, plan: list[dict[str, Any]], start_date: date,
                config: Config) -> list[FamilyBedPlanLine]:
    zone = ZoneInfo(config.timezone)
    lines = []
    for index, given in enumerate(plan):
        item = session.get(ServiceItem, given["service_code"])
        if item is None or not item.active:
            raise UnknownService(service_code=given["service_code"], plan_line=index + 1,
                                 errors={"plan": {index: {"service_code": [
                                     "no active item with this code"]}}})
        line = FamilyBedPlanLine(line_no=index + 1, service_code=item.code,
                                 weekdays=sorted(given["weekdays"]),
                                 window_start=given["window_start"],
                                 window_end=given["window_end"])
        start, end = _window(line, start_date, zone)
        try:
            # A line is a time of day, not a booking made now: checked as if booked the
            # moment before, only the duration and service hours apply. The past and the
            # booking horizon are checked for each visit as it is generated.
            check_window(start, end, duration_min=item.duration_min,
                         now=start - timedelta(microseconds=1), config=config)
        except ValidationProblem as exc:
            exc.extensions["plan_line"] = index + 1
            exc.extensions["errors"] = {"plan": {index: exc.extensions.get("errors", {})}}
            raise
        lines.append(line)
    return lines


def _ensure_none_open(session: Session, patient_id: int) -> None:
    open_id = session.scalar(sa.select(FamilyBed.id).where(
        FamilyBed.patient_id == patient_id, FamilyBed.status == "open"))
    if open_id is not None:
        raise FamilyBedAlreadyOpen(f"family bed {open_id} is open; close it first",
                                   family_bed_id=open_id, patient_id=patient_id)


@atomic
def open_family_bed(*, session: Session, actor: Actor, patient_id: int, address_id: int,
                    diagnosis: str, start_date: date, end_date: date,
                    plan: list[dict[str, Any]], now: datetime, config: Config,
                    responsible_nurse_id: int | None = None) -> dict[str, Any]:
    """A supervisor opens a family bed (建床) for a recipient her organization serves.

    The organization owns the episode. Opening is its assessment: the recipient is
    marked assessed, and the visits of the first ``family_bed_horizon_days`` (with
    the first round, see the module docstring) are generated, approved and put to
    dispatch. ``plan`` is a list of ``{service_code, weekdays, window_start,
    window_end}`` with local times of day. ``responsible_nurse_id`` (责任护士), if
    given, is offered the generated visits first (``family_beds.continuity``).

    :raises UnknownPatient: (422) no such recipient, or not one the organization serves.
    :raises UnknownAddress: (422) not an address of that recipient in the organization's area.
    :raises OutsideServiceArea: (422) no organization serves the address.
    :raises StartDateInPast: (422) ``start_date`` before the local today.
    :raises EndBeforeStart: (422) ``end_date`` before ``start_date``.
    :raises EpisodeTooLong: (422) more than ``family_bed_max_days`` days.
    :raises UnknownService: (422) a plan line's item is missing or withdrawn.
    :raises WindowTooShort: (422) a plan line's window is shorter than its item.
    :raises OutsideServiceHours: (422) a plan line's window leaves the service hours.
    :raises FirstRoundNotPossible: (422) the episode ends before any first-round window.
    :raises UnknownNurse: (422) the responsible nurse is not an active nurse of the
        organization.
    :raises FamilyBedAlreadyOpen: (409) the recipient has an open episode.
    """
    recipient, address = _check_recipient_and_address(session, actor, patient_id, address_id)
    _check_dates(start_date, end_date, now=now, config=config)
    lines = _check_plan(session, plan, start_date, config)
    responsible_nurse_id = check_responsible_nurse(session, actor.organization_id,
                                                   responsible_nurse_id)
    bed = FamilyBed(organization_id=address.organization_id, patient_id=recipient.id,
                    address_id=address.id, diagnosis=diagnosis, start_date=start_date,
                    end_date=end_date, status="open", opened_by=actor.user_id, opened_at=now,
                    responsible_nurse_id=responsible_nurse_id, plan_version=1,
                    created_at=now, updated_at=now)
    _first_round(bed, lines, ZoneInfo(config.timezone))
    _ensure_none_open(session, recipient.id)
    try:
        with session.begin_nested():
            session.add(bed)
            session.flush()
    except sa.exc.IntegrityError:  # a concurrent opening for the same recipient won
        raise FamilyBedAlreadyOpen(patient_id=recipient.id) from None
    for line in lines:
        line.family_bed_id, line.plan_version = bed.id, 1
    session.add_all(lines)
    session.flush()
    add_event(session, bed, "opened", actor=actor, now=now, plan_version=1,
              plan=plan_snapshot(lines), start_date=start_date.isoformat(),
              end_date=end_date.isoformat(), responsible_nurse_id=responsible_nurse_id)
    mark_assessed(session, patient_id=recipient.id, organization_id=bed.organization_id,
                  now=now)
    record(session, actor=actor, action="family_bed.opened", object_type="family_bed",
           object_id=bed.id, organization_id=bed.organization_id, now=now,
           detail={"patient_id": bed.patient_id, "start_date": start_date.isoformat(),
                   "end_date": end_date.isoformat(), "plan_lines": len(lines)})
    generate(session, bed, lines, actor=actor, now=now, config=config)
    session.commit()
    return _view(session=session, bed=bed, config=config, with_visits=True)


# ---------------------------------------------------------------- generation


def generate(session: Session, bed: FamilyBed, lines: Sequence[FamilyBedPlanLine], *,
             actor: Actor | None, now: datetime, config: Config,
             created: list[int] | None = None) -> Counter[str]:
    """Create the missing visits of the horizon (no commit); counts what it did and
    adds the new orders' ids to ``created``, if given."""
    zone = ZoneInfo(config.timezone)
    counts: Counter[str] = Counter()
    today = now.astimezone(zone).date()
    first = max(bed.start_date, today)
    last = min(bed.end_date, today + timedelta(days=config.family_bed_horizon_days))
    if first > last:
        return counts
    round_slot = _pending_first_round(session, bed, lines, zone)
    slots = _plan_slots(lines, first, last, zone)
    if round_slot is not None:
        by_no = {line.line_no: line for line in lines}
        round_line, round_day = by_no[round_slot[0]], round_slot[1]
        if first <= round_day <= last and not any(
                (line.line_no, day) == round_slot for line, day, *_ in slots):
            slots = sorted([*slots, (round_line, round_day,
                                     *_window(round_line, round_day, zone))],
                           key=lambda s: (s[2], s[0].line_no))
    taken = {(row.line_no, row.service_date) for row in session.execute(
        sa.select(FamilyBedVisit.line_no, FamilyBedVisit.service_date)
        .where(FamilyBedVisit.family_bed_id == bed.id,
               FamilyBedVisit.plan_version == bed.plan_version))}
    items = {item.code: item for item in session.scalars(sa.select(ServiceItem).where(
        ServiceItem.code.in_({line.service_code for line in lines})))}
    created = [] if created is None else created
    first_new = len(created)
    for line, day, start, end in slots:
        if (line.line_no, day) in taken or start <= now:
            continue
        item = items.get(line.service_code)
        try:
            if item is None or not item.active:
                raise UnknownService(service_code=line.service_code)
            check_window(start, end, duration_min=item.duration_min, now=now, config=config)
        except ValidationProblem as exc:
            log.info("family bed %s line %s on %s not generated: %s", bed.id, line.line_no,
                     day, exc.code)
            counts[f"skipped_{exc.code}"] += 1
            continue
        try:
            with session.begin_nested():
                order = _open_visit(session, bed, line, item, day, start, end,
                                    first_round=(line.line_no, day) == round_slot,
                                    actor=actor, now=now, config=config)
        except sa.exc.IntegrityError:  # another generator took this slot first
            counts["skipped_taken"] += 1
            continue
        created.append(order.id)
    if len(created) > first_new:
        counts["orders_created"] += len(created) - first_new
        record(session, actor=actor, action="family_bed.visits_generated",
               object_type="family_bed", object_id=bed.id,
               organization_id=bed.organization_id, now=now,
               detail={"order_ids": created[first_new:], "through": last.isoformat()})
    return counts


def _pending_first_round(session: Session, bed: FamilyBed, lines: Sequence[FamilyBedPlanLine],
                         zone: ZoneInfo) -> tuple[int, date] | None:
    """The first round's slot under the current plan, or None once the episode has one.

    The first round belongs to the opening: once generated it is pinned, so a
    changed plan does not add a second one. Only if a plan change withdrew it (or
    it was never generated) is it worked out from the current plan, if it still can be.
    """
    if bed.plan_version > 1 and session.scalar(sa.select(FamilyBedVisit.id).where(
            FamilyBedVisit.family_bed_id == bed.id, FamilyBedVisit.first_round.is_(True),
            FamilyBedVisit.withdrawn.is_(None)).limit(1)) is not None:
        return None
    try:
        return _first_round(bed, lines, zone)
    except FirstRoundNotPossible:
        if bed.plan_version == 1:
            raise
        return None


def _open_visit(session: Session, bed: FamilyBed, line: FamilyBedPlanLine, item: Any,
                day: date, start: datetime, end: datetime, *, first_round: bool,
                actor: Actor | None, now: datetime, config: Config) -> Order:
    order = Order(organization_id=bed.organization_id, patient_id=bed.patient_id,
                  address_id=bed.address_id, booked_by=bed.opened_by, service_code=item.code,
                  duration_min=item.duration_min, price_fen=item.price_fen,
                  window_start=start, window_end=end, service_date=day,
                  notes=f"家庭病床 #{bed.id}" + (" 查床" if first_round else ""),
                  family_bed_id=bed.id)
    open_order(session, order, actor=actor, now=now)
    session.add(FamilyBedVisit(family_bed_id=bed.id, plan_version=bed.plan_version,
                               line_no=line.line_no, service_date=day, order_id=order.id,
                               first_round=first_round, created_at=now))
    # The slot key is written before dispatch: a duplicate fails here, having offered
    # nothing to anybody.
    session.flush()
    transition(session, order, "approved", actor=None, now=now,
               reason=f"family bed {bed.id}: assessed when it was opened")
    start_dispatch(session=session, order=order, now=now, config=config)
    return order


def lines_of(session: Session, bed: FamilyBed) -> list[FamilyBedPlanLine]:
    """The episode's current plan, by line."""
    return list(session.scalars(sa.select(FamilyBedPlanLine).where(
        FamilyBedPlanLine.family_bed_id == bed.id,
        FamilyBedPlanLine.plan_version == bed.plan_version).order_by(FamilyBedPlanLine.line_no)))


def lock_bed(session: Session, bed_id: int, *, skip_locked: bool = False) -> FamilyBed | None:
    return session.get(FamilyBed, bed_id, populate_existing=True,
                       with_for_update={"skip_locked": True} if skip_locked else True)


def each_open_bed(session: Session, where: list[sa.ColumnElement[bool]],
                  work: Callable[[FamilyBed], Mapping[str, int]], *,
                  doing: str) -> Counter[str]:
    """Run ``work`` on every open episode matching ``where``, for the nightly job (no
    commit); adds up the counts it returns.

    Each episode is handled under its row lock (one another writer holds is left to
    the next run) and in a savepoint of its own, so one failing episode does not stop
    the others (``family_beds_failed``).
    """
    counts: Counter[str] = Counter()
    bed_ids = session.scalars(sa.select(FamilyBed.id).where(FamilyBed.status == "open", *where)
                              .order_by(FamilyBed.id)).all()
    for bed_id in bed_ids:
        try:
            with session.begin_nested():
                bed = lock_bed(session, bed_id, skip_locked=True)
                if bed is None or bed.status != "open":
                    continue
                counts.update(work(bed))
        except (Problem, sa.exc.IntegrityError) as exc:
            log.warning("family bed %s not %s: %s", bed_id, doing, exc)
            counts["family_beds_failed"] += 1
    return counts


@atomic
def extend_family_beds(*, session: Session, now: datetime, config: Config) -> dict[str, int]:
    """Extend every open episode's visits to the horizon (the nightly job); commits.

    Idempotent: a rerun, or a run after a crash, creates only the slots still
    missing. Each episode on its own (``each_open_bed``). Returns counts of what it did.
    """
    zone = ZoneInfo(config.timezone)
    today = now.astimezone(zone).date()
    through = today + timedelta(days=config.family_bed_horizon_days)

    def extend(bed: FamilyBed) -> Counter[str]:
        counts = generate(session, bed, lines_of(session, bed), actor=None, now=now,
                          config=config)
        counts["family_beds"] += 1
        return counts

    counts = each_open_bed(session, [FamilyBed.end_date >= today, FamilyBed.start_date <= through],
                           extend, doing="extended")
    session.commit()
    return dict(counts)


# ---------------------------------------------------------------- closing


@atomic
def close_family_bed(*, session: Session, actor: Actor, family_bed_id: int, reason: str,
                     summary: str, now: datetime, config: Config) -> dict[str, Any]:
    """A supervisor closes an episode (撤床) with a reason and a summary.

    ``reason`` is one of ``CLOSE_REASONS``. Who closed it and when are kept. Its
    generated visits that have not started are cancelled; the family and any nurse
    holding one are told, open offers are withdrawn. Visits under way (en route, in
    service) or done are kept, and so is one a nurse sets off for while the episode
    closes. ``deceased`` also calls back a nurse on her way, and withholds every
    message to the family about the episode's visits not yet sent (no reminders,
    no cancellation notices).

    :raises FamilyBedNotFound: (404) no such episode in the supervisor's organization.
    :raises FamilyBedAlreadyClosed: (409) it is closed already.
    """
    bed = lock_bed(session, family_bed_id)
    if bed is None:
        raise FamilyBedNotFound(family_bed_id=family_bed_id)
    ensure_visible(actor, bed.organization_id, FamilyBedNotFound, family_bed_id=family_bed_id)
    if bed.status == "closed":
        raise FamilyBedAlreadyClosed(family_bed_id=bed.id, closed_at=bed.closed_at.isoformat())
    close(session, bed, reason=reason, summary=summary, actor=actor, now=now)
    session.commit()
    return _view(session=session, bed=bed, config=config, with_visits=True)


def close(session: Session, bed: FamilyBed, *, reason: str, summary: str,
          actor: Actor | None, now: datetime) -> dict[str, list[int]]:
    """Close a locked open episode (no commit): the rules of ``close_family_bed``;
    ``actor`` None is the service (the end date passed)."""
    from homecare.alerts.service import resolve_cause

    bed.status, bed.closed_by, bed.closed_at = "closed", actor.user_id if actor else None, now
    bed.close_reason, bed.summary, bed.updated_at = reason, summary, now
    statuses = (*NOT_STARTED, "en_route") if reason == "deceased" else NOT_STARTED
    pending = session.scalars(
        sa.select(Order).where(Order.family_bed_id == bed.id, Order.status.in_(statuses))
        .order_by(Order.window_start, Order.id)
        .execution_options(populate_existing=True)).all()
    cancelled, kept = withdraw_visits(session, pending, why="closed", actor=actor, now=now,
                                      reason=f"family bed {bed.id} closed: {reason}")
    if reason == "deceased":
        session.flush()
        _withhold_family_messages(session, bed, now)
    resolve_cause(session, cause=ending_cause(bed.id, bed.end_date), now=now, actor=actor)
    add_event(session, bed, "closed", actor=actor, now=now, reason=reason, summary=summary,
              cancelled_order_ids=cancelled, kept_order_ids=kept)
    record(session, actor=actor, action="family_bed.closed", object_type="family_bed",
           object_id=bed.id, organization_id=bed.organization_id, now=now,
           detail={"reason": reason, "cancelled_order_ids": cancelled,
                   "kept_order_ids": kept})
    return {"cancelled_order_ids": cancelled, "kept_order_ids": kept}


def withdraw_visits(session: Session, orders: Sequence[Order], *, why: str,
                    actor: Actor | None, now: datetime,
                    reason: str) -> tuple[list[int], list[int]]:
    """Cancel generated visits because the episode changed (no commit): through the
    orders' own cancellation (notifies, withdraws offers), each visit marked as
    withdrawn by the episode (``why``). A visit that cannot be cancelled any more
    (the nurse set off meanwhile) is kept. Returns (cancelled, kept) order ids."""
    cancelled, kept = [], []
    for order in orders:
        try:
            with session.begin_nested():
                session.execute(sa.update(FamilyBedVisit)
                                .where(FamilyBedVisit.order_id == order.id)
                                .values(withdrawn=why)
                                .execution_options(synchronize_session=False))
                apply_cancellation(session=session, order=order, actor=actor, now=now,
                                   reason=reason)
            cancelled.append(order.id)
        except (InvalidTransition, TransitionForbidden):
            kept.append(order.id)
    return cancelled, kept


def _withhold_family_messages(session: Session, bed: FamilyBed, now: datetime) -> None:
    """The care recipient died: nothing more about the episode's visits reaches the
    family. Unsent messages are dead-lettered (kept, visibly never sent), not deleted."""
    from homecare.notifications.models import Notification
    owner = sa.select(CareRecipient.owner_id).where(CareRecipient.id == bed.patient_id)
    session.execute(
        sa.update(Notification)
        .where(Notification.user_id.in_(owner), Notification.sent_at.is_(None),
               Notification.failed_at.is_(None),
               Notification.order_id.in_(sa.select(Order.id).where(
                   Order.family_bed_id == bed.id)))
        .values(failed_at=now, last_error="withheld: the family bed closed, deceased")
        .execution_options(synchronize_session=False))


# ---------------------------------------------------------------- reads


# Who sees an episode, for its getter and the list alike: the recipient's owner, its
# organization's supervisors, an admin.
FAMILY_BED_STAFF = ("admin", "supervisor")


def _visible(actor: Actor) -> sa.Select:
    owner = (sa.select(CareRecipient.owner_id).where(CareRecipient.id == FamilyBed.patient_id)
             .scalar_subquery())
    return sa.select(FamilyBed).where(visible_filter(
        actor, FamilyBed.organization_id, staff=FAMILY_BED_STAFF, parties={"patient": owner}))


def list_family_beds(*, session: Session, actor: Actor, config: Config,
                     status: str | None = None,
                     patient_id: int | None = None) -> Listing:
    """The episodes the caller may see, latest start first: her recipients' (owner),
    her organization's (supervisor), all (admin), each page built into views."""
    stmt = _visible(actor)
    if status is not None:
        stmt = stmt.where(FamilyBed.status == status)
    if patient_id is not None:
        stmt = stmt.where(FamilyBed.patient_id == patient_id)
    return Listing(stmt.order_by(FamilyBed.start_date.desc(), FamilyBed.id.desc()), session,
                   lambda beds: _views(session=session, beds=beds, config=config))


def get_family_bed(*, session: Session, actor: Actor, family_bed_id: int,
                   config: Config) -> dict[str, Any]:
    """One episode with its plan and generated visits.

    :raises FamilyBedNotFound: (404) no such episode, or not the caller's to see
        (another organization's, another owner's).
    """
    bed = access_family_bed(session, actor, family_bed_id)
    return _view(session=session, bed=bed, config=config, with_visits=True)


def access_family_bed(session: Session, actor: Actor, family_bed_id: int) -> FamilyBed:
    """An episode the caller may see: her recipient's (owner), her organization's
    (supervisor), any (admin).

    :raises FamilyBedNotFound: (404) no such episode, or not the caller's to see.
    """
    bed = session.get(FamilyBed, family_bed_id, populate_existing=True)
    if bed is None:
        raise FamilyBedNotFound(family_bed_id=family_bed_id)
    owner = (session.scalar(sa.select(CareRecipient.owner_id)
                            .where(CareRecipient.id == bed.patient_id))
             if actor.role == "patient" else None)
    ensure_visible(actor, bed.organization_id, FamilyBedNotFound,
                   staff=FAMILY_BED_STAFF, parties={"patient": owner},
                   family_bed_id=family_bed_id)
    return bed


def _views(*, session: Session, beds: Sequence[FamilyBed], config: Config,
                     with_visits: bool = False) -> list[dict[str, Any]]:
    """Responses for episodes (``FamilyBedSchema``), loading plans in one query."""
    if not beds:
        return []
    lines: dict[int, list[FamilyBedPlanLine]] = {bed.id: [] for bed in beds}
    for line in session.scalars(sa.select(FamilyBedPlanLine).where(
            FamilyBedPlanLine.family_bed_id.in_(lines),
            FamilyBedPlanLine.plan_version == sa.select(FamilyBed.plan_version).where(
                FamilyBed.id == FamilyBedPlanLine.family_bed_id).scalar_subquery())
            .order_by(FamilyBedPlanLine.line_no)):
        lines[line.family_bed_id].append(line)

    counts = visit_counts(session, list(lines), config)
    views = []
    for bed in beds:
        view = {name: getattr(bed, name) for name in (
            "id", "status", "organization_id", "patient_id", "address_id", "diagnosis",
            "start_date", "end_date", "responsible_nurse_id", "plan_version", "opened_by",
            "opened_at", "closed_by", "closed_at", "close_reason", "summary")}
        view["plan"] = lines[bed.id]
        view["first_round_due"] = _first_round_due(bed, config)
        view["last_round_on"] = counts[bed.id].pop("last_round_on")
        view["visit_counts"] = counts[bed.id]
        if with_visits:
            view["visits"] = _visits(session, bed)
        views.append(view)
    return views


def _view(*, session: Session, bed: FamilyBed, config: Config,
                    with_visits: bool = False) -> dict[str, Any]:
    return _views(session=session, beds=[bed], config=config, with_visits=with_visits)[0]


def _visits(session: Session, bed: FamilyBed) -> list[dict[str, Any]]:
    from homecare.family_beds.continuity import elsewhere

    rows = session.execute(
        sa.select(FamilyBedVisit, Order).join(Order, Order.id == FamilyBedVisit.order_id)
        .where(FamilyBedVisit.family_bed_id == bed.id)
        .order_by(Order.window_start, FamilyBedVisit.line_no)
        .execution_options(populate_existing=True)).all()
    other = elsewhere(session, bed, [order for _visit, order in rows])
    return [{"order_id": order.id, "line_no": visit.line_no, "plan_version": visit.plan_version,
             "service_code": order.service_code, "service_date": visit.service_date,
             "window_start": order.window_start, "window_end": order.window_end,
             "status": order.status, "nurse_id": order.nurse_id,
             "first_round": visit.first_round, "withdrawn": visit.withdrawn,
             "other_nurse": other.get(order.id)}
            for visit, order in rows]

"""Family beds (家庭病床): change an open episode's plan, end date or responsible nurse.

A new plan is a new ``plan_version``; the old lines are kept for the record. The
future generated visits are then matched against the episode as it now is:

- a visit that still fits (its date within the dates, and a line of the new plan
  with its item and window on its weekday; the first round needs only its date)
  is kept, and moves to the new plan's line, so it is not generated twice;
- a visit that no longer fits and has not started is cancelled, with the usual
  notifications (family, nurse, offers withdrawn), unless a nurse has accepted it
  (``assigned``): that one stays, unless the supervisor says
  ``reschedule_accepted``. Visits under way or done are never touched;
- then the visits the new plan gives up to the horizon are generated as every night.

Every change is an event on the episode (``plan_changed``, ``end_date_changed``,
``responsible_nurse_changed``, ``visits_changed`` with the order ids cancelled,
created and kept), and goes on the audit trail.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from homecare.alerts.service import resolve_cause
from homecare.audit.service import record
from homecare.auth import Actor, ensure_visible
from homecare.config import Config
from homecare.db import atomic
from homecare.errors import ValidationProblem
from homecare.family_beds.episode import ending_cause
from homecare.family_beds.models import FamilyBed, FamilyBedPlanLine, FamilyBedVisit
from homecare.family_beds.service import (
    NOT_STARTED,
    EndBeforeStart,
    EpisodeTooLong,
    FamilyBedAlreadyClosed,
    FamilyBedNotFound,
    _check_plan,
    _view,
    add_event,
    check_responsible_nurse,
    generate,
    lines_of,
    lock_bed,
    plan_snapshot,
    withdraw_visits,
)
from homecare.orders.models import Order

# Sentinel: the body did not name the responsible nurse (null clears her).
UNCHANGED: Any = object()


class EndDateInPast(ValidationProblem):
    code, title = "end_date_in_past", "The episode cannot end before today"


class NothingToChange(ValidationProblem):
    code, title = "nothing_to_change", "The request changes nothing"


@atomic
def change_family_bed(*, session: Session, actor: Actor, family_bed_id: int, now: datetime,
                      config: Config, plan: list[dict[str, Any]] | None = None,
                      end_date: date | None = None, responsible_nurse_id: Any = UNCHANGED,
                      reschedule_accepted: bool = False) -> dict[str, Any]:
    """A supervisor changes an open episode (module docstring for what follows).

    Returns the episode with ``changes``: the order ids ``cancelled``, ``created``
    and ``kept`` (future visits that stay although they no longer fit: accepted).

    :raises FamilyBedNotFound: (404) no such episode in the supervisor's organization.
    :raises FamilyBedAlreadyClosed: (409) the episode is closed.
    :raises NothingToChange: (422) no field given.
    :raises EndDateInPast: (422) ``end_date`` before the local today.
    :raises EndBeforeStart: (422) ``end_date`` before ``start_date``.
    :raises EpisodeTooLong: (422) longer than ``family_bed_max_days``.
    :raises UnknownService, WindowTooShort, OutsideServiceHours: (422) a plan line.
    :raises UnknownNurse: (422) not an active nurse of the organization.
    """
    if plan is None and end_date is None and responsible_nurse_id is UNCHANGED:
        raise NothingToChange("give plan, end_date or responsible_nurse_id")
    bed = lock_bed(session, family_bed_id)
    if bed is None:
        raise FamilyBedNotFound(family_bed_id=family_bed_id)
    ensure_visible(actor, bed.organization_id, FamilyBedNotFound, family_bed_id=family_bed_id)
    if bed.status != "open":
        raise FamilyBedAlreadyClosed(family_bed_id=bed.id, closed_at=bed.closed_at.isoformat())
    changed: dict[str, Any] = {}
    if end_date is not None and end_date != bed.end_date:
        _check_end_date(bed, end_date, now=now, config=config)
        resolve_cause(session, cause=ending_cause(bed.id, bed.end_date), now=now, actor=actor)
        add_event(session, bed, "end_date_changed", actor=actor, now=now,
                  **{"from": bed.end_date.isoformat(), "to": end_date.isoformat()})
        changed["end_date"] = {"from": bed.end_date.isoformat(), "to": end_date.isoformat()}
        bed.end_date = end_date
    if responsible_nurse_id is not UNCHANGED \
            and responsible_nurse_id != bed.responsible_nurse_id:
        check_responsible_nurse(session, bed.organization_id, responsible_nurse_id)
        add_event(session, bed, "responsible_nurse_changed", actor=actor, now=now,
                  **{"from": bed.responsible_nurse_id, "to": responsible_nurse_id})
        changed["responsible_nurse_id"] = {"from": bed.responsible_nurse_id,
                                           "to": responsible_nurse_id}
        bed.responsible_nurse_id = responsible_nurse_id
    if plan is not None:
        lines = _check_plan(session, plan, bed.start_date, config)
        bed.plan_version += 1
        for line in lines:
            line.family_bed_id, line.plan_version = bed.id, bed.plan_version
        session.add_all(lines)
        session.flush()
        add_event(session, bed, "plan_changed", actor=actor, now=now,
                  plan_version=bed.plan_version, plan=plan_snapshot(lines))
        changed["plan_version"] = bed.plan_version
    bed.updated_at = now
    changes = {"cancelled": [], "created": [], "kept": []}
    if plan is not None or "end_date" in changed:
        changes = _follow(session, bed, actor=actor, now=now, config=config,
                          reschedule_accepted=reschedule_accepted,
                          why="plan_changed" if plan is not None else "end_date")
        if any(changes.values()):
            add_event(session, bed, "visits_changed", actor=actor, now=now,
                      reschedule_accepted=reschedule_accepted, **changes)
    record(session, actor=actor, action="family_bed.changed", object_type="family_bed",
           object_id=bed.id, organization_id=bed.organization_id, now=now,
           detail={**changed, **changes, "reschedule_accepted": reschedule_accepted})
    session.commit()
    view = _view(session=session, bed=bed, config=config, with_visits=True)
    view["changes"] = changes
    return view


def _check_end_date(bed: FamilyBed, end_date: date, *, now: datetime, config: Config) -> None:
    today = now.astimezone(ZoneInfo(config.timezone)).date()
    if end_date < today:
        raise EndDateInPast(f"end_date must be {today.isoformat()} or later",
                            errors={"end_date": ["must not be in the past"]})
    if end_date < bed.start_date:
        raise EndBeforeStart(errors={"end_date": ["must not be before start_date"]})
    days = (end_date - bed.start_date).days + 1
    if days > config.family_bed_max_days:
        raise EpisodeTooLong(
            f"a family bed lasts at most {config.family_bed_max_days} days; this one {days}",
            max_days=config.family_bed_max_days,
            errors={"end_date": [f"at most {config.family_bed_max_days} days from "
                                 f"{bed.start_date.isoformat()}, both included"]})


def _follow(session: Session, bed: FamilyBed, *, actor: Actor, now: datetime, config: Config,
            reschedule_accepted: bool, why: str) -> dict[str, list[int]]:
    """Make the future visits follow the episode as it now is (no commit)."""
    zone = ZoneInfo(config.timezone)
    lines = lines_of(session, bed)
    rows = session.execute(
        sa.select(FamilyBedVisit, Order).join(Order, Order.id == FamilyBedVisit.order_id)
        .where(FamilyBedVisit.family_bed_id == bed.id, Order.window_start > now,
               FamilyBedVisit.withdrawn.is_(None))
        .order_by(Order.window_start, Order.id)
        .execution_options(populate_existing=True)).all()
    # A slot of the new plan keeps at most one visit; the rest of a crowded slot goes.
    used: set[tuple[int, date]] = set()
    to_cancel, kept = [], []
    for visit, order in rows:
        line = _fitting_line(bed, lines, visit, order, zone, used)
        if line is not None:
            used.add((line.line_no, visit.service_date))
            if (visit.plan_version, visit.line_no) != (bed.plan_version, line.line_no):
                visit.plan_version, visit.line_no = bed.plan_version, line.line_no
            continue
        if visit.first_round and visit.service_date <= bed.end_date:
            continue  # the first round is due whatever the plan
        if order.status not in NOT_STARTED:
            continue  # final or under way: history, not a plan
        if order.status == "assigned" and not reschedule_accepted:
            kept.append(order.id)
            continue
        to_cancel.append(order)
    session.flush()
    reason = ("family bed plan changed" if why == "plan_changed"
              else "family bed end date changed")
    cancelled, started = withdraw_visits(session, to_cancel, why=why, actor=actor, now=now,
                                         reason=reason)
    created: list[int] = []
    generate(session, bed, lines, actor=actor, now=now, config=config, created=created)
    return {"cancelled": cancelled, "created": created, "kept": kept + started}


def _fitting_line(bed: FamilyBed, lines: list[FamilyBedPlanLine], visit: FamilyBedVisit,
                  order: Order, zone: ZoneInfo,
                  used: set[tuple[int, date]]) -> FamilyBedPlanLine | None:
    if not bed.start_date <= visit.service_date <= bed.end_date:
        return None
    start = order.window_start.astimezone(zone)
    end = order.window_end.astimezone(zone)
    for line in lines:
        if (line.service_code == order.service_code
                and visit.service_date.isoweekday() in line.weekdays
                and (line.window_start, line.window_end) == (start.time(), end.time())
                and start.date() == visit.service_date
                and (line.line_no, visit.service_date) not in used):
            return line
    return None

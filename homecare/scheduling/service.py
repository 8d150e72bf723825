"""Day planning from the database: plan an organization's day, nurses' schedules.

The morning job plans each day once (``plan_all_organizations``). A day that
changes after that (a same-day order approved, a cancellation, a nurse off sick)
is dispatched order by order as usual and, because it has a stored plan, repaired
by the jobs process (``scheduling.repair_queue``, ``scheduling.repair``): the rest
of the plan stays as it was. The supervisor re-plans it as a whole with
``POST /dispatch/plan`` when she wants to.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from homecare.accounts.models import Organization
from homecare.accounts.service import organization_in_charge
from homecare.audit.service import record
from homecare.auth import Actor
from homecare.catalogue.models import ServiceItem
from homecare.config import Config
from homecare.db import atomic, atomic_in_steps
from homecare.errors import NotFound, ValidationProblem
from homecare.geo import travel_model
from homecare.notifications.service import notify
from homecare.nurseday.load import lock_nurses
from homecare.nurseday.model import local_day
from homecare.nurses.models import Nurse
from homecare.nurses.service import my_nurse
from homecare.orders.models import Order
from homecare.orders.states import DAY_LOAD, SEEKING_NURSE, transition
from homecare.patients.models import Address, CareRecipient
from homecare.patients.service import record_recipient_reads
from homecare.scheduling import planner
from homecare.scheduling.day import Day, DayTravel, OrderSnapshot, load_day
from homecare.scheduling.models import DayPlan

log = logging.getLogger(__name__)

# Times inside a stored plan's result, turned back into datetimes for answers.
_STOP_TIMES = ("planned_arrival", "start", "end", "window_start", "window_end")
# Why a planned stop was not written: her day changed while the day was solved.
NURSE_DAY_CHANGED = "nurse_day_changed"


class DayInPast(ValidationProblem):
    code, title = "day_in_past", "A day that is over cannot be planned"


class DayBeyondHorizon(ValidationProblem):
    code, title = "day_beyond_horizon", "The day is beyond the booking horizon"


class DayPlanNotFound(NotFound):
    code, title = "day_plan_not_found", "This day has not been planned"


@atomic_in_steps
def plan_day(*, session: Session, actor: Actor | None, day: date, now: datetime,
             config: Config, organization_id: int | None = None,
             reassign: bool = False) -> dict[str, Any]:
    """Plan an organization's day from the database and store the result.

    Plans every approved, offered and assigned order of ``day`` onto the
    qualified nurses on shift. Assigned orders stay with their nurse unless
    ``reassign`` (or she has no time left that day: ill, shift over); orders
    under way or done are fixed and their nurse starts from them. Each planned
    order gets ``planned_arrival`` (when she is at the door and begins: inside
    the window) and ``route_position``; approved and offered orders the plan
    gives a nurse become assigned to her and moved orders are reassigned (the
    state machine tells the nurses and booking accounts); a nurse whose visits
    only moved in time gets one ``schedule_changed`` message. Orders that cannot be
    planned keep their status, lose their planned arrival and are listed with
    the reason. A DayPlan row records the run.

    The solve (seconds) runs between two transactions: the day is read and
    that transaction committed (nothing is written by then), so no lock is held
    while solving; the write transaction re-checks each order and skips (and
    lists) those whose status or version changed meanwhile. It also locks the
    row of each nurse the plan gives visits (as an accept or an assignment
    does, ``nurseday.load.lock_nurses``): a nurse who accepted or was given a
    visit of the day meanwhile keeps her day as it is, and the plan's visits for
    her are listed as unplanned (``nurse_day_changed``). Call it after the
    caller's own changes are committed. ``actor`` None is the system (the
    morning job), which must name ``organization_id``; an admin must too.

    :raises OrganizationRequired: (422) no organization named where one is needed.
    :raises OrganizationNotFound: (404) no such organization, or another one's.
    :raises DayInPast: (422) the day is already over in the service area.
    :raises DayBeyondHorizon: (422) the day is more than ``booking_horizon_days``
        after today: no visit can be booked for it, so there is nothing to plan.
    """
    organization_id = organization_in_charge(session, actor, organization_id, what="day plan")
    today = local_day(now, config.timezone)
    if day < today:
        raise DayInPast(f"{day.isoformat()} is over; plan today or a later day",
                        date=day.isoformat())
    last = today + timedelta(days=config.booking_horizon_days)
    if day > last:
        raise DayBeyondHorizon(
            f"{day.isoformat()} is beyond the booking horizon; plan a day up to "
            f"{last.isoformat()}", date=day.isoformat(), last_date=last.isoformat(),
            horizon_days=config.booking_horizon_days)
    travel = travel_model(config)
    loaded = load_day(session, organization_id=organization_id, day=day, now=now,
                      config=config, travel=travel, reassign=reassign)
    # Ends the read transaction (nothing was written): on SQLite a writer holds
    # the whole database, and the solve must not keep the write lock for seconds.
    session.commit()

    began = time.perf_counter()
    result = planner.plan(loaded.problem, DayTravel(travel), seed=config.planning_seed,
                          max_iterations=config.planning_iterations,
                          max_seconds=config.planning_seconds)
    solve_s = time.perf_counter() - began
    if result.timed_out:
        # The iteration budget (and the search's patience), not the clock, is what
        # makes a rerun give the same plan; a day this large needs a longer
        # HOMECARE_PLANNING_SECONDS.
        log.warning("planning organization %s for %s stopped on the %ss time cap after "
                    "%s of %s iterations; the plan may differ on a rerun", organization_id,
                    day, config.planning_seconds, result.iterations, config.planning_iterations)

    day_plan = _store(session, loaded, result, actor=actor, now=now, reassign=reassign,
                      seed=config.planning_seed, solve_s=solve_s)
    session.commit()
    log.info("planned organization %s for %s: %s", organization_id, day, day_plan.stats)
    return plan_view(day_plan)


def plan_all_organizations(*, session: Session, day: date, now: datetime,
                           config: Config) -> dict[str, Any]:
    """The morning plan: plan ``day`` for every organization, as the system.

    Idempotent: a rerun plans the same input the same way (fixed seed and
    iteration budget; orders assigned by the first run are pinned in the
    second). Each organization commits on its own, so one failing does not
    stop the others; the failures are logged and counted.
    """
    org_ids = list(session.scalars(sa.select(Organization.id).order_by(Organization.id)))
    summary: dict[str, Any] = {"date": day.isoformat(), "organizations": 0, "planned": 0,
                               "unplanned": 0, "assigned": 0, "failed": []}
    for org_id in org_ids:
        try:
            plan = plan_day(session=session, actor=None, day=day, now=now, config=config,
                            organization_id=org_id)
        except Exception:
            # plan_day has rolled back its own work (atomic_in_steps); a rollback here
            # would take the caller's flushed work too.
            log.exception("planning organization %s for %s failed", org_id, day)
            summary["failed"].append(org_id)
            continue
        summary["organizations"] += 1
        for key in ("planned", "unplanned", "assigned"):
            summary[key] += plan["stats"][key]
    return summary


def get_day_plan(*, session: Session, actor: Actor, day: date,
                 organization_id: int | None = None) -> dict[str, Any]:
    """The latest plan of a day for the caller's organization (an admin names one).

    :raises OrganizationRequired: (422) an admin did not name the organization.
    :raises OrganizationNotFound: (404) no such organization, or another one's.
    :raises DayPlanNotFound: (404) the day has not been planned.
    """
    organization_id = organization_in_charge(session, actor, organization_id, what="day plan")
    day_plan = session.scalar(
        sa.select(DayPlan).where(DayPlan.organization_id == organization_id, DayPlan.day == day)
        .order_by(DayPlan.created_at.desc(), DayPlan.id.desc()).limit(1))
    if day_plan is None:
        raise DayPlanNotFound(f"{day.isoformat()} has not been planned",
                              date=day.isoformat(), organization_id=organization_id)
    return plan_view(day_plan)


@atomic
def nurse_schedule(*, session: Session, actor: Actor, now: datetime, config: Config,
                   day: date | None = None) -> dict[str, Any]:
    """The calling nurse's visits of ``day`` (default: today, local) in route order.

    Her held orders (assigned, en route, in service, completed) in visiting
    order: by planned arrival, or the window's start for a visit without one
    (assigned after the plan), then the window. She is assigned to them,
    so the recipient's name and the exact address are shown; each such read goes
    on the audit trail (PIPL), so this commits.

    :raises NurseNotFound: (404) the caller has no nurse profile yet.
    """
    nurse = my_nurse(session=session, actor=actor)
    day = day or local_day(now, config.timezone)
    rows = session.execute(
        sa.select(Order, ServiceItem.name_zh, ServiceItem.name_en, CareRecipient.name,
                  Address.text, Address.district, Address.lat, Address.lng)
        .join(ServiceItem, ServiceItem.code == Order.service_code)
        .join(CareRecipient, CareRecipient.id == Order.patient_id)
        .join(Address, Address.id == Order.address_id)
        .where(Order.nurse_id == nurse.id, Order.service_date == day,
               Order.status.in_(sorted(DAY_LOAD)))
        # Not by route position: a visit assigned after the plan has none, yet it
        # may come between planned ones. Its window's start stands in for its arrival.
        .order_by(sa.func.coalesce(Order.planned_arrival, Order.window_start),
                  Order.window_start, Order.id)).all()
    visits = [
        {"order_id": order.id, "status": order.status, "route_position": order.route_position,
         "planned_arrival": order.planned_arrival, "window_start": order.window_start,
         "window_end": order.window_end, "duration_min": order.duration_min,
         "service_code": order.service_code, "service_name_zh": name_zh,
         "service_name_en": name_en, "recipient_name": recipient, "address_text": text,
         "district": district, "lat": lat, "lng": lng, "notes": order.notes}
        for order, name_zh, name_en, recipient, text, district, lat, lng in rows]
    planned_at = session.scalar(
        sa.select(sa.func.max(DayPlan.created_at)).where(
            DayPlan.organization_id == nurse.organization_id, DayPlan.day == day))
    for order, *_ in rows:
        record_recipient_reads(session, actor=actor, patient_ids=[order.patient_id], now=now,
                               part="schedule", detail={"order_id": order.id})
    session.commit()
    return {"date": day, "nurse_id": nurse.id, "plan_created_at": planned_at,
            "visits": visits}


def plan_view(day_plan: DayPlan) -> dict[str, Any]:
    """A stored plan as the API answers it."""
    result = day_plan.result or {}
    routes = []
    for route in result.get("routes", []):
        stops = [{**stop, **{k: datetime.fromisoformat(stop[k]) for k in _STOP_TIMES}}
                 for stop in route["stops"]]
        routes.append({**route, "stops": stops})
    return {"id": day_plan.id, "date": day_plan.day, "organization_id": day_plan.organization_id,
            "created_at": day_plan.created_at, "created_by": day_plan.created_by,
            "reassign": day_plan.reassign, "seed": day_plan.seed, "routes": routes,
            "unplanned": result.get("unplanned", []), "skipped": result.get("skipped", []),
            "stats": day_plan.stats}


class DayChangedMeanwhile(Exception):
    """An order or a nurse's day of the plan changed after the day was read; nothing
    was written (``_store(whole=True)``)."""


def _store(session: Session, day: Day, result: planner.Plan, *, actor: Actor | None,
           now: datetime, reassign: bool, seed: int, solve_s: float,
           whole: bool = False, stranded: Mapping[int, int] | None = None) -> DayPlan:
    """Write the plan back, order by order, skipping orders changed since they were read
    and the stops of nurses whose day changed since (see ``_days_changed``).

    ``whole``: all or nothing instead: if any order the plan places or leaves out
    changed, or any nurse it gives visits took on another, raise
    ``DayChangedMeanwhile`` before writing anything (a repair moves visits between
    routes, and half of such a move written would leave a visit on no route or a
    nurse with a route she was never told).

    ``stranded``: order -> nurse of visits the caller left out of ``day`` that the nurse
    still holds (a repair's stranded visits): hers all along, not taken on meanwhile."""
    snapshots = {**day.orders, **{s.id: s for held in day.fixed.values() for s in held}}
    # Locked in id order (PostgreSQL; SQLite's writer already holds the whole
    # database), so the checks below stay true until the commit.
    current = {order.id: order for order in session.scalars(
        sa.select(Order).where(Order.id.in_(sorted(snapshots))).order_by(Order.id)
        .with_for_update().execution_options(populate_existing=True))}

    def unchanged(snap: OrderSnapshot) -> Order | None:
        order = current.get(snap.id)
        if order is None or order.status != snap.status or order.version != snap.version:
            return None
        return order

    # Supervisors' changes are theirs; an admin planning for an organization
    # acts through the service (the DayPlan row and audit entry name her).
    mover = actor if actor is not None and actor.role == "supervisor" else None
    stops_of: dict[int, list[planner.Stop]] = {}
    travel_of: dict[int, tuple[int, int]] = {}
    for route in result.routes:
        nurse_id = day.vehicle_nurse[route.nurse_id]
        stops_of.setdefault(nurse_id, []).extend(route.stops)
        seconds, metres = travel_of.get(nurse_id, (0, 0))
        travel_of[nurse_id] = (seconds + route.travel_s, metres + route.distance_m)
    changed = _days_changed(session, day, [n for n, stops in stops_of.items() if stops],
                            stranded=stranded)
    if whole:
        stale = sorted(i for i, snap in day.orders.items() if unchanged(snap) is None)
        if stale or changed:
            raise DayChangedMeanwhile(f"orders {stale} and the days of nurses "
                                      f"{sorted(changed)} changed since the day was read")

    skipped: list[dict[str, Any]] = []
    unplanned: list[dict[str, Any]] = []
    changes = _Changes()
    routes = []
    for nurse_id in sorted(set(day.nurses) | set(day.fixed)):
        if nurse_id in changed:
            # The plan did not see her new visit: any of its stops for her could
            # clash with it (a double booking), so her day stays as dispatch left it.
            for stop in sorted(stops_of[nurse_id], key=lambda s: (s.start, s.visit_id)):
                snap = day.orders[stop.visit_id]
                if unchanged(snap) is None:
                    skipped.append(_skip(snap, current))
                else:
                    unplanned.append({"order_id": snap.id, "reason": NURSE_DAY_CHANGED})
            routes.append({"nurse_id": nurse_id, "nurse_name": day.nurses[nurse_id].name,
                           "travel_min": 0.0, "distance_km": 0.0,
                           "fixed_order_ids": [s.id for s in day.fixed.get(nurse_id, ())],
                           "stops": []})
            continue
        position = 0
        for snap in day.fixed.get(nurse_id, ()):
            order = unchanged(snap)
            if order is not None:
                position += 1
                order.route_position = position
        if nurse_id not in day.nurses:
            continue
        stops = []
        for stop in sorted(stops_of.get(nurse_id, []), key=lambda s: (s.start, s.visit_id)):
            snap = day.orders[stop.visit_id]
            order = unchanged(snap)
            if order is None:
                skipped.append(_skip(snap, current))
                continue
            position += 1
            arrival = day.clock.at(stop.start)
            _place(session, order, snap, nurse_id, arrival, position, mover, now, changes)
            stops.append({"order_id": snap.id, "position": position,
                          "planned_arrival": arrival.isoformat(),
                          "start": arrival.isoformat(),
                          "end": day.clock.at(stop.end).isoformat(),
                          "window_start": snap.window_start.isoformat(),
                          "window_end": snap.window_end.isoformat(),
                          "service_code": snap.service_code})
        seconds, metres = travel_of.get(nurse_id, (0, 0))
        nurse = day.nurses[nurse_id]
        routes.append({"nurse_id": nurse_id, "nurse_name": nurse.name,
                       "travel_min": round(seconds / 60, 1),
                       "distance_km": round(metres / 1000, 2),
                       "fixed_order_ids": [s.id for s in day.fixed.get(nurse_id, ())],
                       "stops": stops})

    for item in result.unplanned:
        snap = day.orders[item.visit_id]
        order = unchanged(snap)
        if order is None:
            skipped.append(_skip(snap, current))
            continue
        if order.planned_arrival is not None or order.route_position is not None:
            changes.touched(snap.nurse_id, snap.id)
        order.planned_arrival = None
        order.route_position = None
        unplanned.append({"order_id": snap.id, "reason": item.reason})

    planned = sum(len(r["stops"]) for r in routes)
    stats = {"orders": len(day.orders), "planned": planned, "unplanned": len(unplanned),
             "skipped": len(skipped), "assigned": changes.assigned,
             "reassigned": changes.reassigned, "nurses": len(day.nurses),
             "nurses_used": sum(1 for r in routes if r["stops"]),
             "travel_min": round(sum(r["travel_min"] for r in routes), 1),
             "distance_km": round(sum(r["distance_km"] for r in routes), 2),
             "iterations": result.iterations, "solve_s": round(solve_s, 3)}
    day_plan = DayPlan(organization_id=day.organization_id, day=day.clock.day, created_at=now,
                       created_by=actor.user_id if actor else None, reassign=reassign,
                       seed=seed, stats=stats,
                       result={"routes": routes, "unplanned": unplanned, "skipped": skipped})
    session.add(day_plan)
    session.flush()
    changes.notify(session, day, now)
    record(session, actor=actor, action="day_plan.created", object_type="day_plan",
           object_id=day_plan.id, organization_id=day.organization_id, now=now,
           detail={"date": day.clock.day.isoformat(), "reassign": reassign, **stats})
    return day_plan


class _Changes:
    """Counts of what the plan changed, and the nurses whose held visits moved in time.

    Assignments and reassignments are told by ``orders.states.transition`` (its
    notification rules); a nurse whose visits only got new times or positions,
    or lost their planned arrival, hears it here, once per plan; a family whose
    visit keeps its nurse but gets a new arrival time hears ``visit_retimed``.
    """

    def __init__(self) -> None:
        self.assigned = 0
        self.reassigned = 0
        self.retimed: dict[int, set[int]] = {}
        self.families: list[tuple[Order, datetime, datetime]] = []

    def touched(self, nurse_id: int | None, order_id: int) -> None:
        if nurse_id is not None:
            self.retimed.setdefault(nurse_id, set()).add(order_id)

    def retimed_for_family(self, order: Order, before: datetime, after: datetime) -> None:
        # The family was told when to expect her; the same nurse coming at another
        # time is news to them too (a new nurse is told by the state machine).
        self.families.append((order, before, after))

    def notify(self, session: Session, day: Day, now: datetime) -> None:
        for order, before, after in self.families:
            notify(session, user_id=order.booked_by, kind="visit_retimed", now=now,
                   order_id=order.id, payload={"order_id": order.id,
                                               "planned_arrival": after.isoformat(),
                                               "previous_arrival": before.isoformat()})
        users = dict(session.execute(sa.select(Nurse.id, Nurse.user_id)
                                     .where(Nurse.id.in_(sorted(self.retimed)))).all())
        for nurse_id in sorted(self.retimed):
            notify(session, user_id=users[nurse_id], kind="schedule_changed", now=now,
                   payload={"date": day.clock.day.isoformat(),
                            "order_ids": sorted(self.retimed[nurse_id])})


def _place(session: Session, order: Order, snap: OrderSnapshot, nurse_id: int,
           arrival: datetime, position: int, actor: Actor | None, now: datetime,
           changes: _Changes) -> None:
    """Give a planned order its nurse, arrival and position (no commit)."""
    if snap.status in SEEKING_NURSE or snap.nurse_id != nurse_id:
        transition(session, order, "assigned", actor=actor, now=now, nurse_id=nurse_id,
                   planned_arrival=arrival, route_position=position)
        if snap.status == "assigned":
            changes.reassigned += 1
        else:
            changes.assigned += 1
        return
    if order.planned_arrival != arrival or order.route_position != position:
        changes.touched(nurse_id, snap.id)
    if order.planned_arrival is not None and order.planned_arrival != arrival:
        changes.retimed_for_family(order, order.planned_arrival, arrival)
    order.planned_arrival = arrival
    order.route_position = position


def _days_changed(session: Session, day: Day, nurse_ids: list[int],
                  stranded: Mapping[int, int] | None = None) -> set[int]:
    """Lock the rows of the nurses the plan gives stops, and name those who took on a
    visit of the day since it was read (no commit).

    The same lock an accept or an assignment takes on her day
    (``nurseday.load.lock_nurses``): none of them can interleave with the
    write. Taken in id order and after the orders' locks, as they take theirs, so
    no two writers wait on each other in a cycle. A visit she gave up meanwhile
    only frees time, so only new ones count.
    """
    if not nurse_ids:
        return set()
    ids = sorted(nurse_ids)
    lock_nurses(session, ids)
    seen: dict[int, set[int]] = {}
    for snap in day.orders.values():
        if snap.status in DAY_LOAD and snap.nurse_id is not None:
            seen.setdefault(snap.nurse_id, set()).add(snap.id)
    for nurse_id, held in day.fixed.items():
        seen.setdefault(nurse_id, set()).update(s.id for s in held)
    for order_id, nurse_id in (stranded or {}).items():
        seen.setdefault(nurse_id, set()).add(order_id)
    now_held = session.execute(sa.select(Order.nurse_id, Order.id).where(
        Order.nurse_id.in_(ids), Order.service_date == day.clock.day,
        Order.status.in_(sorted(DAY_LOAD)))).all()
    return {nurse_id for nurse_id, order_id in now_held
            if order_id not in seen.get(nurse_id, set())}


def _skip(snap: OrderSnapshot, current: dict[int, Order]) -> dict[str, Any]:
    order = current.get(snap.id)
    return {"order_id": snap.id, "status": order.status if order is not None else None}

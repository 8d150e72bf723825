"""Repairing a planned day after it changed: keep the plan, change it only where it must.

The jobs process calls :func:`repair_day` (serialised and debounced per
organization and day) after a new or cancelled order, a nurse off sick, a
no-show or an overrun. A day nobody planned is left to dispatch. The repair
itself is pure (``scheduling.repair_plan``); this reads the day, hands it the
current plan and writes the result as ``plan_day`` does (``service._store``:
reassignments through the state machine, the nurses and families whose nurse
or time changed told).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Hashable
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from homecare.clock import utcnow
from homecare.config import Config
from homecare.db import atomic_in_steps
from homecare.geo import travel_model
from homecare.orders.models import Order, OrderEvent
from homecare.orders.states import HOLDS_NURSE, SEEKING_NURSE, transition
from homecare.scheduling import repair_plan
from homecare.scheduling.day import Day, DayTravel, load_day
from homecare.scheduling.models import DayPlan
from homecare.scheduling.service import NURSE_DAY_CHANGED, DayChangedMeanwhile, _store

log = logging.getLogger(__name__)

REASON_KINDS = ("order_added", "order_cancelled", "nurse_unavailable", "no_show", "overrun",
                "unassigned")
# Diff reasons when no change names the order or its nurse: the improvement step
# moved it (worth more than the move cost), or the plan around it changed.
IMPROVED = "improved"
ROUTE_CHANGED = "route_changed"
UNPLANNED_BEFORE = "unplanned_before"
# A visit inside the freeze horizon that its nurse can no longer hold (the visit she
# is on runs past her shift): left as it was, for the supervisor (``diff["stranded"]``).
STRANDED = "frozen_past_shift"

# A repair whose day changed between its read and its write runs again on the fresh
# day this many times in all before it gives up (nothing written either way).
_ATTEMPTS = 3

# (nurse id, planned arrival) of an order in a plan.
_At = tuple[int, datetime | None]


def latest_plan(session: Session, organization_id: int, day: date) -> DayPlan | None:
    """The organization's newest stored plan of ``day``, if any."""
    return session.scalar(
        sa.select(DayPlan).where(DayPlan.organization_id == organization_id, DayPlan.day == day)
        .order_by(DayPlan.created_at.desc(), DayPlan.id.desc()).limit(1))


@atomic_in_steps
def repair_day(*, session: Session, organization_id: int, day: date, now: datetime,
               config: Config, reasons: list[dict[str, Any]]) -> DayPlan | None:
    """Repair the organization's latest plan of ``day`` after ``reasons`` changed it.

    ``reasons``: what changed, ``{"kind": one of REASON_KINDS, "order_id"?,
    "nurse_id"?}``; they name the causes in the diff (and an ``unassigned`` one
    with both ids keeps that order away from that nurse). Visits under way and
    those planned to begin within ``repair_freeze_minutes`` of ``now`` keep
    their nurse and time; every other visit keeps its nurse and place in her
    route unless that no longer works, and moving one to another nurse costs
    ``repair_move_cost_minutes`` of travel at the freeze horizon, fading to
    ``repair_move_cost_far_minutes`` (``repair_plan.move_costs``). Returns the new
    DayPlan, whose ``result`` carries ``"kind": "repair"``, the routes, the
    unplanned orders and the ``diff`` (moved, added, dropped, retimed, each
    with a reason); None, writing nothing, when the day has no stored plan.

    Two transactions as in ``plan_day``: the day is read and that transaction
    ended, so no lock is held while repairing; the write re-checks each order
    and nurse's day, all or nothing: if any changed meanwhile (an order cancelled
    or accepted, a nurse's day taken on), nothing is written and the repair runs
    again on the day as it now is, up to ``_ATTEMPTS`` times. Call it after the
    caller's own changes are committed. A later attempt's ``now`` is ``now`` plus
    the time gone since the first (``homecare.clock``).

    :raises DayChangedMeanwhile: the day kept changing under every attempt; nothing
        was written (the jobs process retries the repair later).
    """
    started = utcnow()
    for attempt in range(1, _ATTEMPTS + 1):
        # Each attempt freezes from when it reads the day: an attempt a second later
        # must not move a visit that came inside the freeze meanwhile.
        at = now if attempt == 1 else now + max(utcnow() - started, timedelta(0))
        try:
            return _repair_once(session=session, organization_id=organization_id, day=day,
                                now=at, config=config, reasons=reasons)
        except DayChangedMeanwhile:
            # Only locks were taken: let them go and read the day again.
            session.rollback()
            if attempt == _ATTEMPTS:
                raise
            log.info("organization %s's day %s changed during its repair; repairing it "
                     "again (attempt %s)", organization_id, day, attempt + 1)
    raise AssertionError("unreachable")


def _repair_once(*, session: Session, organization_id: int, day: date, now: datetime,
                 config: Config, reasons: list[dict[str, Any]]) -> DayPlan | None:
    """One attempt of :func:`repair_day`: read, repair, write all or nothing."""
    previous = latest_plan(session, organization_id, day)
    if previous is None:
        return None
    travel = travel_model(config)
    loaded = load_day(session, organization_id=organization_id, day=day, now=now,
                      config=config, travel=travel, reassign=False, movable=True)
    before = _before(previous, loaded)
    gone = dict(session.execute(sa.select(Order.id, Order.status).where(
        Order.id.in_(sorted(set(before) - set(loaded.orders))))).all())
    banned, told = _nurse_history(session, loaded)
    # Ends the read transaction (nothing was written): the repair holds no lock.
    session.commit()

    freeze_until = loaded.clock.seconds(now + timedelta(minutes=config.repair_freeze_minutes))
    planned_for = {order_id: nurse_id for order_id, (nurse_id, _at) in before.items()}
    current = current_plan(loaded, previous=planned_for)
    # A visit inside the freeze whose nurse has no time left to hold it (the visit she
    # is on runs past her shift) stays exactly as it is: not repaired, not written.
    routed = {i for route in current.routes.values() for i in route}
    stay = {i for i, at in current.starts.items() if at <= freeze_until and i not in routed}
    stranded: dict[int, _At] = {}
    if stay:
        loaded = replace(loaded, orders={i: o for i, o in loaded.orders.items() if i not in stay},
                         problem=replace(loaded.problem, visits=tuple(
                             v for v in loaded.problem.visits if v.id not in stay)))
        stranded = {i: at for i, at in before.items() if i in stay}
        before = {i: at for i, at in before.items() if i not in stay}
        current = current_plan(loaded, previous=planned_for)
    for r in reasons:
        if r.get("kind") == "unassigned" and r.get("order_id") and r.get("nurse_id"):
            banned[r["order_id"]] = banned.get(r["order_id"], frozenset()) | {r["nurse_id"]}
    # The routes the change hit: nurses it names, and those who lost a visit since the
    # last plan (cancelled, no-show, handed back). Only these are re-optimised.
    touched = {r["nurse_id"] for r in reasons if r.get("nurse_id") is not None}
    touched |= {nurse_id for order_id, (nurse_id, _at) in before.items()
                if current.holder.get(order_id) != nurse_id}
    began = time.perf_counter()
    repaired = repair_plan.repair(
        loaded.problem, DayTravel(travel), current, freeze_until=freeze_until,
        move_cost_s=config.repair_move_cost_minutes * 60,
        move_cost_far_s=config.repair_move_cost_far_minutes * 60,
        move_cost_fade_s=config.repair_move_cost_fade_minutes * 60, moved_before=told,
        banned=banned, touched=touched,
        max_seconds=config.repair_seconds, seed=config.planning_seed)
    solve_s = time.perf_counter() - began

    day_plan = _store(session, loaded, repaired.plan, actor=None, now=now, reassign=False,
                      seed=config.planning_seed, solve_s=solve_s, whole=True,
                      stranded={i: nurse_id for i, (nurse_id, _at) in stranded.items()})
    diff = _diff(before, day_plan.result, reasons, repaired, gone, stranded)
    released = _back_to_dispatch(session, day_plan.result, now)
    day_plan.result = {**day_plan.result, "kind": "repair", "reasons": reasons,
                       "frozen_order_ids": sorted(repaired.frozen), "diff": diff,
                       "released_order_ids": released}
    session.commit()
    log.info("repaired organization %s for %s in %.3fs: %s moved, %s added, %s dropped, "
             "%s retimed", organization_id, day, solve_s, len(diff["moved"]),
             len(diff["added"]), len(diff["dropped"]), len(diff["retimed"]))
    return day_plan


def _back_to_dispatch(session: Session, result: dict[str, Any], now: datetime) -> list[int]:
    """Orders still held by a nurse whose repaired route could not keep them (late,
    her shift, her cap) go back to dispatch, ``assigned`` -> ``approved``: left with her
    and no time, they would sit on a route that no longer has them. The state machine
    tells the family and the nurse; the jobs process offers them (``run_due_repairs``).
    Orders of a nurse whose day changed while the repair ran were not touched and stay.
    No commit; returns their ids."""
    ids = [u["order_id"] for u in result["unplanned"] if u["reason"] != NURSE_DAY_CHANGED]
    if not ids:
        return []
    released = []
    for order in session.scalars(sa.select(Order).where(
            Order.id.in_(ids), Order.status == "assigned").order_by(Order.id)):
        transition(session, order, "approved", actor=None, now=now, nurse_id=None,
                   planned_arrival=None, route_position=None,
                   reason="the repaired plan could not keep this visit")
        released.append(order.id)
    return released


def current_plan(day: Day, previous: dict[int, int] | None = None) -> repair_plan.Current:
    """The plan as the orders now hold it: each assigned order on the vehicle (stretch)
    of its nurse that it falls in, in order of planned arrival (the window's start for
    one dispatch gave her after the plan, as her schedule shows it). An order back in
    dispatch that ``previous`` (order -> nurse: the last plan) gave a nurse is still
    hers to lose: the repair must win it back like one she cannot keep."""
    vehicles: dict[int, list[Any]] = {}
    for vehicle in day.problem.nurses:
        vehicles.setdefault(day.vehicle_nurse[vehicle.id], []).append(vehicle)
    starts: dict[Hashable, int] = {}
    holder: dict[Hashable, Hashable] = {}
    routes: dict[Hashable, list[int]] = {}
    for snap in day.orders.values():
        if snap.status != "assigned" or snap.nurse_id is None:
            continue
        holder[snap.id] = snap.nurse_id
        at = snap.planned_arrival or snap.window_start
        starts[snap.id] = (day.clock.seconds(at) if snap.planned_arrival is not None
                           else day.clock.seconds_up(at))
        # Her first stretch not over by then (a late visit she has not set off for
        # stays hers: the repair decides whether it still fits).
        mine = [v for v in vehicles.get(snap.nurse_id, []) if v.shift_end > starts[snap.id]]
        if mine:
            routes.setdefault(mine[0].id, []).append(snap.id)
    for order_id, nurse_id in (previous or {}).items():
        snap = day.orders.get(order_id)
        if snap is not None and snap.status in SEEKING_NURSE:
            holder.setdefault(order_id, nurse_id)
    for held in routes.values():
        held.sort(key=lambda i: (starts[i], i))
    return repair_plan.Current(routes=routes, starts=starts, holder=holder,
                               vehicle_holder=dict(day.vehicle_nurse))


def _nurse_history(session: Session, day: Day
                   ) -> tuple[dict[Hashable, frozenset[Hashable]], frozenset[Hashable]]:
    """From the transitions of the day's orders: per order, the nurses who held it
    before it last went back to dispatch (handed it back, were taken off it, could not
    keep it): as dispatch does not offer it to them again, the repair does not give it
    back to them, whoever holds it now (a nurse who holds it again now, given back to
    her by a supervisor, is not banned from her own visit); and the orders that have
    had more than one nurse, whose family was told of a new nurse once already."""
    out: dict[Hashable, frozenset[Hashable]] = {}
    nurses: dict[Hashable, set[int]] = {}
    holders: list[int] = []
    last = None
    for order_id, from_status, to_status, nurse_id in session.execute(
            sa.select(OrderEvent.order_id, OrderEvent.from_status, OrderEvent.to_status,
                      OrderEvent.nurse_id)
            .where(OrderEvent.order_id.in_(sorted(day.orders)))
            .order_by(OrderEvent.order_id, OrderEvent.id)):
        if order_id != last:
            holders, last = [], order_id
        if to_status in HOLDS_NURSE and nurse_id is not None:
            holders.append(nurse_id)
            nurses.setdefault(order_id, set()).add(nurse_id)
        elif from_status in HOLDS_NURSE and to_status in SEEKING_NURSE and holders:
            out[order_id] = out.get(order_id, frozenset()) | set(holders)
    for order_id in list(out):
        now_held = day.orders[order_id].nurse_id
        if day.orders[order_id].status == "assigned" and now_held in out[order_id]:
            out[order_id] = out[order_id] - {now_held}
    banned = {i: held for i, held in out.items() if held}
    return banned, frozenset(i for i, held in nurses.items() if len(held) > 1)


def _before(previous: DayPlan, day: Day) -> dict[int, _At]:
    """Where each order was before the repair: the previous plan, overridden by the nurse
    and arrival an assigned order holds now (dispatch may have placed it since)."""
    out: dict[int, _At] = {}
    for route in (previous.result or {}).get("routes", []):
        for stop in route["stops"]:
            out[stop["order_id"]] = (route["nurse_id"],
                                     datetime.fromisoformat(stop["planned_arrival"]))
    for snap in day.orders.values():
        if snap.status == "assigned" and snap.nurse_id is not None:
            out[snap.id] = (snap.nurse_id, snap.planned_arrival)
    fixed = {s.id for held in day.fixed.values() for s in held}
    return {order_id: at for order_id, at in out.items() if order_id not in fixed}


def _diff(before: dict[int, _At], result: dict[str, Any], reasons: list[dict[str, Any]],
          repaired: repair_plan.Repair, gone: dict[int, str],
          stranded: dict[int, _At] | None = None) -> dict[str, list[dict[str, Any]]]:
    """What the repair changed, each with its reason: the change that names the order or
    its nurse, else why the repair moved it (``detail``: what the route could not keep,
    on every kind of change the repair made to a visit it released). ``stranded``:
    visits inside the freeze their nurse can no longer hold, left as they were (the
    supervisor's call), listed with the change that stranded them."""
    after: dict[int, _At] = {
        stop["order_id"]: (route["nurse_id"], datetime.fromisoformat(stop["planned_arrival"]))
        for route in result["routes"] for stop in route["stops"]}
    unplanned = {u["order_id"]: u["reason"] for u in result["unplanned"]}
    unplanned.update({s["order_id"]: f"status_{s['status']}" for s in result["skipped"]})
    why_order = {r["order_id"]: r["kind"] for r in reasons if r.get("order_id") is not None}
    why_nurse = {r["nurse_id"]: r["kind"] for r in reasons if r.get("nurse_id") is not None}

    def cause(order_id: int, nurse_id: int | None) -> str | None:
        return why_order.get(order_id) or (why_nurse.get(nurse_id) if nurse_id else None)

    def detail(order_id: int) -> str | None:
        if order_id in repaired.released:
            return repaired.released[order_id]
        return IMPROVED if order_id in repaired.improved else None

    def iso(at: datetime | None) -> str | None:
        return at.isoformat() if at is not None else None

    diff: dict[str, list[dict[str, Any]]] = {"moved": [], "added": [], "dropped": [],
                                             "retimed": [], "stranded": []}
    for order_id, (nurse_id, arrival) in sorted(after.items()):
        if order_id not in before:
            diff["added"].append({"order_id": order_id, "to_nurse_id": nurse_id,
                                  "new_arrival": iso(arrival),
                                  "reason": why_order.get(order_id, UNPLANNED_BEFORE)})
            continue
        old_nurse, old_arrival = before[order_id]
        if old_nurse != nurse_id:
            diff["moved"].append({
                "order_id": order_id, "from_nurse_id": old_nurse, "to_nurse_id": nurse_id,
                "old_arrival": iso(old_arrival), "new_arrival": iso(arrival),
                "reason": cause(order_id, old_nurse) or detail(order_id) or ROUTE_CHANGED,
                "detail": detail(order_id)})
        elif old_arrival != arrival:
            diff["retimed"].append({
                "order_id": order_id, "nurse_id": nurse_id, "old_arrival": iso(old_arrival),
                "new_arrival": iso(arrival),
                "reason": cause(order_id, nurse_id) or detail(order_id) or ROUTE_CHANGED,
                "detail": detail(order_id)})
    for order_id in sorted(set(before) - set(after)):
        old_nurse = before[order_id][0]
        why = (f"status_{gone[order_id]}" if order_id in gone
               else unplanned.get(order_id, ROUTE_CHANGED))
        diff["dropped"].append({"order_id": order_id, "from_nurse_id": old_nurse,
                                "reason": cause(order_id, old_nurse) or why,
                                "detail": detail(order_id) or why})
    for order_id, (nurse_id, arrival) in sorted((stranded or {}).items()):
        diff["stranded"].append({"order_id": order_id, "nurse_id": nurse_id,
                                 "planned_arrival": iso(arrival),
                                 "reason": cause(order_id, nurse_id) or STRANDED,
                                 "detail": STRANDED})
    return diff

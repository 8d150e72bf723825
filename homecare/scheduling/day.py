"""An organization's day as the planner's problem: each nurse's day (``nurseday``)
turned into vehicles, the orders to plan into visits."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from homecare.accounts.models import User
from homecare.catalogue.models import ServiceItem
from homecare.config import Config
from homecare.geo import Point, TravelModel, within_radius
from homecare.nurseday.load import held_visits
from homecare.nurseday.load import stretches as load_stretches
from homecare.nurseday.model import (
    Clock,
    day_span,
    fresh_ping,
    heading,
    leg_times,
    secs,
    secs_up,
    split_cap,
    start_of,
)
from homecare.nurses import gate
from homecare.nurses.models import Nurse
from homecare.orders.models import Order
from homecare.orders.states import FIXED, PLANNED
from homecare.patients.models import Address
from homecare.scheduling import planner


class _FreeEnd:
    """Where every planned day ends: after the last visit, wherever that is."""

    def __repr__(self) -> str:
        return "FREE_END"


# Travel home after the last visit is her own time, as in dispatch's insertion
# check: a published shift means "when I can be with patients", so it must
# cover the visits, not the trip back. Every vehicle ends here, at no cost.
FREE_END = _FreeEnd()


class DayTravel:
    """A travel model in which every leg into (or out of) FREE_END is free."""

    def __init__(self, travel: TravelModel) -> None:
        self.travel = travel

    def matrices(self, points: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
        real = [p for p in points if p is not FREE_END]
        stand_in = real[0] if real else Point(0.0, 0.0)
        dist, dur = self.travel.matrices([stand_in if p is FREE_END else p for p in points])
        dist, dur = np.array(dist, dtype=np.int64), np.array(dur, dtype=np.int64)
        ends = [i for i, p in enumerate(points) if p is FREE_END]
        for matrix in (dist, dur):
            matrix[:, ends] = 0
            matrix[ends, :] = 0
        return dist, dur


@dataclass(frozen=True)
class OrderSnapshot:
    """An order as read for planning; the write re-checks status and version against it."""

    id: int
    status: str
    version: int
    nurse_id: int | None
    booked_by: int
    service_code: str
    window_start: datetime
    window_end: datetime
    planned_arrival: datetime | None
    route_position: int | None


@dataclass(frozen=True)
class NurseDay:
    """A nurse with time left that day (one planner vehicle per stretch of shift)."""

    id: int
    name: str


@dataclass(frozen=True)
class Day:
    """Everything the plan is made from and written back against."""

    organization_id: int
    clock: Clock
    problem: planner.Problem
    orders: dict[int, OrderSnapshot]
    nurses: dict[int, NurseDay]
    vehicle_nurse: dict[Hashable, int]
    # Per nurse, the orders under way or done, in the order she did them.
    fixed: dict[int, tuple[OrderSnapshot, ...]]


def load_day(session: Session, *, organization_id: int, day: date, now: datetime,
             config: Config, travel: TravelModel, reassign: bool,
             movable: bool = False) -> Day:
    """Read the day: qualified nurses with shifts, the orders to plan, the visits under way.

    Each stretch of shift becomes a planner vehicle leaving from home (or, for
    the stretch she is in, from where she is once she is free) and done with
    her visits by its end (FREE_END: the way home is her own time); nobody
    starts before ``now``. Plan with ``DayTravel(travel)``. Title, service
    radius and pins travel as pseudo-skills, so "may serve" stays one rule.
    ``movable`` (a repair, ``scheduling.repair``): assigned orders hold room in
    their nurse's caps as pinned ones do, but are not pinned: any qualified nurse
    near them may take one (the repair prices the move), and their own nurse
    always may, even from beyond her radius.
    """
    clock = day_span(day, config.timezone)
    nurses = _qualified_nurses(session, organization_id, day, config)
    starts = _vehicle_starts(session, [n for n, _name in nurses], clock, now, config, travel)
    rows = _order_rows(session, organization_id, day)

    fixed_rows: dict[int, list[Any]] = {}
    for row in rows:
        if row.status in FIXED and row.nurse_id is not None:
            fixed_rows.setdefault(row.nurse_id, []).append(row)
    for held in fixed_rows.values():
        held.sort(key=lambda r: (FIXED.index(r.status),
                                 r.checked_in_at or r.departed_at or r.window_start, r.id))

    vehicles: list[planner.Nurse] = []
    vehicle_nurse: dict[Hashable, int] = {}
    available: dict[int, NurseDay] = {}
    stretches: dict[int, list[tuple[int, int, Point]]] = {}
    for nurse, name in nurses:
        mine = starts.get(nurse.id, [])
        if mine:
            stretches[nurse.id] = mine
            available[nurse.id] = NurseDay(nurse.id, name)

    to_plan = [r for r in rows if r.status in PLANNED]
    kept = {r.id: r.nurse_id for r in to_plan
            if r.status == "assigned" and not reassign and r.nurse_id in available}
    pins = {} if movable else kept
    free = [r for r in to_plan if r.id not in pins]
    pinned: dict[int, list[Any]] = {}
    for r in to_plan:
        if r.id in kept:
            pinned.setdefault(kept[r.id], []).append(r)
    for nurse, _name in nurses:
        if nurse.id not in available:
            continue
        home = Point(nurse.home_lat, nurse.home_lng)
        radius = min(nurse.service_radius_km, config.max_service_radius_km)
        _km, near = within_radius(home, [Point(r.lat, r.lng) for r in free],
                                  [radius] * len(free))
        near_ids = [r.id for r, ok in zip(free, near, strict=True) if ok]
        if movable:
            near_ids += [r.id for r in pinned.get(nurse.id, [])]
        skills = _skills(nurse, near_ids)
        done = len(fixed_rows.get(nurse.id, []))
        mine = stretches[nurse.id]
        caps = _caps(nurse.max_visits_per_day - done, mine, pinned.get(nurse.id, []), clock)
        for k, ((begin, end, place), cap) in enumerate(zip(mine, caps, strict=True)):
            vehicle = planner.Nurse(id=(nurse.id, k), start=place, end=FREE_END,
                                    shift_start=begin, shift_end=end, skills=skills,
                                    max_visits=cap)
            vehicles.append(vehicle)
            vehicle_nurse[vehicle.id] = nurse.id

    visits = []
    for r in to_plan:
        needs = set(gate.demands(r.min_title, r.required_skills))
        needs.add(f"nurse:{pins[r.id]}" if r.id in pins else f"near:{r.id}")
        visits.append(planner.Visit(
            id=r.id, place=Point(r.lat, r.lng), window_start=clock.seconds_up(r.window_start),
            window_end=max(clock.seconds(r.window_end), clock.seconds_up(r.window_start)),
            service_s=r.duration_min * 60,
            required_skills=frozenset(needs)))

    return Day(
        organization_id=organization_id,
        clock=clock,
        problem=planner.Problem(tuple(vehicles), tuple(visits)),
        orders={r.id: _snapshot(r) for r in to_plan},
        nurses=available,
        vehicle_nurse=vehicle_nurse,
        fixed={nurse_id: tuple(_snapshot(r) for r in held)
               for nurse_id, held in fixed_rows.items()},
    )


def _qualified_nurses(session: Session, organization_id: int, day: date,
                      config: Config) -> list[tuple[Nurse, str]]:
    stmt = (sa.select(Nurse, User.name, User.active).join(User, User.id == Nurse.user_id)
            .where(Nurse.organization_id == organization_id, *gate.where())
            .order_by(Nurse.id)
            .execution_options(populate_existing=True))
    # The qualification gate is re-checked at planning time, as dispatch does:
    # a nurse activated before the settings tightened must not be planned, nor one
    # whose licence or insurance does not cover the day. The item's part of the
    # gate (title, skills) is the vehicles' and visits' skills (``gate.capabilities``).
    return [(nurse, name) for nurse, name, account_active in session.execute(
                stmt, gate.where_params(config))
            if gate.refusal(nurse, config, day=day, account_active=account_active) is None]


def _vehicle_starts(session: Session, nurses: Sequence[Nurse], clock: Clock, now: datetime,
                    config: Config, travel: TravelModel) -> dict[int, list[tuple[int, int, Point]]]:
    """Per nurse, her remaining stretches of shift as planner vehicles: (start, end, start
    place) in seconds since local midnight, none before ``now``.

    Her day as dispatch sees it (``nurseday``): a stretch starts once she is free
    of the visit she is on in it, else (if it has begun) from her fresh ping or
    her last visit done in it, else from home; a stretch that is over, or that
    the visit she is on outlasts, holds no vehicle.
    """
    ids = [n.id for n in nurses]
    shifts = load_stretches(session, ids, clock.day, config)
    held = held_visits(session, ids, clock.day, shifts, config)
    now_s = secs_up(now)
    fresh = timedelta(minutes=config.dispatch_ping_max_age_minutes)
    places = {n.id: (Point(n.home_lat, n.home_lng),
                     fresh_ping(n.last_lat, n.last_lng, n.last_ping_at, now, fresh))
              for n in nurses}
    ahead = leg_times([leg for n in nurses for s in shifts.get(n.id, []) if s[1] > now_s
                       if (leg := heading(*places[n.id], s, held.get(n.id, []), now_s))],
                      travel)
    midnight = secs(clock.midnight)
    out: dict[int, list[tuple[int, int, Point]]] = {}
    for n in nurses:
        for stretch in shifts.get(n.id, []):
            if stretch[1] <= now_s:
                continue
            start = start_of(*places[n.id], stretch, held.get(n.id, []), now_s, ahead)
            if start.depart < stretch[1]:
                out.setdefault(n.id, []).append(
                    (start.depart - midnight, stretch[1] - midnight, start.place))
    return out


def _order_rows(session: Session, organization_id: int, day: date) -> list[Any]:
    return list(session.execute(
        sa.select(Order.id, Order.status, Order.version, Order.nurse_id, Order.booked_by,
                  Order.service_code, Order.duration_min, Order.window_start, Order.window_end,
                  Order.planned_arrival, Order.route_position, Order.departed_at,
                  Order.checked_in_at, Order.checked_out_at, Address.lat, Address.lng,
                  ServiceItem.required_skills, ServiceItem.min_title)
        .join(Address, Address.id == Order.address_id)
        .join(ServiceItem, ServiceItem.code == Order.service_code)
        .where(Order.organization_id == organization_id, Order.service_date == day,
               Order.status.in_(PLANNED + FIXED))
        .order_by(Order.id)))


def _snapshot(row: Any) -> OrderSnapshot:
    return OrderSnapshot(id=row.id, status=row.status, version=row.version,
                         nurse_id=row.nurse_id, booked_by=row.booked_by,
                         service_code=row.service_code, window_start=row.window_start,
                         window_end=row.window_end, planned_arrival=row.planned_arrival,
                         route_position=row.route_position)


def _skills(nurse: Nurse, near_order_ids: Sequence[int]) -> frozenset[str]:
    """Her skills plus pseudo-skills: titles up to hers, herself, the orders near her home."""
    return gate.capabilities(nurse) | {f"nurse:{nurse.id}",
                                       *(f"near:{i}" for i in near_order_ids)}


def _caps(left: int, stretches: Sequence[tuple[int, int, Point]], pinned: Sequence[Any],
          clock: Clock) -> list[int]:
    """Her daily cap per stretch (vehicle): each holds room for the visits she accepted
    in it, and what is left of the cap is split by length.

    Dispatch counts the cap over the whole day, so a nurse may accept two morning
    visits on a split day; a split by length alone would give the morning one slot
    and unplan an accepted visit for capacity. A pinned visit counts in the first
    stretch that could hold it (travel aside); her accepted visits are never cut,
    even if the cap was lowered after she took them.
    """
    held = [0] * len(stretches)
    for r in pinned:
        opens, closes = clock.seconds_up(r.window_start), clock.seconds(r.window_end)
        for k, (begin, end, _place) in enumerate(stretches):
            if begin <= closes and max(opens, begin) + r.duration_min * 60 <= end:
                held[k] += 1
                break
    rest = split_cap(max(0, left - sum(held)), [e - b for b, e, _ in stretches])
    return [mine + more for mine, more in zip(held, rest, strict=True)]

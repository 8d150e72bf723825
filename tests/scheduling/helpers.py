"""The day-planning tests' fixed day and places in Jining, a flat-plane travel model and
an independent plan checker for the planner tests."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

import numpy as np

from homecare.scheduling.planner import Nurse, Plan, Problem, Visit

# 5 m/s (18 km/h): slow enough that a few kilometres matter against 1 h windows.
SPEED_MPS = 5


class P(NamedTuple):
    """A point on a plane, in metres; the planner treats places as opaque."""

    lat: float
    lng: float


def metres(a: P, b: P) -> int:
    return round(math.hypot(a.lat - b.lat, a.lng - b.lng))


def seconds(a: P, b: P) -> int:
    return math.ceil(metres(a, b) / SPEED_MPS)


class PlaneTravel:
    """Straight lines at a constant speed."""

    def matrices(self, points: Sequence[P]) -> tuple[np.ndarray, np.ndarray]:
        dist = np.array([[metres(a, b) for b in points] for a in points], dtype=np.int64)
        dur = np.array([[seconds(a, b) for b in points] for a in points], dtype=np.int64)
        return dist.reshape(len(points), len(points)), dur.reshape(len(points), len(points))


def route_violations(nurse: Nurse, stops: Sequence[Visit], depart: int) -> list[str]:
    """Everything wrong with a nurse doing ``stops`` in order, leaving at ``depart``."""
    problems = []
    if depart < nurse.shift_start:
        problems.append("leaves before her shift")
    clock, here = depart, nurse.start
    for v in stops:
        if not nurse.may_serve(v):
            problems.append(f"{v.id}: not hers to serve")
        begin = max(clock + seconds(here, v.place), v.window_start)
        if begin > v.window_end:
            problems.append(f"{v.id}: window missed")
        clock, here = begin + v.service_s, v.place
    if clock + seconds(here, nurse.end) > nurse.shift_end:
        problems.append("home after her shift")
    if nurse.max_visits is not None and len(stops) > nurse.max_visits:
        problems.append("too many visits")
    if nurse.capacity is not None and sum(v.demand for v in stops) > nurse.capacity:
        problems.append("over capacity")
    return problems


def check_plan(problem: Problem, plan: Plan) -> None:
    """Assert the plan is valid, recomputing every time from the travel model."""
    nurses = {n.id: n for n in problem.nurses}
    visits = {v.id: v for v in problem.visits}
    assert sorted(map(repr, (r.nurse_id for r in plan.routes))) == sorted(map(repr, nurses))
    seen = [s.visit_id for r in plan.routes for s in r.stops]
    seen += [u.visit_id for u in plan.unplanned]
    assert sorted(map(repr, seen)) == sorted(map(repr, visits)), "each visit exactly once"
    for route in plan.routes:
        nurse = nurses[route.nurse_id]
        stops = [visits[s.visit_id] for s in route.stops]
        assert route_violations(nurse, stops, route.departure) == []
        clock, here, travel = route.departure, nurse.start, 0
        for stop, v in zip(route.stops, stops, strict=True):
            travel += seconds(here, v.place)
            assert stop.arrival == clock + seconds(here, v.place)
            assert stop.start == max(stop.arrival, v.window_start)
            assert stop.end == stop.start + v.service_s
            clock, here = stop.end, v.place
        travel += seconds(here, nurse.end) if stops else 0
        assert route.travel_s == travel


ZONE = ZoneInfo("Asia/Shanghai")
DAY = date(2030, 3, 4)
CENTER = (35.4150, 116.5870)


def local(hours: float, day: date = DAY) -> datetime:
    """``hours`` after local midnight of ``day`` (9.5 is 09:30), as a UTC datetime."""
    return (datetime.combine(day, time(0), ZONE) + timedelta(hours=hours)).astimezone(UTC)


# The morning job's clock: before anyone's shift on DAY.
MORNING = local(6)


def place(north_km: float = 0.0, east_km: float = 0.0) -> tuple[float, float]:
    """A point ``north_km`` and ``east_km`` from the centre of Jining (WGS-84)."""
    lat = CENTER[0] + north_km / 110.95
    lng = CENTER[1] + east_km / (111.32 * math.cos(math.radians(CENTER[0])))
    return lat, lng

"""Day planning for home nursing: a pure function from nurses and visits to routes."""

from __future__ import annotations

import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

import numpy as np

from homecare.scheduling.solver import RoutingTask, solve_task

if TYPE_CHECKING:
    from homecare.geo import Point

__all__ = [
    "CAPACITY",
    "NO_QUALIFIED_NURSE",
    "WINDOW_UNREACHABLE",
    "Nurse",
    "Plan",
    "Problem",
    "Route",
    "Stop",
    "TravelModel",
    "Unplanned",
    "Visit",
    "plan",
]

NO_QUALIFIED_NURSE = "no_qualified_nurse"
WINDOW_UNREACHABLE = "window_unreachable"
CAPACITY = "capacity"

# An iteration budget, not a clock, decides when a normal solve stops, so the
# same day gives the same plan on a fast or a busy machine; the time cap only
# bounds the worst case.
DEFAULT_MAX_ITERATIONS = 8_000
DEFAULT_MAX_SECONDS = 30.0

Objective = Literal["duration", "distance"]


class TravelModel(Protocol):
    """What the planner needs from a travel provider (see ``homecare.geo``)."""

    def matrices(self, points: Sequence[Point]) -> tuple[np.ndarray, np.ndarray]:
        """(distance_m, duration_s) int64 n x n matrices, row = origin."""
        ...


@dataclass(frozen=True)
class Nurse:
    """A nurse's day: where she starts and ends, her shift and what she may do.

    ``start`` is her home, or her current position when re-planning (then
    ``shift_start`` is "now"). She must be back at ``end`` by ``shift_end``.
    """

    id: Hashable
    start: Point
    end: Point
    shift_start: int
    shift_end: int
    skills: frozenset[str] = frozenset()
    max_visits: int | None = None
    capacity: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "skills", frozenset(self.skills))
        if self.shift_end < self.shift_start:
            raise ValueError(f"nurse {self.id!r}: shift ends before it starts")
        if self.max_visits is not None and self.max_visits < 0:
            raise ValueError(f"nurse {self.id!r}: negative max_visits")
        if self.capacity is not None and self.capacity < 0:
            raise ValueError(f"nurse {self.id!r}: negative capacity")

    def may_serve(self, visit: Visit) -> bool:
        """Whether her skills and the visit's pin allow her to take it (ignoring time)."""
        pinned = visit.pinned_nurse is None or visit.pinned_nurse == self.id
        return pinned and visit.required_skills <= self.skills


@dataclass(frozen=True)
class Visit:
    """A visit to plan. The window bounds the *start* of service (the promised arrival).

    Optional visits (``required=False``) are planned only when their
    ``penalty`` (in objective units: travel seconds or metres) exceeds the
    travel they add.
    """

    id: Hashable
    place: Point
    window_start: int
    window_end: int
    service_s: int
    required_skills: frozenset[str] = frozenset()
    demand: int = 0
    required: bool = True
    penalty: int = 0
    pinned_nurse: Hashable | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "required_skills", frozenset(self.required_skills))
        if self.window_end < self.window_start:
            raise ValueError(f"visit {self.id!r}: window ends before it starts")
        if self.service_s < 0 or self.demand < 0 or self.penalty < 0:
            raise ValueError(f"visit {self.id!r}: negative service, demand or penalty")


@dataclass(frozen=True)
class Problem:
    """The nurses and visits of one planning run; ids are unique within each kind."""

    nurses: tuple[Nurse, ...]
    visits: tuple[Visit, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "nurses", tuple(self.nurses))
        object.__setattr__(self, "visits", tuple(self.visits))
        for kind, items in (("nurse", self.nurses), ("visit", self.visits)):
            ids = [item.id for item in items]
            if len(set(ids)) != len(ids):
                raise ValueError(f"duplicate {kind} ids")


@dataclass(frozen=True)
class Stop:
    """A planned visit: when the nurse arrives, starts (window permitting) and leaves."""

    visit_id: Hashable
    arrival: int
    start: int
    end: int


@dataclass(frozen=True)
class Route:
    """One nurse's day in order; ``departure``/``back`` are when she leaves and returns."""

    nurse_id: Hashable
    stops: tuple[Stop, ...]
    travel_s: int
    distance_m: int
    departure: int = 0
    back: int = 0


@dataclass(frozen=True)
class Unplanned:
    """A visit left out of the plan: NO_QUALIFIED_NURSE, WINDOW_UNREACHABLE or CAPACITY."""

    visit_id: Hashable
    reason: str


@dataclass(frozen=True)
class Plan:
    """The result of :func:`plan`: a route per nurse (possibly empty) and the rest.

    ``cost`` is what the solver minimised: travel in the chosen objective's
    units plus the penalties of optional visits left out.
    """

    routes: tuple[Route, ...]
    unplanned: tuple[Unplanned, ...]
    travel_s: int
    distance_m: int
    objective: str
    cost: int
    iterations: int = field(default=0, compare=False)
    # The time cap ended the search (a rerun may differ); the iteration budget
    # and the solver's patience do not set it.
    timed_out: bool = field(default=False, compare=False)

    def route_of(self, nurse_id: Hashable) -> Route:
        """The route of one nurse."""
        return next(r for r in self.routes if r.nurse_id == nurse_id)


def plan(
    problem: Problem,
    travel: TravelModel,
    *,
    seed: int = 1,
    max_iterations: int | None = DEFAULT_MAX_ITERATIONS,
    max_seconds: float | None = DEFAULT_MAX_SECONDS,
    objective: Objective = "duration",
) -> Plan:
    """Plan every nurse's day, minimising total travel time (or distance).

    Visits no nurse could ever take are reported up front (``no_qualified_nurse``,
    ``window_unreachable``, ``capacity``); the rest go to the routing engine,
    and a required visit comes back as ``capacity`` only if no nurse could
    take it without dropping another (as does an optional visit whose penalty
    does not pay for its travel). The same
    problem, seed and ``max_iterations`` give the same plan as long as
    ``max_seconds`` (which counts the whole call) is not what stops the search.
    """
    if objective not in ("duration", "distance"):
        raise ValueError(f"unknown objective {objective!r}")
    began = time.perf_counter()
    nurses, visits = problem.nurses, problem.visits

    place_index: dict[Point, int] = {}
    for n in nurses:
        place_index.setdefault(n.start, len(place_index))
        place_index.setdefault(n.end, len(place_index))
    # Every visit gets a location of its own, even at a shared address: a
    # routing profile blocks a visit by blocking the edges into its location.
    points = [*place_index, *(v.place for v in visits)]
    dist, dur = _matrices(travel, points)
    start_loc = np.array([place_index[n.start] for n in nurses], dtype=np.int64)
    end_loc = np.array([place_index[n.end] for n in nurses], dtype=np.int64)
    visit_loc = np.arange(len(place_index), len(points), dtype=np.int64)

    allowed, reasons = _classify(nurses, visits, start_loc, end_loc, visit_loc, dur)
    todo = [i for i, reason in enumerate(reasons) if reason is None]
    cost_matrix = dur if objective == "duration" else dist
    task = RoutingTask(
        nurses=nurses,
        visits=[visits[i] for i in todo],
        nurse_start=start_loc.tolist(),
        nurse_end=end_loc.tolist(),
        visit_loc=visit_loc[todo].tolist(),
        cost=cost_matrix,
        duration=dur,
        allowed=allowed[:, todo],
    )
    remaining = None if max_seconds is None else max_seconds - (time.perf_counter() - began)
    solved = solve_task(task, seed=seed, max_iterations=max_iterations, max_seconds=remaining)

    routes = []
    planned: set[int] = set()
    for n_idx, order in enumerate(solved.routes):
        indices = [todo[k] for k in order]
        planned.update(indices)
        routes.append(
            _route(
                nurses[n_idx],
                indices,
                visits,
                start_loc[n_idx],
                end_loc[n_idx],
                visit_loc,
                dist,
                dur,
            )
        )
    unplanned = []
    for i, v in enumerate(visits):
        if i not in planned:
            unplanned.append(Unplanned(v.id, reasons[i] or CAPACITY))

    travel_s = sum(r.travel_s for r in routes)
    distance_m = sum(r.distance_m for r in routes)
    missed = sum(visits[i].penalty for i in todo if i not in planned and not visits[i].required)
    return Plan(
        routes=tuple(routes),
        unplanned=tuple(unplanned),
        travel_s=travel_s,
        distance_m=distance_m,
        objective=objective,
        cost=(travel_s if objective == "duration" else distance_m) + missed,
        iterations=solved.iterations,
        timed_out=solved.timed_out,
    )


def _matrices(travel: TravelModel, points: list[Point]) -> tuple[np.ndarray, np.ndarray]:
    dist, dur = travel.matrices(points)
    dist = np.asarray(dist, dtype=np.int64)
    dur = np.asarray(dur, dtype=np.int64)
    n = len(points)
    if dist.shape != (n, n) or dur.shape != (n, n):
        raise ValueError("travel.matrices returned matrices of the wrong shape")
    if (dist < 0).any() or (dur < 0).any():
        raise ValueError("travel.matrices returned negative distances or durations")
    return dist, dur


def _classify(
    nurses: Sequence[Nurse],
    visits: Sequence[Visit],
    start_loc: np.ndarray,
    end_loc: np.ndarray,
    visit_loc: np.ndarray,
    dur: np.ndarray,
) -> tuple[np.ndarray, list[str | None]]:
    """Which nurse may serve which visit, and why a visit is hopeless (None if it is not).

    The reasons are checked in order of how fundamental they are: nobody with
    the skills (or the pinned nurse) is on shift then; such nurses exist but
    none could reach the window and get home in time even with nothing else to
    do; or all those who could have no room for it (max_visits 0, demand above
    capacity).
    """
    allowed = np.array([[n.may_serve(v) for v in visits] for n in nurses], dtype=bool)
    allowed = allowed.reshape(len(nurses), len(visits))
    if not nurses or not visits:
        return allowed, [NO_QUALIFIED_NURSE] * len(visits)

    s_start = np.array([n.shift_start for n in nurses], dtype=np.int64)[:, None]
    s_end = np.array([n.shift_end for n in nurses], dtype=np.int64)[:, None]
    w_start = np.array([v.window_start for v in visits], dtype=np.int64)[None, :]
    w_end = np.array([v.window_end for v in visits], dtype=np.int64)[None, :]
    service = np.array([v.service_s for v in visits], dtype=np.int64)[None, :]

    earliest = np.maximum(w_start, s_start)
    on_shift = allowed & (earliest <= w_end) & (earliest + service <= s_end)
    begin = np.maximum(s_start + dur[np.ix_(start_loc, visit_loc)], w_start)
    back = begin + service + dur[np.ix_(visit_loc, end_loc)].T
    reachable = on_shift & (begin <= w_end) & (back <= s_end)
    room = np.array(
        [
            [
                (n.max_visits is None or n.max_visits >= 1)
                and (n.capacity is None or n.capacity >= v.demand)
                for v in visits
            ]
            for n in nurses
        ],
        dtype=bool,
    )
    fits = reachable & room

    reasons: list[str | None] = []
    for j in range(len(visits)):
        if not on_shift[:, j].any():
            reasons.append(NO_QUALIFIED_NURSE)
        elif not reachable[:, j].any():
            reasons.append(WINDOW_UNREACHABLE)
        elif not fits[:, j].any():
            reasons.append(CAPACITY)
        else:
            reasons.append(None)
    return allowed, reasons


def _route(
    nurse: Nurse,
    order: Sequence[int],
    visits: Sequence[Visit],
    start: int,
    end: int,
    visit_loc: np.ndarray,
    dist: np.ndarray,
    dur: np.ndarray,
) -> Route:
    """Times for a route: leave home just in time for the first window, never wait later."""
    if not order:
        return Route(nurse.id, (), 0, 0, nurse.shift_start, nurse.shift_start)
    locs = [start, *(int(visit_loc[i]) for i in order), end]
    first = visits[order[0]]
    departure = max(nurse.shift_start, first.window_start - int(dur[locs[0], locs[1]]))
    clock = departure
    stops = []
    for k, i in enumerate(order):
        v = visits[i]
        arrival = clock + int(dur[locs[k], locs[k + 1]])
        begin = max(arrival, v.window_start)
        clock = begin + v.service_s
        stops.append(Stop(v.id, arrival, begin, clock))
    back = clock + int(dur[locs[-2], locs[-1]])
    legs = list(zip(locs, locs[1:], strict=False))
    return Route(
        nurse_id=nurse.id,
        stops=tuple(stops),
        travel_s=sum(int(dur[a, b]) for a, b in legs),
        distance_m=sum(int(dist[a, b]) for a, b in legs),
        departure=departure,
        back=back,
    )

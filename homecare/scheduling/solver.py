"""PyVRP adapter: the only module that knows which routing engine plans the day."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from pyvrp import Client, Depot, Location, ProblemData, VehicleType, solve
from pyvrp.constants import MAX_VALUE
from pyvrp.stop import MaxIterations, MaxRuntime, MultipleCriteria

if TYPE_CHECKING:
    from homecare.scheduling.planner import Nurse, Visit


@dataclass(frozen=True)
class RoutingTask:
    """A day reduced to indices and matrices, ready for any routing engine.

    ``cost`` and ``duration`` are square int64 matrices over locations;
    ``nurse_start``/``nurse_end``/``visit_loc`` index into them. ``allowed``
    (nurses x visits, bool) says which nurse may serve which visit at all
    (skills and pins); time windows, shifts and loads are the engine's job.
    Every visit here must be servable by at least one nurse in principle:
    the planner filters out the hopeless ones first.
    """

    nurses: Sequence[Nurse]
    visits: Sequence[Visit]
    nurse_start: Sequence[int]
    nurse_end: Sequence[int]
    visit_loc: Sequence[int]
    cost: np.ndarray
    duration: np.ndarray
    allowed: np.ndarray


@dataclass(frozen=True)
class SolverResult:
    """Per nurse (in task order) the visit indices she serves, in order."""

    routes: tuple[tuple[int, ...], ...]
    iterations: int
    runtime_s: float


def solve_task(
    task: RoutingTask,
    *,
    seed: int,
    max_iterations: int | None,
    max_seconds: float | None,
) -> SolverResult:
    """Route the task with PyVRP's iterated local search.

    With ``max_iterations`` and no binding ``max_seconds`` the result depends
    only on the task and the seed.
    """
    if not task.visits:
        return SolverResult(tuple(() for _ in task.nurses), 0, 0.0)
    criteria = []
    if max_iterations is not None:
        criteria.append(MaxIterations(max_iterations))
    if max_seconds is not None:
        criteria.append(MaxRuntime(max(0.0, max_seconds)))
    if not criteria:
        raise ValueError("give max_iterations, max_seconds or both")

    data, type_nurses = _problem_data(task)
    began = time.perf_counter()
    result = solve(data, MultipleCriteria(criteria), seed=seed, collect_stats=False, display=False)
    runtime = time.perf_counter() - began

    routes: list[tuple[int, ...]] = [() for _ in task.nurses]
    # Identical nurses share a vehicle type, so PyVRP says only which type a
    # route used; hand those routes to the type's nurses in a fixed order.
    free = [list(nurses) for nurses in type_nurses]
    for route in result.best.routes():
        nurse = free[route.vehicle_type()].pop(0)
        routes[nurse] = tuple(act.idx for act in route if act.is_client())
    return SolverResult(tuple(routes), result.num_iterations, runtime)


def _problem_data(task: RoutingTask) -> tuple[ProblemData, list[list[int]]]:
    nurses, visits = task.nurses, task.visits
    n_loc = task.cost.shape[0]
    # PyVRP wants non-negative times; callers may use any epoch.
    t0 = min(
        min(n.shift_start for n in nurses),
        min(v.window_start for v in visits),
    )
    horizon = max(max(n.shift_end for n in nurses), max(v.window_end for v in visits)) - t0

    delivery, capacity = _loads(nurses, visits)
    depot_locs = sorted(set(task.nurse_start) | set(task.nurse_end))
    depot_of = {loc: i for i, loc in enumerate(depot_locs)}
    depots = [Depot(location=loc) for loc in depot_locs]

    clients = []
    prize_required = _required_prize(task)
    for v, loc, load in zip(visits, task.visit_loc, delivery, strict=True):
        # Required visits become optional with an overwhelming prize: a day
        # that cannot hold them all still gets a plan, and the solver drops
        # as few required visits as it can.
        clients.append(
            Client(
                location=loc,
                delivery=load,
                service_duration=v.service_s,
                tw_early=v.window_start - t0,
                tw_late=v.window_end - t0,
                prize=prize_required if v.required else v.penalty,
                required=False,
                name=str(v.id),
            )
        )

    # A routing profile per distinct "who may serve what" row: its matrix has
    # no usable edge into the visits those nurses may not serve. The blocked
    # edge takes longer than the whole day and costs more than any prize, so
    # even a search that tolerates lateness for a while never gains by it.
    longest = max(int(task.cost.max()), int(task.duration.max()))
    forbidden = min(MAX_VALUE, 2 * (prize_required + longest + horizon) + 1)
    profile_of_row: dict[bytes, int] = {}
    costs: list[np.ndarray] = []
    durations: list[np.ndarray] = []
    visit_loc = np.asarray(task.visit_loc, dtype=np.int64)
    for row in task.allowed:
        key = np.asarray(row, dtype=bool).tobytes()
        if key in profile_of_row:
            continue
        profile_of_row[key] = len(costs)
        blocked = visit_loc[~np.asarray(row, dtype=bool)]
        cost = task.cost.astype(np.int64, copy=True)
        dur = task.duration.astype(np.int64, copy=True)
        cost[:, blocked] = forbidden
        dur[:, blocked] = forbidden
        np.fill_diagonal(cost, 0)
        np.fill_diagonal(dur, 0)
        costs.append(cost)
        durations.append(dur)

    type_of: dict[tuple, int] = {}
    type_keys: list[tuple] = []
    type_nurses: list[list[int]] = []
    for i, n in enumerate(nurses):
        key = (
            depot_of[task.nurse_start[i]],
            depot_of[task.nurse_end[i]],
            n.shift_start - t0,
            n.shift_end - t0,
            tuple(cap(n) for cap in capacity),
            profile_of_row[np.asarray(task.allowed[i], dtype=bool).tobytes()],
        )
        if key not in type_of:
            type_of[key] = len(type_keys)
            type_keys.append(key)
            type_nurses.append([])
        type_nurses[type_of[key]].append(i)
    vehicle_types = [
        VehicleType(
            num_available=len(members),
            capacity=list(caps),
            start_depot=start,
            end_depot=end,
            tw_early=early,
            tw_late=late,
            unit_distance_cost=1,
            unit_duration_cost=0,
            profile=profile,
        )
        for (start, end, early, late, caps, profile), members in zip(
            type_keys, type_nurses, strict=True
        )
    ]
    # Coordinates are unused: every engine input comes from the matrices.
    locations = [Location(x=0, y=0) for _ in range(n_loc)]
    data = ProblemData(locations, clients, depots, vehicle_types, costs, durations)
    return data, type_nurses


def _loads(
    nurses: Sequence[Nurse], visits: Sequence[Visit]
) -> tuple[list[list[int]], list[Callable[[Nurse], int]]]:
    """Per-visit loads and per-nurse capacity functions, one pair per dimension in use.

    Dimension "visits" carries max_visits (each visit loads 1), "workload"
    carries capacity (each visit loads its demand); a dimension nobody limits
    is left out so the engine does not track it.
    """
    columns: list[list[int]] = []
    capacity: list[Callable[[Nurse], int]] = []
    if any(n.max_visits is not None for n in nurses):
        columns.append([1] * len(visits))
        most = len(visits)
        capacity.append(lambda n: most if n.max_visits is None else n.max_visits)
    if any(n.capacity is not None for n in nurses):
        columns.append([v.demand for v in visits])
        total = sum(v.demand for v in visits)
        capacity.append(lambda n: total if n.capacity is None else n.capacity)
    delivery = [list(loads) for loads in zip(*columns, strict=True)] if columns else []
    return delivery or [[] for _ in visits], capacity


def _required_prize(task: RoutingTask) -> int:
    # Any two plans differ in travel cost by less than (visits + nurses) times
    # the longest arc, so a prize above that plus every optional penalty makes
    # serving one more required visit always worth more than anything else.
    finite = task.cost[task.cost < MAX_VALUE]
    longest = int(finite.max()) if finite.size else 0
    optional = sum(v.penalty for v in task.visits if not v.required)
    return (len(task.visits) + len(task.nurses) + 1) * 2 * (longest + 1) + optional + 1

"""The routing adapter: the only module that knows which engines (VROOM, PyVRP) plan the day."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

import numpy as np
from pyvrp import Client, Depot, Location, ProblemData, Solution, SolveParams, VehicleType, solve
from pyvrp import Route as PyvrpRoute
from pyvrp.constants import MAX_VALUE
from pyvrp.search import NeighbourhoodParams
from pyvrp.stop import MaxIterations, MaxRuntime, MultipleCriteria, NoImprovement

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
    # Whether max_seconds, not the budget or the patience, ended the search
    # (then a rerun may differ).
    timed_out: bool = False


# VROOM's exploration level for the first plan PyVRP then improves (1-5). On
# home-care days VROOM's deepest search serves the most visits and PyVRP's
# search, started from it, rarely adds one; lower levels leave visits out
# that PyVRP does not win back (bench/vs_peer.py).
DEFAULT_EXPLORATION = 5
# With an iteration budget, the search from VROOM's plan also stops after this
# many iterations without a better plan. From VROOM's plan PyVRP finds its
# improvements (if any) within a few dozen iterations on home-care days; 25
# keeps them and costs about 5 % of VROOM's time at 20 nurses, less at 85.
DEFAULT_PATIENCE = 25
# A time-boxed search (from PyVRP's own start) looks at each visit's 30 nearest
# visits, not PyVRP's default 50: ~1.7x the iterations per second, and in a
# 10 s box the extra iterations find shorter plans (bench/solomon.py, RC101
# and RC201, measured interleaved with the default). 20 was worse again. A
# search on a budget from VROOM's plan keeps PyVRP's defaults.
TIME_BOXED_NEIGHBOURS = 30
# VROOM splits its exploration across threads; the plan does not depend on
# how many, only the wall time does.
DEFAULT_THREADS = 2


def solve_task(
    task: RoutingTask,
    *,
    seed: int,
    max_iterations: int | None,
    max_seconds: float | None,
    exploration: int | None = DEFAULT_EXPLORATION,
    threads: int = DEFAULT_THREADS,
    patience: int | None = DEFAULT_PATIENCE,
) -> SolverResult:
    """Route the task: VROOM's plan as the start, PyVRP's iterated local search from there.

    VROOM (``exploration`` 1-5; None skips it) builds the first plan, which
    serves the most visits; PyVRP then searches from it and keeps the best
    plan by (required visits served, cost). Finally every visit still left
    out is offered to every nurse who may take it (cheapest feasible
    insertion), so a visit comes back unserved only when no nurse can take
    it without dropping another. With ``max_iterations`` the search also
    stops after ``patience`` iterations without a better plan; a time-boxed
    search (``max_iterations=None``) skips VROOM and gives PyVRP all of
    ``max_seconds`` from its own start. With ``max_iterations`` and no
    binding ``max_seconds`` the result depends only on the task and the seed.
    """
    if not task.visits:
        return SolverResult(tuple(() for _ in task.nurses), 0, 0.0)
    if max_iterations is None and max_seconds is None:
        raise ValueError("give max_iterations, max_seconds or both")
    began = time.perf_counter()
    data, type_nurses = _problem_data(task)

    initial = None
    start: list[tuple[int, ...]] | None = None
    # A time-boxed search (no iteration budget) is PyVRP's alone: given the
    # whole time from its own start it finds shorter plans than from VROOM's
    # (bench/solomon.py, RC201), while on a budget VROOM's start pays.
    if exploration is not None and max_iterations is not None:
        # The time cap goes mostly to VROOM, whose plan is the one that serves
        # the visits; PyVRP polishes it in the rest.
        timeout = None if max_seconds is None else max(0.0, 0.8 * max_seconds)
        start = vroom_routes(task, exploration=exploration, threads=threads, timeout_s=timeout)
        type_of = {nurse: t for t, members in enumerate(type_nurses) for nurse in members}
        initial = Solution(
            data,
            [
                PyvrpRoute(data, list(order), type_of[nurse])
                for nurse, order in enumerate(start)
                if order
            ],
        )

    criteria = []
    if max_iterations is not None:
        criteria.append(MaxIterations(max_iterations))
        if patience is not None and initial is not None:
            criteria.append(NoImprovement(patience))
    if max_seconds is not None:
        criteria.append(MaxRuntime(max(0.0, max_seconds - (time.perf_counter() - began))))
    params = SolveParams()
    if max_iterations is None:
        params = SolveParams(
            neighbourhood=NeighbourhoodParams(num_neighbours=TIME_BOXED_NEIGHBOURS)
        )
    result = solve(
        data,
        MultipleCriteria(criteria),
        seed=seed,
        collect_stats=False,
        display=False,
        params=params,
        initial_solution=initial,
    )

    routes: list[tuple[int, ...]] = [() for _ in task.nurses]
    if result.best.is_feasible():
        # Identical nurses share a vehicle type, so PyVRP says only which type a
        # route used; hand those routes to the type's nurses in a fixed order.
        free = [list(nurses) for nurses in type_nurses]
        for route in result.best.routes():
            nurse = free[route.vehicle_type()].pop(0)
            routes[nurse] = tuple(act.idx for act in route if act.is_client())
    if start is not None and _rank(task, start) < _rank(task, routes):
        routes = start
    routes = fill_gaps(task, routes)
    runtime = time.perf_counter() - began
    timed_out = max_seconds is not None and runtime >= 0.99 * max_seconds
    return SolverResult(tuple(routes), result.num_iterations, runtime, timed_out)


def _rank(task: RoutingTask, routes: Sequence[Sequence[int]]) -> tuple[int, int]:
    """Smaller is better: (required visits left out, cost incl. optional penalties)."""
    served = {k for order in routes for k in order}
    missed_required = sum(1 for k, v in enumerate(task.visits) if v.required and k not in served)
    missed_penalty = sum(
        v.penalty for k, v in enumerate(task.visits) if not v.required and k not in served
    )
    cost = 0
    for nurse, order in enumerate(routes):
        if order:
            locs = [task.nurse_start[nurse], *(task.visit_loc[k] for k in order)]
            locs.append(task.nurse_end[nurse])
            cost += sum(int(task.cost[a, b]) for a, b in zip(locs, locs[1:], strict=False))
    return missed_required, cost + missed_penalty


def fill_gaps(task: RoutingTask, routes: Sequence[Sequence[int]]) -> list[tuple[int, ...]]:
    """Insert every left-out required visit some nurse can still take, cheapest first.

    A search that stops early may leave out a visit that fits in a gap; after
    this, a required visit is out only if no nurse could take it without
    dropping another. Visits are offered in task order and each goes where it
    adds the least travel, so the result is deterministic.
    """
    # The check is insertion.py's, fed from the task's matrices.
    from homecare.scheduling.insertion import best_insertion

    travel = _TaskTravel(task)
    days = [[task.visits[k] for k in order] for order in routes]
    index = [list(order) for order in routes]
    served = {k for order in routes for k in order}
    for k, visit in enumerate(task.visits):
        if k in served or not visit.required:
            continue
        best = None
        for nurse in np.flatnonzero(task.allowed[:, k]):
            travel.focus(int(nurse), index[nurse], k)
            spot = best_insertion(
                nurse=task.nurses[nurse], route=days[nurse], visit=visit, travel=travel
            )
            if spot is not None and (best is None or spot.added_travel_s < best[0].added_travel_s):
                best = (spot, int(nurse))
        if best is not None:
            spot, nurse = best
            days[nurse].insert(spot.index, visit)
            index[nurse].insert(spot.index, k)
            served.add(k)
    return [tuple(order) for order in index]


class _TaskTravel:
    """The task's matrices behind the travel interface of ``insertion.best_insertion``.

    ``best_insertion`` asks for [start, *route, end, new visit]; ``focus``
    says which nurse, route and visit those places are, since two visits may
    share an address but not a location index.
    """

    def __init__(self, task: RoutingTask) -> None:
        self.task = task
        self.locs: list[int] = []

    def focus(self, nurse: int, order: Sequence[int], visit: int) -> None:
        task = self.task
        self.locs = [
            task.nurse_start[nurse],
            *(task.visit_loc[k] for k in order),
            task.nurse_end[nurse],
            task.visit_loc[visit],
        ]

    def matrices(self, points: Sequence[object]) -> tuple[np.ndarray, np.ndarray]:
        if len(points) != len(self.locs):
            raise ValueError("asked for other places than the focused insertion")
        idx = np.asarray(self.locs)
        return self.task.cost[np.ix_(idx, idx)], self.task.duration[np.ix_(idx, idx)]


def vroom_routes(
    task: RoutingTask, *, exploration: int, threads: int, timeout_s: float | None = None
) -> list[tuple[int, ...]]:
    """VROOM's plan of the task: per nurse (task order) the visit indices, in order.

    Who may serve what becomes VROOM skills (one per distinct set of allowed
    nurses); loads, shifts, windows and the cost and duration matrices are
    the task's. Required visits get VROOM's top priority, optional ones the
    lowest (PyVRP weighs their penalties afterwards). Without ``timeout_s``
    the plan depends only on the task.
    """
    import vroom

    nurses, visits = task.nurses, task.visits
    t0 = min(min(n.shift_start for n in nurses), min(v.window_start for v in visits))
    allowed = np.asarray(task.allowed, dtype=bool)
    skill_of: dict[bytes, int] = {}
    for k in range(len(visits)):
        skill_of.setdefault(allowed[:, k].tobytes(), len(skill_of))
    skill_sets: list[set[int]] = [set() for _ in nurses]
    for key, skill in skill_of.items():
        for nurse in np.flatnonzero(np.frombuffer(key, dtype=bool)):
            skill_sets[nurse].add(skill)
    # max_visits is VROOM's own max_tasks; workload its one capacity dimension.
    workload = any(n.capacity is not None for n in nurses)
    unlimited = sum(v.demand for v in visits)

    problem = vroom.Input()
    problem.set_durations_matrix("car", np.asarray(task.duration, dtype=np.uint32))
    if task.cost is not task.duration and not np.array_equal(task.cost, task.duration):
        # Without a cost matrix VROOM minimises the durations themselves.
        problem.set_costs_matrix("car", np.asarray(task.cost, dtype=np.uint32))
    for i, n in enumerate(nurses):
        limits = {} if n.max_visits is None else {"max_tasks": n.max_visits}
        problem.add_vehicle(
            vroom.Vehicle(
                i,
                start=int(task.nurse_start[i]),
                end=int(task.nurse_end[i]),
                capacity=[unlimited if n.capacity is None else n.capacity] if workload else [],
                skills=skill_sets[i],
                time_window=vroom.TimeWindow(n.shift_start - t0, n.shift_end - t0),
                **limits,
            )
        )
    for k, (v, loc) in enumerate(zip(visits, task.visit_loc, strict=True)):
        problem.add_job(
            vroom.Job(
                k,
                location=int(loc),
                default_service=v.service_s,
                delivery=[v.demand] if workload else [],
                skills={skill_of[allowed[:, k].tobytes()]},
                priority=100 if v.required else 0,
                time_windows=[vroom.TimeWindow(v.window_start - t0, v.window_end - t0)],
            )
        )
    timeout = None if timeout_s is None else timedelta(seconds=timeout_s)
    solution = problem.solve(exploration_level=exploration, nb_threads=threads, timeout=timeout)
    routes: list[list[int]] = [[] for _ in nurses]
    steps = solution.routes
    for vehicle, job, kind in zip(steps["vehicle_id"], steps["id"], steps["type"], strict=True):
        if kind == "job":
            routes[int(vehicle)].append(int(job))
    return [tuple(order) for order in routes]


def improve_routes(
    task: RoutingTask,
    initial: Sequence[Sequence[int]],
    *,
    nurse_cost: Sequence[np.ndarray],
    seed: int,
    max_iterations: int,
    max_seconds: float | None,
) -> tuple[tuple[int, ...], ...] | None:
    """PyVRP's search started from ``initial`` (per nurse, in task order, the visit
    indices she serves), each nurse costing her routes with her own matrix
    (``nurse_cost``: the repair adds what moving a visit to her costs; travel
    times stay ``task.duration``). The best plan found, by (required visits
    served, cost): per nurse, her visit indices in order; None when the search
    found no feasible plan. Deterministic for a seed and ``max_iterations`` unless
    ``max_seconds`` cuts it.
    """
    data, type_nurses = _problem_data(task, nurse_cost=nurse_cost)
    type_of = {nurse: t for t, members in enumerate(type_nurses) for nurse in members}
    start = Solution(data, [PyvrpRoute(data, list(order), type_of[nurse])
                            for nurse, order in enumerate(initial) if order])
    criteria: list = [MaxIterations(max_iterations)]
    if max_seconds is not None:
        criteria.append(MaxRuntime(max(0.0, max_seconds)))
    result = solve(data, MultipleCriteria(criteria), seed=seed, collect_stats=False,
                   display=False, initial_solution=start)
    if not result.best.is_feasible():
        return None
    routes: list[tuple[int, ...]] = [() for _ in task.nurses]
    for route in result.best.routes():
        # One vehicle type per nurse here: the type names her.
        routes[type_nurses[route.vehicle_type()][0]] = tuple(
            act.idx for act in route if act.is_client())
    return tuple(routes)


def _problem_data(
    task: RoutingTask, nurse_cost: Sequence[np.ndarray] | None = None
) -> tuple[ProblemData, list[list[int]]]:
    """PyVRP's data for the task; with ``nurse_cost`` every nurse is a vehicle type of
    her own whose routing profile costs edges by her matrix (durations stay the task's)."""
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
    longest = max(int(task.cost.max()), int(task.duration.max()),
                  *(int(m.max()) for m in nurse_cost or ()))
    forbidden = min(MAX_VALUE, 2 * (prize_required + longest + horizon) + 1)
    profile_of_row: dict[bytes, int] = {}
    costs: list[np.ndarray] = []
    durations: list[np.ndarray] = []
    visit_loc = np.asarray(task.visit_loc, dtype=np.int64)
    # Planning by travel time (the default) makes cost and duration one
    # matrix: block it once per profile and hand PyVRP the same array twice.
    same = task.cost is task.duration or np.array_equal(task.cost, task.duration)
    profile_of_nurse: list[int] = []
    for i, row in enumerate(task.allowed):
        key = np.asarray(row, dtype=bool).tobytes()
        blocked = visit_loc[~np.asarray(row, dtype=bool)]
        if nurse_cost is not None:
            profile_of_nurse.append(len(costs))
            costs.append(_blocked(nurse_cost[i], blocked, forbidden))
            durations.append(_blocked(task.duration, blocked, forbidden))
            continue
        if key not in profile_of_row:
            profile_of_row[key] = len(costs)
            cost = _blocked(task.cost, blocked, forbidden)
            costs.append(cost)
            durations.append(cost if same else _blocked(task.duration, blocked, forbidden))
        profile_of_nurse.append(profile_of_row[key])

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
            profile_of_nurse[i],
            # Her own type when her costs are her own.
            i if nurse_cost is not None else -1,
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
        for (start, end, early, late, caps, profile, _own), members in zip(
            type_keys, type_nurses, strict=True
        )
    ]
    # Coordinates are unused: every engine input comes from the matrices.
    locations = [Location(x=0, y=0) for _ in range(n_loc)]
    data = ProblemData(locations, clients, depots, vehicle_types, costs, durations)
    return data, type_nurses


def _blocked(matrix: np.ndarray, blocked: np.ndarray, forbidden: int) -> np.ndarray:
    """A copy of ``matrix`` whose edges into the ``blocked`` locations cost ``forbidden``."""
    out = matrix.astype(np.int64, copy=True)
    out[:, blocked] = forbidden
    np.fill_diagonal(out, 0)
    return out


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

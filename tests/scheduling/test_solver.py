"""The routing adapter: profiles and vehicle types, VROOM's start, no visit left that fits."""

from __future__ import annotations

import random

import numpy as np
import pytest
from pyvrp.search import NeighbourhoodParams

from homecare.scheduling import solver
from homecare.scheduling.insertion import best_insertion
from homecare.scheduling.planner import CAPACITY, Nurse, Problem, Visit, plan
from tests.scheduling.helpers import P, PlaneTravel, check_plan, route_violations

H = 3600


@pytest.fixture
def built(monkeypatch):
    """The ProblemData the adapter hands to PyVRP, captured."""
    seen = []
    original = solver._problem_data

    def capture(task):
        data, type_nurses = original(task)
        seen.append((data, type_nurses))
        return data, type_nurses

    monkeypatch.setattr(solver, "_problem_data", capture)
    return seen


def test_nurses_with_the_same_skills_share_a_profile(built):
    home = P(0, 0)
    nurses = (
        Nurse("a", home, home, 8 * H, 18 * H, skills={"picc"}),
        Nurse("b", P(1000, 0), P(1000, 0), 9 * H, 17 * H, skills={"picc"}),
        Nurse("c", home, home, 8 * H, 18 * H),
        Nurse("d", home, home, 8 * H, 18 * H, skills={"picc"}),
    )
    visits = (
        Visit("line", P(100, 0), 9 * H, 12 * H, 1800, required_skills={"picc"}),
        Visit("bp", P(200, 0), 9 * H, 12 * H, 1800),
        Visit("bed", P(300, 0), 9 * H, 12 * H, 1800, pinned_nurse="d"),
    )
    plan(Problem(nurses, visits), PlaneTravel(), max_iterations=50)
    data, type_nurses = built[0]
    # a and b share one profile; c lacks PICC; d alone may take the pinned visit.
    assert data.num_profiles == 3
    # a and d share place and shift but not profile, so each is her own vehicle type.
    assert sorted(map(len, type_nurses)) == [1, 1, 1, 1]


def test_identical_nurses_share_a_vehicle_type(built):
    depot = P(0, 0)
    nurses = tuple(Nurse(k, depot, depot, 0, 10 * H, capacity=10) for k in range(5))
    visits = tuple(Visit(j, P(100 * j, 50), 0, 9 * H, 600, demand=3) for j in range(8))
    result = plan(Problem(nurses, visits), PlaneTravel(), max_iterations=100)
    data, type_nurses = built[0]
    assert data.num_vehicle_types == 1
    assert type_nurses == [[0, 1, 2, 3, 4]]
    assert not result.unplanned
    assert all(sum(3 for _ in r.stops) <= 10 for r in result.routes)


def test_load_dimensions_only_when_someone_is_limited(built):
    home = P(0, 0)
    visits = (Visit("v", P(10, 0), 9 * H, 10 * H, 600, demand=5),)
    plan(
        Problem((Nurse("n", home, home, 8 * H, 18 * H),), visits), PlaneTravel(), max_iterations=10
    )
    plan(
        Problem((Nurse("n", home, home, 8 * H, 18 * H, max_visits=3, capacity=9),), visits),
        PlaneTravel(),
        max_iterations=10,
    )
    assert [data.num_load_dimensions for data, _ in built] == [0, 2]


def test_solve_task_needs_a_stopping_rule():
    home = P(0, 0)
    with pytest.raises(ValueError):
        plan(
            Problem((Nurse("n", home, home, 0, H),), (Visit("v", home, 0, H, 60),)),
            PlaneTravel(),
            max_iterations=None,
            max_seconds=None,
        )


def _captured_task(monkeypatch, problem):
    """The RoutingTask plan() hands to the solver, and plan()'s result."""
    seen = []
    original = solver.solve_task

    def capture(task, **kwargs):
        seen.append(task)
        return original(task, **kwargs)

    monkeypatch.setattr("homecare.scheduling.planner.solve_task", capture)
    return seen, plan(problem, PlaneTravel(), max_iterations=50)


def _tight_day(seed: int) -> Problem:
    """More visits than four nurses can take: the plan must leave some out."""
    rng = random.Random(seed)
    nurses = []
    for i in range(4):
        home = P(rng.uniform(0, 6000), rng.uniform(0, 6000))
        start = rng.choice([7, 8, 12]) * H
        skills = ({"picc"}, set(), {"wound"}, {"picc", "wound"})[i]
        nurses.append(Nurse(f"n{i}", home, home, start, start + 5 * H, skills, max_visits=6))
    visits = []
    for j in range(40):
        opens = rng.randrange(8 * H, 16 * H, 900)
        visits.append(
            Visit(
                f"v{j}",
                P(rng.uniform(0, 6000), rng.uniform(0, 6000)),
                opens,
                opens + H,
                rng.choice([1800, 2700]),
                required_skills=rng.choice([set(), set(), {"picc"}, {"wound"}]),
                pinned_nurse="n1" if j % 13 == 0 else None,
            )
        )
    return Problem(tuple(nurses), tuple(visits))


def test_fill_gaps_inserts_every_visit_that_still_fits(monkeypatch):
    problem = _tight_day(3)
    (task,), _ = _captured_task(monkeypatch, problem)
    # From nothing at all, the gap filler alone builds a feasible day...
    routes = solver.fill_gaps(task, [() for _ in task.nurses])
    served = {k for order in routes for k in order}
    assert served
    assert all(set(order) <= set(np.flatnonzero(task.allowed[i])) for i, order in enumerate(routes))
    travel = PlaneTravel()
    for nurse, order in zip(task.nurses, routes, strict=True):
        assert route_violations(nurse, [task.visits[k] for k in order], nurse.shift_start) == []
    # ...and leaves out only visits no nurse can take as her day stands.
    for k, visit in enumerate(task.visits):
        if k in served:
            continue
        for i, order in enumerate(routes):
            day = [task.visits[j] for j in order]
            nurse = task.nurses[i]
            assert best_insertion(nurse=nurse, route=day, visit=visit, travel=travel) is None


def test_capacity_means_no_nurse_could_take_it(monkeypatch):
    for seed in range(3):
        problem = _tight_day(seed)
        _, result = _captured_task(monkeypatch, problem)
        check_plan(problem, result)
        visits = {v.id: v for v in problem.visits}
        left = [visits[u.visit_id] for u in result.unplanned if u.reason == CAPACITY]
        assert left, "the day is meant to be too full"
        for visit in left:
            for nurse in problem.nurses:
                day = [visits[s.visit_id] for s in result.route_of(nurse.id).stops]
                spot = best_insertion(nurse=nurse, route=day, visit=visit, travel=PlaneTravel())
                assert spot is None, f"{visit.id} fits {nurse.id}'s day"


def test_search_starts_from_vrooms_plan_and_keeps_its_visits(monkeypatch):
    problem = _tight_day(1)
    starts = []
    original = solver.vroom_routes

    def spy(task, **kwargs):
        starts.append(original(task, **kwargs))
        return starts[-1]

    monkeypatch.setattr(solver, "vroom_routes", spy)
    (task,), result = _captured_task(monkeypatch, problem)
    (start,) = starts
    planned = sum(len(r.stops) for r in result.routes)
    assert planned >= sum(map(len, start))
    # VROOM's plan alone already keeps every rule of the day.
    for nurse, order in zip(task.nurses, start, strict=True):
        day = [task.visits[k] for k in order]
        assert route_violations(nurse, day, nurse.shift_start) == []


def test_same_seed_same_plan_with_vroom_start():
    problem = _tight_day(2)
    first = plan(problem, PlaneTravel(), max_iterations=80)
    again = plan(problem, PlaneTravel(), max_iterations=80)
    assert first == again


def test_plan_says_whether_the_time_cap_ended_the_search():
    problem = _tight_day(4)
    on_budget = plan(problem, PlaneTravel(), max_iterations=60, max_seconds=None)
    capped = plan(problem, PlaneTravel(), max_iterations=10**7, max_seconds=0.001)
    assert not on_budget.timed_out
    assert capped.timed_out
    check_plan(problem, capped)


@pytest.mark.parametrize("objective", ["duration", "distance"])
def test_each_profile_blocks_cost_and_duration_for_the_objective(built, objective):
    home = P(0, 0)
    nurses = (
        Nurse("a", home, home, 8 * H, 18 * H, skills={"picc"}),
        Nurse("b", home, home, 8 * H, 18 * H),
    )
    visits = (
        Visit("line", P(3000, 0), 9 * H, 12 * H, 1800, required_skills={"picc"}),
        Visit("bp", P(0, 4000), 9 * H, 12 * H, 1800),
    )
    result = plan(Problem(nurses, visits), PlaneTravel(), max_iterations=50, objective=objective)
    assert {s.visit_id for r in result.routes for s in r.stops} == {"line", "bp"}
    data, _ = built[0]
    dist, dur = PlaneTravel().matrices([home, P(3000, 0), P(0, 4000)])
    line, bp = 1, 2  # home is location 0, then the visits in order
    expected_cost = dur if objective == "duration" else dist
    blocked = set()
    for profile in range(data.num_profiles):
        cost = np.asarray(data.distance_matrix(profile))
        duration = np.asarray(data.duration_matrix(profile))
        for k in (line, bp):
            if cost[0, k] > 24 * H:
                # Blocked: longer than the day in both matrices.
                assert duration[0, k] > 24 * H
                blocked.add((profile, k))
            else:
                # Open: the travel, in the objective's units for the cost
                # and in seconds for the duration.
                assert cost[0, k] == expected_cost[0, k]
                assert duration[0, k] == dur[0, k]
    # Only nurse b's profile blocks anything: the PICC line.
    assert len(blocked) == 1
    assert next(iter(blocked))[1] == line


@pytest.mark.parametrize(
    ("limits", "neighbours"),
    [
        # Time-boxed: the smaller neighbourhood that pays in a 10 s box.
        ({"max_iterations": None, "max_seconds": 0.2}, solver.TIME_BOXED_NEIGHBOURS),
        # On a budget from VROOM's plan: PyVRP's defaults, as bench/vs_peer.py measured.
        ({"max_iterations": 20, "max_seconds": None}, NeighbourhoodParams().num_neighbours),
    ],
)
def test_only_the_time_boxed_search_narrows_the_neighbourhood(monkeypatch, limits, neighbours):
    seen = []
    original = solver.solve

    def spy(data, stop, **kwargs):
        seen.append(kwargs["params"].neighbourhood.num_neighbours)
        return original(data, stop, **kwargs)

    monkeypatch.setattr(solver, "solve", spy)
    result = plan(_tight_day(3), PlaneTravel(), **limits)
    assert seen == [neighbours]
    check_plan(_tight_day(3), result)

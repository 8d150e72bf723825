"""The day planner: constraints kept, reasons right, plans reproducible."""

from __future__ import annotations

import random

import pytest

from homecare.scheduling.planner import (
    CAPACITY,
    NO_QUALIFIED_NURSE,
    WINDOW_UNREACHABLE,
    Nurse,
    Problem,
    Visit,
    plan,
)
from tests.scheduling.helpers import P, PlaneTravel, check_plan

H = 3600
ITERS = 300
TRAVEL = PlaneTravel()


def _solve(problem: Problem, **kwargs):
    kwargs.setdefault("max_iterations", ITERS)
    result = plan(problem, TRAVEL, **kwargs)
    check_plan(problem, result)
    return result


def _random_day(seed: int, n_nurses: int = 4, n_visits: int = 25) -> Problem:
    rng = random.Random(seed)

    def place() -> P:
        return P(rng.uniform(0, 8000), rng.uniform(0, 8000))

    skill_sets = [set(), {"picc"}, {"wound"}, {"picc", "wound"}]
    nurses = []
    for i in range(n_nurses):
        home = place()
        start = rng.choice([7, 8, 9, 12]) * H
        nurses.append(
            Nurse(
                f"n{i}",
                home,
                home,
                start,
                start + rng.choice([5, 8]) * H,
                skills=skill_sets[i % 4],
                max_visits=rng.choice([None, 5]),
            )
        )
    visits = []
    for j in range(n_visits):
        ws = rng.randrange(8 * H, 18 * H, 900)
        visits.append(
            Visit(
                f"v{j}",
                place(),
                ws,
                ws + rng.choice([1, 2]) * H,
                rng.choice([1800, 2700, 3600]),
                required_skills=rng.choice([set(), set(), {"picc"}, {"wound"}]),
            )
        )
    return Problem(tuple(nurses), tuple(visits))


def _assignments(result) -> dict:
    return {s.visit_id: r.nurse_id for r in result.routes for s in r.stops}


def test_plan_random_days_are_valid():
    for seed in range(3):
        result = _solve(_random_day(seed))
        assert len(result.unplanned) < len(_random_day(seed).visits)


def test_plan_respects_skills():
    home = P(0, 0)
    nurses = (
        Nurse("plain", home, home, 8 * H, 18 * H),
        Nurse("picc", P(5000, 5000), P(5000, 5000), 8 * H, 18 * H, skills={"picc"}),
    )
    # The PICC visit is next to the plain nurse's home: only skills keep it from her.
    visits = (
        Visit("line", P(100, 0), 9 * H, 12 * H, 1800, required_skills={"picc"}),
        Visit("bp", P(5100, 5000), 9 * H, 12 * H, 1800),
    )
    result = _solve(Problem(nurses, visits))
    assert _assignments(result)["line"] == "picc"
    assert not result.unplanned


def test_plan_keeps_pinned_visit_with_her_nurse():
    near, far = P(0, 0), P(6000, 0)
    nurses = (Nurse("near", near, near, 8 * H, 18 * H), Nurse("far", far, far, 8 * H, 18 * H))
    # Next door to "near", yet it must go to "far".
    visits = (Visit("pinned", P(100, 0), 9 * H, 12 * H, 1800, pinned_nurse="far"),)
    result = _solve(Problem(nurses, visits))
    assert _assignments(result) == {"pinned": "far"}


def test_plan_keeps_windows_and_shift_when_tight():
    home = P(0, 0)
    nurse = Nurse("n", home, home, 8 * H, 12 * H)
    # Three one-hour visits, 10 min apart, in a four-hour shift: only the
    # window order works, and the last must still let her get home by noon.
    visits = (
        Visit("c", P(3000, 0), 10 * H + 1200, 10 * H + 1800, 2400),
        Visit("a", P(0, 3000), 8 * H, 8 * H + 1800, 2400),
        Visit("b", P(3000, 3000), 9 * H, 9 * H + 1800, 2400),
    )
    result = _solve(Problem((nurse,), visits))
    assert [s.visit_id for s in result.routes[0].stops] == ["a", "b", "c"]
    assert result.routes[0].back <= 12 * H


def test_plan_reports_no_qualified_nurse_for_missing_skill():
    home = P(0, 0)
    result = _solve(
        Problem(
            (Nurse("n", home, home, 8 * H, 18 * H),),
            (Visit("v", P(10, 0), 9 * H, 10 * H, 600, required_skills={"picc"}),),
        )
    )
    assert [(u.visit_id, u.reason) for u in result.unplanned] == [("v", NO_QUALIFIED_NURSE)]


def test_plan_reports_no_qualified_nurse_when_pinned_nurse_absent():
    home = P(0, 0)
    result = _solve(
        Problem(
            (Nurse("n", home, home, 8 * H, 18 * H),),
            (Visit("v", P(10, 0), 9 * H, 10 * H, 600, pinned_nurse="gone"),),
        )
    )
    assert result.unplanned[0].reason == NO_QUALIFIED_NURSE


def test_plan_reports_no_qualified_nurse_when_nobody_on_shift():
    home = P(0, 0)
    result = _solve(
        Problem(
            (Nurse("n", home, home, 14 * H, 18 * H),), (Visit("v", P(10, 0), 9 * H, 10 * H, 600),)
        )
    )
    assert result.unplanned[0].reason == NO_QUALIFIED_NURSE


def test_plan_reports_window_unreachable_when_too_far():
    home = P(0, 0)
    # 30 km at 5 m/s is 100 min: she cannot be there before 9:40.
    result = _solve(
        Problem(
            (Nurse("n", home, home, 8 * H, 18 * H),), (Visit("v", P(30000, 0), 8 * H, 9 * H, 600),)
        )
    )
    assert result.unplanned[0].reason == WINDOW_UNREACHABLE


def test_plan_reports_window_unreachable_when_she_cannot_get_home():
    home = P(0, 0)
    result = _solve(
        Problem(
            (Nurse("n", home, home, 8 * H, 10 * H),),
            (Visit("v", P(3000, 0), 9 * H, 9 * H + 1800, 3100),),
        )
    )
    assert result.unplanned[0].reason == WINDOW_UNREACHABLE


def test_plan_reports_capacity_when_two_visits_compete():
    home = P(0, 0)
    visits = (
        Visit("a", P(500, 0), 9 * H, 10 * H, 3600),
        Visit("b", P(0, 500), 9 * H, 10 * H, 3600),
    )
    result = _solve(Problem((Nurse("n", home, home, 8 * H, 18 * H),), visits))
    assert len(result.unplanned) == 1
    assert result.unplanned[0].reason == CAPACITY


def test_plan_respects_max_visits_and_workload_capacity():
    home = P(0, 0)
    nurses = (
        Nurse("few", home, home, 8 * H, 18 * H, max_visits=2),
        Nurse("light", home, home, 8 * H, 18 * H, capacity=3),
    )
    visits = tuple(Visit(f"v{i}", P(100 * i, 0), 8 * H, 18 * H, 600, demand=2) for i in range(6))
    result = _solve(Problem(nurses, visits))
    assert len(result.route_of("few").stops) == 2
    assert len(result.route_of("light").stops) == 1
    assert {u.reason for u in result.unplanned} == {CAPACITY}
    assert len(result.unplanned) == 3


def test_plan_reports_capacity_when_demand_exceeds_every_nurse():
    home = P(0, 0)
    result = _solve(
        Problem(
            (Nurse("n", home, home, 8 * H, 18 * H, capacity=1),),
            (Visit("v", P(10, 0), 9 * H, 10 * H, 600, demand=2),),
        )
    )
    assert result.unplanned[0].reason == CAPACITY


def test_plan_drops_optional_visit_not_worth_its_travel():
    home = P(0, 0)
    visits = (
        Visit("cheap", P(20000, 0), 8 * H, 18 * H, 600, required=False, penalty=10),
        Visit("worth", P(100, 0), 8 * H, 18 * H, 600, required=False, penalty=10_000),
    )
    result = _solve(Problem((Nurse("n", home, home, 8 * H, 18 * H),), visits))
    assert [u.visit_id for u in result.unplanned] == ["cheap"]
    assert result.cost == result.travel_s + 10


def test_plan_prefers_required_visits_over_optional_ones():
    home = P(0, 0)
    visits = (
        Visit("opt", P(100, 0), 9 * H, 10 * H, 3600, required=False, penalty=10**6),
        Visit("req", P(5000, 0), 9 * H, 10 * H, 3600),
    )
    result = _solve(Problem((Nurse("n", home, home, 8 * H, 18 * H),), visits))
    assert [u.visit_id for u in result.unplanned] == ["opt"]


def test_plan_minimises_distance_when_asked():
    home = P(0, 0)
    visits = tuple(
        Visit(i, P(1000 * (i % 3), 1000 * (i // 3)), 8 * H, 18 * H, 300) for i in range(6)
    )
    result = _solve(Problem((Nurse(0, home, home, 8 * H, 18 * H),), visits), objective="distance")
    assert result.objective == "distance"
    assert result.cost == result.distance_m
    assert not result.unplanned


def test_plan_with_same_seed_is_identical():
    problem = _random_day(7, n_nurses=5, n_visits=35)
    first = plan(problem, TRAVEL, seed=3, max_iterations=ITERS)
    second = plan(problem, TRAVEL, seed=3, max_iterations=ITERS)
    assert first == second
    assert first.routes == second.routes


def test_plan_accepts_any_epoch():
    home = P(0, 0)
    shift = -5 * H  # e.g. seconds relative to some reference later in the day
    result = _solve(
        Problem(
            (Nurse("n", home, home, shift, shift + 8 * H),),
            (Visit("v", P(100, 0), shift + H, shift + 2 * H, 600),),
        )
    )
    assert result.routes[0].stops[0].start == shift + H


def test_plan_empty_problem():
    result = _solve(Problem((), ()))
    assert result.routes == () and result.unplanned == ()


def test_problem_rejects_duplicate_ids():
    home = P(0, 0)
    with pytest.raises(ValueError):
        Problem((Nurse(1, home, home, 0, 1), Nurse(1, home, home, 0, 1)), ())

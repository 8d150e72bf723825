"""The PyVRP adapter: how nurses become profiles and vehicle types."""

from __future__ import annotations

import pytest

from homecare.scheduling import solver
from homecare.scheduling.planner import Nurse, Problem, Visit, plan
from tests.scheduling.helpers import P, PlaneTravel

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

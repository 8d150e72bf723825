"""The fast insertion check, against brute force and against a full solve."""

from __future__ import annotations

import itertools
import random

from homecare.scheduling.insertion import best_insertion, explain_insertion
from homecare.scheduling.planner import Nurse, Problem, Visit, plan
from tests.scheduling.helpers import P, PlaneTravel, route_violations, seconds

H = 3600
TRAVEL = PlaneTravel()
HOME = P(0, 0)


def _nurse(**kwargs) -> Nurse:
    kwargs.setdefault("skills", {"picc"})
    return Nurse(
        "n", HOME, HOME, kwargs.pop("shift_start", 8 * H), kwargs.pop("shift_end", 18 * H), **kwargs
    )


def _check(route, visit, **kwargs):
    nurse = kwargs.pop("nurse", None) or _nurse()
    return explain_insertion(nurse=nurse, route=route, visit=visit, travel=TRAVEL, **kwargs)


def test_insertion_picks_the_cheapest_position():
    route = [Visit("a", P(1000, 0), 8 * H, 18 * H, 600), Visit("b", P(3000, 0), 8 * H, 18 * H, 600)]
    check = _check(route, Visit("x", P(2000, 0), 8 * H, 18 * H, 600))
    assert check.reason is None
    assert check.insertion.index == 1
    assert check.insertion.added_travel_s == 0
    assert check.insertion.added_distance_m == 0


def test_insertion_reports_arrival_and_start():
    check = _check([], Visit("x", P(3000, 0), 9 * H, 10 * H, 600), start_time=8 * H + 100)
    assert check.insertion.arrival == 8 * H + 100 + 600
    assert check.insertion.start == 9 * H


def test_insertion_refuses_visit_pinned_to_another_nurse():
    assert _check([], Visit("x", P(10, 0), 9 * H, 10 * H, 600, pinned_nurse="m")).reason == "pinned"


def test_insertion_refuses_missing_skill():
    visit = Visit("x", P(10, 0), 9 * H, 10 * H, 600, required_skills={"wound"})
    assert _check([], visit).reason == "skills"


def test_insertion_refuses_beyond_max_visits():
    route = [Visit("a", P(10, 0), 8 * H, 18 * H, 600)]
    check = _check(route, Visit("x", P(20, 0), 8 * H, 18 * H, 600), nurse=_nurse(max_visits=1))
    assert check.reason == "max_visits"


def test_insertion_refuses_beyond_capacity():
    route = [Visit("a", P(10, 0), 8 * H, 18 * H, 600, demand=2)]
    visit = Visit("x", P(20, 0), 8 * H, 18 * H, 600, demand=2)
    assert _check(route, visit, nurse=_nurse(capacity=3)).reason == "capacity"


def test_insertion_refuses_when_it_would_break_a_window():
    route = [Visit("a", P(1000, 0), 9 * H, 9 * H + 600, 3600)]
    # Either order makes one of the two overlapping promises late.
    check = _check(route, Visit("x", P(0, 1000), 9 * H, 9 * H + 600, 3600))
    assert not check.fits
    assert check.reason == "window"


def test_insertion_refuses_when_she_cannot_get_home_in_time():
    route = [Visit("a", P(1000, 0), 9 * H, 10 * H, 1800)]
    visit = Visit("x", P(6000, 0), 9 * H, 13 * H, 1800)
    check = _check(route, visit, nurse=_nurse(shift_end=10 * H + 600))
    assert check.reason == "shift"


def test_insertion_respects_start_time():
    visit = Visit("x", P(3000, 0), 8 * H, 8 * H + 600, 600)
    assert _check([], visit).fits
    assert _check([], visit, start_time=8 * H + 60).reason == "window"


def _random_case(rng: random.Random, max_route: int):
    def place() -> P:
        return P(rng.uniform(-6000, 6000), rng.uniform(-6000, 6000))

    def visit(name: str) -> Visit:
        ws = rng.randrange(8 * H, 15 * H, 600)
        return Visit(
            name, place(), ws, ws + rng.choice([1800, 3600, 7200]), rng.choice([1200, 2700])
        )

    nurse = _nurse(shift_start=8 * H, shift_end=rng.choice([13, 16]) * H)
    route = sorted(
        (visit(f"r{k}") for k in range(rng.randint(0, max_route))), key=lambda v: v.window_start
    )
    while route_violations(nurse, route, nurse.shift_start):
        route.pop()
    return nurse, route, visit("new")


def _brute_force(nurse, route, new):
    """Every position, checked by the independent simulator: (best added travel, index)."""
    best = None
    for i in range(len(route) + 1):
        candidate = [*route[:i], new, *route[i:]]
        if route_violations(nurse, candidate, nurse.shift_start):
            continue
        legs = [nurse.start, *(v.place for v in candidate), nurse.end]
        old = [nurse.start, *(v.place for v in route), nurse.end]
        added = sum(map(seconds, legs, legs[1:])) - sum(map(seconds, old, old[1:]))
        if best is None or added < best[0]:
            best = (added, i)
    return best


def test_insertion_agrees_with_brute_force_on_random_days():
    rng = random.Random(11)
    fits = 0
    for _ in range(300):
        nurse, route, new = _random_case(rng, max_route=8)
        expected = _brute_force(nurse, route, new)
        got = best_insertion(nurse=nurse, route=route, visit=new, travel=TRAVEL)
        if expected is None:
            assert got is None
        else:
            fits += 1
            assert (got.added_travel_s, got.index) == expected
    assert 50 < fits < 290, "the cases should mix fitting and non-fitting visits"


def _some_order_works(nurse, visits) -> bool:
    return any(
        not route_violations(nurse, list(order), nurse.shift_start)
        for order in itertools.permutations(visits)
    )


def test_insertion_agrees_with_full_solve_on_small_days():
    rng = random.Random(5)
    for _ in range(30):
        nurse, route, new = _random_case(rng, max_route=3)
        everything = [*route, new]
        result = plan(Problem((nurse,), tuple(everything)), TRAVEL, max_iterations=200)
        all_planned = not result.unplanned
        inserted = best_insertion(nurse=nurse, route=route, visit=new, travel=TRAVEL)
        # The solver may reorder her day, the insertion check may not; so an
        # insertion implies a full plan, and a full plan needs some valid order.
        if inserted is not None:
            assert all_planned
        assert all_planned == _some_order_works(nurse, everything)

"""The pure repair: frozen prefixes, kept routes, reinsertion and making room."""

from __future__ import annotations

from homecare.scheduling.planner import Nurse, Problem, Visit
from homecare.scheduling.repair_plan import LATE, Current, move_costs, repair
from tests.scheduling.helpers import P, PlaneTravel, seconds

H = 3600
TRAVEL = PlaneTravel()


def _run(problem, current, **kwargs):
    kwargs.setdefault("freeze_until", 0)
    kwargs.setdefault("move_cost_s", 20 * 60)
    # No time cap: the moves bound the search, so a busy machine gives the same plan.
    kwargs.setdefault("max_seconds", None)
    return repair(problem, TRAVEL, current, **kwargs)


def _routes(result):
    return {r.nurse_id: [s.visit_id for s in r.stops] for r in result.plan.routes}


def test_repair_keeps_a_frozen_visit_at_its_time_and_starts_the_rest_after_it():
    # She is free only at 09:30 (an overrun), yet the visit planned at 09:00 inside the
    # freeze keeps its time; the next one starts when she can really be there.
    nurse = Nurse("a", P(0, 0), P(0, 0), 9 * H + 1800, 18 * H)
    first = Visit("f", P(500, 0), 9 * H, 10 * H, 1800)
    then = Visit("t", P(1000, 0), 9 * H + 1800, 11 * H, 1800)
    current = Current(routes={"a": ["f", "t"]}, starts={"f": 9 * H, "t": 9 * H + 1800 + 100},
                      holder={"f": "a", "t": "a"})
    result = _run(Problem((nurse,), (first, then)), current, freeze_until=9 * H + 600)
    stops = result.plan.route_of("a").stops
    assert (stops[0].visit_id, stops[0].start) == ("f", 9 * H)
    ready = 9 * H + 1800 + seconds(P(0, 0), P(500, 0)) + 1800
    assert (stops[1].visit_id, stops[1].start) == ("t", ready + seconds(P(500, 0), P(1000, 0)))
    assert result.frozen == {"f"}


def test_repair_releases_what_a_late_route_cannot_keep_and_gives_it_to_another_nurse():
    late = Nurse("a", P(0, 0), P(0, 0), 10 * H, 18 * H)  # her morning is gone
    other = Nurse("b", P(300, 0), P(300, 0), 8 * H, 18 * H)
    visit = Visit("v", P(200, 0), 9 * H, 9 * H + 1800, 1800)
    current = Current(routes={"a": ["v"]}, starts={"v": 9 * H}, holder={"v": "a"})
    result = _run(Problem((late, other), (visit,)), current)
    assert _routes(result) == {"a": [], "b": ["v"]}
    assert result.released == {"v": LATE}


def test_repair_makes_room_for_a_visit_only_one_nurse_may_serve():
    # Only A has the skill for v, and her route is full in its window: her other visit
    # u moves to B, who may take it, and v is served.
    a = Nurse("a", P(0, 0), P(0, 0), 8 * H, 18 * H, skills={"picc"})
    b = Nurse("b", P(3000, 0), P(3000, 0), 8 * H, 18 * H)
    u = Visit("u", P(100, 0), 9 * H, 10 * H, H)
    v = Visit("v", P(200, 0), 9 * H, 10 * H, H, required_skills={"picc"})
    current = Current(routes={"a": ["u"]}, starts={"u": 9 * H}, holder={"u": "a"})
    result = _run(Problem((a, b), (u, v)), current)
    assert _routes(result) == {"a": ["v"], "b": ["u"]}
    assert result.plan.unplanned == ()
    assert result.improved == {"u"}


def test_repair_leaves_a_route_the_change_did_not_hit_as_it_was():
    a = Nurse("a", P(0, 0), P(0, 0), 8 * H, 18 * H)
    b = Nurse("b", P(5000, 0), P(5000, 0), 8 * H, 18 * H)
    # A's order is poor (a detour), but nothing hit her route: it stays.
    far = Visit("x", P(2000, 0), 9 * H, 17 * H, 600)
    near = Visit("y", P(100, 0), 9 * H, 17 * H, 600)
    new = Visit("n", P(5100, 0), 12 * H, 13 * H, 600)
    current = Current(routes={"a": ["x", "y"]}, starts={"x": 9 * H, "y": 10 * H},
                      holder={"x": "a", "y": "a"})
    result = _run(Problem((a, b), (far, near, new)), current)
    assert _routes(result) == {"a": ["x", "y"], "b": ["n"]}
    assert result.improved == frozenset()


def test_repair_gives_the_same_plan_for_the_same_day():
    nurses = tuple(Nurse(f"n{k}", P(k * 700, 0), P(k * 700, 0), 8 * H, 16 * H) for k in range(4))
    visits = tuple(Visit(f"v{j}", P((j * 379) % 3000, (j * 211) % 2000), (8 + j % 6) * H,
                         (10 + j % 6) * H, 1800) for j in range(14))
    current = Current(routes={"n0": ["v0", "v6"], "n1": ["v1"]},
                      starts={"v0": 8 * H, "v6": 8 * H, "v1": 9 * H},
                      holder={"v0": "n0", "v6": "n0", "v1": "n1", "v2": "n3"})
    problem = Problem(nurses, visits)
    first = _run(problem, current, touched={"n0"})
    second = _run(problem, current, touched={"n0"})
    assert first.plan == second.plan and first.improved == second.improved
    assert sum(len(r.stops) for r in first.plan.routes) + len(first.plan.unplanned) == 14


def test_repair_never_gives_a_visit_back_to_a_nurse_banned_from_it():
    # A handed v back (banned); only she has the skill for it. Neither reinsertion,
    # making room nor the rescue's re-plan may give it to her again: v stays out.
    a = Nurse("a", P(0, 0), P(0, 0), 8 * H, 18 * H, skills={"picc"})
    b = Nurse("b", P(100, 0), P(100, 0), 8 * H, 18 * H)
    v = Visit("v", P(100, 0), 9 * H, 10 * H, 1800, required_skills={"picc"})
    current = Current(routes={"a": [], "b": []}, starts={}, holder={"v": "a"})
    result = _run(Problem((a, b), (v,)), current, banned={"v": frozenset({"a"})})
    assert _routes(result) == {"a": [], "b": []}
    assert [u.visit_id for u in result.plan.unplanned] == ["v"]


def _rescue_day():
    # C's vehicle is gone and her visit v needs picc, which only A has; A is at her cap
    # (2) with u and x, both far from v in time (no room is made for v by one swap) and
    # near B's home. Winning v back means moving u, x or both to B: both saves 18 min of
    # travel more than one, less than a move's cost of 20 min.
    a = Nurse("a", P(0, 0), P(0, 0), 8 * H, 18 * H, skills={"picc"}, max_visits=2)
    b = Nurse("b", P(3000, 0), P(3000, 0), 8 * H, 18 * H)
    v = Visit("v", P(0, 0), 9 * H, 9 * H + 600, H, required_skills={"picc"})
    u = Visit("u", P(2900, 0), 14 * H, 15 * H, 1800)
    x = Visit("x", P(2800, 0), 16 * H, 17 * H, 1800)
    current = Current(routes={"a": ["u", "x"], "b": []}, starts={"u": 14 * H, "x": 16 * H},
                      holder={"v": "c", "u": "a", "x": "a"})
    return Problem((a, b), (v, u, x)), current


def test_repair_rescue_moves_no_more_visits_than_pay_their_move_cost():
    problem, current = _rescue_day()
    result = _run(problem, current)
    assert _routes(result) == {"a": ["v", "x"], "b": ["u"]}
    assert result.plan.unplanned == ()


def test_repair_rescue_without_a_move_cost_moves_what_saves_travel():
    problem, current = _rescue_day()
    result = _run(problem, current, move_cost_s=0)
    assert _routes(result) == {"a": ["v"], "b": ["u", "x"]}


def test_repair_reassigns_a_visit_of_a_route_nothing_hit_when_it_saves_more_than_the_move_cost():
    # A holds y at B's door, 2 x 10 km from her home; nothing hit her route, but the
    # neighbourhood search finds that B takes it for far less than the move cost.
    a = Nurse("a", P(0, 0), P(0, 0), 8 * H, 18 * H)
    b = Nurse("b", P(10000, 0), P(10000, 0), 8 * H, 18 * H)
    y = Visit("y", P(10000, 100), 12 * H, 13 * H, 600)
    current = Current(routes={"a": ["y"], "b": []}, starts={"y": 12 * H}, holder={"y": "a"})
    assert _routes(_run(Problem((a, b), (y,)), current)) == {"a": [], "b": ["y"]}
    # At a move cost above what it saves, y stays.
    kept = _run(Problem((a, b), (y,)), current, move_cost_s=2 * H)
    assert _routes(kept) == {"a": ["y"], "b": []}


def test_repair_move_cost_fades_from_the_freeze_horizon_to_its_far_value():
    current = Current(routes={}, starts={"soon": 9 * H, "mid": 11 * H, "late": 15 * H},
                      holder={"soon": "a", "mid": "a", "late": "a", "unrouted": "a"})
    costs = move_costs(current, 9 * H, 20 * 60, 4 * 60, 4 * H)
    # Full at the horizon (and for a held visit without a planned start), half-way at
    # two of the four hours, the far value from four hours on.
    assert costs == {"soon": 20 * 60, "mid": 12 * 60, "late": 4 * 60, "unrouted": 20 * 60}
    assert set(move_costs(current, 9 * H, 20 * 60, None, 0).values()) == {20 * 60}
    # A visit that has had another nurse today costs the near value however far ahead.
    assert move_costs(current, 9 * H, 20 * 60, 4 * 60, 4 * H, {"late"})["late"] == 20 * 60
    # No fade is a step to the far cost at the horizon.
    assert set(move_costs(current, 9 * H, 20 * 60, 0, 0).values()) == {0}
    assert move_costs(current, 9 * H, 20 * 60, 0, 4 * H)["mid"] == 10 * 60


def test_repair_moves_a_visit_hours_ahead_for_a_saving_it_would_not_move_one_due_soon_for():
    # A holds y at B's door (about 66 min of travel to save by giving it to B). The
    # move costs 120 min at the horizon (08:00), fading to nothing by 12:00: y at 12:00
    # moves, y at 09:00 (90 min to move) stays.
    a = Nurse("a", P(0, 0), P(0, 0), 8 * H, 18 * H)
    b = Nurse("b", P(10000, 0), P(10000, 0), 8 * H, 18 * H)
    fade = {"freeze_until": 8 * H, "move_cost_s": 2 * H, "move_cost_far_s": 0,
            "move_cost_fade_s": 4 * H}
    for begins, moves in ((12 * H, True), (9 * H, False)):
        y = Visit("y", P(10000, 100), begins, begins + H, 600)
        current = Current(routes={"a": ["y"], "b": []}, starts={"y": begins},
                          holder={"y": "a"})
        routes = _routes(_run(Problem((a, b), (y,)), current, **fade))
        assert routes == ({"a": [], "b": ["y"]} if moves else {"a": ["y"], "b": []})

"""Repairing a planned day: the plan changes only where it must, with reasons."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from homecare.alerts.models import Alert
from homecare.notifications.models import Notification
from homecare.nurses.models import Shift
from homecare.nurses.unavailability import mark_unavailable
from homecare.orders.states import transition
from homecare.scheduling.models import DayPlan
from homecare.scheduling.repair import _diff, repair_day
from homecare.scheduling.repair_plan import LATE, Repair
from homecare.scheduling.service import DayChangedMeanwhile
from jobs import repair_days
from tests.scheduling.helpers import CENTER, DAY, MORNING, local, place


@pytest.fixture
def repair(session, org, config):
    def run(*, now=MORNING, reasons=(), **overrides):
        return repair_day(session=session, organization_id=org.id, day=DAY, now=now,
                          config=replace(config, **overrides), reasons=list(reasons))
    return run


def _where(session, *orders):
    """(nurse id, planned arrival, status) of each order, as stored."""
    for order in orders:
        session.refresh(order)
    return [(o.nurse_id, o.planned_arrival, o.status) for o in orders]


def _stops(day_plan):
    return {route["nurse_id"]: [(s["order_id"], s["planned_arrival"]) for s in route["stops"]]
            for route in day_plan.result["routes"]}


def _plans(session):
    return session.scalar(sa.select(sa.func.count()).select_from(DayPlan))


def test_repair_without_a_stored_plan_answers_none_and_writes_nothing(
        session, make_nurse, make_order, repair):
    make_nurse()
    order = make_order()
    session.commit()
    assert repair(reasons=[{"kind": "order_added", "order_id": order.id}]) is None
    assert _plans(session) == 0
    assert _where(session, order) == [(None, None, "approved")]


# --- the freeze horizon ----------------------------------------------------------------


@pytest.fixture
def far_nurse_day(session, make_nurse, make_order, run_plan, supervisor_actor, config):
    """Nurse A lives 15 km out and holds two visits in town, where nurse B lives: one at
    09:00, one at 11:30. At 08:30 A becomes unavailable from 11:00."""
    far = make_nurse(home=place(15, 0))
    near = make_nurse(home=CENTER)
    soon = make_order(status="assigned", nurse=far, window=(9, 10), where=place(0, 0.5))
    later = make_order(status="assigned", nurse=far, window=(11.5, 12.5), where=place(0, -0.5))
    session.commit()
    run_plan()
    assert _where(session, soon, later) == [(far.id, local(9), "assigned"),
                                            (far.id, local(11.5), "assigned")]
    mark_unavailable(session=session, actor=supervisor_actor, nurse_id=far.id,
                     start=local(11), until=local(18), reason="ill", now=local(8.5),
                     config=config)
    return far, near, soon, later


def test_repair_never_moves_a_visit_inside_the_freeze_horizon(session, far_nurse_day, repair):
    far, near, soon, later = far_nurse_day
    plan = repair(now=local(8.5), reasons=[{"kind": "nurse_unavailable", "nurse_id": far.id}])
    # B could take the 09:00 visit for a few minutes of travel instead of A's 47, but
    # it begins within the hour: it stays as it was. The 11:30 one is 3 h out: it moves.
    assert _where(session, soon) == [(far.id, local(9), "assigned")]
    assert _where(session, later)[0][::2] == (near.id, "assigned")
    assert soon.id in plan.result["frozen_order_ids"]


def test_repair_without_a_freeze_horizon_moves_the_same_visit(session, far_nurse_day, repair):
    far, near, soon, later = far_nurse_day
    plan = repair(now=local(8.5), reasons=[{"kind": "nurse_unavailable", "nurse_id": far.id}],
                  repair_freeze_minutes=0)
    assert _where(session, soon)[0][::2] == (near.id, "assigned")
    assert _where(session, later)[0][::2] == (near.id, "assigned")
    moved = {m["order_id"]: m for m in plan.result["diff"]["moved"]}
    assert moved[soon.id]["from_nurse_id"] == far.id
    assert moved[soon.id]["to_nurse_id"] == near.id


# --- the move cost ---------------------------------------------------------------------


def test_repair_after_a_new_order_changes_only_what_it_must(
        session, make_nurse, make_order, run_plan, repair):
    nurses = [make_nurse(home=place(-3, 0)), make_nurse(home=place(3, 0)),
              make_nurse(home=place(0, 3))]
    orders = [make_order(window=(h, h + 1), where=place(north, east))
              for h, north, east in ((9, -3, 0.5), (11, -2.5, 0), (9, 3, -0.5), (11, 2.5, 0.5),
                                     (9, 0.5, 3), (11, 0, 2.5), (14, -3, 0), (14, 3, 0))]
    session.commit()
    morning = _stops(session.get(DayPlan, run_plan()["id"]))
    held = _where(session, *orders)
    new = make_order(window=(15, 16), where=place(-3.2, 0.2))
    session.commit()

    plan = repair(now=local(7), reasons=[{"kind": "order_added", "order_id": new.id}])

    assert _where(session, *orders) == held
    after = _stops(plan)
    session.refresh(new)
    assert new.status == "assigned" and new.nurse_id == nurses[0].id
    for nurse_id, stops in after.items():
        expected = morning[nurse_id] if nurse_id != new.nurse_id else sorted(
            [*morning[nurse_id], (new.id, new.planned_arrival.isoformat())],
            key=lambda s: s[1])
        assert stops == expected
    assert plan.result["diff"] == {
        "moved": [], "dropped": [], "retimed": [], "stranded": [],
        "added": [{"order_id": new.id, "to_nurse_id": nurses[0].id,
                   "new_arrival": new.planned_arrival.isoformat(), "reason": "order_added"}]}


@pytest.mark.parametrize(("move_cost", "far", "moves"), [
    (30, 30, False), (20, 20, True), (0, 0, True),
    # The visit is hours beyond the freeze: it costs the far value to move.
    (30, 0, True)])
def test_repair_moves_a_visit_to_another_nurse_only_when_it_pays_the_move_cost(
        session, make_nurse, make_order, run_plan, repair, supervisor_actor, move_cost, far,
        moves):
    # A (home 4 km west) holds a visit 4 km east, at B's door: 25 min of travel
    # against B's few seconds. When A's route is hit (her other visit is cancelled)
    # the visit moves if that saves more than the move cost.
    a = make_nurse(home=place(0, -4))
    b = make_nurse(home=place(0, 4))
    make_order(window=(8, 9), where=place(0, 4.1), status="assigned", nurse=b)
    held = make_order(window=(13, 14), where=place(0, 4), status="assigned", nurse=a)
    other = make_order(window=(10, 11), where=place(0, -4), status="assigned", nurse=a)
    session.commit()
    run_plan()
    transition(session, other, "cancelled", actor=supervisor_actor, now=MORNING,
               reason="family cancelled")
    session.commit()

    plan = repair(reasons=[{"kind": "order_cancelled", "order_id": other.id}],
                  repair_move_cost_minutes=move_cost, repair_move_cost_far_minutes=far)

    assert _where(session, held)[0][0] == (b.id if moves else a.id)
    assert [(m["order_id"], m["from_nurse_id"], m["to_nurse_id"], m["reason"])
            for m in plan.result["diff"]["moved"]] == (
        [(held.id, a.id, b.id, "improved")] if moves else [])


@pytest.mark.parametrize(("fade", "moves"), [(120, False), (60, True)])
def test_repair_move_cost_fades_over_the_minutes_after_the_freeze(
        session, make_nurse, make_order, run_plan, repair, supervisor_actor, fade, moves):
    # As above (moving the visit saves between 20 and 30 min of travel), but at 07:00
    # with the visit at 08:30, half an hour beyond the freeze: at 40 min near and 0 far,
    # it costs 30 min to move over a 120-minute fade (it stays), 20 over 60 (it moves).
    a = make_nurse(home=place(0, -4))
    b = make_nurse(home=place(0, 4))
    held = make_order(window=(8.5, 9.5), where=place(0, 4), status="assigned", nurse=a)
    other = make_order(window=(11, 12), where=place(0, -4), status="assigned", nurse=a)
    session.commit()
    run_plan()
    assert _where(session, held)[0][:2] == (a.id, local(8.5))
    transition(session, other, "cancelled", actor=supervisor_actor, now=local(7),
               reason="family cancelled")
    session.commit()

    repair(now=local(7), reasons=[{"kind": "order_cancelled", "order_id": other.id}],
           repair_move_cost_minutes=40, repair_move_cost_far_minutes=0,
           repair_move_cost_fade_minutes=fade)

    assert _where(session, held)[0][0] == (b.id if moves else a.id)


def test_repair_does_not_move_a_visit_again_for_a_saving_below_the_near_cost(
        session, make_nurse, make_order, run_plan, repair, supervisor_actor):
    # As in the move-cost test (30 min near, 0 far: the 13:00 visit, hours ahead, would
    # move to B for its 25 min of travel), but C held it first: its family was told of
    # a new nurse once already, so it costs the near 30 min and stays with A.
    a = make_nurse(home=place(0, -4))
    b = make_nurse(home=place(0, 4))
    c = make_nurse(home=place(4, 0))
    make_order(window=(8, 9), where=place(0, 4.1), status="assigned", nurse=b)
    held = make_order(window=(13, 14), where=place(0, 4))
    other = make_order(window=(10, 11), where=place(0, -4), status="assigned", nurse=a)
    for nurse in (c, a):
        transition(session, held, "assigned", actor=supervisor_actor, now=MORNING,
                   nurse_id=nurse.id, planned_arrival=local(13), route_position=2)
    session.commit()
    run_plan()
    transition(session, other, "cancelled", actor=supervisor_actor, now=MORNING,
               reason="family cancelled")
    session.commit()

    repair(reasons=[{"kind": "order_cancelled", "order_id": other.id}],
           repair_move_cost_minutes=30, repair_move_cost_far_minutes=0)

    assert _where(session, held)[0][0] == a.id


def test_repair_never_gives_a_visit_back_to_the_nurse_who_handed_it_back(
        session, make_nurse, make_order, run_plan, repair, supervisor_actor):
    # A (home 4 km west) is planned a visit at her door and hands it back; B (4 km
    # east) takes it. Later B's other visit is cancelled: moving the visit back to A
    # would save B's 50 min round trip, but A gave it up, so it stays with B.
    a = make_nurse(home=place(0, -4))
    b = make_nurse(home=place(0, 4))
    held = make_order(window=(13, 14), where=place(0, -4))
    other = make_order(window=(10, 11), where=place(0, 4), status="assigned", nurse=b)
    session.commit()
    run_plan()
    assert _where(session, held)[0][0] == a.id
    transition(session, held, "approved", actor=None, now=MORNING, nurse_id=None,
               planned_arrival=None, route_position=None, reason="handed back")
    transition(session, held, "assigned", actor=None, now=MORNING, nurse_id=b.id,
               planned_arrival=local(13), route_position=1)
    transition(session, other, "cancelled", actor=supervisor_actor, now=MORNING,
               reason="family cancelled")
    session.commit()

    plan = repair(reasons=[{"kind": "order_cancelled", "order_id": other.id}],
                  repair_move_cost_minutes=0)

    assert _where(session, held)[0][::2] == (b.id, "assigned")
    assert [m["order_id"] for m in plan.result["diff"]["moved"]] == []


def test_repair_searches_with_the_configured_planning_seed(
        session, make_nurse, make_order, run_plan, repair, monkeypatch):
    from homecare.scheduling import repair_plan

    seeds = []
    improve = repair_plan.improve_routes

    def spy(*args, **kwargs):
        seeds.append(kwargs["seed"])
        return improve(*args, **kwargs)

    monkeypatch.setattr(repair_plan, "improve_routes", spy)
    a = make_nurse(home=place(0, -4))
    make_nurse(home=place(0, 4))
    for h in (10, 12, 14):
        make_order(window=(h, h + 1), where=place(0, 4 - h / 10), status="assigned", nurse=a)
    session.commit()
    run_plan()
    new = make_order(window=(16, 17), where=place(0, 3))
    session.commit()

    repair(reasons=[{"kind": "order_added", "order_id": new.id}], planning_seed=7)

    assert seeds and set(seeds) == {7}


# --- a nurse who falls ill ---------------------------------------------------------------


def test_repair_gives_an_unavailable_nurses_visits_to_others_and_tells_everyone(
        session, make_nurse, make_order, run_plan, repair, supervisor_actor, config):
    ill = make_nurse(home=place(0, -1))
    other = make_nurse(home=place(0, 1))
    mine = [make_order(window=(h, h + 1), where=place(0, -1.2), status="assigned", nurse=ill)
            for h in (10, 13)]
    session.commit()
    run_plan()
    mark_unavailable(session=session, actor=supervisor_actor, nurse_id=ill.id,
                     start=local(7), until=local(20), reason="ill", now=local(7),
                     config=config)
    session.query(Notification).delete()
    session.commit()

    plan = repair(now=local(7), reasons=[{"kind": "nurse_unavailable", "nurse_id": ill.id}])

    assert [w[0::2] for w in _where(session, *mine)] == [(other.id, "assigned")] * 2
    assert [(m["order_id"], m["from_nurse_id"], m["to_nurse_id"], m["reason"])
            for m in plan.result["diff"]["moved"]] == [
        (o.id, ill.id, other.id, "nurse_unavailable") for o in mine]
    told = {(n.user_id, n.kind) for n in session.scalars(sa.select(Notification))}
    assert (other.user_id, "order_assigned") in told
    for order in mine:
        assert (order.booked_by, "nurse_assigned") in told


# --- the diff ----------------------------------------------------------------------------


def test_repair_diff_lists_added_moved_dropped_and_retimed_with_reasons(
        session, make_nurse, make_order, run_plan, repair, supervisor_actor, config):
    ill = make_nurse(home=place(0, -1))
    other = make_nurse(home=place(0, 1), shifts=((8, 13),))
    taken = make_order(window=(9, 10), where=place(0, -1), status="assigned", nurse=ill)
    stranded = make_order(window=(16, 17), where=place(0, -1), status="assigned", nurse=ill)
    cancelled = make_order(window=(10, 11), where=place(0, 1), status="assigned", nurse=other)
    kept = make_order(window=(11, 12.5), where=place(0, 1.5), status="assigned", nurse=other)
    session.commit()
    run_plan()
    transition(session, cancelled, "cancelled", actor=supervisor_actor, now=MORNING,
               reason="family cancelled")
    session.commit()
    mark_unavailable(session=session, actor=supervisor_actor, nurse_id=ill.id,
                     start=local(7), until=local(20), reason="ill", now=local(7),
                     config=config)
    new = make_order(window=(8.5, 12.5), where=place(0, 1.2))
    session.commit()

    plan = repair(now=local(7), reasons=[
        {"kind": "order_cancelled", "order_id": cancelled.id},
        {"kind": "nurse_unavailable", "nurse_id": ill.id},
        {"kind": "order_added", "order_id": new.id}])

    diff = plan.result["diff"]
    assert [(m["order_id"], m["from_nurse_id"], m["to_nurse_id"], m["reason"])
            for m in diff["moved"]] == [(taken.id, ill.id, other.id, "nurse_unavailable")]
    assert [(a["order_id"], a["to_nurse_id"], a["reason"]) for a in diff["added"]] == [
        (new.id, other.id, "order_added")]
    assert sorted((d["order_id"], d["reason"]) for d in diff["dropped"]) == sorted([
        (cancelled.id, "order_cancelled"), (stranded.id, "nurse_unavailable")])
    assert {d["order_id"]: d["detail"] for d in diff["dropped"]} == {
        cancelled.id: "status_cancelled", stranded.id: "nurse_gone"}
    assert all(r["reason"] for r in diff["retimed"])
    assert plan.result["kind"] == "repair"
    assert _where(session, kept)[0][0] == other.id


def test_repair_tells_the_family_when_only_the_arrival_time_changes(
        session, make_nurse, make_order, run_plan, repair, supervisor_actor):
    # One nurse, two visits: the first at 09:00, the second after it. The first is
    # cancelled; she can now come to the second earlier, and that family is told.
    nurse = make_nurse(home=CENTER)
    first = make_order(window=(9, 10), where=place(1, 0))
    second = make_order(window=(9, 13), where=place(2, 0))
    session.commit()
    run_plan()
    session.refresh(second)
    before = second.planned_arrival
    transition(session, first, "cancelled", actor=supervisor_actor, now=local(7),
               reason="family cancelled")
    session.commit()

    plan = repair(now=local(7), reasons=[{"kind": "order_cancelled", "order_id": first.id}])

    session.refresh(second)
    assert second.nurse_id == nurse.id and second.planned_arrival < before
    assert [r["order_id"] for r in plan.result["diff"]["retimed"]] == [second.id]
    told = session.scalars(sa.select(Notification).where(
        Notification.user_id == second.booked_by, Notification.kind == "visit_retimed")).all()
    assert [(n.order_id, n.payload["previous_arrival"], n.payload["planned_arrival"])
            for n in told] == [(second.id, before.isoformat(),
                                second.planned_arrival.isoformat())]


def test_a_visit_the_repair_cannot_keep_goes_back_to_dispatch_and_is_offered(
        session, make_nurse, make_order, run_plan, repair, config):
    # Her shift is cut to the morning (an edit of her shifts, not an unavailability):
    # her afternoon visit has no place left with her, nor with anyone else today. Left
    # "assigned" without a time it would be stuck; it goes back to dispatch, the family
    # and the nurse are told, and the jobs process offers it again.
    nurse = make_nurse(shifts=((8, 18),))
    other = make_nurse(home=place(0, 2), shifts=((14, 18),))
    order = make_order(window=(15, 16), where=place(0, 1))
    session.commit()
    run_plan(reassign=True)
    session.refresh(order)
    holder = order.nurse_id
    assert order.status == "assigned"
    shift = session.scalar(sa.select(Shift).where(Shift.nurse_id == holder))
    shift.end = local(12)
    other_shift = session.scalar(sa.select(Shift).where(Shift.nurse_id != holder,
                                                        Shift.nurse_id.in_([nurse.id, other.id])))
    session.delete(other_shift)
    session.commit()

    plan = repair(now=local(7), reasons=[{"kind": "nurse_unavailable", "nurse_id": holder}])

    assert plan.result["released_order_ids"] == [order.id]
    session.refresh(order)
    assert (order.status, order.nurse_id, order.planned_arrival) == ("approved", None, None)
    kinds = set(session.scalars(sa.select(Notification.kind).where(
        Notification.order_id == order.id, Notification.user_id == order.booked_by)))
    assert "nurse_unassigned" in kinds
    repair_days._offer(session, [order.id], local(7), config)
    session.commit()
    session.refresh(order)
    alert = session.scalar(sa.select(Alert).where(Alert.order_id == order.id,
                                                  Alert.kind == "unassigned"))
    assert order.status == "approved" and alert is not None  # nobody left today: the supervisor


# --- the write: all or nothing ---------------------------------------------------------


def _cancel_meanwhile(monkeypatch, session, supervisor_actor, orders):
    """While the repair solves (between its read and its write), cancel the next of
    ``orders`` each time, as a family could in another request."""
    from homecare.scheduling import repair_plan

    solve = repair_plan.repair
    left = list(orders)

    def solve_while_cancelling(*args, **kwargs):
        if left:
            transition(session, left.pop(0), "cancelled", actor=supervisor_actor,
                       now=local(7), reason="family cancelled")
            session.commit()
        return solve(*args, **kwargs)

    monkeypatch.setattr(repair_plan, "repair", solve_while_cancelling)


def test_repair_whose_day_changes_before_its_write_repairs_the_fresh_day(
        session, make_nurse, make_order, run_plan, repair, supervisor_actor, monkeypatch):
    nurse = make_nurse()
    gone, kept = (make_order(window=(h, h + 1), where=place(0, h - 9)) for h in (9, 11))
    session.commit()
    run_plan()
    new = make_order(window=(14, 15), where=place(0, 1))
    session.commit()
    _cancel_meanwhile(monkeypatch, session, supervisor_actor, [gone])

    plan = repair(now=local(7), reasons=[{"kind": "order_added", "order_id": new.id}])

    # One plan written, made from the day without the cancelled order.
    assert _plans(session) == 2
    assert [s[0] for s in _stops(plan)[nurse.id]] == [kept.id, new.id]
    assert plan.result["skipped"] == []
    assert [d["order_id"] for d in plan.result["diff"]["dropped"]] == [gone.id]


def test_repair_tried_again_freezes_from_when_it_reads_the_day_again(
        session, make_nurse, make_order, run_plan, repair, supervisor_actor, monkeypatch,
        pin_clock):
    # The first attempt reads the day at 07:00; while it solves, an order is cancelled
    # and two hours go by. The second attempt's freeze runs from 09:00, so the 09:30
    # visit is frozen (from 07:00 it would not be).
    make_nurse()
    gone, kept = (make_order(window=(h, h + 1), where=place(0, h - 9)) for h in (8, 9.5))
    session.commit()
    run_plan()
    new = make_order(window=(14, 15), where=place(0, 1))
    session.commit()
    clock = [local(7)]
    pin_clock(lambda: clock[0])
    _cancel_meanwhile(monkeypatch, session, supervisor_actor, [gone])
    from homecare.scheduling import repair_plan

    solve = repair_plan.repair

    def solve_for_two_hours(*args, **kwargs):
        clock[0] = local(9)
        return solve(*args, **kwargs)

    monkeypatch.setattr(repair_plan, "repair", solve_for_two_hours)

    plan = repair(now=local(7), reasons=[{"kind": "order_added", "order_id": new.id}])

    assert _plans(session) == 2
    assert kept.id in plan.result["frozen_order_ids"]


def test_repair_whose_day_keeps_changing_writes_nothing(
        session, make_nurse, make_order, run_plan, repair, supervisor_actor, monkeypatch):
    make_nurse()
    orders = [make_order(window=(h, h + 1), where=place(0, h - 9)) for h in (9, 11, 13, 15)]
    session.commit()
    run_plan()
    new = make_order(window=(16, 17), where=place(0, 1))
    session.commit()
    _cancel_meanwhile(monkeypatch, session, supervisor_actor, orders[:3])

    with pytest.raises(DayChangedMeanwhile):
        repair(now=local(7), reasons=[{"kind": "order_added", "order_id": new.id}])

    assert _plans(session) == 1
    assert _where(session, new) == [(None, None, "approved")]


# --- what the diff reports -------------------------------------------------------------


def test_repair_diff_lists_a_frozen_visit_its_nurse_can_no_longer_hold(
        session, make_nurse, make_order, run_plan, repair):
    # Her shift now ends at 12:00 and her visit is planned at 12:15, inside the freeze
    # at 11:30: it is nobody else's to take, it stays as it was, and the supervisor
    # reads it in the diff.
    nurse = make_nurse()
    order = make_order(window=(12.25, 13), where=place(0, 1))
    session.commit()
    run_plan()
    held = _where(session, order)
    shift = session.scalar(sa.select(Shift).where(Shift.nurse_id == nurse.id))
    shift.end = local(12)
    session.commit()

    plan = repair(now=local(11.5), reasons=[{"kind": "nurse_unavailable",
                                             "nurse_id": nurse.id}])

    assert _where(session, order) == held
    assert plan.result["diff"]["stranded"] == [{
        "order_id": order.id, "nurse_id": nurse.id,
        "planned_arrival": held[0][1].isoformat(), "reason": "nurse_unavailable",
        "detail": "frozen_past_shift"}]


def test_repair_writes_the_day_of_a_nurse_with_a_stranded_visit_and_another_stop(
        session, make_nurse, make_order, run_plan, repair):
    # Her 11:36 visit (at her home, done at 12:06) still fits her shift cut to end at
    # 12:06, her 12:15 one does not: it is stranded. She still has a stop in the
    # repaired plan, and the visit left out of it is one she held all along, not one
    # she took on meanwhile: the repair writes, it does not give up on the day.
    nurse = make_nurse()
    kept = make_order(window=(11.6, 12), where=CENTER)
    order = make_order(window=(12.25, 13), where=place(0, 1))
    session.commit()
    run_plan()
    held = _where(session, kept, order)
    assert [h[0] for h in held] == [nurse.id, nurse.id]
    shift = session.scalar(sa.select(Shift).where(Shift.nurse_id == nurse.id))
    shift.end = local(12.1)
    session.commit()

    plan = repair(now=local(11.5), reasons=[{"kind": "nurse_unavailable",
                                             "nurse_id": nurse.id}])

    assert _plans(session) == 2
    assert _where(session, kept, order) == held
    assert [s[0] for s in _stops(plan)[nurse.id]] == [kept.id]
    assert [s["order_id"] for s in plan.result["diff"]["stranded"]] == [order.id]


def test_repair_diff_gives_a_released_visit_its_reason_when_only_its_time_changes():
    # Released from its place (late) and put back on the same nurse's route at another
    # time: the retimed entry says why, as moved and dropped entries do.
    arrival = datetime(2031, 5, 13, 2, tzinfo=UTC)
    later = arrival + timedelta(hours=1)
    repaired = Repair(plan=None, frozen=frozenset(), released={5: LATE})
    result = {"routes": [{"nurse_id": 1, "stops": [
        {"order_id": 5, "planned_arrival": later.isoformat()}]}],
        "unplanned": [], "skipped": []}
    diff = _diff({5: (1, arrival)}, result, [], repaired, {})
    assert [(r["order_id"], r["reason"], r["detail"]) for r in diff["retimed"]] == [
        (5, LATE, LATE)]

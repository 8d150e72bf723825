"""Day planning from the database: what is planned, who gets what, what is stored."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from homecare.accounts.service import OrganizationRequired
from homecare.geo import GeodesicTravel, Point
from homecare.notifications.models import Notification
from homecare.nurses.service import NurseNotFound
from homecare.orders.models import Order, OrderEvent
from homecare.orders.states import transition
from homecare.scheduling import service
from homecare.scheduling.models import DayPlan
from homecare.scheduling.service import (
    DayBeyondHorizon,
    DayInPast,
    DayPlanNotFound,
    get_day_plan,
    nurse_schedule,
    plan_all_organizations,
)
from tests.factories import ServiceItemFactory, UserFactory, actor_of
from tests.scheduling.helpers import CENTER, DAY, MORNING, local, place


def _reload(session, *orders):
    for order in orders:
        session.refresh(order)


def _unplanned(result) -> dict[int, str]:
    return {u["order_id"]: u["reason"] for u in result["unplanned"]}


# --- what gets planned and stored --------------------------------------------------------


def test_plan_day_assigns_approved_and_offered_orders(session, make_nurse, make_order,
                                                       run_plan):
    nurse = make_nurse()
    approved = make_order(status="approved", window=(9, 11))
    offered = make_order(status="offered", window=(13, 15), where=place(1, 0))
    run_plan()
    _reload(session, approved, offered)
    assert (approved.status, approved.nurse_id) == ("assigned", nurse.id)
    assert (offered.status, offered.nurse_id) == ("assigned", nurse.id)


def test_plan_day_failing_while_storing_leaves_the_day_as_it_was(session, make_nurse,
                                                                 make_order, run_plan,
                                                                 monkeypatch):
    make_nurse()
    approved = make_order(status="approved", window=(9, 11))
    session.commit()

    def audit_down(*args, **kwargs):
        raise RuntimeError("audit trail unavailable")

    # The plan is audited after its orders were assigned and its row added.
    monkeypatch.setattr(service, "record", audit_down)
    with pytest.raises(RuntimeError):
        run_plan()
    session.commit()  # a caller that goes on with the session commits nothing of it
    _reload(session, approved)
    assert (approved.status, approved.nurse_id) == ("approved", None)
    assert session.scalar(sa.select(sa.func.count()).select_from(DayPlan)) == 0

def test_plan_day_placement_resolves_the_unassigned_alert(session, make_nurse, make_order,
                                                          run_plan):
    from homecare.alerts.models import Alert
    from homecare.dispatch.rounds import stop_offering

    make_nurse()
    order = make_order()
    stop_offering(session, order, "no eligible nurse for offers", MORNING)
    session.commit()
    run_plan()
    _reload(session, order)
    assert order.status == "assigned"
    assert session.scalars(sa.select(Alert.status).where(
        Alert.order_id == order.id, Alert.kind == "unassigned")).all() == ["resolved"]


def test_plan_day_records_the_assignment_as_an_order_event(session, make_nurse, make_order,
                                                           run_plan, supervisor_actor):
    make_nurse()
    order = make_order()
    run_plan(actor=supervisor_actor)
    event = session.scalar(sa.select(OrderEvent).where(OrderEvent.order_id == order.id,
                                                       OrderEvent.to_status == "assigned"))
    assert (event.from_status, event.actor_id) == ("approved", supervisor_actor.user_id)


def test_plan_day_stores_arrivals_inside_windows_and_positions_in_order(
        session, make_nurse, make_order, run_plan):
    make_nurse()
    orders = [make_order(window=(h, h + 2), where=place(h - 9, 0)) for h in (9, 10, 11)]
    run_plan()
    _reload(session, *orders)
    for order in orders:
        assert order.window_start <= order.planned_arrival <= order.window_end
    by_position = sorted(orders, key=lambda o: o.route_position)
    assert [o.route_position for o in by_position] == [1, 2, 3]
    arrivals = [o.planned_arrival for o in by_position]
    assert arrivals == sorted(arrivals)


def test_plan_day_does_not_plan_submitted_or_cancelled_orders(session, make_nurse, make_order,
                                                              run_plan):
    make_nurse()
    submitted = make_order(status="submitted")
    cancelled = make_order(status="cancelled")
    result = run_plan()
    _reload(session, submitted, cancelled)
    assert result["stats"]["orders"] == 0
    assert submitted.planned_arrival is None and cancelled.planned_arrival is None


def test_plan_day_plans_only_the_given_day(session, make_nurse, make_order, run_plan):
    make_nurse()
    tomorrow = make_order(day=DAY + timedelta(days=1))
    run_plan()
    _reload(session, tomorrow)
    assert (tomorrow.status, tomorrow.planned_arrival) == ("approved", None)


def test_plan_day_stores_a_day_plan_row(session, make_nurse, make_order, run_plan, org,
                                        supervisor_actor):
    make_nurse()
    make_order()
    result = run_plan(actor=supervisor_actor)
    row = session.get(DayPlan, result["id"])
    assert (row.organization_id, row.day, row.created_at) == (org.id, DAY, MORNING)
    assert row.created_by == supervisor_actor.user_id
    assert row.stats["planned"] == 1 and row.result["routes"][0]["stops"][0]["order_id"]


def test_plan_day_answers_stops_with_window_and_service(session, make_nurse, make_order,
                                                        run_plan):
    nurse = make_nurse()
    order = make_order(window=(9, 11))
    result = run_plan()
    route = next(r for r in result["routes"] if r["nurse_id"] == nurse.id)
    stop = route["stops"][0]
    assert stop["order_id"] == order.id and stop["service_code"] == order.service_code
    assert (stop["window_start"], stop["window_end"]) == (order.window_start, order.window_end)
    assert stop["end"] - stop["start"] == timedelta(minutes=order.duration_min)


def test_plan_day_with_nothing_to_plan_answers_empty_routes(session, make_nurse, run_plan):
    nurse = make_nurse()
    result = run_plan()
    assert [(r["nurse_id"], r["stops"]) for r in result["routes"]] == [(nurse.id, [])]
    assert result["unplanned"] == []


# --- who may serve what ------------------------------------------------------------------


def test_plan_day_gives_skilled_order_only_to_nurse_with_the_skill(session, make_nurse,
                                                                   make_order, run_plan):
    skilled = make_nurse(home=place(8, 0), skills=["wound_care"])
    make_nurse(home=CENTER, skills=["blood_sampling"])
    order = make_order(item=ServiceItemFactory(required_skills=["wound_care"]), where=CENTER)
    run_plan()
    _reload(session, order)
    assert order.nurse_id == skilled.id


def test_plan_day_gives_order_only_to_nurse_of_its_minimum_title(session, make_nurse,
                                                                 make_order, run_plan):
    senior = make_nurse(home=place(8, 0), title="supervisor_nurse")
    make_nurse(home=CENTER, title="senior_nurse")
    order = make_order(item=ServiceItemFactory(min_title="supervisor_nurse"), where=CENTER)
    run_plan()
    _reload(session, order)
    assert order.nurse_id == senior.id


def test_plan_day_skips_nurse_below_the_qualification_gate(session, make_nurse, make_order,
                                                           run_plan):
    qualified = make_nurse(home=place(8, 0))
    make_nurse(home=CENTER, years_experience=3)
    order = make_order(where=CENTER)
    run_plan()
    _reload(session, order)
    assert order.nurse_id == qualified.id


def test_plan_day_skips_inactive_nurse(session, make_nurse, make_order, run_plan):
    active = make_nurse(home=place(8, 0))
    make_nurse(home=CENTER, active=False)
    order = make_order(where=CENTER)
    run_plan()
    _reload(session, order)
    assert order.nurse_id == active.id


def test_plan_day_keeps_orders_inside_the_nurses_service_radius(session, make_nurse,
                                                                make_order, run_plan):
    # The nearer nurse (3 km) serves 2 km around her home; the other is 5 km away.
    far_reaching = make_nurse(home=place(0, 9), service_radius_km=15)
    make_nurse(home=place(0, 1), service_radius_km=2)
    order = make_order(where=place(0, 4))
    run_plan()
    _reload(session, order)
    assert order.nurse_id == far_reaching.id


def test_plan_day_caps_the_service_radius_at_the_maximum(session, make_nurse, make_order,
                                                         run_plan, config):
    make_nurse(service_radius_km=config.max_service_radius_km + 20)
    order = make_order(where=place(config.max_service_radius_km + 5, 0))
    result = run_plan()
    assert _unplanned(result) == {order.id: "no_qualified_nurse"}


def test_plan_day_ignores_other_organizations_nurses(session, make_nurse, make_order, run_plan,
                                                     other_org):
    make_nurse(organization=other_org)
    order = make_order()
    result = run_plan()
    assert _unplanned(result) == {order.id: "no_qualified_nurse"}


# --- pinned, moved and fixed visits ------------------------------------------------------


def test_plan_day_keeps_assigned_order_with_its_nurse(session, make_nurse, make_order,
                                                      run_plan):
    holder = make_nurse(home=place(8, 0))
    make_nurse(home=CENTER)
    order = make_order(status="assigned", nurse=holder, where=CENTER)
    run_plan()
    _reload(session, order)
    assert (order.status, order.nurse_id) == ("assigned", holder.id)
    assert order.planned_arrival is not None


def test_plan_day_with_reassign_moves_assigned_order_to_a_better_nurse(
        session, make_nurse, make_order, run_plan, supervisor_actor):
    holder = make_nurse(home=place(8, 0))
    near = make_nurse(home=CENTER)
    order = make_order(status="assigned", nurse=holder, where=CENTER)
    result = run_plan(actor=supervisor_actor, reassign=True)
    _reload(session, order)
    assert (order.status, order.nurse_id) == ("assigned", near.id)
    assert result["stats"]["reassigned"] == 1
    event = session.scalar(sa.select(OrderEvent).where(OrderEvent.order_id == order.id))
    assert (event.from_status, event.to_status) == ("assigned", "assigned")


def test_plan_day_moves_assigned_order_of_a_nurse_without_time_that_day(
        session, make_nurse, make_order, run_plan):
    ill = make_nurse(shifts=())
    other = make_nurse(home=place(2, 0))
    order = make_order(status="assigned", nurse=ill)
    run_plan()
    _reload(session, order)
    assert order.nurse_id == other.id


def test_plan_day_leaves_assigned_order_with_unavailable_nurse_when_nobody_can_take_it(
        session, make_nurse, make_order, run_plan):
    ill = make_nurse(shifts=())
    order = make_order(status="assigned", nurse=ill, planned_arrival=local(9))
    result = run_plan()
    _reload(session, order)
    assert (order.status, order.nurse_id, order.planned_arrival) == ("assigned", ill.id, None)
    assert _unplanned(result) == {order.id: "no_qualified_nurse"}


def test_plan_day_keeps_visit_in_service_fixed_and_starts_its_nurse_after_it(
        session, make_nurse, make_order, run_plan, config):
    nurse = make_nurse()
    now = local(10)
    busy = make_order(status="in_service", nurse=nurse, window=(9.5, 10.5), where=place(3, 0),
                      checked_in_at=local(9.75), planned_arrival=local(9.75), route_position=1)
    nearby = make_order(window=(10, 12), where=place(3.5, 0))
    run_plan(now=now)
    _reload(session, busy, nearby)
    assert (busy.status, busy.planned_arrival, busy.route_position) == (
        "in_service", local(9.75), 1)
    free_at = local(9.75) + timedelta(minutes=busy.duration_min)
    travel = GeodesicTravel(config.travel_detour_factor, config.travel_speed_kmh)
    leg = travel.duration_s(Point(*place(3, 0)), Point(*place(3.5, 0)))
    assert nearby.planned_arrival >= free_at + timedelta(seconds=leg)
    assert nearby.route_position == 2


def test_plan_day_starts_en_route_nurse_after_the_visit_she_is_heading_to(
        session, make_nurse, make_order, run_plan):
    nurse = make_nurse()
    heading = make_order(status="en_route", nurse=nurse, window=(10, 11), where=place(2, 0),
                         departed_at=local(9.9))
    later = make_order(window=(10, 13), where=place(2, 0))
    run_plan(now=local(10))
    _reload(session, heading, later)
    assert heading.status == "en_route"
    assert later.planned_arrival >= local(10) + timedelta(minutes=heading.duration_min)


def test_plan_day_and_dispatch_agree_when_she_is_en_route(session, make_nurse, make_order,
                                                          run_plan, config):
    from homecare.dispatch.matching import list_candidates

    nurse = make_nurse()
    make_order(status="en_route", nurse=nurse, window=(9, 10), where=place(12, 0),
               departed_at=local(9))
    later = make_order(window=(10, 12), where=place(12, 0))
    session.commit()
    (offered,) = list_candidates(session=session, order=later, now=local(9), config=config,
                                 explain_nurse_id=nurse.id)
    run_plan(now=local(9))
    _reload(session, later)
    # She is 12 km away (about 37 minutes), then busy there for 30: both say 10:07.
    assert local(10.1) < later.planned_arrival < local(10.2)
    assert offered.planned_arrival == later.planned_arrival


def test_plan_day_of_today_plans_nobody_before_now(session, make_nurse, make_order, run_plan):
    make_nurse(shifts=((8, 18),))
    order = make_order(window=(12, 16))
    run_plan(now=local(13))
    _reload(session, order)
    assert order.planned_arrival >= local(13)


def test_plan_day_reports_window_already_passed_today(session, make_nurse, make_order,
                                                      run_plan):
    make_nurse()
    order = make_order(window=(9, 10))
    result = run_plan(now=local(11))
    assert _unplanned(result)[order.id] in ("window_unreachable", "no_qualified_nurse")
    _reload(session, order)
    assert order.status == "approved"


def test_plan_day_starts_nurse_with_completed_visits_from_her_last_one(
        session, make_nurse, make_order, run_plan, config):
    nurse = make_nurse(home=CENTER)
    done = make_order(status="completed", nurse=nurse, window=(8, 9), where=place(6, 0),
                      checked_in_at=local(8.2), checked_out_at=local(8.7))
    later = make_order(window=(9, 12), where=place(6, 0))
    run_plan(now=local(9))
    _reload(session, done, later)
    # From home the visit could not start before 09:00 + the 6 km leg; from her
    # last visit (the same street) it starts at once.
    assert later.planned_arrival == local(9)
    assert (done.route_position, later.route_position) == (1, 2)


def test_plan_day_counts_completed_visits_against_the_daily_cap(session, make_nurse,
                                                                make_order, run_plan):
    nurse = make_nurse(max_visits_per_day=1)
    make_order(status="completed", nurse=nurse, window=(8, 9), checked_in_at=local(8.1),
               checked_out_at=local(8.6))
    order = make_order(window=(10, 12))
    result = run_plan(now=local(9))
    assert _unplanned(result) == {order.id: "capacity"}


# --- shifts and windows ------------------------------------------------------------------


def test_plan_day_keeps_every_planned_arrival_inside_window_and_shift(
        session, make_nurse, make_order, run_plan, config):
    nurses = [make_nurse(home=place(0, 0), shifts=((8, 12),)),
              make_nurse(home=place(2, 2), shifts=((11, 19),)),
              make_nurse(home=place(-2, 1), shifts=((7.5, 10), (15, 20)))]
    orders = [make_order(window=(8 + (k * 7) % 11, 9.5 + (k * 7) % 11),
                         where=place((k % 5) - 2, (k % 3) - 1)) for k in range(14)]
    run_plan()
    _reload(session, *orders)
    shifts = {nurses[0].id: [(8, 12)], nurses[1].id: [(11, 19)],
              nurses[2].id: [(7.5, 10), (15, 20)]}
    travel = GeodesicTravel(config.travel_detour_factor, config.travel_speed_kmh)
    planned = [o for o in orders if o.planned_arrival is not None]
    assert len(planned) >= 10
    for order in planned:
        assert order.window_start <= order.planned_arrival <= order.window_end
        ends = order.planned_arrival + timedelta(minutes=order.duration_min)
        nurse = next(n for n in nurses if n.id == order.nurse_id)
        from_home = timedelta(seconds=travel.duration_s(
            Point(nurse.home_lat, nurse.home_lng), _address_point(session, order)))
        assert any(local(s) + from_home <= order.planned_arrival and ends <= local(e)
                   for s, e in shifts[nurse.id]), order.id


def _address_point(session, order) -> Point:
    from homecare.patients.models import Address

    address = session.get(Address, order.address_id)
    return Point(address.lat, address.lng)


def test_plan_day_lets_the_way_home_run_past_the_shift(session, make_nurse, make_order,
                                                       run_plan):
    # As in dispatch: a shift covers the visits; the trip home is her own time.
    make_nurse(home=place(6, 0), shifts=((8, 10),))
    order = make_order(window=(9, 9), item=ServiceItemFactory(duration_min=60))
    result = run_plan()
    assert result["unplanned"] == []
    _reload(session, order)
    assert order.planned_arrival == local(9)


def test_plan_day_does_not_plan_into_the_gap_between_shifts(session, make_nurse, make_order,
                                                            run_plan):
    nurse = make_nurse(shifts=((8, 10), (16, 18)))
    morning = make_order(window=(9, 9.5))
    evening = make_order(window=(16.5, 17))
    midday = make_order(window=(12, 13))
    result = run_plan()
    _reload(session, morning, evening)
    assert morning.nurse_id == nurse.id and evening.nurse_id == nurse.id
    assert _unplanned(result) == {midday.id: "no_qualified_nurse"}


def test_plan_day_merges_back_to_back_shifts(session, make_nurse, make_order, run_plan):
    make_nurse(shifts=((8, 12), (12, 16)))
    # Neither shift alone holds an hour's visit starting by 11:45.
    order = make_order(window=(11.5, 11.75), item=ServiceItemFactory(duration_min=60))
    result = run_plan()
    assert result["unplanned"] == []
    _reload(session, order)
    assert order.planned_arrival is not None


def test_plan_day_merges_back_to_back_shifts_across_midnight(session, make_nurse, make_order,
                                                             run_plan):
    make_nurse(shifts=((20, 24), (24, 28)))
    # Begun by 23:48 and 30 minutes long, it ends in the next day's shift.
    order = make_order(window=(23.75, 23.8))
    result = run_plan()
    assert result["unplanned"] == []
    _reload(session, order)
    assert order.planned_arrival is not None


def test_plan_day_keeps_room_for_the_visits_she_accepted_in_each_stretch(
        session, make_nurse, make_order, run_plan):
    nurse = make_nurse(shifts=((8, 12), (13, 17)), max_visits_per_day=2)
    # Dispatch counts the cap over the day: both morning visits were fine to accept.
    held = [make_order(status="assigned", nurse=nurse, window=w) for w in ((9, 10), (10, 11))]
    result = run_plan()
    assert result["unplanned"] == []
    _reload(session, *held)
    assert all(o.planned_arrival is not None for o in held)


# --- unplannable orders and their reasons ------------------------------------------------


def test_plan_day_reports_no_qualified_nurse_for_a_skill_nobody_has(session, make_nurse,
                                                                    make_order, run_plan):
    make_nurse()
    plain = make_order()
    rare = make_order(item=ServiceItemFactory(required_skills=["picc_maintenance"]),
                      planned_arrival=local(9), route_position=1)
    result = run_plan()
    assert _unplanned(result) == {rare.id: "no_qualified_nurse"}
    _reload(session, plain, rare)
    assert plain.status == "assigned"
    assert (rare.status, rare.planned_arrival, rare.route_position) == ("approved", None, None)


def test_plan_day_reports_window_unreachable_when_travel_is_too_long(session, make_nurse,
                                                                     make_order, run_plan):
    make_nurse(shifts=((8.9, 18),))
    near = make_order(window=(10, 11))
    far = make_order(window=(8, 9), where=place(5, 0))
    result = run_plan()
    assert _unplanned(result) == {far.id: "window_unreachable"}
    _reload(session, near)
    assert near.status == "assigned"


def test_plan_day_reports_capacity_beyond_the_daily_cap(session, make_nurse, make_order,
                                                        run_plan):
    make_nurse(max_visits_per_day=2)
    orders = [make_order(window=(9 + k, 10 + k)) for k in range(3)]
    result = run_plan()
    unplanned = _unplanned(result)
    assert list(unplanned.values()) == ["capacity"]
    assert set(unplanned) < {o.id for o in orders}
    assert result["stats"]["planned"] == 2


# --- reproducible and safe ---------------------------------------------------------------


def test_plan_day_same_input_gives_same_plan(session, make_nurse, make_order, run_plan):
    for k in range(3):
        make_nurse(home=place(k, -k))
    orders = [make_order(window=(8 + k % 9, 10 + k % 9), where=place(k % 4, (k % 3) - 1))
              for k in range(12)]
    first = run_plan(reassign=True)
    _reload(session, *orders)
    placed = {o.id: (o.nurse_id, o.planned_arrival, o.route_position) for o in orders}
    # With reassign nothing is pinned: the second run sees the very same problem.
    second = run_plan(reassign=True)
    _reload(session, *orders)
    assert {o.id: (o.nurse_id, o.planned_arrival, o.route_position) for o in orders} == placed
    assert second["routes"] == first["routes"]
    assert second["stats"]["reassigned"] == 0


def test_plan_day_skips_orders_changed_while_solving(session, make_nurse, make_order, run_plan,
                                                     monkeypatch, supervisor_actor):
    make_nurse()
    kept = make_order(window=(9, 11))
    cancelled = make_order(window=(13, 15))
    solve = service.planner.plan

    def solve_while_the_family_cancels(*args, **kwargs):
        transition(session, cancelled, "cancelled", actor=supervisor_actor, now=MORNING,
                   reason="family called")
        session.flush()
        return solve(*args, **kwargs)

    monkeypatch.setattr(service.planner, "plan", solve_while_the_family_cancels)
    result = run_plan()
    assert result["skipped"] == [{"order_id": cancelled.id, "status": "cancelled"}]
    _reload(session, kept, cancelled)
    assert kept.status == "assigned"
    assert (cancelled.status, cancelled.nurse_id, cancelled.planned_arrival) == (
        "cancelled", None, None)


def test_plan_day_leaves_the_day_of_a_nurse_who_accepted_a_visit_while_solving(
        session, make_nurse, make_order, run_plan, config, monkeypatch):
    from homecare.accounts.models import User
    from homecare.dispatch import offers
    from homecare.dispatch.models import Offer

    nurse = make_nurse()
    planned = make_order(window=(9, 9.1))
    taken = make_order(window=(9, 9.1), where=place(3, 0), status="offered",
                       dispatch_round=1)
    offer = Offer(order_id=taken.id, nurse_id=nurse.id, round=1, status="open",
                  distance_km=3.0, eta_min=10.0, score=0.5,
                  expires_at=MORNING + timedelta(minutes=5))
    session.add(offer)
    session.commit()
    solve = service.planner.plan

    def solve_while_she_accepts(*args, **kwargs):
        result = solve(*args, **kwargs)
        # Between the solve and the write: the plan has not seen her new visit.
        offers.accept_offer(session=session, actor=actor_of(session.get(User, nurse.user_id)),
                            offer_id=offer.id, now=MORNING, config=config)
        return result

    monkeypatch.setattr(service.planner, "plan", solve_while_she_accepts)
    result = run_plan()
    assert _unplanned(result) == {planned.id: "nurse_day_changed"}
    assert result["skipped"] == [{"order_id": taken.id, "status": "assigned"}]
    held = session.scalars(sa.select(Order.id).where(Order.nurse_id == nurse.id)).all()
    assert held == [taken.id]
    _reload(session, planned)
    assert (planned.status, planned.planned_arrival) == ("approved", None)


def test_plan_day_holds_no_transaction_while_solving(session, make_nurse, make_order,
                                                     run_plan, monkeypatch):
    make_nurse()
    make_order()
    solve = service.planner.plan
    seen = []

    def solve_and_look(*args, **kwargs):
        seen.append(session().in_transaction())
        return solve(*args, **kwargs)

    monkeypatch.setattr(service.planner, "plan", solve_and_look)
    run_plan()
    assert seen == [False]


def test_plan_day_tells_nurse_whose_pinned_visit_moved_in_time(session, make_nurse, make_order,
                                                               run_plan):
    nurse = make_nurse()
    make_order(status="assigned", nurse=nurse, window=(9, 11), planned_arrival=local(10.5),
               route_position=1)
    run_plan()
    kinds = session.scalars(sa.select(Notification.kind).where(
        Notification.user_id == nurse.user_id)).all()
    assert kinds == ["schedule_changed"]


def test_plan_day_does_not_tell_nurse_whose_day_is_unchanged(session, make_nurse, make_order,
                                                             run_plan):
    nurse = make_nurse()
    make_order(status="assigned", nurse=nurse, window=(9, 11))
    run_plan()
    before = session.scalar(sa.select(sa.func.count(Notification.id)).where(
        Notification.user_id == nurse.user_id))
    run_plan()
    after = session.scalar(sa.select(sa.func.count(Notification.id)).where(
        Notification.user_id == nurse.user_id))
    assert after == before


# --- who may plan ------------------------------------------------------------------------


def test_plan_day_by_the_system_without_organization_is_refused(session, run_plan):
    with pytest.raises(OrganizationRequired):
        run_plan(organization_id=None)


def test_plan_day_beyond_the_booking_horizon_is_refused(session, run_plan, config):
    beyond = DAY + timedelta(days=config.booking_horizon_days + 1)
    with pytest.raises(DayBeyondHorizon):
        run_plan(day=beyond)


def test_plan_day_in_the_past_is_refused(session, run_plan):
    with pytest.raises(DayInPast):
        run_plan(now=local(30))


def test_plan_day_by_supervisor_plans_her_own_organization(session, make_nurse, make_order,
                                                           run_plan, supervisor_actor, org):
    make_nurse()
    make_order()
    result = run_plan(actor=supervisor_actor, organization_id=None)
    assert result["organization_id"] == org.id


def test_plan_day_for_another_organization_is_not_found(session, run_plan, supervisor_actor,
                                                        other_org):
    from homecare.accounts.service import OrganizationNotFound

    with pytest.raises(OrganizationNotFound):
        run_plan(actor=supervisor_actor, organization_id=other_org.id)


# --- the morning job and re-planning -----------------------------------------------------


def test_plan_all_organizations_plans_each_organization(session, make_nurse, make_order, org,
                                                        other_org, config):
    ours = make_order()
    theirs = make_order(organization=other_org)
    make_nurse()
    make_nurse(organization=other_org)
    summary = plan_all_organizations(session=session, day=DAY, now=MORNING, config=config)
    _reload(session, ours, theirs)
    assert ours.status == "assigned" and theirs.status == "assigned"
    assert summary["planned"] >= 2 and summary["failed"] == []
    planned_orgs = set(session.scalars(sa.select(DayPlan.organization_id)))
    assert {org.id, other_org.id} <= planned_orgs


def test_plan_all_organizations_rerun_plans_the_same_way(session, make_nurse, make_order,
                                                         config):
    for k in range(2):
        make_nurse(home=place(k, k))
    orders = [make_order(window=(8 + k, 10 + k), where=place(k % 3, 0)) for k in range(6)]
    plan_all_organizations(session=session, day=DAY, now=MORNING, config=config)
    _reload(session, *orders)
    placed = {o.id: (o.nurse_id, o.planned_arrival) for o in orders}
    again = plan_all_organizations(session=session, day=DAY, now=MORNING, config=config)
    _reload(session, *orders)
    assert {o.id: (o.nurse_id, o.planned_arrival) for o in orders} == placed
    assert again["assigned"] == 0


def test_plan_all_organizations_goes_on_after_one_fails(session, make_nurse, make_order, org,
                                                        other_org, config, monkeypatch):
    make_nurse(organization=other_org)
    theirs = make_order(organization=other_org)
    real = service.load_day

    def broken_for_org(session, **kwargs):
        if kwargs["organization_id"] == org.id:
            raise RuntimeError("boom")
        return real(session, **kwargs)

    monkeypatch.setattr(service, "load_day", broken_for_org)
    # As in production, the day's data is committed before the job runs: the
    # failing organization's rollback must not take it away.
    session.commit()
    summary = plan_all_organizations(session=session, day=DAY, now=MORNING, config=config)
    assert org.id in summary["failed"]
    _reload(session, theirs)
    assert theirs.status == "assigned"


# --- reading plans and schedules ---------------------------------------------------------


def test_get_day_plan_returns_the_latest_plan(session, make_nurse, make_order, run_plan,
                                              supervisor_actor):
    make_nurse()
    make_order()
    run_plan(now=MORNING)
    latest = run_plan(now=MORNING + timedelta(hours=1))
    got = get_day_plan(session=session, actor=supervisor_actor, day=DAY)
    assert got["id"] == latest["id"] and got["created_at"] == MORNING + timedelta(hours=1)


def test_get_day_plan_of_unplanned_day_is_not_found(session, supervisor_actor):
    with pytest.raises(DayPlanNotFound):
        get_day_plan(session=session, actor=supervisor_actor, day=DAY)


def test_nurse_schedule_lists_her_visits_in_visiting_order(session, make_nurse, make_order,
                                                        config):
    from homecare.auth import Actor

    nurse = make_nurse()
    second = make_order(status="assigned", nurse=nurse, window=(9, 11), route_position=2,
                        planned_arrival=local(10))
    first = make_order(status="completed", nurse=nurse, window=(8, 9), route_position=1,
                       planned_arrival=local(8))
    unplanned = make_order(status="assigned", nurse=nurse, window=(7, 8))
    make_order(status="cancelled", nurse=nurse, window=(12, 13))
    make_order(status="assigned", nurse=make_nurse(), window=(9, 10))
    actor = Actor(user_id=nurse.user_id, role="nurse", organization_id=nurse.organization_id)
    schedule = nurse_schedule(session=session, actor=actor, now=MORNING, config=config, day=DAY)
    # Without a planned arrival, the window's start stands in for it.
    assert [v["order_id"] for v in schedule["visits"]] == [unplanned.id, first.id, second.id]


def test_nurse_schedule_puts_a_visit_assigned_after_the_plan_in_time_order(
        session, make_nurse, make_order, run_plan, config, supervisor_actor):
    from homecare.accounts.models import User
    from homecare.dispatch.service import assign_nurse

    nurse = make_nurse()
    morning, afternoon = make_order(window=(10, 10.5)), make_order(window=(15, 15.5))
    run_plan()
    midday = make_order(window=(12, 12.5))
    session.commit()
    assign_nurse(session=session, actor=supervisor_actor, order_id=midday.id,
                 nurse_id=nurse.id, now=MORNING, config=config)
    schedule = nurse_schedule(session=session, actor=actor_of(session.get(User, nurse.user_id)),
                              now=MORNING, config=config, day=DAY)
    assert [v["order_id"] for v in schedule["visits"]] == [morning.id, midday.id, afternoon.id]


def test_nurse_schedule_defaults_to_today(session, make_nurse, make_order, config):
    from homecare.auth import Actor

    nurse = make_nurse()
    today = make_order(status="assigned", nurse=nurse)
    make_order(status="assigned", nurse=nurse, day=DAY + timedelta(days=1))
    actor = Actor(user_id=nurse.user_id, role="nurse", organization_id=nurse.organization_id)
    schedule = nurse_schedule(session=session, actor=actor, now=MORNING, config=config)
    assert schedule["date"] == DAY
    assert [v["order_id"] for v in schedule["visits"]] == [today.id]


def test_nurse_schedule_puts_each_recipient_shown_on_the_audit_trail(session, make_nurse,
                                                                     make_order, config):
    from homecare.audit.models import AuditEntry
    from homecare.auth import Actor

    nurse = make_nurse()
    visits = [make_order(status="assigned", nurse=nurse, window=(h, h + 1)) for h in (9, 11)]
    make_order(status="assigned", nurse=make_nurse(), window=(9, 10))
    actor = Actor(user_id=nurse.user_id, role="nurse", organization_id=nurse.organization_id,
                  ip="10.8.0.7")
    nurse_schedule(session=session, actor=actor, now=MORNING, config=config, day=DAY)
    entries = session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "patient.read")
                              .order_by(AuditEntry.id)).all()
    assert [(e.object_id, e.detail) for e in entries] == [
        (o.patient_id, {"part": "schedule", "order_id": o.id}) for o in visits]
    assert {(e.actor_id, e.ip) for e in entries} == {(nurse.user_id, "10.8.0.7")}


def test_nurse_schedule_without_nurse_profile_is_not_found(session, org, config):
    from homecare.auth import Actor

    user = UserFactory(role="nurse", organization_id=org.id)
    actor = Actor(user_id=user.id, role="nurse", organization_id=org.id)
    with pytest.raises(NurseNotFound):
        nurse_schedule(session=session, actor=actor, now=MORNING, config=config)


def test_plan_day_result_has_each_planned_order_once(session, make_nurse, make_order,
                                                     run_plan, org):
    for k in range(2):
        make_nurse(home=place(k, 0))
    orders = [make_order(window=(9, 12), where=place(k % 2, 0)) for k in range(5)]
    result = run_plan()
    ids = [s["order_id"] for r in result["routes"] for s in r["stops"]]
    ids += list(_unplanned(result))
    assert sorted(ids) == sorted(o.id for o in orders)
    assert session.scalar(sa.select(sa.func.count(Order.id)).where(
        Order.organization_id == org.id, Order.status == "assigned")) == \
        len(ids) - len(result["unplanned"])


def test_plan_day_leaves_out_nurses_without_shifts(session, make_nurse, make_order, run_plan):
    on_shift = make_nurse()
    off = make_nurse(shifts=())
    make_order()
    result = run_plan()
    assert [r["nurse_id"] for r in result["routes"]] == [on_shift.id]
    assert off.id not in {r["nurse_id"] for r in result["routes"]}

"""Repairing a planned day as it changes: a change through the API queues one repair
(debounced), the jobs process runs it, the supervisor sees it in
``GET /dispatch/plan/repairs`` and on her event stream; nobody else does."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import NamedTuple

import pytest
import sqlalchemy as sa

from conftest import assert_problem
from homecare.alerts.models import Alert
from homecare.auth import Actor
from homecare.db import atomic
from homecare.errors import Conflict
from homecare.nurses.models import Nurse
from homecare.orders.models import Order
from homecare.orders.states import transition
from homecare.scheduling import repair_queue
from homecare.scheduling.models import DayPlan, DayRepair
from homecare.scheduling.service import DayChangedMeanwhile
from jobs import repair_days
from tests.factories import NurseFactory, ShiftFactory, UserFactory, auth, booked_order
from tests.helpers import API, local_time
from tests.liveday.conftest import DAY, NOW
from tests.liveday.test_event_stream_routes import _events

SECOND = timedelta(seconds=1)


class Planned(NamedTuple):
    first: Order  # hers, 11:00-13:00
    second: Order  # hers, 14:00-16:00
    colleague_id: int


def _book(org, item, nurse_id, start_hour):
    return booked_order(org, status="assigned", item=item, nurse_id=nurse_id,
                        window_start=local_time(DAY, start_hour),
                        window_end=local_time(DAY, start_hour + 2))


@pytest.fixture
def planned(client, session, org, nurse, item, supervisor, now):
    """``nurse`` with two visits later today, a free colleague, and the day planned
    through the API (the morning plan a supervisor asks for)."""
    colleague = NurseFactory(organization_id=org.id)
    for someone in (nurse, colleague):
        ShiftFactory(nurse_id=someone.id, start=local_time(DAY, 8), end=local_time(DAY, 18))
    first, second = _book(org, item, nurse.id, 11), _book(org, item, nurse.id, 14)
    session.commit()
    r = client.post(f"{API}/dispatch/plan?date={DAY.isoformat()}", headers=auth(supervisor))
    assert r.status_code == 200, r.get_json()
    return Planned(first, second, colleague.id)


def _cancel(client, order, supervisor):
    r = client.post(f"{API}/orders/{order.id}/cancel", headers=auth(supervisor),
                    json={"reason": "family called"})
    assert r.status_code == 200, r.get_json()


def _unassign(client, order, supervisor):
    r = client.post(f"{API}/orders/{order.id}/unassign", headers=auth(supervisor),
                    json={"reason": "she is needed elsewhere"})
    assert r.status_code == 200, r.get_json()


def _repairs(session, org):
    session.expire_all()
    return list(session.scalars(sa.select(DayRepair).where(
        DayRepair.organization_id == org.id).order_by(DayRepair.id)))


def _dropped(diff):
    """order id -> (the nurse it was dropped from, why), of a repair's diff."""
    return {d["order_id"]: (d["from_nurse_id"], d["reason"]) for d in diff["dropped"]}


def _list(client, user, day=DAY):
    return client.get(f"{API}/dispatch/plan/repairs?date={day.isoformat()}", headers=auth(user))


def test_a_cancellation_on_a_planned_day_queues_one_repair(client, session, org, nurse,
                                                           supervisor, planned):
    _cancel(client, planned.first, supervisor)
    (repair,) = _repairs(session, org)
    assert (repair.state, repair.day, repair.attempts) == ("pending", DAY, 0)
    assert repair.reasons == [{"kind": "order_cancelled", "order_id": planned.first.id,
                               "nurse_id": nurse.id}]
    assert repair.first_change_at == NOW
    assert repair.due_at == NOW + 5 * SECOND  # HOMECARE_REPAIR_DEBOUNCE_SECONDS


def test_changes_within_the_debounce_make_one_repair(client, session, org, nurse, supervisor,
                                                     planned, pin_clock):
    _cancel(client, planned.first, supervisor)
    pin_clock(NOW + 3 * SECOND)
    _unassign(client, planned.second, supervisor)
    (repair,) = _repairs(session, org)
    assert repair.reasons == [
        {"kind": "order_cancelled", "order_id": planned.first.id, "nurse_id": nurse.id},
        {"kind": "unassigned", "order_id": planned.second.id, "nurse_id": nurse.id}]
    # Pushed back by the second change...
    assert repair.due_at == NOW + 8 * SECOND
    pin_clock(NOW + 28 * SECOND)
    r = client.post(f"{API}/nurses/{nurse.id}/unavailability", headers=auth(supervisor),
                    json={"from": (NOW + 28 * SECOND).isoformat(),
                          "until": local_time(DAY, 20).isoformat(), "reason": "fever"})
    assert r.status_code == 201, r.get_json()
    (repair,) = _repairs(session, org)
    assert repair.reasons[-1] == {"kind": "nurse_unavailable", "nurse_id": nurse.id}
    # ... but never beyond HOMECARE_REPAIR_MAX_DELAY_SECONDS after the first change.
    assert repair.due_at == NOW + 30 * SECOND


def test_a_day_without_a_plan_gets_no_repair(client, session, org, item, nurse, supervisor,
                                             now):
    order = _book(org, item, nurse.id, 11)
    session.commit()
    _cancel(client, order, supervisor)
    assert _repairs(session, org) == []


def test_a_change_to_another_day_queues_nothing_for_the_planned_one(
        client, session, org, item, nurse, supervisor, planned):
    tomorrow = booked_order(org, status="assigned", item=item, nurse_id=nurse.id,
                            window_start=local_time(DAY + timedelta(days=1), 11),
                            window_end=local_time(DAY + timedelta(days=1), 13))
    session.commit()
    _cancel(client, tomorrow, supervisor)
    assert _repairs(session, org) == []


def test_the_job_runs_the_due_repair_and_stores_the_diff(app, client, session, org, nurse,
                                                         supervisor, planned):
    _cancel(client, planned.first, supervisor)
    assert repair_days.run(app, NOW + 4 * SECOND) == {}  # not due yet
    assert _repairs(session, org)[0].state == "pending"

    assert repair_days.run(app, NOW + 5 * SECOND) == {"repaired": 1}
    (repair,) = _repairs(session, org)
    assert (repair.state, repair.attempts, repair.error) == ("done", 1, None)
    assert repair.started_at == repair.finished_at == NOW + 5 * SECOND
    plan = session.get(DayPlan, repair.day_plan_id)
    assert plan.organization_id == org.id and plan.result["kind"] == "repair"
    assert plan.result["reasons"] == repair.reasons
    assert _dropped(plan.result["diff"]) == {planned.first.id: (nurse.id, "order_cancelled")}
    assert repair_days.run(app, NOW + 60 * SECOND) == {}  # nothing left to do


def test_the_supervisor_lists_the_days_repairs_newest_first(app, client, session, org, nurse,
                                                            supervisor, planned, pin_clock):
    _cancel(client, planned.first, supervisor)
    repair_days.run(app, NOW + 5 * SECOND)
    pin_clock(NOW + 10 * SECOND)
    _unassign(client, planned.second, supervisor)

    r = _list(client, supervisor)
    assert r.status_code == 200, r.get_json()
    assert "X-Pagination" in r.headers
    newest, done = r.get_json()
    assert newest["state"] == "pending" and newest["diff"] is None
    assert newest["reasons"] == [{"kind": "unassigned", "order_id": planned.second.id,
                                  "nurse_id": nurse.id}]
    assert done["state"] == "done" and done["date"] == DAY.isoformat()
    assert done["reasons"] == [{"kind": "order_cancelled", "order_id": planned.first.id,
                                "nurse_id": nurse.id}]
    assert _dropped(done["diff"]) == {planned.first.id: (nurse.id, "order_cancelled")}
    assert done["day_plan_id"] is not None and done["attempts"] == 1
    assert _list(client, supervisor, DAY + timedelta(days=1)).get_json() == []


def test_nobody_else_sees_the_repairs(client, session, org, other_org, supervisor, nurse_user,
                                      patient, admin, planned):
    _cancel(client, planned.first, supervisor)
    stranger = UserFactory(role="supervisor", organization_id=other_org.id)
    session.commit()
    assert _list(client, stranger).get_json() == []
    assert_problem(_list(client, nurse_user), 403)
    assert_problem(_list(client, patient), 403)
    assert_problem(_list(client, admin), 422)  # an admin names the organization
    r = client.get(f"{API}/dispatch/plan/repairs?date={DAY.isoformat()}"
                   f"&organization_id={org.id}", headers=auth(admin))
    assert [repair["state"] for repair in r.get_json()] == ["pending"]
    r = client.get(f"{API}/dispatch/plan/repairs?date={DAY.isoformat()}"
                   f"&organization_id={org.id}", headers=auth(stranger))
    assert_problem(r, 404)


def _stream(client, user, last_event_id=None):
    headers = auth(user)
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    r = client.get(f"{API}/events/stream", headers=headers)
    assert r.status_code == 200, r.get_data(as_text=True)
    return _events(r.get_data(as_text=True))


def test_the_stream_tells_the_supervisor_of_a_finished_repair(app, client, session, org, nurse,
                                                              other_org, supervisor, planned):
    stranger = UserFactory(role="supervisor", organization_id=other_org.id)
    session.commit()
    (ready,) = _stream(client, supervisor)
    (elsewhere,) = _stream(client, stranger)
    _cancel(client, planned.first, supervisor)
    repair_days.run(app, NOW + 5 * SECOND)
    repair = _repairs(session, org)[0]

    repairs = [data for _, name, data in _stream(client, supervisor, ready[0])
               if name == "repair"]
    assert repairs == [{"day_plan_id": repair.day_plan_id, "date": DAY.isoformat(),
                        "created_at": (NOW + 5 * SECOND).astimezone(UTC).isoformat(),
                        **session.get(DayPlan, repair.day_plan_id).result["diff"]}]
    assert _dropped(repairs[0]) == {planned.first.id: (nurse.id, "order_cancelled")}
    assert [name for _, name, _ in _stream(client, stranger, elsewhere[0])] == ["ready"]


def test_a_failing_repair_is_retried_with_backoff_then_given_up_with_an_alert(
        app, client, session, org, supervisor, planned, monkeypatch):
    calls = []

    def broken(**kwargs):
        calls.append(kwargs["day"])
        raise RuntimeError("solver exploded")

    monkeypatch.setattr(repair_queue, "repair_day", broken)
    _cancel(client, planned.first, supervisor)
    at = NOW + 5 * SECOND
    for attempt, wait in enumerate((10, 20, 40, 80), start=1):
        assert repair_days.run(app, at) == {"retry": 1}
        (repair,) = _repairs(session, org)
        assert (repair.state, repair.attempts) == ("pending", attempt)
        assert repair.due_at == at + wait * SECOND
        # The exception's message stays in the log: it may quote SQL, hosts, values.
        assert repair.error == (f"the repair failed (RuntimeError; see the jobs log for "
                                f"repair {repair.id})")
        assert repair_days.run(app, at + (wait - 1) * SECOND) == {}  # backing off
        at += wait * SECOND
    assert repair_days.run(app, at) == {"gave_up": 1}
    (repair,) = _repairs(session, org)
    assert (repair.state, repair.attempts) == ("failed", 5) and calls == [DAY] * 5
    alert = session.scalar(sa.select(Alert).where(Alert.kind == "repair_failed",
                                                  Alert.organization_id == org.id))
    assert alert is not None and "could not be repaired" in alert.detail
    assert [row["state"] for row in _list(client, supervisor).get_json()] == ["failed"]


def test_a_repair_the_day_keeps_changing_under_is_retried_soon_without_an_alert(
        app, client, session, org, supervisor, planned, monkeypatch):
    real = repair_queue.repair_day

    def beaten(**kwargs):
        raise DayChangedMeanwhile("orders [] and the days of nurses [1] changed")

    monkeypatch.setattr(repair_queue, "repair_day", beaten)
    _cancel(client, planned.first, supervisor)
    at = NOW + 5 * SECOND
    # More times than repair_max_attempts (5): a busy day is not a failing repair.
    for _ in range(7):
        assert repair_days.run(app, at) == {"changed": 1}
        (repair,) = _repairs(session, org)
        assert (repair.state, repair.attempts) == ("pending", 0)
        assert repair.due_at == at + 10 * SECOND  # no doubling
        at += 10 * SECOND
    assert session.scalar(sa.select(Alert).where(Alert.kind == "repair_failed")) is None
    monkeypatch.setattr(repair_queue, "repair_day", real)
    assert repair_days.run(app, at) == {"repaired": 1}


def test_unavailability_moves_her_visits_to_a_colleague_and_the_diff_says_so(
        app, client, session, org, nurse, supervisor, planned):
    r = client.post(f"{API}/nurses/{nurse.id}/unavailability", headers=auth(supervisor),
                    json={"from": NOW.isoformat(), "until": local_time(DAY, 20).isoformat(),
                          "reason": "fever"})
    assert r.status_code == 201, r.get_json()
    assert repair_days.run(app, NOW + 5 * SECOND) == {"repaired": 1}

    session.expire_all()
    for order in (planned.first, planned.second):
        moved = session.get(Order, order.id)
        assert (moved.status, moved.nurse_id) == ("assigned", planned.colleague_id)
        assert moved.planned_arrival is not None
    (done,) = _list(client, supervisor).get_json()
    assert {"kind": "nurse_unavailable", "nurse_id": nurse.id} in done["reasons"]
    moved = {m["order_id"]: m for m in done["diff"]["moved"]}
    assert set(moved) == {planned.first.id, planned.second.id}
    for entry in moved.values():
        assert (entry["from_nurse_id"], entry["to_nurse_id"]) == (nurse.id,
                                                                  planned.colleague_id)
        assert entry["reason"] == "nurse_unavailable"
    plan = client.get(f"{API}/dispatch/plan?date={DAY.isoformat()}", headers=auth(supervisor))
    routes = {route["nurse_id"]: [s["order_id"] for s in route["stops"]]
              for route in plan.get_json()["routes"]}
    assert routes.get(nurse.id, []) == []  # off shift: no route at all
    assert sorted(routes[planned.colleague_id]) == sorted([planned.first.id,
                                                           planned.second.id])


def test_a_no_show_and_a_new_booking_approved_queue_the_day_too(
        client, session, org, item, nurse, supervisor, planned):
    r = client.post(f"{API}/orders/{planned.first.id}/no-show", headers=auth(supervisor),
                    json={"reason": "not at home"})
    assert r.status_code == 200, r.get_json()
    booked = booked_order(org, status="submitted", item=item,
                          window_start=local_time(DAY, 15), window_end=local_time(DAY, 17))
    session.commit()
    r = client.post(f"{API}/orders/{booked.id}/approve", headers=auth(supervisor), json={})
    assert r.status_code == 200, r.get_json()
    (repair,) = _repairs(session, org)
    assert repair.reasons == [
        {"kind": "no_show", "order_id": planned.first.id, "nurse_id": nurse.id},
        {"kind": "order_added", "order_id": booked.id}]


def test_a_nurse_handing_a_visit_back_queues_the_day(client, session, org, nurse, nurse_user,
                                                     planned):
    r = client.post(f"{API}/orders/{planned.second.id}/unassign", headers=auth(nurse_user),
                    json={"reason": "my child is ill"})
    assert r.status_code == 200, r.get_json()
    (repair,) = _repairs(session, org)
    assert repair.reasons == [{"kind": "unassigned", "order_id": planned.second.id,
                               "nurse_id": nurse.id}]


@pytest.mark.parametrize(("start", "end", "kind"), [
    ("offered", "expired", "order_cancelled"),
    ("approved", "expired", "order_cancelled"),
    ("offered", "approved", None),  # offers ran out: it was on no route
    ("approved", "assigned", None),  # dispatch or the plan placed it
    ("assigned", "en_route", None),
])
def test_which_moves_of_a_planned_days_order_queue_a_repair(session, org, item, planned,
                                                            start, end, kind):
    order = booked_order(org, status=start, item=item, window_start=local_time(DAY, 15),
                         window_end=local_time(DAY, 17),
                         nurse_id=planned.colleague_id if start == "assigned" else None)
    session.commit()
    changes = {"nurse_id": planned.colleague_id} if end == "assigned" else {}
    transition(session, order, end, actor=None if end != "en_route" else _nurse_actor(
        session, planned.colleague_id), now=NOW, **changes)
    session.commit()
    reasons = [r for repair in _repairs(session, org) for r in repair.reasons]
    assert [r["kind"] for r in reasons] == ([kind] if kind else [])


def _nurse_actor(session, nurse_id):
    nurse = session.get(Nurse, nurse_id)
    return Actor(user_id=nurse.user_id, role="nurse", organization_id=nurse.organization_id)


def test_a_change_rolled_back_queues_nothing(session, org, planned):
    transition(session, session.get(Order, planned.first.id), "approved", actor=None, now=NOW,
               nurse_id=None, planned_arrival=None)
    session.rollback()
    session.commit()  # the next transaction does not carry the first one's request
    assert _repairs(session, org) == []


def test_a_savepoint_released_mid_change_writes_no_repair_before_the_commit(
        session, org, planned):
    # The pending row is written last, as the transaction commits (after its order and
    # nurse locks), not when some step's savepoint is released: locks in one order.
    transition(session, session.get(Order, planned.first.id), "approved", actor=None, now=NOW,
               nurse_id=None, planned_arrival=None)
    with session.begin_nested():
        pass
    assert session.scalar(sa.select(sa.func.count(DayRepair.id))) == 0
    session.commit()
    assert [r["kind"] for r in _repairs(session, org)[0].reasons] == ["unassigned"]


def test_a_change_refused_inside_atomic_queues_nothing(session, org, planned):
    @atomic
    def take_back_then_refuse(*, session):
        transition(session, session.get(Order, planned.first.id), "approved", actor=None,
                   now=NOW, nurse_id=None, planned_arrival=None)
        raise Conflict("refused after the move")

    with pytest.raises(Conflict):
        take_back_then_refuse(session=session)
    session.commit()
    session.expire_all()
    assert session.get(Order, planned.first.id).status == "assigned"
    assert _repairs(session, org) == []

"""PATCH /family-beds/{id}: a changed plan, end date or responsible nurse, and the future
visits that follow it (cancelled, created, kept), on a controlled clock."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from conftest import assert_problem
from homecare.notifications.models import Notification
from homecare.orders.models import Order
from homecare.orders.states import transition
from tests.factories import NurseFactory, auth
from tests.family_beds.conftest import API, TODAY, line, post_bed

# TODAY is a Tuesday: the horizon (TODAY ... TODAY + 7) runs Tue 7 ... Tue 14 May 2030.
MON_WED_FRI = [1, 3, 5]


def _patch(client, user, bed_id, body):
    return client.patch(f"{API}/family-beds/{bed_id}", json=body, headers=auth(user))


def _by_date(bed: dict) -> dict:
    return {v["service_date"]: v for v in bed["visits"]}


def _accept(session, order_id, nurse) -> None:
    """A nurse holds the visit (as an accepted offer leaves it)."""
    transition(session, session.get(Order, order_id), "assigned", actor=None,
               now=session.get(Order, order_id).created_at, nurse_id=nurse.id)
    session.commit()


def _day(n: int) -> str:
    return (TODAY + timedelta(days=n)).isoformat()


def test_change_plan_cancels_what_no_longer_fits_creates_what_is_missing_keeps_the_rest(
        client, session, clock, supervisor, org, fixed_body, item, second_item):
    bed = post_bed(client, supervisor, fixed_body)
    before = _by_date(bed)
    thursday = before[_day(2)]["order_id"]
    _accept(session, thursday, NurseFactory(organization_id=org.id))
    r = _patch(client, supervisor, bed["id"], {"plan": [
        line(item, MON_WED_FRI, "14:00", "16:00"), line(second_item, [2], "10:00", "12:00")]})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["plan_version"] == 2 and len(body["plan"]) == 2
    mon_wed_fri = [before[_day(n)]["order_id"] for n in (1, 3, 6)]
    not_fitting = [before[_day(n)]["order_id"] for n in (4, 5, 7)]
    assert sorted(body["changes"]["cancelled"]) == sorted(not_fitting)
    assert body["changes"]["kept"] == [thursday]
    visits = {v["order_id"]: v for v in body["visits"]}
    # Today's visit is the first round (查床): due whatever the plan.
    first_round = before[_day(0)]["order_id"]
    assert (visits[first_round]["first_round"], visits[first_round]["status"]) == (True,
                                                                                  "approved")
    # The visits that fit the new plan are the same orders, now of its line 1.
    assert all((visits[o]["status"], visits[o]["plan_version"], visits[o]["line_no"])
               == ("approved", 2, 1) for o in mon_wed_fri)
    assert {visits[o]["status"] for o in not_fitting} == {"cancelled"}
    assert {visits[o]["withdrawn"] for o in not_fitting} == {"plan_changed"}
    assert visits[thursday]["status"] == "assigned"
    created = [visits[o] for o in body["changes"]["created"]]
    assert [(v["service_code"], v["service_date"], v["line_no"]) for v in created] == [
        (second_item.code, _day(0), 2), (second_item.code, _day(7), 2)]


def test_change_plan_tells_the_family_of_each_cancelled_visit(
        client, session, clock, supervisor, patient, fixed_body, item):
    bed = post_bed(client, supervisor, fixed_body)
    body = _patch(client, supervisor, bed["id"],
                  {"plan": [line(item, MON_WED_FRI, "14:00", "16:00")]}).get_json()
    session.expire_all()
    told = session.scalars(sa.select(Notification.order_id).where(
        Notification.user_id == patient.id, Notification.kind == "order_cancelled")).all()
    assert sorted(told) == sorted(body["changes"]["cancelled"]) and told


def test_change_plan_with_reschedule_accepted_cancels_an_accepted_visit(
        client, session, clock, supervisor, org, fixed_body, item):
    bed = post_bed(client, supervisor, fixed_body)
    thursday = _by_date(bed)[_day(2)]["order_id"]
    nurse = NurseFactory(organization_id=org.id)
    _accept(session, thursday, nurse)
    body = _patch(client, supervisor, bed["id"], {
        "plan": [line(item, MON_WED_FRI, "14:00", "16:00")],
        "reschedule_accepted": True}).get_json()
    assert thursday in body["changes"]["cancelled"] and body["changes"]["kept"] == []
    assert "order_cancelled" in session.scalars(sa.select(Notification.kind).where(
        Notification.user_id == nurse.user_id, Notification.order_id == thursday)).all()


def test_change_plan_twice_keeps_each_version_in_the_record(client, clock, supervisor,
                                                            fixed_body, item):
    bed = post_bed(client, supervisor, fixed_body)
    _patch(client, supervisor, bed["id"], {"plan": [line(item, MON_WED_FRI, "14:00", "16:00")]})
    clock.now += timedelta(minutes=5)
    _patch(client, supervisor, bed["id"], {"plan": [line(item, [2, 4], "14:00", "16:00")]})
    record = client.get(f"{API}/family-beds/{bed['id']}/record",
                        headers=auth(supervisor)).get_json()
    plans = [e["data"] for e in record["entries"] if e["kind"] == "plan"]
    assert [(p["plan_version"], p["plan"][0]["weekdays"]) for p in plans] == [
        (1, [1, 2, 3, 4, 5, 6, 7]), (2, MON_WED_FRI), (3, [2, 4])]


def test_change_end_date_earlier_cancels_the_visits_after_it(client, clock, supervisor,
                                                             fixed_body):
    bed = post_bed(client, supervisor, fixed_body)
    after = [v["order_id"] for v in bed["visits"] if v["service_date"] > _day(3)]
    body = _patch(client, supervisor, bed["id"], {"end_date": _day(3)}).get_json()
    assert body["end_date"] == _day(3)
    assert sorted(body["changes"]["cancelled"]) == sorted(after)
    assert {v["withdrawn"] for v in body["visits"] if v["order_id"] in after} == {"end_date"}
    assert body["changes"]["created"] == []


def test_change_end_date_later_generates_up_to_the_horizon(client, clock, supervisor,
                                                           fixed_body):
    fixed_body["end_date"] = _day(2)
    bed = post_bed(client, supervisor, fixed_body)
    assert len(bed["visits"]) == 3
    body = _patch(client, supervisor, bed["id"], {"end_date": _day(20)}).get_json()
    assert [v["service_date"] for v in body["visits"]] == [_day(n) for n in range(8)]
    assert len(body["changes"]["created"]) == 5


def test_change_responsible_nurse_is_an_event_and_touches_no_visit(client, session, clock,
                                                                   supervisor, org, fixed_body):
    bed = post_bed(client, supervisor, fixed_body)
    nurse = NurseFactory(organization_id=org.id)
    session.commit()
    body = _patch(client, supervisor, bed["id"], {"responsible_nurse_id": nurse.id}).get_json()
    assert body["responsible_nurse_id"] == nurse.id
    assert body["changes"] == {"cancelled": [], "created": [], "kept": []}
    record = client.get(f"{API}/family-beds/{bed['id']}/record",
                        headers=auth(supervisor)).get_json()
    events = [e["data"] for e in record["entries"] if e["kind"] == "event"]
    assert events == [{"event": "responsible_nurse_changed", "actor_id": supervisor.id,
                       "from": None, "to": nurse.id}]


def test_change_family_bed_with_another_organizations_nurse_is_422(
        client, session, clock, supervisor, other_org, fixed_body):
    bed = post_bed(client, supervisor, fixed_body)
    stranger = NurseFactory(organization_id=other_org.id)
    session.commit()
    body = assert_problem(_patch(client, supervisor, bed["id"],
                                 {"responsible_nurse_id": stranger.id}), 422, "unknown_nurse")
    assert "responsible_nurse_id" in body["errors"]


def test_change_end_date_in_the_past_is_422(client, clock, supervisor, fixed_body):
    bed = post_bed(client, supervisor, fixed_body)
    assert_problem(_patch(client, supervisor, bed["id"], {"end_date": _day(-1)}), 422,
                   "end_date_in_past")


def test_change_end_date_beyond_the_maximum_is_422(client, clock, supervisor, fixed_body):
    bed = post_bed(client, supervisor, fixed_body)
    assert_problem(_patch(client, supervisor, bed["id"], {"end_date": _day(90)}), 422,
                   "episode_too_long")


def test_change_family_bed_with_nothing_is_422(client, clock, supervisor, fixed_body):
    bed = post_bed(client, supervisor, fixed_body)
    assert_problem(_patch(client, supervisor, bed["id"], {}), 422, "nothing_to_change")


def test_change_family_bed_with_unknown_field_is_422(client, clock, supervisor, fixed_body):
    bed = post_bed(client, supervisor, fixed_body)
    assert_problem(_patch(client, supervisor, bed["id"], {"status": "closed"}), 422,
                   "validation_failed")


def test_change_closed_family_bed_is_409(client, clock, supervisor, fixed_body):
    bed = post_bed(client, supervisor, fixed_body)
    client.post(f"{API}/family-beds/{bed['id']}/close", headers=auth(supervisor),
                json={"reason": "improved", "summary": "病情稳定"})
    assert_problem(_patch(client, supervisor, bed["id"], {"end_date": _day(5)}), 409,
                   "family_bed_already_closed")


def test_change_another_organizations_family_bed_is_404(client, clock, supervisor,
                                                        other_supervisor, fixed_body):
    bed = post_bed(client, supervisor, fixed_body)
    assert_problem(_patch(client, other_supervisor, bed["id"], {"end_date": _day(5)}), 404,
                   "family_bed_not_found")


def test_change_family_bed_by_the_owner_is_403(client, clock, supervisor, patient, fixed_body):
    bed = post_bed(client, supervisor, fixed_body)
    assert_problem(_patch(client, patient, bed["id"], {"end_date": _day(5)}), 403, "forbidden")

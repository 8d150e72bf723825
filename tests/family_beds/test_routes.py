"""Route tests for family beds: open, list, read, close; every refusal as problem+json,
the organization boundary, owner and supervisor visibility, the 24 h first round.

These go through the real clock: episodes start on the local tomorrow with windows
from 09:00, which lie ahead whatever the time of day the suite runs at.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from conftest import assert_problem
from homecare.auth import Actor
from homecare.clock import utcnow
from homecare.family_beds import service
from homecare.orders.models import Order
from homecare.orders.states import transition
from tests.factories import (
    AddressFactory,
    CareRecipientFactory,
    FamilyBedFactory,
    FamilyBedPlanLineFactory,
    ServiceItemFactory,
    UserFactory,
    auth,
)
from tests.family_beds.conftest import NOW, TODAY, line, local_tomorrow
from tests.helpers import API


@pytest.fixture
def opened(client, supervisor, bed_body):
    """An episode opened through the API (from tomorrow, every day 09:00-11:00)."""
    r = client.post(f"{API}/family-beds", json=bed_body, headers=auth(supervisor))
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def _post(client, user, body):
    return client.post(f"{API}/family-beds", json=body, headers=auth(user))


def _close(client, user, bed_id, body=None):
    return client.post(f"{API}/family-beds/{bed_id}/close", headers=auth(user),
                       json=body if body is not None else {"reason": "improved",
                                                           "summary": "病情稳定，转门诊随访"})


# ---------------------------------------------------------------- POST /family-beds


def test_open_family_bed_is_201_with_plan_visits_and_first_round(client, supervisor, org,
                                                                 bed_body, item):
    r = _post(client, supervisor, bed_body)
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert (body["status"], body["organization_id"], body["opened_by"]) == ("open", org.id,
                                                                            supervisor.id)
    assert body["plan"] == [{"line_no": 1, "service_code": item.code,
                             "weekdays": [1, 2, 3, 4, 5, 6, 7], "window_start": "09:00",
                             "window_end": "11:00"}]
    tomorrow = local_tomorrow()
    # Tomorrow up to today + 7 days: the horizon.
    assert [v["service_date"] for v in body["visits"]] == [
        (tomorrow + timedelta(days=n)).isoformat() for n in range(7)]
    assert {v["status"] for v in body["visits"]} == {"approved"}
    assert [v["first_round"] for v in body["visits"]] == [True] + [False] * 6
    assert body["closed_at"] is None and "first_round_due" in body


def test_open_family_bed_weekdays_are_iso_monday_is_1(client, supervisor, bed_body, item):
    tomorrow = local_tomorrow()
    bed_body["plan"] = [line(item, [tomorrow.isoweekday()])]
    visits = _post(client, supervisor, bed_body).get_json()["visits"]
    assert {date.fromisoformat(v["service_date"]).isoweekday() for v in visits} == {
        tomorrow.isoweekday()}


def test_open_family_bed_with_no_visit_in_24h_adds_a_first_round(client, supervisor, bed_body,
                                                                 item):
    tomorrow = local_tomorrow()
    planned = tomorrow + timedelta(days=2)
    bed_body["plan"] = [line(item, [planned.isoweekday()])]
    visits = _post(client, supervisor, bed_body).get_json()["visits"]
    assert [(v["service_date"], v["first_round"]) for v in visits] == [
        (tomorrow.isoformat(), True), (planned.isoformat(), False)]
    assert visits[0]["window_start"] < visits[1]["window_start"]


def test_open_family_bed_orders_are_the_patients_orders(client, session, patient, opened):
    r = client.get(f"{API}/orders", headers=auth(patient))
    assert {o["id"] for o in r.get_json()} >= {v["order_id"] for v in opened["visits"]}


def test_open_family_bed_by_patient_is_403(client, patient, bed_body):
    assert_problem(_post(client, patient, bed_body), 403, "forbidden")


def test_open_family_bed_by_nurse_is_403(client, nurse_user, bed_body):
    assert_problem(_post(client, nurse_user, bed_body), 403, "forbidden")


def test_open_family_bed_without_token_is_401(client, bed_body):
    assert_problem(client.post(f"{API}/family-beds", json=bed_body), 401)


def test_open_family_bed_with_unknown_field_is_422(client, supervisor, bed_body):
    bed_body["ward"] = "3A"
    body = assert_problem(_post(client, supervisor, bed_body), 422, "validation_failed")
    assert "ward" in body["errors"]


def test_open_family_bed_with_unknown_field_in_a_plan_line_is_422(client, supervisor, bed_body):
    bed_body["plan"][0]["nurse_id"] = 3
    body = assert_problem(_post(client, supervisor, bed_body), 422, "validation_failed")
    assert "nurse_id" in body["errors"]["plan"]["0"]


@pytest.mark.parametrize("field, value", [
    ("window_start", "9:00"), ("window_start", "09:00:00"), ("window_end", "24:00"),
    ("weekdays", [0]), ("weekdays", [8]), ("weekdays", [1, 1]), ("weekdays", []),
    ("weekdays", ["1"]), ("service_code", "bad code"),
])
def test_open_family_bed_with_malformed_plan_line_is_422(client, supervisor, bed_body, field,
                                                         value):
    bed_body["plan"][0][field] = value
    body = assert_problem(_post(client, supervisor, bed_body), 422, "validation_failed")
    assert field in body["errors"]["plan"]["0"]


@pytest.mark.parametrize("field, value", [
    ("plan", []), ("diagnosis", "  "), ("diagnosis", "a\x00b"), ("start_date", "tomorrow"),
    ("end_date", "9999-12-31"), ("patient_id", "1"),
])
def test_open_family_bed_with_malformed_field_is_422(client, supervisor, bed_body, field, value):
    bed_body[field] = value
    body = assert_problem(_post(client, supervisor, bed_body), 422, "validation_failed")
    assert field in body["errors"]


def test_open_family_bed_without_plan_is_422(client, supervisor, bed_body):
    del bed_body["plan"]
    assert "plan" in assert_problem(_post(client, supervisor, bed_body), 422)["errors"]


def test_open_family_bed_for_unknown_recipient_is_422(client, supervisor, bed_body):
    bed_body["patient_id"] = 999999
    assert_problem(_post(client, supervisor, bed_body), 422, "unknown_patient")


def test_open_family_bed_for_recipient_of_another_organization_is_422(
        client, session, other_supervisor, bed_body):
    assert_problem(_post(client, other_supervisor, bed_body), 422, "unknown_patient")


def test_open_family_bed_at_another_recipients_address_is_422(client, session, supervisor, org,
                                                              bed_body):
    bed_body["address_id"] = AddressFactory(organization_id=org.id).id
    session.commit()
    assert_problem(_post(client, supervisor, bed_body), 422, "unknown_address")


def test_open_family_bed_at_an_address_another_organization_serves_is_422(
        client, session, supervisor, recipient, other_org, bed_body):
    bed_body["address_id"] = AddressFactory(patient_id=recipient.id,
                                            organization_id=other_org.id,
                                            lat=36.65, lng=117.12).id
    session.commit()
    assert_problem(_post(client, supervisor, bed_body), 422, "unknown_address")


def test_open_family_bed_at_an_unserved_address_is_422(client, session, supervisor, recipient,
                                                       bed_body):
    bed_body["address_id"] = AddressFactory(patient_id=recipient.id, organization_id=None,
                                            outside_service_area=True, lat=31.23,
                                            lng=121.47).id
    session.commit()
    assert_problem(_post(client, supervisor, bed_body), 422, "outside_service_area")


def test_open_family_bed_starting_yesterday_is_422(client, supervisor, bed_body):
    bed_body["start_date"] = (local_tomorrow() - timedelta(days=2)).isoformat()
    body = assert_problem(_post(client, supervisor, bed_body), 422, "start_date_in_past")
    assert "start_date" in body["errors"]


def test_open_family_bed_ending_before_it_starts_is_422(client, supervisor, bed_body):
    bed_body["end_date"] = (local_tomorrow() - timedelta(days=1)).isoformat()
    assert_problem(_post(client, supervisor, bed_body), 422, "end_before_start")


def test_open_family_bed_longer_than_90_days_is_422(client, supervisor, bed_body):
    bed_body["end_date"] = (local_tomorrow() + timedelta(days=90)).isoformat()
    body = assert_problem(_post(client, supervisor, bed_body), 422, "episode_too_long")
    assert body["max_days"] == 90


def test_open_family_bed_with_unknown_item_is_422_naming_the_line(client, supervisor, bed_body):
    bed_body["plan"][0]["service_code"] = "NO_SUCH_ITEM"
    body = assert_problem(_post(client, supervisor, bed_body), 422, "unknown_service")
    assert body["plan_line"] == 1 and "service_code" in body["errors"]["plan"]["0"]


def test_open_family_bed_with_withdrawn_item_is_422(client, session, supervisor, bed_body):
    bed_body["plan"][0]["service_code"] = ServiceItemFactory(active=False).code
    session.commit()
    assert_problem(_post(client, supervisor, bed_body), 422, "unknown_service")


def test_open_family_bed_with_window_shorter_than_the_item_is_422(client, supervisor, bed_body,
                                                                  second_item):
    bed_body["plan"].append(line(second_item, start="14:00", end="14:30"))
    body = assert_problem(_post(client, supervisor, bed_body), 422, "window_too_short")
    assert body["plan_line"] == 2 and "window_end" in body["errors"]["plan"]["1"]


def test_open_family_bed_with_window_outside_service_hours_is_422(client, supervisor, bed_body,
                                                                  item):
    bed_body["plan"] = [line(item, start="06:00", end="08:00")]
    assert_problem(_post(client, supervisor, bed_body), 422, "outside_service_hours")


def test_open_family_bed_with_no_window_left_for_the_first_round_is_422(
        client, supervisor, bed_body, item, pin_clock):
    # A one-day episode whose only window began an hour ago: the clock is fixed at
    # 09:00 local so that "an hour ago" holds whenever the suite runs.
    pin_clock(NOW)
    bed_body.update(start_date=TODAY.isoformat(), end_date=TODAY.isoformat(),
                    plan=[line(item, start="08:00", end="10:00")])
    assert_problem(_post(client, supervisor, bed_body), 422, "first_round_not_possible")


def test_open_family_bed_while_one_is_open_is_409(client, supervisor, bed_body, opened):
    body = assert_problem(_post(client, supervisor, bed_body), 409, "family_bed_already_open")
    assert body["family_bed_id"] == opened["id"]


def test_open_family_bed_refused_creates_no_orders(client, session, supervisor, bed_body,
                                                   recipient):
    bed_body["end_date"] = (local_tomorrow() + timedelta(days=90)).isoformat()
    _post(client, supervisor, bed_body)
    assert session.scalar(sa.select(sa.func.count()).select_from(Order).where(
        Order.patient_id == recipient.id)) == 0


def test_open_family_bed_generation_rerun_creates_nothing(client, session, supervisor, opened,
                                                          config):
    counts = service.extend_family_beds(session=session, now=utcnow(), config=config)
    assert "orders_created" not in counts
    r = client.get(f"{API}/family-beds/{opened['id']}", headers=auth(supervisor))
    assert r.get_json()["visits"] == opened["visits"]


# ---------------------------------------------------------------- GET /family-beds


def test_list_family_beds_for_supervisor_is_her_organizations_paginated(client, supervisor,
                                                                        opened):
    r = client.get(f"{API}/family-beds", headers=auth(supervisor))
    assert r.status_code == 200
    assert [b["id"] for b in r.get_json()] == [opened["id"]]
    assert json.loads(r.headers["X-Pagination"])["total"] == 1
    assert "visits" not in r.get_json()[0]


def test_list_family_beds_pages_latest_start_first(client, session, supervisor, org, item):
    starts = [local_tomorrow() + timedelta(days=n) for n in (0, 5, 2)]
    for start in starts:
        recipient = CareRecipientFactory()
        address = AddressFactory(patient_id=recipient.id, organization_id=org.id)
        bed = FamilyBedFactory(organization_id=org.id, patient_id=recipient.id,
                               address_id=address.id, opened_by=supervisor.id,
                               start_date=start)
        FamilyBedPlanLineFactory(family_bed_id=bed.id, service_code=item.code)
    session.commit()
    r = client.get(f"{API}/family-beds?page_size=2", headers=auth(supervisor))
    assert [b["start_date"] for b in r.get_json()] == [starts[1].isoformat(),
                                                       starts[2].isoformat()]
    assert json.loads(r.headers["X-Pagination"])["total"] == 3
    assert r.get_json()[0]["plan"][0]["window_start"] == "09:00"


def test_list_family_beds_of_another_organization_is_empty(client, other_supervisor, opened):
    r = client.get(f"{API}/family-beds", headers=auth(other_supervisor))
    assert r.status_code == 200 and r.get_json() == []


def test_list_family_beds_for_owner_is_her_recipients(client, patient, opened):
    r = client.get(f"{API}/family-beds", headers=auth(patient))
    assert [b["id"] for b in r.get_json()] == [opened["id"]]
    assert r.get_json()[0]["diagnosis"] == "脑梗后遗症，长期卧床"


def test_list_family_beds_for_another_owner_is_empty(client, session, opened):
    stranger = UserFactory(role="patient")
    session.commit()
    assert client.get(f"{API}/family-beds", headers=auth(stranger)).get_json() == []


def test_list_family_beds_filters_by_status(client, supervisor, opened):
    r = client.get(f"{API}/family-beds?status=closed", headers=auth(supervisor))
    assert r.get_json() == []
    r = client.get(f"{API}/family-beds?status=open", headers=auth(supervisor))
    assert [b["id"] for b in r.get_json()] == [opened["id"]]


def test_list_family_beds_filters_by_recipient(client, session, supervisor, org, opened):
    other = CareRecipientFactory()
    AddressFactory(patient_id=other.id, organization_id=org.id)
    session.commit()
    r = client.get(f"{API}/family-beds?patient_id={other.id}", headers=auth(supervisor))
    assert r.get_json() == []


def test_list_family_beds_with_unknown_status_is_422(client, supervisor):
    r = client.get(f"{API}/family-beds?status=pending", headers=auth(supervisor))
    assert "status" in assert_problem(r, 422, "validation_failed")["errors"]


def test_list_family_beds_page_past_the_end_is_empty(client, supervisor, opened):
    r = client.get(f"{API}/family-beds?page=99999999999999999999", headers=auth(supervisor))
    assert r.status_code == 200 and r.get_json() == []


def test_list_family_beds_by_nurse_is_403(client, nurse_user):
    assert_problem(client.get(f"{API}/family-beds", headers=auth(nurse_user)), 403, "forbidden")


# ---------------------------------------------------------------- GET /family-beds/{id}


def test_get_family_bed_for_supervisor_has_plan_and_visits(client, supervisor, opened):
    r = client.get(f"{API}/family-beds/{opened['id']}", headers=auth(supervisor))
    assert r.status_code == 200
    assert r.get_json() == opened


def test_get_family_bed_for_owner_is_200(client, patient, opened):
    r = client.get(f"{API}/family-beds/{opened['id']}", headers=auth(patient))
    assert r.status_code == 200 and len(r.get_json()["visits"]) == 7


def test_get_family_bed_of_another_organization_is_404(client, other_supervisor, opened):
    r = client.get(f"{API}/family-beds/{opened['id']}", headers=auth(other_supervisor))
    assert assert_problem(r, 404, "family_bed_not_found")["family_bed_id"] == opened["id"]


def test_get_family_bed_of_another_owner_is_404(client, session, opened):
    stranger = UserFactory(role="patient")
    session.commit()
    r = client.get(f"{API}/family-beds/{opened['id']}", headers=auth(stranger))
    assert_problem(r, 404, "family_bed_not_found")


def test_get_missing_family_bed_is_404(client, supervisor):
    assert_problem(client.get(f"{API}/family-beds/999999", headers=auth(supervisor)), 404,
                   "family_bed_not_found")


def test_get_family_bed_by_nurse_is_403(client, nurse_user, opened):
    r = client.get(f"{API}/family-beds/{opened['id']}", headers=auth(nurse_user))
    assert_problem(r, 403, "forbidden")


# ---------------------------------------------------------------- POST /family-beds/{id}/close


def test_close_family_bed_is_200_closed_with_who_and_why(client, supervisor, opened):
    r = _close(client, supervisor, opened["id"])
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert (body["status"], body["closed_by"]) == ("closed", supervisor.id)
    assert (body["close_reason"], body["summary"]) == ("improved", "病情稳定，转门诊随访")
    assert body["closed_at"] is not None


def test_close_family_bed_cancels_the_visits_not_started(client, supervisor, opened):
    visits = _close(client, supervisor, opened["id"]).get_json()["visits"]
    assert {v["status"] for v in visits} == {"cancelled"}
    assert len(visits) == len(opened["visits"])


def test_close_family_bed_keeps_started_and_completed_visits(client, session, supervisor,
                                                             nurse, opened):
    as_nurse = Actor(user_id=nurse.user_id, role="nurse", organization_id=nurse.organization_id)
    now = utcnow()
    steps = {0: ("en_route", "in_service", "completed"), 1: ("en_route", "in_service"),
             2: ("en_route",), 3: ()}
    for index, walk in steps.items():
        order = session.get(Order, opened["visits"][index]["order_id"])
        transition(session, order, "assigned", actor=None, now=now, nurse_id=nurse.id)
        for status in walk:
            transition(session, order, status, actor=as_nurse, now=now)
    session.commit()
    visits = _close(client, supervisor, opened["id"]).get_json()["visits"]
    assert [v["status"] for v in visits] == ["completed", "in_service", "en_route"] + [
        "cancelled"] * 4


def test_close_family_bed_twice_is_409(client, supervisor, opened):
    _close(client, supervisor, opened["id"])
    body = assert_problem(_close(client, supervisor, opened["id"]), 409,
                          "family_bed_already_closed")
    assert body["family_bed_id"] == opened["id"] and body["closed_at"]


def test_close_family_bed_of_another_organization_is_404(client, other_supervisor, opened):
    assert_problem(_close(client, other_supervisor, opened["id"]), 404, "family_bed_not_found")


def test_close_missing_family_bed_is_404(client, supervisor):
    assert_problem(_close(client, supervisor, 999999), 404, "family_bed_not_found")


def test_close_family_bed_by_owner_is_403(client, patient, opened):
    assert_problem(_close(client, patient, opened["id"]), 403, "forbidden")


@pytest.mark.parametrize("body", [
    {"reason": "improved"}, {"summary": "病情稳定"}, {"reason": " ", "summary": "病情稳定"},
    {"reason": "好转撤床", "summary": "病情稳定"},
    {"reason": "improved", "summary": "病情稳定", "cancel_orders": False},
])
def test_close_family_bed_with_invalid_body_is_422(client, supervisor, opened, body):
    assert_problem(_close(client, supervisor, opened["id"], body), 422, "validation_failed")


def test_open_family_bed_after_closing_is_201(client, supervisor, bed_body, opened):
    _close(client, supervisor, opened["id"])
    assert _post(client, supervisor, bed_body).status_code == 201

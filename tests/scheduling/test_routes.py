"""Routes: POST/GET /dispatch/plan and GET /nurses/me/schedule."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from conftest import assert_problem
from homecare.accounts.models import User
from homecare.db import db
from homecare.scheduling.models import DayPlan
from tests.factories import ServiceItemFactory, UserFactory, auth
from tests.helpers import API
from tests.scheduling.helpers import ZONE, place

# "Now" is pinned (10:00 in Shanghai) and every date derives from it: a run that
# crossed the local midnight used to see two different todays.
NOW = datetime(2030, 5, 7, 2, 0, tzinfo=UTC)
TODAY = NOW.astimezone(ZONE).date()
TOMORROW = TODAY + timedelta(days=1)


@pytest.fixture(autouse=True)
def clock(pin_clock):
    pin_clock(NOW)


@pytest.fixture(autouse=True)
def small_budget(app, monkeypatch):
    monkeypatch.setitem(app.config, "HOMECARE",
                        replace(app.config["HOMECARE"], planning_iterations=300))


@pytest.fixture
def nurse_on_shift(make_nurse):
    return make_nurse(day=TOMORROW)


def _user(user_id: int) -> User:
    return db.session.get(User, user_id)


def _plan(client, user, **query):
    query.setdefault("date", TOMORROW.isoformat())
    return client.post(f"{API}/dispatch/plan", query_string=query, headers=auth(user))


# --- POST /dispatch/plan -----------------------------------------------------------------


def test_plan_returns_routes_with_stops_and_the_unplanned(client, supervisor, nurse_on_shift,
                                                          make_order, org):
    order = make_order(day=TOMORROW, window=(9, 11))
    rare = make_order(day=TOMORROW, item=ServiceItemFactory(required_skills=["ostomy_care"]))
    r = _plan(client, supervisor)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert (body["date"], body["organization_id"]) == (TOMORROW.isoformat(), org.id)
    [route] = body["routes"]
    assert route["nurse_id"] == nurse_on_shift.id and route["nurse_name"]
    [stop] = route["stops"]
    assert stop["order_id"] == order.id and stop["service_code"] == order.service_code
    arrival = datetime.fromisoformat(stop["planned_arrival"])
    assert order.window_start <= arrival <= order.window_end
    for field in ("start", "end", "window_start", "window_end"):
        assert datetime.fromisoformat(stop[field]).tzinfo is not None
    assert body["unplanned"] == [{"order_id": rare.id, "reason": "no_qualified_nurse"}]
    assert body["stats"]["planned"] == 1 and body["created_at"]


def test_plan_assigns_the_order_to_the_planned_nurse(client, supervisor, nurse_on_shift,
                                                     make_order, session):
    order = make_order(day=TOMORROW)
    assert _plan(client, supervisor).status_code == 200
    session.refresh(order)
    assert (order.status, order.nurse_id) == ("assigned", nurse_on_shift.id)


def test_plan_with_reassign_moves_an_accepted_order(client, supervisor, make_nurse, make_order,
                                                    session):
    holder = make_nurse(day=TOMORROW, home=place(8, 0))
    near = make_nurse(day=TOMORROW)
    order = make_order(day=TOMORROW, status="assigned", nurse=holder)
    assert _plan(client, supervisor).status_code == 200
    session.refresh(order)
    assert order.nurse_id == holder.id
    r = _plan(client, supervisor, reassign="true")
    assert r.get_json()["reassign"] is True
    session.refresh(order)
    assert order.nurse_id == near.id


def test_plan_with_bad_date_is_422_naming_date(client, supervisor):
    body = assert_problem(_plan(client, supervisor, date="2030-02-30"), 422, "validation_failed")
    assert "date" in body["errors"]


def test_plan_without_date_is_422(client, supervisor):
    r = client.post(f"{API}/dispatch/plan", headers=auth(supervisor))
    body = assert_problem(r, 422, "validation_failed")
    assert "date" in body["errors"]


def test_plan_with_unknown_query_field_is_422(client, supervisor):
    body = assert_problem(_plan(client, supervisor, fast="yes"), 422, "validation_failed")
    assert "fast" in body["errors"]


def test_plan_of_a_past_day_is_422_day_in_past(client, supervisor):
    yesterday = TOMORROW - timedelta(days=2)
    body = assert_problem(_plan(client, supervisor, date=yesterday.isoformat()), 422,
                          "day_in_past")
    assert body["date"] == yesterday.isoformat()


def test_plan_beyond_the_booking_horizon_is_422_day_beyond_horizon(client, supervisor):
    body = assert_problem(_plan(client, supervisor, date="9999-12-31"), 422,
                          "day_beyond_horizon")
    assert body["date"] == "9999-12-31"
    assert body["last_date"] == (TODAY + timedelta(days=14)).isoformat()


@pytest.mark.parametrize("method", ["post", "get"])
def test_plan_with_an_organization_id_beyond_any_row_is_422(client, admin, method):
    r = getattr(client, method)(f"{API}/dispatch/plan", headers=auth(admin), query_string={
        "date": TOMORROW.isoformat(), "organization_id": "99999999999999999999"})
    body = assert_problem(r, 422, "validation_failed")
    assert "organization_id" in body["errors"]


def test_plan_without_token_is_401(client):
    r = client.post(f"{API}/dispatch/plan", query_string={"date": TOMORROW.isoformat()})
    assert_problem(r, 401, "unauthorized")


def test_plan_as_nurse_is_403(client, nurse_on_shift):
    assert_problem(_plan(client, _user(nurse_on_shift.user_id)), 403, "forbidden")


def test_plan_for_another_organization_is_404(client, supervisor, other_org):
    r = _plan(client, supervisor, organization_id=other_org.id)
    assert_problem(r, 404, "organization_not_found")


def test_plan_by_another_organizations_supervisor_plans_only_hers(client, other_org,
                                                                  nurse_on_shift, make_order,
                                                                  session):
    ours = make_order(day=TOMORROW)
    theirs = UserFactory(role="supervisor", organization_id=other_org.id)
    r = _plan(client, theirs)
    assert r.status_code == 200
    assert r.get_json()["organization_id"] == other_org.id
    assert r.get_json()["routes"] == []
    session.refresh(ours)
    assert (ours.status, ours.planned_arrival) == ("approved", None)


def test_plan_as_admin_without_organization_is_422(client, admin):
    assert_problem(_plan(client, admin), 422, "organization_required")


def test_plan_as_admin_for_an_organization_plans_it(client, admin, org, nurse_on_shift,
                                                    make_order, session):
    order = make_order(day=TOMORROW)
    r = _plan(client, admin, organization_id=org.id)
    assert r.status_code == 200
    assert r.get_json()["created_by"] == admin.id
    session.refresh(order)
    assert order.status == "assigned"


def test_plan_as_admin_for_unknown_organization_is_404(client, admin):
    assert_problem(_plan(client, admin, organization_id=999999), 404, "organization_not_found")


# --- GET /dispatch/plan ------------------------------------------------------------------


def test_get_plan_of_unplanned_day_is_404(client, supervisor):
    r = client.get(f"{API}/dispatch/plan", query_string={"date": TOMORROW.isoformat()},
                   headers=auth(supervisor))
    assert_problem(r, 404, "day_plan_not_found")


def test_get_plan_returns_what_the_plan_answered(client, supervisor, nurse_on_shift,
                                                 make_order):
    make_order(day=TOMORROW)
    planned = _plan(client, supervisor).get_json()
    r = client.get(f"{API}/dispatch/plan", query_string={"date": TOMORROW.isoformat()},
                   headers=auth(supervisor))
    assert r.status_code == 200
    assert r.get_json() == planned


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01"])
def test_get_plan_of_a_day_at_the_end_of_the_calendar_is_404(client, supervisor, day):
    r = client.get(f"{API}/dispatch/plan", query_string={"date": day},
                   headers=auth(supervisor))
    assert_problem(r, 404, "day_plan_not_found")


def test_get_plan_of_another_organization_is_404(client, other_org, nurse_on_shift,
                                                 make_order, supervisor):
    make_order(day=TOMORROW)
    _plan(client, supervisor)
    theirs = UserFactory(role="supervisor", organization_id=other_org.id)
    r = client.get(f"{API}/dispatch/plan", query_string={"date": TOMORROW.isoformat()},
                   headers=auth(theirs))
    assert_problem(r, 404, "day_plan_not_found")


# --- GET /nurses/me/schedule -------------------------------------------------------------


def test_schedule_lists_her_visits_in_order_with_place(client, supervisor, nurse_on_shift,
                                                       make_order):
    late = make_order(day=TOMORROW, window=(14, 16), where=place(1, 1))
    early = make_order(day=TOMORROW, window=(9, 10), where=place(1, 0))
    _plan(client, supervisor)
    r = client.get(f"{API}/nurses/me/schedule", query_string={"date": TOMORROW.isoformat()},
                   headers=auth(_user(nurse_on_shift.user_id)))
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["nurse_id"] == nurse_on_shift.id and body["plan_created_at"]
    assert [v["order_id"] for v in body["visits"]] == [early.id, late.id]
    visit = body["visits"][0]
    assert visit["route_position"] == 1 and visit["planned_arrival"]
    assert visit["recipient_name"] and visit["address_text"] and visit["service_name_zh"]
    assert visit["lat"] == pytest.approx(place(1, 0)[0])
    assert set(visit["gcj02"]) == {"lat", "lng"}


def test_schedule_shows_only_her_own_visits(client, make_nurse, make_order, nurse_on_shift):
    other = make_nurse(day=TOMORROW)
    make_order(day=TOMORROW, status="assigned", nurse=other)
    r = client.get(f"{API}/nurses/me/schedule", query_string={"date": TOMORROW.isoformat()},
                   headers=auth(_user(nurse_on_shift.user_id)))
    assert r.get_json()["visits"] == []


def test_schedule_defaults_to_today(client, nurse_on_shift, make_order):
    today = TODAY
    order = make_order(day=today, status="assigned", nurse=nurse_on_shift, window=(0.5, 23))
    make_order(day=TOMORROW, status="assigned", nurse=nurse_on_shift)
    r = client.get(f"{API}/nurses/me/schedule", headers=auth(_user(nurse_on_shift.user_id)))
    assert r.get_json()["date"] == today.isoformat()
    assert [v["order_id"] for v in r.get_json()["visits"]] == [order.id]


def test_schedule_without_nurse_profile_is_404(client, org):
    user = UserFactory(role="nurse", organization_id=org.id)
    r = client.get(f"{API}/nurses/me/schedule", headers=auth(user))
    assert_problem(r, 404, "nurse_not_found")


def test_schedule_with_bad_date_is_422(client, nurse_on_shift):
    r = client.get(f"{API}/nurses/me/schedule", query_string={"date": "tomorrow"},
                   headers=auth(_user(nurse_on_shift.user_id)))
    body = assert_problem(r, 422, "validation_failed")
    assert "date" in body["errors"]


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01"])
def test_schedule_of_a_day_at_the_end_of_the_calendar_is_empty(client, nurse_on_shift, day):
    r = client.get(f"{API}/nurses/me/schedule", query_string={"date": day},
                   headers=auth(_user(nurse_on_shift.user_id)))
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["visits"] == []


def test_schedule_as_supervisor_is_403(client, supervisor):
    assert_problem(client.get(f"{API}/nurses/me/schedule", headers=auth(supervisor)), 403,
                   "forbidden")


def test_plan_changes_nothing_when_refused(client, supervisor, org, other_org, nurse_on_shift,
                                           make_order, session):
    order = make_order(day=TOMORROW)
    _plan(client, supervisor, organization_id=other_org.id)
    session.refresh(order)
    assert (order.status, order.planned_arrival) == ("approved", None)
    assert session.scalar(sa.select(sa.func.count(DayPlan.id)).where(
        DayPlan.organization_id.in_([org.id, other_org.id]))) == 0

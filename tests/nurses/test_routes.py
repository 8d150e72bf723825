"""Route tests for nurse profiles, the qualification gate, search, shifts and pings."""

from datetime import timedelta

import pytest
import sqlalchemy as sa
from geopy.distance import geodesic

from conftest import assert_problem
from homecare.clock import utcnow
from homecare.nurses.models import LocationPing, Nurse, Shift
from tests.factories import NurseFactory, ShiftFactory, UserFactory, auth, booked_order
from tests.helpers import API
from tests.nurses.conftest import nurse_body


def iso(dt):
    return dt.isoformat()


# --- create and the qualification gate -----------------------------------------------

def test_create_nurse_returns_201_with_profile(client, supervisor, nurse_account, org):
    r = client.post(f"{API}/nurses", json=nurse_body(nurse_account.id), headers=auth(supervisor))
    assert r.status_code == 201, r.get_json()
    got = r.get_json()
    assert got["id"] and got["organization_id"] == org.id and got["active"] is True
    assert got["qualified"] is True and got["unmet"] == []
    assert got["name"] == nurse_account.name
    assert got["home"]["lat"] == 35.402 and set(got["home"]["gcj02"]) == {"lat", "lng"}


def test_create_active_nurse_below_experience_is_422_naming_the_rule(client, supervisor,
                                                                    nurse_account, session):
    body = assert_problem(client.post(f"{API}/nurses", headers=auth(supervisor),
                                      json=nurse_body(nurse_account.id, years_experience=3)),
                          422, "nurse_not_qualified")
    assert body["unmet"] == ["years_experience >= 5"]
    assert "years_experience >= 5" in body["detail"]
    assert session.scalar(sa.select(Nurse).where(Nurse.user_id == nurse_account.id)) is None


def test_create_active_nurse_below_title_and_experience_names_both(client, supervisor,
                                                                  nurse_account):
    body = assert_problem(client.post(f"{API}/nurses", headers=auth(supervisor), json=nurse_body(
        nurse_account.id, years_experience=2, title="nurse")), 422, "nurse_not_qualified")
    assert body["unmet"] == ["years_experience >= 5", "title >= senior_nurse"]


def test_create_inactive_nurse_below_gate_is_201_and_not_qualified(client, supervisor,
                                                                  nurse_account):
    r = client.post(f"{API}/nurses", headers=auth(supervisor), json=nurse_body(
        nurse_account.id, title="nurse", active=False))
    assert r.status_code == 201
    assert r.get_json()["qualified"] is False
    assert r.get_json()["unmet"] == ["title >= senior_nurse"]


def test_create_nurse_for_account_of_other_org_is_404(client, supervisor, other_org):
    stranger = UserFactory(role="nurse", organization_id=other_org.id)
    assert_problem(client.post(f"{API}/nurses", json=nurse_body(stranger.id),
                               headers=auth(supervisor)), 404, "user_not_found")


def test_create_nurse_for_a_supervisor_account_is_422(client, supervisor, org):
    colleague = UserFactory(role="supervisor", organization_id=org.id)
    assert_problem(client.post(f"{API}/nurses", json=nurse_body(colleague.id),
                               headers=auth(supervisor)), 422, "not_a_nurse_account")


def test_create_nurse_twice_is_409(client, supervisor, nurse):
    assert_problem(client.post(f"{API}/nurses", json=nurse_body(nurse.user_id),
                               headers=auth(supervisor)), 409, "nurse_profile_exists")


def test_create_nurse_with_unknown_skill_is_422(client, supervisor, nurse_account):
    body = assert_problem(client.post(f"{API}/nurses", headers=auth(supervisor), json=nurse_body(
        nurse_account.id, skills=["vital_signs", "massage"])), 422, "validation_failed")
    assert "skills" in body["errors"]


def test_create_nurse_with_unknown_title_is_422(client, supervisor, nurse_account):
    body = assert_problem(client.post(f"{API}/nurses", headers=auth(supervisor), json=nurse_body(
        nurse_account.id, title="head_nurse")), 422)
    assert "title" in body["errors"]


def test_create_nurse_with_radius_above_maximum_is_422(client, supervisor, nurse_account, config):
    # The documented maximum (30) is the schema's; a lower configured one the service's.
    body = assert_problem(client.post(f"{API}/nurses", headers=auth(supervisor), json=nurse_body(
        nurse_account.id, service_radius_km=config.max_service_radius_km + 1)),
        422, "validation_failed")
    assert "service_radius_km" in body["errors"]


def test_create_nurse_home_in_gcj02_is_stored_as_wgs84(client, supervisor, nurse_account,
                                                       session):
    from homecare.geo import wgs84_to_gcj02

    gcj = wgs84_to_gcj02(35.4020, 116.5650)
    r = client.post(f"{API}/nurses", headers=auth(supervisor), json=nurse_body(
        nurse_account.id, home={"lat": gcj.lat, "lng": gcj.lng, "coord_system": "gcj02"}))
    stored = session.get(Nurse, r.get_json()["id"])
    assert geodesic((stored.home_lat, stored.home_lng), (35.4020, 116.5650)).m < 0.5


def test_create_nurse_by_nurse_is_403(client, nurse_user, nurse_account):
    assert_problem(client.post(f"{API}/nurses", json=nurse_body(nurse_account.id),
                               headers=auth(nurse_user)), 403)


def test_create_nurse_with_missing_home_is_422(client, supervisor, nurse_account):
    body = nurse_body(nurse_account.id)
    del body["home"]
    assert "home" in assert_problem(client.post(f"{API}/nurses", json=body,
                                                headers=auth(supervisor)), 422)["errors"]


# --- read and update ----------------------------------------------------------------

def test_get_nurse_me_returns_her_profile(client, nurse, nurse_user):
    r = client.get(f"{API}/nurses/me", headers=auth(nurse_user))
    assert r.status_code == 200 and r.get_json()["id"] == nurse.id


def test_get_nurse_me_without_profile_is_404(client, nurse_account):
    assert_problem(client.get(f"{API}/nurses/me", headers=auth(nurse_account)), 404,
                   "nurse_not_found")


def test_get_nurse_by_supervisor(client, supervisor, nurse):
    r = client.get(f"{API}/nurses/{nurse.id}", headers=auth(supervisor))
    assert r.status_code == 200 and r.get_json()["skills"] == nurse.skills


def test_get_nurse_of_other_org_is_404(client, other_org, nurse):
    other = UserFactory(role="supervisor", organization_id=other_org.id)
    assert_problem(client.get(f"{API}/nurses/{nurse.id}", headers=auth(other)), 404,
                   "nurse_not_found")


def test_get_another_nurse_by_nurse_is_404(client, org, nurse):
    colleague = NurseFactory(organization_id=org.id)
    from homecare.accounts.models import User
    from homecare.db import db

    assert_problem(client.get(f"{API}/nurses/{nurse.id}",
                              headers=auth(db.session.get(User, colleague.user_id))), 404)


def test_patch_supervisor_activates_qualified_nurse(client, supervisor, org):
    nurse = NurseFactory(organization_id=org.id, active=False)
    r = client.patch(f"{API}/nurses/{nurse.id}", json={"active": True}, headers=auth(supervisor))
    assert r.status_code == 200 and r.get_json()["active"] is True


def test_patch_activating_unqualified_nurse_is_422_and_changes_nothing(client, session,
                                                                      supervisor, org):
    nurse = NurseFactory(organization_id=org.id, active=False, years_experience=4)
    body = assert_problem(client.patch(f"{API}/nurses/{nurse.id}", json={"active": True},
                                       headers=auth(supervisor)), 422, "nurse_not_qualified")
    assert body["unmet"] == ["years_experience >= 5"]
    session.expire_all()
    assert session.get(Nurse, nurse.id).active is False


def test_patch_lowering_title_of_active_nurse_is_422(client, supervisor, nurse):
    assert_problem(client.patch(f"{API}/nurses/{nurse.id}", json={"title": "nurse"},
                                headers=auth(supervisor)), 422, "nurse_not_qualified")


def test_patch_title_and_activation_together_passes_gate(client, supervisor, org):
    nurse = NurseFactory(organization_id=org.id, active=False, title="nurse")
    r = client.patch(f"{API}/nurses/{nurse.id}", headers=auth(supervisor),
                     json={"title": "supervisor_nurse", "active": True})
    assert r.status_code == 200 and r.get_json()["qualified"] is True


def test_patch_nurse_herself_changes_radius_and_home(client, nurse, nurse_user):
    r = client.patch(f"{API}/nurses/{nurse.id}", headers=auth(nurse_user), json={
        "service_radius_km": 8, "max_visits_per_day": 5, "home": {"lat": 35.45, "lng": 116.6}})
    assert r.status_code == 200, r.get_json()
    got = r.get_json()
    assert (got["service_radius_km"], got["max_visits_per_day"]) == (8, 5)
    assert got["home"]["lat"] == 35.45


def test_patch_nurse_herself_changing_title_is_403(client, nurse, nurse_user):
    body = assert_problem(client.patch(f"{API}/nurses/{nurse.id}", headers=auth(nurse_user),
                                       json={"title": "chief_nurse", "active": False}),
                          403, "field_not_allowed")
    assert body["fields"] == ["active", "title"]


def test_patch_other_org_nurse_is_404(client, other_org, nurse):
    other = UserFactory(role="supervisor", organization_id=other_org.id)
    assert_problem(client.patch(f"{API}/nurses/{nurse.id}", json={"active": False},
                                headers=auth(other)), 404, "nurse_not_found")


def test_patch_nurse_home_off_the_globe_once_converted_is_422(client, session, supervisor,
                                                              nurse, org):
    # lat -90 in BD-09 is -90.0055 in WGS-84: stored, every search with near by her
    # organization failed (a 500) measuring the distance to her home.
    r = client.patch(f"{API}/nurses/{nurse.id}", headers=auth(supervisor),
                     json={"home": {"lat": -90, "lng": 0, "coord_system": "bd09"}})
    body = assert_problem(r, 422, "validation_failed")
    assert "lat" in body["errors"]["home"]
    assert client.get(f"{API}/nurses?near=35.4,116.6", headers=auth(supervisor)
                      ).status_code == 200


def test_create_nurse_home_off_the_globe_once_converted_is_422(client, supervisor,
                                                               nurse_account):
    r = client.post(f"{API}/nurses", headers=auth(supervisor), json=nurse_body(
        nurse_account.id, home={"lat": -90, "lng": -180, "coord_system": "bd09"}))
    assert set(assert_problem(r, 422)["errors"]["home"]) == {"lat", "lng"}


def test_patch_with_unknown_field_is_422(client, supervisor, nurse):
    body = assert_problem(client.patch(f"{API}/nurses/{nurse.id}", json={"rating_sum": 50},
                                       headers=auth(supervisor)), 422)
    assert body["errors"]["rating_sum"] == ["Unknown field."]


# --- search -----------------------------------------------------------------------------

def _ids(response):
    assert response.status_code == 200, response.get_json()
    return [n["id"] for n in response.get_json()]


def test_search_by_skill_needs_all_skills(client, supervisor, org):
    picc = NurseFactory(organization_id=org.id, skills=["picc_maintenance", "wound_care"])
    NurseFactory(organization_id=org.id, skills=["picc_maintenance"])
    r = client.get(f"{API}/nurses?skill=picc_maintenance&skill=wound_care",
                   headers=auth(supervisor))
    assert _ids(r) == [picc.id]


def test_search_with_unknown_skill_is_422(client, supervisor):
    assert "skill" in assert_problem(client.get(f"{API}/nurses?skill=flying",
                                                headers=auth(supervisor)), 422)["errors"]


def test_search_near_sorts_by_distance_and_applies_radius(client, supervisor, org):
    far = NurseFactory(organization_id=org.id, home_lat=35.60, home_lng=116.59)  # ~20 km
    near = NurseFactory(organization_id=org.id, home_lat=35.42, home_lng=116.59)  # ~0.6 km
    mid = NurseFactory(organization_id=org.id, home_lat=35.48, home_lng=116.59)  # ~7 km
    r = client.get(f"{API}/nurses?near=35.415,116.587", headers=auth(supervisor))
    assert _ids(r) == [near.id, mid.id, far.id]
    distances = [n["distance_km"] for n in r.get_json()]
    assert distances == sorted(distances)
    assert distances[0] == pytest.approx(
        geodesic((35.415, 116.587), (35.42, 116.59)).km, abs=1e-3)
    r = client.get(f"{API}/nurses?near=35.415,116.587&radius_km=10", headers=auth(supervisor))
    assert _ids(r) == [near.id, mid.id]


def test_search_near_in_gcj02_is_converted(client, supervisor, org):
    from homecare.geo import wgs84_to_gcj02

    nurse = NurseFactory(organization_id=org.id, home_lat=35.42, home_lng=116.59)
    gcj = wgs84_to_gcj02(35.42, 116.59)
    r = client.get(f"{API}/nurses?near={gcj.lat},{gcj.lng}&coord_system=gcj02&radius_km=0.01",
                   headers=auth(supervisor))
    assert _ids(r) == [nurse.id]


def test_search_radius_without_near_is_422(client, supervisor):
    body = assert_problem(client.get(f"{API}/nurses?radius_km=5", headers=auth(supervisor)), 422)
    assert "radius_km" in body["errors"]


def test_search_with_malformed_near_is_422(client, supervisor):
    body = assert_problem(client.get(f"{API}/nurses?near=jining", headers=auth(supervisor)), 422)
    assert "near" in body["errors"]


def test_search_near_off_the_globe_once_converted_is_422(client, supervisor, nurse):
    r = client.get(f"{API}/nurses?near=-89.9999,-179.9999&coord_system=bd09",
                   headers=auth(supervisor))
    body = assert_problem(r, 422, "validation_failed")
    assert "WGS-84" in " ".join(body["errors"]["near"])


def test_search_near_not_finite_is_422(client, supervisor):
    r = client.get(f"{API}/nurses?near=nan,116.5", headers=auth(supervisor))
    assert "near" in assert_problem(r, 422)["errors"]


def test_search_by_status(client, supervisor, org):
    working = NurseFactory(organization_id=org.id)
    ShiftFactory(nurse_id=working.id)
    resting = NurseFactory(organization_id=org.id)
    ShiftFactory(nurse_id=resting.id, start=utcnow() + timedelta(hours=3),
                 end=utcnow() + timedelta(hours=6))
    inactive = NurseFactory(organization_id=org.id, active=False)
    assert _ids(client.get(f"{API}/nurses?status=on_shift", headers=auth(supervisor))) == [
        working.id]
    assert _ids(client.get(f"{API}/nurses?status=inactive", headers=auth(supervisor))) == [
        inactive.id]
    assert _ids(client.get(f"{API}/nurses?status=active", headers=auth(supervisor))) == [
        working.id, resting.id]
    got = client.get(f"{API}/nurses/{working.id}", headers=auth(supervisor)).get_json()
    assert got["on_shift"] is True


def test_search_shows_only_her_organization(client, supervisor, org, other_org):
    mine = NurseFactory(organization_id=org.id)
    NurseFactory(organization_id=other_org.id)
    assert _ids(client.get(f"{API}/nurses", headers=auth(supervisor))) == [mine.id]


def test_search_by_nurse_is_403(client, nurse_user):
    assert_problem(client.get(f"{API}/nurses", headers=auth(nurse_user)), 403)


def test_search_is_paginated(client, supervisor, org):
    for _ in range(3):
        NurseFactory(organization_id=org.id)
    r = client.get(f"{API}/nurses?page=2&page_size=2", headers=auth(supervisor))
    assert len(r.get_json()) == 1
    assert '"total": 3' in r.headers["X-Pagination"]


# --- shifts ------------------------------------------------------------------------------

def _put_shifts(client, user, windows):
    return client.put(f"{API}/nurses/me/shifts", headers=auth(user),
                      json={"shifts": [{"start": iso(s), "end": iso(e)} for s, e in windows]})


def test_put_shifts_merges_overlapping_windows(client, nurse_user):
    t = utcnow().replace(microsecond=0) + timedelta(hours=1)
    r = _put_shifts(client, nurse_user, [
        (t, t + timedelta(hours=2)), (t + timedelta(hours=1), t + timedelta(hours=3)),
        (t + timedelta(hours=5), t + timedelta(hours=6))])
    assert r.status_code == 200, r.get_json()
    got = [(w["start"], w["end"]) for w in r.get_json()]
    assert got == [(iso(t), iso(t + timedelta(hours=3))),
                   (iso(t + timedelta(hours=5)), iso(t + timedelta(hours=6)))]


def test_put_shifts_replaces_future_windows(client, session, nurse, nurse_user):
    t = utcnow().replace(microsecond=0) + timedelta(hours=1)
    ShiftFactory(nurse_id=nurse.id, start=t + timedelta(hours=10), end=t + timedelta(hours=12))
    r = _put_shifts(client, nurse_user, [(t, t + timedelta(hours=1))])
    assert [w["start"] for w in r.get_json()] == [iso(t)]
    assert session.scalar(sa.select(sa.func.count()).select_from(Shift).where(
        Shift.nurse_id == nurse.id)) == 1


def test_put_shifts_keeps_running_window_resent_with_its_start(client, nurse, nurse_user):
    started = utcnow().replace(microsecond=0) - timedelta(hours=1)
    ShiftFactory(nurse_id=nurse.id, start=started, end=started + timedelta(hours=3))
    r = _put_shifts(client, nurse_user, [(started, started + timedelta(hours=5))])
    assert r.status_code == 200, r.get_json()
    assert [(w["start"], w["end"]) for w in r.get_json()] == [
        (iso(started), iso(started + timedelta(hours=5)))]


def test_put_shifts_starting_in_the_past_is_422(client, nurse_user):
    past = utcnow() - timedelta(hours=2)
    body = assert_problem(_put_shifts(client, nurse_user, [
        (utcnow() + timedelta(hours=1), utcnow() + timedelta(hours=2)),
        (past, past + timedelta(hours=4))]), 422, "shift_in_past")
    assert body["index"] == 1


def test_put_shifts_that_ended_is_422(client, nurse_user):
    past = utcnow() - timedelta(hours=5)
    assert_problem(_put_shifts(client, nurse_user, [(past, past + timedelta(hours=1))]),
                   422, "shift_in_past")


def test_put_shifts_with_end_before_start_is_422(client, nurse_user):
    t = utcnow() + timedelta(hours=2)
    body = assert_problem(_put_shifts(client, nurse_user, [(t, t - timedelta(hours=1))]),
                          422, "validation_failed")
    assert "shifts" in body["errors"]


def test_put_shifts_without_offset_is_422(client, nurse_user):
    body = assert_problem(client.put(f"{API}/nurses/me/shifts", headers=auth(nurse_user), json={
        "shifts": [{"start": "2030-01-01T08:00:00", "end": "2030-01-01T12:00:00"}]}), 422)
    assert "shifts" in body["errors"]


def test_put_shifts_without_profile_is_404(client, nurse_account):
    t = utcnow() + timedelta(hours=1)
    assert_problem(_put_shifts(client, nurse_account, [(t, t + timedelta(hours=1))]), 404,
                   "nurse_not_found")


def test_put_shifts_by_supervisor_is_403(client, supervisor):
    t = utcnow() + timedelta(hours=1)
    assert_problem(_put_shifts(client, supervisor, [(t, t + timedelta(hours=1))]), 403)


def test_get_my_shifts_lists_windows_not_ended(client, nurse, nurse_user):
    now = utcnow()
    ShiftFactory(nurse_id=nurse.id, start=now - timedelta(hours=5), end=now - timedelta(hours=4))
    upcoming = ShiftFactory(nurse_id=nurse.id, start=now + timedelta(hours=1),
                            end=now + timedelta(hours=2))
    r = client.get(f"{API}/nurses/me/shifts", headers=auth(nurse_user))
    assert [w["start"] for w in r.get_json()] == [iso(upcoming.start)]


def test_supervisor_sees_a_nurses_shifts_in_a_range(client, supervisor, nurse):
    now = utcnow().replace(microsecond=0)
    ShiftFactory(nurse_id=nurse.id, start=now + timedelta(hours=1), end=now + timedelta(hours=2))
    late = ShiftFactory(nurse_id=nurse.id, start=now + timedelta(days=2),
                        end=now + timedelta(days=2, hours=3))
    frm, to = iso(now + timedelta(days=1)), iso(now + timedelta(days=3))
    r = client.get(f"{API}/nurses/{nurse.id}/shifts", headers=auth(supervisor),
                   query_string={"from": frm, "to": to})
    assert r.status_code == 200, r.get_json()
    assert [w["start"] for w in r.get_json()] == [iso(late.start)]


def test_other_org_supervisor_cannot_see_shifts(client, other_org, nurse):
    other = UserFactory(role="supervisor", organization_id=other_org.id)
    assert_problem(client.get(f"{API}/nurses/{nurse.id}/shifts", headers=auth(other)), 404)


# --- location pings -------------------------------------------------------------------------

def _ping(client, user, **body):
    return client.post(f"{API}/nurses/me/location", headers=auth(user),
                       json={"lat": 35.41, "lng": 116.58, **body})


def test_ping_on_shift_is_kept_and_updates_her_position(client, session, nurse, nurse_user):
    ShiftFactory(nurse_id=nurse.id)
    r = _ping(client, nurse_user, accuracy_m=8)
    assert r.status_code == 201, r.get_json()
    got = r.get_json()
    assert got["tracking"] == "shift" and got["order_id"] is None
    session.expire_all()
    stored = session.get(Nurse, nurse.id)
    assert (stored.last_lat, stored.last_lng) == (35.41, 116.58)
    assert stored.last_ping_at is not None


def test_ping_on_active_order_goes_on_the_order_trace(client, session, org, nurse, nurse_user):
    order = booked_order(org, status="en_route", nurse_id=nurse.id)
    r = _ping(client, nurse_user)
    assert r.status_code == 201
    assert r.get_json()["tracking"] == "order" and r.get_json()["order_id"] == order.id
    assert session.scalar(sa.select(LocationPing.order_id)) == order.id


@pytest.mark.parametrize("status", ["assigned", "completed"])
def test_ping_off_shift_and_not_on_active_order_is_409(client, org, nurse, nurse_user, status):
    booked_order(org, status=status, nurse_id=nurse.id)
    assert_problem(_ping(client, nurse_user), 409, "not_tracking")


def test_ping_off_shift_is_409_and_keeps_nothing(client, session, nurse, nurse_user):
    assert_problem(_ping(client, nurse_user), 409, "not_tracking")
    assert session.scalar(sa.select(sa.func.count()).select_from(LocationPing)) == 0


def test_ping_sooner_than_the_interval_is_429_with_retry_after(client, nurse, nurse_user,
                                                               config):
    ShiftFactory(nurse_id=nurse.id)
    assert _ping(client, nurse_user).status_code == 201
    r = _ping(client, nurse_user)
    body = assert_problem(r, 429, "ping_rate_limited")
    assert 1 <= int(r.headers["Retry-After"]) <= config.ping_min_interval_seconds
    assert body["retry_after"] == int(r.headers["Retry-After"])


def test_ping_in_gcj02_is_stored_as_wgs84(client, session, nurse, nurse_user):
    ShiftFactory(nurse_id=nurse.id)
    got = _ping(client, nurse_user, lat=35.4131, lng=116.5930, coord_system="gcj02").get_json()
    assert geodesic((got["gcj02"]["lat"], got["gcj02"]["lng"]), (35.4131, 116.5930)).m < 0.05
    assert geodesic((got["lat"], got["lng"]), (35.4131, 116.5930)).m > 100


def test_ping_without_offset_in_recorded_at_is_422(client, nurse, nurse_user):
    ShiftFactory(nurse_id=nurse.id)
    body = assert_problem(_ping(client, nurse_user, recorded_at="2030-01-01T08:00:00"), 422)
    assert "recorded_at" in body["errors"]


def test_ping_by_supervisor_is_403(client, supervisor):
    assert_problem(_ping(client, supervisor), 403)


def test_ping_without_profile_is_404(client, nurse_account):
    assert_problem(_ping(client, nurse_account), 404, "nurse_not_found")


def test_get_nurse_shows_last_position_with_gcj02_copy(client, supervisor, org):
    at = utcnow().replace(microsecond=0)
    nurse = NurseFactory(organization_id=org.id, last_lat=35.41, last_lng=116.58,
                         last_ping_at=at)
    got = client.get(f"{API}/nurses/{nurse.id}", headers=auth(supervisor)).get_json()
    assert got["last_position"]["lat"] == 35.41 and got["last_position"]["at"] == iso(at)
    assert set(got["last_position"]["gcj02"]) == {"lat", "lng"}


def test_search_page_far_past_the_end_is_empty(client, supervisor, nurse):
    r = client.get(f"{API}/nurses?page=99999999999999999999", headers=auth(supervisor))
    assert r.status_code == 200 and r.get_json() == []


def test_put_shifts_at_the_edge_of_time_is_422(client, nurse_user):
    body = assert_problem(client.put(f"{API}/nurses/me/shifts", headers=auth(nurse_user), json={
        "shifts": [{"start": "9999-12-31T20:00:00-05:00", "end": "9999-12-31T22:00:00-05:00"}]}),
        422, "validation_failed")
    assert "shifts" in body["errors"]


def test_shifts_from_year_one_is_422(client, nurse_user):
    body = assert_problem(client.get(f"{API}/nurses/me/shifts", headers=auth(nurse_user),
                                     query_string={"from": "0001-01-01T00:00:00+08:00"}), 422)
    assert "from" in body["errors"]


def test_ping_recorded_in_year_one_is_422(client, nurse, nurse_user):
    ShiftFactory(nurse_id=nurse.id)
    body = assert_problem(_ping(client, nurse_user, recorded_at="0001-01-01T00:00:00+08:00"),
                          422)
    assert "recorded_at" in body["errors"]


def test_create_nurse_with_user_id_beyond_integer_range_is_422(client, supervisor):
    body = assert_problem(client.post(f"{API}/nurses", headers=auth(supervisor),
                                      json=nurse_body(10**20)), 422)
    assert "user_id" in body["errors"]

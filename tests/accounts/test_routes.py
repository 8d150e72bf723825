"""Route tests for registration, login, tokens, organizations and staff accounts."""

import json
from datetime import timedelta

import jwt
import pytest

from conftest import assert_problem
from homecare.db import db
from tests.factories import PASSWORD, UserFactory, auth, sms_code
from tests.helpers import API


def test_register_patient_returns_201_and_can_log_in(client):
    code = sms_code(client, "13812345678")
    r = client.post(f"{API}/auth/register", json={
        "phone": "13812345678", "sms_code": code, "password": "s3cret-pass", "name": "李娜"})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["role"] == "patient"
    r = client.post(f"{API}/auth/login", json={"phone": "13812345678", "password": "s3cret-pass"})
    assert r.status_code == 200
    body = r.get_json()
    assert body["role"] == "patient" and body["access_token"] and body["refresh_token"]
    me = client.get(f"{API}/me", headers={"Authorization": "Bearer " + body["access_token"]})
    assert me.get_json()["name"] == "李娜"
    assert me.get_json()["patient_ids"] == []


def test_register_with_landline_is_422_naming_phone(client):
    r = client.post(f"{API}/auth/register",
                    json={"phone": "05371234567", "sms_code": "123456", "password": "s3cret-pass",
                          "name": "x"})
    body = assert_problem(r, 422, "validation_failed")
    assert "phone" in body["errors"]


def test_register_with_unknown_field_is_422(client):
    r = client.post(f"{API}/auth/register", json={"phone": "13812345678", "password": "s3cret-pass",
                                                  "sms_code": "123456", "name": "x",
                                                  "role": "admin"})
    body = assert_problem(r, 422)
    assert body["errors"]["role"] == ["Unknown field."]


def test_register_twice_is_409_phone_taken(client, patient):
    code = sms_code(client, patient.phone)
    r = client.post(f"{API}/auth/register", json={
        "phone": patient.phone, "sms_code": code, "password": "s3cret-pass", "name": "x"})
    assert_problem(r, 409, "phone_taken")


def test_register_with_malformed_json_is_problem(client):
    r = client.post(f"{API}/auth/register", data="{not json", content_type="application/json")
    assert r.status_code in (400, 422)
    assert r.mimetype == "application/problem+json"


def test_login_with_deeply_nested_json_is_400_problem(client):
    # Well under the 1 MiB body limit, but json.loads recursion ran out of stack: a 500.
    r = client.post(f"{API}/auth/login", data="[" * 200_000 + "]" * 200_000,
                    content_type="application/json")
    assert_problem(r, 400, "bad_request")


def test_login_with_lone_surrogate_password_is_422(client, patient):
    # Valid JSON ("\\ud800"), but no character: argon2 could not encode it (a 500).
    raw = json.dumps({"phone": patient.phone, "password": "PLACEHOLDER"})
    r = client.post(f"{API}/auth/login", data=raw.replace("PLACEHOLDER", "\\ud800"),
                    content_type="application/json")
    assert "password" in assert_problem(r, 422, "validation_failed")["errors"]


def test_register_with_lone_surrogate_name_is_422(client):
    r = client.post(f"{API}/auth/register", content_type="application/json", data=(
        '{"phone": "13812345678", "sms_code": "123456", "password": "s3cret-pass", '
        '"name": "李\\ud800娜"}'))
    assert "name" in assert_problem(r, 422, "validation_failed")["errors"]


def test_register_with_nul_in_name_is_422(client):
    r = client.post(f"{API}/auth/register",
                    json={"phone": "13812345678", "sms_code": "123456",
                          "password": "s3cret-pass", "name": "李\x00娜"})
    body = assert_problem(r, 422, "validation_failed")
    assert body["errors"] == {"name": ["must not contain NUL characters"]}


def test_register_with_unknown_field_named_by_a_lone_surrogate_is_422(client):
    # The error names the field it refuses: written back as the JSON escape it came as.
    r = client.post(f"{API}/auth/register", content_type="application/json", data=(
        '{"phone": "13812345678", "sms_code": "123456", "password": "s3cret-pass", '
        '"name": "x", "\\ud800": 1}'))
    assert assert_problem(r, 422)["errors"] == {"\ud800": ["Unknown field."]}


def test_login_with_wrong_password_is_401(client, patient):
    r = client.post(f"{API}/auth/login", json={"phone": patient.phone, "password": "wrong-one"})
    assert_problem(r, 401, "invalid_credentials")


def test_login_with_unknown_phone_is_401(client):
    r = client.post(f"{API}/auth/login", json={"phone": "13900000001", "password": "whatever1"})
    assert_problem(r, 401, "invalid_credentials")


def test_login_is_rate_limited_per_phone_with_retry_after(client, patient, app):
    limit = app.config["HOMECARE"].login_max_attempts_per_phone
    for _ in range(limit):
        r = client.post(f"{API}/auth/login", json={"phone": patient.phone, "password": "bad-pass"})
        assert r.status_code == 401
    r = client.post(f"{API}/auth/login", json={"phone": patient.phone, "password": PASSWORD})
    body = assert_problem(r, 429, "login_rate_limited")
    assert int(r.headers["Retry-After"]) > 0
    assert body["retry_after"] > 0


def test_login_is_rate_limited_per_ip(client, app):
    # Failures count, one phone after another (under the per-phone limit each).
    limit = app.config["HOMECARE"].login_max_attempts_per_ip
    users = [UserFactory() for _ in range(limit + 1)]
    for user in users[:limit]:
        assert client.post(f"{API}/auth/login",
                           json={"phone": user.phone, "password": "bad-pass"}).status_code == 401
    r = client.post(f"{API}/auth/login", json={"phone": users[-1].phone, "password": PASSWORD})
    assert_problem(r, 429, "login_rate_limited")


def test_refresh_gives_new_access_token(client, patient):
    tokens = client.post(f"{API}/auth/login",
                         json={"phone": patient.phone, "password": PASSWORD}).get_json()
    r = client.post(f"{API}/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 200
    assert client.get(f"{API}/me", headers={
        "Authorization": "Bearer " + r.get_json()["access_token"]}).status_code == 200


def test_refresh_with_access_token_is_401(client, patient):
    tokens = client.post(f"{API}/auth/login",
                         json={"phone": patient.phone, "password": PASSWORD}).get_json()
    r = client.post(f"{API}/auth/refresh", json={"refresh_token": tokens["access_token"]})
    assert_problem(r, 401, "token_invalid")


def test_me_without_token_is_401(client):
    assert_problem(client.get(f"{API}/me"), 401, "unauthorized")


def test_token_with_other_algorithm_is_refused(client, patient, app):
    forged = jwt.encode({"sub": str(patient.id), "typ": "access", "exp": 9999999999},
                        app.config["HOMECARE"].secret_key, algorithm="HS512")
    assert_problem(client.get(f"{API}/me", headers={"Authorization": f"Bearer {forged}"}),
                   401, "token_invalid")


def test_unsigned_token_is_refused(client, patient):
    forged = jwt.encode({"sub": str(patient.id), "typ": "access", "exp": 9999999999},
                        key=None, algorithm="none")
    assert_problem(client.get(f"{API}/me", headers={"Authorization": f"Bearer {forged}"}),
                   401, "token_invalid")


def test_expired_token_is_refused(client, patient, app):
    from homecare.auth import _encode

    token = _encode(patient.id, "patient", "access", timedelta(seconds=-5))
    assert_problem(client.get(f"{API}/me", headers={"Authorization": f"Bearer {token}"}),
                   401, "token_invalid")


@pytest.mark.parametrize("exp", ["9999999999", True, None])
def test_token_with_a_malformed_expiry_is_refused(client, patient, app, exp):
    token = jwt.encode({"sub": str(patient.id), "typ": "access", "role": "patient", "exp": exp},
                       app.config["HOMECARE"].secret_key, algorithm="HS256")
    assert_problem(client.get(f"{API}/me", headers={"Authorization": f"Bearer {token}"}),
                   401, "token_invalid")


def test_deactivated_user_token_stops_working(client, supervisor, org):
    nurse = UserFactory(role="nurse", organization_id=org.id)
    headers = auth(nurse)
    assert client.get(f"{API}/me", headers=headers).status_code == 200
    r = client.patch(f"{API}/users/{nurse.id}", json={"active": False}, headers=auth(supervisor))
    assert r.status_code == 200 and r.get_json()["active"] is False
    assert_problem(client.get(f"{API}/me", headers=headers), 401, "token_invalid")


def test_admin_creates_organization(client, admin):
    r = client.post(f"{API}/organizations", headers=auth(admin), json={
        "name": "济宁医学院附属医院", "center": {"lat": 35.4150, "lng": 116.5870},
        "radius_km": 30})
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["id"] and body["center"]["lat"] == 35.415
    assert set(body["center"]["gcj02"]) == {"lat", "lng"}


def test_organization_center_in_gcj02_is_stored_as_wgs84(client, admin):
    r = client.post(f"{API}/organizations", headers=auth(admin), json={
        "name": "x", "center": {"lat": 35.4131, "lng": 116.5930, "coord_system": "gcj02"},
        "radius_km": 30})
    center = r.get_json()["center"]
    assert center["coord_system"] == "wgs84"
    assert abs(center["gcj02"]["lat"] - 35.4131) < 1e-6
    assert abs(center["lat"] - 35.4131) > 1e-4


def test_organization_center_off_the_globe_once_converted_is_422(client, admin, org,
                                                                  patient):
    # lat -90 in BD-09 is -90.0055 in WGS-84. Stored, it made every later address
    # creation, by anyone, a 500 (each measures the distance to every centre).
    r = client.post(f"{API}/organizations", headers=auth(admin), json={
        "name": "x", "center": {"lat": -90, "lng": -180, "coord_system": "bd09"},
        "radius_km": 30})
    body = assert_problem(r, 422, "validation_failed")
    assert set(body["errors"]["center"]) == {"lat", "lng"}


def test_supervisor_cannot_create_organization(client, supervisor):
    r = client.post(f"{API}/organizations", headers=auth(supervisor), json={
        "name": "x", "center": {"lat": 35.4, "lng": 116.5}, "radius_km": 30})
    assert_problem(r, 403, "forbidden")


def test_organization_with_nested_unknown_field_is_422(client, admin):
    r = client.post(f"{API}/organizations", headers=auth(admin), json={
        "name": "x", "center": {"lat": 35.4, "lng": 116.5, "alt": 3}, "radius_km": 30})
    body = assert_problem(r, 422)
    assert "center" in body["errors"]


def test_supervisor_creates_nurse_in_own_org(client, supervisor, org):
    r = client.post(f"{API}/users", headers=auth(supervisor), json={
        "phone": "13700000001", "password": "nurse-pass-1", "name": "王护士",
        "role": "nurse", "organization_id": org.id})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["organization_id"] == org.id


def test_supervisor_cannot_create_user_in_other_org(client, supervisor, other_org):
    r = client.post(f"{API}/users", headers=auth(supervisor), json={
        "phone": "13700000001", "password": "nurse-pass-1", "name": "x",
        "role": "nurse", "organization_id": other_org.id})
    assert_problem(r, 403, "forbidden")


def test_user_create_with_patient_role_is_422(client, admin, org):
    r = client.post(f"{API}/users", headers=auth(admin), json={
        "phone": "13700000001", "password": "nurse-pass-1", "name": "x",
        "role": "patient", "organization_id": org.id})
    assert "role" in assert_problem(r, 422)["errors"]


@pytest.mark.parametrize("organization_id", [2**31, 99999999999999999999])
def test_admin_creates_user_with_organization_id_beyond_any_row_is_422(client, admin,
                                                                      organization_id):
    # Beyond the 32-bit id column: OverflowError on SQLite, out of range on PostgreSQL.
    r = client.post(f"{API}/users", headers=auth(admin), json={
        "phone": "13700000001", "password": "nurse-pass-1", "name": "x",
        "role": "nurse", "organization_id": organization_id})
    assert "organization_id" in assert_problem(r, 422, "validation_failed")["errors"]


def test_admin_creates_user_in_missing_org_is_404(client, admin):
    r = client.post(f"{API}/users", headers=auth(admin), json={
        "phone": "13700000001", "password": "nurse-pass-1", "name": "x",
        "role": "nurse", "organization_id": 999999})
    assert_problem(r, 404, "organization_not_found")


def test_patient_cannot_create_users(client, patient, org):
    r = client.post(f"{API}/users", headers=auth(patient), json={
        "phone": "13700000001", "password": "nurse-pass-1", "name": "x",
        "role": "nurse", "organization_id": org.id})
    assert_problem(r, 403)


def test_supervisor_sees_other_org_user_as_404(client, supervisor, other_org):
    stranger = UserFactory(role="nurse", organization_id=other_org.id)
    assert_problem(client.get(f"{API}/users/{stranger.id}", headers=auth(supervisor)),
                   404, "user_not_found")
    assert_problem(client.patch(f"{API}/users/{stranger.id}", json={"active": False},
                                headers=auth(supervisor)), 404, "user_not_found")
    assert db.session.get(type(stranger), stranger.id).active is True


def test_supervisor_sees_other_org_as_404(client, supervisor, org, other_org):
    assert client.get(f"{API}/organizations/{org.id}", headers=auth(supervisor)).status_code == 200
    assert_problem(client.get(f"{API}/organizations/{other_org.id}", headers=auth(supervisor)),
                   404, "organization_not_found")


def test_admin_lists_organizations_paginated(client, admin, org, other_org):
    r = client.get(f"{API}/organizations?page=1&page_size=1", headers=auth(admin))
    assert r.status_code == 200 and len(r.get_json()) == 1
    assert '"total"' in r.headers["X-Pagination"]

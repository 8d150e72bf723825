"""Accounts a hospital can trust: revocation, rotating refresh tokens, logout, who
may change whom, SMS codes, trusted proxies and the account trail, via the HTTP API."""

from __future__ import annotations

import sqlalchemy as sa

from conftest import assert_problem
from homecare import create_app
from homecare.accounts import service
from homecare.accounts.models import SmsCode, User
from homecare.audit.models import AuditEntry
from homecare.db import db
from tests.factories import PASSWORD, UserFactory, auth, sms_code
from tests.helpers import API

NEW_PASSWORD = "another-pass-42"


def _login(client, phone, password=PASSWORD):
    r = client.post(f"{API}/auth/login", json={"phone": phone, "password": password})
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def _bearer(tokens):
    return {"Authorization": "Bearer " + tokens["access_token"]}


def _refresh(client, tokens):
    return client.post(f"{API}/auth/refresh", json={"refresh_token": tokens["refresh_token"]})


def _trail(session, user_id):
    return list(session.scalars(sa.select(AuditEntry).where(
        AuditEntry.object_type == "user", AuditEntry.object_id == user_id)
        .order_by(AuditEntry.id)))


# Password change and reset revoke every earlier token

def test_password_change_revokes_every_earlier_token(client, supervisor, nurse_user):
    tokens = _login(client, nurse_user.phone)
    r = client.patch(f"{API}/users/{nurse_user.id}", headers=auth(supervisor),
                     json={"password": NEW_PASSWORD})
    assert r.status_code == 200, r.get_json()
    assert_problem(client.get(f"{API}/me", headers=_bearer(tokens)), 401, "token_invalid")
    assert_problem(_refresh(client, tokens), 401, "token_invalid")
    assert client.get(f"{API}/me", headers=_bearer(_login(client, nurse_user.phone,
                                                          NEW_PASSWORD))).status_code == 200


def test_reset_password_with_the_sms_code_revokes_earlier_tokens(client, patient):
    tokens = _login(client, patient.phone)
    code = sms_code(client, patient.phone, "reset_password")
    r = client.post(f"{API}/auth/reset-password", json={
        "phone": patient.phone, "sms_code": code, "password": NEW_PASSWORD})
    assert r.status_code == 204, r.get_json()
    assert_problem(client.get(f"{API}/me", headers=_bearer(tokens)), 401, "token_invalid")
    assert_problem(_refresh(client, tokens), 401, "token_invalid")
    _login(client, patient.phone, NEW_PASSWORD)
    # The code is used up.
    r = client.post(f"{API}/auth/reset-password", json={
        "phone": patient.phone, "sms_code": code, "password": PASSWORD})
    assert_problem(r, 422, "sms_code_invalid")


def test_reset_password_code_for_registration_is_refused(client, patient):
    code = sms_code(client, patient.phone, "register")
    r = client.post(f"{API}/auth/reset-password", json={
        "phone": patient.phone, "sms_code": code, "password": NEW_PASSWORD})
    assert_problem(r, 422, "sms_code_invalid")


# Rotating refresh tokens, reuse detection, logout

def test_refresh_rotates_the_refresh_token(client, patient):
    first = _login(client, patient.phone)
    r = _refresh(client, first)
    assert r.status_code == 200, r.get_json()
    second = r.get_json()
    assert second["refresh_token"] != first["refresh_token"]
    assert client.get(f"{API}/me", headers=_bearer(second)).status_code == 200
    assert _refresh(client, second).status_code == 200


def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(client, session, patient):
    first = _login(client, patient.phone)
    second = _refresh(client, first).get_json()
    # The thief (or the owner) presents the used token again: the session ends.
    assert_problem(_refresh(client, first), 401, "refresh_token_reused")
    assert_problem(_refresh(client, second), 401, "token_invalid")
    assert [e.action for e in _trail(session, patient.id)] == ["user.refresh_token_reused"]
    # Another login session of hers is untouched.
    assert _refresh(client, _login(client, patient.phone)).status_code == 200


def test_logout_revokes_the_refresh_token(client, session, patient):
    tokens = _login(client, patient.phone)
    r = client.post(f"{API}/auth/logout", json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 204, r.get_json()
    assert_problem(_refresh(client, tokens), 401, "token_invalid")
    assert [e.action for e in _trail(session, patient.id)] == ["user.logout"]


def test_logout_with_an_access_token_is_401(client, patient):
    tokens = _login(client, patient.phone)
    r = client.post(f"{API}/auth/logout", json={"refresh_token": tokens["access_token"]})
    assert_problem(r, 401, "token_invalid")


# Who may change whom

def test_supervisor_cannot_reset_another_supervisors_password(client, org, supervisor):
    other = UserFactory(role="supervisor", organization_id=org.id)
    r = client.patch(f"{API}/users/{other.id}", headers=auth(supervisor),
                     json={"password": NEW_PASSWORD})
    assert_problem(r, 403, "forbidden")
    _login(client, other.phone)  # unchanged


def test_supervisor_cannot_create_a_supervisor(client, org, supervisor):
    r = client.post(f"{API}/users", headers=auth(supervisor), json={
        "phone": "13712340001", "password": NEW_PASSWORD, "name": "张护士长",
        "role": "supervisor", "organization_id": org.id})
    assert_problem(r, 403, "forbidden")


def test_admin_manages_supervisors(client, admin, supervisor):
    r = client.patch(f"{API}/users/{supervisor.id}", headers=auth(admin), json={"active": False})
    assert r.status_code == 200 and r.get_json()["active"] is False


def test_supervisor_cannot_touch_another_organizations_nurse(client, other_org, supervisor):
    stranger = UserFactory(role="nurse", organization_id=other_org.id)
    r = client.patch(f"{API}/users/{stranger.id}", headers=auth(supervisor),
                     json={"active": False})
    assert_problem(r, 404, "user_not_found")


def test_nobody_deactivates_herself(client, admin, supervisor):
    for user in (admin, supervisor):
        r = client.patch(f"{API}/users/{user.id}", headers=auth(user), json={"active": False})
        assert_problem(r, 409, "cannot_deactivate_self")


def test_create_admin_on_an_existing_phone_reactivates_and_resets(session, admin):
    admin.active = False
    session.flush()
    user, done = service.ensure_admin(session=session, phone=admin.phone,
                                      password=NEW_PASSWORD)
    assert (user.id, done, user.active) == (admin.id, "reset", True)
    assert service._password_matches(user.password_hash, NEW_PASSWORD)
    assert _trail(session, admin.id)[-1].detail == {"fields": ["active", "password"],
                                                    "active": True}


# Every account change on the trail, never the password

def test_account_changes_are_audited_without_the_password(client, session, supervisor,
                                                          nurse_user):
    client.patch(f"{API}/users/{nurse_user.id}", headers=auth(supervisor),
                 json={"password": NEW_PASSWORD, "name": "王护士"})
    client.patch(f"{API}/users/{nurse_user.id}", headers=auth(supervisor),
                 json={"active": False})
    entries = _trail(session, nurse_user.id)
    assert [(e.action, e.actor_id, e.detail) for e in entries] == [
        ("user.updated", supervisor.id, {"fields": ["name", "password"]}),
        ("user.updated", supervisor.id, {"fields": ["active"], "active": False})]
    assert all(NEW_PASSWORD not in str(e.detail) for e in entries)


def test_registration_is_audited(client, session):
    code = sms_code(client, "13712340002")
    r = client.post(f"{API}/auth/register", json={
        "phone": "13712340002", "sms_code": code, "password": NEW_PASSWORD, "name": "李娜"})
    assert r.status_code == 201
    entry = _trail(session, r.get_json()["id"])[0]
    assert (entry.action, entry.actor_id, entry.ip) == ("user.registered", r.get_json()["id"],
                                                        "127.0.0.1")


# SMS codes

def test_register_without_an_sms_code_is_422(client):
    r = client.post(f"{API}/auth/register", json={
        "phone": "13712340003", "password": NEW_PASSWORD, "name": "李娜"})
    assert "sms_code" in assert_problem(r, 422, "validation_failed")["errors"]


def test_register_with_a_wrong_code_is_422_and_the_code_dies_after_five(client):
    phone = "13712340004"
    code = sms_code(client, phone)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    body = {"phone": phone, "password": NEW_PASSWORD, "name": "李娜"}
    for _ in range(5):
        r = client.post(f"{API}/auth/register", json={**body, "sms_code": wrong})
        assert_problem(r, 422, "sms_code_invalid")
    r = client.post(f"{API}/auth/register", json={**body, "sms_code": code})
    assert_problem(r, 422, "sms_code_invalid")


def test_sms_code_answers_the_same_whether_or_not_the_phone_has_an_account(client, patient):
    known = client.post(f"{API}/auth/sms-code",
                        json={"phone": patient.phone, "purpose": "register"})
    unknown = client.post(f"{API}/auth/sms-code",
                          json={"phone": "13712340005", "purpose": "register"})
    assert (known.status_code, known.get_data()) == (unknown.status_code, unknown.get_data())
    assert known.status_code == 202


def test_sms_code_is_kept_hashed(client, session):
    code = sms_code(client, "13712340006")
    row = session.scalars(sa.select(SmsCode).order_by(SmsCode.id.desc())).first()
    assert code not in row.code_hash and "13712340006" not in row.phone_key


def test_second_sms_code_within_a_minute_is_429(client):
    sms_code(client, "13712340007")
    r = client.post(f"{API}/auth/sms-code", json={"phone": "13712340007", "purpose": "register"})
    body = assert_problem(r, 429, "sms_rate_limited")
    assert 0 < int(r.headers["Retry-After"]) <= 60 and body["retry_after"] > 0


def test_sms_codes_are_limited_per_ip(client, app):
    limit = app.config["HOMECARE"].sms_max_per_ip_per_hour
    for n in range(limit):
        sms_code(client, f"1371235{n:04d}")
    r = client.post(f"{API}/auth/sms-code", json={"phone": "13712359999", "purpose": "register"})
    assert_problem(r, 429, "sms_rate_limited")


# Trusted proxies

def _behind_one_proxy(app, app_overrides):
    proxied = create_app({**app_overrides, "trusted_proxies": 1})
    proxied.extensions["homecare.db"]["factory"] = app.extensions["homecare.db"]["factory"]
    return proxied.test_client()


def test_trusted_proxy_gives_the_client_address_to_the_trail(app, app_overrides, session,
                                                             supervisor, nurse_user):
    client = _behind_one_proxy(app, app_overrides)
    r = client.patch(f"{API}/users/{nurse_user.id}", json={"name": "王护士"},
                     headers={**auth(supervisor), "X-Forwarded-For": "10.9.8.7, 203.0.113.7"})
    assert r.status_code == 200
    # One trusted hop: the address that proxy saw, not one the client wrote before it.
    assert _trail(session, nurse_user.id)[-1].ip == "203.0.113.7"


def test_without_trusted_proxies_x_forwarded_for_is_ignored(client, session, supervisor,
                                                           nurse_user):
    client.patch(f"{API}/users/{nurse_user.id}", json={"name": "王护士"},
                 headers={**auth(supervisor), "X-Forwarded-For": "203.0.113.7"})
    assert _trail(session, nurse_user.id)[-1].ip == "127.0.0.1"


def test_login_limit_per_ip_counts_the_forwarded_client(app, app_overrides, session):
    client = _behind_one_proxy(app, app_overrides)
    limit = app.config["HOMECARE"].login_max_attempts_per_ip
    users = [UserFactory() for _ in range(limit + 1)]
    for user in users[:limit]:
        r = client.post(f"{API}/auth/login", json={"phone": user.phone, "password": "bad-pass"},
                        headers={"X-Forwarded-For": "203.0.113.8"})
        assert r.status_code == 401
    last = {"phone": users[-1].phone, "password": PASSWORD}
    assert_problem(client.post(f"{API}/auth/login", json=last,
                               headers={"X-Forwarded-For": "203.0.113.8"}), 429)
    # Another client behind the same proxy has her own budget.
    assert client.post(f"{API}/auth/login", json=last,
                       headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 200


def test_tokens_of_a_deactivated_user_stop(client, admin, supervisor):
    tokens = _login(client, supervisor.phone)
    client.patch(f"{API}/users/{supervisor.id}", headers=auth(admin), json={"active": False})
    assert_problem(client.get(f"{API}/me", headers=_bearer(tokens)), 401)
    assert db.session.get(User, supervisor.id).active is False


def test_demo_accounts_log_in_with_their_passwords(client, session, app):
    from datetime import UTC, datetime

    from homecare.demo import load_demo

    summary = load_demo(session=session, config=app.config["HOMECARE"],
                        now=datetime(2025, 6, 2, 1, 0, tzinfo=UTC))
    for role, login in summary["logins"].items():
        tokens = _login(client, login["phone"], login["password"])
        assert tokens["role"] == role, role


def test_create_admin_twice_says_it_reset_the_existing_one(monkeypatch, tmp_path):
    from click.testing import CliRunner

    from homecare.cli import main

    monkeypatch.setenv("HOMECARE_DATABASE_URL", f"sqlite:///{tmp_path / 'admin.db'}")
    monkeypatch.setenv("HOMECARE_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("HOMECARE_LOG_LEVEL", "WARNING")
    monkeypatch.delenv("HOMECARE_ENV", raising=False)
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    args = ["create-admin", "--phone", "13712348888", "--password", NEW_PASSWORD]
    first = runner.invoke(main, args)
    second = runner.invoke(main, args)
    assert first.exit_code == second.exit_code == 0, second.output
    assert first.stdout.strip() == second.stdout.strip()
    assert "reactivated" not in first.output and "reactivated" in second.output

"""Service tests for login throttling (a sliding window, on a clock the test sets)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from homecare.accounts import service
from homecare.auth import Actor
from tests.factories import PASSWORD, UserFactory

WINDOW = 300
PER_PHONE, PER_IP = 5, 20
# An instant on a 300 s boundary of the epoch: where a clock-aligned window turned over.
BOUNDARY = datetime.fromtimestamp(1_800_000_000 // WINDOW * WINDOW, UTC)


def _login(session, user, password, now, ip="10.0.0.1"):
    return service.login(session=session, phone=user.phone, password=password, ip=ip,
                         now=now, max_per_phone=PER_PHONE, max_per_ip=PER_IP,
                         window_seconds=WINDOW)


def _fail(session, user, now, ip="10.0.0.1"):
    with pytest.raises(service.InvalidCredentials):
        _login(session, user, "wrong-pass", now, ip)


def test_login_counts_failures_of_the_last_window_across_a_clock_boundary(session):
    user = UserFactory()
    for second in range(PER_PHONE):
        _fail(session, user, BOUNDARY - timedelta(seconds=PER_PHONE - second))
    # A fixed window let this one (and four more) through: a new window had begun.
    with pytest.raises(service.LoginRateLimited) as limited:
        _login(session, user, PASSWORD, BOUNDARY + timedelta(seconds=1))
    # The oldest failure (BOUNDARY - 5 s) leaves the window 294 s later.
    assert limited.value.extensions["retry_after"] == WINDOW - PER_PHONE - 1
    assert limited.value.headers == {"Retry-After": str(WINDOW - PER_PHONE - 1)}


def test_login_retry_after_is_when_the_oldest_counted_failure_leaves_the_window(session):
    user = UserFactory()
    start = BOUNDARY + timedelta(seconds=17)
    for minute in range(PER_PHONE):
        _fail(session, user, start + timedelta(minutes=minute))
    now = start + timedelta(minutes=PER_PHONE - 1, seconds=30)
    with pytest.raises(service.LoginRateLimited) as limited:
        _login(session, user, PASSWORD, now)
    assert limited.value.extensions["retry_after"] == (
        start + timedelta(seconds=WINDOW) - now).total_seconds()


def test_login_is_allowed_once_the_oldest_failure_has_left_the_window(session):
    user = UserFactory()
    start = BOUNDARY + timedelta(seconds=100)
    for second in range(PER_PHONE):
        _fail(session, user, start + timedelta(seconds=second))
    with pytest.raises(service.LoginRateLimited):
        _login(session, user, PASSWORD, start + timedelta(seconds=WINDOW - 1))
    assert _login(session, user, PASSWORD, start + timedelta(seconds=WINDOW)).id == user.id


def test_login_from_one_ip_is_limited_over_the_last_window_whoever_fails(session):
    users = [UserFactory() for _ in range(PER_IP + 1)]
    for n, user in enumerate(users[:PER_IP]):
        _fail(session, user, BOUNDARY - timedelta(seconds=PER_IP - n))
    with pytest.raises(service.LoginRateLimited):
        _login(session, users[-1], PASSWORD, BOUNDARY + timedelta(seconds=2))
    # Another address is counted on its own.
    assert _login(session, users[-1], PASSWORD, BOUNDARY + timedelta(seconds=2),
                  ip="10.0.0.2").id == users[-1].id


def test_login_with_password_argon2_cannot_encode_is_invalid_credentials(session):
    # A lone surrogate (schemas refuse it; this is the last line behind them).
    user = UserFactory()
    with pytest.raises(service.InvalidCredentials):
        _login(session, user, "\ud800", BOUNDARY)


def test_successful_logins_do_not_count_against_the_ip(session):
    users = [UserFactory() for _ in range(PER_IP + 5)]
    for n, user in enumerate(users):
        assert _login(session, user, PASSWORD, BOUNDARY + timedelta(seconds=n)).id == user.id


def test_update_user_failing_after_its_changes_leaves_the_account_as_it_was(
        session, admin, org, monkeypatch):
    user = UserFactory(role="supervisor", organization_id=org.id, name="Wang Li")
    session.commit()

    def audit_down(*args, **kwargs):
        raise RuntimeError("audit trail unavailable")

    # The trail is written after the name is set: the failure comes mid-change.
    monkeypatch.setattr(service, "_audit_account", audit_down)
    with pytest.raises(RuntimeError):
        service.update_user(session=session, actor=Actor(admin.id, "admin", None),
                            user_id=user.id, changes={"name": "Zhang Wei", "active": False},
                            now=BOUNDARY)
    session.commit()  # a caller that goes on with the session commits nothing of it
    session.expire_all()
    assert (user.name, user.active) == ("Wang Li", True)


def test_active_supervisors_are_the_organizations_active_supervisors_only(
        session, org, other_org, supervisor):
    second = UserFactory(role="supervisor", organization_id=org.id)
    UserFactory(role="supervisor", organization_id=org.id, active=False)
    UserFactory(role="supervisor", organization_id=other_org.id)
    UserFactory(role="nurse", organization_id=org.id)
    assert service.active_supervisors(session, organization_id=org.id) == sorted(
        [supervisor.id, second.id])

"""The login limiter against real concurrent connections (PostgreSQL)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from homecare import create_app
from homecare.accounts.models import LoginAttempt, User
from homecare.db import db
from tests.factories import UserFactory
from tests.helpers import API

THREADS = 30
# A guard against a hung test, never an assertion about speed.
GUARD_SECONDS = 60


@pytest.fixture
def committed_user(app, app_overrides):
    """A second app whose sessions commit for real, with one patient account."""
    fresh = create_app(app_overrides)
    with fresh.app_context():
        user = UserFactory(role="patient")
        db.session.commit()
        try:
            yield fresh, user
        finally:
            db.session.rollback()
            db.session.execute(sa.delete(LoginAttempt))
            db.session.execute(sa.delete(User).where(User.id == user.id))
            db.session.commit()


@pytest.mark.postgres
def test_parallel_wrong_passwords_give_exactly_the_limit_of_401s(committed_user):
    app, user = committed_user
    limit = app.config["HOMECARE"].login_max_attempts_per_phone
    start = threading.Barrier(THREADS)

    def attempt(_):
        start.wait(GUARD_SECONDS)
        return app.test_client().post(f"{API}/auth/login", json={
            "phone": user.phone, "password": "wrong-password"}).status_code

    with ThreadPoolExecutor(THREADS) as pool:
        statuses = list(pool.map(attempt, range(THREADS)))
    assert sorted(statuses) == [401] * limit + [429] * (THREADS - limit), statuses

"""Root fixtures: a real database built once per run from the migrations, the app,
a per-test session rolled back at teardown, and the test client.

SQLite by default (a fresh clone tests with no server); PostgreSQL when
HOMECARE_TEST_DATABASE_URL is set, in a schema of its own per run so that
concurrent runs on one server never see each other.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from homecare import clock, create_app
from homecare.db import db
from homecare.migrations import upgrade
from tests.helpers import NOW

# Fixtures more than one test folder uses (a conftest never imports another's).
pytest_plugins = ("tests.fixtures.aliyun", "tests.fixtures.orders", "tests.fixtures.scratch",
                  "tests.fixtures.visits")

TEST_PG_URL = os.environ.get("HOMECARE_TEST_DATABASE_URL", "")


def _pg_schema_url(base: str, schema: str) -> str:
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options={quote(f'-csearch_path={schema}')}"


@contextmanager
def database_of_its_own(tmp_path_factory, prefix: str) -> Iterator[str]:
    """The URL of an empty database: a SQLite file, or a PostgreSQL schema of its own
    (named ``prefix``, the process and a random part) dropped afterwards."""
    if not TEST_PG_URL:
        yield f"sqlite:///{tmp_path_factory.mktemp(prefix) / f'{prefix}.db'}"
        return
    schema = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(TEST_PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _pg_schema_url(TEST_PG_URL, schema)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    with database_of_its_own(tmp_path_factory, "test") as url:
        yield url


@pytest.fixture(scope="session")
def app_overrides(database_url, tmp_path_factory):
    return {
        "database_url": database_url,
        "secret_key": "test-secret-key-that-is-long-enough-for-hs256",
        "data_key": Fernet.generate_key().decode(),
        "instance_path": str(tmp_path_factory.mktemp("instance")),
        "log_level": "WARNING",
        # GET /events/stream replays once and closes: a test (or the fuzzer) reading a
        # stream gets a finished response at once (tests of the loop set their own).
        "events_stream_seconds": 0,
        # A repair's improvement is bounded by its moves; its time cap (1 s) is for a
        # city day, and on a busy CI machine it could cut a test's repair short.
        "repair_seconds": 600.0,
    }


@pytest.fixture(scope="session")
def app(app_overrides):
    upgrade(app_overrides["database_url"])
    return create_app(app_overrides)


@pytest.fixture(autouse=True)
def fixed_clock(request):
    """Every test starts at ``tests.helpers.NOW``: ``utcnow`` in a test, a factory, a
    route or a service answers it, whatever the time of day the suite runs at. The
    clock moves on from there as time passes (monotonic), so leases, heartbeats and
    the scheduler's threads still see time go by. A test that needs an instant of
    its own pins it with ``pin_clock``.

    Not for tests marked ``wall_clock``: APScheduler fires jobs by the wall clock,
    and gunicorn and jobs processes started by a test run on it too, so the data a
    test loads for them (the demo city's shifts and credentials) must be made on
    the same clock (what they test does not depend on the time of day)."""
    if request.node.get_closest_marker("wall_clock"):
        yield None
        return
    started = time.monotonic()
    with clock.pinned(lambda: NOW + timedelta(seconds=time.monotonic() - started)):
        yield NOW


@pytest.fixture
def pin_clock():
    """Pin the time every route and service sees (``homecare.clock.utcnow``):
    ``pin_clock(at)``, undone after the test. The one way a test fixes "now"."""
    with contextlib.ExitStack() as stack:
        yield lambda at: stack.enter_context(clock.pinned(at))


@pytest.fixture
def config(app):
    """The app's Config, for service calls (tests may ``dataclasses.replace`` it)."""
    return app.config["HOMECARE"]


@pytest.fixture
def session(app):
    """The app's session, inside an outer transaction rolled back after the test.

    Services commit as usual; with ``create_savepoint`` those commits only
    release savepoints, so nothing a test writes outlives it.
    """
    engine = app.extensions["homecare.db"]["engine"]
    connection = engine.connect()
    outer = connection.begin()
    db.bind_sessions(app, bind=connection, join_transaction_mode="create_savepoint")
    with app.app_context():
        yield db.session
        db.session.remove()
    outer.rollback()
    connection.close()
    db.bind_sessions(app, bind=engine)


@pytest.fixture
def client(app, session):
    return app.test_client()


def pytest_collection_modifyitems(config, items):
    if TEST_PG_URL:
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (set HOMECARE_TEST_DATABASE_URL)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


# Shared people: one organization with staff of each role, and a patient account.
@pytest.fixture
def org(session):
    from tests.factories import OrganizationFactory

    return OrganizationFactory()


@pytest.fixture
def other_org(session):
    from tests.factories import OrganizationFactory

    return OrganizationFactory(center_lat=36.6512, center_lng=117.1201)  # Jinan


@pytest.fixture
def admin(session):
    from tests.factories import UserFactory

    return UserFactory(role="admin")


@pytest.fixture
def supervisor(org):
    from tests.factories import UserFactory

    return UserFactory(role="supervisor", organization_id=org.id)


@pytest.fixture
def nurse(org):
    """An active, qualified nurse profile of ``org``."""
    from tests.factories import NurseFactory

    return NurseFactory(organization_id=org.id)


@pytest.fixture
def nurse_user(session, nurse):
    from homecare.accounts.models import User

    return session.get(User, nurse.user_id)


@pytest.fixture
def patient(session):
    from tests.factories import UserFactory

    return UserFactory(role="patient")


def assert_problem(response, status: int, code: str | None = None) -> dict:
    """Assert an RFC 9457 problem+json response and return its body."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    for member in ("type", "title", "status", "detail", "code"):
        assert member in body, body
    assert body["status"] == status
    if code is not None:
        assert body["code"] == code, body
    return body

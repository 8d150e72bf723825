"""Jobs fixtures: a scratch database of a test's own (committed data, real
concurrency, processes), and a stand-in for the leader lock."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from conftest import TEST_PG_URL, _pg_schema_url
from homecare import create_app
from homecare.db import db
from homecare.migrations import upgrade


@pytest.fixture
def scratch_url(database_url, tmp_path):
    """A freshly migrated database nobody else uses, dropped afterwards: tests that
    commit, hold locks or start processes need no clean-up of shared tables (and
    the audit trail cannot be cleaned up: it is append-only)."""
    if not TEST_PG_URL:
        url = f"sqlite:///{tmp_path / 'scratch.db'}"
        upgrade(url)
        yield url
        return
    schema = f"scratch_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(TEST_PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = _pg_schema_url(TEST_PG_URL, schema)
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def scratch_app(app_overrides, scratch_url):
    """An app on the scratch database whose sessions commit for real."""
    app = create_app({**app_overrides, "database_url": scratch_url})
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@dataclass
class HeldLock:
    """A leader lock that is always ours, until ``held`` is set False."""

    held: bool = True

    def try_acquire(self) -> bool:
        return self.held

    def still_held(self) -> bool:
        return self.held

    def release(self) -> None:
        self.held = False

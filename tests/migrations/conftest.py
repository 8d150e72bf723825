"""Migration fixtures: a database of a test's own, migrated to a given revision."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from conftest import TEST_PG_URL, _pg_schema_url
from homecare.migrations import upgrade


@pytest.fixture
def migrated_to(tmp_path):
    """``migrated_to(revision)``: the URL of a fresh database (SQLite file, or a
    PostgreSQL schema dropped afterwards) migrated to ``revision``."""
    schemas: list[str] = []
    admin = sa.create_engine(TEST_PG_URL, isolation_level="AUTOCOMMIT") if TEST_PG_URL else None

    def make(revision: str) -> str:
        if admin is None:
            url = f"sqlite:///{tmp_path / f'm{len(schemas)}.db'}"
            schemas.append(url)
        else:
            schema = f"mig_{uuid.uuid4().hex[:12]}"
            with admin.connect() as conn:
                conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
            schemas.append(schema)
            url = _pg_schema_url(TEST_PG_URL, schema)
        upgrade(url, revision)
        return url

    yield make
    if admin is not None:
        with admin.connect() as conn:
            for schema in schemas:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

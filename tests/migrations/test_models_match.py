"""The migrations build exactly the schema the models describe, on the database under test."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from homecare import models  # noqa: F401  (registers every table)
from homecare.db import Base


def test_migrated_schema_matches_the_models(app):
    # ``app`` has run every migration on this run's database (SQLite or PostgreSQL).
    engine = app.extensions["homecare.db"]["engine"]
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == [], "models and migrations differ; write a migration:\n" + "\n".join(
        map(str, diff))

"""Least privilege: deploy/db-roles.sql and `homecare db grant` on a real PostgreSQL.

The app role works with rows, but cannot change or delete the audit trail, nor drop
or disable the triggers that guard it.
"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from conftest import TEST_PG_URL
from homecare.migrations import upgrade
from homecare.ops.roles import grant_app_role

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def roles():
    tag = uuid.uuid4().hex[:8]
    owner, app, schema = f"hc_owner_{tag}", f"hc_app_{tag}", f"hc_roles_{tag}"
    base = sa.engine.make_url(TEST_PG_URL)
    psql_url = base.set(drivername="postgresql").render_as_string(hide_password=False)
    subprocess.run(["psql", psql_url, "-q", "-v", f"owner={owner}", "-v", f"app={app}",
                    "-v", f"schema={schema}", "-v", "owner_password=owner-pw",
                    "-v", "app_password=app-pw", "-f", str(ROOT / "deploy" / "db-roles.sql")],
                   check=True, capture_output=True)
    admin = sa.create_engine(TEST_PG_URL, isolation_level="AUTOCOMMIT")
    try:
        yield (base.set(username=owner, password="owner-pw"),
               base.set(username=app, password="app-pw"), app)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            for role in (app, owner):
                conn.execute(sa.text(f'DROP OWNED BY "{role}"'))
                conn.execute(sa.text(f'DROP ROLE "{role}"'))
        admin.dispose()


def _refused(engine: sa.Engine, statement: str) -> str:
    with engine.connect() as conn, pytest.raises(sa.exc.ProgrammingError) as refused:
        conn.execute(sa.text(statement))
    return str(refused.value.orig)


def test_the_app_role_cannot_change_the_audit_trail_nor_its_triggers(roles):
    owner_url, app_url, app_role = roles
    upgrade(owner_url.render_as_string(hide_password=False))
    owner = sa.create_engine(owner_url)
    with owner.begin() as conn:
        grant_app_role(conn, app_role)
    owner.dispose()

    app = sa.create_engine(app_url)
    try:
        with app.begin() as conn:
            # Rows: the app's daily work.
            conn.execute(sa.text(
                "INSERT INTO audit_entries (actor_role, action, object_type, object_id, at) "
                "VALUES ('system', 'test', 'order', 1, now())"))
            assert conn.scalar(sa.text("SELECT count(*) FROM audit_entries")) == 1
            conn.execute(sa.text("UPDATE service_items SET active = active"))
        for statement in ("UPDATE audit_entries SET action = 'forged'",
                          "DELETE FROM audit_entries",
                          "TRUNCATE audit_entries"):
            assert "permission denied" in _refused(app, statement), statement
        for statement in ("DROP TRIGGER audit_entries_no_change ON audit_entries",
                          "ALTER TABLE audit_entries DISABLE TRIGGER ALL",
                          "DROP TABLE audit_entries",
                          "CREATE TABLE sneaky (id int)"):
            message = _refused(app, statement)
            assert "must be owner" in message or "permission denied" in message, statement
    finally:
        app.dispose()

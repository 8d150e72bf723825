"""The application role's privileges, granted by the schema owner after each migration.

``deploy/db-roles.sql`` makes the roles once; ``homecare db grant --app-role NAME``
(the migration Job, connected as the owner) runs this after ``db upgrade``, so the
tables a release adds are granted too, and the audit trail stays append-only for
the app whatever a later migration does.
"""

from __future__ import annotations

import sqlalchemy as sa

# The app may add to these, never change or remove their rows.
APPEND_ONLY_TABLES = ("audit_entries",)


def grant_app_role(connection: sa.Connection, app_role: str) -> None:
    """Grant ``app_role`` row access to every table of the current schema (PostgreSQL)."""
    schema = connection.scalar(sa.text("SELECT current_schema()"))
    role = connection.dialect.identifier_preparer.quote(app_role)
    quoted = connection.dialect.identifier_preparer.quote(schema)
    statements = [
        f"GRANT USAGE ON SCHEMA {quoted} TO {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {quoted} TO {role}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {quoted} TO {role}",
        f"REVOKE TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA {quoted} FROM {role}",
        # Schema changes are the owner's: the app's rights end at rows.
        f"REVOKE CREATE ON SCHEMA {quoted} FROM {role}",
    ]
    for table in APPEND_ONLY_TABLES:
        statements.append(f"REVOKE UPDATE, DELETE ON {quoted}.{table} FROM {role}")
    for statement in statements:
        connection.execute(sa.text(statement))

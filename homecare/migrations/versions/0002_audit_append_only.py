"""audit trail append-only: the database refuses UPDATE and DELETE of audit_entries

Regulators require a complete record of who did what (全程留痕); the service never
changes an entry, and this makes the database refuse it too, whoever asks.
On PostgreSQL a superuser can still purge (e.g. after the legal retention
period) with ``SET LOCAL session_replication_role = replica``, which skips
ordinary triggers; the application's own role cannot.

To regenerate 0001 from the models, move this file aside first (it revises
0001), regenerate, and put it back.

Revision ID: 0002
Revises: 0001
"""
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

_PG_FUNCTION = """
CREATE FUNCTION audit_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_entries is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        op.execute("CREATE TRIGGER audit_entries_no_change BEFORE UPDATE OR DELETE "
                   "ON audit_entries FOR EACH ROW EXECUTE FUNCTION audit_entries_append_only()")
        op.execute("CREATE TRIGGER audit_entries_no_truncate BEFORE TRUNCATE "
                   "ON audit_entries FOR EACH STATEMENT "
                   "EXECUTE FUNCTION audit_entries_append_only()")
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER audit_entries_no_{verb.lower()} BEFORE {verb} "
                       f"ON audit_entries BEGIN SELECT RAISE(ABORT, "
                       f"'audit_entries is append-only: {verb} refused'); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_entries_no_truncate ON audit_entries")
        op.execute("DROP TRIGGER IF EXISTS audit_entries_no_change ON audit_entries")
        op.execute("DROP FUNCTION IF EXISTS audit_entries_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_entries_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_entries_no_delete")

"""Migration 0013: an urgent message to a supervisor still in the outbox keeps being
texted after the upgrade (it was written when every such message was); the rest are
not; and the way back works."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import command

from homecare.migrations import alembic_config, upgrade

T = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)


def test_unsent_urgent_pages_to_supervisors_stay_texted(migrated_to):
    url = migrated_to("0012_delivery_webhooks")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        tables = sa.MetaData()
        tables.reflect(conn)

        def add(table: str, **values) -> int:
            return conn.execute(tables.tables[table].insert().values(**values)
                                ).inserted_primary_key[0]

        org = add("organizations", name="医院", center_lat=35.4, center_lng=116.6,
                  radius_km=30, created_at=T)
        people = {role: add("users", phone=f"1390000000{i}", password_hash="x", name=role,
                            role=role, organization_id=org, active=True, created_at=T)
                  for i, role in enumerate(("supervisor", "nurse"))}

        def note(user: str, urgent: bool, sent: bool) -> int:
            return add("notifications", user_id=people[user], kind="alert_sos", urgent=urgent,
                       payload={}, created_at=T, attempts=0, delivered_via="",
                       sent_at=T if sent else None)

        pending_sos = note("supervisor", True, False)
        sent_sos = note("supervisor", True, True)
        not_urgent = note("supervisor", False, False)
        to_nurse = note("nurse", True, False)
    engine.dispose()

    upgrade(url, "0013_duty_roster")
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        texted = dict(conn.execute(sa.text("SELECT id, sms FROM notifications")).all())
    engine.dispose()
    assert {k: bool(v) for k, v in texted.items()} == {
        pending_sos: True, sent_sos: False, not_urgent: False, to_nurse: False}

    command.downgrade(alembic_config(url), "0012_delivery_webhooks")
    engine = sa.create_engine(url)
    assert "duty_spans" not in sa.inspect(engine).get_table_names()
    assert "sms" not in {c["name"] for c in sa.inspect(engine).get_columns("notifications")}
    engine.dispose()


def test_page_written_without_the_sms_column_is_texted(migrated_to):
    # An old API pod during a rolling deploy inserts pages knowing nothing of `sms`.
    url = migrated_to("0013_duty_roster")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        tables = sa.MetaData()
        tables.reflect(conn, only=["organizations", "users"])
        org = conn.execute(tables.tables["organizations"].insert().values(
            name="医院", center_lat=35.4, center_lng=116.6, radius_km=30, created_at=T)
        ).inserted_primary_key[0]
        user = conn.execute(tables.tables["users"].insert().values(
            phone="13900000009", password_hash="x", name="s", role="supervisor",
            organization_id=org, active=True, created_at=T)).inserted_primary_key[0]
        old_pod = sa.table("notifications", sa.column("id"), sa.column("user_id"),
                           sa.column("kind"), sa.column("urgent"), sa.column("payload"),
                           sa.column("created_at"), sa.column("attempts"))
        conn.execute(old_pod.insert().values(user_id=user, kind="alert_sos", urgent=True,
                                             payload="{}", created_at=T, attempts=0))
        texted = conn.execute(sa.text("SELECT sms FROM notifications")).scalar_one()
    engine.dispose()
    assert bool(texted) is True

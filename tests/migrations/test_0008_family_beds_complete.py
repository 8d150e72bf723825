"""Migration 0008: existing family beds become plan version 1, and the way back works."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta

import pytest
import sqlalchemy as sa
from alembic import command

from homecare.migrations import alembic_config, upgrade

T = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
REVISION = "0008_family_beds_complete"


@pytest.fixture
def url_at_0006(migrated_to):
    """A database of the test's own, migrated to 0006 (the revision before)."""
    return migrated_to("0006")


def _episode(url: str) -> int:
    """An open episode as 0006 stores it: one plan line, one generated visit."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        tables = sa.MetaData()
        tables.reflect(conn)

        def add(table: str, **values) -> int:
            return conn.execute(tables.tables[table].insert().values(**values)
                                ).inserted_primary_key[0]

        org = add("organizations", name="医院", center_lat=35.4, center_lng=116.6,
                  radius_km=30, created_at=T)
        owner = add("users", phone="13900000001", password_hash="x", name="家属",
                    role="patient", active=True, created_at=T)
        patient = add("patients", owner_id=owner, name="患者", gender="female",
                      birth_date=date(1945, 1, 1), id_number_enc="x",
                      id_number_hash=uuid.uuid4().hex, conditions=[], allergies=[],
                      eligibility="chronic", consent=True, guardian_consent=False,
                      created_at=T, updated_at=T)
        address = add("addresses", patient_id=patient, label="家", text="古槐路1号",
                      lat=35.41, lng=116.58, organization_id=org,
                      outside_service_area=False, created_at=T)
        add("service_items", code="TEST_ITEM", name_zh="测血压", name_en="Vitals",
            category="basic", duration_min=30, required_skills=[], min_title="nurse",
            price_fen=6000, requires_assessment=False, procedures=[], active=True,
            created_at=T, updated_at=T)
        bed = add("family_beds", organization_id=org, patient_id=patient, address_id=address,
                  diagnosis="脑梗", start_date=T.date(), end_date=T.date() + timedelta(days=29),
                  status="open", opened_by=owner, opened_at=T, created_at=T, updated_at=T)
        add("family_bed_plan_lines", family_bed_id=bed, line_no=1, service_code="TEST_ITEM",
            weekdays=[1, 3, 5], window_start=time(9), window_end=time(11))
        start = T + timedelta(days=1)
        order = add("orders", organization_id=org, patient_id=patient, address_id=address,
                    booked_by=owner, service_code="TEST_ITEM", duration_min=30,
                    price_fen=6000, window_start=start, window_end=start + timedelta(hours=2),
                    service_date=start.date(), status="approved", dispatch_round=0,
                    version=1, family_bed_id=bed, created_at=T, updated_at=T)
        add("family_bed_visits", family_bed_id=bed, line_no=1, service_date=start.date(),
            order_id=order, first_round=True, created_at=T)
    engine.dispose()
    return bed


def _scalars(url: str, sql: str) -> list:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        found = list(conn.execute(sa.text(sql)).scalars())
    engine.dispose()
    return found


def test_upgrade_makes_existing_episodes_plan_version_1(url_at_0006):
    bed = _episode(url_at_0006)
    upgrade(url_at_0006, REVISION)
    assert _scalars(url_at_0006, "SELECT plan_version FROM family_beds") == [1]
    assert _scalars(url_at_0006, "SELECT plan_version FROM family_bed_plan_lines") == [1]
    assert _scalars(url_at_0006, "SELECT plan_version FROM family_bed_visits") == [1]
    assert _scalars(url_at_0006, "SELECT responsible_nurse_id FROM family_beds") == [None]
    # A second plan version may reuse line numbers; the same version may not.
    engine = sa.create_engine(url_at_0006)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO family_bed_plan_lines (family_bed_id, plan_version, line_no, "
            "service_code, weekdays, window_start, window_end) VALUES "
            "(:bed, 2, 1, 'TEST_ITEM', '[2]', '09:00:00', '11:00:00')"), {"bed": bed})
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO family_bed_plan_lines (family_bed_id, plan_version, line_no, "
            "service_code, weekdays, window_start, window_end) VALUES "
            "(:bed, 2, 1, 'TEST_ITEM', '[4]', '09:00:00', '11:00:00')"), {"bed": bed})
    engine.dispose()


def test_downgrade_to_0006_keeps_the_episode(url_at_0006):
    _episode(url_at_0006)
    upgrade(url_at_0006, REVISION)
    command.downgrade(alembic_config(url_at_0006), "0006")
    assert _scalars(url_at_0006, "SELECT line_no FROM family_bed_plan_lines") == [1]
    assert _scalars(url_at_0006, "SELECT first_round FROM family_bed_visits") in ([True], [1])

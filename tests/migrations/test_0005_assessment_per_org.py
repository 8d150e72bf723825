"""Migration 0005: recipients' assessed_at becomes assessments per organization."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic import command

from homecare.migrations import alembic_config, upgrade

T = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


@pytest.fixture
def url_at_0004(migrated_to):
    """A database of the test's own, migrated to 0004 (the revision before)."""
    return migrated_to("0004")


class _Rows:
    """Inserts into the tables as they are at 0004 (reflected, not today's models)."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn
        self.tables = sa.MetaData()
        self.tables.reflect(conn)

    def add(self, table: str, **values) -> int:
        result = self.conn.execute(self.tables.tables[table].insert().values(**values))
        return result.inserted_primary_key[0]

    def org(self) -> int:
        return self.add("organizations", name="医院", center_lat=35.4, center_lng=116.6,
                        radius_km=30, created_at=T)

    def recipient(self, owner: int, assessed_at: datetime | None) -> int:
        return self.add("patients", owner_id=owner, name="患者", gender="female",
                        birth_date=date(1945, 1, 1), id_number_enc="x",
                        id_number_hash=uuid.uuid4().hex, conditions=[], allergies=[],
                        eligibility="chronic", consent=True, guardian_consent=False,
                        assessed_at=assessed_at, created_at=T, updated_at=T)

    def address(self, patient: int, org: int | None) -> int:
        return self.add("addresses", patient_id=patient, label="家", text="古槐路1号",
                        lat=35.41, lng=116.58, organization_id=org,
                        outside_service_area=org is None, created_at=T)

    def order(self, org: int, patient: int, address: int, owner: int, *, created_at: datetime,
              approved: bool) -> int:
        start = T + timedelta(days=1)
        order_id = self.add(
            "orders", organization_id=org, patient_id=patient, address_id=address,
            booked_by=owner, service_code="TEST_ITEM", duration_min=30, price_fen=9000,
            window_start=start, window_end=start + timedelta(hours=2),
            service_date=start.date(), status="approved" if approved else "submitted",
            dispatch_round=0, version=1, created_at=created_at, updated_at=created_at)
        self.add("order_events", order_id=order_id, actor_role="patient",
                 to_status="submitted", at=created_at)
        if approved:
            self.add("order_events", order_id=order_id, actor_role="supervisor",
                     from_status="submitted", to_status="approved", at=T)
        return order_id


def _assessments(url: str) -> set[tuple[int, int, datetime]]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT patient_id, organization_id, assessed_at FROM patient_assessments"))
        found = {(p, o, at if isinstance(at, datetime) else datetime.fromisoformat(at))
                 for p, o, at in rows}
    engine.dispose()
    return {(p, o, at.replace(tzinfo=UTC) if at.tzinfo is None else at) for p, o, at in found}


def test_upgrade_gives_the_assessment_to_the_organization_that_approved_the_earlier_order(
        url_at_0004):
    engine = sa.create_engine(url_at_0004)
    with engine.begin() as conn:
        rows = _Rows(conn)
        jining, jinan = rows.org(), rows.org()
        owner = rows.add("users", phone="13900000001", password_hash="x", name="家属",
                         role="patient", active=True, created_at=T)
        rows.add("service_items", code="TEST_ITEM", name_zh="采血", name_en="Blood",
                 category="basic", duration_min=30, required_skills=[],
                 min_title="senior_nurse", price_fen=9000, requires_assessment=False,
                 procedures=[], active=True, created_at=T, updated_at=T)
        # Assessed by Jining (her approved first order there); booked Jinan afterwards.
        both = rows.recipient(owner, assessed_at=T)
        home = rows.address(both, jining)
        rows.order(jining, both, home, owner, created_at=T - timedelta(hours=1), approved=True)
        rows.order(jinan, both, home, owner, created_at=T + timedelta(hours=1), approved=True)
        # Never assessed, with a pending order.
        pending = rows.recipient(owner, assessed_at=None)
        rows.order(jining, pending, rows.address(pending, jining), owner,
                   created_at=T - timedelta(hours=1), approved=False)
        # Assessed with no order or bed (loaded directly): her home's organization.
        loaded = rows.recipient(owner, assessed_at=T)
        rows.address(loaded, jinan)
        # Assessed by the opening of a family bed at Jinan.
        bed = rows.recipient(owner, assessed_at=T)
        bed_home = rows.address(bed, jinan)
        rows.add("family_beds", organization_id=jinan, patient_id=bed, address_id=bed_home,
                 diagnosis="脑梗", start_date=T.date(), end_date=T.date() + timedelta(days=29),
                 status="open", opened_by=owner, opened_at=T, created_at=T, updated_at=T)
    engine.dispose()

    upgrade(url_at_0004, "0005")

    assert _assessments(url_at_0004) == {(both, jining, T), (loaded, jinan, T), (bed, jinan, T)}


def test_upgrade_drops_assessed_at_and_downgrade_restores_the_first_assessment(url_at_0004):
    engine = sa.create_engine(url_at_0004)
    with engine.begin() as conn:
        rows = _Rows(conn)
        org = rows.org()
        owner = rows.add("users", phone="13900000002", password_hash="x", name="家属",
                         role="patient", active=True, created_at=T)
        patient = rows.recipient(owner, assessed_at=T)
        rows.address(patient, org)
    upgrade(url_at_0004, "0005")
    assert "assessed_at" not in {c["name"] for c in sa.inspect(engine).get_columns("patients")}

    command.downgrade(alembic_config(url_at_0004), "0004")

    with engine.connect() as conn:
        restored = conn.execute(sa.text("SELECT assessed_at FROM patients")).scalar_one()
    engine.dispose()
    restored = restored if isinstance(restored, datetime) else datetime.fromisoformat(restored)
    assert restored.replace(tzinfo=restored.tzinfo or UTC) == T

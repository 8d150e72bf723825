"""The retention jobs: location traces and Idempotency-Keys past their time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from homecare.nurses.models import LocationPing
from homecare.orders.models import IdempotencyKey
from jobs import purge_idempotency_keys, purge_location_traces
from tests.factories import NurseFactory, UserFactory

NOW = datetime(2030, 5, 7, 2, 0, tzinfo=UTC)


def test_purge_location_traces_keeps_only_the_retention_period(app, session, org):
    nurse = NurseFactory(organization_id=org.id)
    days = app.config["HOMECARE"].trace_retention_days
    for age in (days + 1, days - 1):
        at = NOW - timedelta(days=age)
        session.add(LocationPing(nurse_id=nurse.id, lat=35.4, lng=116.5, recorded_at=at,
                                 received_at=at))
    session.flush()
    assert purge_location_traces.run(app, NOW) == 1
    left = session.scalars(sa.select(LocationPing.recorded_at)).all()
    assert left == [NOW - timedelta(days=days - 1)]


def test_purge_idempotency_keys_forgets_keys_past_their_ttl(app, session):
    user = UserFactory()
    ttl = app.config["HOMECARE"].idempotency_ttl_hours
    for n, age in enumerate((ttl + 1, ttl - 1)):
        session.add(IdempotencyKey(user_id=user.id, key=f"k{n}", request_hash="h" * 64,
                                   created_at=NOW - timedelta(hours=age)))
    session.flush()
    assert purge_idempotency_keys.run(app, NOW) == 1
    assert session.scalars(sa.select(IdempotencyKey.key)).all() == ["k1"]

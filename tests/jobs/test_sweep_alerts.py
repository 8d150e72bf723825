"""The alert sweep job, with a controlled clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from homecare.alerts.models import Alert
from jobs import sweep_alerts
from tests.factories import NurseFactory, booked_order

NOW = datetime(2030, 5, 7, 2, 0, tzinfo=UTC)


def test_sweep_alerts_raises_late_once_however_often_it_runs(app, session, org):
    nurse = NurseFactory(organization_id=org.id)
    order = booked_order(org, status="assigned", nurse_id=nurse.id,
                         planned_arrival=NOW - timedelta(minutes=20),
                         window_start=NOW - timedelta(minutes=30))
    assert sweep_alerts.run(app, NOW) == {"late_raised": 1}
    assert sweep_alerts.run(app, NOW + timedelta(minutes=1)) == {}
    assert session.scalars(sa.select(Alert.kind).where(Alert.order_id == order.id)).all() == [
        "late"]


def test_sweep_alerts_with_nothing_due_does_nothing(app, session, org):
    nurse = NurseFactory(organization_id=org.id)
    booked_order(org, status="assigned", nurse_id=nurse.id,
                 planned_arrival=NOW + timedelta(minutes=20))
    assert sweep_alerts.run(app, NOW) == {}

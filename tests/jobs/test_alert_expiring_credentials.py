"""The nightly credential check, with a controlled clock."""

from __future__ import annotations

from datetime import UTC, date, datetime

import sqlalchemy as sa

from homecare.alerts.models import Alert
from homecare.nurses.models import Nurse
from jobs import alert_expiring_credentials
from tests.factories import NurseFactory

NOW = datetime(2030, 5, 7, 19, 0, tzinfo=UTC)  # 03:00 on 8 May in Shanghai


def _alerts(session, nurse):
    return session.execute(sa.select(Alert.kind, Alert.severity, Alert.detail)
                           .where(Alert.nurse_id == nurse.id)).all()


def test_insurance_expiring_within_30_days_raises_one_alert(app, session, org):
    nurse = NurseFactory(organization_id=org.id, insurance_no="PICC-7",
                         insurance_valid_until=date(2030, 6, 1))
    assert alert_expiring_credentials.run(app, NOW) == {"nurses_checked": 1,
                                                        "alerts_raised": 1}
    ((kind, severity, detail),) = _alerts(session, nurse)
    assert (kind, severity) == ("credential_expiring", "warning")
    assert "liability insurance PICC-7" in detail and "expires on 2030-06-01" in detail
    # Idempotent: a rerun raises nothing new, and nobody is deactivated.
    assert alert_expiring_credentials.run(app, NOW)["alerts_raised"] == 0
    session.expire_all()
    assert session.get(Nurse, nurse.id).active is True


def test_expired_licence_raises_a_high_alert(app, session, org):
    nurse = NurseFactory(organization_id=org.id, license_valid_until=date(2030, 5, 1))
    alert_expiring_credentials.run(app, NOW)
    ((kind, severity, detail),) = _alerts(session, nurse)
    assert (kind, severity) == ("credential_expiring", "high")
    assert "expired on 2030-05-01" in detail


def test_credentials_valid_beyond_30_days_raise_nothing(app, session, org):
    nurse = NurseFactory(organization_id=org.id, insurance_valid_until=date(2030, 6, 8))
    assert alert_expiring_credentials.run(app, NOW)["alerts_raised"] == 0
    assert _alerts(session, nurse) == []


def test_renewal_arms_the_next_alert(app, session, org):
    nurse = NurseFactory(organization_id=org.id, insurance_valid_until=date(2030, 5, 20))
    alert_expiring_credentials.run(app, NOW)
    nurse.insurance_valid_until = date(2030, 6, 1)
    session.commit()
    assert alert_expiring_credentials.run(app, NOW)["alerts_raised"] == 1

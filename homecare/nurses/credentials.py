"""A nurse's credentials: her practising licence and her liability insurance.

Each has a valid-until date. A nurse is sent only to a visit whose local date
both cover (the dispatch hard filter ``credentials``: candidates, offers,
accepts and assignments all go through it). A credential with no date recorded
covers nothing: the platform must be able to show she was licensed and insured.
The nightly check raises one alert per credential and expiry date from
``credential_alert_days`` before it; it deactivates nobody, since the supervisor
may have the renewal in hand.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from homecare.config import Config
from homecare.db import atomic

RULE = "credentials"


def lapse(row: Any, day: date) -> str | None:
    """Why ``row``'s credentials do not cover ``day`` (the dispatch rule's reason), or None."""
    if row.license_valid_until is None:
        return "no valid-until date is recorded for her practising licence"
    if row.license_valid_until < day:
        return (f"her practising licence {row.license_no} was valid until "
                f"{row.license_valid_until.isoformat()}, before the visit on {day.isoformat()}")
    if row.insurance_valid_until is None or not row.insurance_no:
        return "no liability insurance is recorded for her"
    if row.insurance_valid_until < day:
        return (f"her liability insurance {row.insurance_no} was valid until "
                f"{row.insurance_valid_until.isoformat()}, before the visit on "
                f"{day.isoformat()}")
    return None


@atomic
def alert_expiring(*, session: Session, now: datetime, config: Config) -> dict[str, int]:
    """Alert the supervisors of every active nurse whose licence or insurance ends
    within ``config.credential_alert_days`` (or has ended); commits.

    Idempotent: the alert's cause names the nurse, the credential and its date, so
    a rerun raises nothing new and a renewal (a new date) arms the next alert.
    """
    from homecare.alerts.service import raise_alert
    from homecare.nurses.models import Nurse

    today = now.astimezone(ZoneInfo(config.timezone)).date()
    horizon = today + timedelta(days=config.credential_alert_days)
    counts = {"nurses_checked": 0, "alerts_raised": 0}
    nurses = session.scalars(sa.select(Nurse).where(Nurse.active.is_(True)).where(sa.or_(
        Nurse.license_valid_until <= horizon, Nurse.insurance_valid_until <= horizon))
        .order_by(Nurse.id)).all()
    for nurse in nurses:
        counts["nurses_checked"] += 1
        for name, label, until in (
                ("licence", f"practising licence {nurse.license_no}", nurse.license_valid_until),
                ("insurance", f"liability insurance {nurse.insurance_no} ({nurse.insurer})",
                 nurse.insurance_valid_until)):
            if until is None or until > horizon:
                continue
            verb = "expired on" if until < today else "expires on"
            alert = raise_alert(
                session, kind="credential_expiring", organization_id=nurse.organization_id,
                cause=f"credential:{name}:nurse:{nurse.id}:{until.isoformat()}",
                nurse_id=nurse.id, now=now, severity="high" if until < today else "warning",
                detail=f"her {label} {verb} {until.isoformat()}; after that date she is not "
                       "dispatched")
            if alert is not None:
                counts["alerts_raised"] += 1
    session.commit()
    return counts

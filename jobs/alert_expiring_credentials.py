"""Job: alert supervisors of licences and insurance expiring soon (deactivates nobody)."""

from __future__ import annotations

import logging
from datetime import datetime

from flask import Flask

from homecare.clock import utcnow
from homecare.db import db

log = logging.getLogger(__name__)


def run(app: Flask, now: datetime | None = None) -> dict:
    from homecare.nurses.credentials import alert_expiring

    with app.app_context():
        result = alert_expiring(session=db.session, now=now or utcnow(),
                                config=app.config["HOMECARE"])
    log.info("alert_expiring_credentials: %s", result)
    return result

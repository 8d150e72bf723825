"""Job: raise due late, no_show and overtime alerts; resolve those whose cause went."""

from __future__ import annotations

import logging
from datetime import datetime

from flask import Flask

from homecare.clock import utcnow
from homecare.db import db

log = logging.getLogger(__name__)


def run(app: Flask, now: datetime | None = None) -> dict:
    from homecare.alerts.service import sweep_alerts

    with app.app_context():
        result = sweep_alerts(session=db.session, now=now or utcnow(),
                              config=app.config["HOMECARE"])
    if result:
        log.info("sweep_alerts: %s", result)
    return result

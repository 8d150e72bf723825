"""Job: delete location pings older than the retention period (PIPL art. 28)."""

from __future__ import annotations

import logging
from datetime import datetime

from flask import Flask

from homecare.clock import utcnow
from homecare.db import db

log = logging.getLogger(__name__)


def run(app: Flask, now: datetime | None = None) -> int:
    from homecare.nurses.service import purge_location_traces

    config = app.config["HOMECARE"]
    with app.app_context():
        deleted = purge_location_traces(session=db.session, now=now or utcnow(),
                                        retention_days=config.trace_retention_days)
    log.info("purge_location_traces: %s pings deleted", deleted)
    return deleted

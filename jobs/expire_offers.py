"""Job: sweep offer deadlines (expired offers, next rounds, unassigned alerts)."""

from __future__ import annotations

import logging
from datetime import datetime

from flask import Flask

from homecare.clock import utcnow
from homecare.db import db

log = logging.getLogger(__name__)


def run(app: Flask, now: datetime | None = None) -> dict:
    from homecare.dispatch.service import expire_offers

    with app.app_context():
        result = expire_offers(session=db.session, now=now or utcnow(),
                               config=app.config["HOMECARE"])
    if result:
        log.info("expire_offers: %s", result)
    return result

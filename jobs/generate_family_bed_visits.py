"""Job: extend every open family bed's generated visits to the horizon (nightly)."""

from __future__ import annotations

import logging
from datetime import datetime

from flask import Flask

from homecare.clock import utcnow
from homecare.db import db

log = logging.getLogger(__name__)


def run(app: Flask, now: datetime | None = None) -> dict:
    from homecare.family_beds.service import extend_family_beds

    config = app.config["HOMECARE"]
    with app.app_context():
        result = extend_family_beds(session=db.session, now=now or utcnow(), config=config)
    log.info("generate_family_bed_visits: %s", result)
    return result

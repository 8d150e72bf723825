"""Job: the nightly family-bed run. Closes episodes past their end date and warns
before an end (``family_beds.risk.keep_end_dates``), then extends every open
episode's generated visits to the horizon."""

from __future__ import annotations

import logging
from datetime import datetime

from flask import Flask

from homecare.clock import utcnow
from homecare.db import db

log = logging.getLogger(__name__)


def run(app: Flask, now: datetime | None = None) -> dict:
    from homecare.family_beds.risk import keep_end_dates
    from homecare.family_beds.service import extend_family_beds

    config = app.config["HOMECARE"]
    now = now or utcnow()
    with app.app_context():
        # Closing first: an episode that ended is not extended.
        result = keep_end_dates(session=db.session, now=now, config=config)
        result.update(extend_family_beds(session=db.session, now=now, config=config))
    log.info("generate_family_bed_visits: %s", result)
    return result

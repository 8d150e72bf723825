"""Job: the morning plan of today's routes for every organization."""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask

from homecare.clock import utcnow
from homecare.db import db

log = logging.getLogger(__name__)


def run(app: Flask, now: datetime | None = None) -> dict:
    from homecare.scheduling.service import plan_all_organizations

    config = app.config["HOMECARE"]
    now = now or utcnow()
    day = now.astimezone(ZoneInfo(config.timezone)).date()
    with app.app_context():
        result = plan_all_organizations(session=db.session, day=day, now=now, config=config)
    log.info("plan_day: %s", result)
    return result

"""Job: repair the planned days that changed (due repairs of the queue), after noting
visits running over their planned end."""

from __future__ import annotations

import logging
from datetime import datetime

from flask import Flask

from homecare.clock import utcnow
from homecare.db import db
from homecare.scheduling.repair_queue import note_overruns, run_due_repairs

log = logging.getLogger(__name__)


def run(app: Flask, now: datetime | None = None) -> dict:
    config = app.config["HOMECARE"]
    now = now or utcnow()
    with app.app_context():
        overruns = note_overruns(session=db.session, now=now, config=config)
        result = run_due_repairs(session=db.session, now=now, config=config)
    if overruns:
        result["overruns"] = overruns
    if result:
        log.info("repair_days: %s", result)
    return result

"""Job: prove the scheduler alive (``/ready``), and notice a lost leader lock."""

from __future__ import annotations

import logging
from datetime import datetime

from flask import Flask

from homecare.clock import utcnow
from homecare.db import db
from jobs.leader import Process, record_heartbeat

log = logging.getLogger(__name__)


def run(app: Flask, now: datetime | None = None, *, process: Process) -> bool:
    """Beat, or, if the lock is gone (its connection dropped), tell the process to stop
    leading: a second scheduler may already be running the jobs."""
    if not process.leadership.still_held():
        log.error("scheduler %s lost the leader lock; standing down", process.holder)
        process.lost.set()
        return False
    now = now or utcnow()
    with app.app_context():
        record_heartbeat(session=db.session, holder=process.holder,
                         started_at=process.started_at or now, now=now)
    return True

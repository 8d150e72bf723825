"""Record each job run (start, duration, success) in ``job_runs`` for ``/metrics``.

The jobs process has no HTTP server of its own, and a scrape may reach any API
process: the database is where every process can read the last run.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from homecare.clock import utcnow
from homecare.db import db
from homecare.ops.models import JobRun

log = logging.getLogger(__name__)


def record_run(*, session: Session, job_id: str, started_at: datetime, duration_s: float,
               ok: bool) -> None:
    """Upsert the job's row (one per job id); commits."""
    row = session.get(JobRun, job_id, with_for_update=True)
    if row is None:
        row = JobRun(job_id=job_id, last_started_at=started_at, last_duration_s=duration_s,
                     runs=0, failures=0)
        session.add(row)
    row.last_started_at, row.last_duration_s = started_at, round(duration_s, 3)
    row.runs += 1
    if ok:
        row.last_success_at = started_at
    else:
        row.failures += 1
        row.last_failure_at = started_at
    try:
        session.commit()
    except sa.exc.IntegrityError:
        # The first run of a job raced another leader's first run (a takeover):
        # the other row stands, this run is not worth a retry.
        session.rollback()


def recorded(job_id: str, run: Callable[..., Any]) -> Callable[..., Any]:
    """``run`` (a job of the table), recording its outcome; the job's errors still
    propagate to APScheduler, which logs them."""

    @functools.wraps(run)
    def wrapper(app: Flask, *args: Any, **kwargs: Any) -> Any:
        started_at, began = utcnow(), time.perf_counter()
        ok = False
        try:
            result = run(app, *args, **kwargs)
            ok = result is not False  # the heartbeat answers False when it lost the lock
            return result
        finally:
            try:
                with app.app_context():
                    record_run(session=db.session, job_id=job_id, started_at=started_at,
                               duration_s=time.perf_counter() - began, ok=ok)
            except Exception:
                # The database is down: the run's own error (if any) says so already.
                log.warning("could not record the run of %s", job_id)

    return wrapper

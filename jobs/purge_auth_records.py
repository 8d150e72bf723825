"""Job: forget expired refresh tokens and SMS codes past the day their limits count."""

from __future__ import annotations

import logging
from datetime import datetime

from flask import Flask

from homecare.clock import utcnow
from homecare.db import db

log = logging.getLogger(__name__)


def run(app: Flask, now: datetime | None = None) -> int:
    from homecare.accounts.sessions import purge_spent_auth_records

    with app.app_context():
        deleted = purge_spent_auth_records(session=db.session, now=now or utcnow())
    if deleted:
        log.info("purge_auth_records: %s rows deleted", deleted)
    return deleted

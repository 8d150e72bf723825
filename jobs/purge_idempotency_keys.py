"""Job: forget Idempotency-Keys past their time to live."""

from __future__ import annotations

import logging
from datetime import datetime

from flask import Flask

from homecare.clock import utcnow
from homecare.db import db

log = logging.getLogger(__name__)


def run(app: Flask, now: datetime | None = None) -> int:
    from homecare.orders.idempotency import purge_idempotency_keys

    config = app.config["HOMECARE"]
    with app.app_context():
        deleted = purge_idempotency_keys(session=db.session, now=now or utcnow(),
                                         ttl_hours=config.idempotency_ttl_hours)
    if deleted:
        log.info("purge_idempotency_keys: %s keys deleted", deleted)
    return deleted

"""Job: deliver pending notifications from the outbox."""

from __future__ import annotations

import logging
from datetime import datetime

from flask import Flask

from homecare.clock import utcnow
from homecare.db import db
from homecare.notifications.delivery import LoggingSender, Sender

log = logging.getLogger(__name__)


def run(app: Flask, now: datetime | None = None, sender: Sender | None = None) -> int:
    from homecare.notifications.service import relay_pending

    with app.app_context():
        sent = relay_pending(session=db.session, sender=sender or LoggingSender(),
                             now=now or utcnow())
    if sent:
        log.info("relay_notifications: %s sent", sent)
    return sent

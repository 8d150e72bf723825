"""Job: deliver pending notifications from the outbox by the configured channels."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from flask import Flask

from homecare.clock import utcnow
from homecare.db import db
from homecare.notifications.delivery import Sender, channels_for

log = logging.getLogger(__name__)


def run(app: Flask, now: datetime | None = None,
        sender: Sender | Sequence[Sender] | None = None) -> int:
    from homecare.notifications.service import relay_pending

    with app.app_context():
        # Built afresh each run: a webhook found unreachable is tried again next run.
        channels = sender or channels_for(app.config["HOMECARE"])
        sent = relay_pending(session=db.session, sender=channels, now=now or utcnow())
    if sent:
        log.info("relay_notifications: %s sent", sent)
    return sent

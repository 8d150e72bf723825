"""Job: repair the planned days that changed (due repairs of the queue), after noting
visits running over their planned end."""

from __future__ import annotations

import logging
from datetime import datetime

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from homecare.clock import utcnow
from homecare.config import Config
from homecare.db import db
from homecare.dispatch.service import start_dispatch
from homecare.orders.models import Order
from homecare.scheduling.repair_queue import note_overruns, run_due_repairs

log = logging.getLogger(__name__)


def _offer(session: Session, order_ids: list[int], now: datetime, config: Config) -> None:
    # A visit the repaired plan could not keep goes out to the nurses as any order
    # back in dispatch does (dispatch's first round; an unassigned alert if nobody).
    for order in session.scalars(sa.select(Order).where(Order.id.in_(order_ids))
                                 .order_by(Order.id)):
        start_dispatch(session=session, order=order, now=now, config=config)


def run(app: Flask, now: datetime | None = None) -> dict:
    config = app.config["HOMECARE"]
    now = now or utcnow()
    with app.app_context():
        try:
            overruns = note_overruns(session=db.session, now=now, config=config)
        except Exception:
            # Noting overruns failing must not stop the repairs already queued.
            log.exception("repair_days: noting overruns failed")
            db.session.rollback()
            overruns = 0
        result = run_due_repairs(session=db.session, now=now, config=config,
                                 offer=lambda session, order_ids, at: _offer(
                                     session, order_ids, at, config))
    if overruns:
        result["overruns"] = overruns
    if result:
        log.info("repair_days: %s", result)
    return result

"""The load benchmark's baseline: a bare Flask + SQLAlchemy endpoint that inserts one row,
and bare ping- and booking-shaped ones (the floor under the mixed target).

Served by gunicorn with the very settings of homecare/serving.py (bench/load.py runs
``gunicorn -c python:homecare.serving bench.baseline_app:app``), so the ratio of the
ping path's throughput to this one's is what homecare's own work costs.
"""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime

import sqlalchemy as sa
from flask import Flask, jsonify, request

from homecare.db import make_engine

app = Flask(__name__)
_metadata = sa.MetaData()
pings = sa.Table("baseline_pings", _metadata,
                 sa.Column("id", sa.Integer, primary_key=True),
                 sa.Column("lat", sa.Float, nullable=False),
                 sa.Column("lng", sa.Float, nullable=False),
                 sa.Column("at", sa.DateTime(timezone=True), nullable=False))
_engine: sa.Engine | None = None
_lock = threading.Lock()


def engine() -> sa.Engine:
    # Made in the worker (after gunicorn forks), like homecare's pool after post_fork,
    # and by homecare's own make_engine: the same pool and the same liveness check (a
    # connection is pinged only after idling), so the ratio compares the work per
    # request, not two connection policies.
    global _engine
    with _lock:
        if _engine is None:
            _engine = make_engine(os.environ["HOMECARE_DATABASE_URL"])
    return _engine


@app.post("/baseline")
def insert_one():
    body = request.get_json()
    with engine().begin() as conn:
        new_id = conn.execute(pings.insert().returning(pings.c.id),
                              {"lat": body["lat"], "lng": body["lng"],
                               "at": datetime.now(UTC)}).scalar_one()
    return jsonify(id=new_id), 201


# The SQL statements of homecare's ping and booking (bench/profile_ping.py and
# bench/profile_booking.py count them): the ping's caller, her profile's UPDATE and the
# INSERT; the booking's Idempotency-Key claim, committed alone, then the rest.
PING_STATEMENTS = 3
BOOKING_STATEMENTS = 18


@app.post("/baseline/shaped")
def insert_shaped():
    """One-row INSERTs, as many as a ping or a booking runs statements, committed as it
    commits (``claim``: the first alone, as a booking's key), and no domain work at
    all: what the server, the driver and the database cost for its round trips."""
    body = request.get_json()
    row = {"lat": body["lat"], "lng": body["lng"], "at": datetime.now(UTC)}
    statements = body["statements"]
    insert = pings.insert().returning(pings.c.id)
    first_id = None
    if body.get("claim"):
        with engine().begin() as conn:
            first_id = conn.execute(insert, row).scalar_one()
        statements -= 1
    with engine().begin() as conn:
        for _ in range(statements):
            new_id = conn.execute(insert, row).scalar_one()
            first_id = first_id or new_id
    return jsonify(id=first_id), 201


def create_table(url: str) -> None:
    e = sa.create_engine(url)
    _metadata.create_all(e)
    e.dispose()

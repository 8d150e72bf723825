"""The ping's answer is serialised by hand (``schemas.ping_out``, the busiest route);
it must stay what the documented ``PingOutSchema`` would give."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
import sqlalchemy as sa

from homecare.nurses.models import LocationPing
from homecare.nurses.schemas import PingOutSchema
from tests.factories import ShiftFactory, auth, booked_order
from tests.helpers import API


def _documented(session, tracking: str) -> dict:
    """The stored ping dumped by the documented schema, as JSON would carry it."""
    ping = session.scalars(sa.select(LocationPing)).one()
    fields = {c: getattr(ping, c) for c in ("id", "nurse_id", "order_id", "lat", "lng",
                                            "accuracy_m", "recorded_at", "received_at")}
    return json.loads(json.dumps(PingOutSchema().dump({**fields, "tracking": tracking})))


def _same(answer: dict, documented: dict) -> bool:
    # The answer gives the fix time in the offset the phone sent (the database's copy
    # is in UTC): the same moment.
    moments = ("recorded_at", "received_at")
    return (answer.keys() == documented.keys()
            and all(datetime.fromisoformat(answer[k]) == datetime.fromisoformat(documented[k])
                    for k in moments)
            and {k: v for k, v in answer.items() if k not in moments}
            == {k: v for k, v in documented.items() if k not in moments})


@pytest.mark.parametrize("extra", [{}, {"accuracy_m": 8, "recorded_at":
                                         "2020-01-01T08:00:00.250000+08:00"}])
def test_ping_on_shift_answers_what_the_schema_documents(client, session, nurse, nurse_user,
                                                         extra):
    ShiftFactory(nurse_id=nurse.id)
    r = client.post(f"{API}/nurses/me/location", headers=auth(nurse_user),
                    json={"lat": 35.4131, "lng": 116.593, "coord_system": "gcj02", **extra})
    assert r.status_code == 201, r.get_json()
    assert _same(r.get_json(), _documented(session, "shift")), r.get_json()


def test_ping_on_an_order_answers_what_the_schema_documents(client, session, org, nurse,
                                                            nurse_user):
    order = booked_order(org, status="en_route", nurse_id=nurse.id)
    r = client.post(f"{API}/nurses/me/location", headers=auth(nurse_user),
                    json={"lat": 35.41, "lng": 116.58, "accuracy_m": 12.5})
    assert r.status_code == 201, r.get_json()
    got = r.get_json()
    assert got["order_id"] == order.id
    assert _same(got, _documented(session, "order")), got

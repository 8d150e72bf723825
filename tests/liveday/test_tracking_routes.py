"""GET /orders/{id}/tracking: the owner sees her nurse on the way, and only then."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from conftest import assert_problem
from homecare.accounts.models import User
from homecare.geo import wgs84_to_gcj02
from tests.factories import ShiftFactory, UserFactory, auth
from tests.helpers import API, address_of, north_of
from tests.liveday.conftest import owner_of


def _track(client, order, user):
    return client.get(f"{API}/orders/{order.id}/tracking", headers=auth(user))


def _ping(client, nurse_user, point, at):
    r = client.post(f"{API}/nurses/me/location", headers=auth(nurse_user),
                    json={"lat": point.lat, "lng": point.lng, "accuracy_m": 12,
                          "recorded_at": at.isoformat()})
    assert r.status_code == 201, r.get_json()


@pytest.fixture
def trip(client, session, committed_visit, nurse, nurse_user, pin_clock, now):
    """An assigned visit whose nurse is on shift; ``step(minutes)`` moves the clock on."""
    ShiftFactory(nurse_id=nurse.id)
    order = committed_visit("assigned")
    owner = session.get(User, owner_of(session, order))

    def step(minutes):
        at = now + timedelta(minutes=minutes)
        pin_clock(at)
        return at

    return order, owner, step


def test_the_owner_sees_her_nurse_on_the_way_and_only_then(client, session, trip, nurse_user,
                                                           now):
    order, owner, step = trip
    door = address_of(session, order)
    # At home before setting off: that position is never shown.
    _ping(client, nurse_user, north_of(door, 5000), now)
    assert_problem(_track(client, order, owner), 409, "not_en_route")

    step(1)
    assert client.post(f"{API}/orders/{order.id}/depart",
                       headers=auth(nurse_user)).status_code == 200
    body = _track(client, order, owner).get_json()
    assert body["status"] == "en_route" and body["lat"] is None and body["eta_min"] is None

    at = step(2)
    on_the_way = north_of(door, 3000)
    _ping(client, nurse_user, on_the_way, at)
    r = _track(client, order, owner)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["lat"] == pytest.approx(on_the_way.lat) and body["accuracy_m"] == 12
    gcj = wgs84_to_gcj02(*on_the_way)
    assert body["gcj02"]["lat"] == pytest.approx(gcj.lat, abs=1e-6)
    # 3 km straight, x1.3 detour at 25 km/h: about 9.4 minutes.
    assert 8 < body["eta_min"] < 11
    first_eta = body["eta_min"]

    at = step(3)
    _ping(client, nurse_user, north_of(door, 500), at)
    body = _track(client, order, owner).get_json()
    assert body["eta_min"] < first_eta
    assert datetime.fromisoformat(body["updated_at"]) == at

    step(4)
    r = client.post(f"{API}/orders/{order.id}/check-in", headers=auth(nurse_user),
                    json={"lat": door.lat, "lng": door.lng})
    assert r.status_code == 200, r.get_json()
    body = assert_problem(_track(client, order, owner), 409, "not_en_route")
    assert body["current_status"] == "in_service"


def test_nobody_else_sees_her(client, session, committed_visit, supervisor, nurse_user,
                              now):
    order = committed_visit("en_route", departed_at=now)
    assert_problem(_track(client, order, UserFactory(role="patient")), 404, "order_not_found")
    assert_problem(_track(client, order, supervisor), 403)
    assert_problem(_track(client, order, nurse_user), 403)


def test_a_finished_visit_is_409(client, session, committed_visit):
    order = committed_visit("completed")
    owner = session.get(User, owner_of(session, order))
    assert_problem(_track(client, order, owner), 409, "not_en_route")

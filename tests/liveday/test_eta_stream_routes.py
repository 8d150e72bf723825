"""ETA updates on GET /events/stream: the owner's stream shows her nurse on the way
(a ping that moves the ETA by a minute or more), nobody else's, and none after check-in;
Last-Event-ID replays the ones missed."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from homecare.accounts.models import User
from homecare.geo import wgs84_to_gcj02
from tests.factories import ShiftFactory, UserFactory, auth
from tests.helpers import API, address_of, north_of
from tests.liveday.conftest import owner_of
from tests.liveday.test_event_stream_routes import _stream


def _etas(events):
    return [data for _, name, data in events if name == "eta"]


@pytest.fixture
def trip(client, session, committed_visit, nurse, nurse_user, pin_clock, now):
    """An assigned visit of ``nurse`` (on shift) and its owner; ``ping(metres, minute)``
    reports her that far north of the door, that many minutes after ``now``."""
    ShiftFactory(nurse_id=nurse.id)
    order = committed_visit("assigned")
    owner = session.get(User, owner_of(session, order))
    door = address_of(session, order)

    def ping(metres, minute):
        at = now + timedelta(minutes=minute)
        pin_clock(at)
        point = north_of(door, metres)
        r = client.post(f"{API}/nurses/me/location", headers=auth(nurse_user),
                        json={"lat": point.lat, "lng": point.lng, "accuracy_m": 12,
                              "recorded_at": at.isoformat()})
        assert r.status_code == 201, r.get_json()
        return point, at

    def depart(minute):
        pin_clock(now + timedelta(minutes=minute))
        r = client.post(f"{API}/orders/{order.id}/depart", headers=auth(nurse_user))
        assert r.status_code == 200, r.get_json()

    return order, owner, door, ping, depart


def test_the_owner_sees_her_nurse_coming_after_a_ping(client, trip):
    order, owner, _door, ping, depart = trip
    ping(5000, 0)  # at home, before setting off: never shown
    depart(1)
    (ready,) = _stream(client, owner)
    assert ready[0].startswith("n") and ".t" in ready[0]
    point, at = ping(3000, 2)
    events = _stream(client, owner, ready[0])
    (eta,) = _etas(events)
    assert eta["order_id"] == order.id and eta["accuracy_m"] == 12
    # 3 km straight, x1.3 detour at 25 km/h: about 9.4 minutes, as tracking says.
    assert 8 < eta["eta_min"] < 11
    tracking = client.get(f"{API}/orders/{order.id}/tracking", headers=auth(owner)).get_json()
    assert eta["eta_min"] == tracking["eta_min"]
    gcj = wgs84_to_gcj02(*point)
    assert eta["gcj02"] == {"lat": pytest.approx(gcj.lat, abs=1e-6),
                            "lng": pytest.approx(gcj.lng, abs=1e-6)}
    assert datetime.fromisoformat(eta["updated_at"]) == at
    # Nothing before departure, from the very start either.
    assert len(_etas(_stream(client, owner, "n0.t0"))) == 1


def test_a_ping_that_moves_the_eta_by_less_than_a_minute_is_not_sent(client, trip):
    _order, owner, _door, ping, depart = trip
    depart(1)
    ping(3000, 2)
    ping(2900, 3)  # 100 m: a fraction of a minute
    ping(2000, 4)  # 1 km nearer: about 3 minutes
    etas = [data["eta_min"] for data in _etas(_stream(client, owner, "n0.t0"))]
    assert len(etas) == 2 and etas[0] - etas[1] > 2


def test_last_event_id_replays_the_missed_etas_then_only_what_came_after(client, trip):
    _order, owner, _door, ping, depart = trip
    depart(1)
    (ready,) = _stream(client, owner)
    ping(4000, 2)
    ping(2500, 3)  # the app was closed for both
    missed = _stream(client, owner, ready[0])
    assert len(_etas(missed)) == 2
    first_eta_id = next(event_id for event_id, name, _ in missed if name == "eta")
    resumed = _stream(client, owner, first_eta_id)
    assert [data["eta_min"] for data in _etas(resumed)] == [_etas(missed)[1]["eta_min"]]
    ping(1000, 4)
    (latest,) = _etas(_stream(client, owner, missed[-1][0]))
    assert latest["eta_min"] < _etas(missed)[1]["eta_min"]


def test_nobody_but_the_owner_sees_it(client, session, trip, nurse_user, supervisor,
                                      other_org):
    order, _owner, _door, ping, depart = trip
    stranger = UserFactory(role="patient")
    their_supervisor = UserFactory(role="supervisor", organization_id=other_org.id)
    session.commit()
    depart(1)
    ping(3000, 2)
    assert _etas(_stream(client, stranger, "n0.t0")) == []
    assert _etas(_stream(client, nurse_user, "n0")) == []
    # A supervisor has no ETA source at all; a t part in her id is not hers to read.
    assert _etas(_stream(client, their_supervisor, "a0.e0.n0")) == []
    assert _etas(_stream(client, supervisor, "a0.e0.n0")) == []


def test_etas_stop_at_check_in_even_on_replay(client, trip, nurse_user):
    order, owner, door, ping, depart = trip
    depart(1)
    ping(3000, 2)
    assert len(_etas(_stream(client, owner, "n0.t0"))) == 1
    r = client.post(f"{API}/orders/{order.id}/check-in", headers=auth(nurse_user),
                    json={"lat": door.lat, "lng": door.lng})
    assert r.status_code == 200, r.get_json()
    ping(20, 10)  # at the door, in service: her trace, not the family's
    events = _stream(client, owner, "n0.t0")
    assert _etas(events) == []
    assert "nurse_arrived" in [data.get("kind") for _, name, data in events
                               if name == "notification"]

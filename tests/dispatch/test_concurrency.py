"""Accepting once and sweeping once, against real concurrent connections (PostgreSQL).

These tests commit for real through a second app and delete what they made.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import sqlalchemy as sa

from homecare import create_app
from homecare.accounts.models import User
from homecare.clock import utcnow
from homecare.db import db
from homecare.dispatch.models import Offer
from homecare.dispatch.service import expire_offers
from homecare.nurses.models import Nurse
from homecare.orders.models import Order, OrderEvent
from tests.factories import (
    NurseFactory,
    OrganizationFactory,
    ServiceItemFactory,
    ShiftFactory,
    UserFactory,
    auth,
    booked_order,
)
from tests.helpers import API, clean_up_city

# A guard against a hung test, never an assertion about speed.
GUARD_SECONDS = 60
THREADS = 50


@pytest.fixture
def city(app, app_overrides):
    """A second app whose sessions commit for real, and a maker of nurses and orders."""
    fresh = create_app({**app_overrides, "offer_fanout": 1})
    made: dict[str, list] = {"orgs": [], "items": []}
    with fresh.app_context():
        org = OrganizationFactory()
        item = ServiceItemFactory()
        made["orgs"].append(org.id)
        made["items"].append(item.code)
        db.session.commit()

        def nurse(**kwargs) -> Nurse:
            n = NurseFactory(organization_id=org.id, **kwargs)
            ShiftFactory(nurse_id=n.id)
            db.session.commit()
            return n

        def order(status: str = "offered", **kwargs) -> Order:
            o = booked_order(org, status=status, item=item, **kwargs)
            db.session.commit()
            return o

        def offer(o: Order, n: Nurse, **kwargs) -> Offer:
            kwargs.setdefault("expires_at", utcnow() + timedelta(minutes=5))
            row = Offer(order_id=o.id, nurse_id=n.id, round=1, status="open", distance_km=1.0,
                        eta_min=3.0, score=0.8, **kwargs)
            db.session.add(row)
            db.session.commit()
            return row

        try:
            yield {"app": fresh, "org": org, "nurse": nurse, "order": order, "offer": offer}
        finally:
            clean_up_city(org.id, item.code)


def _accept_all(app, attempts: list[tuple[int, dict]]) -> list[tuple[int, dict]]:
    """POST every (offer id, headers) accept at once; returns (status, body) each."""
    start = threading.Barrier(len(attempts))

    def accept(attempt):
        offer_id, headers = attempt
        start.wait(GUARD_SECONDS)
        r = app.test_client().post(f"{API}/offers/{offer_id}/accept", headers=headers)
        return r.status_code, r.get_json()

    with ThreadPoolExecutor(len(attempts)) as pool:
        return list(pool.map(accept, attempts, timeout=GUARD_SECONDS))


def _headers(app, nurse: Nurse) -> dict:
    with app.app_context():
        return auth(db.session.get(User, nurse.user_id))


@pytest.mark.postgres
def test_fifty_nurses_accepting_one_visit_give_one_winner(city):
    app = city["app"]
    with app.app_context():
        order = city["order"]()
        nurses = [city["nurse"](home_lat=35.41 + k * 0.0005) for k in range(THREADS)]
        offers = [city["offer"](order, n) for n in nurses]
        attempts = [(o.id, _headers(app, n)) for o, n in zip(offers, nurses, strict=True)]
    results = _accept_all(app, attempts)
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [409] * (THREADS - 1), results
    assert {body["code"] for status, body in results if status == 409} == {"offer_taken"}
    winner = next(body["nurse_id"] for status, body in results if status == 200)
    with app.app_context():
        fresh = db.session.get(Order, order.id)
        assert (fresh.status, fresh.nurse_id) == ("assigned", winner)
        states = list(db.session.scalars(sa.select(Offer.status)
                                         .where(Offer.order_id == order.id)))
        assert sorted(states) == ["accepted"] + ["withdrawn"] * (THREADS - 1)


@pytest.mark.postgres
def test_fifty_threads_accepting_the_same_offer_give_one_200(city):
    app = city["app"]
    with app.app_context():
        order = city["order"]()
        nurse = city["nurse"]()
        offer = city["offer"](order, nurse)
        headers = _headers(app, nurse)
    results = _accept_all(app, [(offer.id, headers)] * THREADS)
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [409] * (THREADS - 1), results
    # Her own repeats: the visit is hers, so not offer_taken (another nurse took it).
    losers = [body for status, body in results if status == 409]
    assert {(b["code"], b["offer_status"]) for b in losers} == {("offer_not_open", "accepted")}
    with app.app_context():
        events = db.session.scalar(sa.select(sa.func.count()).select_from(OrderEvent).where(
            OrderEvent.order_id == order.id, OrderEvent.to_status == "assigned"))
        assert events == 1


@pytest.mark.postgres
def test_one_nurse_accepting_overlapping_visits_at_once_holds_at_most_one(city):
    app = city["app"]
    now = utcnow()
    window = {"window_start": now + timedelta(hours=2),
              "window_end": now + timedelta(hours=2, minutes=15)}
    with app.app_context():
        nurse = city["nurse"]()
        orders = [city["order"](**window) for _ in range(10)]
        offers = [city["offer"](o, nurse) for o in orders]
        headers = _headers(app, nurse)
    results = _accept_all(app, [(o.id, headers) for o in offers])
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [409] * 9, results
    assert {body["code"] for status, body in results if status == 409} == {"slot_taken"}
    with app.app_context():
        held = db.session.scalar(sa.select(sa.func.count()).select_from(Order).where(
            Order.nurse_id == nurse.id, Order.status == "assigned"))
        assert held == 1


@pytest.mark.postgres
def test_expired_round_moves_to_the_next_candidates_exactly_once(city):
    app = city["app"]
    with app.app_context():
        order = city["order"](dispatch_round=1)
        first = city["nurse"](home_lat=35.4101)
        second = city["nurse"](home_lat=35.4120)
        city["nurse"](home_lat=35.4200)
        city["offer"](order, first, expires_at=utcnow() - timedelta(seconds=1))
    start = threading.Barrier(8)

    def sweep(_):
        start.wait(GUARD_SECONDS)
        with app.app_context():
            return expire_offers(session=db.session, now=utcnow(), config=app.config["HOMECARE"])

    with ThreadPoolExecutor(8) as pool:
        counts = list(pool.map(sweep, range(8), timeout=GUARD_SECONDS))
    assert sum(c.get("rounds_started", 0) for c in counts) == 1, counts
    assert sum(c.get("offers_expired", 0) for c in counts) == 1, counts
    with app.app_context():
        fresh = db.session.get(Order, order.id)
        assert (fresh.status, fresh.dispatch_round) == ("offered", 2)
        offers = {o.nurse_id: (o.round, o.status) for o in db.session.scalars(
            sa.select(Offer).where(Offer.order_id == order.id))}
        assert offers == {first.id: (1, "expired"), second.id: (2, "open")}


@pytest.mark.postgres
def test_assign_and_accept_racing_end_with_one_nurse(city):
    app = city["app"]
    with app.app_context():
        order = city["order"]()
        offered = city["nurse"]()
        chosen = city["nurse"](home_lat=35.412)
        offer = city["offer"](order, offered)
        supervisor = UserFactory(role="supervisor", organization_id=city["org"].id)
        db.session.commit()
        nurse_headers, supervisor_headers = _headers(app, offered), auth(supervisor)
    start = threading.Barrier(2)

    def accept(_):
        start.wait(GUARD_SECONDS)
        return app.test_client().post(f"{API}/offers/{offer.id}/accept",
                                      headers=nurse_headers).status_code

    def assign(_):
        start.wait(GUARD_SECONDS)
        return app.test_client().post(f"{API}/orders/{order.id}/assign",
                                      json={"nurse_id": chosen.id},
                                      headers=supervisor_headers).status_code

    with ThreadPoolExecutor(2) as pool:
        accepted = pool.submit(accept, None)
        assigned = pool.submit(assign, None)
        statuses = (accepted.result(GUARD_SECONDS), assigned.result(GUARD_SECONDS))
    assert all(s < 500 for s in statuses), statuses
    with app.app_context():
        fresh = db.session.get(Order, order.id)
        assert fresh.status == "assigned"
        # Whoever came second either lost (409) or, for the supervisor, reassigned.
        if statuses[0] == 200 and statuses[1] == 200:
            assert fresh.nurse_id == chosen.id
        else:
            assert fresh.nurse_id == (offered.id if statuses[0] == 200 else chosen.id)

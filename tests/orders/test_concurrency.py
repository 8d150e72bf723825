"""Booking and transitions against real concurrent connections (PostgreSQL)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from homecare import create_app
from homecare.clock import utcnow
from homecare.db import db
from homecare.orders.models import Order, OrderEvent
from homecare.orders.states import InvalidTransition, transition
from tests.factories import (
    AddressFactory,
    CareRecipientFactory,
    OrderFactory,
    OrganizationFactory,
    ServiceItemFactory,
    UserFactory,
    auth,
)
from tests.helpers import API, clean_up_city
from tests.orders.conftest import actor_of, local_window

# A guard against a hung test, never an assertion about speed.
GUARD_SECONDS = 30


@pytest.fixture
def committed(app, app_overrides):
    """A second app whose sessions commit for real, with one patient's bookable recipient."""
    fresh = create_app(app_overrides)
    with fresh.app_context():
        org = OrganizationFactory()
        item = ServiceItemFactory(duration_min=60)
        patient = UserFactory(role="patient")
        supervisor = UserFactory(role="supervisor", organization_id=org.id)
        recipient = CareRecipientFactory(owner_id=patient.id, assessed_by=org.id)
        address = AddressFactory(patient_id=recipient.id, organization_id=org.id)
        db.session.commit()
        start, end = local_window()
        data = {"app": fresh, "org": org, "item": item, "patient": patient,
                "supervisor": supervisor, "recipient": recipient,
                "patient_headers": auth(patient), "supervisor_headers": auth(supervisor),
                "body": {"patient_id": recipient.id, "address_id": address.id,
                         "service_code": item.code, "window_start": start.isoformat(),
                         "window_end": end.isoformat()}}
        try:
            yield data
        finally:
            clean_up_city(org.id, item.code, user_ids=[patient.id, supervisor.id],
                          recipient_ids=[recipient.id])


def _order_count(app, recipient_id: int) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(Order)
                                 .where(Order.patient_id == recipient_id))


def _post(app, path, body, headers, start: threading.Barrier | None = None):
    if start is not None:
        start.wait(GUARD_SECONDS)
    response = app.test_client().post(path, json=body, headers=headers)
    return response.status_code, response.get_json(), dict(response.headers)


@pytest.mark.postgres
def test_book_same_key_from_two_threads_creates_one_order(committed):
    app, headers = committed["app"], {**committed["patient_headers"], "Idempotency-Key": "race"}
    start = threading.Barrier(2)
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: _post(app, f"{API}/orders", committed["body"], headers,
                                                start), range(2)))
    statuses = sorted(status for status, _, _ in results)
    assert statuses in ([201, 201], [201, 409]), results
    if statuses == [201, 201]:  # the second came after the first finished: a replay
        assert results[0][1] == results[1][1]
        assert sorted(h.get("Idempotent-Replayed", "") for _, _, h in results) == ["", "true"]
    assert _order_count(app, committed["recipient"].id) == 1


@pytest.mark.postgres
def test_book_same_key_while_first_is_booking_is_409(committed, monkeypatch):
    app, headers = committed["app"], {**committed["patient_headers"], "Idempotency-Key": "slow"}
    first_is_booking, second_answered = threading.Event(), threading.Event()

    def dispatch_waiting_for_the_duplicate(*, session, order, now, config):
        # Hold the first booking open (key claimed, order not committed) until the
        # duplicate has had its answer: the overlap happens every run.
        first_is_booking.set()
        second_answered.wait(GUARD_SECONDS)
        return []

    monkeypatch.setattr("homecare.orders.service.start_dispatch",
                        dispatch_waiting_for_the_duplicate)
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(_post, app, f"{API}/orders", committed["body"], headers)
        assert first_is_booking.wait(GUARD_SECONDS)
        second = _post(app, f"{API}/orders", committed["body"], headers)
        second_answered.set()
        first = first.result(GUARD_SECONDS)
    assert first[0] == 201
    assert (second[0], second[1]["code"]) == (409, "idempotency_conflict")
    assert _order_count(app, committed["recipient"].id) == 1
    # Once the first has finished, the same request gets its response back.
    replay = _post(app, f"{API}/orders", committed["body"], headers)
    assert (replay[0], replay[1]) == (201, first[1])


def _submitted_order(committed) -> int:
    with committed["app"].app_context():
        order = OrderFactory(organization_id=committed["org"].id,
                             patient_id=committed["recipient"].id,
                             address_id=committed["body"]["address_id"],
                             booked_by=committed["patient"].id,
                             service_code=committed["item"].code, status="submitted")
        db.session.commit()
        return order.id


@pytest.mark.postgres
def test_approve_and_reject_at_once_only_one_wins(committed):
    app, headers = committed["app"], committed["supervisor_headers"]
    order_id = _submitted_order(committed)
    start = threading.Barrier(2)
    calls = [(f"{API}/orders/{order_id}/approve", {}),
             (f"{API}/orders/{order_id}/reject", {"reason": "不符合条件"})]
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda c: _post(app, c[0], c[1], headers, start), calls))
    assert sorted(status for status, _, _ in results) == [200, 409], results
    loser = next(body for status, body, _ in results if status == 409)
    assert loser["code"] == "invalid_transition"
    with app.app_context():
        events = list(db.session.scalars(sa.select(OrderEvent.to_status)
                                         .where(OrderEvent.order_id == order_id)))
        final = db.session.get(Order, order_id).status
    assert len(events) == 1 and events[0] == final


@pytest.mark.postgres
def test_transition_waiting_on_a_row_lock_fails_once_the_holder_commits(committed):
    app, actor = committed["app"], actor_of(committed["supervisor"])
    order_id = _submitted_order(committed)
    with app.app_context():
        holder = db.session
        held = holder.get(Order, order_id)
        with app.app_context():
            waiter = db.session
            stale = waiter.get(Order, order_id)  # read before the holder's update
            waiter.commit()
        transition(holder, held, "approved", actor=actor, now=utcnow())  # row locked now

        def reject_on_stale_copy():
            with app.app_context():
                session = db.session
                session.add(stale)
                try:
                    transition(session, stale, "rejected", actor=actor, now=utcnow(),
                               reason="冲突")
                    session.commit()
                except InvalidTransition as exc:
                    session.rollback()
                    return exc.extensions["current_status"]
                return "won"

        with ThreadPoolExecutor(1) as pool:
            outcome = pool.submit(reject_on_stale_copy)
            holder.commit()
            assert outcome.result(GUARD_SECONDS) == "approved"

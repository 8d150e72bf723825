"""Property test: random sequences of actions never leave an illegal order state or a 500."""

from __future__ import annotations

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from homecare.clock import utcnow
from homecare.errors import Problem
from homecare.orders.models import Order, OrderEvent, Review
from homecare.orders.states import HOLDS_NURSE, STATUSES, TRANSITIONS, transition
from tests.factories import AddressFactory, CareRecipientFactory, auth
from tests.helpers import API
from tests.orders.conftest import actor_of

HTTP_ACTIONS = ("book", "approve", "reject", "cancel_owner", "cancel_supervisor", "review")
# Steps other issues own (dispatch, visits), applied through the state machine itself.
DIRECT_ACTIONS = {
    "offer": ("offered", "system"),
    "assign_system": ("assigned", "system"),
    "assign_supervisor": ("assigned", "supervisor"),
    "back_to_dispatch": ("approved", "supervisor"),
    "expire": ("expired", "system"),
    "depart": ("en_route", "nurse"),
    "check_in": ("in_service", "nurse"),
    "complete": ("completed", "nurse"),
    "no_show": ("no_show", "nurse"),
}
# The happy path is listed three times so random sequences often get deep into the
# lifecycle (departed, completed, reviewed) rather than stopping at approval.
_PROGRESS = ("approve", "assign_system", "assign_supervisor", "depart", "check_in", "complete",
             "review")
actions = st.lists(st.tuples(st.sampled_from(HTTP_ACTIONS + tuple(DIRECT_ACTIONS) + _PROGRESS * 2),
                             # Mostly the latest order, sometimes an earlier one.
                             st.sampled_from((0, 0, 0, 1, 2)),
                             st.sampled_from((None, "", "  ", "家属要求"))),
                   min_size=1, max_size=30)


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=actions, assessed=st.booleans())
def test_random_actions_leave_only_legal_histories(
        client, session, org, patient, supervisor, nurse, nurse_user, item, order_body, steps,
        assessed):
    recipient = CareRecipientFactory(owner_id=patient.id,
                                     assessed_by=org.id if assessed else None)
    address = AddressFactory(patient_id=recipient.id, organization_id=org.id)
    session.commit()
    body = {**order_body, "patient_id": recipient.id, "address_id": address.id}
    actors = {"patient": patient, "supervisor": supervisor, "nurse": nurse_user}
    booked: list[int] = []

    for action, pick, reason in steps:
        if action == "book" or not booked:
            r = client.post(f"{API}/orders", json=body, headers=auth(patient))
            assert r.status_code == 201, r.get_json()
            booked.append(r.get_json()["id"])
            if action == "book":
                continue
        order_id = booked[-1 - pick % len(booked)]
        if action in HTTP_ACTIONS:
            status = _http(client, action, order_id, reason, patient, supervisor)
            assert status < 500
        else:
            _direct(session, order_id, *DIRECT_ACTIONS[action], actors, nurse, reason)

    for order_id in booked:
        _assert_legal_history(session, order_id)


def _http(client, action, order_id, reason, patient, supervisor) -> int:
    payload = {} if reason is None else {"reason": reason}
    if action == "approve":
        return client.post(f"{API}/orders/{order_id}/approve", json={},
                           headers=auth(supervisor)).status_code
    if action == "reject":
        return client.post(f"{API}/orders/{order_id}/reject", json=payload,
                           headers=auth(supervisor)).status_code
    if action == "cancel_owner":
        return client.post(f"{API}/orders/{order_id}/cancel", json=payload,
                           headers=auth(patient)).status_code
    if action == "cancel_supervisor":
        return client.post(f"{API}/orders/{order_id}/cancel", json=payload,
                           headers=auth(supervisor)).status_code
    return client.post(f"{API}/orders/{order_id}/review", json={"rating": 5},
                       headers=auth(patient)).status_code


def _direct(session, order_id, to_status, role, actors, nurse, reason) -> None:
    order = session.get(Order, order_id, populate_existing=True)
    actor = None if role == "system" else actor_of(actors[role])
    changes = {"nurse_id": nurse.id} if to_status == "assigned" else {}
    try:
        transition(session, order, to_status, actor=actor, now=utcnow(), reason=reason,
                   **changes)
        session.commit()
    except Problem:
        session.rollback()


def _assert_legal_history(session, order_id: int) -> None:
    order = session.get(Order, order_id, populate_existing=True)
    events = list(session.scalars(sa.select(OrderEvent).where(OrderEvent.order_id == order_id)
                                  .order_by(OrderEvent.id)))
    assert (events[0].from_status, events[0].to_status) == (None, "submitted")
    for before, after in zip(events, events[1:], strict=False):
        assert (after.from_status, after.to_status) in TRANSITIONS, after.__dict__
        assert after.from_status == before.to_status
        assert after.actor_role in TRANSITIONS[(after.from_status, after.to_status)]
    assert order.status in STATUSES
    assert order.status == events[-1].to_status
    assert order.version == len(events)
    if order.status in HOLDS_NURSE:
        assert order.nurse_id is not None
    reviewed = session.scalar(sa.select(Review.id).where(Review.order_id == order_id))
    assert reviewed is None or order.status == "completed"

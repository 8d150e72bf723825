"""Service tests for booking rules, vetting, idempotency keys and the state machine seams."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from homecare.orders import idempotency, service
from homecare.orders.access import access_order
from homecare.orders.errors import OrderNotFound
from homecare.orders.models import IdempotencyKey, Order, OrderEvent
from homecare.orders.states import (
    TRANSITIONS,
    InvalidTransition,
    TransitionForbidden,
    open_order,
    transition,
)
from homecare.patients.models import Assessment
from tests.factories import UserFactory, unassess
from tests.helpers import SHANGHAI
from tests.orders.conftest import actor_of

# A fixed clock: Tuesday 2030-05-07 09:00 in Shanghai.
NOW = datetime(2030, 5, 7, 1, 0, tzinfo=UTC)


@pytest.fixture
def book(session, patient, recipient, address, item, config):
    session.commit()

    def book_(start: datetime, end: datetime, *, now: datetime = NOW, cfg=None, **kwargs):
        return service.create_order(
            session=session, actor=actor_of(patient), patient_id=recipient.id,
            address_id=address.id, service_code=item.code, window_start=start,
            window_end=end, now=now, config=cfg or config, **kwargs)

    return book_


def _local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2030, 5, day, hour, minute, tzinfo=SHANGHAI)


def test_create_order_same_day_window_is_accepted(book):
    order = book(_local(7, 14), _local(7, 16))
    assert order.service_date.isoformat() == "2030-05-07"
    assert order.status == "approved"


def test_create_order_window_opening_exactly_at_service_hours_is_accepted(book):
    assert book(_local(8, 7), _local(8, 8)).id


def test_create_order_window_ending_exactly_at_closing_is_accepted(book):
    assert book(_local(8, 20), _local(8, 21)).id


def test_create_order_window_one_minute_past_closing_is_refused(book):
    with pytest.raises(service.OutsideServiceHours):
        book(_local(8, 20), _local(8, 21, 1))


def test_create_order_window_across_midnight_is_refused(book, config):
    all_day = replace(config, service_hours_start="00:00", service_hours_end="23:59")
    with pytest.raises(service.OutsideServiceHours):
        book(_local(8, 23), _local(9, 1), cfg=all_day)


def test_create_order_service_hours_follow_config(book, config):
    late = replace(config, service_hours_end="23:00")
    assert book(_local(8, 21), _local(8, 22), cfg=late).id


def test_create_order_horizon_follows_config(book, config):
    with pytest.raises(service.BeyondBookingHorizon):
        book(_local(10, 10), _local(10, 12), cfg=replace(config, booking_horizon_days=2))


def test_create_order_on_last_horizon_day_is_accepted(book, config):
    assert book(_local(9, 9), _local(9, 11), cfg=replace(config, booking_horizon_days=2)).id


def test_create_order_window_starting_now_is_in_the_past(book):
    with pytest.raises(service.WindowInPast):
        book(NOW, NOW + timedelta(hours=2))


def test_create_order_window_exactly_as_long_as_the_item_is_accepted(book):
    assert book(_local(8, 10), _local(8, 11)).id  # the item takes 60 minutes


def test_create_order_refused_leaves_nothing(session, book, org, recipient):
    with pytest.raises(service.WindowTooShort):
        book(_local(8, 10), _local(8, 10, 30))
    assert session.scalar(sa.select(sa.func.count()).select_from(Order)
                          .where(Order.organization_id == org.id)) == 0
    assert session.scalar(sa.select(sa.func.count()).select_from(OrderEvent).join(Order)
                          .where(Order.patient_id == recipient.id)) == 0


def test_create_order_by_supervisor_for_address_of_her_organization(
        session, supervisor, recipient, address, item, config):
    session.commit()
    order = service.create_order(session=session, actor=actor_of(supervisor),
                                 patient_id=recipient.id, address_id=address.id,
                                 service_code=item.code, window_start=_local(8, 10),
                                 window_end=_local(8, 12), now=NOW, config=config)
    assert order.booked_by == supervisor.id


def test_create_order_by_supervisor_of_other_organization_is_refused(
        session, other_supervisor, recipient, address, item, config):
    session.commit()
    with pytest.raises(service.UnknownAddress):
        service.create_order(session=session, actor=actor_of(other_supervisor),
                             patient_id=recipient.id, address_id=address.id,
                             service_code=item.code, window_start=_local(8, 10),
                             window_end=_local(8, 12), now=NOW, config=config)


def test_approve_order_hands_it_to_dispatch(session, supervisor, make_order, monkeypatch, config):
    handed = []
    monkeypatch.setattr("homecare.orders.service.start_dispatch",
                        lambda *, session, order, now, config: handed.append(order.id))
    order = make_order("submitted")
    service.approve_order(session=session, actor=actor_of(supervisor), order_id=order.id,
                          now=NOW, config=config)
    assert handed == [order.id]


def test_create_order_auto_approved_is_handed_to_dispatch(book, monkeypatch):
    handed = []
    monkeypatch.setattr("homecare.orders.service.start_dispatch",
                        lambda *, session, order, now, config: handed.append(order.status))
    book(_local(8, 10), _local(8, 12))
    assert handed == ["approved"]


def test_create_order_gated_is_not_handed_to_dispatch(session, book, recipient, monkeypatch):
    handed = []
    monkeypatch.setattr("homecare.orders.service.start_dispatch",
                        lambda **kw: handed.append(kw))
    unassess(recipient)
    session.commit()
    assert book(_local(8, 10), _local(8, 12)).status == "submitted"
    assert handed == []


def test_approve_second_gated_order_keeps_first_assessment_time(
        session, supervisor, make_order, recipient, org, config):
    assessed = NOW - timedelta(days=30)
    session.get(Assessment, (recipient.id, org.id)).assessed_at = assessed
    order = make_order("submitted")
    service.approve_order(session=session, actor=actor_of(supervisor), order_id=order.id,
                          now=NOW, config=config)
    assert session.get(Assessment, (recipient.id, org.id)).assessed_at == assessed


def test_access_order_admin_sees_any_organization(session, admin, make_order):
    order = make_order("approved")
    assert access_order(session, actor_of(admin), order.id).id == order.id


def test_access_order_nurse_without_profile_is_not_found(session, org, make_order):
    order = make_order("assigned")
    user = UserFactory(role="nurse", organization_id=org.id)
    with pytest.raises(OrderNotFound):
        access_order(session, actor_of(user), order.id)


# ---------------------------------------------------------------- states seams


def test_open_order_by_nurse_is_forbidden(session, nurse_user, make_order):
    template = make_order("approved")
    order = Order(**{c.name: getattr(template, c.name) for c in Order.__table__.columns
                     if c.name != "id"})
    with pytest.raises(TransitionForbidden):
        open_order(session, order, actor=actor_of(nurse_user), now=NOW)


def test_transition_on_stale_copy_is_409_naming_current_status(session, supervisor, make_order):
    order = make_order("submitted")
    # Another request moved it on; this copy still says submitted at the old version.
    session.execute(sa.update(Order).where(Order.id == order.id)
                    .values(status="cancelled", version=Order.version + 1)
                    .execution_options(synchronize_session=False))
    with pytest.raises(InvalidTransition) as info:
        transition(session, order, "approved", actor=actor_of(supervisor), now=NOW)
    assert info.value.extensions["current_status"] == "cancelled"


def test_transition_pairs_cover_every_lifecycle_step():
    path = ["submitted", "approved", "offered", "assigned", "en_route", "in_service",
            "completed"]
    assert all((a, b) in TRANSITIONS for a, b in zip(path, path[1:], strict=False))


# ---------------------------------------------------------------- idempotency


def test_request_hash_ignores_offset_and_key_order():
    a = {"window_start": _local(8, 10), "notes": None, "patient_id": 1}
    b = {"patient_id": 1, "notes": None, "window_start": _local(8, 10).astimezone(UTC)}
    assert idempotency.request_hash(a) == idempotency.request_hash(b)


def test_request_hash_differs_for_other_values():
    assert idempotency.request_hash({"notes": "a"}) != idempotency.request_hash({"notes": "b"})


def test_claim_key_after_lease_takes_over_an_abandoned_claim(session, patient):
    session.commit()
    first = idempotency.claim_key(session=session, user_id=patient.id, key="k", request_hash="h",
                                  now=NOW)
    with pytest.raises(idempotency.IdempotencyConflict):
        idempotency.claim_key(session=session, user_id=patient.id, key="k", request_hash="h",
                              now=NOW + idempotency.LEASE - timedelta(seconds=1))
    second = idempotency.claim_key(session=session, user_id=patient.id, key="k",
                                   request_hash="h", now=NOW + idempotency.LEASE)
    assert isinstance(second, idempotency.Claim) and second.id == first.id


def test_store_response_after_takeover_is_refused(session, patient):
    session.commit()
    stale = idempotency.claim_key(session=session, user_id=patient.id, key="k", request_hash="h",
                                  now=NOW)
    idempotency.claim_key(session=session, user_id=patient.id, key="k", request_hash="h",
                          now=NOW + idempotency.LEASE)
    with pytest.raises(idempotency.IdempotencyConflict):
        idempotency.store_response(session, stale, status_code=201, body={"id": 1})


def test_claim_key_returns_stored_response(session, patient):
    session.commit()
    claim = idempotency.claim_key(session=session, user_id=patient.id, key="k", request_hash="h",
                                  now=NOW)
    idempotency.store_response(session, claim, status_code=201, body={"id": 7})
    session.commit()
    replay = idempotency.claim_key(session=session, user_id=patient.id, key="k",
                                   request_hash="h", now=NOW + timedelta(hours=1))
    assert replay == idempotency.Replay(201, {"id": 7})


def test_purge_idempotency_keys_deletes_only_expired(session, patient):
    session.add_all([IdempotencyKey(user_id=patient.id, key="old", request_hash="h",
                                    created_at=NOW - timedelta(hours=25)),
                     IdempotencyKey(user_id=patient.id, key="new", request_hash="h",
                                    created_at=NOW - timedelta(hours=23))])
    session.flush()
    assert idempotency.purge_idempotency_keys(session=session, now=NOW, ttl_hours=24) == 1
    assert list(session.scalars(sa.select(IdempotencyKey.key))) == ["new"]

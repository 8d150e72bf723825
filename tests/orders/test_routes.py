"""Route tests for booking (POST /orders): the rules, vetting, the outbox, Idempotency-Key."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from conftest import assert_problem
from homecare.audit.models import AuditEntry
from homecare.clock import utcnow
from homecare.dispatch.models import Offer
from homecare.errors import Problem
from homecare.notifications.models import Notification
from homecare.orders import idempotency
from homecare.orders.idempotency import request_hash
from homecare.orders.models import IdempotencyKey, Order, OrderEvent
from tests.factories import (
    AddressFactory,
    CareRecipientFactory,
    ServiceItemFactory,
    ShiftFactory,
    UserFactory,
    auth,
    unassess,
)
from tests.helpers import API
from tests.orders.conftest import local_window


def _orders(session, org) -> list[Order]:
    return list(session.scalars(sa.select(Order).where(Order.organization_id == org.id)
                                .order_by(Order.id)))


def test_book_for_assessed_recipient_is_201_and_approved(client, patient, order_body, item, org):
    r = client.post(f"{API}/orders", json=order_body, headers=auth(patient))
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    # Dispatch may already have offered it; either way it passed vetting.
    assert body["status"] in ("approved", "offered")
    assert body["price_fen"] == item.price_fen
    assert body["organization_id"] == org.id
    assert body["id"] > 0


def test_book_copies_price_and_duration_so_catalogue_changes_do_not_reprice(
        client, session, patient, order_body, item):
    r = client.post(f"{API}/orders", json=order_body, headers=auth(patient))
    item.price_fen, item.duration_min = 99999, 90
    session.flush()
    order = session.get(Order, r.get_json()["id"])
    assert (order.price_fen, order.duration_min) == (12000, 60)


def test_book_stores_utc_window_and_local_service_date(client, session, patient, order_body):
    start, _ = local_window(hour=7)
    order_body["window_start"] = start.isoformat()
    order_body["window_end"] = (start + timedelta(hours=2)).isoformat()
    r = client.post(f"{API}/orders", json=order_body, headers=auth(patient))
    order = session.get(Order, r.get_json()["id"])
    # 07:00 in Shanghai is 23:00 UTC the day before: the service date is the local one.
    assert order.window_start.utcoffset() == timedelta(0)
    assert order.window_start == start
    assert order.service_date == start.date()
    assert order.window_start.date() != order.service_date


def test_book_first_order_of_unassessed_recipient_stays_submitted(
        client, session, patient, order_body, recipient):
    unassess(recipient)
    r = client.post(f"{API}/orders", json=order_body, headers=auth(patient))
    assert r.status_code == 201
    assert r.get_json()["status"] == "submitted"


def _jinan_home(session, recipient, jinan):
    home = AddressFactory(patient_id=recipient.id, organization_id=jinan.id, lat=36.6512,
                          lng=117.1201, text="济南市历下区泉城路1号")
    session.commit()
    return home


def test_book_at_an_organization_that_has_not_assessed_the_recipient_stays_submitted(
        client, session, patient, order_body, recipient, other_org):
    # She was assessed by the Jining hospital (``org``); Jinan's has never seen her.
    home = _jinan_home(session, recipient, other_org)
    r = client.post(f"{API}/orders", json={**order_body, "address_id": home.id},
                    headers=auth(patient))
    assert r.status_code == 201, r.get_json()
    assert (r.get_json()["status"], r.get_json()["organization_id"]) == ("submitted",
                                                                         other_org.id)


def test_approval_by_the_second_organization_assesses_the_recipient_there(
        client, session, patient, order_body, recipient, other_org, other_supervisor):
    home = _jinan_home(session, recipient, other_org)
    first = client.post(f"{API}/orders", json={**order_body, "address_id": home.id},
                        headers=auth(patient)).get_json()
    r = client.post(f"{API}/orders/{first['id']}/approve", json={},
                    headers=auth(other_supervisor))
    assert r.status_code == 200, r.get_json()
    start, end = local_window(days=2)
    r = client.post(f"{API}/orders", headers=auth(patient), json={
        **order_body, "address_id": home.id, "window_start": start.isoformat(),
        "window_end": end.isoformat()})
    assert r.get_json()["status"] in ("approved", "offered")


def test_book_with_lone_surrogate_in_notes_is_422(client, patient, order_body):
    # Valid JSON, but no character: SQLite and psycopg cannot encode it (was a 500).
    raw = json.dumps({**order_body, "notes": "PLACEHOLDER"}).replace("PLACEHOLDER", "\\ud800")
    r = client.post(f"{API}/orders", data=raw, content_type="application/json",
                    headers=auth(patient))
    assert "notes" in assert_problem(r, 422, "validation_failed")["errors"]


def test_book_item_requiring_assessment_stays_submitted(client, patient, order_body):
    order_body["service_code"] = ServiceItemFactory(requires_assessment=True).code
    r = client.post(f"{API}/orders", json=order_body, headers=auth(patient))
    assert r.get_json()["status"] == "submitted"


def test_book_records_creation_and_auto_approval_events(client, session, patient, order_body):
    order_id = client.post(f"{API}/orders", json=order_body, headers=auth(patient)).get_json()["id"]
    events = list(session.scalars(sa.select(OrderEvent).where(OrderEvent.order_id == order_id)
                                  .order_by(OrderEvent.id)))
    assert [(e.from_status, e.to_status, e.actor_role) for e in events[:2]] == [
        (None, "submitted", "patient"), ("submitted", "approved", "system")]
    assert events[0].actor_id == patient.id and events[1].actor_id is None


def test_book_auto_approval_notifies_the_owner(client, session, patient, order_body):
    order_id = client.post(f"{API}/orders", json=order_body, headers=auth(patient)).get_json()["id"]
    kinds = list(session.scalars(sa.select(Notification.kind).where(
        Notification.order_id == order_id, Notification.user_id == patient.id)))
    assert "order_approved" in kinds


def test_book_rolled_back_leaves_no_order_and_no_notification(
        client, session, patient, order_body, monkeypatch, org):
    class DispatchDown(Problem):
        status, code, title = 503, "dispatch_down", "Dispatch unavailable"

    def failing_dispatch(**_):
        raise DispatchDown()

    monkeypatch.setattr("homecare.orders.service.start_dispatch", failing_dispatch)
    r = client.post(f"{API}/orders", json=order_body, headers=auth(patient))
    assert_problem(r, 503, "dispatch_down")
    assert _orders(session, org) == []
    assert session.scalar(sa.select(sa.func.count()).select_from(Notification)
                          .where(Notification.user_id == patient.id)) == 0


def test_book_by_nurse_is_403(client, nurse_user, order_body):
    assert_problem(client.post(f"{API}/orders", json=order_body, headers=auth(nurse_user)),
                   403, "forbidden")


def test_book_without_token_is_401(client, order_body):
    assert_problem(client.post(f"{API}/orders", json=order_body), 401)


def test_book_with_unknown_field_is_422(client, patient, order_body):
    order_body["price_fen"] = 1
    body = assert_problem(client.post(f"{API}/orders", json=order_body, headers=auth(patient)),
                          422, "validation_failed")
    assert "price_fen" in body["errors"]


def test_book_with_window_without_offset_is_422(client, patient, order_body):
    order_body["window_start"] = "2030-01-01T10:00:00"
    body = assert_problem(client.post(f"{API}/orders", json=order_body, headers=auth(patient)),
                          422, "validation_failed")
    assert "window_start" in body["errors"]


def test_book_for_another_owners_recipient_is_422_unknown_patient(client, order_body, session, org):
    stranger = UserFactory(role="patient")
    r = client.post(f"{API}/orders", json=order_body, headers=auth(stranger))
    body = assert_problem(r, 422, "unknown_patient")
    assert "patient_id" in body["errors"]
    assert _orders(session, org) == []


def test_book_for_missing_recipient_is_422_unknown_patient(client, patient, order_body):
    order_body["patient_id"] = 987654
    assert_problem(client.post(f"{API}/orders", json=order_body, headers=auth(patient)),
                   422, "unknown_patient")


def test_book_at_another_recipients_address_is_422_unknown_address(
        client, patient, order_body, org):
    sibling = CareRecipientFactory(owner_id=patient.id)
    order_body["address_id"] = AddressFactory(patient_id=sibling.id, organization_id=org.id).id
    body = assert_problem(client.post(f"{API}/orders", json=order_body, headers=auth(patient)),
                          422, "unknown_address")
    assert "address_id" in body["errors"]


def test_book_at_address_outside_service_area_is_422(client, patient, order_body, recipient):
    far = AddressFactory(patient_id=recipient.id, organization_id=None,
                         outside_service_area=True, lat=39.9, lng=116.4)
    order_body["address_id"] = far.id
    assert_problem(client.post(f"{API}/orders", json=order_body, headers=auth(patient)),
                   422, "outside_service_area")


def test_book_unknown_service_is_422(client, patient, order_body):
    order_body["service_code"] = "NO_SUCH_ITEM"
    body = assert_problem(client.post(f"{API}/orders", json=order_body, headers=auth(patient)),
                          422, "unknown_service")
    assert "service_code" in body["errors"]


def test_book_inactive_service_is_422_unknown_service(client, patient, order_body):
    order_body["service_code"] = ServiceItemFactory(active=False).code
    assert_problem(client.post(f"{API}/orders", json=order_body, headers=auth(patient)),
                   422, "unknown_service")


def test_book_window_in_past_is_422(client, patient, order_body):
    start = utcnow() - timedelta(hours=1)
    order_body["window_start"] = start.isoformat()
    order_body["window_end"] = (start + timedelta(hours=2)).isoformat()
    assert_problem(client.post(f"{API}/orders", json=order_body, headers=auth(patient)),
                   422, "window_in_past")


def test_book_window_shorter_than_item_is_422(client, patient, order_body):
    start, end = local_window(minutes=45)  # the item takes 60 minutes
    order_body.update(window_start=start.isoformat(), window_end=end.isoformat())
    body = assert_problem(client.post(f"{API}/orders", json=order_body, headers=auth(patient)),
                          422, "window_too_short")
    assert body["duration_min"] == 60


def test_book_window_ending_before_it_starts_is_422_too_short(client, patient, order_body):
    order_body["window_start"], order_body["window_end"] = (order_body["window_end"],
                                                            order_body["window_start"])
    assert_problem(client.post(f"{API}/orders", json=order_body, headers=auth(patient)),
                   422, "window_too_short")


def test_book_beyond_booking_horizon_is_422(client, patient, order_body, app):
    start, end = local_window(days=app.config["HOMECARE"].booking_horizon_days + 1)
    order_body.update(window_start=start.isoformat(), window_end=end.isoformat())
    assert_problem(client.post(f"{API}/orders", json=order_body, headers=auth(patient)),
                   422, "beyond_booking_horizon")


def test_book_before_service_hours_is_422(client, patient, order_body):
    start, end = local_window(hour=6)
    order_body.update(window_start=start.isoformat(), window_end=end.isoformat())
    body = assert_problem(client.post(f"{API}/orders", json=order_body, headers=auth(patient)),
                          422, "outside_service_hours")
    assert body["service_hours"] == "07:00-21:00"


def test_book_window_past_closing_time_is_422(client, patient, order_body):
    start, end = local_window(hour=20)  # 20:00-22:00, service ends at 21:00
    order_body.update(window_start=start.isoformat(), window_end=end.isoformat())
    assert_problem(client.post(f"{API}/orders", json=order_body, headers=auth(patient)),
                   422, "outside_service_hours")


# ---------------------------------------------------------------- Idempotency-Key


def test_book_same_key_and_body_replays_first_response(client, session, patient, order_body, org):
    headers = {**auth(patient), "Idempotency-Key": "k-1"}
    first = client.post(f"{API}/orders", json=order_body, headers=headers)
    second = client.post(f"{API}/orders", json=order_body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.get_json() == first.get_json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert len(_orders(session, org)) == 1


def test_book_same_key_with_same_instant_in_other_offset_replays(
        client, session, patient, order_body, org):
    headers = {**auth(patient), "Idempotency-Key": "k-offset"}
    client.post(f"{API}/orders", json=order_body, headers=headers)
    from datetime import UTC, datetime

    utc_body = {**order_body, **{k: datetime.fromisoformat(order_body[k]).astimezone(UTC)
                                 .isoformat() for k in ("window_start", "window_end")}}
    again = client.post(f"{API}/orders", json=utc_body, headers=headers)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert len(_orders(session, org)) == 1


def test_book_same_key_with_other_body_is_422(client, session, patient, order_body, org):
    headers = {**auth(patient), "Idempotency-Key": "k-2"}
    client.post(f"{API}/orders", json=order_body, headers=headers)
    r = client.post(f"{API}/orders", json={**order_body, "notes": "另一个"}, headers=headers)
    body = assert_problem(r, 422, "idempotency_key_reused")
    assert "Idempotency-Key" in body["errors"]
    assert len(_orders(session, org)) == 1


def test_book_same_key_by_another_account_is_a_new_order(
        client, session, patient, order_body, org, item):
    client.post(f"{API}/orders", json=order_body,
                headers={**auth(patient), "Idempotency-Key": "shared"})
    other = UserFactory(role="patient")
    recipient = CareRecipientFactory(owner_id=other.id)
    address = AddressFactory(patient_id=recipient.id, organization_id=org.id)
    r = client.post(f"{API}/orders", json={**order_body, "patient_id": recipient.id,
                                           "address_id": address.id},
                    headers={**auth(other), "Idempotency-Key": "shared"})
    assert r.status_code == 201
    assert "Idempotent-Replayed" not in r.headers
    assert len(_orders(session, org)) == 2


def test_book_while_first_request_with_key_runs_is_409(client, session, patient, order_body, org):
    from homecare.orders.schemas import OrderCreateSchema

    loaded = OrderCreateSchema().load(order_body)
    session.add(IdempotencyKey(user_id=patient.id, key="busy", request_hash=request_hash(loaded),
                               created_at=utcnow()))
    session.flush()
    r = client.post(f"{API}/orders", json=order_body,
                    headers={**auth(patient), "Idempotency-Key": "busy"})
    assert_problem(r, 409, "idempotency_conflict")
    assert r.headers["Retry-After"]
    assert _orders(session, org) == []


def test_book_failed_with_key_releases_it_for_a_corrected_retry(
        client, session, patient, order_body):
    headers = {**auth(patient), "Idempotency-Key": "retry-me"}
    bad = {**order_body, "service_code": "NO_SUCH_ITEM"}
    assert_problem(client.post(f"{API}/orders", json=bad, headers=headers), 422, "unknown_service")
    r = client.post(f"{API}/orders", json=order_body, headers=headers)
    assert r.status_code == 201
    assert "Idempotent-Replayed" not in r.headers


def test_book_refused_after_its_offers_were_written_leaves_nothing_and_frees_the_key(
        client, session, patient, order_body, nurse, item, monkeypatch):
    # The refusal comes last (the key's response cannot be stored: another request
    # took the key over), after dispatch wrote the order's offers, their audit entries
    # and notifications: all of it is undone, and the same key books on a retry.
    item.required_skills = []
    start = datetime.fromisoformat(order_body["window_start"])
    ShiftFactory(nurse_id=nurse.id, start=start - timedelta(hours=2),
                 end=start + timedelta(hours=6))
    session.commit()

    def counts():
        session.expire_all()
        return {m.__name__: session.scalar(sa.select(sa.func.count()).select_from(m))
                for m in (Order, Offer, AuditEntry, Notification, IdempotencyKey)}

    def taken_over(*args, **kwargs):
        raise idempotency.IdempotencyConflict("taken over")

    before = counts()
    monkeypatch.setattr(idempotency, "store_response", taken_over)
    headers = {**auth(patient), "Idempotency-Key": "late"}
    assert_problem(client.post(f"{API}/orders", json=order_body, headers=headers), 409,
                   "idempotency_conflict")
    assert counts() == before
    monkeypatch.undo()
    r = client.post(f"{API}/orders", json=order_body, headers=headers)
    assert r.status_code == 201 and "Idempotent-Replayed" not in r.headers
    assert r.get_json()["status"] == "offered"
    assert counts()["Offer"] == before["Offer"] + 1


def test_book_with_too_long_key_is_422(client, patient, order_body):
    r = client.post(f"{API}/orders", json=order_body,
                    headers={**auth(patient), "Idempotency-Key": "x" * 201})
    body = assert_problem(r, 422, "validation_failed")
    assert "Idempotency-Key" in body["errors"]


def test_book_replay_keeps_first_response_after_status_changes(
        client, session, patient, order_body):
    headers = {**auth(patient), "Idempotency-Key": "k-3"}
    first = client.post(f"{API}/orders", json=order_body, headers=headers).get_json()
    client.post(f"{API}/orders/{first['id']}/cancel", json={}, headers=auth(patient))
    replay = client.post(f"{API}/orders", json=order_body, headers=headers)
    assert replay.get_json()["status"] == first["status"] != "cancelled"


# ---------------------------------------------------------------- hostile input is never a 500


@pytest.mark.parametrize(("field", "value"), [
    ("window_start", "0001-01-01T00:00:00+01:00"),
    ("window_end", "9999-12-31T23:59:59-01:00"),
    ("patient_id", 99999999999999999999),
    ("address_id", 0),
    ("notes", "a\u0000b"),
    ("service_code", ""),
])
def test_book_with_out_of_range_value_is_422_naming_it(client, patient, order_body, field,
                                                       value):
    r = client.post(f"{API}/orders", json={**order_body, field: value}, headers=auth(patient))
    assert field in assert_problem(r, 422, "validation_failed")["errors"]


@pytest.mark.parametrize("path", ["/orders/99999999999999999999",
                                  "/orders/99999999999999999999/events"])
def test_get_order_with_id_beyond_any_row_is_404(client, patient, path):
    assert_problem(client.get(API + path, headers=auth(patient)), 404)


def test_cancel_order_with_id_beyond_any_row_is_404(client, patient):
    r = client.post(f"{API}/orders/99999999999999999999/cancel", json={}, headers=auth(patient))
    assert_problem(r, 404)


@pytest.mark.parametrize("path", ["/orders", "/orders/{id}/events"])
def test_list_with_page_beyond_any_offset_is_empty(client, patient, make_order, path):
    order = make_order("approved")
    r = client.get(API + path.format(id=order.id) + "?page=99999999999999999999",
                   headers=auth(patient))
    assert (r.status_code, r.get_json()) == (200, [])


def test_list_orders_with_patient_id_beyond_any_row_is_422(client, patient):
    r = client.get(f"{API}/orders?patient_id=99999999999999999999", headers=auth(patient))
    assert "patient_id" in assert_problem(r, 422, "validation_failed")["errors"]

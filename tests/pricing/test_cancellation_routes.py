"""Route tests: every branch of the cancellation policy, named in the cancel's answer."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from homecare.audit.models import AuditEntry
from homecare.orders.models import Order
from tests.factories import auth
from tests.pricing.conftest import API, NOW

BREAKDOWN = {"service_code": "X", "item_fen": 12000, "road_km": 8.2, "included_km": 3.0,
             "per_km_fen": 300, "travel_fee_fen": 4560, "travel_capped": False,
             "surcharges": [], "total_fen": 16560, "fee_table_version": 1}


def _cancel(client, user, order, **body):
    r = client.post(f"{API}/orders/{order.id}/cancel", json=body, headers=auth(user))
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def _order_at(make_order, hours_ahead: float, status="assigned", **kwargs):
    start = NOW + timedelta(hours=hours_ahead)
    return make_order(status, window_start=start, window_end=start + timedelta(hours=2),
                      price_breakdown=BREAKDOWN, **kwargs)


def _charges(session, order):
    return session.scalars(sa.select(AuditEntry.detail).where(
        AuditEntry.action == "billing.charge_recorded",
        AuditEntry.object_id == order.id)).all()


def test_family_cancelling_ahead_of_the_lead_is_free(client, session, patient, make_order,
                                                     nurse, fee_table, clock):
    fee_table()
    order = _order_at(make_order, 24, nurse=nurse)
    body = _cancel(client, patient, order)
    assert (body["status"], body["cancellation_fee_fen"], body["cancellation_rule"]) == (
        "cancelled", 0, "free")
    assert _charges(session, order) == []


def test_family_cancelling_within_the_lead_pays_the_late_fee(client, session, patient,
                                                             make_order, nurse, fee_table,
                                                             clock):
    fee_table(late_cancel_fee_fen=2000)
    order = _order_at(make_order, 3, nurse=nurse)
    body = _cancel(client, patient, order)
    assert (body["cancellation_fee_fen"], body["cancellation_rule"]) == (2000, "late")
    session.expire_all()
    stored = session.get(Order, order.id)
    assert (stored.cancellation_fee_fen, stored.cancellation_rule) == (2000, "late")
    assert [d["fee_fen"] for d in _charges(session, order)] == [2000]


def test_the_free_cancellation_lead_is_the_organizations(client, patient, make_order,
                                                         fee_table, clock):
    fee_table(free_cancel_minutes=120)
    order = _order_at(make_order, 3, status="approved")
    assert _cancel(client, patient, order)["cancellation_rule"] == "free"


def test_without_a_fee_table_late_cancellation_costs_nothing(client, patient, make_order,
                                                             clock):
    order = _order_at(make_order, 1, status="approved")
    body = _cancel(client, patient, order)
    assert (body["cancellation_fee_fen"], body["cancellation_rule"]) == (0, "late")


def test_cancelling_for_the_family_after_departure_charges_the_travel_fee(
        client, session, supervisor, make_order, nurse, fee_table, clock):
    fee_table()
    order = _order_at(make_order, 1, status="en_route", nurse=nurse,
                      departed_at=NOW - timedelta(minutes=10))
    body = _cancel(client, supervisor, order, reason="家属电话取消", requested_by_family=True)
    assert (body["cancellation_fee_fen"], body["cancellation_rule"]) == (4560, "call_out")
    assert [d["rule"] for d in _charges(session, order)] == ["call_out"]


def test_cancelled_by_the_service_is_always_free(client, session, supervisor, make_order,
                                                 nurse, fee_table, clock):
    fee_table()
    departed = _order_at(make_order, 1, status="en_route", nurse=nurse,
                         departed_at=NOW - timedelta(minutes=10))
    body = _cancel(client, supervisor, departed, reason="护士车辆故障")
    assert (body["cancellation_fee_fen"], body["cancellation_rule"]) == (0, "by_service")
    late = _order_at(make_order, 2, status="approved")
    assert _cancel(client, supervisor, late)["cancellation_rule"] == "by_service"
    assert _charges(session, departed) == []


def test_an_order_not_cancelled_names_no_fee(client, patient, make_order, clock):
    order = _order_at(make_order, 24, status="approved")
    body = client.get(f"{API}/orders/{order.id}", headers=auth(patient)).get_json()
    assert (body["cancellation_fee_fen"], body["cancellation_rule"]) == (None, None)

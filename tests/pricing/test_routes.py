"""Route tests: the fee table, the quote before booking and the breakdown an order keeps."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from conftest import assert_problem
from homecare.geo import Point, travel_model
from homecare.orders.models import Order
from tests.factories import AddressFactory, ServiceItemFactory, auth
from tests.pricing.conftest import API

SHANGHAI = ZoneInfo("Asia/Shanghai")
TOMORROW_10 = datetime(2030, 5, 8, 10, 0, tzinfo=SHANGHAI)


def _quote(client, user, code, address_id, start=TOMORROW_10):
    return client.get(f"{API}/services/{code}/quote", headers=auth(user), query_string={
        "address_id": address_id, "window_start": start.isoformat()})


def _road_km(config, org, address) -> float:
    metres = travel_model(config).distance_m(Point(org.center_lat, org.center_lng),
                                             Point(address.lat, address.lng))
    return metres / 1000


def _far_address(session, recipient, org, lat=35.50):
    far = AddressFactory(patient_id=recipient.id, organization_id=org.id, lat=lat)
    session.commit()
    return far


# ---------------------------------------------------------------- the fee table


def test_fee_table_unpublished_charges_nothing_on_top(client, org):
    r = client.get(f"{API}/organizations/{org.id}/fee-table")
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert (body["version"], body["base_fee_fen"], body["per_km_fen"]) == (0, 0, 0)
    assert body["free_cancel_minutes"] == 240


def test_supervisor_publishes_her_fee_table(client, org, supervisor, clock):
    table = {"included_km": 3, "base_fee_fen": 3000, "per_km_fen": 300, "cap_fen": 8000,
             "night_surcharge_fen": 2000, "night_start": "19:00", "night_end": "07:00",
             "holidays": ["2030-10-01"], "holiday_surcharge_fen": 3000,
             "late_cancel_fee_fen": 2000}
    r = client.put(f"{API}/organizations/{org.id}/fee-table", json=table,
                   headers=auth(supervisor))
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["version"] == 1 and r.get_json()["cap_fen"] == 8000
    again = client.put(f"{API}/organizations/{org.id}/fee-table", json={"base_fee_fen": 1},
                       headers=auth(supervisor)).get_json()
    assert (again["version"], again["base_fee_fen"], again["cap_fen"]) == (2, 1, None)


def test_fee_table_of_another_organization_is_404(client, other_org, supervisor):
    r = client.put(f"{API}/organizations/{other_org.id}/fee-table", json={},
                   headers=auth(supervisor))
    assert_problem(r, 404, "organization_not_found")


def test_fee_table_by_patient_is_403(client, org, patient):
    r = client.put(f"{API}/organizations/{org.id}/fee-table", json={}, headers=auth(patient))
    assert_problem(r, 403)


def test_night_surcharge_without_hours_is_422(client, org, supervisor):
    r = client.put(f"{API}/organizations/{org.id}/fee-table",
                   json={"night_surcharge_fen": 2000}, headers=auth(supervisor))
    assert_problem(r, 422, "night_hours_incomplete")


# ---------------------------------------------------------------- the quote


def test_quote_charges_per_km_beyond_the_included_distance(client, session, config, org,
                                                           patient, recipient, item,
                                                           fee_table):
    fee_table()
    far = _far_address(session, recipient, org)
    r = _quote(client, patient, item.code, far.id)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    road = _road_km(config, org, far)
    assert road > 3
    travel = 3000 + math.ceil(round((road - 3) * 300, 6))
    assert body["price_fen"] == item.price_fen + travel
    parts = body["price_breakdown"]
    assert (parts["item_fen"], parts["travel_fee_fen"], parts["total_fen"]) == (
        item.price_fen, travel, body["price_fen"])
    assert parts["road_km"] == round(road, 2) and parts["travel_capped"] is False
    assert parts["surcharges"] == []


def test_quote_within_the_included_distance_is_the_base_fee(client, config, org, patient,
                                                             address, item, fee_table):
    fee_table()
    assert _road_km(config, org, address) < 3
    body = _quote(client, patient, item.code, address.id).get_json()
    assert body["price_breakdown"]["travel_fee_fen"] == 3000
    assert body["price_fen"] == item.price_fen + 3000


def test_quote_travel_fee_is_capped(client, session, org, patient, recipient, item,
                                    fee_table):
    fee_table(cap_fen=4000)
    far = _far_address(session, recipient, org, lat=35.60)
    parts = _quote(client, patient, item.code, far.id).get_json()["price_breakdown"]
    assert (parts["travel_fee_fen"], parts["travel_capped"]) == (4000, True)


def test_quote_adds_night_and_holiday_surcharges(client, org, patient, address, item,
                                                 fee_table):
    fee_table(night_surcharge_fen=2000, night_start="19:00", night_end="07:00",
              holiday_surcharge_fen=3000, holidays=["2030-05-08"])
    evening = datetime(2030, 5, 8, 19, 30, tzinfo=SHANGHAI)
    parts = _quote(client, patient, item.code, address.id, evening).get_json()[
        "price_breakdown"]
    assert parts["surcharges"] == [{"kind": "night", "fee_fen": 2000},
                                   {"kind": "holiday", "fee_fen": 3000}]
    assert parts["total_fen"] == item.price_fen + 3000 + 2000 + 3000
    morning = datetime(2030, 5, 9, 10, 0, tzinfo=SHANGHAI)
    assert _quote(client, patient, item.code, address.id, morning).get_json()[
        "price_breakdown"]["surcharges"] == []


def test_quote_for_a_supervisor_of_the_serving_organization(client, supervisor, address,
                                                            item):
    r = _quote(client, supervisor, item.code, address.id)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["price_fen"] == item.price_fen  # no table published: no fees


def test_quote_by_a_supervisor_never_tells_whether_a_strangers_address_is_served(
        client, session, supervisor, item):
    # An address outside every area belongs to no organization, hers included: it is
    # unknown to her, as any other organization's, not "outside the service area".
    outside = AddressFactory(organization_id=None, outside_service_area=True)
    session.commit()
    assert_problem(_quote(client, supervisor, item.code, outside.id), 422, "unknown_address")


def test_quote_for_another_familys_address_is_422(client, session, org, item):
    from tests.factories import UserFactory

    stranger = UserFactory(role="patient")
    other = AddressFactory(organization_id=org.id)
    session.commit()
    assert_problem(_quote(client, stranger, item.code, other.id), 422, "unknown_address")


def test_quote_for_an_unknown_or_retired_item_is_404(client, session, patient, address):
    retired = ServiceItemFactory(active=False)
    session.commit()
    assert_problem(_quote(client, patient, "NO_SUCH_ITEM", address.id), 404,
                   "service_item_not_found")
    assert_problem(_quote(client, patient, retired.code, address.id), 404,
                   "service_item_not_found")


def test_quote_without_window_start_is_422(client, patient, address, item):
    r = client.get(f"{API}/services/{item.code}/quote", headers=auth(patient),
                   query_string={"address_id": address.id})
    body = assert_problem(r, 422, "validation_failed")
    assert "window_start" in body["errors"]


def test_quote_by_nurse_is_403(client, nurse_user, address, item):
    assert_problem(_quote(client, nurse_user, item.code, address.id), 403)


# ---------------------------------------------------------------- the booked breakdown


def test_booking_stores_the_quoted_breakdown_and_a_table_change_never_touches_it(
        client, session, org, patient, supervisor, recipient, item, fee_table, clock):
    fee_table()
    far = _far_address(session, recipient, org)
    quoted = _quote(client, patient, item.code, far.id).get_json()
    r = client.post(f"{API}/orders", headers=auth(patient), json={
        "patient_id": recipient.id, "address_id": far.id, "service_code": item.code,
        "window_start": TOMORROW_10.isoformat(),
        "window_end": (TOMORROW_10 + timedelta(hours=2)).isoformat()})
    assert r.status_code == 201, r.get_json()
    booked = r.get_json()
    assert booked["price_fen"] == quoted["price_fen"]
    assert booked["price_breakdown"] == quoted["price_breakdown"]

    raised = client.put(f"{API}/organizations/{org.id}/fee-table", headers=auth(supervisor),
                        json={"base_fee_fen": 9000, "per_km_fen": 900})
    assert raised.status_code == 200
    again = client.get(f"{API}/orders/{booked['id']}", headers=auth(patient)).get_json()
    assert (again["price_fen"], again["price_breakdown"]) == (booked["price_fen"],
                                                              booked["price_breakdown"])
    session.expire_all()
    assert session.get(Order, booked["id"]).price_fen == quoted["price_fen"]


def test_quote_for_a_far_off_window_start_is_422(client, patient, address, item):
    for start in ("9999-12-31T23:59:00+00:00", "0001-01-01T00:00:00+14:00",
                  "9999-12-31T20:00:00-10:00", "1999-12-31T23:59:00+00:00"):
        r = client.get(f"{API}/services/{item.code}/quote", headers=auth(patient),
                       query_string={"address_id": address.id, "window_start": start})
        body = assert_problem(r, 422)
        assert "window_start" in str(body), (start, body)

"""Route tests for depart, check-in, check-out, SOS and the care record."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from conftest import assert_problem
from homecare.alerts.models import Alert
from homecare.audit.models import AuditEntry
from homecare.clock import utcnow
from homecare.geo import wgs84_to_gcj02
from homecare.orders.models import Order
from tests.factories import CareRecordFactory, UserFactory, auth
from tests.helpers import API
from tests.visits.conftest import address_of, north_of


@pytest.fixture
def headers(nurse_user):
    return auth(nurse_user)


@pytest.fixture
def committed_visit(session, visit):
    """Orders for requests that may be refused: a refused request rolls the session
    back, which would also undo data only flushed by the factories."""

    def make(status: str, **kwargs):
        order = visit(status, **kwargs)
        session.commit()
        return order

    return make


def _record_body(order, session, **overrides):
    door = address_of(session, order)
    body = {"lat": door.lat, "lng": door.lng, "procedures": ["venipuncture"],
            "vitals": {"systolic_mmhg": 128, "diastolic_mmhg": 82, "pulse_bpm": 70,
                       "temperature_c": 36.6, "spo2_pct": 98, "glucose_mmol_l": 6.2},
            "notes": "一切正常", "consumables": [{"name": "采血管", "quantity": 2}]}
    body.update(overrides)
    return body


# ---------------------------------------------------------------- depart


def test_depart_returns_en_route(client, committed_visit, headers):
    order = committed_visit("assigned")
    r = client.post(f"{API}/orders/{order.id}/depart", headers=headers)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["status"] == "en_route" and r.get_json()["departed_at"]


def test_depart_by_a_supervisor_is_403(client, committed_visit, supervisor):
    order = committed_visit("assigned")
    assert_problem(client.post(f"{API}/orders/{order.id}/depart", headers=auth(supervisor)),
                   403, "forbidden")


def test_depart_of_another_nurses_order_is_404(client, committed_visit, other_nurse_user):
    order = committed_visit("assigned")
    assert_problem(client.post(f"{API}/orders/{order.id}/depart",
                               headers=auth(other_nurse_user)), 404, "order_not_found")


def test_depart_when_already_en_route_is_409(client, committed_visit, headers):
    order = committed_visit("en_route", departed_at=utcnow())
    body = assert_problem(client.post(f"{API}/orders/{order.id}/depart", headers=headers),
                          409, "invalid_transition")
    assert body["current_status"] == "en_route"


def test_depart_a_day_before_the_window_is_409_too_early(client, session, committed_visit,
                                                        headers):
    start = utcnow() + timedelta(days=1)
    order = committed_visit("assigned", window_start=start, window_end=start + timedelta(hours=2))
    body = assert_problem(client.post(f"{API}/orders/{order.id}/depart", headers=headers),
                          409, "too_early_to_depart")
    assert body["earliest"] and body["order_id"] == order.id
    assert session.get(Order, order.id).status == "assigned"


def test_check_in_a_day_before_the_window_is_409_too_early(client, session, committed_visit,
                                                          headers):
    start = utcnow() + timedelta(days=1)
    order = committed_visit("assigned", window_start=start, window_end=start + timedelta(hours=2))
    point = address_of(session, order)
    r = client.post(f"{API}/orders/{order.id}/check-in", headers=headers,
                    json={"lat": point.lat, "lng": point.lng})
    assert_problem(r, 409, "too_early_to_depart")
    assert session.get(Order, order.id).status == "assigned"


# ---------------------------------------------------------------- check-in


def test_check_in_with_gcj02_at_the_door_is_within(client, session, committed_visit, headers):
    order = committed_visit("en_route", departed_at=utcnow())
    gcj = wgs84_to_gcj02(*address_of(session, order))
    r = client.post(f"{API}/orders/{order.id}/check-in", headers=headers,
                    json={"lat": gcj.lat, "lng": gcj.lng, "coord_system": "gcj02"})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["status"] == "in_service" and body["within_geofence"] is True
    assert body["alert_id"] is None
    door = address_of(session, order)
    assert body["lat"] == pytest.approx(door.lat, abs=1e-6)
    assert body["gcj02"]["lat"] == pytest.approx(gcj.lat, abs=1e-6)


def test_check_in_with_gcj02_outside_is_accepted_and_flagged(client, session, committed_visit,
                                                             headers):
    order = committed_visit("en_route", departed_at=utcnow())
    away = wgs84_to_gcj02(*north_of(address_of(session, order), 350))
    r = client.post(f"{API}/orders/{order.id}/check-in", headers=headers,
                    json={"lat": away.lat, "lng": away.lng, "coord_system": "gcj02",
                          "accuracy_m": 20})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["within_geofence"] is False and body["distance_m"] == pytest.approx(350, abs=5)
    alert = session.get(Alert, body["alert_id"])
    assert alert.kind == "geofence" and "350 m" in alert.detail


def test_check_in_without_position_is_422(client, committed_visit, headers):
    order = committed_visit("en_route", departed_at=utcnow())
    body = assert_problem(client.post(f"{API}/orders/{order.id}/check-in", headers=headers,
                                      json={"coord_system": "gcj02"}), 422, "validation_failed")
    assert set(body["errors"]) == {"lat", "lng"}


def test_check_in_with_unknown_coord_system_is_422(client, committed_visit, headers):
    order = committed_visit("en_route", departed_at=utcnow())
    body = assert_problem(client.post(f"{API}/orders/{order.id}/check-in", headers=headers,
                                      json={"lat": 35.4, "lng": 116.5, "coord_system": "cgcs"}),
                          422)
    assert "coord_system" in body["errors"]


def test_check_in_of_a_completed_visit_is_409(client, committed_visit, headers):
    order = committed_visit("completed")
    assert_problem(client.post(f"{API}/orders/{order.id}/check-in", headers=headers,
                               json={"lat": 35.41, "lng": 116.58}), 409, "invalid_transition")


# ---------------------------------------------------------------- check-out


def test_check_out_returns_the_visit_record(client, session, committed_visit, headers):
    order = committed_visit("in_service", checked_in_at=utcnow() - timedelta(minutes=45))
    r = client.post(f"{API}/orders/{order.id}/check-out", headers=headers,
                    json=_record_body(order, session))
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["status"] == "completed"
    assert body["vitals"]["glucose_mmol_l"] == 6.2
    assert body["procedures"] == [{"name": "venipuncture", "listed": True}]
    assert body["consumables"] == [{"name": "采血管", "quantity": 2, "unit": None}]
    assert body["started_at"] and body["ended_at"] and body["minutes_on_site"] == 45
    assert body["address"]["gcj02"]["lat"]


def test_check_out_without_a_record_is_422_and_changes_nothing(client, session,
                                                                committed_visit, headers):
    order = committed_visit("in_service", checked_in_at=utcnow())
    door = address_of(session, order)
    body = assert_problem(client.post(f"{API}/orders/{order.id}/check-out", headers=headers,
                                      json={"lat": door.lat, "lng": door.lng}), 422)
    assert "procedures" in body["errors"]
    assert session.get(Order, order.id, populate_existing=True).status == "in_service"


def test_check_out_with_empty_procedures_is_422(client, session, committed_visit, headers):
    order = committed_visit("in_service", checked_in_at=utcnow())
    body = assert_problem(client.post(f"{API}/orders/{order.id}/check-out", headers=headers,
                                      json=_record_body(order, session, procedures=[])), 422)
    assert "procedures" in body["errors"]


@pytest.mark.parametrize("vitals, field", [
    ({"systolic_mmhg": 400, "diastolic_mmhg": 80}, "systolic_mmhg"),
    ({"systolic_mmhg": 120, "diastolic_mmhg": 130}, "diastolic_mmhg"),
    ({"systolic_mmhg": 120}, "diastolic_mmhg"),
    ({"pulse_bpm": 5}, "pulse_bpm"),
    ({"temperature_c": 46.0}, "temperature_c"),
    ({"spo2_pct": 101}, "spo2_pct"),
    ({"glucose_mmol_l": 0.2}, "glucose_mmol_l"),
    ({"heart": 70}, "heart"),
])
def test_check_out_with_vitals_out_of_range_is_422_naming_the_field(
        client, session, committed_visit, headers, vitals, field):
    order = committed_visit("in_service", checked_in_at=utcnow())
    body = assert_problem(client.post(f"{API}/orders/{order.id}/check-out", headers=headers,
                                      json=_record_body(order, session, vitals=vitals)), 422)
    assert field in body["errors"]["vitals"]


@pytest.mark.parametrize("vitals, field", [
    ({"pulse_bpm": 76.5}, "pulse_bpm"),
    ({"spo2_pct": 97.4}, "spo2_pct"),
    ({"systolic_mmhg": 128.6, "diastolic_mmhg": 82}, "systolic_mmhg"),
])
def test_check_out_with_a_fractional_integer_vital_is_422_not_truncated(
        client, session, committed_visit, headers, vitals, field):
    order = committed_visit("in_service", checked_in_at=utcnow())
    body = assert_problem(client.post(f"{API}/orders/{order.id}/check-out", headers=headers,
                                      json=_record_body(order, session, vitals=vitals)), 422)
    assert field in body["errors"]["vitals"]
    assert session.get(Order, order.id, populate_existing=True).status == "in_service"


def test_check_in_with_an_unknown_field_is_still_422(client, committed_visit, headers):
    # Only the SOS body is lenient.
    order = committed_visit("en_route", departed_at=utcnow())
    body = assert_problem(client.post(f"{API}/orders/{order.id}/check-in", headers=headers,
                                      json={"lat": 35.41, "lng": 116.58, "battery": 80}), 422)
    assert "battery" in body["errors"]


def test_check_out_before_check_in_is_409(client, session, committed_visit, headers):
    order = committed_visit("en_route", departed_at=utcnow())
    assert_problem(client.post(f"{API}/orders/{order.id}/check-out", headers=headers,
                               json=_record_body(order, session)), 409, "invalid_transition")


# ---------------------------------------------------------------- SOS


def test_sos_returns_201_with_a_critical_alert(client, committed_visit, headers, supervisor):
    order = committed_visit("in_service", checked_in_at=utcnow())
    gcj = wgs84_to_gcj02(35.42, 116.59)
    r = client.post(f"{API}/orders/{order.id}/sos", headers=headers,
                    json={"lat": gcj.lat, "lng": gcj.lng, "coord_system": "gcj02"})
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert (body["kind"], body["severity"], body["status"]) == ("sos", "critical", "open")
    assert body["position"]["lat"] == pytest.approx(35.42, abs=1e-6)
    assert body["supervisors_paged"] == 1


def test_sos_with_an_empty_body_is_still_raised(client, committed_visit, headers):
    order = committed_visit("en_route", departed_at=utcnow())
    r = client.post(f"{API}/orders/{order.id}/sos", headers=headers, json={})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["position"] is None


def test_sos_is_never_rate_limited(client, committed_visit, headers):
    order = committed_visit("en_route", departed_at=utcnow())
    codes = {client.post(f"{API}/orders/{order.id}/sos", headers=headers,
                         json={"lat": 35.42, "lng": 116.59}).status_code for _ in range(25)}
    assert codes == {201}


@pytest.fixture
def last_ping(session, nurse):
    nurse.last_lat, nurse.last_lng, nurse.last_ping_at = 35.43, 116.6, utcnow()
    session.commit()
    return nurse


@pytest.mark.parametrize("body, reason", [
    ({"lat": 35.42, "lng": 116.59, "accuracy_m": -1}, "accuracy_m"),
    ({"lat": 35.42, "lng": 116.59, "coord_system": "GCJ02"}, "coord_system"),
    ({"lat": 35.42}, "lng"),
    ({"lat": "here", "lng": 116.59}, "lat"),
])
def test_sos_with_a_bad_position_is_stored_at_her_last_ping(
        client, session, committed_visit, headers, last_ping, body, reason):
    order = committed_visit("en_route", departed_at=utcnow())
    r = client.post(f"{API}/orders/{order.id}/sos", headers=headers, json=body)
    assert r.status_code == 201, r.get_json()
    assert (r.get_json()["position"]["lat"], r.get_json()["position"]["lng"]) == (35.43, 116.6)
    alert = session.get(Alert, r.get_json()["id"])
    assert alert.kind == "sos" and reason in alert.detail


def test_sos_with_unknown_fields_is_stored_and_notes_them(client, session, committed_visit,
                                                          headers):
    order = committed_visit("en_route", departed_at=utcnow())
    r = client.post(f"{API}/orders/{order.id}/sos", headers=headers,
                    json={"lat": 35.42, "lng": 116.59, "battery": 12, "note": "救命"})
    assert r.status_code == 201, r.get_json()
    alert = session.get(Alert, r.get_json()["id"])
    assert "battery" in alert.detail and "救命" in alert.detail


def test_sos_with_a_body_that_is_not_an_object_is_stored(client, session, committed_visit,
                                                         headers):
    order = committed_visit("en_route", departed_at=utcnow())
    r = client.post(f"{API}/orders/{order.id}/sos", headers=headers, json=[35.42, 116.59])
    assert r.status_code == 201, r.get_json()


def test_sos_after_a_supervisor_cancelled_the_order_is_201(client, session, committed_visit,
                                                           headers, supervisor):
    order = committed_visit("en_route", departed_at=utcnow())
    assert client.post(f"{API}/orders/{order.id}/cancel", headers=auth(supervisor),
                       json={"reason": "家属拒绝入户"}).status_code == 200
    r = client.post(f"{API}/orders/{order.id}/sos", headers=headers,
                    json={"lat": 35.42, "lng": 116.59})
    assert r.status_code == 201, r.get_json()
    assert session.get(Alert, r.get_json()["id"]).order_id == order.id


def test_sos_on_another_nurses_order_is_404(client, committed_visit, other_nurse_user):
    order = committed_visit("en_route", departed_at=utcnow())
    assert_problem(client.post(f"{API}/orders/{order.id}/sos", headers=auth(other_nurse_user),
                               json={"lat": 35.42, "lng": 116.59}), 404, "order_not_found")


# ---------------------------------------------------------------- the care record


@pytest.fixture
def record_order(session, committed_visit, nurse):
    order = committed_visit("completed", checked_in_at=utcnow() - timedelta(hours=1),
                            checked_out_at=utcnow())
    CareRecordFactory(order_id=order.id, nurse_id=nurse.id)
    session.commit()
    return order


def test_get_care_record_by_the_supervisor_is_audited(client, session, record_order,
                                                      supervisor):
    r = client.get(f"{API}/orders/{record_order.id}/care-record", headers=auth(supervisor))
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["vitals"]["systolic_mmhg"] == 132
    entry = session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "care_record.read"))
    assert entry.actor_id == supervisor.id and entry.detail["order_id"] == record_order.id
    assert entry.ip == "127.0.0.1"


def test_get_care_record_by_the_nurse_who_gave_the_care(client, record_order, headers):
    assert client.get(f"{API}/orders/{record_order.id}/care-record",
                      headers=headers).status_code == 200


def test_get_care_record_by_another_patient_is_404(client, record_order):
    stranger = UserFactory(role="patient")
    assert_problem(client.get(f"{API}/orders/{record_order.id}/care-record",
                              headers=auth(stranger)), 404, "order_not_found")


def test_get_care_record_before_check_out_is_404(client, committed_visit, supervisor):
    order = committed_visit("in_service", checked_in_at=utcnow())
    assert_problem(client.get(f"{API}/orders/{order.id}/care-record",
                              headers=auth(supervisor)), 404, "care_record_not_found")


def test_sos_without_any_body_is_still_raised(client, committed_visit, headers):
    order = committed_visit("in_service", checked_in_at=utcnow())
    r = client.post(f"{API}/orders/{order.id}/sos", headers=headers)
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["kind"] == "sos"


def test_sos_with_an_unknown_field_named_by_a_lone_surrogate_is_still_raised(
        client, session, committed_visit, headers):
    # JSON may name a field "\ud800", which no column stores: it was a 500, no alarm.
    order = committed_visit("en_route", departed_at=utcnow())
    r = client.post(f"{API}/orders/{order.id}/sos", headers=headers,
                    content_type="application/json", data='{"\\ud800": 1, "note": "救命"}')
    assert r.status_code == 201, r.get_data(as_text=True)
    assert "\\\\ud800" in session.get(Alert, r.get_json()["id"]).detail

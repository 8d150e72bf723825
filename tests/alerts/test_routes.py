"""Route tests for GET /alerts, acknowledging and resolving alerts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from conftest import assert_problem
from homecare.clock import utcnow
from tests.factories import AlertFactory, UserFactory, auth
from tests.helpers import API


@pytest.fixture
def alert(session, org):
    made = AlertFactory(organization_id=org.id, kind="sos", severity="critical",
                        lat=35.42, lng=116.59)
    session.commit()
    return made


def test_list_alerts_returns_the_organizations_alerts(client, alert, supervisor, other_org):
    AlertFactory(organization_id=other_org.id)
    r = client.get(f"{API}/alerts", headers=auth(supervisor))
    assert r.status_code == 200
    body = r.get_json()
    assert [a["id"] for a in body] == [alert.id]
    assert body[0]["position"]["gcj02"]["lat"] and body[0]["severity"] == "critical"
    assert "X-Pagination" in r.headers


def test_list_alerts_filters_by_kind_status_and_date(client, session, org, supervisor):
    wanted = AlertFactory(organization_id=org.id, kind="late",
                          raised_at=datetime(2030, 5, 6, 16, 30, tzinfo=UTC))
    AlertFactory(organization_id=org.id, kind="late", status="resolved",
                 raised_at=datetime(2030, 5, 6, 16, 30, tzinfo=UTC))
    AlertFactory(organization_id=org.id, kind="late")
    AlertFactory(organization_id=org.id, kind="overtime",
                 raised_at=datetime(2030, 5, 6, 16, 30, tzinfo=UTC))
    r = client.get(f"{API}/alerts?kind=late&status=open&date=2030-05-07",
                   headers=auth(supervisor))
    assert [a["id"] for a in r.get_json()] == [wanted.id]


def test_list_alerts_with_unknown_kind_is_422(client, supervisor):
    body = assert_problem(client.get(f"{API}/alerts?kind=fire", headers=auth(supervisor)), 422)
    assert "kind" in body["errors"]


def test_list_alerts_by_a_nurse_is_403(client, org):
    nurse = UserFactory(role="nurse", organization_id=org.id)
    assert_problem(client.get(f"{API}/alerts", headers=auth(nurse)), 403, "forbidden")


def test_get_alert_of_another_organization_is_404(client, session, other_org, supervisor):
    theirs = AlertFactory(organization_id=other_org.id)
    session.commit()
    assert_problem(client.get(f"{API}/alerts/{theirs.id}", headers=auth(supervisor)),
                   404, "alert_not_found")


def test_ack_returns_the_alert_with_who_and_when(client, alert, supervisor):
    r = client.post(f"{API}/alerts/{alert.id}/ack", headers=auth(supervisor))
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["status"] == "acknowledged" and body["acked_by"] == supervisor.id
    assert datetime.fromisoformat(body["acked_at"]) <= utcnow()


def test_ack_twice_is_409_already_acknowledged(client, alert, supervisor):
    client.post(f"{API}/alerts/{alert.id}/ack", headers=auth(supervisor))
    body = assert_problem(client.post(f"{API}/alerts/{alert.id}/ack", headers=auth(supervisor)),
                          409, "alert_already_acknowledged")
    assert body["acked_by"] == supervisor.id


def test_ack_of_another_organizations_alert_is_404(client, session, other_org, supervisor):
    theirs = AlertFactory(organization_id=other_org.id)
    session.commit()
    assert_problem(client.post(f"{API}/alerts/{theirs.id}/ack", headers=auth(supervisor)),
                   404, "alert_not_found")


def test_resolve_with_a_note_returns_the_resolved_alert(client, alert, supervisor):
    r = client.post(f"{API}/alerts/{alert.id}/resolve", headers=auth(supervisor),
                    json={"note": "called the nurse; she is safe"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["status"] == "resolved"
    assert r.get_json()["resolved_by"] == supervisor.id


def test_resolve_twice_is_409_already_resolved(client, alert, supervisor):
    client.post(f"{API}/alerts/{alert.id}/resolve", headers=auth(supervisor), json={})
    assert_problem(client.post(f"{API}/alerts/{alert.id}/resolve", headers=auth(supervisor),
                               json={}), 409, "alert_already_resolved")


def test_resolve_with_unknown_field_is_422(client, alert, supervisor):
    body = assert_problem(client.post(f"{API}/alerts/{alert.id}/resolve",
                                      headers=auth(supervisor), json={"status": "open"}), 422)
    assert body["errors"]["status"] == ["Unknown field."]


def test_list_alerts_with_an_order_id_beyond_any_row_is_422(client, supervisor):
    body = assert_problem(client.get(f"{API}/alerts?order_id=99999999999999999999",
                                     headers=auth(supervisor)), 422)
    assert "order_id" in body["errors"]


def test_list_alerts_filtered_by_order(client, session, org, supervisor):
    from tests.factories import booked_order

    order = booked_order(org)
    wanted = AlertFactory(organization_id=org.id, order_id=order.id)
    AlertFactory(organization_id=org.id)
    r = client.get(f"{API}/alerts?order_id={order.id}", headers=auth(supervisor))
    assert [a["id"] for a in r.get_json()] == [wanted.id]


def test_list_alerts_with_a_date_out_of_range_is_422(client, supervisor):
    body = assert_problem(client.get(f"{API}/alerts?date=9999-12-31", headers=auth(supervisor)),
                          422)
    assert "date" in body["errors"]

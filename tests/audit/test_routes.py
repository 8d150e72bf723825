"""Route tests for GET /orders/{id}/audit."""

from __future__ import annotations

from datetime import timedelta

from conftest import assert_problem
from homecare.clock import utcnow
from tests.factories import CareRecordFactory, UserFactory, auth
from tests.helpers import API


def test_order_audit_lists_the_trail_oldest_first(client, session, visit, nurse, nurse_user,
                                                  supervisor):
    order = visit("in_service", checked_in_at=utcnow() - timedelta(minutes=30))
    session.commit()
    client.post(f"{API}/orders/{order.id}/check-out", headers=auth(nurse_user),
                json={"lat": 35.41, "lng": 116.58, "procedures": ["venipuncture"]})
    client.get(f"{API}/orders/{order.id}/care-record", headers=auth(supervisor))
    r = client.get(f"{API}/orders/{order.id}/audit", headers=auth(supervisor))
    assert r.status_code == 200, r.get_json()
    trail = r.get_json()
    assert [e["action"] for e in trail] == ["order.completed", "care_record.read"]
    assert trail[0]["actor_id"] == nurse_user.id and trail[0]["detail"]["from"] == "in_service"
    assert trail[1]["actor_role"] == "supervisor" and trail[1]["ip"] == "127.0.0.1"


def test_order_audit_by_a_nurse_is_403(client, session, visit, nurse, nurse_user):
    order = visit("completed")
    CareRecordFactory(order_id=order.id, nurse_id=nurse.id)
    session.commit()
    assert_problem(client.get(f"{API}/orders/{order.id}/audit", headers=auth(nurse_user)),
                   403, "forbidden")


def test_order_audit_of_another_organization_is_404(client, session, visit, other_org):
    order = visit("assigned")
    stranger = UserFactory(role="supervisor", organization_id=other_org.id)
    session.commit()
    assert_problem(client.get(f"{API}/orders/{order.id}/audit", headers=auth(stranger)),
                   404, "order_not_found")


def test_there_is_no_way_to_change_the_trail(client, session, visit, supervisor):
    order = visit("assigned")
    session.commit()
    for method in (client.put, client.patch, client.delete):
        assert_problem(method(f"{API}/orders/{order.id}/audit", headers=auth(supervisor)),
                       405, "method_not_allowed")

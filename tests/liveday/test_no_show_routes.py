"""POST /orders/{id}/no-show: the nurse at the door, or a supervisor."""

from __future__ import annotations

import sqlalchemy as sa

from conftest import assert_problem
from homecare.accounts.models import User
from homecare.alerts.models import Alert
from homecare.audit.models import AuditEntry
from homecare.geo import wgs84_to_gcj02
from homecare.orders.models import Order
from tests.factories import AlertFactory, UserFactory, auth
from tests.helpers import API, address_of, north_of
from tests.liveday.conftest import kinds_for, owner_of


def _no_show(client, order, user, **body):
    return client.post(f"{API}/orders/{order.id}/no-show", headers=auth(user),
                       json={"reason": "not at home", **body})


def test_nurse_at_the_door_reports_a_no_show(client, session, committed_visit, nurse_user, org,
                                             now):
    order = committed_visit("en_route", departed_at=now)
    late = AlertFactory(organization_id=org.id, kind="late", order_id=order.id,
                        nurse_id=order.nurse_id)
    session.commit()
    gcj = wgs84_to_gcj02(*address_of(session, order))
    r = _no_show(client, order, nurse_user, lat=gcj.lat, lng=gcj.lng, coord_system="gcj02")
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["status"] == "no_show" and body["within_geofence"] is True
    assert body["alert_id"] is None and body["distance_m"] < 1
    session.expire_all()
    stored = session.get(Order, order.id)
    assert stored.status == "no_show" and stored.status_reason == "not at home"
    assert kinds_for(session, owner_of(session, order), order.id) == ["visit_no_show"]
    assert session.get(Alert, late.id).status == "resolved"
    position = session.scalar(sa.select(AuditEntry.detail).where(
        AuditEntry.action == "order.no_show_position", AuditEntry.object_id == order.id))
    assert position["distance_m"] < 1


def test_nurse_far_from_the_door_is_accepted_but_flagged(client, session, committed_visit,
                                                         nurse_user, now):
    order = committed_visit("en_route", departed_at=now)
    away = north_of(address_of(session, order), 900)
    r = _no_show(client, order, nurse_user, lat=away.lat, lng=away.lng)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["status"] == "no_show" and body["within_geofence"] is False
    alert = session.get(Alert, body["alert_id"])
    assert alert.kind == "geofence" and "reported a no-show" in alert.detail


def test_nurse_who_forgot_to_depart_departs_first(client, session, committed_visit,
                                                  nurse_user):
    order = committed_visit("assigned")
    door = address_of(session, order)
    r = _no_show(client, order, nurse_user, lat=door.lat, lng=door.lng)
    assert r.status_code == 200, r.get_json()
    steps = [(e["from_status"], e["to_status"]) for e in client.get(
        f"{API}/orders/{order.id}/events", headers=auth(nurse_user)).get_json()]
    assert steps[-2:] == [("assigned", "en_route"), ("en_route", "no_show")]


def test_nurse_without_a_position_is_422(client, session, committed_visit, nurse_user, now):
    order = committed_visit("en_route", departed_at=now)
    assert_problem(_no_show(client, order, nurse_user), 422, "position_required")
    assert session.get(Order, order.id).status == "en_route"


def test_half_a_position_is_422(client, committed_visit, nurse_user, now):
    order = committed_visit("en_route", departed_at=now)
    assert_problem(_no_show(client, order, nurse_user, lat=35.4), 422)


def test_empty_reason_is_422(client, session, committed_visit, supervisor):
    order = committed_visit("assigned")
    r = client.post(f"{API}/orders/{order.id}/no-show", headers=auth(supervisor),
                    json={"reason": "  "})
    assert_problem(r, 422)
    assert session.get(Order, order.id).status == "assigned"


def test_supervisor_marks_a_no_show_without_a_position(client, session, committed_visit,
                                                       supervisor):
    order = committed_visit("assigned")
    r = _no_show(client, order, supervisor)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["status"] == "no_show" and "lat" not in r.get_json()
    assert kinds_for(session, owner_of(session, order), order.id) == ["visit_no_show"]


def test_supervisor_of_another_organization_gets_404(client, committed_visit, other_org):
    order = committed_visit("assigned")
    stranger = UserFactory(role="supervisor", organization_id=other_org.id)
    assert_problem(_no_show(client, order, stranger), 404, "order_not_found")


def test_another_nurse_gets_404(client, session, committed_visit, other_nurse_user, now):
    order = committed_visit("en_route", departed_at=now)
    door = address_of(session, order)
    assert_problem(_no_show(client, order, other_nurse_user, lat=door.lat, lng=door.lng),
                   404, "order_not_found")


def test_the_family_may_not_report_one(client, session, committed_visit):
    order = committed_visit("en_route")
    owner = session.get(User, owner_of(session, order))
    assert_problem(_no_show(client, order, owner), 403)


def test_a_completed_visit_is_409(client, session, committed_visit, supervisor):
    order = committed_visit("completed")
    body = assert_problem(_no_show(client, order, supervisor), 409, "invalid_transition")
    assert body["current_status"] == "completed"

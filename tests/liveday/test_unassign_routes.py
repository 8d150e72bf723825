"""POST /orders/{id}/unassign: a supervisor takes an order off its nurse; a nurse hands
one back before the lead time. Back to dispatch, re-offered without her."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from conftest import assert_problem
from homecare.accounts.models import User
from homecare.alerts.models import Alert
from homecare.dispatch.models import Offer
from homecare.orders.models import Order
from tests.factories import NurseFactory, ShiftFactory, auth, booked_order
from tests.helpers import API
from tests.liveday.conftest import kinds_for, owner_of


def _unassign(client, order, user, reason="family asked for another nurse"):
    return client.post(f"{API}/orders/{order.id}/unassign", headers=auth(user),
                       json={"reason": reason})


def _on_shift(*nurses):
    for nurse in nurses:
        ShiftFactory(nurse_id=nurse.id)


def test_supervisor_unassigns_and_the_order_is_offered_to_others(
        client, session, supervisor, nurse, org, item, now):
    colleague = NurseFactory(organization_id=org.id)
    _on_shift(nurse, colleague)
    order = booked_order(org, status="approved", item=item)
    session.commit()
    r = client.post(f"{API}/orders/{order.id}/assign", headers=auth(supervisor),
                    json={"nurse_id": nurse.id})
    assert r.status_code == 200, r.get_json()
    r = _unassign(client, order, supervisor)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["status"] == "offered" and body["previous_nurse_id"] == nurse.id
    assert body["offers_made"] == 1
    session.expire_all()
    stored = session.get(Order, order.id)
    assert stored.nurse_id is None and stored.planned_arrival is None
    assert stored.status_reason is not None
    offered = set(session.scalars(sa.select(Offer.nurse_id).where(Offer.order_id == order.id)))
    assert offered == {colleague.id}  # not the nurse it was taken from
    assert kinds_for(session, owner_of(session, order), order.id) == [
        "nurse_assigned", "nurse_unassigned"]
    assert kinds_for(session, nurse.user_id, order.id) == ["order_assigned", "order_reassigned"]


def test_with_nobody_else_it_waits_for_the_supervisor(client, session, committed_visit,
                                                      supervisor):
    # Nobody of the organization is on shift.
    order = committed_visit("assigned")
    r = _unassign(client, order, supervisor)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["status"] == "approved" and r.get_json()["offers_made"] == 0
    kinds = session.scalars(sa.select(Alert.kind).where(Alert.order_id == order.id)).all()
    assert kinds == ["unassigned"]


def test_nurse_hands_back_before_the_lead_time(client, session, committed_visit, nurse_user,
                                               nurse, now):
    start = now + timedelta(hours=3)
    order = committed_visit("assigned", window_start=start, window_end=start + timedelta(hours=2))
    r = _unassign(client, order, nurse_user, reason="my child is ill")
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["status"] in ("offered", "approved")
    assert kinds_for(session, owner_of(session, order), order.id) == ["nurse_unassigned"]
    assert kinds_for(session, nurse.user_id, order.id) == []  # her own doing
    # No longer hers: she does not see it any more.
    assert_problem(client.get(f"{API}/orders/{order.id}", headers=auth(nurse_user)), 404)


def test_nurse_inside_the_lead_time_is_409(client, session, committed_visit, nurse_user, now):
    start = now + timedelta(minutes=119)
    order = committed_visit("assigned", window_start=start, window_end=start + timedelta(hours=2))
    body = assert_problem(_unassign(client, order, nurse_user), 409, "handback_too_late")
    assert body["latest"]
    assert session.get(Order, order.id).status == "assigned"


def test_after_departure_it_is_409(client, session, committed_visit, nurse_user, supervisor,
                                   now):
    order = committed_visit("en_route", departed_at=now)
    for user in (nurse_user, supervisor):
        body = assert_problem(_unassign(client, order, user), 409, "invalid_transition")
        assert body["current_status"] == "en_route"


def test_an_offered_order_has_no_nurse_to_take_back_409(client, session, committed_visit,
                                                        supervisor):
    order = committed_visit("offered")
    body = assert_problem(_unassign(client, order, supervisor), 409, "invalid_transition")
    assert body["current_status"] == "offered"
    session.expire_all()
    assert session.get(Order, order.id).status == "offered"


def test_a_reason_is_required(client, committed_visit, supervisor):
    order = committed_visit("assigned")
    r = client.post(f"{API}/orders/{order.id}/unassign", headers=auth(supervisor), json={})
    assert_problem(r, 422)


def test_the_family_and_other_nurses_may_not(client, session, committed_visit,
                                             other_nurse_user):
    order = committed_visit("assigned")
    owner = session.get(User, owner_of(session, order))
    assert_problem(_unassign(client, order, owner), 403)
    assert_problem(_unassign(client, order, other_nurse_user), 404, "order_not_found")
    assert session.get(Order, order.id).status == "assigned"

"""Route tests for vetting, cancelling and reviewing orders, each transition and refusal."""

from __future__ import annotations

import sqlalchemy as sa

from conftest import assert_problem
from homecare.dispatch.models import Offer
from homecare.notifications.models import Notification
from homecare.nurses.models import Nurse
from homecare.orders.models import Order, OrderEvent, Review
from homecare.patients.models import Assessment
from tests.factories import OfferFactory, UserFactory, auth, unassess
from tests.helpers import API


def _notified(session, order_id: int, user_id: int) -> list[Notification]:
    return list(session.scalars(sa.select(Notification).where(
        Notification.order_id == order_id, Notification.user_id == user_id)
        .order_by(Notification.id)))


def _last_event(session, order_id: int) -> OrderEvent:
    return session.scalars(sa.select(OrderEvent).where(OrderEvent.order_id == order_id)
                           .order_by(OrderEvent.id.desc())).first()


# ---------------------------------------------------------------- approve / reject


def test_approve_submitted_order_is_200_approved_and_recorded(
        client, session, supervisor, make_order):
    order = make_order("submitted")
    r = client.post(f"{API}/orders/{order.id}/approve", json={"reason": "评估通过"},
                    headers=auth(supervisor))
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["status"] in ("approved", "offered")
    event = session.scalars(sa.select(OrderEvent).where(OrderEvent.order_id == order.id,
                                                        OrderEvent.to_status == "approved")).one()
    assert (event.actor_id, event.actor_role, event.reason) == (supervisor.id, "supervisor",
                                                                "评估通过")


def test_approve_without_body_is_200(client, supervisor, make_order):
    order = make_order("submitted")
    r = client.post(f"{API}/orders/{order.id}/approve", headers=auth(supervisor))
    assert r.status_code == 200, r.get_json()


def test_approve_first_order_marks_recipient_assessed_by_the_organization(
        client, session, supervisor, make_order, recipient, org):
    unassess(recipient)
    order = make_order("submitted")
    client.post(f"{API}/orders/{order.id}/approve", json={}, headers=auth(supervisor))
    assert session.get(Assessment, (recipient.id, org.id)) is not None


def test_approve_notifies_the_owner(client, session, supervisor, make_order, patient):
    order = make_order("submitted")
    client.post(f"{API}/orders/{order.id}/approve", json={}, headers=auth(supervisor))
    assert [n.kind for n in _notified(session, order.id, patient.id)] == ["order_approved"]


def test_approve_order_already_approved_is_409_naming_status(client, supervisor, make_order):
    order = make_order("approved")
    r = client.post(f"{API}/orders/{order.id}/approve", json={}, headers=auth(supervisor))
    body = assert_problem(r, 409, "invalid_transition")
    assert body["current_status"] == "approved"


def test_approve_offered_order_is_409_not_a_step_back(client, session, supervisor, make_order):
    order = make_order("offered")
    r = client.post(f"{API}/orders/{order.id}/approve", json={}, headers=auth(supervisor))
    assert_problem(r, 409, "invalid_transition")
    assert session.get(Order, order.id).status == "offered"


def test_approve_by_other_organizations_supervisor_is_404(
        client, other_supervisor, make_order):
    order = make_order("submitted")
    r = client.post(f"{API}/orders/{order.id}/approve", json={}, headers=auth(other_supervisor))
    assert_problem(r, 404, "order_not_found")


def test_approve_by_patient_is_403(client, patient, make_order):
    order = make_order("submitted")
    assert_problem(client.post(f"{API}/orders/{order.id}/approve", json={}, headers=auth(patient)),
                   403, "forbidden")


def test_approve_missing_order_is_404(client, supervisor):
    assert_problem(client.post(f"{API}/orders/99999/approve", json={}, headers=auth(supervisor)),
                   404, "order_not_found")


def test_reject_with_reason_is_200_and_tells_the_owner_why(
        client, session, supervisor, make_order, patient):
    order = make_order("submitted")
    r = client.post(f"{API}/orders/{order.id}/reject", json={"reason": "病情不稳定，请到院就诊"},
                    headers=auth(supervisor))
    assert r.status_code == 200
    assert r.get_json()["status"] == "rejected"
    assert r.get_json()["status_reason"] == "病情不稳定，请到院就诊"
    (note,) = _notified(session, order.id, patient.id)
    assert note.kind == "order_rejected" and note.payload["reason"] == "病情不稳定，请到院就诊"


def test_reject_does_not_mark_recipient_assessed(
        client, session, supervisor, make_order, recipient, org):
    unassess(recipient)
    order = make_order("submitted")
    client.post(f"{API}/orders/{order.id}/reject", json={"reason": "不符合条件"},
                headers=auth(supervisor))
    assert session.get(Assessment, (recipient.id, org.id)) is None


def test_reject_without_reason_is_422(client, supervisor, make_order):
    order = make_order("submitted")
    body = assert_problem(client.post(f"{API}/orders/{order.id}/reject", json={},
                                      headers=auth(supervisor)), 422, "validation_failed")
    assert "reason" in body["errors"]


def test_reject_with_blank_reason_is_422_reason_required(client, session, supervisor, make_order):
    order = make_order("submitted")
    r = client.post(f"{API}/orders/{order.id}/reject", json={"reason": "   "},
                    headers=auth(supervisor))
    assert_problem(r, 422, "reason_required")
    assert session.get(Order, order.id).status == "submitted"


def test_reject_approved_order_is_409(client, supervisor, make_order):
    order = make_order("approved")
    r = client.post(f"{API}/orders/{order.id}/reject", json={"reason": "x"},
                    headers=auth(supervisor))
    assert assert_problem(r, 409, "invalid_transition")["current_status"] == "approved"


# ---------------------------------------------------------------- cancel


def test_cancel_by_owner_before_departure_is_200(client, session, patient, make_order, nurse):
    for status in ("submitted", "approved", "offered", "assigned"):
        order = make_order(status, nurse=nurse if status == "assigned" else None)
        r = client.post(f"{API}/orders/{order.id}/cancel", json={"reason": "老人住院了"},
                        headers=auth(patient))
        assert r.status_code == 200, (status, r.get_json())
        assert r.get_json()["status"] == "cancelled"
        event = _last_event(session, order.id)
        assert (event.from_status, event.to_status, event.actor_role) == (
            status, "cancelled", "patient")


def test_cancel_without_body_is_200(client, patient, make_order):
    order = make_order("approved")
    assert client.post(f"{API}/orders/{order.id}/cancel", headers=auth(patient)).status_code == 200


def test_cancel_withdraws_open_offers(client, session, patient, make_order, nurse):
    order = make_order("offered")
    offer = OfferFactory(order_id=order.id, nurse_id=nurse.id)
    session.commit()
    client.post(f"{API}/orders/{order.id}/cancel", json={}, headers=auth(patient))
    assert session.get(Offer, offer.id, populate_existing=True).status == "withdrawn"


def test_cancel_assigned_keeps_nurse_for_the_record_and_tells_her(
        client, session, patient, make_order, nurse, nurse_user):
    order = make_order("assigned", nurse=nurse)
    client.post(f"{API}/orders/{order.id}/cancel", json={}, headers=auth(patient))
    reloaded = session.get(Order, order.id)
    assert reloaded.nurse_id == nurse.id and reloaded.status == "cancelled"
    assert [n.kind for n in _notified(session, order.id, nurse_user.id)] == ["order_cancelled"]
    # She cancelled herself: no message back to the owner.
    assert _notified(session, order.id, patient.id) == []


def test_cancel_by_owner_after_departure_is_403(client, session, patient, make_order, nurse):
    order = make_order("en_route", nurse=nurse)
    r = client.post(f"{API}/orders/{order.id}/cancel", json={"reason": "不需要了"},
                    headers=auth(patient))
    body = assert_problem(r, 403, "transition_forbidden")
    assert body["current_status"] == "en_route"
    assert session.get(Order, order.id).status == "en_route"


def test_cancel_by_supervisor_after_departure_records_why(
        client, session, supervisor, make_order, nurse, nurse_user, patient, org):
    colleague = UserFactory(role="supervisor", organization_id=org.id)
    session.commit()
    order = make_order("en_route", nurse=nurse)
    r = client.post(f"{API}/orders/{order.id}/cancel", json={"reason": "家属来电取消"},
                    headers=auth(supervisor))
    assert r.status_code == 200
    event = _last_event(session, order.id)
    assert (event.actor_id, event.reason) == (supervisor.id, "家属来电取消")
    (to_nurse,) = _notified(session, order.id, nurse_user.id)
    assert to_nurse.urgent and to_nurse.kind == "order_cancelled"
    assert [n.kind for n in _notified(session, order.id, colleague.id)] == [
        "order_cancelled_after_departure"]
    assert _notified(session, order.id, supervisor.id) == []
    assert [n.kind for n in _notified(session, order.id, patient.id)] == ["order_cancelled"]


def test_cancel_by_supervisor_after_departure_without_reason_is_422(
        client, session, supervisor, make_order, nurse):
    order = make_order("in_service", nurse=nurse)
    r = client.post(f"{API}/orders/{order.id}/cancel", json={}, headers=auth(supervisor))
    assert_problem(r, 422, "reason_required")
    assert session.get(Order, order.id).status == "in_service"


def test_cancel_completed_order_is_409(client, patient, make_order, nurse):
    order = make_order("completed", nurse=nurse)
    r = client.post(f"{API}/orders/{order.id}/cancel", json={}, headers=auth(patient))
    assert assert_problem(r, 409, "invalid_transition")["current_status"] == "completed"


def test_cancel_twice_is_409(client, patient, make_order):
    order = make_order("approved")
    client.post(f"{API}/orders/{order.id}/cancel", json={}, headers=auth(patient))
    r = client.post(f"{API}/orders/{order.id}/cancel", json={}, headers=auth(patient))
    assert assert_problem(r, 409, "invalid_transition")["current_status"] == "cancelled"


def test_cancel_another_owners_order_is_404(client, session, make_order):
    order = make_order("approved")
    stranger = UserFactory(role="patient")
    session.commit()
    assert_problem(client.post(f"{API}/orders/{order.id}/cancel", json={},
                               headers=auth(stranger)), 404, "order_not_found")


def test_cancel_by_nurse_is_403(client, nurse_user, make_order, nurse):
    order = make_order("assigned", nurse=nurse)
    assert_problem(client.post(f"{API}/orders/{order.id}/cancel", json={},
                               headers=auth(nurse_user)), 403, "forbidden")


def test_cancel_with_unknown_field_is_422(client, patient, make_order):
    order = make_order("approved")
    r = client.post(f"{API}/orders/{order.id}/cancel", json={"why": "x"}, headers=auth(patient))
    assert "why" in assert_problem(r, 422, "validation_failed")["errors"]


# ---------------------------------------------------------------- review


def test_review_completed_visit_is_201_and_moves_nurse_rating(
        client, session, patient, make_order, nurse):
    order = make_order("completed", nurse=nurse)
    r = client.post(f"{API}/orders/{order.id}/review", json={"rating": 4, "comment": "很专业"},
                    headers=auth(patient))
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["rating"] == 4 and r.get_json()["nurse_id"] == nurse.id
    session.expire_all()
    assert (session.get(Nurse, nurse.id).rating_sum,
            session.get(Nurse, nurse.id).rating_count) == (4, 1)


def test_review_twice_is_409_already_reviewed(client, session, patient, make_order, nurse):
    order = make_order("completed", nurse=nurse)
    client.post(f"{API}/orders/{order.id}/review", json={"rating": 5}, headers=auth(patient))
    r = client.post(f"{API}/orders/{order.id}/review", json={"rating": 1}, headers=auth(patient))
    assert_problem(r, 409, "already_reviewed")
    assert session.scalar(sa.select(sa.func.count()).select_from(Review)) == 1


def test_review_before_completion_is_409_order_not_completed(client, patient, make_order, nurse):
    order = make_order("in_service", nurse=nurse)
    r = client.post(f"{API}/orders/{order.id}/review", json={"rating": 5}, headers=auth(patient))
    assert assert_problem(r, 409, "order_not_completed")["current_status"] == "in_service"


def test_review_with_rating_out_of_range_is_422(client, patient, make_order, nurse):
    order = make_order("completed", nurse=nurse)
    for rating in (0, 6):
        r = client.post(f"{API}/orders/{order.id}/review", json={"rating": rating},
                        headers=auth(patient))
        assert "rating" in assert_problem(r, 422, "validation_failed")["errors"]


def test_review_of_another_owners_order_is_404(client, session, make_order, nurse):
    order = make_order("completed", nurse=nurse)
    stranger = UserFactory(role="patient")
    session.commit()
    r = client.post(f"{API}/orders/{order.id}/review", json={"rating": 5}, headers=auth(stranger))
    assert_problem(r, 404, "order_not_found")


def test_review_shows_in_the_order_view(client, patient, make_order, nurse):
    order = make_order("completed", nurse=nurse)
    client.post(f"{API}/orders/{order.id}/review", json={"rating": 3, "comment": "迟到了"},
                headers=auth(patient))
    review = client.get(f"{API}/orders/{order.id}", headers=auth(patient)).get_json()["review"]
    assert (review["rating"], review["comment"]) == (3, "迟到了")


def test_reject_with_nul_in_reason_is_422(client, supervisor, make_order):
    order = make_order("submitted")
    r = client.post(f"{API}/orders/{order.id}/reject", json={"reason": "x\u0000"},
                    headers=auth(supervisor))
    assert "reason" in assert_problem(r, 422, "validation_failed")["errors"]


def test_cancel_by_supervisor_during_the_visit_with_reason_is_200(
        client, session, supervisor, make_order, nurse):
    order = make_order("in_service", nurse=nurse)
    r = client.post(f"{API}/orders/{order.id}/cancel", json={"reason": "患者突发不适，转急诊"},
                    headers=auth(supervisor))
    assert r.status_code == 200
    event = _last_event(session, order.id)
    assert (event.from_status, event.to_status, event.reason) == (
        "in_service", "cancelled", "患者突发不适，转急诊")

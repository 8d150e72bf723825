"""Route tests: candidates and every hard filter's explanation, assignment, the nurse's offers."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from conftest import assert_problem
from homecare.accounts.models import User
from homecare.clock import utcnow
from homecare.dispatch.models import Offer
from homecare.orders.models import Order
from homecare.patients.models import Address, CareRecipient
from tests.factories import ServiceItemFactory, ShiftFactory, UserFactory, auth
from tests.helpers import API


def _candidates(client, user, order, **query):
    return client.get(f"{API}/orders/{order.id}/candidates", query_string=query,
                      headers=auth(user))


def _explain(client, user, order, nurse):
    r = _candidates(client, user, order, explain=nurse.id)
    assert r.status_code == 200, r.get_json()
    (entry,) = r.get_json()
    assert entry["nurse_id"] == nurse.id
    return entry


def _listed(client, user, order) -> list[int]:
    r = _candidates(client, user, order)
    assert r.status_code == 200, r.get_json()
    return [c["nurse_id"] for c in r.get_json()]


def _fresh(session, model, key):
    session.expire_all()
    return session.get(model, key)


# ---------------------------------------------------------------- candidates


def test_candidates_lists_eligible_nurses_best_first(client, supervisor, order, make_nurse):
    far = make_nurse(home_lat=35.46)
    near = make_nurse(home_lat=35.411, home_lng=116.581)
    r = _candidates(client, supervisor, order)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert [c["nurse_id"] for c in body] == [near.id, far.id]
    best = body[0]
    assert best["eligible"] is True and best["excluded_by"] is None
    assert best["eta_min"] < body[1]["eta_min"] and best["score"] > body[1]["score"]
    assert set(best["score_parts"]) == {"travel", "continuity", "balance", "rating"}
    assert best["distance_km"] >= 0 and best["start_from"] == "home"
    assert best["planned_arrival"] is not None
    assert "X-Pagination" in r.headers


def test_candidates_rank_a_nurse_who_served_the_recipient_before(client, session, supervisor,
                                                                  order, make_nurse,
                                                                  make_order):
    stranger = make_nurse(home_lat=35.411, home_lng=116.581)
    familiar = make_nurse(home_lat=35.42)
    earlier = make_order("completed", nurse_id=familiar.id,
                         window_start=utcnow() - timedelta(days=3),
                         window_end=utcnow() - timedelta(days=3) + timedelta(hours=2))
    earlier.patient_id = order.patient_id
    session.commit()
    body = _candidates(client, supervisor, order).get_json()
    parts = {c["nurse_id"]: c["score_parts"]["continuity"] for c in body}
    assert parts == {familiar.id: 1.0, stranger.id: 0.0}
    assert body[0]["nurse_id"] == familiar.id


def test_candidates_travel_from_a_fresh_ping_when_she_is_free(client, session, supervisor,
                                                               order, make_nurse):
    nurse = make_nurse(home_lat=35.47)
    nurse.last_lat, nurse.last_lng, nurse.last_ping_at = 35.4105, 116.5805, utcnow()
    session.commit()
    entry = _explain(client, supervisor, order, nurse)
    assert entry["start_from"] == "current_position"
    assert entry["distance_km"] < 1.0


def test_candidates_explain_eligible_nurse_is_scored(client, supervisor, order, nurse):
    entry = _explain(client, supervisor, order, nurse)
    assert entry["eligible"] is True and entry["excluded_by"] is None
    assert entry["score"] is not None and entry["eta_min"] is not None


def _excluded(client, user, order, nurse, rule):
    entry = _explain(client, user, order, nurse)
    assert (entry["eligible"], entry["excluded_by"]) == (False, rule), entry
    assert entry["reason"]
    return entry


def test_candidates_explain_other_organization_names_it_for_admin(client, admin, order,
                                                                   make_nurse, other_org):
    nurse = make_nurse(organization=other_org)
    _excluded(client, admin, order, nurse, "organization")


def test_candidates_explain_current_nurse(client, supervisor, make_order, nurse):
    order = make_order("assigned", nurse_id=nurse.id)
    _excluded(client, supervisor, order, nurse, "current_nurse")
    assert nurse.id not in _listed(client, supervisor, order)


def test_candidates_explain_inactive_nurse(client, supervisor, order, make_nurse):
    nurse = make_nurse(active=False)
    _excluded(client, supervisor, order, nurse, "not_active")
    assert nurse.id not in _listed(client, supervisor, order)


def test_candidates_explain_inactive_account(client, session, supervisor, order, nurse):
    session.get(User, nurse.user_id).active = False
    session.commit()
    _excluded(client, supervisor, order, nurse, "not_active")


def test_candidates_explain_too_little_experience(client, supervisor, order, make_nurse):
    nurse = make_nurse(years_experience=3)
    entry = _excluded(client, supervisor, order, nurse, "experience")
    assert "3 years" in entry["reason"]
    assert nurse.id not in _listed(client, supervisor, order)


def test_candidates_explain_title_below_the_gate(client, supervisor, order, make_nurse):
    nurse = make_nurse(title="nurse")
    _excluded(client, supervisor, order, nurse, "qualification_title")
    assert nurse.id not in _listed(client, supervisor, order)


def test_candidates_explain_title_below_the_item(client, session, supervisor, make_order,
                                                 make_nurse):
    picc = ServiceItemFactory(code="PICC_T", required_skills=["picc_maintenance"],
                              min_title="supervisor_nurse")
    session.commit()
    order = make_order(item=picc)
    nurse = make_nurse(skills=["picc_maintenance"], title="senior_nurse")
    entry = _excluded(client, supervisor, order, nurse, "item_title")
    assert "supervisor_nurse" in entry["reason"]
    assert nurse.id not in _listed(client, supervisor, order)


def test_candidates_explain_missing_skill(client, supervisor, order, make_nurse):
    nurse = make_nurse(skills=["injection"])
    entry = _excluded(client, supervisor, order, nurse, "skills")
    assert "blood_sampling" in entry["reason"]
    assert nurse.id not in _listed(client, supervisor, order)


def test_candidates_explain_outside_service_radius(client, supervisor, order, make_nurse):
    nurse = make_nurse(home_lat=35.55, service_radius_km=5.0)  # about 15 km north
    entry = _excluded(client, supervisor, order, nurse, "service_radius")
    assert "5 km" in entry["reason"]
    assert nurse.id not in _listed(client, supervisor, order)


def test_candidates_explain_radius_capped_by_the_setting(client, app, supervisor, order,
                                                         make_nurse, monkeypatch):
    from dataclasses import replace

    nurse = make_nurse(home_lat=35.50, service_radius_km=20.0)  # about 10 km north
    monkeypatch.setitem(app.config, "HOMECARE",
                        replace(app.config["HOMECARE"], max_service_radius_km=8.0))
    _excluded(client, supervisor, order, nurse, "service_radius")


def test_candidates_explain_window_closed(client, supervisor, make_order, nurse):
    start = utcnow() - timedelta(hours=3)
    order = make_order(window_start=start, window_end=start + timedelta(hours=2))
    _excluded(client, supervisor, order, nurse, "window_closed")
    assert _listed(client, supervisor, order) == []


def test_candidates_explain_no_shift(client, supervisor, order, make_nurse):
    nurse = make_nurse(shift=False)
    _excluded(client, supervisor, order, nurse, "shift")
    assert nurse.id not in _listed(client, supervisor, order)


def test_candidates_explain_shift_ending_before_the_visit(client, session, supervisor, order,
                                                          make_nurse):
    nurse = make_nurse(shift=False)
    ShiftFactory(nurse_id=nurse.id, start=utcnow() - timedelta(hours=1),
                 end=order.window_start + timedelta(minutes=10))
    session.commit()
    _excluded(client, supervisor, order, nurse, "shift")


def test_candidates_explain_daily_cap(client, supervisor, make_order, make_nurse):
    nurse = make_nurse(max_visits_per_day=1)
    order = make_order()
    make_order("completed", nurse_id=nurse.id, window_start=order.window_start,
               window_end=order.window_end)
    entry = _excluded(client, supervisor, order, nurse, "daily_cap")
    assert entry["visits_that_day"] == 1
    assert nurse.id not in _listed(client, supervisor, order)


def test_candidates_explain_schedule_conflict(client, supervisor, make_order, nurse):
    now = utcnow()
    window = {"window_start": now + timedelta(hours=2),
              "window_end": now + timedelta(hours=2, minutes=15)}
    make_order("assigned", nurse_id=nurse.id, **window)
    order = make_order(**window)
    _excluded(client, supervisor, order, nurse, "schedule_conflict")
    assert nurse.id not in _listed(client, supervisor, order)


def test_candidates_fit_after_an_accepted_visit_start_from_it(client, supervisor, make_order,
                                                              nurse):
    now = utcnow()
    first = make_order("assigned", nurse_id=nurse.id, window_start=now + timedelta(hours=1),
                       window_end=now + timedelta(hours=1, minutes=15))
    order = make_order(window_start=now + timedelta(hours=2),
                       window_end=now + timedelta(hours=3))
    entry = _explain(client, supervisor, order, nurse)
    assert entry["eligible"] and entry["start_from"] == "previous_visit"
    # Late in the evening the two fall on two local days: only the order's day counts.
    assert entry["visits_that_day"] == (1 if first.service_date == order.service_date else 0)


def test_candidates_when_her_shift_ended_with_an_accepted_visit_open_is_200(
        client, supervisor, make_order, make_nurse):
    now = utcnow()
    nurse = make_nurse(shift=False)
    ShiftFactory(nurse_id=nurse.id, start=now - timedelta(hours=4),
                 end=now - timedelta(minutes=10))
    make_order("assigned", nurse_id=nurse.id, window_start=now - timedelta(hours=1),
               window_end=now + timedelta(hours=1))
    order = make_order(window_start=now - timedelta(hours=2),
                       window_end=now + timedelta(hours=2))
    assert nurse.id not in _listed(client, supervisor, order)
    assert _explain(client, supervisor, order, nurse)["excluded_by"] == "shift"


def test_candidates_explain_nurse_of_other_organization_is_404(client, supervisor, order,
                                                               make_nurse, other_org):
    nurse = make_nurse(organization=other_org)
    assert_problem(_candidates(client, supervisor, order, explain=nurse.id), 404,
                   "nurse_not_found")


def test_candidates_explain_unknown_nurse_is_404(client, supervisor, order):
    assert_problem(_candidates(client, supervisor, order, explain=999999), 404,
                   "nurse_not_found")


def test_candidates_explain_not_a_number_is_422(client, supervisor, order):
    body = assert_problem(_candidates(client, supervisor, order, explain="anna"), 422)
    assert "explain" in body["errors"]


def test_candidates_explain_id_beyond_any_row_is_422(client, supervisor, order):
    body = assert_problem(_candidates(client, supervisor, order, explain=2**63), 422)
    assert "explain" in body["errors"]


def test_candidates_of_other_organizations_order_is_404(client, other_org, order):
    outsider = UserFactory(role="supervisor", organization_id=other_org.id)
    assert_problem(_candidates(client, outsider, order), 404, "order_not_found")


def test_candidates_of_unknown_order_is_404(client, supervisor):
    r = client.get(f"{API}/orders/999999/candidates", headers=auth(supervisor))
    assert_problem(r, 404, "order_not_found")


def test_candidates_of_completed_order_is_409(client, supervisor, make_order, nurse):
    order = make_order("completed", nurse_id=nurse.id)
    body = assert_problem(_candidates(client, supervisor, order), 409, "order_not_dispatchable")
    assert body["current_status"] == "completed"


def test_candidates_as_nurse_is_403(client, order, nurse_user):
    assert_problem(_candidates(client, nurse_user, order), 403)


# ---------------------------------------------------------------- assign


def _assign(client, user, order, **body):
    return client.post(f"{API}/orders/{order.id}/assign", json=body, headers=auth(user))


def test_assign_eligible_nurse_is_200(client, session, supervisor, order, nurse):
    r = _assign(client, supervisor, order, nurse_id=nurse.id)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert (body["order_id"], body["status"], body["nurse_id"]) == (order.id, "assigned",
                                                                    nurse.id)
    assert body["planned_arrival"] is not None
    fresh = _fresh(session, Order, order.id)
    assert (fresh.status, fresh.nurse_id) == ("assigned", nurse.id)


def test_assign_ineligible_nurse_is_422_naming_the_rule(client, session, supervisor, order,
                                                        make_nurse):
    nurse = make_nurse(shift=False)
    body = assert_problem(_assign(client, supervisor, order, nurse_id=nurse.id), 422,
                          "nurse_not_eligible")
    assert body["rule"] == "shift" and body["errors"]["nurse_id"]
    assert _fresh(session, Order, order.id).status == "approved"


def test_assign_nurse_of_other_organization_is_404(client, supervisor, order, make_nurse,
                                                   other_org):
    nurse = make_nurse(organization=other_org)
    assert_problem(_assign(client, supervisor, order, nurse_id=nurse.id), 404,
                   "nurse_not_found")


def test_assign_completed_order_is_409(client, supervisor, make_order, nurse):
    order = make_order("completed", nurse_id=nurse.id)
    body = assert_problem(_assign(client, supervisor, order, nurse_id=nurse.id), 409,
                          "invalid_transition")
    assert body["current_status"] == "completed"


def test_assign_same_nurse_again_is_409(client, supervisor, make_order, nurse):
    order = make_order("assigned", nurse_id=nurse.id)
    assert_problem(_assign(client, supervisor, order, nurse_id=nurse.id), 409,
                   "already_assigned")


def test_assign_withdraws_open_offers(client, session, supervisor, make_order, make_nurse,
                                      make_offer):
    order = make_order("offered")
    offered, chosen = make_nurse(), make_nurse(home_lat=35.412)
    offer = make_offer(order, offered)
    r = _assign(client, supervisor, order, nurse_id=chosen.id)
    assert r.get_json()["withdrawn_offers"] == 1
    assert _fresh(session, Offer, offer.id).status == "withdrawn"


def test_assign_without_nurse_id_is_422(client, supervisor, order):
    body = assert_problem(_assign(client, supervisor, order), 422, "validation_failed")
    assert "nurse_id" in body["errors"]


def test_assign_nurse_id_beyond_any_row_is_422(client, supervisor, order):
    body = assert_problem(_assign(client, supervisor, order, nurse_id=2**63), 422)
    assert "nurse_id" in body["errors"]


def test_accept_offer_id_beyond_any_row_is_404(client, nurse_user):
    r = client.post(f"{API}/offers/{2**63}/accept", headers=auth(nurse_user))
    assert_problem(r, 404)


def test_assign_as_patient_is_403(client, patient, order, nurse):
    assert_problem(_assign(client, patient, order, nurse_id=nurse.id), 403)


# ---------------------------------------------------------------- offers


def _offers(client, user):
    return client.get(f"{API}/offers", headers=auth(user))


def test_offers_shows_service_window_pay_and_district_only(client, session, order, nurse,
                                                           nurse_user, make_offer):
    offer = make_offer(order, nurse)
    r = _offers(client, nurse_user)
    assert r.status_code == 200, r.get_json()
    (entry,) = r.get_json()
    assert entry["id"] == offer.id and entry["order_id"] == order.id
    assert entry["district"] == "任城区" and entry["price_fen"] == order.price_fen
    assert entry["service_code"] == order.service_code and entry["distance_km"] == 1.1
    recipient = session.get(CareRecipient, order.patient_id)
    address = session.get(Address, order.address_id)
    text = r.get_data(as_text=True)
    for secret in (recipient.name, recipient.phone, address.text, "hypertension"):
        assert secret not in text
    assert not {"patient_id", "address_id", "recipient", "address", "notes"} & set(entry)


def test_offers_leave_out_expired_answered_and_others(client, order, make_order, nurse,
                                                      nurse_user, make_nurse, make_offer):
    make_offer(order, nurse, expires_in=timedelta(seconds=-1))
    make_offer(make_order(), nurse, status="declined")
    make_offer(make_order(), make_nurse())
    assert _offers(client, nurse_user).get_json() == []


def test_offers_as_supervisor_is_403(client, supervisor):
    assert_problem(_offers(client, supervisor), 403)


def _accept(client, user, offer):
    return client.post(f"{API}/offers/{offer.id}/accept", headers=auth(user))


@pytest.fixture
def offered(make_order):
    return make_order("offered")


def test_accept_offer_is_200_and_the_visit_is_hers(client, session, offered, nurse, nurse_user,
                                                   make_offer):
    offer = make_offer(offered, nurse)
    r = _accept(client, nurse_user, offer)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert (body["status"], body["nurse_id"]) == ("assigned", nurse.id)
    assert _fresh(session, Offer, offer.id).status == "accepted"
    # Now hers, the order shows her the recipient and the address.
    view = client.get(f"{API}/orders/{offered.id}", headers=auth(nurse_user))
    assert view.status_code == 200, view.get_json()
    assert view.get_json()["recipient"]["name"] and view.get_json()["address"]["text"]


def test_accept_offer_after_deadline_is_409_offer_expired(client, offered, nurse, nurse_user,
                                                          make_offer):
    offer = make_offer(offered, nurse, expires_in=timedelta(seconds=-1))
    assert_problem(_accept(client, nurse_user, offer), 409, "offer_expired")


def test_accept_offer_another_nurse_took_is_409_offer_taken(client, offered, nurse,
                                                            nurse_user, make_nurse,
                                                            make_offer, session):
    mine = make_offer(offered, nurse)
    other = make_nurse(home_lat=35.412)
    theirs = make_offer(offered, other)
    assert _accept(client, session.get(User, other.user_id), theirs).status_code == 200
    assert_problem(_accept(client, nurse_user, mine), 409, "offer_taken")


def test_accept_overlapping_visit_is_409_slot_taken(client, make_order, nurse, nurse_user,
                                                    make_offer):
    now = utcnow()
    window = {"window_start": now + timedelta(hours=2),
              "window_end": now + timedelta(hours=2, minutes=15)}
    first = make_offer(make_order("offered", **window), nurse)
    second = make_offer(make_order("offered", **window), nurse)
    assert _accept(client, nurse_user, first).status_code == 200
    body = assert_problem(_accept(client, nurse_user, second), 409, "slot_taken")
    assert body["rule"] == "schedule_conflict"


def test_accept_offer_of_another_nurse_is_404(client, offered, make_nurse, nurse_user,
                                              make_offer):
    offer = make_offer(offered, make_nurse(home_lat=35.412))
    assert_problem(_accept(client, nurse_user, offer), 404, "offer_not_found")


def test_accept_offer_twice_is_409_offer_not_open(client, offered, nurse, nurse_user,
                                                  make_offer):
    offer = make_offer(offered, nurse)
    assert _accept(client, nurse_user, offer).status_code == 200
    body = assert_problem(_accept(client, nurse_user, offer), 409, "offer_not_open")
    assert body["offer_status"] == "accepted"


def test_accept_offer_no_longer_eligible_is_409(client, session, offered, nurse, nurse_user,
                                                make_offer):
    offer = make_offer(offered, nurse)
    nurse.skills = ["injection"]
    session.commit()
    body = assert_problem(_accept(client, nurse_user, offer), 409, "nurse_no_longer_eligible")
    assert body["rule"] == "skills"


def _decline(client, user, offer, **body):
    return client.post(f"{API}/offers/{offer.id}/decline", json=body, headers=auth(user))


def test_decline_offer_is_200_with_the_reason(client, session, offered, nurse, nurse_user,
                                              make_offer):
    offer = make_offer(offered, nurse)
    r = _decline(client, nurse_user, offer, reason="孩子生病")
    assert r.status_code == 200, r.get_json()
    assert (r.get_json()["status"], r.get_json()["decline_reason"]) == ("declined", "孩子生病")
    assert _fresh(session, Offer, offer.id).status == "declined"


def test_decline_without_reason_is_422(client, offered, nurse, nurse_user, make_offer):
    offer = make_offer(offered, nurse)
    body = assert_problem(_decline(client, nurse_user, offer), 422, "validation_failed")
    assert "reason" in body["errors"]


def test_decline_with_blank_reason_is_422(client, offered, nurse, nurse_user, make_offer):
    offer = make_offer(offered, nurse)
    assert_problem(_decline(client, nurse_user, offer, reason="   "), 422, "validation_failed")


def test_decline_after_deadline_is_409_offer_expired(client, offered, nurse, nurse_user,
                                                     make_offer):
    offer = make_offer(offered, nurse, expires_in=timedelta(seconds=-1))
    assert_problem(_decline(client, nurse_user, offer, reason="太远"), 409, "offer_expired")


def test_decline_of_another_nurses_offer_is_404(client, offered, make_nurse, nurse_user,
                                                make_offer):
    offer = make_offer(offered, make_nurse(home_lat=35.412))
    assert_problem(_decline(client, nurse_user, offer, reason="x"), 404, "offer_not_found")


def test_offers_stay_unchanged_after_a_refused_accept(client, session, offered, nurse,
                                                      nurse_user, make_offer):
    offer = make_offer(offered, nurse, expires_in=timedelta(seconds=-1))
    _accept(client, nurse_user, offer)
    assert _fresh(session, Offer, offer.id).status == "open"
    assert _fresh(session, Order, offered.id).status == "offered"
    assert session.scalar(sa.select(sa.func.count()).select_from(Offer)) == 1


# ---------------------------------------------------------------- end to end


def test_approving_an_order_offers_it_to_the_nurse(client, session, supervisor, make_order,
                                                   nurse, nurse_user):
    order = make_order("submitted")
    r = client.post(f"{API}/orders/{order.id}/approve", json={}, headers=auth(supervisor))
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["status"] == "offered"
    (offer,) = _offers(client, nurse_user).get_json()
    assert offer["order_id"] == order.id
    accepted = _accept(client, nurse_user, _fresh(session, Offer, offer["id"]))
    assert accepted.get_json()["status"] == "assigned"

"""Route tests: a nurse's licence and insurance must cover the visit's date (rule
``credentials``) for candidates, assignment and accepting an offer."""

from __future__ import annotations

from datetime import timedelta

from conftest import assert_problem
from homecare.accounts.models import User
from homecare.orders.models import Order
from tests.factories import auth
from tests.helpers import API


def _explain(client, supervisor, order, nurse) -> dict:
    r = client.get(f"{API}/orders/{order.id}/candidates", query_string={"explain": nurse.id},
                   headers=auth(supervisor))
    assert r.status_code == 200, r.get_json()
    (entry,) = r.get_json()
    return entry


def _listed(client, supervisor, order) -> list[int]:
    r = client.get(f"{API}/orders/{order.id}/candidates", headers=auth(supervisor))
    assert r.status_code == 200, r.get_json()
    return [c["nurse_id"] for c in r.get_json()]


def test_expired_insurance_is_excluded_and_explained(client, supervisor, order, make_nurse):
    lapsed = make_nurse(insurance_no="PICC-1", insurance_valid_until=order.service_date
                        - timedelta(days=1))
    covered = make_nurse(insurance_valid_until=order.service_date)
    entry = _explain(client, supervisor, order, lapsed)
    assert (entry["eligible"], entry["excluded_by"]) == (False, "credentials")
    assert "liability insurance PICC-1" in entry["reason"]
    assert _listed(client, supervisor, order) == [covered.id]


def test_expired_licence_is_excluded_and_explained(client, supervisor, order, make_nurse):
    nurse = make_nurse(license_valid_until=order.service_date - timedelta(days=30))
    entry = _explain(client, supervisor, order, nurse)
    assert entry["excluded_by"] == "credentials" and "practising licence" in entry["reason"]


def test_missing_insurance_is_excluded(client, supervisor, order, make_nurse):
    nurse = make_nurse(insurance_no=None, insurance_valid_until=None)
    entry = _explain(client, supervisor, order, nurse)
    assert entry["excluded_by"] == "credentials"
    assert entry["reason"] == "no liability insurance is recorded for her"


def test_assign_nurse_with_expired_insurance_is_422_naming_the_rule(client, session,
                                                                      supervisor, order,
                                                                      make_nurse):
    nurse = make_nurse(insurance_valid_until=order.service_date - timedelta(days=1))
    r = client.post(f"{API}/orders/{order.id}/assign", json={"nurse_id": nurse.id},
                    headers=auth(supervisor))
    body = assert_problem(r, 422, "nurse_not_eligible")
    assert body["rule"] == "credentials"
    session.expire_all()
    assert session.get(Order, order.id).status == "approved"


def test_accept_with_expired_insurance_is_409_naming_the_rule(client, session, make_order,
                                                                make_nurse, make_offer):
    order = make_order("offered")
    nurse = make_nurse(insurance_valid_until=order.service_date - timedelta(days=1))
    offer = make_offer(order, nurse)
    r = client.post(f"{API}/offers/{offer.id}/accept",
                    headers=auth(session.get(User, nurse.user_id)))
    body = assert_problem(r, 409, "nurse_no_longer_eligible")
    assert body["rule"] == "credentials"
    session.expire_all()
    assert session.get(Order, order.id).status == "offered"


def test_renewed_insurance_makes_her_eligible_again(client, supervisor, order, make_nurse):
    nurse = make_nurse(insurance_valid_until=order.service_date - timedelta(days=1))
    renewal = (order.service_date + timedelta(days=365)).isoformat()
    r = client.patch(f"{API}/nurses/{nurse.id}", headers=auth(supervisor),
                     json={"insurance_no": "PICC-2", "insurer": "中国人民财产保险",
                           "insurance_valid_until": renewal})
    assert r.status_code == 200, r.get_json()
    assert (r.get_json()["insurance_no"], r.get_json()["insurance_valid_until"]) == (
        "PICC-2", renewal)
    assert _explain(client, supervisor, order, nurse)["eligible"] is True

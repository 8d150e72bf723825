"""Route tests for visit time corrections: request, approve, reject, and who may."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from conftest import assert_problem
from homecare.accounts.models import User
from homecare.audit.models import AuditEntry
from homecare.orders.models import Order
from tests.factories import CareRecordFactory, UserFactory, auth
from tests.helpers import API

NOW = datetime(2030, 5, 7, 8, 0, tzinfo=UTC)
WINDOW = NOW - timedelta(hours=4)
IN_AT = WINDOW + timedelta(minutes=40)     # she tapped check-in late
OUT_AT = WINDOW + timedelta(minutes=100)
REAL_IN = WINDOW + timedelta(minutes=5)    # when she really arrived


@pytest.fixture(autouse=True)
def clock(pin_clock):
    pin_clock(NOW)


@pytest.fixture
def done(session, visit, nurse):
    """A completed visit with its care record, checked in 35 minutes late."""
    order = visit("completed", window_start=WINDOW, window_end=WINDOW + timedelta(hours=2),
                  departed_at=WINDOW - timedelta(minutes=20), checked_in_at=IN_AT,
                  checked_out_at=OUT_AT)
    CareRecordFactory(order_id=order.id, nurse_id=nurse.id)
    session.commit()
    return order


def _request(client, user, order, **body):
    body.setdefault("reason", "手机没电，到达时未能签到")
    return client.post(f"{API}/orders/{order.id}/corrections", json=body, headers=auth(user))


def _decide(client, user, order, cid, verb, **body):
    return client.post(f"{API}/orders/{order.id}/corrections/{cid}/{verb}", json=body,
                       headers=auth(user))


def _requested(client, nurse_user, order) -> dict:
    r = _request(client, nurse_user, order, checked_in_at=REAL_IN.isoformat())
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def test_nurse_requests_a_correction_keeping_the_originals(client, done, nurse_user):
    body = _requested(client, nurse_user, done)
    assert body["status"] == "pending"
    assert body["checked_in_at"] == REAL_IN.isoformat()
    assert body["original_checked_in_at"] == IN_AT.isoformat()
    assert body["original_checked_out_at"] == OUT_AT.isoformat()


def test_approval_corrects_the_times_reports_use(client, session, done, nurse_user,
                                                 supervisor):
    cid = _requested(client, nurse_user, done)["id"]
    r = _decide(client, supervisor, done, cid, "approve", note="与家属核实")
    assert r.status_code == 200, r.get_json()
    assert (r.get_json()["status"], r.get_json()["decided_by"]) == ("approved", supervisor.id)
    session.expire_all()
    assert session.get(Order, done.id).checked_in_at == REAL_IN
    record = client.get(f"{API}/orders/{done.id}/care-record",
                        headers=auth(supervisor)).get_json()
    assert record["started_at"] == REAL_IN.isoformat()
    assert record["minutes_on_site"] == 95
    assert (record["times_corrected"], record["original_started_at"]) == (True,
                                                                           IN_AT.isoformat())
    actions = session.scalars(sa.select(AuditEntry.action).where(
        AuditEntry.object_type == "order", AuditEntry.object_id == done.id,
        AuditEntry.action.like("time_correction.%")).order_by(AuditEntry.id)).all()
    assert actions == ["time_correction.requested", "time_correction.approved"]


def test_rejection_keeps_the_recorded_times(client, session, done, nurse_user, supervisor):
    cid = _requested(client, nurse_user, done)["id"]
    r = _decide(client, supervisor, done, cid, "reject", note="定位显示未到达")
    assert r.status_code == 200, r.get_json()
    assert (r.get_json()["status"], r.get_json()["decision_note"]) == ("rejected",
                                                                        "定位显示未到达")
    session.expire_all()
    assert session.get(Order, done.id).checked_in_at == IN_AT
    listed = client.get(f"{API}/orders/{done.id}/corrections",
                        headers=auth(nurse_user)).get_json()
    assert [c["status"] for c in listed] == ["rejected"]


def test_rejection_without_a_note_is_422(client, done, nurse_user, supervisor):
    cid = _requested(client, nurse_user, done)["id"]
    assert_problem(_decide(client, supervisor, done, cid, "reject"), 422,
                   "correction_invalid")


def test_a_second_request_while_one_is_pending_is_409(client, done, nurse_user):
    _requested(client, nurse_user, done)
    assert_problem(_request(client, nurse_user, done, checked_out_at=OUT_AT.isoformat()),
                   409, "correction_pending")


def test_deciding_twice_is_409(client, done, nurse_user, supervisor):
    cid = _requested(client, nurse_user, done)["id"]
    assert _decide(client, supervisor, done, cid, "approve").status_code == 200
    assert_problem(_decide(client, supervisor, done, cid, "reject", note="x"), 409,
                   "correction_not_pending")


def test_times_in_the_future_or_out_of_order_are_422(client, done, nurse_user):
    assert_problem(_request(client, nurse_user, done,
                            checked_out_at=(NOW + timedelta(minutes=5)).isoformat()),
                   422, "correction_invalid")
    assert_problem(_request(client, nurse_user, done,
                            checked_in_at=(OUT_AT + timedelta(minutes=1)).isoformat()),
                   422, "correction_invalid")


def test_request_without_any_time_is_422(client, done, nurse_user):
    body = assert_problem(_request(client, nurse_user, done), 422, "validation_failed")
    assert "checked_in_at" in body["errors"]


def test_request_before_the_visit_started_is_409(client, session, visit, nurse_user):
    order = visit("assigned", window_start=NOW + timedelta(hours=1),
                  window_end=NOW + timedelta(hours=3))
    session.commit()
    assert_problem(_request(client, nurse_user, order, checked_in_at=NOW.isoformat()), 409,
                   "visit_not_started")


# ---------------------------------------------------------------- who may


def test_only_the_visits_nurse_may_request(client, session, done, other_nurse_user,
                                           supervisor):
    session.commit()  # a refused request rolls back what was only flushed
    assert_problem(_request(client, other_nurse_user, done, checked_in_at=REAL_IN.isoformat()),
                   404, "order_not_found")
    assert_problem(_request(client, supervisor, done, checked_in_at=REAL_IN.isoformat()), 403)
    owner = session.get(User, done.booked_by)
    assert_problem(_request(client, owner, done, checked_in_at=REAL_IN.isoformat()), 403)


def test_only_a_supervisor_of_the_organization_may_decide(client, session, done, nurse_user,
                                                          other_org):
    cid = _requested(client, nurse_user, done)["id"]
    assert_problem(_decide(client, nurse_user, done, cid, "approve"), 403)
    outsider = UserFactory(role="supervisor", organization_id=other_org.id)
    session.commit()
    assert_problem(_decide(client, outsider, done, cid, "approve"), 404, "order_not_found")


def test_a_correction_of_another_visit_is_404(client, session, done, visit, nurse_user,
                                              supervisor):
    cid = _requested(client, nurse_user, done)["id"]
    other = visit("completed", window_start=WINDOW, window_end=WINDOW + timedelta(hours=2),
                  checked_in_at=IN_AT, checked_out_at=OUT_AT)
    session.commit()
    assert_problem(_decide(client, supervisor, other, cid, "approve"), 404,
                   "correction_not_found")

"""Route tests for the door check: the family's visit code, confirming the nurse in the
app, a wrong code refused and rate-limited, an unconfirmed check-in flagged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from conftest import assert_problem
from homecare.accounts.models import User
from homecare.alerts.models import Alert
from homecare.notifications.models import Notification
from homecare.orders.models import Order
from homecare.visits.models import DoorCheck
from tests.factories import UserFactory, auth
from tests.helpers import API
from tests.visits.conftest import address_of

NOW = datetime(2030, 5, 7, 2, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clock(pin_clock):
    pin_clock(NOW)


@pytest.fixture
def departed(client, session, visit, nurse_user):
    """A visit the nurse has just set off to (so its code is issued), and its family."""
    order = visit("assigned", window_start=NOW + timedelta(hours=1),
                  window_end=NOW + timedelta(hours=3))
    session.commit()
    r = client.post(f"{API}/orders/{order.id}/depart", headers=auth(nurse_user))
    assert r.status_code == 200, r.get_json()
    return order, session.get(User, order.booked_by)


def _code(session, order) -> str:
    return session.get(DoorCheck, order.id, populate_existing=True).code


def _check_in(client, session, order, nurse_user, **extra):
    door = address_of(session, order)
    return client.post(f"{API}/orders/{order.id}/check-in", headers=auth(nurse_user),
                       json={"lat": door.lat, "lng": door.lng, **extra})


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def _door_alerts(session, order):
    return session.scalars(sa.select(Alert).where(Alert.order_id == order.id,
                                                  Alert.kind == "door_unverified")).all()


def test_departure_sends_the_family_a_visit_code(client, session, departed, nurse,
                                                 supervisor, nurse_user):
    order, owner = departed
    code = _code(session, order)
    assert len(code) == 6 and code.isdigit()
    (note,) = session.scalars(sa.select(Notification).where(
        Notification.user_id == owner.id, Notification.kind == "visit_code")).all()
    assert note.payload["visit_code"] == code
    assert note.payload["nurse"]["license_no"] == nurse.license_no
    seen = client.get(f"{API}/orders/{order.id}", headers=auth(owner)).get_json()
    assert seen["visit_code"] == code
    for other in (supervisor, nurse_user):
        body = client.get(f"{API}/orders/{order.id}", headers=auth(other)).get_json()
        assert body["visit_code"] is None and body["nurse"] is None


def test_family_sees_whom_to_expect_once_assigned(client, session, visit, nurse):
    nurse.photo_url = "https://photos.example.cn/n1.jpg"
    order = visit("assigned")
    session.commit()
    owner = session.get(User, order.booked_by)
    body = client.get(f"{API}/orders/{order.id}", headers=auth(owner)).get_json()
    name = session.get(User, nurse.user_id).name
    assert body["nurse"] == {"id": nurse.id, "name": name, "title": nurse.title,
                             "license_no": nurse.license_no,
                             "photo_url": "https://photos.example.cn/n1.jpg"}
    assert body["visit_code"] is None  # not before she sets off


def test_check_in_with_the_right_code_is_verified(client, session, departed, nurse_user):
    order, _owner = departed
    r = _check_in(client, session, order, nurse_user, visit_code=_code(session, order))
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert (body["door_verified"], body["door_verified_by"], body["door_alert_id"]) == (
        True, "code", None)
    assert _door_alerts(session, order) == []


def test_check_in_with_a_wrong_code_is_422_and_counted(client, session, departed,
                                                       nurse_user):
    order, _owner = departed
    r = _check_in(client, session, order, nurse_user, visit_code=_wrong(_code(session, order)))
    body = assert_problem(r, 422, "visit_code_wrong")
    assert body["attempts_left"] == 4
    assert session.get(Order, order.id, populate_existing=True).status == "en_route"
    assert session.get(DoorCheck, order.id, populate_existing=True).failed_attempts == 1


def test_wrong_codes_lock_the_code_after_the_limit(client, session, departed, nurse_user):
    order, _owner = departed
    code = _code(session, order)
    for left in (4, 3, 2, 1, 0):
        body = assert_problem(_check_in(client, session, order, nurse_user,
                                        visit_code=_wrong(code)), 422, "visit_code_wrong")
        assert body["attempts_left"] == left
    # Locked: even the right code is refused now.
    assert_problem(_check_in(client, session, order, nurse_user, visit_code=code), 429,
                   "visit_code_locked")
    # She can still check in without it: flagged.
    r = _check_in(client, session, order, nurse_user)
    assert r.status_code == 200 and r.get_json()["door_verified"] is False


def test_check_in_without_a_confirmed_code_is_flagged_and_alerts(client, session, departed,
                                                                 nurse_user, supervisor):
    order, owner = departed
    r = _check_in(client, session, order, nurse_user)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert (body["status"], body["door_verified"]) == ("in_service", False)
    (alert,) = _door_alerts(session, order)
    assert (body["door_alert_id"], alert.severity, alert.status) == (alert.id, "high", "open")
    assert session.get(DoorCheck, order.id, populate_existing=True).unverified_check_in
    listed = client.get(f"{API}/alerts", query_string={"kind": "door_unverified"},
                        headers=auth(supervisor)).get_json()
    assert [a["id"] for a in listed] == [alert.id]
    # The family confirming afterwards resolves the alert; the flag stays.
    r = client.post(f"{API}/orders/{order.id}/confirm-nurse", headers=auth(owner))
    assert r.status_code == 200, r.get_json()
    assert (r.get_json()["door_verified_by"], r.get_json()["unverified_check_in"]) == (
        "family", True)
    session.expire_all()
    assert session.get(Alert, alert.id).status == "resolved"


def test_family_confirms_in_the_app_before_check_in(client, session, departed, nurse_user):
    order, owner = departed
    r = client.post(f"{API}/orders/{order.id}/confirm-nurse", headers=auth(owner))
    assert r.status_code == 200, r.get_json()
    assert (r.get_json()["door_verified"], r.get_json()["door_verified_by"]) == (True,
                                                                                  "family")
    body = _check_in(client, session, order, nurse_user).get_json()
    assert (body["door_verified"], body["door_verified_by"]) == (True, "family")
    assert _door_alerts(session, order) == []


def test_confirm_nurse_before_she_sets_off_is_409(client, session, visit):
    order = visit("assigned")
    session.commit()
    owner = session.get(User, order.booked_by)
    body = assert_problem(client.post(f"{API}/orders/{order.id}/confirm-nurse",
                                      headers=auth(owner)), 409, "nurse_not_at_door")
    assert body["current_status"] == "assigned"


def test_confirm_nurse_for_another_family_is_404(client, session, departed):
    order, _owner = departed
    stranger = UserFactory(role="patient")
    session.commit()
    assert_problem(client.post(f"{API}/orders/{order.id}/confirm-nurse",
                               headers=auth(stranger)), 404, "order_not_found")


def test_confirm_nurse_by_the_nurse_is_403(client, departed, nurse_user):
    order, _owner = departed
    assert_problem(client.post(f"{API}/orders/{order.id}/confirm-nurse",
                               headers=auth(nurse_user)), 403)


def test_visit_code_of_wrong_shape_is_422(client, session, departed, nurse_user):
    order, _owner = departed
    body = assert_problem(_check_in(client, session, order, nurse_user, visit_code="12ab"),
                          422, "validation_failed")
    assert "visit_code" in body["errors"]


def test_visit_record_shows_the_unconfirmed_check_in(client, session, departed, nurse_user,
                                                     supervisor):
    order, _owner = departed
    door = address_of(session, order)
    assert _check_in(client, session, order, nurse_user).status_code == 200
    r = client.post(f"{API}/orders/{order.id}/check-out", headers=auth(nurse_user),
                    json={"lat": door.lat, "lng": door.lng, "procedures": ["venipuncture"]})
    assert r.status_code == 200, r.get_json()
    record = client.get(f"{API}/orders/{order.id}/care-record",
                        headers=auth(supervisor)).get_json()
    assert (record["door_verified"], record["unverified_check_in"]) == (False, True)


def test_check_in_with_a_code_before_departing_ignores_the_code(client, session, visit,
                                                                nurse_user):
    # She never tapped "depart": the code is issued by this very check-in, so the
    # family cannot have read it out; whatever she typed is ignored, flagged unverified.
    order = visit("assigned", window_start=NOW + timedelta(hours=1),
                  window_end=NOW + timedelta(hours=3))
    session.commit()
    r = _check_in(client, session, order, nurse_user, visit_code="123456")
    assert r.status_code == 200, r.get_data(as_text=True)
    body = r.get_json()
    assert (body["status"], body["door_verified"]) == ("in_service", False)
    assert len(_door_alerts(session, order)) == 1
    check = session.get(DoorCheck, order.id, populate_existing=True)
    assert (check.failed_attempts, check.unverified_check_in) == (0, True)


def test_checking_a_code_locks_the_door_check_row(app, client, session, departed, nurse_user):
    # Two check-ins at once must not both read the count below the cap: the door
    # check is read FOR UPDATE (PostgreSQL; SQLite serialises writers anyway).
    engine = app.extensions["homecare.db"]["engine"]
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite has no row locks")
    order, _owner = departed
    wrong = _wrong(_code(session, order))
    statements = []

    def seen(_conn, _cursor, statement, *_args):
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        r = _check_in(client, session, order, nurse_user, visit_code=wrong)
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
    assert_problem(r, 422, "visit_code_wrong")
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")
             and "door_checks" in s]
    assert reads and all("FOR UPDATE" in s for s in reads), reads


def test_a_wrong_code_after_another_check_in_used_the_last_guess_is_locked(
        client, session, departed, nurse_user, monkeypatch):
    # The gap between undoing the refused check-in and counting its guess: another
    # check-in of the same visit counts the last allowed guess there. The count is
    # re-checked as it is written, so this one is locked, never a guess past the cap.
    from homecare.visits import door

    order, _owner = departed
    code = _code(session, order)
    real_undo = door.undo_call

    def undo_then_another_guess(s):
        real_undo(s)
        s.execute(sa.update(DoorCheck).where(DoorCheck.order_id == order.id)
                  .values(failed_attempts=5))

    monkeypatch.setattr(door, "undo_call", undo_then_another_guess)
    assert_problem(_check_in(client, session, order, nurse_user, visit_code=_wrong(code)),
                   429, "visit_code_locked")
    assert session.get(DoorCheck, order.id, populate_existing=True).failed_attempts == 5

"""POST /nurses/{id}/unavailability: she falls ill; her shifts are cut, her unstarted
visits go back to dispatch, those under way are left to the supervisor with an alert."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from conftest import assert_problem
from homecare.alerts.models import Alert
from homecare.audit.models import AuditEntry
from homecare.dispatch.models import Offer
from homecare.nurses.models import Shift
from homecare.orders.models import Order
from tests.factories import NurseFactory, ShiftFactory, UserFactory, auth
from tests.helpers import API, local_time
from tests.liveday.conftest import DAY, kinds_for, owner_of


def _off(client, nurse, user, start, until, reason="fever"):
    return client.post(f"{API}/nurses/{nurse.id}/unavailability", headers=auth(user),
                       json={"from": start.isoformat(), "until": until.isoformat(),
                             "reason": reason})


def _shifts(session, nurse):
    session.expire_all()
    return [(s.start, s.end) for s in session.scalars(
        sa.select(Shift).where(Shift.nurse_id == nurse.id).order_by(Shift.start))]


def test_supervisor_takes_her_off_for_the_day(client, session, committed_visit, supervisor,
                                              nurse, org, now):
    colleague = NurseFactory(organization_id=org.id)
    ShiftFactory(nurse_id=colleague.id)
    today = ShiftFactory(nurse_id=nurse.id, start=local_time(DAY, 8), end=local_time(DAY, 17))
    tomorrow = local_time(DAY + timedelta(days=1), 8)
    ShiftFactory(nurse_id=nurse.id, start=tomorrow, end=tomorrow + timedelta(hours=4))
    unstarted = committed_visit("assigned")
    under_way = committed_visit("en_route", departed_at=now)
    later = committed_visit("assigned", window_start=tomorrow + timedelta(hours=1),
                            window_end=tomorrow + timedelta(hours=3))
    r = _off(client, nurse, supervisor, now, local_time(DAY, 20))
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["shifts_trimmed"] == 1 and body["shifts_removed"] == 0
    assert [v["order_id"] for v in body["returned_to_dispatch"]] == [unstarted.id]
    assert body["returned_to_dispatch"][0]["status"] == "offered"
    assert [v["order_id"] for v in body["under_way"]] == [under_way.id]

    assert _shifts(session, nurse) == [(today.start, now),
                                       (tomorrow, tomorrow + timedelta(hours=4))]
    assert session.get(Order, unstarted.id).nurse_id is None
    offered = session.scalars(sa.select(Offer.nurse_id).where(Offer.order_id == unstarted.id))
    assert set(offered) == {colleague.id}
    assert kinds_for(session, owner_of(session, unstarted), unstarted.id) == ["nurse_unassigned"]
    # Under way: not moved, the supervisor decides.
    assert session.get(Order, under_way.id).status == "en_route"
    alert = session.get(Alert, body["under_way"][0]["alert_id"])
    assert alert.kind == "nurse_unavailable" and alert.order_id == under_way.id
    assert kinds_for(session, owner_of(session, under_way), under_way.id) == []
    # Outside the span: untouched.
    assert session.get(Order, later.id).status == "assigned"
    assert session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "nurse.unavailable", AuditEntry.object_id == nurse.id)) == 1


def test_the_nurse_herself_an_hour_inside_a_shift_splits_it(client, session, nurse,
                                                             nurse_user, now):
    ShiftFactory(nurse_id=nurse.id, start=local_time(DAY, 8), end=local_time(DAY, 17))
    r = _off(client, nurse, nurse_user, local_time(DAY, 12), local_time(DAY, 13),
             reason="family emergency")
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["shifts_trimmed"] == 1
    assert _shifts(session, nurse) == [(local_time(DAY, 8), local_time(DAY, 12)),
                                       (local_time(DAY, 13), local_time(DAY, 17))]


def test_a_shift_inside_the_span_is_removed(client, session, nurse, supervisor, now):
    ShiftFactory(nurse_id=nurse.id, start=local_time(DAY, 10), end=local_time(DAY, 12))
    r = _off(client, nurse, supervisor, local_time(DAY, 9), local_time(DAY, 18))
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["shifts_removed"] == 1 and _shifts(session, nurse) == []


def test_a_span_that_ends_before_it_starts_is_422(client, session, nurse, supervisor, now):
    ShiftFactory(nurse_id=nurse.id)
    session.commit()
    assert_problem(_off(client, nurse, supervisor, local_time(DAY, 12), local_time(DAY, 11)),
                   422)
    assert len(_shifts(session, nurse)) == 1


def test_others_may_not(client, session, nurse, other_nurse_user, other_org, now):
    span = (local_time(DAY, 12), local_time(DAY, 13))
    stranger = UserFactory(role="supervisor", organization_id=other_org.id)
    family = UserFactory(role="patient")
    session.commit()  # a refused request rolls the session back
    assert_problem(_off(client, nurse, stranger, *span), 404)
    assert_problem(_off(client, nurse, other_nurse_user, *span), 404)
    assert_problem(_off(client, nurse, family, *span), 403)

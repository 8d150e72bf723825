"""Service tests for depart, check-in (geofence), check-out with the care record,
reading the record, and the one-key alarm."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta

import pytest
import sqlalchemy as sa

from homecare.accounts.models import User
from homecare.alerts.models import Alert
from homecare.alerts.service import late_cause, no_show_cause, overtime_cause, raise_alert
from homecare.audit.models import AuditEntry
from homecare.clock import utcnow
from homecare.db import db, make_engine
from homecare.geo import geodesic_km, wgs84_to_gcj02
from homecare.notifications.models import Notification
from homecare.orders.errors import OrderNotFound
from homecare.orders.models import Order, OrderEvent
from homecare.orders.states import InvalidTransition, transition
from homecare.visits import service
from homecare.visits.models import CareRecord
from tests.factories import (
    CareRecordFactory,
    NurseFactory,
    OfferFactory,
    OrganizationFactory,
    UserFactory,
    booked_order,
)
from tests.visits.conftest import actor_of, address_of, north_of


def _events(session, order) -> list[str]:
    return list(session.scalars(sa.select(OrderEvent.to_status)
                                .where(OrderEvent.order_id == order.id)
                                .order_by(OrderEvent.id)))


def _alerts(session, order, kind: str) -> list[Alert]:
    return list(session.scalars(sa.select(Alert).where(Alert.order_id == order.id,
                                                       Alert.kind == kind)))


# ---------------------------------------------------------------- depart


def test_depart_moves_assigned_to_en_route_and_keeps_the_time(session, visit, nurse_user,
                                                               config):
    order = visit("assigned")
    now = utcnow()
    result = service.depart(session=session, actor=actor_of(nurse_user), order_id=order.id,
                            now=now, config=config)
    assert result["status"] == "en_route"
    assert session.get(Order, order.id).departed_at == now


def test_depart_by_another_nurse_is_order_not_found(session, visit, other_nurse_user, config):
    order = visit("assigned")
    with pytest.raises(OrderNotFound):
        service.depart(session=session, actor=actor_of(other_nurse_user), order_id=order.id,
                       now=utcnow(), config=config)


def test_depart_twice_is_invalid_transition(session, visit, nurse_user, config):
    order = visit("en_route", departed_at=utcnow())
    with pytest.raises(InvalidTransition):
        service.depart(session=session, actor=actor_of(nurse_user), order_id=order.id,
                       now=utcnow(), config=config)


def test_depart_too_long_before_the_window_is_too_early(session, visit, nurse_user, config):
    order = visit("assigned")
    session.commit()  # a refused call rolls its session back
    earliest = order.window_start - timedelta(minutes=config.depart_lead_minutes)
    with pytest.raises(service.TooEarlyToDepart):
        service.depart(session=session, actor=actor_of(nurse_user), order_id=order.id,
                       now=earliest - timedelta(seconds=1), config=config)
    assert session.get(Order, order.id).status == "assigned"
    result = service.depart(session=session, actor=actor_of(nurse_user), order_id=order.id,
                            now=earliest, config=config)
    assert result["status"] == "en_route"


# ---------------------------------------------------------------- check-in


def _check_in(session, order, nurse_user, config, point, system="wgs84", now=None):
    from homecare.geo import to_wgs84

    wgs = to_wgs84(point.lat, point.lng, system)
    return service.check_in(session=session, actor=actor_of(nurse_user), order_id=order.id,
                            lat=wgs.lat, lng=wgs.lng, now=now or utcnow(), config=config)


def test_check_in_with_gcj02_at_the_door_is_inside_the_geofence(session, visit, nurse_user,
                                                                 config):
    order = visit("en_route", departed_at=utcnow())
    door = address_of(session, order)
    result = _check_in(session, order, nurse_user, config, wgs84_to_gcj02(*door), "gcj02")
    assert result["within_geofence"] is True
    assert result["distance_m"] < 1
    assert result["alert_id"] is None
    assert session.get(Order, order.id).status == "in_service"
    assert _alerts(session, order, "geofence") == []


def test_check_in_with_gcj02_sent_as_wgs84_is_flagged_outside(session, visit, nurse_user,
                                                              config):
    # The classic mistake: an AMap position read as WGS-84 is ~500 m off.
    order = visit("en_route", departed_at=utcnow())
    gcj = wgs84_to_gcj02(*address_of(session, order))
    result = _check_in(session, order, nurse_user, config, gcj, "wgs84")
    assert result["within_geofence"] is False
    assert result["distance_m"] > config.geofence_m


def test_check_in_outside_the_geofence_is_accepted_with_one_alert(session, visit, nurse_user,
                                                                  config):
    order = visit("en_route", departed_at=utcnow())
    away = north_of(address_of(session, order), 400)
    result = _check_in(session, order, nurse_user, config, wgs84_to_gcj02(*away), "gcj02")
    stored = session.get(Order, order.id)
    assert stored.status == "in_service"
    assert stored.check_in_distance_m == pytest.approx(400, abs=5)
    [alert] = _alerts(session, order, "geofence")
    assert result["alert_id"] == alert.id
    assert alert.status == "open" and alert.nurse_id == stored.nurse_id
    assert geodesic_km(away, type(away)(alert.lat, alert.lng)) * 1000 < 1


def test_check_in_geofence_radius_is_configurable(session, visit, nurse_user, config):
    order = visit("en_route", departed_at=utcnow())
    away = north_of(address_of(session, order), 400)
    result = _check_in(session, order, nurse_user, replace(config, geofence_m=500), away)
    assert result["within_geofence"] is True
    assert _alerts(session, order, "geofence") == []


def test_check_in_of_an_assigned_order_departs_first(session, visit, nurse_user, config):
    order = visit("assigned")
    _check_in(session, order, nurse_user, config, address_of(session, order))
    assert _events(session, order)[-2:] == ["en_route", "in_service"]
    assert session.get(Order, order.id).departed_at is not None


def test_check_in_resolves_late_and_no_show_alerts(session, visit, nurse_user, config, org):
    order = visit("en_route", departed_at=utcnow())
    for kind, cause in (("late", late_cause(order.id, order.nurse_id)),
                        ("no_show", no_show_cause(order.id, order.nurse_id))):
        raise_alert(session, kind=kind, cause=cause, organization_id=org.id, now=utcnow(),
                    order_id=order.id, nurse_id=order.nurse_id)
    _check_in(session, order, nurse_user, config, address_of(session, order))
    statuses = {a.kind: a.status for a in session.scalars(
        sa.select(Alert).where(Alert.order_id == order.id))}
    assert statuses == {"late": "resolved", "no_show": "resolved"}


def test_check_in_resolution_is_on_the_trail_in_her_name_from_her_device(
        session, visit, nurse_user, config, org):
    order = visit("en_route", departed_at=utcnow())
    alert = raise_alert(session, kind="late", cause=late_cause(order.id, order.nurse_id),
                        organization_id=org.id, now=utcnow(), order_id=order.id,
                        nurse_id=order.nurse_id)
    door = address_of(session, order)
    service.check_in(session=session, actor=replace(actor_of(nurse_user), ip="10.8.0.7"),
                     order_id=order.id, lat=door.lat, lng=door.lng, now=utcnow(),
                     config=config)
    entry = session.scalar(sa.select(AuditEntry).where(
        AuditEntry.object_type == "alert", AuditEntry.object_id == alert.id,
        AuditEntry.action == "alert.resolved"))
    assert (entry.actor_id, entry.actor_role, entry.ip) == (nurse_user.id, "nurse", "10.8.0.7")


def test_check_in_by_another_nurse_is_order_not_found(session, visit, other_nurse_user,
                                                      config):
    order = visit("en_route", departed_at=utcnow())
    with pytest.raises(OrderNotFound):
        _check_in(session, order, other_nurse_user, config, address_of(session, order))


def test_check_in_of_a_completed_visit_is_invalid_transition(session, visit, nurse_user,
                                                             config):
    order = visit("completed")
    with pytest.raises(InvalidTransition):
        _check_in(session, order, nurse_user, config, address_of(session, order))


# ---------------------------------------------------------------- check-out


def _check_out(session, order, nurse_user, *, now=None, **record):
    record.setdefault("procedures", ["venipuncture", "换药后观察"])
    point = address_of(session, order)
    return service.check_out(session=session, actor=actor_of(nurse_user), order_id=order.id,
                             lat=point.lat, lng=point.lng, now=now or utcnow(), **record)


def test_check_out_completes_the_visit_with_its_care_record(session, visit, nurse_user):
    started = utcnow() - timedelta(minutes=50)
    order = visit("in_service", departed_at=started - timedelta(minutes=20),
                  checked_in_at=started)
    now = utcnow()
    view = _check_out(session, order, nurse_user, now=now,
                      vitals={"systolic_mmhg": 135, "diastolic_mmhg": 85, "spo2_pct": 97},
                      notes="患者情况稳定", consumables=[{"name": "采血针", "quantity": 1}])
    care = session.scalar(sa.select(CareRecord).where(CareRecord.order_id == order.id))
    assert session.get(Order, order.id).status == "completed"
    assert care.vitals["spo2_pct"] == 97 and care.notes == "患者情况稳定"
    assert care.procedures == [{"name": "venipuncture", "listed": True},
                               {"name": "换药后观察", "listed": False}]
    assert (view["started_at"], view["ended_at"]) == (started, now)
    assert view["minutes_on_site"] == 50


def test_check_out_record_names_the_six_facts(session, visit, nurse_user, item):
    order = visit("in_service", checked_in_at=utcnow() - timedelta(minutes=40))
    view = _check_out(session, order, nurse_user)
    assert view["service_code"] == item.code and view["service_name_zh"] == item.name_zh
    assert view["patient_name"] and view["nurse_name"] == nurse_user.name
    assert view["service_date"] == order.service_date
    assert view["address_text"] and view["address"]["lat"] == address_of(session, order).lat
    assert view["started_at"] and view["ended_at"]


def test_check_out_before_check_in_is_refused_and_writes_no_record(session, visit,
                                                                    nurse_user):
    order = visit("en_route", departed_at=utcnow())
    with pytest.raises(InvalidTransition):
        _check_out(session, order, nurse_user)
    assert session.scalar(sa.select(CareRecord).where(CareRecord.order_id == order.id)) is None


def test_check_out_resolves_the_overtime_alert(session, visit, nurse_user, org):
    order = visit("in_service", checked_in_at=utcnow() - timedelta(hours=3))
    raise_alert(session, kind="overtime", cause=overtime_cause(order.id, order.nurse_id),
                organization_id=org.id, now=utcnow(), order_id=order.id,
                nurse_id=order.nurse_id)
    _check_out(session, order, nurse_user)
    assert _alerts(session, order, "overtime")[0].status == "resolved"


def test_check_out_leaves_the_geofence_alert_open_for_a_supervisor(session, visit,
                                                                   nurse_user, config):
    order = visit("en_route", departed_at=utcnow())
    _check_in(session, order, nurse_user, config, north_of(address_of(session, order), 400))
    _check_out(session, order, nurse_user, now=utcnow() + timedelta(minutes=40))
    assert [a.status for a in _alerts(session, order, "geofence")] == ["open"]


# ---------------------------------------------------------------- reading the record


@pytest.fixture
def checked_out(session, visit, nurse):
    order = visit("completed", checked_in_at=utcnow() - timedelta(hours=1),
                  checked_out_at=utcnow())
    CareRecordFactory(order_id=order.id, nurse_id=nurse.id)
    return order


def test_read_care_record_writes_an_audit_entry_per_read(session, checked_out, supervisor):
    for _ in range(2):
        view = service.read_care_record(session=session, actor=actor_of(supervisor),
                                        order_id=checked_out.id, now=utcnow())
    assert view["procedures"][0]["name"] == "venipuncture"
    entries = session.scalars(sa.select(AuditEntry).where(
        AuditEntry.action == "care_record.read")).all()
    assert len(entries) == 2
    assert {(e.actor_id, e.detail["order_id"]) for e in entries} == {
        (supervisor.id, checked_out.id)}


def test_read_care_record_by_the_family_is_allowed(session, checked_out):
    from homecare.patients.models import CareRecipient

    owner = session.get(CareRecipient, checked_out.patient_id).owner_id
    view = service.read_care_record(session=session, actor=actor_of(session.get(User, owner)),
                                    order_id=checked_out.id, now=utcnow())
    assert view["order_id"] == checked_out.id


def test_read_care_record_of_another_organization_is_order_not_found(session, checked_out,
                                                                     other_org):
    stranger = UserFactory(role="supervisor", organization_id=other_org.id)
    with pytest.raises(OrderNotFound):
        service.read_care_record(session=session, actor=actor_of(stranger),
                                 order_id=checked_out.id, now=utcnow())


def test_read_care_record_before_check_out_is_care_record_not_found(session, visit,
                                                                    supervisor):
    order = visit("in_service", checked_in_at=utcnow())
    with pytest.raises(service.CareRecordNotFound):
        service.read_care_record(session=session, actor=actor_of(supervisor),
                                 order_id=order.id, now=utcnow())


# ---------------------------------------------------------------- SOS


def test_sos_stores_a_critical_alert_with_the_position(session, visit, nurse_user, org):
    order = visit("en_route", departed_at=utcnow())
    result = service.raise_sos(session=session, actor=actor_of(nurse_user), order_id=order.id,
                               lat=35.42, lng=116.59, now=utcnow())
    alert = session.get(Alert, result["id"])
    assert (alert.kind, alert.severity, alert.status) == ("sos", "critical", "open")
    assert (alert.lat, alert.lng, alert.order_id) == (35.42, 116.59, order.id)
    assert alert.organization_id == org.id


def test_sos_pages_every_supervisor_urgently(session, visit, nurse_user, org, supervisor):
    second = UserFactory(role="supervisor", organization_id=org.id)
    order = visit("in_service", checked_in_at=utcnow())
    result = service.raise_sos(session=session, actor=actor_of(nurse_user), order_id=order.id,
                               lat=35.42, lng=116.59, now=utcnow())
    paged = session.scalars(sa.select(Notification).where(Notification.kind == "alert_sos")).all()
    assert {n.user_id for n in paged} == {supervisor.id, second.id}
    assert all(n.urgent and n.payload["alert_id"] == result["id"] for n in paged)
    assert result["supervisors_paged"] == 2


def test_sos_pressed_twice_is_two_alarms(session, visit, nurse_user):
    order = visit("assigned")
    ids = {service.raise_sos(session=session, actor=actor_of(nurse_user), order_id=order.id,
                             lat=35.42, lng=116.59, now=utcnow())["id"] for _ in range(2)}
    assert len(ids) == 2


def test_sos_without_a_position_uses_her_last_ping(session, visit, nurse, nurse_user):
    nurse.last_lat, nurse.last_lng, nurse.last_ping_at = 35.43, 116.6, utcnow()
    session.flush()
    order = visit("en_route", departed_at=utcnow())
    result = service.raise_sos(session=session, actor=actor_of(nurse_user), order_id=order.id,
                               now=utcnow())
    assert (result["position"]["lat"], result["position"]["lng"]) == (35.43, 116.6)


def test_sos_when_paging_fails_keeps_the_alarm(session, visit, nurse_user, monkeypatch):
    def broken(*_, **__):
        raise RuntimeError("outbox unavailable")

    monkeypatch.setattr(service, "page_supervisors", broken)
    order = visit("en_route", departed_at=utcnow())
    result = service.raise_sos(session=session, actor=actor_of(nurse_user), order_id=order.id,
                               lat=35.42, lng=116.59, now=utcnow())
    assert result["supervisors_paged"] == 0
    assert session.get(Alert, result["id"]).kind == "sos"


def test_sos_after_the_visit_ended_is_still_raised(session, visit, nurse_user):
    order = visit("completed", checked_in_at=utcnow(), checked_out_at=utcnow())
    result = service.raise_sos(session=session, actor=actor_of(nurse_user), order_id=order.id,
                               lat=35.42, lng=116.59, now=utcnow())
    assert result["severity"] == "critical"


def test_sos_after_the_order_was_cancelled_is_still_stored(session, visit, nurse_user,
                                                             supervisor):
    # The family refuses her at the door and the supervisor cancels the visit.
    order = visit("en_route", departed_at=utcnow())
    transition(session, order, "cancelled", actor=actor_of(supervisor), now=utcnow(),
               reason="家属拒绝入户")
    result = service.raise_sos(session=session, actor=actor_of(nurse_user), order_id=order.id,
                               lat=35.42, lng=116.59, now=utcnow())
    alert = session.get(Alert, result["id"])
    assert (alert.kind, alert.severity, alert.order_id) == ("sos", "critical", order.id)
    assert "cancelled" in alert.detail


def test_sos_after_the_order_went_to_another_nurse_is_stored_as_hers(
        session, org, item, nurse, nurse_user, supervisor):
    order = booked_order(org, status="approved", item=item)
    transition(session, order, "assigned", actor=actor_of(supervisor), now=utcnow(),
               nurse_id=nurse.id)
    other = NurseFactory(organization_id=org.id)
    transition(session, order, "assigned", actor=actor_of(supervisor), now=utcnow(),
               nurse_id=other.id)
    result = service.raise_sos(session=session, actor=actor_of(nurse_user), order_id=order.id,
                               now=utcnow())
    assert session.get(Alert, result["id"]).nurse_id == nurse.id


def test_sos_on_an_order_she_was_only_offered_is_order_not_found(session, org, item, nurse,
                                                                  nurse_user):
    order = booked_order(org, status="offered", item=item)
    OfferFactory(order_id=order.id, nurse_id=nurse.id, status="declined")
    with pytest.raises(OrderNotFound):
        service.raise_sos(session=session, actor=actor_of(nurse_user), order_id=order.id,
                          now=utcnow())
    assert _alerts(session, order, "sos") == []


def test_sos_notes_what_it_ignored_from_the_request(session, visit, nurse, nurse_user):
    nurse.last_lat, nurse.last_lng, nurse.last_ping_at = 35.43, 116.6, utcnow()
    order = visit("en_route", departed_at=utcnow())
    result = service.raise_sos(session=session, actor=actor_of(nurse_user), order_id=order.id,
                               now=utcnow(), ignored={"accuracy_m": ["Must be at least 0."]})
    assert "accuracy_m" in result["detail"] and "Must be at least 0." in result["detail"]
    assert (result["lat"], result["lng"]) == (35.43, 116.6)


def test_sos_on_another_nurses_order_is_order_not_found(session, visit, other_nurse_user):
    order = visit("en_route", departed_at=utcnow())
    with pytest.raises(OrderNotFound):
        service.raise_sos(session=session, actor=actor_of(other_nurse_user),
                          order_id=order.id, lat=35.42, lng=116.59, now=utcnow())


def test_sos_while_another_writer_holds_the_database_succeeds(scratch_app):
    """Another connection is in the middle of a write transaction on the same order when
    the alarm is pressed; the alarm waits for it (SQLite: the busy timeout) and is stored."""
    with scratch_app.app_context():
        org_ = OrganizationFactory()
        nurse_ = NurseFactory(organization_id=org_.id)
        order_id = booked_order(org_, status="en_route", nurse_id=nurse_.id,
                                departed_at=utcnow()).id
        actor = actor_of(db.session.get(User, nurse_.user_id))
        db.session.commit()

    engine = make_engine(scratch_app.config["HOMECARE"].database_url)
    blocker = engine.connect()
    blocker.begin()
    blocker.execute(sa.update(Order).where(Order.id == order_id).values(notes="busy"))
    timer = threading.Timer(0.7, blocker.commit)
    timer.start()
    try:
        with scratch_app.app_context():
            result = service.raise_sos(session=db.session, actor=actor, order_id=order_id,
                                       lat=35.42, lng=116.59, now=utcnow())
            db.session.rollback()
            stored = db.session.get(Alert, result["id"])
            assert (stored.kind, stored.severity) == ("sos", "critical")
    finally:
        timer.join()
        blocker.close()
        engine.dispose()

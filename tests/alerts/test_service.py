"""Service tests for the alert sweep (late, no_show, overtime), raising once per cause,
acknowledging, resolving and listing."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from homecare.alerts import service
from homecare.alerts.models import Alert
from homecare.audit.models import AuditEntry
from homecare.notifications.models import Notification
from homecare.orders.models import Order
from homecare.orders.states import transition
from tests.alerts.conftest import NOW, actor_of
from tests.factories import AlertFactory, NurseFactory, UserFactory


def _alerts(session, order, kind: str) -> list[Alert]:
    return list(session.scalars(sa.select(Alert).where(Alert.order_id == order.id,
                                                       Alert.kind == kind)))


def _kinds(session, order) -> dict[str, str]:
    return {a.kind: a.status for a in session.scalars(
        sa.select(Alert).where(Alert.order_id == order.id))}


def _awaited(visit, minutes_ago: int, status: str = "assigned", **kwargs):
    return visit(status, planned_arrival=NOW - timedelta(minutes=minutes_ago),
                 window_start=NOW - timedelta(minutes=minutes_ago + 30), **kwargs)


# ---------------------------------------------------------------- late / no_show


def test_sweep_before_the_late_threshold_raises_nothing(session, visit, config):
    order = _awaited(visit, 14)
    assert service.sweep_alerts(session=session, now=NOW, config=config) == {}
    assert _kinds(session, order) == {}


def test_sweep_raises_late_at_the_threshold(session, visit, config):
    order = _awaited(visit, 15, status="en_route", departed_at=NOW - timedelta(minutes=30))
    counts = service.sweep_alerts(session=session, now=NOW, config=config)
    assert counts == {"late_raised": 1}
    assert _kinds(session, order) == {"late": "open"}


def test_sweep_run_twice_raises_late_once(session, visit, config):
    order = _awaited(visit, 20)
    service.sweep_alerts(session=session, now=NOW, config=config)
    assert service.sweep_alerts(session=session, now=NOW + timedelta(minutes=1),
                                config=config) == {}
    assert session.scalar(sa.select(sa.func.count()).select_from(Alert)
                          .where(Alert.order_id == order.id)) == 1


def test_sweep_counts_from_the_window_start_when_not_planned(session, visit, config):
    order = visit("assigned", planned_arrival=None, window_start=NOW - timedelta(minutes=16))
    service.sweep_alerts(session=session, now=NOW, config=config)
    assert _kinds(session, order) == {"late": "open"}


def test_sweep_raises_no_show_after_thirty_minutes(session, visit, config):
    order = _awaited(visit, 30)
    counts = service.sweep_alerts(session=session, now=NOW, config=config)
    assert counts == {"late_raised": 1, "no_show_raised": 1}
    assert session.scalar(sa.select(Alert.severity).where(
        Alert.order_id == order.id, Alert.kind == "no_show")) == "high"


def test_sweep_pages_supervisors_about_a_no_show(session, visit, config, org, supervisor):
    order = _awaited(visit, 31)
    service.sweep_alerts(session=session, now=NOW, config=config)
    paged = session.scalars(sa.select(Notification).where(
        Notification.kind == "alert_no_show")).all()
    assert [(n.user_id, n.order_id) for n in paged] == [(supervisor.id, order.id)]


def test_sweep_thresholds_are_configurable(session, visit, config):
    order = _awaited(visit, 6)
    service.sweep_alerts(session=session, now=NOW,
                         config=replace(config, late_after_minutes=5, no_show_after_minutes=6))
    assert _kinds(session, order) == {"late": "open", "no_show": "open"}


def test_sweep_ignores_a_visit_checked_in(session, visit, config):
    order = _awaited(visit, 40, status="in_service", checked_in_at=NOW - timedelta(minutes=1))
    service.sweep_alerts(session=session, now=NOW, config=config)
    assert _kinds(session, order) == {}


def test_cancelling_the_visit_resolves_late_at_once(session, visit, config, supervisor):
    order = _awaited(visit, 20)
    service.sweep_alerts(session=session, now=NOW, config=config)
    transition(session, order, "cancelled", actor=actor_of(supervisor), now=NOW,
               reason="family cancelled")
    assert _kinds(session, order) == {"late": "resolved"}
    assert service.sweep_alerts(session=session, now=NOW + timedelta(minutes=1),
                                config=config) == {}


def test_sweep_resolves_a_cause_gone_without_a_transition(session, visit, config):
    # A safety net: whatever moved the order past the state machine's hook.
    order = _awaited(visit, 20)
    service.sweep_alerts(session=session, now=NOW, config=config)
    session.execute(sa.update(Order).where(Order.id == order.id).values(status="cancelled"))
    counts = service.sweep_alerts(session=session, now=NOW + timedelta(minutes=1),
                                  config=config)
    assert counts == {"late_resolved": 1}
    assert _kinds(session, order) == {"late": "resolved"}


def test_late_of_a_reassigned_order_is_raised_again_for_the_new_nurse(
        session, visit, config, supervisor, org):
    order = _awaited(visit, 20)
    first_nurse = order.nurse_id
    service.sweep_alerts(session=session, now=NOW, config=config)
    transition(session, order, "approved", actor=actor_of(supervisor), now=NOW, nurse_id=None)
    later = NOW + timedelta(minutes=5)
    other = NurseFactory(organization_id=org.id)
    transition(session, order, "assigned", actor=actor_of(supervisor), now=later,
               nurse_id=other.id, planned_arrival=later + timedelta(minutes=10))
    service.sweep_alerts(session=session, now=later + timedelta(minutes=35), config=config)
    late = {a.nurse_id: a.status for a in _alerts(session, order, "late")}
    assert late == {first_nurse: "resolved", other.id: "open"}


def test_reassigning_resolves_the_late_alert_of_the_nurse_taken_off(session, visit, config,
                                                                    supervisor, org):
    order = _awaited(visit, 20)
    service.sweep_alerts(session=session, now=NOW, config=config)
    other = NurseFactory(organization_id=org.id)
    transition(session, order, "assigned", actor=actor_of(supervisor), now=NOW,
               nurse_id=other.id, planned_arrival=NOW + timedelta(minutes=30))
    assert _kinds(session, order) == {"late": "resolved"}


def test_late_resolved_by_a_supervisor_is_not_raised_again(session, visit, config,
                                                           supervisor):
    order = _awaited(visit, 20)
    service.sweep_alerts(session=session, now=NOW, config=config)
    [alert] = _alerts(session, order, "late")
    service.resolve_alert(session=session, actor=actor_of(supervisor), alert_id=alert.id,
                          now=NOW)
    assert service.sweep_alerts(session=session, now=NOW + timedelta(minutes=1),
                                config=config) == {}
    assert [a.status for a in _alerts(session, order, "late")] == ["resolved"]


def test_sweep_writes_each_raised_alert_to_the_audit_trail(session, visit, config):
    order = _awaited(visit, 20)
    service.sweep_alerts(session=session, now=NOW, config=config)
    alert_id = session.scalar(sa.select(Alert.id).where(Alert.order_id == order.id))
    entry = session.scalar(sa.select(AuditEntry).where(AuditEntry.object_type == "alert",
                                                       AuditEntry.object_id == alert_id))
    assert (entry.action, entry.actor_role) == ("alert.raised", "system")


# ---------------------------------------------------------------- overtime


def _on_site(visit, minutes: int):
    return visit("in_service", checked_in_at=NOW - timedelta(minutes=minutes))


def test_sweep_raises_overtime_after_duration_plus_grace(session, visit, config, item):
    order = _on_site(visit, item.duration_min + config.overtime_grace_minutes)
    counts = service.sweep_alerts(session=session, now=NOW, config=config)
    assert counts == {"overtime_raised": 1}
    assert _kinds(session, order) == {"overtime": "open"}


def test_sweep_within_duration_plus_grace_raises_no_overtime(session, visit, config, item):
    order = _on_site(visit, item.duration_min + config.overtime_grace_minutes - 1)
    service.sweep_alerts(session=session, now=NOW, config=config)
    assert _kinds(session, order) == {}


def test_ending_the_visit_resolves_overtime_at_once(session, visit, config, item,
                                                      nurse_user):
    order = _on_site(visit, 200)
    service.sweep_alerts(session=session, now=NOW, config=config)
    transition(session, order, "completed", actor=actor_of(nurse_user), now=NOW)
    assert _kinds(session, order) == {"overtime": "resolved"}
    assert service.sweep_alerts(session=session, now=NOW, config=config) == {}


# ---------------------------------------------------------------- raise / resolve seams


def test_raise_alert_for_a_cause_twice_returns_none_the_second_time(session, org):
    first = service.raise_alert(session, kind="unassigned", cause="unassigned:order:x",
                                organization_id=org.id, now=NOW)
    second = service.raise_alert(session, kind="unassigned", cause="unassigned:order:x",
                                 organization_id=org.id, now=NOW)
    assert first is not None and second is None


def test_raise_alert_of_an_unknown_kind_is_refused(session, org):
    with pytest.raises(ValueError):
        service.raise_alert(session, kind="fire", cause="fire:1", organization_id=org.id,
                            now=NOW)


def test_resolve_cause_resolves_and_audits(session, org):
    alert = AlertFactory(organization_id=org.id, kind="unassigned", cause="unassigned:order:9")
    assert service.resolve_cause(session, cause="unassigned:order:9", now=NOW) is True
    session.refresh(alert)
    assert (alert.status, alert.resolved_at) == ("resolved", NOW)
    assert session.scalar(sa.select(AuditEntry.action).where(
        AuditEntry.object_id == alert.id, AuditEntry.object_type == "alert")) == "alert.resolved"


def test_resolve_cause_without_an_open_alert_is_false(session):
    assert service.resolve_cause(session, cause="late:order:0", now=NOW) is False


# ---------------------------------------------------------------- acknowledge / resolve


def test_acknowledge_keeps_who_and_when(session, org, supervisor):
    alert = AlertFactory(organization_id=org.id)
    service.acknowledge_alert(session=session, actor=actor_of(supervisor), alert_id=alert.id,
                              now=NOW)
    assert (alert.status, alert.acked_by, alert.acked_at) == ("acknowledged", supervisor.id,
                                                              NOW)


def test_acknowledge_twice_is_already_acknowledged(session, org, supervisor):
    alert = AlertFactory(organization_id=org.id)
    session.commit()
    service.acknowledge_alert(session=session, actor=actor_of(supervisor), alert_id=alert.id,
                              now=NOW)
    with pytest.raises(service.AlertAlreadyAcknowledged):
        service.acknowledge_alert(session=session, actor=actor_of(supervisor),
                                  alert_id=alert.id, now=NOW)


def test_acknowledge_a_resolved_alert_is_already_resolved(session, org, supervisor):
    alert = AlertFactory(organization_id=org.id, status="resolved", resolved_at=NOW)
    session.commit()
    with pytest.raises(service.AlertAlreadyResolved):
        service.acknowledge_alert(session=session, actor=actor_of(supervisor),
                                  alert_id=alert.id, now=NOW)


def test_acknowledge_another_organizations_alert_is_not_found(session, other_org, supervisor):
    alert = AlertFactory(organization_id=other_org.id)
    session.commit()
    with pytest.raises(service.AlertNotFound):
        service.acknowledge_alert(session=session, actor=actor_of(supervisor),
                                  alert_id=alert.id, now=NOW)


def test_resolve_an_open_alert_also_marks_it_acknowledged(session, org, supervisor):
    alert = AlertFactory(organization_id=org.id, kind="unassigned")
    service.resolve_alert(session=session, actor=actor_of(supervisor), alert_id=alert.id,
                          now=NOW, note="assigned 王护士 by phone")
    assert (alert.status, alert.resolved_by, alert.resolved_at) == ("resolved", supervisor.id,
                                                                    NOW)
    assert (alert.acked_by, alert.acked_at) == (supervisor.id, NOW)
    entry = session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "alert.resolved"))
    assert entry.detail["note"] == "assigned 王护士 by phone"


def test_resolve_keeps_the_first_acknowledgement(session, org, supervisor):
    first = UserFactory(role="supervisor", organization_id=org.id)
    early = NOW - timedelta(minutes=5)
    alert = AlertFactory(organization_id=org.id, status="acknowledged", acked_by=first.id,
                         acked_at=early)
    service.resolve_alert(session=session, actor=actor_of(supervisor), alert_id=alert.id,
                          now=NOW)
    assert (alert.acked_by, alert.acked_at, alert.resolved_by) == (first.id, early,
                                                                   supervisor.id)


def test_resolve_twice_is_already_resolved(session, org, supervisor):
    alert = AlertFactory(organization_id=org.id)
    session.commit()
    service.resolve_alert(session=session, actor=actor_of(supervisor), alert_id=alert.id,
                          now=NOW)
    with pytest.raises(service.AlertAlreadyResolved):
        service.resolve_alert(session=session, actor=actor_of(supervisor), alert_id=alert.id,
                              now=NOW)


# ---------------------------------------------------------------- listing


def test_list_alerts_shows_only_the_callers_organization(session, org, other_org, supervisor,
                                                         config):
    mine = AlertFactory(organization_id=org.id)
    AlertFactory(organization_id=other_org.id)
    listed = session.scalars(service.list_alerts(session=session, actor=actor_of(supervisor),
                                                 config=config)).all()
    assert [a.id for a in listed] == [mine.id]


def test_list_alerts_filters_by_kind_and_status(session, org, supervisor, config):
    AlertFactory(organization_id=org.id, kind="late")
    sos = AlertFactory(organization_id=org.id, kind="sos", severity="critical")
    AlertFactory(organization_id=org.id, kind="sos", status="resolved")
    listed = session.scalars(service.list_alerts(
        session=session, actor=actor_of(supervisor), config=config, kind="sos",
        status="open")).all()
    assert [a.id for a in listed] == [sos.id]


def test_list_alerts_by_local_date(session, org, supervisor, config):
    # 2030-05-06 23:30 in Shanghai is 15:30 UTC the same day; 00:30 on the 7th is
    # 16:30 UTC on the 6th: the local date decides, not the UTC one.
    late_evening = AlertFactory(organization_id=org.id,
                                raised_at=datetime(2030, 5, 6, 15, 30, tzinfo=UTC))
    after_midnight = AlertFactory(organization_id=org.id,
                                  raised_at=datetime(2030, 5, 6, 16, 30, tzinfo=UTC))

    def on(day):
        return [a.id for a in session.scalars(service.list_alerts(
            session=session, actor=actor_of(supervisor), config=config, day=day))]

    assert on(date(2030, 5, 6)) == [late_evening.id]
    assert on(date(2030, 5, 7)) == [after_midnight.id]


def test_open_alert_counts_by_kind(session, org):
    AlertFactory(organization_id=org.id, kind="late")
    AlertFactory(organization_id=org.id, kind="late", status="acknowledged")
    AlertFactory(organization_id=org.id, kind="sos", status="resolved")
    assert service.open_alert_counts(session=session, organization_id=org.id) == {"late": 2}


@pytest.mark.parametrize("kind", ["sos", "late", "no_show", "overtime", "geofence",
                                  "unassigned"])
def test_each_kind_is_raised_once_per_cause_and_can_be_resolved(session, org, supervisor,
                                                                 kind):
    cause = f"{kind}:order:test"
    raised = [service.raise_alert(session, kind=kind, cause=cause, organization_id=org.id,
                                  now=NOW) for _ in range(2)]
    assert raised[0] is not None and raised[1] is None
    service.resolve_alert(session=session, actor=actor_of(supervisor), alert_id=raised[0].id,
                          now=NOW)
    assert session.scalars(sa.select(Alert.status).where(Alert.cause == cause)).all() == [
        "resolved"]

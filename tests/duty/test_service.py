"""The duty roster's rules, called as services: who may be on duty, spans that end,
overlap or started, and whom an urgent page texts."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from homecare.audit.models import AuditEntry
from homecare.duty import service
from homecare.duty.models import DutySpan
from tests.factories import DutySpanFactory, NurseFactory, UserFactory, actor_of

H = timedelta(hours=1)


def _span(user, start, end):
    return {"user_id": user.id, "start": start, "end": end}


def _roster(session, org):
    return session.execute(sa.select(DutySpan.user_id, DutySpan.start, DutySpan.end)
                           .where(DutySpan.organization_id == org.id)
                           .order_by(DutySpan.start, DutySpan.user_id)).all()


def test_add_duty_spans_stores_them_and_audits_each(session, supervisor, colleague, org, now):
    added = service.add_duty_spans(session=session, actor=actor_of(supervisor), now=now, spans=[
        _span(supervisor, now, now + 8 * H), _span(colleague, now + 8 * H, now + 16 * H)])
    assert _roster(session, org) == [(supervisor.id, now, now + 8 * H),
                                     (colleague.id, now + 8 * H, now + 16 * H)]
    entries = session.execute(sa.select(AuditEntry.action, AuditEntry.object_id,
                                        AuditEntry.actor_id)
                              .where(AuditEntry.object_type == "duty_span")).all()
    assert sorted(entries) == sorted(("duty.added", s.id, supervisor.id) for s in added)


def test_add_duty_spans_for_another_organizations_supervisor_is_refused(
        session, supervisor, other_org, org, now):
    stranger = UserFactory(role="supervisor", organization_id=other_org.id)
    with pytest.raises(service.DutyNotSupervisor) as refused:
        service.add_duty_spans(session=session, actor=actor_of(supervisor), now=now, spans=[
            _span(supervisor, now, now + H), _span(stranger, now, now + H)])
    assert refused.value.extensions["index"] == 1
    assert _roster(session, org) == []


@pytest.mark.parametrize("who", ["nurse", "inactive supervisor", "patient"])
def test_add_duty_spans_for_someone_not_an_active_supervisor_is_refused(
        session, supervisor, org, now, who):
    if who == "nurse":
        user_id = NurseFactory(organization_id=org.id).user_id
    else:
        user_id = UserFactory(role=who.split()[-1], organization_id=org.id,
                              active=who != "inactive supervisor").id
    with pytest.raises(service.DutyNotSupervisor):
        service.add_duty_spans(session=session, actor=actor_of(supervisor), now=now,
                               spans=[{"user_id": user_id, "start": now, "end": now + H}])
    assert _roster(session, org) == []


def test_add_a_duty_span_that_has_ended_is_refused(session, supervisor, org, now):
    with pytest.raises(service.DutyInPast):
        service.add_duty_spans(session=session, actor=actor_of(supervisor), now=now,
                               spans=[_span(supervisor, now - 3 * H, now)])
    assert _roster(session, org) == []


def test_add_a_span_overlapping_her_stored_one_is_a_conflict_and_adds_nothing(
        session, supervisor, colleague, org, now):
    DutySpanFactory(organization_id=org.id, user_id=supervisor.id, start=now, end=now + 8 * H)
    with pytest.raises(service.DutyOverlap) as refused:
        service.add_duty_spans(session=session, actor=actor_of(supervisor), now=now, spans=[
            _span(colleague, now, now + 8 * H), _span(supervisor, now + 7 * H, now + 9 * H)])
    assert refused.value.extensions["index"] == 1
    assert _roster(session, org) == [(supervisor.id, now, now + 8 * H)]


def test_add_spans_overlapping_each_other_is_a_conflict(session, supervisor, org, now):
    with pytest.raises(service.DutyOverlap):
        service.add_duty_spans(session=session, actor=actor_of(supervisor), now=now, spans=[
            _span(supervisor, now, now + 8 * H), _span(supervisor, now + 2 * H, now + 3 * H)])
    assert _roster(session, org) == []


def test_back_to_back_spans_of_one_supervisor_do_not_overlap(session, supervisor, org, now):
    service.add_duty_spans(session=session, actor=actor_of(supervisor), now=now, spans=[
        _span(supervisor, now, now + 8 * H), _span(supervisor, now + 8 * H, now + 9 * H)])
    assert len(_roster(session, org)) == 2


def test_replace_keeps_spans_that_started_and_replaces_those_that_have_not(
        session, supervisor, colleague, org, now):
    running = DutySpanFactory(organization_id=org.id, user_id=supervisor.id,
                              start=now - 2 * H, end=now + 6 * H)
    DutySpanFactory(organization_id=org.id, user_id=colleague.id, start=now + 6 * H,
                    end=now + 14 * H)
    result = service.replace_duty_spans(
        session=session, actor=actor_of(supervisor), now=now, start=now - 4 * H,
        end=now + 24 * H, spans=[_span(supervisor, now + 6 * H, now + 14 * H)])
    assert [(s.user_id, s.start, s.end) for s in result] == [
        (supervisor.id, now - 2 * H, now + 6 * H), (supervisor.id, now + 6 * H, now + 14 * H)]
    assert running in result
    actions = session.scalars(sa.select(AuditEntry.action)
                              .where(AuditEntry.object_type == "duty_span")).all()
    assert sorted(actions) == ["duty.added", "duty.removed"]


def test_replace_overlapping_a_running_span_is_a_conflict_and_changes_nothing(
        session, supervisor, colleague, org, now):
    DutySpanFactory(organization_id=org.id, user_id=supervisor.id, start=now - 2 * H,
                    end=now + 6 * H)
    DutySpanFactory(organization_id=org.id, user_id=colleague.id, start=now + 6 * H,
                    end=now + 14 * H)
    before = _roster(session, org)
    with pytest.raises(service.DutyOverlap):
        service.replace_duty_spans(
            session=session, actor=actor_of(supervisor), now=now, start=now, end=now + 24 * H,
            spans=[_span(supervisor, now + 5 * H, now + 8 * H)])
    assert _roster(session, org) == before


def test_remove_a_span_that_has_not_started_deletes_it(session, supervisor, org, now):
    span = DutySpanFactory(organization_id=org.id, user_id=supervisor.id, start=now + H,
                           end=now + 9 * H)
    service.remove_duty_span(session=session, actor=actor_of(supervisor), span_id=span.id,
                             now=now)
    assert _roster(session, org) == []


def test_remove_a_running_span_ends_it_now(session, supervisor, org, now):
    span = DutySpanFactory(organization_id=org.id, user_id=supervisor.id, start=now - H,
                           end=now + 7 * H)
    service.remove_duty_span(session=session, actor=actor_of(supervisor), span_id=span.id,
                             now=now)
    assert _roster(session, org) == [(supervisor.id, now - H, now)]
    assert service.on_duty_supervisors(session, organization_id=org.id, at=now) == []


def test_remove_a_span_that_ended_is_a_conflict(session, supervisor, org, now):
    span = DutySpanFactory(organization_id=org.id, user_id=supervisor.id, start=now - 9 * H,
                           end=now - H)
    with pytest.raises(service.DutySpanEnded):
        service.remove_duty_span(session=session, actor=actor_of(supervisor), span_id=span.id,
                                 now=now)
    assert _roster(session, org) == [(supervisor.id, now - 9 * H, now - H)]


def test_remove_another_organizations_span_is_not_found(session, supervisor, other_org, now):
    stranger = UserFactory(role="supervisor", organization_id=other_org.id)
    span = DutySpanFactory(organization_id=other_org.id, user_id=stranger.id)
    with pytest.raises(service.DutySpanNotFound):
        service.remove_duty_span(session=session, actor=actor_of(supervisor), span_id=span.id,
                                 now=now)
    assert session.get(DutySpan, span.id) is not None


def test_list_duty_is_the_organizations_spans_overlapping_the_window(
        session, supervisor, colleague, org, other_org, now):
    stranger = UserFactory(role="supervisor", organization_id=other_org.id)
    DutySpanFactory(organization_id=other_org.id, user_id=stranger.id)
    mine = DutySpanFactory(organization_id=org.id, user_id=supervisor.id, start=now - H,
                           end=now + H)
    DutySpanFactory(organization_id=org.id, user_id=colleague.id, start=now + 30 * H,
                    end=now + 38 * H)
    assert service.list_duty(session=session, actor=actor_of(colleague), now=now,
                             start=now, end=now + 24 * H) == [mine]


def test_texted_supervisors_are_those_on_duty(session, supervisor, colleague, org, now):
    DutySpanFactory(organization_id=org.id, user_id=colleague.id, start=now - H, end=now + H)
    DutySpanFactory(organization_id=org.id, user_id=supervisor.id, start=now + H,
                    end=now + 9 * H)
    assert service.texted_supervisors(session, organization_id=org.id, at=now) == {
        colleague.id}


def test_texted_supervisors_with_nobody_on_duty_are_every_active_supervisor(
        session, supervisor, colleague, org, now):
    UserFactory(role="supervisor", organization_id=org.id, active=False)
    DutySpanFactory(organization_id=org.id, user_id=colleague.id, start=now - 9 * H,
                    end=now)
    assert service.texted_supervisors(session, organization_id=org.id, at=now) == {
        supervisor.id, colleague.id}


def test_a_deactivated_supervisor_on_duty_leaves_the_page_to_everyone(
        session, supervisor, colleague, org, now):
    gone = UserFactory(role="supervisor", organization_id=org.id, active=False)
    DutySpanFactory(organization_id=org.id, user_id=gone.id, start=now - H, end=now + H)
    assert service.texted_supervisors(session, organization_id=org.id, at=now) == {
        supervisor.id, colleague.id}


def test_add_a_duty_span_that_started_before_now_stores_it_from_now(session, supervisor,
                                                                     org, now):
    (added,) = service.add_duty_spans(session=session, actor=actor_of(supervisor), now=now,
                                      spans=[_span(supervisor, now - 3 * H, now + H)])
    assert added.start == now
    assert _roster(session, org) == [(supervisor.id, now, now + H)]


def test_replace_with_a_span_that_started_before_now_stores_it_from_now(
        session, supervisor, org, now):
    service.replace_duty_spans(session=session, actor=actor_of(supervisor), now=now,
                               start=now - 4 * H, end=now + 4 * H,
                               spans=[_span(supervisor, now - 2 * H, now + 2 * H)])
    assert _roster(session, org) == [(supervisor.id, now, now + 2 * H)]


def test_a_span_given_a_past_start_does_not_overlap_the_span_that_ended_then(
        session, supervisor, org, now):
    DutySpanFactory(organization_id=org.id, user_id=supervisor.id, start=now - 9 * H,
                    end=now - H)
    service.add_duty_spans(session=session, actor=actor_of(supervisor), now=now,
                           spans=[_span(supervisor, now - 2 * H, now + H)])
    assert _roster(session, org) == [(supervisor.id, now - 9 * H, now - H),
                                     (supervisor.id, now, now + H)]

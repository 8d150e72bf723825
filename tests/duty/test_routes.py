"""/duty-roster over HTTP: supervisors of the organization only, its boundary, and
refusals as problem+json that change nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from conftest import assert_problem
from homecare.duty.models import DutySpan
from tests.factories import DutySpanFactory, NurseFactory, UserFactory, auth
from tests.helpers import API

H = timedelta(hours=1)
URL = f"{API}/duty-roster"


def _span(user, start, end):
    return {"user_id": user.id, "start": start.isoformat(), "end": end.isoformat()}


def _count(session):
    return session.scalar(sa.select(sa.func.count()).select_from(DutySpan))


def test_a_supervisor_puts_supervisors_on_duty(client, session, supervisor, colleague, now):
    r = client.post(URL, headers=auth(supervisor), json={"spans": [
        _span(supervisor, now, now + 8 * H), _span(colleague, now + 8 * H, now + 16 * H)]})
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert [(s["user_id"], s["created_by"]) for s in body] == [
        (supervisor.id, supervisor.id), (colleague.id, supervisor.id)]
    assert _count(session) == 2


def test_the_roster_reads_the_window_asked_for(client, supervisor, colleague, org, now):
    DutySpanFactory(organization_id=org.id, user_id=supervisor.id, start=now - H, end=now + H)
    later = DutySpanFactory(organization_id=org.id, user_id=colleague.id, start=now + 30 * H,
                            end=now + 38 * H)
    r = client.get(URL, headers=auth(colleague), query_string={
        "from": (now + 24 * H).isoformat(), "to": (now + 48 * H).isoformat()})
    assert r.status_code == 200, r.get_json()
    assert [s["id"] for s in r.get_json()] == [later.id]


def test_the_roster_defaults_to_the_coming_week(client, supervisor, org, now):
    span = DutySpanFactory(organization_id=org.id, user_id=supervisor.id, start=now + 24 * H,
                           end=now + 32 * H)
    DutySpanFactory(organization_id=org.id, user_id=supervisor.id, start=now + 8 * 24 * H,
                    end=now + 8 * 24 * H + H)
    r = client.get(URL, headers=auth(supervisor))
    assert [s["id"] for s in r.get_json()] == [span.id]


def test_another_organizations_roster_is_not_seen(client, supervisor, org, other_org):
    stranger = UserFactory(role="supervisor", organization_id=other_org.id)
    DutySpanFactory(organization_id=other_org.id, user_id=stranger.id)
    r = client.get(URL, headers=auth(supervisor))
    assert r.status_code == 200 and r.get_json() == []


@pytest.mark.parametrize("role", ["nurse", "patient", "admin"])
def test_only_supervisors_keep_the_roster(client, session, org, supervisor, now, role):
    user = (session.get(type(supervisor), NurseFactory(organization_id=org.id).user_id)
            if role == "nurse" else UserFactory(role=role))
    for method, url, body in (
            ("get", URL, None),
            ("post", URL, {"spans": [_span(supervisor, now, now + H)]}),
            ("put", URL, {"from": now.isoformat(), "to": (now + H).isoformat(), "spans": []})):
        r = getattr(client, method)(url, headers=auth(user), json=body)
        assert_problem(r, 403)
    span = DutySpanFactory(organization_id=org.id, user_id=supervisor.id)
    assert_problem(client.delete(f"{URL}/{span.id}", headers=auth(user)), 403)
    assert _count(session) == 1


def test_the_roster_needs_a_token(client):
    assert_problem(client.get(URL), 401)


def test_putting_another_organizations_supervisor_on_duty_is_422(
        client, session, supervisor, other_org, now):
    stranger = UserFactory(role="supervisor", organization_id=other_org.id)
    r = client.post(URL, headers=auth(supervisor), json={"spans": [
        _span(supervisor, now, now + H), _span(stranger, now, now + H)]})
    body = assert_problem(r, 422, "duty_not_supervisor")
    assert body["index"] == 1
    assert _count(session) == 0


def test_a_span_that_has_ended_is_422(client, session, supervisor, now):
    r = client.post(URL, headers=auth(supervisor),
                    json={"spans": [_span(supervisor, now - 2 * H, now - H)]})
    assert_problem(r, 422, "duty_in_past")
    assert _count(session) == 0


@pytest.mark.parametrize(("start", "end", "field"), [
    (0, -1, "end"),          # ends before it starts
    (0, 0, "end"),           # empty
    (0, 7 * 24 + 1, "end"),  # longer than a week
])
def test_a_malformed_span_is_422_naming_the_field(client, session, supervisor, now, start, end,
                                                   field):
    r = client.post(URL, headers=auth(supervisor), json={"spans": [
        _span(supervisor, now, now + H), _span(supervisor, now + start * H, now + end * H)]})
    body = assert_problem(r, 422)
    assert field in body["errors"]["spans"]["1"]
    assert _count(session) == 0


def test_too_many_spans_in_one_request_is_422(client, session, supervisor, now):
    spans = [_span(supervisor, now + i * H, now + (i + 1) * H) for i in range(51)]
    body = assert_problem(client.post(URL, headers=auth(supervisor), json={"spans": spans}), 422)
    assert "spans" in body["errors"]
    assert _count(session) == 0


def test_an_unknown_field_is_422(client, supervisor, now):
    span = {**_span(supervisor, now, now + H), "phone": "13900000000"}
    assert_problem(client.post(URL, headers=auth(supervisor), json={"spans": [span]}), 422)


def test_an_overlapping_span_is_409_and_adds_nothing(client, session, supervisor, colleague,
                                                     org, now):
    stored = DutySpanFactory(organization_id=org.id, user_id=supervisor.id, start=now,
                             end=now + 8 * H)
    session.commit()
    r = client.post(URL, headers=auth(colleague), json={"spans": [
        _span(colleague, now, now + 8 * H), _span(supervisor, now + 4 * H, now + 12 * H)]})
    body = assert_problem(r, 409, "duty_overlap")
    assert body["span_id"] == stored.id and body["index"] == 1
    assert _count(session) == 1


def test_replace_swaps_the_windows_spans_that_have_not_started(client, session, supervisor,
                                                               colleague, org, now):
    DutySpanFactory(organization_id=org.id, user_id=supervisor.id, start=now + 24 * H,
                    end=now + 32 * H)
    r = client.put(URL, headers=auth(supervisor), json={
        "from": (now + 12 * H).isoformat(), "to": (now + 36 * H).isoformat(),
        "spans": [_span(colleague, now + 24 * H, now + 32 * H)]})
    assert r.status_code == 200, r.get_json()
    assert [s["user_id"] for s in r.get_json()] == [colleague.id]
    assert session.scalars(sa.select(DutySpan.user_id)).all() == [colleague.id]


def test_replace_with_a_span_outside_the_window_is_422(client, session, supervisor, org, now):
    DutySpanFactory(organization_id=org.id, user_id=supervisor.id, start=now + 24 * H,
                    end=now + 32 * H)
    r = client.put(URL, headers=auth(supervisor), json={
        "from": (now + 12 * H).isoformat(), "to": (now + 36 * H).isoformat(),
        "spans": [_span(supervisor, now + 30 * H, now + 40 * H)]})
    body = assert_problem(r, 422)
    assert "0" in body["errors"]["spans"]
    assert _count(session) == 1


def test_a_window_longer_than_a_month_is_422(client, supervisor, now):
    r = client.get(URL, headers=auth(supervisor), query_string={
        "from": now.isoformat(), "to": (now + 32 * 24 * H).isoformat()})
    assert "to" in assert_problem(r, 422)["errors"]


def test_delete_takes_a_span_off_the_roster(client, session, supervisor, org, now):
    span = DutySpanFactory(organization_id=org.id, user_id=supervisor.id, start=now + H,
                           end=now + 9 * H)
    session.commit()
    r = client.delete(f"{URL}/{span.id}", headers=auth(supervisor))
    assert r.status_code == 204
    assert _count(session) == 0


def test_delete_a_span_that_ended_is_409(client, session, supervisor, org, now):
    span = DutySpanFactory(organization_id=org.id, user_id=supervisor.id, start=now - 9 * H,
                           end=now - H)
    session.commit()
    assert_problem(client.delete(f"{URL}/{span.id}", headers=auth(supervisor)), 409,
                   "duty_span_ended")
    assert _count(session) == 1


def test_delete_another_organizations_span_is_404(client, session, supervisor, other_org):
    stranger = UserFactory(role="supervisor", organization_id=other_org.id)
    span = DutySpanFactory(organization_id=other_org.id, user_id=stranger.id)
    session.commit()
    assert_problem(client.delete(f"{URL}/{span.id}", headers=auth(supervisor)), 404,
                   "duty_span_not_found")
    assert _count(session) == 1


def test_roster_changes_are_on_the_audit_trail(client, supervisor, now):
    r = client.post(URL, headers=auth(supervisor),
                    json={"spans": [_span(supervisor, now + H, now + 2 * H)]})
    span_id = r.get_json()[0]["id"]
    client.delete(f"{URL}/{span_id}", headers=auth(supervisor))
    trail = client.get(f"{API}/audit", headers=auth(supervisor),
                       query_string={"subject": f"duty_span:{span_id}"})
    assert trail.status_code == 200, trail.get_json()
    # Reading the trail is on it too (audit.read).
    assert sorted(e["action"] for e in trail.get_json() if e["action"] != "audit.read") == [
        "duty.added", "duty.removed"]

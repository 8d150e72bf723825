"""GET /audit: the trail, queryable and traceable (全程留痕), scoped and itself audited."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from conftest import assert_problem
from homecare.audit.service import record
from tests.factories import actor_of, auth
from tests.helpers import API

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
def trail(session, org, other_org, supervisor, nurse_user):
    """Reads of patient 12 by this organization (at T0, T0+1h) and by another one."""
    me = actor_of(supervisor)
    record(session, actor=me, action="patient.read", object_type="patient", object_id=12,
           organization_id=org.id, now=T0)
    record(session, actor=actor_of(nurse_user), action="patient.read", object_type="patient",
           object_id=12, organization_id=org.id, now=T0 + timedelta(hours=1))
    record(session, actor=None, action="patient.read", object_type="patient", object_id=12,
           organization_id=other_org.id, now=T0)
    record(session, actor=me, action="order.cancelled", object_type="order", object_id=7,
           organization_id=org.id, now=T0)
    session.flush()


def _get(client, user, **query):
    return client.get(f"{API}/audit", query_string=query, headers=auth(user))


def test_audit_by_subject_shows_the_organizations_entries_newest_first(client, trail,
                                                                      supervisor, nurse_user):
    r = _get(client, supervisor, subject="patient:12")
    assert r.status_code == 200, r.get_json()
    # This search comes first: it is on the trail of patient 12 too.
    assert [(e["actor_id"], e["action"]) for e in r.get_json()] == [
        (supervisor.id, "audit.read"), (nurse_user.id, "patient.read"),
        (supervisor.id, "patient.read")]
    assert json.loads(r.headers["X-Pagination"])["total"] == 3


def test_audit_filters_by_actor_and_time_span(client, trail, supervisor, nurse_user):
    r = _get(client, supervisor, actor_id=nurse_user.id)
    assert [e["object_id"] for e in r.get_json()] == [12]
    r = _get(client, supervisor, subject="patient:12", since=T0.isoformat(),
             until=(T0 + timedelta(minutes=30)).isoformat())
    assert [e["actor_id"] for e in r.get_json()] == [supervisor.id]


def test_audit_search_is_itself_on_the_trail(client, trail, supervisor):
    _get(client, supervisor, subject="order:7")
    r = _get(client, supervisor, subject="order:7")
    actions = [e["action"] for e in r.get_json()]
    assert actions.count("audit.read") == 2 and "order.cancelled" in actions
    assert r.get_json()[0]["detail"] == {"subject": "order:7"}


def test_admin_sees_every_organization(client, trail, admin):
    r = _get(client, admin, subject="patient:12")
    assert len([e for e in r.get_json() if e["action"] == "patient.read"]) == 3


@pytest.mark.parametrize("subject", ["patient", "patient:x", "patient:12\n", "bed:1",
                                     "patient:\uff11\uff12", "patient:99999999999"])
def test_audit_with_a_malformed_subject_is_422(client, supervisor, subject):
    assert "subject" in assert_problem(_get(client, supervisor, subject=subject),
                                       422)["errors"]


def test_audit_for_a_nurse_or_patient_is_403(client, nurse_user, patient):
    for user in (nurse_user, patient):
        assert_problem(_get(client, user), 403)

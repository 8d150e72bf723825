"""GET /events/stream: server-sent events per role, replayed from Last-Event-ID, never
another owner's or another organization's. Streams in tests close after their first
poll (the root conftest), so a test reads a finished response."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from conftest import assert_problem
from homecare.accounts.models import User
from tests.factories import (
    AlertFactory,
    NurseFactory,
    ShiftFactory,
    UserFactory,
    auth,
    booked_order,
)
from tests.helpers import API
from tests.liveday.conftest import owner_of


def _stream(client, user, last_event_id=None):
    headers = auth(user)
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    r = client.get(f"{API}/events/stream", headers=headers)
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.mimetype == "text/event-stream"
    assert r.headers["X-Accel-Buffering"] == "no" and r.headers["Cache-Control"] == "no-cache"
    return _events(r.get_data(as_text=True))


def _events(text):
    """(id, event name, data) per SSE frame; comments and retry lines skipped."""
    out = []
    for frame in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in frame.splitlines()
                      if line and not line.startswith(":") and not line.startswith("retry"))
        if "event" in fields:
            out.append((fields["id"], fields["event"], json.loads(fields["data"])))
    return out


def _no_show(client, order, supervisor):
    r = client.post(f"{API}/orders/{order.id}/no-show", headers=auth(supervisor),
                    json={"reason": "not at home"})
    assert r.status_code == 200, r.get_json()


def test_the_owner_replays_her_orders_updates_from_last_event_id(
        client, session, committed_visit, supervisor):
    first, second = committed_visit("assigned"), committed_visit("assigned")
    owner = session.get(User, owner_of(session, first))
    second.patient_id = first.patient_id  # both hers
    session.commit()
    (ready,) = _stream(client, owner)  # no Last-Event-ID: from now on only
    assert ready[1] == "ready" and ready[2] == {"role": "patient"}

    _no_show(client, first, supervisor)
    events = _stream(client, owner, ready[0])
    assert [(name, data["kind"], data["order_id"]) for _, name, data in events[1:]] == [
        ("notification", "visit_no_show", first.id)]

    _no_show(client, second, supervisor)
    resumed = _stream(client, owner, events[-1][0])  # reconnect: only what was missed
    assert [data["order_id"] for _, name, data in resumed[1:]] == [second.id]
    # From the start again: both, in order.
    replayed = _stream(client, owner, "n0")
    assert [data["order_id"] for _, _, data in replayed[1:]] == [first.id, second.id]


def test_another_owner_sees_nothing_of_it(client, session, committed_visit, supervisor):
    order = committed_visit("assigned")
    stranger = UserFactory(role="patient")
    session.commit()
    _no_show(client, order, supervisor)
    assert [name for _, name, _ in _stream(client, stranger, "n0")] == ["ready"]


def test_a_nurse_gets_her_offers_and_not_anothers(client, session, org, item, supervisor,
                                                  nurse, nurse_user):
    ShiftFactory(nurse_id=nurse.id)
    bystander = NurseFactory(organization_id=org.id)  # not on shift: no offer
    order = booked_order(org, status="submitted", item=item)
    session.commit()
    r = client.post(f"{API}/orders/{order.id}/approve", headers=auth(supervisor), json={})
    assert r.status_code == 200 and r.get_json()["status"] == "offered", r.get_json()
    events = _stream(client, nurse_user, "n0")
    assert [(d["kind"], d["order_id"]) for _, _, d in events[1:]] == [("offer", order.id)]
    assert "patient_name" not in events[1][2]["payload"]
    assert len(_stream(client, session.get(User, bystander.user_id), "n0")) == 1


def test_a_supervisor_sees_her_organizations_board_and_alerts_sos_first(
        client, session, committed_visit, supervisor, org, other_org):
    order = committed_visit("assigned")
    late = AlertFactory(organization_id=org.id, kind="late", order_id=order.id)
    sos = AlertFactory(organization_id=org.id, kind="sos", severity="critical",
                       order_id=order.id)
    AlertFactory(organization_id=other_org.id, kind="sos")
    stranger = UserFactory(role="supervisor", organization_id=other_org.id)
    session.commit()
    (ready,) = _stream(client, supervisor)
    assert ready[0].startswith("a") and ready[2] == {"role": "supervisor"}
    _no_show(client, order, supervisor)
    events = _stream(client, supervisor, "a0.e0.n0")
    names = [(name, data.get("id") or data.get("to_status")) for _, name, data in events[1:]]
    assert names[:3] == [("alert", sos.id), ("alert", late.id), ("order", "no_show")]
    assert all(name != "notification" for name, _ in names)  # she did it herself
    # The other organization's supervisor sees none of it.
    theirs = _stream(client, stranger, "a0.e0.n0")
    assert [(name, data["kind"]) for _, name, data in theirs[1:]] == [("alert", "sos")]
    # Resuming from the last id sends nothing twice.
    assert len(_stream(client, supervisor, events[-1][0])) == 1


@pytest.mark.parametrize("bad", ["x1", "n1.n2.a3.e4", "n-1", "n1;e2"])
def test_a_last_event_id_this_stream_never_sent_is_422(client, patient, bad):
    r = client.get(f"{API}/events/stream", headers={**auth(patient), "Last-Event-ID": bad})
    assert_problem(r, 422, "bad_last_event_id")


def test_without_a_token_it_is_401(client):
    assert_problem(client.get(f"{API}/events/stream"), 401)


def test_a_stream_is_bounded_and_keeps_the_connection_alive(app, client, patient,
                                                            monkeypatch):
    monkeypatch.setitem(app.config, "HOMECARE", replace(
        app.config["HOMECARE"], events_stream_seconds=0.3, events_poll_seconds=0.1))
    r = client.get(f"{API}/events/stream", headers=auth(patient))
    text = r.get_data(as_text=True)  # returns: the stream closed by itself
    assert text.startswith("retry: 3000\n") and text.count(": keep-alive") >= 2


def test_a_client_cut_off_after_an_sos_sent_first_misses_no_alert(client, session, org,
                                                                  supervisor):
    late = AlertFactory(organization_id=org.id, kind="late")
    sos = AlertFactory(organization_id=org.id, kind="sos", severity="critical")
    session.commit()
    events = _stream(client, supervisor, "a0.e0.n0")
    assert [data["id"] for _, _, data in events[1:]] == [sos.id, late.id]
    # Reconnecting from the SOS's id (before the late alert arrived) still brings it.
    again = _stream(client, supervisor, events[1][0])
    assert late.id in [data["id"] for _, _, data in again[1:]]

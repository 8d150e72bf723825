"""GET /family-beds/{id}/record: the episode's record in time order, who may read it, and
the printable page, on a controlled clock."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa

from conftest import assert_problem
from homecare.audit.models import AuditEntry
from homecare.dispatch.service import expire_offers
from homecare.orders.models import Order
from homecare.visits.models import CareRecord
from tests.factories import NurseFactory, UserFactory, auth
from tests.family_beds.conftest import API, TODAY, complete_visit, line, local, post_bed, user_of

VITALS = {"bp_systolic": 132, "bp_diastolic": 84, "pulse": 76}


@pytest.fixture
def episode(client, session, clock, supervisor, org, fixed_body, item):
    """An episode with a history: opened, its plan changed, a visit done with its care
    record, a visit missed (an alert), closed with a summary."""
    bed = post_bed(client, supervisor, fixed_body)
    nurse = NurseFactory(organization_id=org.id)
    done = session.get(Order, bed["visits"][0]["order_id"])
    complete_visit(session, done, nurse)
    out = done.checked_out_at
    # Procedures as check-out stores them: name, and whether the item lists it.
    session.add(CareRecord(order_id=done.id, nurse_id=nurse.id, vitals=VITALS,
                           procedures=[{"name": "blood_pressure", "listed": True},
                                       {"name": "wound check", "listed": False}],
                           notes="血压平稳 <b>良好</b>", recorded_at=out))
    session.commit()
    expire_offers(session=session, now=local(TODAY + timedelta(days=1), 16, 1),
                  config=_config(client))
    clock.now = local(TODAY + timedelta(days=1), 18)
    client.patch(f"{API}/family-beds/{bed['id']}",
                 json={"plan": [line(item, [1, 3, 5], "14:00", "16:00")],
                       "responsible_nurse_id": nurse.id},
                 headers=auth(supervisor))
    clock.now = local(TODAY + timedelta(days=1), 19)
    client.post(f"{API}/family-beds/{bed['id']}/close", headers=auth(supervisor),
                json={"reason": "improved", "summary": "血压控制良好，转社区随访"})
    return {"id": bed["id"], "done": done.id, "missed": bed["visits"][1]["order_id"],
            "nurse": nurse}


def _record(client, user, bed_id, **headers):
    return client.get(f"{API}/family-beds/{bed_id}/record", headers={**auth(user), **headers})


def test_record_is_the_episode_in_time_order(client, supervisor, episode):
    r = _record(client, supervisor, episode["id"])
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    entries = body["entries"]
    assert [e["at"] for e in entries] == sorted(e["at"] for e in entries)
    kinds = [e["kind"] for e in entries]
    assert kinds[:2] == ["opened", "plan"] and kinds[-1] == "closed"
    assert [e["data"]["plan_version"] for e in entries if e["kind"] == "plan"] == [1, 2]
    visits = {e["visit"]["order_id"]: e["visit"] for e in entries if e["kind"] == "visit"}
    done = visits[episode["done"]]
    assert done["status"] == "completed" and done["care_record"]["vitals"] == VITALS
    assert [p["name"] for p in done["care_record"]["procedures"]] == [
        "blood_pressure", "wound check"]
    assert visits[episode["missed"]]["status"] == "expired"
    [alert] = [e["alert"] for e in entries if e["kind"] == "alert"
               and e["alert"]["kind"] == "family_bed_risk"]
    assert alert["order_id"] == episode["missed"]
    assert entries[-1]["data"]["summary"] == "血压控制良好，转社区随访"
    assert [v["order_id"] for v in body["vitals"]] == [episode["done"]]
    # Moments inside the entries are ISO 8601 with an offset, dates YYYY-MM-DD.
    for moment in (done["window_start"], done["window_end"], done["checked_in_at"],
                   done["checked_out_at"], done["care_record"]["recorded_at"],
                   body["vitals"][0]["at"]):
        assert datetime.fromisoformat(moment).utcoffset() is not None, moment
    assert date.fromisoformat(done["service_date"])
    assert any(e["kind"] == "event" and e["data"]["event"] == "visits_changed"
               for e in entries)


def test_record_for_the_supervisor_masks_the_phone_and_is_logged(client, session, supervisor,
                                                                 recipient, episode):
    body = _record(client, supervisor, episode["id"]).get_json()
    assert body["patient"]["masked"] is True
    assert body["patient"]["phone"] != recipient.phone and "****" in body["patient"]["phone"]
    assert session.scalar(sa.select(AuditEntry.detail).where(
        AuditEntry.action == "patient.read", AuditEntry.actor_id == supervisor.id)
        .order_by(AuditEntry.id.desc()))["part"] == "family_bed_record"


def test_record_for_the_owner_shows_her_numbers(client, patient, recipient, episode):
    r = _record(client, patient, episode["id"])
    assert r.status_code == 200, r.get_json()
    assert (r.get_json()["patient"]["masked"], r.get_json()["patient"]["phone"]) == (
        False, recipient.phone)


def test_record_of_another_organization_is_404(client, other_supervisor, episode):
    assert_problem(_record(client, other_supervisor, episode["id"]), 404,
                   "family_bed_not_found")


def test_record_of_another_owners_recipient_is_404(client, session, episode):
    stranger = UserFactory(role="patient")
    session.commit()
    assert_problem(_record(client, stranger, episode["id"]), 404, "family_bed_not_found")


def test_record_for_a_nurse_is_403(client, session, episode):
    assert_problem(_record(client, user_of(session, episode["nurse"]),
                           episode["id"]), 403, "forbidden")


def test_record_of_an_unknown_episode_is_404(client, clock, supervisor):
    assert_problem(_record(client, supervisor, 999999), 404, "family_bed_not_found")


def test_record_as_html_is_a_printable_page(client, session, supervisor, episode):
    r = _record(client, supervisor, episode["id"], Accept="text/html")
    assert r.status_code == 200 and r.mimetype == "text/html"
    page = r.get_data(as_text=True)
    assert page.startswith("<!DOCTYPE html>") and "@media print" in page
    assert "血压控制良好，转社区随访" in page and "bp_systolic 132" in page
    assert "<script" not in page
    assert "Procedures: blood_pressure, wound check" in page
    name = user_of(session, episode["nurse"]).name
    assert f"<th>Responsible nurse</th><td>{name}</td>" in page


def test_record_as_html_escapes_what_people_typed(client, session, clock, supervisor, episode):
    from homecare.family_beds.models import FamilyBed

    session.get(FamilyBed, episode["id"]).diagnosis = "<script>alert(1)</script>"
    session.commit()
    page = _record(client, supervisor, episode["id"], Accept="text/html").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;良好&lt;/b&gt;" in page  # the nurse's note, as text


def test_record_prefers_json_when_the_client_accepts_anything(client, supervisor, episode):
    r = _record(client, supervisor, episode["id"], Accept="*/*")
    assert r.mimetype == "application/json"


def _config(client):
    return client.application.config["HOMECARE"]

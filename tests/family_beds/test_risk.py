"""Risk control and the end date kept, on a controlled clock: alerts on the episode for a
visit not made, two missed in a row critical, the nightly close and pre-end alert, and
``deceased``."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import sqlalchemy as sa

from homecare.dispatch.service import expire_offers
from homecare.family_beds.risk import keep_end_dates
from homecare.notifications.models import Notification
from homecare.orders.models import Order
from homecare.orders.states import transition
from jobs import generate_family_bed_visits
from tests.factories import NurseFactory, auth
from tests.family_beds.conftest import (
    API,
    TODAY,
    actor_of,
    complete_visit,
    local,
    post_bed,
    user_of,
)


def _alerts(client, supervisor, kind) -> list[dict]:
    r = client.get(f"{API}/alerts", query_string={"kind": kind}, headers=auth(supervisor))
    assert r.status_code == 200, r.get_json()
    return sorted(r.get_json(), key=lambda a: a["id"])


def _night(days: int):
    """01:00 local, ``days`` after TODAY: when the nightly job runs."""
    return local(TODAY + timedelta(days=days), 1)


# ---------------------------------------------------------------- visits not made


def test_missed_visit_raises_an_alert_on_the_episode(client, session, clock, supervisor,
                                                     fixed_body, config):
    bed = post_bed(client, supervisor, fixed_body)  # no nurse: nobody takes the visits
    expire_offers(session=session, now=local(TODAY, 16, 1), config=config)
    [alert] = _alerts(client, supervisor, "family_bed_risk")
    first = bed["visits"][0]["order_id"]
    assert (alert["family_bed_id"], alert["order_id"], alert["severity"]) == (
        bed["id"], first, "warning")
    assert "missed" in alert["detail"]


def test_two_missed_visits_in_a_row_escalate_to_critical(client, session, clock, supervisor,
                                                         fixed_body, config):
    bed = post_bed(client, supervisor, fixed_body)
    expire_offers(session=session, now=local(TODAY, 16, 1), config=config)
    expire_offers(session=session, now=local(TODAY + timedelta(days=1), 16, 1), config=config)
    alerts = _alerts(client, supervisor, "family_bed_risk")
    assert [(a["order_id"], a["severity"]) for a in alerts] == [
        (bed["visits"][0]["order_id"], "warning"), (bed["visits"][1]["order_id"], "critical")]
    paged = session.scalars(sa.select(Notification.urgent).where(
        Notification.user_id == supervisor.id, Notification.kind == "alert_family_bed_risk"))
    assert list(paged) == [True]
    counts = client.get(f"{API}/family-beds/{bed['id']}",
                        headers=auth(supervisor)).get_json()["visit_counts"]
    assert (counts["missed"], counts["done"], counts["planned"]) == (2, 0, 6)


def test_a_done_visit_between_two_missed_breaks_the_run(client, session, clock, supervisor, org,
                                                        fixed_body, config):
    bed = post_bed(client, supervisor, fixed_body)
    expire_offers(session=session, now=local(TODAY, 16, 1), config=config)
    nurse = NurseFactory(organization_id=org.id)
    second = session.get(Order, bed["visits"][1]["order_id"])
    complete_visit(session, second, nurse)
    expire_offers(session=session, now=local(TODAY + timedelta(days=2), 16, 1), config=config)
    alerts = _alerts(client, supervisor, "family_bed_risk")
    assert [a["severity"] for a in alerts] == ["warning", "warning"]
    got = client.get(f"{API}/family-beds/{bed['id']}", headers=auth(supervisor)).get_json()
    assert got["last_round_on"] == (TODAY + timedelta(days=1)).isoformat()
    assert (got["visit_counts"]["done"], got["visit_counts"]["missed"]) == (1, 2)


def test_visit_cancelled_by_the_service_raises_an_alert(client, session, clock, supervisor,
                                                        fixed_body):
    bed = post_bed(client, supervisor, fixed_body)
    order_id = bed["visits"][2]["order_id"]
    r = client.post(f"{API}/orders/{order_id}/cancel", json={"reason": "护士不足"},
                    headers=auth(supervisor))
    assert r.status_code == 200, r.get_json()
    [alert] = _alerts(client, supervisor, "family_bed_risk")
    assert (alert["order_id"], alert["severity"]) == (order_id, "high")
    assert "护士不足" in alert["detail"]


def test_visit_cancelled_by_the_family_raises_no_alert(client, clock, supervisor, patient,
                                                       fixed_body):
    bed = post_bed(client, supervisor, fixed_body)
    r = client.post(f"{API}/orders/{bed['visits'][2]['order_id']}/cancel",
                    json={"reason": "回老家"}, headers=auth(patient))
    assert r.status_code == 200, r.get_json()
    assert _alerts(client, supervisor, "family_bed_risk") == []


def test_visit_cancelled_at_the_familys_request_raises_no_alert(client, session, clock,
                                                               supervisor, fixed_body):
    # The supervisor cancels for the family (charged to it as the family's own): not
    # the service failing the episode.
    bed = post_bed(client, supervisor, fixed_body)
    order_id = bed["visits"][2]["order_id"]
    r = client.post(f"{API}/orders/{order_id}/cancel", headers=auth(supervisor),
                    json={"reason": "家属电话取消", "requested_by_family": True})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["cancellation_rule"] != "by_service"
    assert _alerts(client, supervisor, "family_bed_risk") == []


def test_visits_cancelled_by_a_plan_change_raise_no_alert(client, clock, supervisor,
                                                          fixed_body):
    bed = post_bed(client, supervisor, fixed_body)
    r = client.patch(f"{API}/family-beds/{bed['id']}",
                     json={"end_date": (TODAY + timedelta(days=2)).isoformat()},
                     headers=auth(supervisor))
    assert r.get_json()["changes"]["cancelled"]
    assert _alerts(client, supervisor, "family_bed_risk") == []


def test_no_show_raises_an_alert_on_the_episode(client, session, clock, supervisor, org,
                                                fixed_body):
    bed = post_bed(client, supervisor, fixed_body)
    order = session.get(Order, bed["visits"][0]["order_id"])
    transition(session, order, "assigned", actor=None, now=clock.now,
               nurse_id=NurseFactory(organization_id=org.id).id)
    transition(session, order, "no_show", actor=actor_of(supervisor), now=clock.now,
               reason="家中无人")
    session.commit()
    [alert] = _alerts(client, supervisor, "family_bed_risk")
    assert (alert["order_id"], alert["severity"]) == (order.id, "high")


# ---------------------------------------------------------------- the end date kept


def test_nightly_job_alerts_the_supervisor_three_days_before_the_end(
        app, client, clock, supervisor, fixed_body):
    fixed_body["end_date"] = (TODAY + timedelta(days=4)).isoformat()
    bed = post_bed(client, supervisor, fixed_body)
    generate_family_bed_visits.run(app, _night(0))
    assert _alerts(client, supervisor, "family_bed_ending") == []  # four days left
    generate_family_bed_visits.run(app, _night(1))
    generate_family_bed_visits.run(app, _night(2))  # warned once per end date
    [alert] = _alerts(client, supervisor, "family_bed_ending")
    assert (alert["family_bed_id"], alert["status"]) == (bed["id"], "open")
    assert fixed_body["end_date"] in alert["detail"]


def test_pre_end_alert_days_follow_config(client, session, clock, supervisor, fixed_body,
                                          config):
    fixed_body["end_date"] = (TODAY + timedelta(days=6)).isoformat()
    post_bed(client, supervisor, fixed_body)
    keep_end_dates(session=session, now=_night(1), config=config)
    assert _alerts(client, supervisor, "family_bed_ending") == []
    keep_end_dates(session=session, now=_night(1),
                   config=replace(config, family_bed_end_alert_days=5))
    assert len(_alerts(client, supervisor, "family_bed_ending")) == 1


def test_extending_resolves_the_pre_end_alert_and_warns_again_before_the_new_end(
        app, client, clock, supervisor, fixed_body):
    fixed_body["end_date"] = (TODAY + timedelta(days=2)).isoformat()
    bed = post_bed(client, supervisor, fixed_body)
    generate_family_bed_visits.run(app, _night(1))
    clock.now = _night(1)
    client.patch(f"{API}/family-beds/{bed['id']}",
                 json={"end_date": (TODAY + timedelta(days=10)).isoformat()},
                 headers=auth(supervisor))
    [old] = _alerts(client, supervisor, "family_bed_ending")
    assert old["status"] == "resolved"
    generate_family_bed_visits.run(app, _night(8))
    alerts = _alerts(client, supervisor, "family_bed_ending")
    assert [a["status"] for a in alerts] == ["resolved", "open"]


def test_nightly_job_closes_an_episode_past_its_end_date_as_expired(
        app, client, clock, supervisor, fixed_body):
    fixed_body["end_date"] = (TODAY + timedelta(days=2)).isoformat()
    bed = post_bed(client, supervisor, fixed_body)
    generate_family_bed_visits.run(app, _night(2))
    assert client.get(f"{API}/family-beds/{bed['id']}",
                      headers=auth(supervisor)).get_json()["status"] == "open"
    result = generate_family_bed_visits.run(app, _night(3))
    assert result["family_beds_expired"] == 1
    got = client.get(f"{API}/family-beds/{bed['id']}", headers=auth(supervisor)).get_json()
    assert (got["status"], got["close_reason"], got["closed_by"]) == ("closed", "expired", None)
    assert got["closed_at"] is not None and "end date" in got["summary"]
    assert [a["status"] for a in _alerts(client, supervisor, "family_bed_ending")] == [
        "resolved"]
    assert generate_family_bed_visits.run(app, _night(4)).get("family_beds_expired", 0) == 0


# ---------------------------------------------------------------- deceased


def _on_her_way(session, org, bed, clock):
    """A nurse sets off for the episode's first visit: (the order, the nurse)."""
    order = session.get(Order, bed["visits"][0]["order_id"])
    nurse = NurseFactory(organization_id=org.id)
    transition(session, order, "assigned", actor=None, now=clock.now, nurse_id=nurse.id)
    transition(session, order, "en_route", actor=actor_of(user_of(session, nurse)), now=clock.now)
    session.commit()
    return order, nurse


def test_close_deceased_cancels_every_future_visit_and_tells_the_family_nothing(
        client, session, clock, supervisor, patient, org, fixed_body):
    bed = post_bed(client, supervisor, fixed_body)
    order, nurse = _on_her_way(session, org, bed, clock)
    r = client.post(f"{API}/family-beds/{bed['id']}/close", headers=auth(supervisor),
                    json={"reason": "deceased", "summary": "患者于家中安详离世"})
    assert r.status_code == 200, r.get_json()
    assert {v["status"] for v in r.get_json()["visits"]} == {"cancelled"}
    pending = session.scalars(sa.select(Notification).where(
        Notification.user_id == patient.id, Notification.sent_at.is_(None),
        Notification.failed_at.is_(None))).all()
    assert pending == []
    # The nurse on her way is called back at once.
    assert session.scalar(sa.select(Notification.urgent).where(
        Notification.user_id == nurse.user_id, Notification.order_id == order.id,
        Notification.kind == "order_cancelled")) is True


def test_close_improved_keeps_a_nurse_on_her_way_and_tells_the_family(
        client, session, clock, supervisor, patient, org, fixed_body):
    bed = post_bed(client, supervisor, fixed_body)
    order, nurse = _on_her_way(session, org, bed, clock)
    client.post(f"{API}/family-beds/{bed['id']}/close", headers=auth(supervisor),
                json={"reason": "improved", "summary": "病情稳定"})
    assert session.get(Order, order.id).status == "en_route"
    assert session.scalars(sa.select(Notification.id).where(
        Notification.user_id == patient.id, Notification.kind == "order_cancelled",
        Notification.failed_at.is_(None))).all()


def test_close_with_a_reason_outside_the_set_is_422(client, clock, supervisor, fixed_body):
    from conftest import assert_problem

    bed = post_bed(client, supervisor, fixed_body)
    body = assert_problem(client.post(f"{API}/family-beds/{bed['id']}/close",
                                      headers=auth(supervisor),
                                      json={"reason": "好转", "summary": "病情稳定"}),
                          422, "validation_failed")
    assert "reason" in body["errors"]

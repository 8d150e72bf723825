"""/metrics: one content type, and the business and job figures from the database."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client.parser import text_string_to_metric_families

from homecare.clock import utcnow
from homecare.ops.models import SchedulerHeartbeat
from jobs.runs import record_run
from tests.factories import (
    AlertFactory,
    NotificationFactory,
    NurseFactory,
    OfferFactory,
    UserFactory,
    booked_order,
)


def _samples(client) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.get_data(as_text=True))
            for s in family.samples}


def test_metrics_content_type_names_its_charset_once(client):
    content_type = client.get("/metrics").headers["Content-Type"]
    assert content_type.count("charset") == 1
    assert content_type.startswith("text/plain; version=")


def test_an_empty_database_reads_as_zeroes_with_the_database_up(client, session):
    samples = _samples(client)
    assert samples[("homecare_database_up", ())] == 1
    assert samples[("homecare_outbox_backlog", ())] == 0
    assert samples[("homecare_outbox_oldest_undelivered_seconds", ())] == 0
    assert samples[("homecare_scheduler_leaders", ())] == 0
    assert samples[("homecare_scheduler_heartbeat_age_seconds", ())] == -1


def test_business_figures_count_the_live_rows(client, session, org):
    now = utcnow()
    approved = booked_order(org, status="approved")
    booked_order(org, status="approved")
    booked_order(org, status="submitted")
    nurse = NurseFactory(organization_id=org.id)
    OfferFactory(order_id=approved.id, nurse_id=nurse.id, status="accepted",
                 created_at=now - timedelta(seconds=100), responded_at=now - timedelta(seconds=40))
    OfferFactory(order_id=approved.id, nurse_id=NurseFactory(organization_id=org.id).id,
                 status="expired",
                 expires_at=now - timedelta(minutes=1))
    AlertFactory(organization_id=org.id, kind="sos", severity="critical")
    AlertFactory(organization_id=org.id, kind="late")
    AlertFactory(organization_id=org.id, kind="late", status="resolved")
    user = UserFactory(role="patient")
    NotificationFactory(user_id=user.id, created_at=now - timedelta(minutes=10))
    NotificationFactory(user_id=user.id, sent_at=now)
    session.add(SchedulerHeartbeat(holder="a", beat_at=now, started_at=now))
    session.commit()

    samples = _samples(client)
    assert samples[("homecare_orders", (("status", "approved"),))] == 2
    assert samples[("homecare_orders", (("status", "submitted"),))] == 1
    assert samples[("homecare_offers_24h", (("status", "sent"),))] == 2
    assert samples[("homecare_offers_24h", (("status", "accepted"),))] == 1
    assert samples[("homecare_offers_24h", (("status", "expired"),))] == 1
    assert samples[("homecare_offer_time_to_accept_seconds", (("quantile", "0.5"),))] == 60
    sos = ("homecare_alerts_open", (("kind", "sos"), ("severity", "critical"),
                                    ("status", "open")))
    late = ("homecare_alerts_open", (("kind", "late"), ("severity", "warning"),
                                     ("status", "open")))
    assert samples[sos] == 1 and samples[late] == 1
    assert samples[("homecare_outbox_backlog", ())] == 1
    assert samples[("homecare_outbox_oldest_undelivered_seconds", ())] >= 600
    assert samples[("homecare_scheduler_leaders", ())] == 1


def test_sos_alerts_come_first_in_the_exposition(client, session, org):
    AlertFactory(organization_id=org.id, kind="late")
    AlertFactory(organization_id=org.id, kind="sos", severity="critical")
    session.commit()
    text = client.get("/metrics").get_data(as_text=True)
    lines = [line for line in text.splitlines() if line.startswith("homecare_alerts_open{")]
    assert 'kind="sos"' in lines[0]


def test_job_runs_recorded_by_the_jobs_process_are_exposed(client, session):
    started = utcnow() - timedelta(seconds=30)
    record_run(session=session, job_id="expire_offers", started_at=started, duration_s=0.25,
               ok=True)
    record_run(session=session, job_id="expire_offers", started_at=started, duration_s=1.5,
               ok=False)
    samples = _samples(client)
    job = (("job", "expire_offers"),)
    assert samples[("homecare_job_runs_total", job)] == 2
    assert samples[("homecare_job_failures_total", job)] == 1
    assert samples[("homecare_job_last_duration_seconds", job)] == 1.5
    assert samples[("homecare_job_last_success_age_seconds", job)] >= 30


def test_the_grafana_dashboard_reads_only_metrics_that_exist(client, session):
    import json
    import re
    from pathlib import Path

    record_run(session=session, job_id="heartbeat", started_at=utcnow(), duration_s=0.1,
               ok=False)
    client.get("/health")  # an HTTP sample, so its histogram has lines
    exposed = client.get("/metrics").get_data(as_text=True)
    dashboard = json.loads((Path(__file__).resolve().parents[2] / "deploy"
                            / "grafana-dashboard.json").read_text())
    names = {name for panel in dashboard["panels"] for target in panel["targets"]
             for name in re.findall(r"homecare_[a-z0-9_]+", target["expr"])}
    assert len(names) >= 15
    for name in names:
        assert re.search(rf"^(# TYPE )?{name}\b", exposed, re.M), name

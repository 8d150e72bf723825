"""Route tests for the operations endpoints: readiness needs the database and the scheduler."""

from __future__ import annotations

from datetime import timedelta

import pytest

from homecare import create_app
from homecare.clock import utcnow
from homecare.ops.models import SchedulerHeartbeat

BODY_KEYS = {"status", "database", "scheduler", "scheduler_heartbeat_age_s"}


def _beat(session, seconds_ago: float) -> None:
    now = utcnow()
    session.add(SchedulerHeartbeat(holder="test-scheduler", beat_at=now - timedelta(
        seconds=seconds_ago), started_at=now - timedelta(hours=1)))
    session.commit()


def test_ready_with_database_and_a_fresh_heartbeat_is_200(client, session):
    _beat(session, 1)
    r = client.get("/ready")
    assert r.status_code == 200
    body = r.get_json()
    assert set(body) == BODY_KEYS
    assert (body["status"], body["database"], body["scheduler"]) == ("ok", "ok", "ok")
    assert 0 <= body["scheduler_heartbeat_age_s"] < 60


def test_ready_without_any_heartbeat_is_503(client, session):
    r = client.get("/ready")
    assert r.status_code == 503
    assert r.get_json() == {"status": "unavailable", "database": "ok", "scheduler": "missing",
                            "scheduler_heartbeat_age_s": None}


def test_ready_with_a_stale_heartbeat_is_503(client, session, config):
    _beat(session, config.scheduler_stale_seconds + 30)
    r = client.get("/ready")
    assert r.status_code == 503
    body = r.get_json()
    assert (body["status"], body["scheduler"]) == ("unavailable", "stale")
    assert body["scheduler_heartbeat_age_s"] > config.scheduler_stale_seconds


@pytest.fixture
def unreachable_app(app_overrides, tmp_path):
    # A database file in a folder that does not exist: SQLite cannot open it.
    return create_app({**app_overrides,
                       "database_url": f"sqlite:///{tmp_path / 'missing' / 'homecare.db'}"})


def test_ready_with_the_database_unreachable_is_503_with_the_same_body(unreachable_app):
    r = unreachable_app.test_client().get("/ready")
    assert r.status_code == 503
    assert r.get_json() == {"status": "unavailable", "database": "unreachable",
                            "scheduler": "unknown", "scheduler_heartbeat_age_s": None}


def test_health_answers_whatever_the_scheduler(client):
    assert client.get("/health").get_json() == {"status": "ok"}

"""The heartbeat job: proves the scheduler alive for /ready, and stands down a leader
that lost its lock."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from homecare.clock import utcnow
from homecare.ops.models import SchedulerHeartbeat
from jobs import heartbeat
from jobs.leader import Process
from tests.jobs.conftest import HeldLock


def _beats(session) -> list[SchedulerHeartbeat]:
    return list(session.scalars(sa.select(SchedulerHeartbeat)
                                .execution_options(populate_existing=True)))


def test_heartbeat_writes_one_row_per_scheduler_and_moves_it(app, session):
    process = Process(leadership=HeldLock())
    first = utcnow()
    heartbeat.run(app, first, process=process)
    heartbeat.run(app, first + timedelta(seconds=10), process=process)
    [beat] = _beats(session)
    assert (beat.holder, beat.started_at) == (process.holder, first)
    assert beat.beat_at == first + timedelta(seconds=10)


def test_heartbeat_drops_rows_of_schedulers_gone_for_a_day(app, session):
    now = utcnow()
    session.add(SchedulerHeartbeat(holder="old:1", beat_at=now - timedelta(days=2),
                                   started_at=now - timedelta(days=3)))
    session.commit()
    process = Process(leadership=HeldLock())
    heartbeat.run(app, now, process=process)
    assert [b.holder for b in _beats(session)] == [process.holder]


def test_heartbeat_after_losing_the_lock_stands_down_without_beating(app, session):
    process = Process(leadership=HeldLock(held=False))
    assert heartbeat.run(app, utcnow(), process=process) is False
    assert process.lost.is_set()
    assert _beats(session) == []


def test_ready_reports_a_fresh_heartbeat(app, client):
    heartbeat.run(app, utcnow(), process=Process(leadership=HeldLock()))
    body = client.get("/ready").get_json()
    assert body["scheduler"] == "ok"


def test_ready_reports_a_stale_heartbeat(app, client):
    stale = utcnow() - timedelta(seconds=app.config["HOMECARE"].scheduler_stale_seconds + 5)
    heartbeat.run(app, stale, process=Process(leadership=HeldLock()))
    assert client.get("/ready").get_json()["scheduler"] == "stale"

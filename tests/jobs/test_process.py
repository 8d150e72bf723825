"""The scheduler process: leading, standing by, taking over, stopping cleanly.

In-process tests run ``jobs.__main__.run`` in threads on a scratch database; the
last test starts real ``homecare jobs`` processes and kills the leader.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from homecare import create_app
from homecare.accounts.models import Organization
from homecare.accounts.sms import SmsUnavailable
from homecare.alerts.models import Alert
from homecare.audit.models import AuditEntry
from homecare.clock import utcnow
from homecare.config import ConfigError
from homecare.db import db
from homecare.notifications.models import Notification
from homecare.ops.models import SchedulerHeartbeat
from homecare.orders.models import OrderEvent
from jobs.__main__ import run
from jobs.leader import leadership_for
from tests.factories import (
    NurseFactory,
    OfferFactory,
    OrganizationFactory,
    UserFactory,
    booked_order,
)
from tests.helpers import eventually

pytestmark = pytest.mark.wall_clock

# A guard against a hung test, never an assertion about speed. The takeover
# guard is the promise made: a standby takes over within 30 s.
GUARD_SECONDS = 30
FAST = {"scheduler_heartbeat_seconds": 1, "scheduler_standby_poll_seconds": 1,
        "offer_sweep_seconds": 1, "alert_sweep_seconds": 1, "relay_seconds": 1}


def _holders(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(sa.select(SchedulerHeartbeat.holder)
                                       .order_by(SchedulerHeartbeat.beat_at.desc())))


@pytest.fixture
def fast_app(app_overrides, scratch_url):
    app = create_app({**app_overrides, "database_url": scratch_url, **FAST})
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _start(app, leadership):
    stop = threading.Event()
    thread = threading.Thread(target=run, args=(app,),
                              kwargs={"stop": stop, "leadership": leadership}, daemon=True)
    thread.start()
    return stop, thread


def test_an_unknown_sms_provider_stops_the_app_at_start(app_overrides, scratch_url):
    with pytest.raises(ConfigError, match="HOMECARE_SMS_PROVIDER: unknown 'no-such-gateway'"):
        create_app({**app_overrides, "database_url": scratch_url, **FAST,
                    "notify_channels": ["log", "sms"], "sms_provider": "no-such-gateway"})


def test_an_unregistered_sms_provider_stops_the_process_at_start(app_overrides, scratch_url):
    app = create_app({**app_overrides, "database_url": scratch_url, **FAST,
                      "notify_channels": ["log", "sms"]})
    # Past the config's check (a name it knows that no provider is registered for).
    app.config["HOMECARE"] = replace(app.config["HOMECARE"], sms_provider="no-such-gateway")
    stop = threading.Event()
    stop.set()  # without the check at start, run would return at once
    with pytest.raises(SmsUnavailable, match="no-such-gateway"):
        run(app, stop=stop)
    assert _holders(app) == []


def test_run_leads_beats_and_stops_when_asked(fast_app):
    lock = leadership_for(fast_app)
    stop, thread = _start(fast_app, lock)
    try:
        assert eventually(lambda: _holders(fast_app))
    finally:
        stop.set()
        thread.join(GUARD_SECONDS)
    assert not thread.is_alive()
    again = leadership_for(fast_app)
    assert again.try_acquire(), "a stopped scheduler releases the lock"
    again.release()


def test_a_standby_leads_once_the_leader_stops(fast_app):
    first, second = leadership_for(fast_app), leadership_for(fast_app)
    stop_first, thread_first = _start(fast_app, first)
    assert eventually(first.still_held)
    stop_second, thread_second = _start(fast_app, second)
    try:
        assert eventually(lambda: len(_holders(fast_app)) == 1)
        assert second.still_held() is False
        stop_first.set()
        thread_first.join(GUARD_SECONDS)
        assert eventually(lambda: len(_holders(fast_app)) == 2)
        assert second.still_held() is True
    finally:
        stop_first.set()
        stop_second.set()
        thread_first.join(GUARD_SECONDS)
        thread_second.join(GUARD_SECONDS)


@pytest.mark.postgres
def test_a_leader_whose_lock_connection_dies_stands_down_and_leads_again(fast_app):
    lock = leadership_for(fast_app)
    stop, thread = _start(fast_app, lock)
    try:
        assert eventually(lock.still_held)
        first = lock._conn
        backend = first.scalar(sa.text("SELECT pg_backend_pid()"))
        with fast_app.app_context():
            db.session.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
            db.session.commit()
        # The heartbeat notices, the scheduler stands down and takes a fresh lock.
        assert eventually(lambda: lock._conn is not None and lock._conn is not first
                           and lock.still_held())
    finally:
        stop.set()
        thread.join(GUARD_SECONDS)
    assert not thread.is_alive()


# ---------------------------------------------------------------- two real processes


def _seed(app):
    """Work for the sweeps whose result must be applied once: a nurse 40 min late
    (late and no_show alerts, supervisors paged) and an order whose last offer round
    expired (offered -> approved, an unassigned alert)."""
    config = app.config["HOMECARE"]
    now = utcnow()
    with app.app_context():
        org = OrganizationFactory()
        UserFactory(role="supervisor", organization_id=org.id)
        nurse = NurseFactory(organization_id=org.id)
        late = booked_order(org, status="en_route", nurse_id=nurse.id, departed_at=now,
                            planned_arrival=now - timedelta(minutes=40),
                            window_start=now - timedelta(minutes=50))
        offered = booked_order(org, status="offered", dispatch_round=config.offer_max_rounds,
                               window_start=now + timedelta(hours=3))
        OfferFactory(order_id=offered.id, nurse_id=nurse.id,
                     expires_at=now - timedelta(minutes=1))
        db.session.commit()
        return {"org": org.id, "nurse": nurse.id, "late": late.id, "offered": offered.id}


def _count(app, stmt) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery()))


def _env(app_overrides, url: str, instance: Path) -> dict[str, str]:
    # Daily jobs at a time far from now: this test is about the sweeps.
    far = (utcnow() + timedelta(hours=12)).astimezone(ZoneInfo("Asia/Shanghai"))
    env = {**os.environ, "HOMECARE_DATABASE_URL": url,
           "HOMECARE_SECRET_KEY": app_overrides["secret_key"],
           "HOMECARE_DATA_KEY": app_overrides["data_key"],
           "HOMECARE_INSTANCE_PATH": str(instance), "HOMECARE_LOG_FORMAT": "text",
           "HOMECARE_LOG_LEVEL": "INFO", "HOMECARE_PLANNING_TIME": far.strftime("%H:%M"),
           "HOMECARE_PURGE_TIME": far.strftime("%H:%M")}
    env.update({f"HOMECARE_{key.upper()}": str(value) for key, value in FAST.items()})
    return env


def _pid_of(holder: str) -> int:
    return int(holder.split(":")[-2])


def test_two_processes_elect_one_leader_and_a_kill_hands_over(fast_app, app_overrides,
                                                              scratch_url, tmp_path):
    ids = _seed(fast_app)
    homecare = str(Path(sys.executable).parent / "homecare")
    env = _env(app_overrides, scratch_url, tmp_path)
    logs = {n: open(tmp_path / f"jobs{n}.log", "w+") for n in (1, 2)}
    procs = {n: subprocess.Popen([homecare, "jobs"], env=env, stdout=logs[n],
                                 stderr=subprocess.STDOUT) for n in (1, 2)}
    by_pid = {p.pid: n for n, p in procs.items()}
    try:
        holder = eventually(lambda: _holders(fast_app))
        assert holder, "no scheduler became the leader"
        leader = by_pid[_pid_of(holder[0])]
        standby = 3 - leader
        # The leader's sweeps ran: each result once.
        assert eventually(lambda: _count(fast_app, sa.select(Alert.id).where(
            Alert.order_id == ids["late"], Alert.kind == "no_show")) == 1)
        assert eventually(lambda: _count(fast_app, sa.select(Alert.id).where(
            Alert.order_id == ids["offered"], Alert.kind == "unassigned")) == 1)
        # The standby polls (every second) without ever beating or sweeping.
        assert eventually(lambda: "standing by" in (tmp_path / f"jobs{standby}.log")
                           .read_text())
        assert {_pid_of(h) for h in _holders(fast_app)} == {procs[leader].pid}

        procs[leader].send_signal(signal.SIGKILL)
        procs[leader].wait(GUARD_SECONDS)
        assert eventually(lambda: procs[standby].pid in {
            _pid_of(h) for h in _holders(fast_app)}), "the standby did not take over"

        # New work proves the new leader sweeps; old work must not be redone.
        with fast_app.app_context():
            org = db.session.get(Organization, ids["org"])
            newer = booked_order(org, status="assigned", nurse_id=ids["nurse"],
                                 planned_arrival=utcnow() - timedelta(minutes=20),
                                 window_start=utcnow() - timedelta(minutes=30)).id
            db.session.commit()
        assert eventually(lambda: _count(fast_app, sa.select(Alert.id).where(
            Alert.order_id == newer, Alert.kind == "late")) == 1)
        for kind in ("late", "no_show"):
            assert _count(fast_app, sa.select(Alert.id).where(
                Alert.order_id == ids["late"], Alert.kind == kind)) == 1
        assert _count(fast_app, sa.select(AuditEntry.id).where(
            AuditEntry.action == "alert.raised",
            AuditEntry.object_id.in_(sa.select(Alert.id).where(
                Alert.order_id == ids["late"])))) == 2
        assert _count(fast_app, sa.select(Notification.id).where(
            Notification.kind == "alert_no_show")) == 1
        assert _count(fast_app, sa.select(OrderEvent.id).where(
            OrderEvent.order_id == ids["offered"], OrderEvent.to_status == "approved")) == 1

        procs[standby].send_signal(signal.SIGTERM)
        assert procs[standby].wait(GUARD_SECONDS) == 0
        assert "stopped" in (tmp_path / f"jobs{standby}.log").read_text()
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for log in logs.values():
            log.close()

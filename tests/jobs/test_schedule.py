"""The job table: every job's options, triggers in local time, and catching up after
downtime."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from homecare.clock import utcnow
from jobs.leader import Process
from jobs.schedule import JOBS, add_jobs, first_run
from tests.helpers import SHANGHAI
from tests.jobs.conftest import HeldLock


def _job(job_id: str):
    return next(job for job in JOBS if job.id == job_id)


def test_every_job_has_an_id_of_its_own():
    ids = [job.id for job in JOBS]
    assert len(ids) == len(set(ids))
    assert {"expire_offers", "sweep_alerts", "relay_notifications", "plan_day",
            "purge_location_traces", "purge_idempotency_keys", "heartbeat",
            "generate_family_bed_visits", "alert_expiring_credentials",
            "purge_auth_records", "repair_days"} == set(ids)


def test_add_jobs_sets_coalesce_one_instance_and_misfire_grace(app):
    scheduler = BlockingScheduler(timezone=SHANGHAI)
    add_jobs(scheduler, app, Process(leadership=HeldLock()), utcnow())
    added = {job.id: job for job in scheduler.get_jobs()}
    assert set(added) == {job.id for job in JOBS}
    for job in JOBS:
        assert added[job.id].coalesce is True
        assert added[job.id].max_instances == 1
        assert added[job.id].misfire_grace_time == job.misfire_grace_s > 0


def test_sweeps_run_at_once_when_a_scheduler_starts(app):
    now = utcnow()
    for job_id in ("expire_offers", "sweep_alerts", "relay_notifications", "heartbeat"):
        job = _job(job_id)
        trigger = job.trigger(app.config["HOMECARE"])
        assert isinstance(trigger, IntervalTrigger)
        assert first_run(job, trigger, now) == now


def test_plan_day_fires_at_the_configured_local_time(app):
    config = replace(app.config["HOMECARE"], planning_time="05:30")
    trigger = _job("plan_day").trigger(config)
    fire = trigger.get_next_fire_time(None, datetime(2030, 5, 7, 1, 0, tzinfo=SHANGHAI))
    assert fire == datetime(2030, 5, 7, 5, 30, tzinfo=SHANGHAI)


def test_family_bed_generation_fires_at_the_configured_local_time(app):
    config = replace(app.config["HOMECARE"], family_bed_generation_time="00:45")
    trigger = _job("generate_family_bed_visits").trigger(config)
    fire = trigger.get_next_fire_time(None, datetime(2030, 5, 7, 0, 0, tzinfo=SHANGHAI))
    assert fire == datetime(2030, 5, 7, 0, 45, tzinfo=SHANGHAI)


def test_family_bed_generation_runs_before_the_morning_plan_by_default(app):
    config = app.config["HOMECARE"]
    night = datetime(2030, 5, 7, 0, 0, tzinfo=SHANGHAI)
    generate = _job("generate_family_bed_visits").trigger(config).get_next_fire_time(None, night)
    plan = _job("plan_day").trigger(config).get_next_fire_time(None, night)
    assert generate == datetime(2030, 5, 7, 1, 0, tzinfo=SHANGHAI) < plan


@pytest.mark.parametrize("local_start, catches_up", [
    (datetime(2030, 5, 7, 5, 0), False),   # before today's run: wait for it
    (datetime(2030, 5, 7, 7, 0), True),    # an hour after a missed run: run now
    (datetime(2030, 5, 7, 10, 0), False),  # past the grace: the next regular run
])
def test_plan_day_missed_during_downtime_runs_within_its_grace(app, local_start, catches_up):
    job = _job("plan_day")
    now = local_start.replace(tzinfo=SHANGHAI)
    started = first_run(job, job.trigger(app.config["HOMECARE"]), now)
    assert (started == now) is catches_up

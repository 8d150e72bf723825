"""THE table of jobs: what runs, on which trigger, and how late it may still run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask

from homecare.config import Config
from jobs import (
    alert_expiring_credentials,
    expire_offers,
    generate_family_bed_visits,
    heartbeat,
    plan_day,
    purge_auth_records,
    purge_idempotency_keys,
    purge_location_traces,
    relay_notifications,
    repair_days,
    sweep_alerts,
)
from jobs.leader import Process
from jobs.runs import recorded


def _every(seconds: Callable[[Config], int]) -> Callable[[Config], BaseTrigger]:
    return lambda config: IntervalTrigger(seconds=seconds(config),
                                          timezone=ZoneInfo(config.timezone))


def _daily_at(hh_mm: Callable[[Config], str]) -> Callable[[Config], BaseTrigger]:
    def trigger(config: Config) -> BaseTrigger:
        hour, minute = (int(part) for part in hh_mm(config).split(":"))
        return CronTrigger(hour=hour, minute=minute, timezone=ZoneInfo(config.timezone))

    return trigger


@dataclass(frozen=True)
class Job:
    """One line of the table.

    ``misfire_grace_s``: how late a run may still start. For the daily jobs it is
    also the catch-up window: a scheduler (re)starting within it after a missed
    run runs the job at once, so downtime at 06:00 does not skip the day's plan.
    Interval sweeps always run at start: a new leader catches up at once.
    """

    id: str
    run: Callable[..., Any]
    trigger: Callable[[Config], BaseTrigger]
    misfire_grace_s: int
    needs_process: bool = False


JOBS: tuple[Job, ...] = (
    Job("heartbeat", heartbeat.run, _every(lambda c: c.scheduler_heartbeat_seconds), 30,
        needs_process=True),
    Job("expire_offers", expire_offers.run, _every(lambda c: c.offer_sweep_seconds), 60),
    Job("sweep_alerts", sweep_alerts.run, _every(lambda c: c.alert_sweep_seconds), 120),
    Job("relay_notifications", relay_notifications.run, _every(lambda c: c.relay_seconds), 60),
    # Repairs are serialised per organization and day by the queue's claim, not by
    # max_instances alone: a second jobs process (a takeover) may claim too.
    Job("repair_days", repair_days.run, _every(lambda c: c.repair_sweep_seconds), 30),
    Job("plan_day", plan_day.run, _daily_at(lambda c: c.planning_time), 3 * 3600),
    Job("purge_location_traces", purge_location_traces.run,
        _daily_at(lambda c: c.purge_time), 12 * 3600),
    Job("purge_idempotency_keys", purge_idempotency_keys.run, _every(lambda _: 3600), 3600),
    Job("purge_auth_records", purge_auth_records.run, _every(lambda _: 3600), 3600),
    # Catching up late is harmless (only missing slots are created) and a night
    # without it leaves the far end of the horizon unbooked, hence the long grace.
    Job("generate_family_bed_visits", generate_family_bed_visits.run,
        _daily_at(lambda c: c.family_bed_generation_time), 12 * 3600),
    # Idempotent (one alert per credential and date), so a late catch-up is harmless.
    Job("alert_expiring_credentials", alert_expiring_credentials.run,
        _daily_at(lambda c: c.credential_check_time), 12 * 3600),
)


def first_run(job: Job, trigger: BaseTrigger, now: datetime) -> datetime | None:
    """When ``job`` should first run in a scheduler starting at ``now``.

    None leaves it to the trigger (the next regular time).
    """
    if isinstance(trigger, IntervalTrigger):
        return now
    missed = trigger.get_next_fire_time(None, now - timedelta(seconds=job.misfire_grace_s))
    if missed is not None and missed <= now:
        return now
    return None


def add_jobs(scheduler: BaseScheduler, app: Flask, process: Process, now: datetime) -> None:
    """Put every job of the table into ``scheduler``."""
    config = app.config["HOMECARE"]
    for job in JOBS:
        trigger = job.trigger(config)
        options: dict[str, Any] = {}
        start = first_run(job, trigger, now)
        if start is not None:
            options["next_run_time"] = start
        scheduler.add_job(recorded(job.id, job.run), trigger=trigger, id=job.id, name=job.id,
                          args=(app,), kwargs={"process": process} if job.needs_process else {},
                          replace_existing=True, coalesce=True, max_instances=1,
                          misfire_grace_time=job.misfire_grace_s, **options)

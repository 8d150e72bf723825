"""The figures an on-call engineer watches, computed from the database at scrape time.

Every API process can answer a scrape with the same numbers: they come from the
database (the jobs process records its runs there, jobs/runs.py), not from one
process's memory. Each query is bounded (recent rows, indexed columns, GROUP BY
to a handful of rows) so a scrape every 15 s stays cheap on a city's database.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import sqlalchemy as sa
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session

from homecare.alerts.models import Alert
from homecare.dispatch.models import Offer
from homecare.notifications.models import Notification
from homecare.ops.models import JobRun, SchedulerHeartbeat
from homecare.orders.models import Order
from homecare.scheduling.models import DayPlan

# Offers and plans are counted over this recent window, orders from yesterday's
# service date on: the live part of each table, not its history.
RECENT = timedelta(hours=24)
# Alerts first by this order on the dashboard: an SOS outranks everything.
_SEVERITY_ORDER = ("critical", "warning", "info")


class BusinessCollector(Collector):
    """A prometheus collector over one session and one ``now`` (one scrape)."""

    def __init__(self, session: Session, now: datetime, stale_after_s: float) -> None:
        self.session, self.now, self.stale_after_s = session, now, stale_after_s

    def collect(self) -> Iterator[Metric]:
        yield from self._orders()
        yield from self._offers()
        yield from self._alerts()
        yield from self._outbox()
        yield from self._jobs()
        yield from self._scheduler()
        yield from self._planner()

    def _orders(self) -> Iterator[Metric]:
        since = (self.now - timedelta(days=1)).date()
        family = GaugeMetricFamily("homecare_orders", "Orders from yesterday's service date on, "
                                   "by status", labels=["status"])
        for status, count in self.session.execute(
                sa.select(Order.status, sa.func.count()).where(Order.service_date >= since)
                .group_by(Order.status)):
            family.add_metric([status], count)
        yield family

    def _offers(self) -> Iterator[Metric]:
        since = self.now - RECENT
        recent = Offer.expires_at >= since
        family = GaugeMetricFamily("homecare_offers_24h", "Offers whose deadline falls in the "
                                   "last 24 h or later, by status (sent = all of them)",
                                   labels=["status"])
        total = 0
        for status, count in self.session.execute(
                sa.select(Offer.status, sa.func.count()).where(recent).group_by(Offer.status)):
            family.add_metric([status], count)
            total += count
        family.add_metric(["sent"], total)
        yield family
        waits = sorted(
            (responded - created).total_seconds() for created, responded in self.session.execute(
                sa.select(Offer.created_at, Offer.responded_at)
                .where(recent, Offer.status == "accepted", Offer.responded_at.is_not(None))))
        accept = GaugeMetricFamily("homecare_offer_time_to_accept_seconds",
                                   "Time from offer to acceptance over the last 24 h",
                                   labels=["quantile"])
        for q in (0.5, 0.9, 0.99):
            if waits:
                accept.add_metric([str(q)], waits[min(len(waits) - 1, int(q * len(waits)))])
        yield accept

    def _alerts(self) -> Iterator[Metric]:
        family = GaugeMetricFamily("homecare_alerts_open", "Alerts not resolved, by kind, "
                                   "severity and status (open or acked)",
                                   labels=["kind", "severity", "status"])
        rows = self.session.execute(
            sa.select(Alert.kind, Alert.severity, Alert.status, sa.func.count())
            .where(Alert.status != "resolved")
            .group_by(Alert.kind, Alert.severity, Alert.status)).all()
        rank = {name: i for i, name in enumerate(_SEVERITY_ORDER)}
        for kind, severity, status, count in sorted(
                rows, key=lambda r: (r[0] != "sos", rank.get(r[1], 9), r[0], r[2])):
            family.add_metric([kind, severity, status], count)
        yield family

    def _outbox(self) -> Iterator[Metric]:
        pending = (Notification.sent_at.is_(None), Notification.failed_at.is_(None))
        count, oldest = self.session.execute(
            sa.select(sa.func.count(), sa.func.min(Notification.created_at))
            .where(*pending)).one()
        yield GaugeMetricFamily("homecare_outbox_backlog", "Notifications not yet delivered "
                                "(nor given up)", value=count)
        yield GaugeMetricFamily("homecare_outbox_oldest_undelivered_seconds",
                                "Age of the oldest undelivered notification (0: none)",
                                value=_age(self.now, oldest))
        dead = self.session.scalar(sa.select(sa.func.count()).where(
            Notification.failed_at >= self.now - RECENT))
        yield GaugeMetricFamily("homecare_outbox_dead_letters_24h",
                                "Notifications given up in the last 24 h", value=dead)

    def _jobs(self) -> Iterator[Metric]:
        success = GaugeMetricFamily("homecare_job_last_success_age_seconds",
                                    "Seconds since each job last succeeded", labels=["job"])
        duration = GaugeMetricFamily("homecare_job_last_duration_seconds",
                                     "Duration of each job's last run", labels=["job"])
        runs = CounterMetricFamily("homecare_job_runs", "Runs of each job", labels=["job"])
        failures = CounterMetricFamily("homecare_job_failures", "Failed runs of each job",
                                       labels=["job"])
        for row in self.session.scalars(sa.select(JobRun).order_by(JobRun.job_id)):
            if row.last_success_at is not None:
                success.add_metric([row.job_id], _age(self.now, row.last_success_at))
            duration.add_metric([row.job_id], row.last_duration_s)
            runs.add_metric([row.job_id], row.runs)
            failures.add_metric([row.job_id], row.failures)
        yield from (success, duration, runs, failures)

    def _scheduler(self) -> Iterator[Metric]:
        beats = list(self.session.scalars(sa.select(SchedulerHeartbeat.beat_at)))
        live = [b for b in beats if _age(self.now, b) <= self.stale_after_s]
        yield GaugeMetricFamily("homecare_scheduler_leaders", "Schedulers whose heartbeat is "
                                "fresh: 1 is right, 0 means no jobs run", value=len(live))
        yield GaugeMetricFamily("homecare_scheduler_heartbeat_age_seconds",
                                "Age of the newest scheduler heartbeat (-1: none)",
                                value=_age(self.now, max(beats)) if beats else -1)

    def _planner(self) -> Iterator[Metric]:
        family = GaugeMetricFamily("homecare_planner_solve_seconds", "Solve time of the newest "
                                   "day plan of the last 24 h, by organization",
                                   labels=["organization_id"])
        newest: dict[int, dict] = {}
        for org, stats in self.session.execute(
                sa.select(DayPlan.organization_id, DayPlan.stats)
                .where(DayPlan.created_at >= self.now - RECENT).order_by(DayPlan.created_at)):
            newest[org] = stats or {}
        for org, stats in sorted(newest.items()):
            if "solve_s" in stats:
                family.add_metric([str(org)], float(stats["solve_s"]))
        yield family


def _age(now: datetime, then: datetime | None) -> float:
    return 0.0 if then is None else max(0.0, round((now - then).total_seconds(), 3))


def business_exposition(config) -> bytes:
    """The collector's figures as Prometheus text; ``homecare_database_up`` says
    whether they could be read (a scrape during an outage is a 200 that says so)."""
    from prometheus_client import CollectorRegistry, generate_latest

    from homecare.clock import utcnow
    from homecare.db import db, reading

    registry = CollectorRegistry()
    up = GaugeMetricFamily("homecare_database_up", "1 when the business figures below "
                           "could be read from the database")
    try:
        with reading():
            registry.register(BusinessCollector(db.session, utcnow(),
                                                config.scheduler_stale_seconds))
            text = generate_latest(registry)
            db.session.rollback()
    except sa.exc.SQLAlchemyError:
        db.session.rollback()
        text = b""
        up.add_metric([], 0)
    else:
        up.add_metric([], 1)
    status = CollectorRegistry()
    status.register(_Fixed([up]))
    return generate_latest(status) + text


class _Fixed(Collector):
    def __init__(self, metrics: list[Metric]) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        return iter(self.metrics)

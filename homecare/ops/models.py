"""Operational state: the scheduler's heartbeat."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from homecare.db import Base


class SchedulerHeartbeat(Base):
    """The jobs process that holds the scheduler lock writes here every few seconds."""

    __tablename__ = "scheduler_heartbeat"

    id: Mapped[int] = mapped_column(primary_key=True)
    holder: Mapped[str] = mapped_column(sa.String(200))
    beat_at: Mapped[datetime]
    started_at: Mapped[datetime]


class JobRun(Base):
    """The last run of each scheduled job, for ``/metrics`` (any API process reads it).

    One row per job id, rewritten after every run by the jobs process that leads.
    """

    __tablename__ = "job_runs"

    job_id: Mapped[str] = mapped_column(sa.String(60), primary_key=True)
    last_started_at: Mapped[datetime]
    last_duration_s: Mapped[float]
    last_success_at: Mapped[datetime | None]
    last_failure_at: Mapped[datetime | None]
    runs: Mapped[int] = mapped_column(default=0)
    failures: Mapped[int] = mapped_column(default=0)

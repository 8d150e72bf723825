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

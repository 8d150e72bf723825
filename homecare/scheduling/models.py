"""Day plans: when an organization's day was planned, by whom, and what came out."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from homecare.clock import utcnow
from homecare.db import Base


class DayPlan(Base):
    """One planning run of an organization's day (the morning plan or a re-plan).

    Every run is kept, newest last: the supervisor sees when the day was last
    planned and what the plan said then, even after nurses have moved on.
    ``result`` holds the routes, unplanned and skipped orders as answered;
    ``created_by`` is None when the service planned on its own (morning job).
    """

    __tablename__ = "day_plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"))
    day: Mapped[date]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    reassign: Mapped[bool] = mapped_column(default=False)
    seed: Mapped[int]
    stats: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    result: Mapped[dict] = mapped_column(sa.JSON, default=dict)

    __table_args__ = (sa.Index("ix_day_plans_org_day", "organization_id", "day"),)

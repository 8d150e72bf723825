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


REPAIR_STATES = ("pending", "running", "done", "failed")


class DayRepair(Base):
    """A repair of an organization's planned day, queued by the changes that call for it
    (``scheduling.repair_queue``) and run by the jobs process.

    At most one row per organization and day is ``pending`` (a partial unique index):
    changes arriving while it waits merge into it (their ``reasons``), which is the
    debounce; a change arriving while a repair of the day is ``running`` starts a new
    pending row, repaired afterwards. Rows are kept once done or failed: the
    supervisor's list of what was repaired and why (``GET /dispatch/plan/repairs``).
    """

    __tablename__ = "day_repairs"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"))
    day: Mapped[date]
    state: Mapped[str] = mapped_column(sa.String(10), default="pending")
    # [{"kind": ..., "order_id"?: ..., "nurse_id"?: ...}], each once, in arrival order.
    reasons: Mapped[list] = mapped_column(sa.JSON, default=list)
    first_change_at: Mapped[datetime]
    last_change_at: Mapped[datetime]
    due_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    day_plan_id: Mapped[int | None] = mapped_column(sa.ForeignKey("day_plans.id"))
    error: Mapped[str | None] = mapped_column(sa.Text)

    __table_args__ = (
        sa.Index("uq_day_repairs_pending", "organization_id", "day", unique=True,
                 sqlite_where=sa.text("state = 'pending'"),
                 postgresql_where=sa.text("state = 'pending'")),
        sa.Index("ix_day_repairs_state_due", "state", "due_at"),
        sa.Index("ix_day_repairs_org_day", "organization_id", "day"),
        sa.CheckConstraint(f"state IN {REPAIR_STATES!r}", name="state"),
    )


class RepairOverrun(Base):
    """A visit found running over its planned end (``scheduling.repair_queue``): noted
    once, so the sweep asks for one repair per overrun, not one a minute."""

    __tablename__ = "repair_overruns"

    order_id: Mapped[int] = mapped_column(sa.ForeignKey("orders.id"), primary_key=True)
    noted_at: Mapped[datetime]

"""Duty spans: one supervisor on duty for her organization from ``start`` to ``end``."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from homecare.clock import utcnow
from homecare.db import Base


class DutySpan(Base):
    """A supervisor on duty over [start, end), stored in UTC. While any span of her
    organization covers a moment, urgent pages at that moment go by SMS to the
    supervisors on duty only (``duty.service.texted_supervisors``)."""

    __tablename__ = "duty_spans"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    start: Mapped[datetime]
    end: Mapped[datetime]
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        sa.Index("ix_duty_spans_org_start", "organization_id", "start"),
        sa.CheckConstraint('"end" > start', name="ordered"),
    )

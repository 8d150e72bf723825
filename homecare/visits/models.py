"""The care record a nurse writes at check-out."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from homecare.clock import utcnow
from homecare.db import Base


class CareRecord(Base):
    """What was done at a visit: vitals, procedures, notes, consumables.

    With the order's service, recipient, nurse, date, place and actual start/end it
    forms the electronic visit record.
    """

    __tablename__ = "care_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("orders.id"), unique=True)
    nurse_id: Mapped[int] = mapped_column(sa.ForeignKey("nurses.id"))
    vitals: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    procedures: Mapped[list] = mapped_column(sa.JSON, default=list)
    notes: Mapped[str | None] = mapped_column(sa.Text)
    consumables: Mapped[list] = mapped_column(sa.JSON, default=list)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class DoorCheck(Base):
    """The door check of one visit (``visits.door``): the family's 6-digit code, issued
    when the nurse sets off, and how (whether) her identity was confirmed."""

    __tablename__ = "door_checks"

    order_id: Mapped[int] = mapped_column(sa.ForeignKey("orders.id"), primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(6))
    issued_at: Mapped[datetime]
    failed_attempts: Mapped[int] = mapped_column(default=0)
    last_failed_at: Mapped[datetime | None]
    # "code": the nurse entered the code the family read out; "family": the family
    # confirmed her in the app. None: not confirmed.
    confirmed_by: Mapped[str | None] = mapped_column(sa.String(10))
    confirmed_at: Mapped[datetime | None]
    # She checked in before anyone confirmed her: flagged on the visit record.
    unverified_check_in: Mapped[bool] = mapped_column(default=False)


class TimeCorrection(Base):
    """A nurse's request to correct a visit's check-in/out times, with a reason.

    The original times are copied here when it is made, so they stay on the record
    after a supervisor approves it and the order's times change.
    """

    __tablename__ = "time_corrections"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("orders.id"), index=True)
    nurse_id: Mapped[int] = mapped_column(sa.ForeignKey("nurses.id"))
    requested_by: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    checked_in_at: Mapped[datetime | None]
    checked_out_at: Mapped[datetime | None]
    original_checked_in_at: Mapped[datetime | None]
    original_checked_out_at: Mapped[datetime | None]
    reason: Mapped[str] = mapped_column(sa.String(500))
    status: Mapped[str] = mapped_column(sa.String(20), default="pending")
    decided_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    decision_note: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

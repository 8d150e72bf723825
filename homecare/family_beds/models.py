"""Family beds (家庭病床): episodes of care at home, their plans and generated visits."""

from __future__ import annotations

from datetime import date, datetime, time

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from homecare.clock import utcnow
from homecare.db import Base

FAMILY_BED_STATUSES = ("open", "closed")
# Why an episode ends (撤床); ``expired`` is also what the nightly job closes with.
CLOSE_REASONS = ("improved", "transferred", "deceased", "expired", "other")


class FamilyBed(Base):
    """An episode opened (建床) by an organization for a care recipient at home.

    Visits are generated from the plan ahead of time (``FamilyBedVisit``). A changed
    plan is a new ``plan_version``: the lines of every version are kept, so the plan's
    history stays readable. Closing (撤床) keeps the row with who closed it, when,
    why and the summary.
    """

    __tablename__ = "family_beds"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"), index=True)
    patient_id: Mapped[int] = mapped_column(sa.ForeignKey("patients.id"), index=True)
    address_id: Mapped[int] = mapped_column(sa.ForeignKey("addresses.id"))
    diagnosis: Mapped[str] = mapped_column(sa.String(500))
    # Local dates (service-area zone), both days included.
    start_date: Mapped[date]
    end_date: Mapped[date]
    status: Mapped[str] = mapped_column(sa.String(20), default="open")
    # 责任护士: generated visits are offered to her first (``family_beds.continuity``).
    responsible_nurse_id: Mapped[int | None] = mapped_column(sa.ForeignKey("nurses.id"))
    plan_version: Mapped[int] = mapped_column(default=1, server_default="1")
    opened_by: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    # None when the service closed it (``expired``: the end date passed).
    closed_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    closed_at: Mapped[datetime | None]
    close_reason: Mapped[str | None] = mapped_column(sa.String(500))
    summary: Mapped[str | None] = mapped_column(sa.String(2000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        # One open episode per recipient: a second 建床 before 撤床 is refused, and
        # the index makes two concurrent openings fail instead of both succeeding.
        sa.Index("uq_family_beds_open_patient", "patient_id", unique=True,
                 postgresql_where=sa.text("status = 'open'"),
                 sqlite_where=sa.text("status = 'open'")),
        sa.Index("ix_family_beds_status_end_date", "status", "end_date"),
    )


class FamilyBedPlanLine(Base):
    """One line of an episode's plan: an item, on which ISO weekdays, in which local window."""

    __tablename__ = "family_bed_plan_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    family_bed_id: Mapped[int] = mapped_column(sa.ForeignKey("family_beds.id"))
    plan_version: Mapped[int] = mapped_column(default=1, server_default="1")
    # 1, 2, ... in the order the plan was given; part of every visit's key.
    line_no: Mapped[int]
    service_code: Mapped[str] = mapped_column(sa.ForeignKey("service_items.code"))
    # ISO weekdays, Monday = 1 ... Sunday = 7.
    weekdays: Mapped[list] = mapped_column(sa.JSON)
    # Local times of day in the service area's zone.
    window_start: Mapped[time]
    window_end: Mapped[time]

    __table_args__ = (sa.UniqueConstraint("family_bed_id", "plan_version", "line_no",
                                          name="uq_family_bed_plan_lines_line"),)


class FamilyBedVisit(Base):
    """The slot key of a generated visit: one per episode, plan line and local date.

    The unique key is what makes generation idempotent: a rerun, a crash halfway
    or two generators at once can never create a second order for a slot. Rows
    are never deleted, so a visit cancelled on its own is not generated again.
    """

    __tablename__ = "family_bed_visits"

    id: Mapped[int] = mapped_column(primary_key=True)
    family_bed_id: Mapped[int] = mapped_column(sa.ForeignKey("family_beds.id"))
    # The plan version and line it belongs to; a visit a new plan keeps moves to it.
    plan_version: Mapped[int] = mapped_column(default=1, server_default="1")
    line_no: Mapped[int]
    service_date: Mapped[date]
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("orders.id"), unique=True)
    # The episode's first round (查床): planned, or added because the plan had
    # no visit within 24 h of the opening (see ``family_beds.service``).
    first_round: Mapped[bool] = mapped_column(default=False)
    # Set when the episode itself cancelled the visit (``plan_changed``, ``end_date``,
    # ``closed``): such a cancellation is no risk to report (``family_beds.risk``).
    withdrawn: Mapped[str | None] = mapped_column(sa.String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (sa.UniqueConstraint("family_bed_id", "plan_version", "line_no",
                                          "service_date", name="uq_family_bed_visits_slot"),)


class FamilyBedEvent(Base):
    """One change of an episode, kept for its record: opened, plan, end date or
    responsible nurse changed, visits cancelled or created, a preferred nurse passed
    over, closed. ``actor_id`` None is the service."""

    __tablename__ = "family_bed_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    family_bed_id: Mapped[int] = mapped_column(sa.ForeignKey("family_beds.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(40))
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    detail: Mapped[dict] = mapped_column(sa.JSON, default=dict)

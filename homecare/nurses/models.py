"""Nurse profiles, their published availability and their location pings."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from homecare.clock import utcnow
from homecare.db import Base


class Nurse(Base):
    """A nurse's dispatch profile: qualification, skills, home base and limits."""

    __tablename__ = "nurses"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), unique=True)
    organization_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"),
                                                 index=True)
    license_no: Mapped[str] = mapped_column(sa.String(40))
    # Credentials (nurses.credentials): dispatch sends her only on dates both cover.
    license_valid_until: Mapped[date | None]
    insurance_no: Mapped[str | None] = mapped_column(sa.String(60))
    insurer: Mapped[str | None] = mapped_column(sa.String(100))
    insurance_valid_until: Mapped[date | None]
    photo_url: Mapped[str | None] = mapped_column(sa.String(500))
    title: Mapped[str] = mapped_column(sa.String(30))
    years_experience: Mapped[int]
    skills: Mapped[list] = mapped_column(sa.JSON, default=list)
    home_lat: Mapped[float]
    home_lng: Mapped[float]
    service_radius_km: Mapped[float] = mapped_column(default=10.0)
    max_visits_per_day: Mapped[int] = mapped_column(default=8)
    active: Mapped[bool] = mapped_column(default=False)
    rating_sum: Mapped[int] = mapped_column(default=0)
    rating_count: Mapped[int] = mapped_column(default=0)
    last_lat: Mapped[float | None]
    last_lng: Mapped[float | None]
    last_ping_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (sa.Index("ix_nurses_home", "home_lat", "home_lng"),)


class Shift(Base):
    """A window in which a nurse is available (irregular off-duty hours are normal)."""

    __tablename__ = "shifts"

    id: Mapped[int] = mapped_column(primary_key=True)
    nurse_id: Mapped[int] = mapped_column(sa.ForeignKey("nurses.id"), index=True)
    start: Mapped[datetime] = mapped_column(index=True)
    end: Mapped[datetime]


class LocationPing(Base):
    """One position report; kept only while working and only for the retention period."""

    __tablename__ = "location_pings"

    id: Mapped[int] = mapped_column(primary_key=True)
    nurse_id: Mapped[int] = mapped_column(sa.ForeignKey("nurses.id"), index=True)
    order_id: Mapped[int | None] = mapped_column(sa.ForeignKey("orders.id"), index=True)
    lat: Mapped[float]
    lng: Mapped[float]
    accuracy_m: Mapped[float | None]
    recorded_at: Mapped[datetime] = mapped_column(index=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Minutes to the address, set on a ping of a nurse on her way that moved her ETA
    # by a minute or more: the family's event stream shows these pings (``eta`` events).
    eta_min: Mapped[float | None]

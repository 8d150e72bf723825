"""Organizations, user accounts and the login attempts that throttling counts."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from homecare.clock import utcnow
from homecare.db import Base

ROLES = ("patient", "nurse", "supervisor", "admin")


class Organization(Base):
    """A licensed institution (hospital, community health centre) that sends nurses."""

    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    center_lat: Mapped[float]
    center_lng: Mapped[float]
    radius_km: Mapped[float]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class User(Base):
    """An account: a patient's family member, a nurse, a supervisor or an admin."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(sa.String(11), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(200))
    name: Mapped[str] = mapped_column(sa.String(100))
    role: Mapped[str] = mapped_column(sa.String(20))
    organization_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("organizations.id"), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (sa.CheckConstraint(
        "role IN ('patient', 'nurse', 'supervisor', 'admin')", name="role"),)


class LoginAttempt(Base):
    """One login attempt counted against a key (an IP's attempts, a phone's failures).

    Kept in the database, not in memory, so that every worker process counts the
    same attempts; a limit counts those of the last window (a sliding window).
    """

    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(120))
    at: Mapped[datetime]

    __table_args__ = (sa.Index("ix_login_attempts_key_at", "key", "at"),)


def _center(org: Organization) -> dict[str, float]:
    return {"lat": org.center_lat, "lng": org.center_lng}


Organization.center = property(_center)  # type: ignore[attr-defined]

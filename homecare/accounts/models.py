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
    # Every token carries the generation it was issued in; changing the password
    # (or resetting it) moves the generation on, and every earlier token stops working.
    token_generation: Mapped[int] = mapped_column(default=0, server_default="0")

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


class RefreshToken(Base):
    """One issued refresh token. Each refresh uses it up and issues the next of the
    same family (one login session); presenting a used one again is the sign of a
    stolen token, and the whole family is revoked."""

    __tablename__ = "refresh_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    jti: Mapped[str] = mapped_column(sa.String(64), unique=True)
    family: Mapped[str] = mapped_column(sa.String(64), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    issued_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class SmsCode(Base):
    """A verification code sent by SMS: kept as a keyed digest, never as sent.

    ``phone_key`` is a keyed digest of the phone (personal data is not kept in the
    clear for a counter), ``ip_key`` of the requesting address.
    """

    __tablename__ = "sms_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone_key: Mapped[str] = mapped_column(sa.String(64))
    ip_key: Mapped[str] = mapped_column(sa.String(64))
    purpose: Mapped[str] = mapped_column(sa.String(20))
    code_hash: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=0)
    used_at: Mapped[datetime | None]

    __table_args__ = (sa.Index("ix_sms_codes_phone_key_created_at", "phone_key", "created_at"),
                      sa.Index("ix_sms_codes_ip_key_created_at", "ip_key", "created_at"))


def _center(org: Organization) -> dict[str, float]:
    return {"lat": org.center_lat, "lng": org.center_lng}


Organization.center = property(_center)  # type: ignore[attr-defined]

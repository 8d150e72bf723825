"""Care recipients (the people nursed at home) and their addresses."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from homecare.clock import utcnow
from homecare.db import Base


class CareRecipient(Base):
    """A person cared for at home, managed by a patient account (e.g. a daughter).

    The identity number is stored encrypted (``id_number_enc``) with a keyed
    digest (``id_number_hash``) for uniqueness, never in clear.
    """

    __tablename__ = "patients"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    gender: Mapped[str] = mapped_column(sa.String(10))
    birth_date: Mapped[date]
    id_number_enc: Mapped[str] = mapped_column(sa.String(300))
    id_number_hash: Mapped[str] = mapped_column(sa.String(64))
    phone: Mapped[str | None] = mapped_column(sa.String(11))
    conditions: Mapped[list] = mapped_column(sa.JSON, default=list)
    allergies: Mapped[list] = mapped_column(sa.JSON, default=list)
    mobility: Mapped[str | None] = mapped_column(sa.String(40))
    eligibility: Mapped[str] = mapped_column(sa.String(40))
    emergency_contact: Mapped[dict | None] = mapped_column(sa.JSON)
    consent: Mapped[bool] = mapped_column(default=False)
    guardian_consent: Mapped[bool] = mapped_column(default=False)
    consent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (sa.UniqueConstraint("owner_id", "id_number_hash",
                                          name="uq_patients_owner_id_number"),)


class Assessment(Base):
    """An organization's first-visit assessment (首诊评估) of a recipient.

    Per organization: each institution vets a person before its own nurses go,
    so an assessment by one hospital does not approve orders at another.
    """

    __tablename__ = "patient_assessments"

    patient_id: Mapped[int] = mapped_column(sa.ForeignKey("patients.id"), primary_key=True)
    organization_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"),
                                                 primary_key=True)
    assessed_at: Mapped[datetime]


class Address(Base):
    """A place where a recipient is visited, stored in WGS-84."""

    __tablename__ = "addresses"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(sa.ForeignKey("patients.id"), index=True)
    label: Mapped[str] = mapped_column(sa.String(50))
    text: Mapped[str] = mapped_column(sa.String(300))
    district: Mapped[str | None] = mapped_column(sa.String(50))
    lat: Mapped[float]
    lng: Mapped[float]
    # The organization whose service area covers the address; None and
    # ``outside_service_area`` when none does (accepted, but not bookable).
    organization_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organizations.id"),
                                                        index=True)
    outside_service_area: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

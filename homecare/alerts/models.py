"""Alerts for the supervisor console: raised once per cause, acked, resolved."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from homecare.clock import utcnow
from homecare.db import Base

ALERT_KINDS = ("sos", "late", "no_show", "overtime", "geofence", "unassigned",
               "credential_expiring", "door_unverified", "family_bed_ending",
               "family_bed_risk", "nurse_unavailable", "repair_failed")


class Alert(Base):
    """Something a supervisor must look at. ``cause`` is unique, so a cause
    (e.g. ``late:order:42``) raises at most one alert however often a sweep runs."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"))
    kind: Mapped[str] = mapped_column(sa.String(20))
    severity: Mapped[str] = mapped_column(sa.String(20), default="warning")
    cause: Mapped[str] = mapped_column(sa.String(120), unique=True)
    order_id: Mapped[int | None] = mapped_column(sa.ForeignKey("orders.id"), index=True)
    nurse_id: Mapped[int | None] = mapped_column(sa.ForeignKey("nurses.id"))
    # The family-bed episode it is about (``family_bed_*`` kinds).
    family_bed_id: Mapped[int | None] = mapped_column(sa.ForeignKey("family_beds.id"),
                                                      index=True)
    status: Mapped[str] = mapped_column(sa.String(20), default="open")
    detail: Mapped[str | None] = mapped_column(sa.String(500))
    lat: Mapped[float | None]
    lng: Mapped[float | None]
    raised_at: Mapped[datetime] = mapped_column(default=utcnow)
    acked_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    acked_at: Mapped[datetime | None]
    resolved_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    resolved_at: Mapped[datetime | None]

    __table_args__ = (sa.Index("ix_alerts_org_status_kind", "organization_id", "status",
                               "kind"),)

    @property
    def position(self) -> dict[str, float] | None:
        """Where it happened (an SOS), for a response's location object."""
        if self.lat is None or self.lng is None:
            return None
        return {"lat": self.lat, "lng": self.lng}

"""An organization's published fee table (收费公示): travel fee, surcharges, cancellation."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from homecare.clock import utcnow
from homecare.db import Base


class FeeTable(Base):
    """One organization's fees on top of the item's price.

    Orders copy the breakdown they were booked with (``Order.price_breakdown``),
    so a change here never reprices a placed order. An organization without a
    row charges no travel fee and no cancellation fee (``pricing.service.DEFAULTS``).
    """

    __tablename__ = "fee_tables"

    organization_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"),
                                                 primary_key=True)
    # Travel fee (上门费): base_fee_fen covers the first included_km of road distance
    # from the institution; each further km costs per_km_fen; the fee stops at cap_fen.
    included_km: Mapped[float] = mapped_column(default=3.0)
    base_fee_fen: Mapped[int] = mapped_column(default=0)
    per_km_fen: Mapped[int] = mapped_column(default=0)
    cap_fen: Mapped[int | None]
    # Night surcharge for a window starting in [night_start, night_end) local time
    # (wrapping past midnight); holiday surcharge on the listed local dates.
    night_surcharge_fen: Mapped[int] = mapped_column(default=0)
    night_start: Mapped[str | None] = mapped_column(sa.String(5))
    night_end: Mapped[str | None] = mapped_column(sa.String(5))
    holiday_surcharge_fen: Mapped[int] = mapped_column(default=0)
    holidays: Mapped[list] = mapped_column(sa.JSON, default=list)
    # Cancellation: free until this long before the window, then the late fee.
    free_cancel_minutes: Mapped[int] = mapped_column(default=240)
    late_cancel_fee_fen: Mapped[int] = mapped_column(default=0)
    version: Mapped[int] = mapped_column(default=1)
    updated_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

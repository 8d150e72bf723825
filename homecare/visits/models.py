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

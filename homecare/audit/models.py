"""The append-only audit trail (全程留痕): who did what to which object, when, from where."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from homecare.clock import utcnow
from homecare.db import Base


class AuditEntry(Base):
    """One action on one object. Never updated or deleted by the service."""

    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    actor_role: Mapped[str] = mapped_column(sa.String(20))
    action: Mapped[str] = mapped_column(sa.String(60))
    object_type: Mapped[str] = mapped_column(sa.String(40))
    object_id: Mapped[int]
    organization_id: Mapped[int | None]
    ip: Mapped[str | None] = mapped_column(sa.String(64))
    detail: Mapped[dict | None] = mapped_column(sa.JSON)

    __table_args__ = (sa.Index("ix_audit_object", "object_type", "object_id"),)


class AuditTrailIsAppendOnly(RuntimeError):
    """Something tried to change or remove an audit entry."""


@sa.event.listens_for(AuditEntry, "before_update")
@sa.event.listens_for(AuditEntry, "before_delete")
def _refuse_change(_mapper, _connection, entry: AuditEntry) -> None:
    # Regulators require the trail (全程留痕) to be complete: the database refuses
    # too (migration 0002), this stops the ORM before it gets that far.
    raise AuditTrailIsAppendOnly(f"audit entry {entry.id} may not be changed or deleted")

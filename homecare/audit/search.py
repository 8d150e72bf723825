"""Searching the audit trail (``GET /audit``). Apart from ``audit.service``, which stays
a leaf: an order's subject takes in its care record, alerts and offers."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from homecare.audit.models import AuditEntry
from homecare.audit.service import record
from homecare.auth import Actor
from homecare.db import atomic
from homecare.orders.trail import about_order


@atomic
def search_trail(*, session: Session, actor: Actor, now: datetime, subject: str | None = None,
                 actor_id: int | None = None, since: datetime | None = None,
                 until: datetime | None = None) -> sa.Select:
    """The trail newest first, filtered (``GET /audit``): a supervisor's organization's
    entries, every entry for an admin. The search is recorded on the trail first.

    ``subject`` is ``type:id``; an order's includes its care record, alerts, offers.
    """
    filters = {"subject": subject, "actor_id": actor_id,
               "since": since.isoformat() if since else None,
               "until": until.isoformat() if until else None}
    object_type, object_id = ("organization", actor.organization_id or 0)
    if subject:
        kind, _, number = subject.partition(":")
        object_type, object_id = kind, int(number)
    record(session, actor=actor, action="audit.read", object_type=object_type,
           object_id=object_id, organization_id=actor.organization_id, now=now,
           detail={k: v for k, v in filters.items() if v is not None})
    session.commit()
    stmt = sa.select(AuditEntry)
    if actor.role != "admin":
        stmt = stmt.where(AuditEntry.organization_id == actor.organization_id)
    if subject:
        stmt = stmt.where(about_order(object_id) if object_type == "order" else sa.and_(
            AuditEntry.object_type == object_type, AuditEntry.object_id == object_id))
    if actor_id is not None:
        stmt = stmt.where(AuditEntry.actor_id == actor_id)
    if since is not None:
        stmt = stmt.where(AuditEntry.at >= since)
    if until is not None:
        stmt = stmt.where(AuditEntry.at < until)
    return stmt.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())

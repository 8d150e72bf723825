"""The audit trail: append an entry; read an object's trail. Never update or delete."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from homecare.audit.models import AuditEntry
from homecare.auth import Actor


def record(session: Session, *, actor: Actor | None, action: str, object_type: str,
           object_id: int, organization_id: int | None, now: datetime,
           detail: dict[str, Any] | None = None) -> AuditEntry:
    """Append who did ``action`` to which object, when and from where (no commit).

    Written in the caller's transaction, so the record exists exactly when the
    change (or the read) it describes does.
    """
    entry = AuditEntry(at=now, actor_id=actor.user_id if actor else None,
                       actor_role=actor.role if actor else "system", action=action,
                       object_type=object_type, object_id=object_id,
                       organization_id=organization_id, ip=actor.ip if actor else None,
                       detail=detail)
    session.add(entry)
    return entry


def list_order_trail(*, session: Session, actor: Actor, order_id: int) -> sa.Select:
    """Everything on record about one order, oldest first: its transitions, the
    reads of its care record, its alerts and offers (``GET /orders/{id}/audit``).

    :raises OrderNotFound: (404) no such order in the caller's organization.
    """
    from homecare.orders.service import get_order_for

    order = get_order_for(session=session, actor=actor, order_id=order_id)
    return (sa.select(AuditEntry).where(_about_order(order.id))
            .order_by(AuditEntry.at, AuditEntry.id))


def _about_order(order_id: int) -> sa.ColumnElement[bool]:
    from homecare.alerts.models import Alert
    from homecare.dispatch.models import Offer
    from homecare.visits.models import CareRecord

    order = order_id
    return sa.or_(
        sa.and_(AuditEntry.object_type == "order", AuditEntry.object_id == order),
        sa.and_(AuditEntry.object_type == "care_record", AuditEntry.object_id.in_(
            sa.select(CareRecord.id).where(CareRecord.order_id == order))),
        sa.and_(AuditEntry.object_type == "alert", AuditEntry.object_id.in_(
            sa.select(Alert.id).where(Alert.order_id == order))),
        sa.and_(AuditEntry.object_type == "offer", AuditEntry.object_id.in_(
            sa.select(Offer.id).where(Offer.order_id == order))))


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
        stmt = stmt.where(_about_order(object_id) if object_type == "order" else sa.and_(
            AuditEntry.object_type == object_type, AuditEntry.object_id == object_id))
    if actor_id is not None:
        stmt = stmt.where(AuditEntry.actor_id == actor_id)
    if since is not None:
        stmt = stmt.where(AuditEntry.at >= since)
    if until is not None:
        stmt = stmt.where(AuditEntry.at < until)
    return stmt.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())

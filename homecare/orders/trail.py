"""An order's audit trail: its transitions, the reads of its care record, its alerts
and offers (``GET /orders/{id}/audit``)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from homecare.alerts.models import Alert
from homecare.audit.models import AuditEntry
from homecare.auth import Actor
from homecare.dispatch.models import Offer
from homecare.orders.access import access_order
from homecare.visits.models import CareRecord


def list_order_trail(*, session: Session, actor: Actor, order_id: int) -> sa.Select:
    """Everything on record about one order, oldest first: its transitions, the
    reads of its care record, its alerts and offers (``GET /orders/{id}/audit``).

    :raises OrderNotFound: (404) no such order in the caller's organization.
    """
    order = access_order(session, actor, order_id)
    return (sa.select(AuditEntry).where(about_order(order.id))
            .order_by(AuditEntry.at, AuditEntry.id))


def about_order(order_id: int) -> sa.ColumnElement[bool]:
    """The trail entries about one order: its own, its care record's, its alerts' and
    its offers'."""
    return sa.or_(
        sa.and_(AuditEntry.object_type == "order", AuditEntry.object_id == order_id),
        sa.and_(AuditEntry.object_type == "care_record", AuditEntry.object_id.in_(
            sa.select(CareRecord.id).where(CareRecord.order_id == order_id))),
        sa.and_(AuditEntry.object_type == "alert", AuditEntry.object_id.in_(
            sa.select(Alert.id).where(Alert.order_id == order_id))),
        sa.and_(AuditEntry.object_type == "offer", AuditEntry.object_id.in_(
            sa.select(Offer.id).where(Offer.order_id == order_id))))

"""The live day's fixtures: a pinned morning, and committed visits of ``nurse`` on it."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from homecare.notifications.models import Notification
from homecare.patients.models import CareRecipient
from tests.helpers import local_time

DAY = date(2026, 12, 7)
# 09:00 in Jining: the visits below are an hour or two ahead of this.
NOW = local_time(DAY, 9, 0)


@pytest.fixture
def now(pin_clock):
    pin_clock(NOW)
    return NOW


@pytest.fixture
def committed_visit(session, visit, now):
    """An order of ``nurse`` in ``status``, committed (a refused request rolls the
    session back, which would undo rows the factories only flushed)."""

    def make(status: str = "assigned", **kwargs):
        order = visit(status, **kwargs)
        session.commit()
        return order

    return make


def owner_of(session, order) -> int:
    return session.scalar(sa.select(CareRecipient.owner_id)
                          .where(CareRecipient.id == order.patient_id))


def kinds_for(session, user_id: int, order_id: int) -> list[str]:
    """The notification kinds queued for ``user_id`` about the order, oldest first."""
    return list(session.scalars(sa.select(Notification.kind).where(
        Notification.user_id == user_id, Notification.order_id == order_id)
        .order_by(Notification.id)))

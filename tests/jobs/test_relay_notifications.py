"""The outbox relay job, with a controlled clock and an in-memory channel."""

from __future__ import annotations

from datetime import UTC, datetime

from homecare.notifications.delivery import InMemorySender
from homecare.notifications.models import Notification
from jobs import relay_notifications
from tests.factories import NotificationFactory, UserFactory

NOW = datetime(2030, 5, 7, 2, 0, tzinfo=UTC)


def test_relay_sends_pending_notifications_once(app, session):
    user = UserFactory()
    pending = NotificationFactory(user_id=user.id, kind="alert_sos", urgent=True)
    sender = InMemorySender()
    assert relay_notifications.run(app, NOW, sender=sender) == 1
    assert relay_notifications.run(app, NOW, sender=sender) == 0
    assert [m.id for m in sender.sent] == [pending.id]
    assert session.get(Notification, pending.id, populate_existing=True).sent_at == NOW

"""Notifications in the outbox."""

from __future__ import annotations

import factory

from homecare.clock import utcnow
from homecare.notifications.models import Notification
from tests.factories.base import BaseFactory


class NotificationFactory(BaseFactory):
    """An outbox row for ``user_id`` (pending unless ``sent_at`` is given)."""

    class Meta:
        model = Notification

    user_id = None
    kind = "order_approved"
    urgent = False
    order_id = None
    payload = factory.LazyFunction(dict)
    created_at = factory.LazyFunction(utcnow)

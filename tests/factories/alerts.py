"""Alerts."""

from __future__ import annotations

import factory

from homecare.alerts.models import Alert
from homecare.clock import utcnow
from tests.factories.base import BaseFactory


class AlertFactory(BaseFactory):
    """An open alert of ``organization_id``; each gets a cause of its own."""

    class Meta:
        model = Alert

    organization_id = None
    kind = "late"
    severity = "warning"
    cause = factory.Sequence(lambda n: f"test:alert:{n}")
    order_id = None
    nurse_id = None
    status = "open"
    detail = "raised by a test"
    raised_at = factory.LazyFunction(utcnow)

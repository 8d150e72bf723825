"""Duty spans of supervisors."""

from __future__ import annotations

from datetime import timedelta

import factory

from homecare.clock import utcnow
from homecare.duty.models import DutySpan
from tests.factories.base import BaseFactory


class DutySpanFactory(BaseFactory):
    """``user_id`` on duty for ``organization_id`` from an hour ago for eight hours."""

    class Meta:
        model = DutySpan

    organization_id = None
    user_id = None
    start = factory.LazyFunction(lambda: utcnow() - timedelta(hours=1))
    end = factory.LazyFunction(lambda: utcnow() + timedelta(hours=7))

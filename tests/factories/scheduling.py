"""Stored day plans."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import factory

from homecare.clock import utcnow
from homecare.scheduling.models import DayPlan
from tests.factories.base import BaseFactory


class DayPlanFactory(BaseFactory):
    """A stored day plan (empty result): "this day has been planned"."""

    class Meta:
        model = DayPlan

    organization_id = None
    day = factory.LazyFunction(
        lambda: utcnow().astimezone(ZoneInfo("Asia/Shanghai")).date())
    created_by = None
    reassign = False
    seed = 1
    stats = factory.LazyFunction(dict)
    result = factory.LazyFunction(dict)


# Appended by the orders/notifications issue (#4); kept below so the shared
# header above stays untouched while other domains append too.

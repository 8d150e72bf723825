"""Family beds and their plan lines."""

from __future__ import annotations

from datetime import time, timedelta
from zoneinfo import ZoneInfo

import factory

from homecare.clock import utcnow
from homecare.family_beds.models import FamilyBed, FamilyBedPlanLine
from tests.factories.base import BaseFactory


class FamilyBedFactory(BaseFactory):
    """An open episode of ``organization_id`` for ``patient_id`` at ``address_id``, written
    directly with no plan and no visits (reads start here; openings use the service)."""

    class Meta:
        model = FamilyBed

    organization_id = None
    patient_id = None
    address_id = None
    diagnosis = "脑卒中后遗症，长期卧床"
    start_date = factory.LazyFunction(
        lambda: utcnow().astimezone(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=1))
    end_date = factory.LazyAttribute(lambda o: o.start_date + timedelta(days=29))
    status = "open"
    opened_by = None
    opened_at = factory.LazyFunction(utcnow)


class FamilyBedPlanLineFactory(BaseFactory):
    """Line ``line_no`` of ``family_bed_id``'s plan: every day 09:00-11:00 local."""

    class Meta:
        model = FamilyBedPlanLine

    family_bed_id = None
    line_no = 1
    service_code = None
    weekdays = factory.LazyFunction(lambda: [1, 2, 3, 4, 5, 6, 7])
    window_start = time(9, 0)
    window_end = time(11, 0)

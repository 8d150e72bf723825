"""Nurses and their shifts."""

from __future__ import annotations

from datetime import date, timedelta

import factory

from homecare.clock import utcnow
from homecare.nurses.models import Nurse, Shift
from tests.factories.accounts import UserFactory
from tests.factories.base import BaseFactory


class NurseFactory(BaseFactory):
    class Meta:
        model = Nurse

    user_id = factory.LazyAttribute(
        lambda o: UserFactory(role="nurse", organization_id=o.organization_id).id)
    organization_id = None
    license_no = factory.Sequence(lambda n: f"L2010{n:06d}")
    # Far ahead of any visit a test books: credentials are a dispatch hard filter.
    license_valid_until = date(2099, 12, 31)
    insurance_no = factory.Sequence(lambda n: f"PICC-{n:08d}")
    insurer = "中国人民财产保险"
    insurance_valid_until = date(2099, 12, 31)
    title = "senior_nurse"
    years_experience = 8
    skills = factory.LazyFunction(lambda: ["blood_sampling", "injection", "vital_signs"])
    home_lat = 35.4150
    home_lng = 116.5870
    service_radius_km = 15.0
    max_visits_per_day = 8
    active = True


class ShiftFactory(BaseFactory):
    class Meta:
        model = Shift

    nurse_id = None
    start = factory.LazyFunction(lambda: utcnow() - timedelta(hours=1))
    end = factory.LazyFunction(lambda: utcnow() + timedelta(hours=8))

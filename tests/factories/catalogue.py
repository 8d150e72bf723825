"""Service items."""

from __future__ import annotations

import factory

from homecare.catalogue.models import ServiceItem
from tests.factories.base import BaseFactory


class ServiceItemFactory(BaseFactory):
    class Meta:
        model = ServiceItem

    code = factory.Sequence(lambda n: f"TEST_{n:03d}")
    name_zh = "静脉采血"
    name_en = "Venous blood sampling"
    category = "basic"
    duration_min = 30
    required_skills = factory.LazyFunction(lambda: ["blood_sampling"])
    min_title = "senior_nurse"
    price_fen = 9000
    requires_assessment = False
    procedures = factory.LazyFunction(lambda: ["venipuncture"])
    active = True

"""Care records."""

from __future__ import annotations

import factory

from homecare.clock import utcnow
from homecare.visits.models import CareRecord
from tests.factories.base import BaseFactory


class CareRecordFactory(BaseFactory):
    """The care record of a checked-out ``order_id`` by ``nurse_id``."""

    class Meta:
        model = CareRecord

    order_id = None
    nurse_id = None
    vitals = factory.LazyFunction(lambda: {"systolic_mmhg": 132, "diastolic_mmhg": 84,
                                           "pulse_bpm": 76})
    procedures = factory.LazyFunction(lambda: [{"name": "venipuncture", "listed": True}])
    notes = "采血顺利"
    consumables = factory.LazyFunction(list)
    recorded_at = factory.LazyFunction(utcnow)


# Appended by the family-beds issue.

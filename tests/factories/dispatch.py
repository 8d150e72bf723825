"""Offers."""

from __future__ import annotations

from datetime import timedelta

import factory

from homecare.clock import utcnow
from homecare.dispatch.models import Offer
from tests.factories.base import BaseFactory


class OfferFactory(BaseFactory):
    """An open offer of ``order_id`` to ``nurse_id``."""

    class Meta:
        model = Offer

    order_id = None
    nurse_id = None
    round = 1
    status = "open"
    distance_km = 2.0
    eta_min = 8.0
    score = 0.9
    expires_at = factory.LazyFunction(lambda: utcnow() + timedelta(minutes=5))


# Appended by the visits/alerts/audit/jobs issue (#7).

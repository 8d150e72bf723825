"""Pricing fixtures: an item (the recipient, address and ``make_order`` are the shared
orders fixtures, ``tests.fixtures.orders``), a fixed clock, and a maker of fee tables."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from homecare.pricing.models import FeeTable
from tests.factories import ServiceItemFactory
from tests.helpers import API  # noqa: F401  (re-exported to test modules)

# 10:00 on a Tuesday in Shanghai.
NOW = datetime(2030, 5, 7, 2, 0, tzinfo=UTC)


@pytest.fixture
def item(session):
    """A 120-yuan visit of an hour, the price the fees are added to."""
    return ServiceItemFactory(price_fen=12000, duration_min=60)


@pytest.fixture
def clock(pin_clock):
    """The clock every route and service sees, stopped at NOW."""
    pin_clock(NOW)
    return NOW


@pytest.fixture
def fee_table(session, org):
    """Publish ``org``'s fee table (keyword arguments override the test defaults)."""

    def make(**values) -> FeeTable:
        defaults = {"included_km": 3.0, "base_fee_fen": 3000, "per_km_fen": 300,
                    "cap_fen": None, "free_cancel_minutes": 240, "late_cancel_fee_fen": 2000}
        table = FeeTable(organization_id=org.id, version=1, **{**defaults, **values})
        session.add(table)
        session.commit()
        return table

    return make

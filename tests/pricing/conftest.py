"""Pricing fixtures: the orders fixtures (recipient, address, item, make_order), a
fixed clock for the routes, and a maker of fee tables."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from homecare.pricing.models import FeeTable
from tests.orders.conftest import (  # noqa: F401  (fixtures re-exported to this package)
    address,
    item,
    make_order,
    recipient,
)

API = "/api/v1"
# 10:00 on a Tuesday in Shanghai.
NOW = datetime(2030, 5, 7, 2, 0, tzinfo=UTC)


@pytest.fixture
def clock(monkeypatch):
    """The routes' clock, stopped at NOW."""
    for module in ("orders", "pricing", "visits"):
        monkeypatch.setattr(f"homecare.{module}.routes.utcnow", lambda: NOW)
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

"""Visit fixtures: a nurse of ``org``, an item with its procedures, and orders
assigned to her in any status at a Jining address."""

from __future__ import annotations

from datetime import timedelta

import pytest

from homecare.accounts.models import User
from homecare.clock import utcnow
from homecare.geo import Point
from homecare.patients.models import Address
from tests.factories import (
    NurseFactory,
    ServiceItemFactory,
    actor_of,  # noqa: F401  (re-exported to test modules)
    booked_order,
)
from tests.jobs.conftest import scratch_app, scratch_url  # noqa: F401

API = "/api/v1"


@pytest.fixture
def item(session):
    return ServiceItemFactory(duration_min=60, procedures=["venipuncture", "vital_signs"])


@pytest.fixture
def other_nurse_user(session, org):
    other = NurseFactory(organization_id=org.id)
    return session.get(User, other.user_id)


@pytest.fixture
def visit(org, nurse, item):
    """Make an order of ``nurse`` in ``status`` (assigned unless told)."""

    def make(status: str = "assigned", **kwargs):
        kwargs.setdefault("planned_arrival", utcnow() + timedelta(minutes=30))
        return booked_order(org, status=status, item=item, nurse_id=nurse.id, **kwargs)

    return make


def address_of(session, order) -> Point:
    address = session.get(Address, order.address_id)
    return Point(address.lat, address.lng)


def north_of(point: Point, metres: float) -> Point:
    # One degree of latitude is ~111 km everywhere: close enough for a test offset.
    return Point(point.lat + metres / 111_000, point.lng)

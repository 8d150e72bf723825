"""Visit fixtures: a nurse of ``org``, an item with its procedures, and orders
assigned to her in any status at a Jining address."""

from __future__ import annotations

import pytest

from homecare.accounts.models import User
from homecare.geo import Point
from homecare.patients.models import Address
from tests.factories import (
    NurseFactory,
    actor_of,  # noqa: F401  (re-exported to test modules)
)


@pytest.fixture
def other_nurse_user(session, org):
    other = NurseFactory(organization_id=org.id)
    return session.get(User, other.user_id)


def address_of(session, order) -> Point:
    address = session.get(Address, order.address_id)
    return Point(address.lat, address.lng)


def north_of(point: Point, metres: float) -> Point:
    # One degree of latitude is ~111 km everywhere: close enough for a test offset.
    return Point(point.lat + metres / 111_000, point.lng)

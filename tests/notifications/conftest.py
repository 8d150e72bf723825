"""Notifications fixtures: an order with its owner, a nurse and the fake channel."""

from __future__ import annotations

import pytest

from homecare.accounts.models import User
from homecare.notifications.delivery import InMemorySender
from homecare.patients.models import CareRecipient
from tests.factories import (
    actor_of,  # noqa: F401  (re-exported to test modules)
    booked_order,
)


@pytest.fixture
def sender():
    return InMemorySender()


@pytest.fixture
def order(org):
    return booked_order(org, status="approved")


@pytest.fixture
def owner(session, order):
    return session.get(User, session.get(CareRecipient, order.patient_id).owner_id)

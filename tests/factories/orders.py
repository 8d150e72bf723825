"""Orders, and an order booked for a new recipient."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import factory

from homecare.clock import utcnow
from homecare.orders.models import Order
from tests.factories.accounts import UserFactory
from tests.factories.base import BaseFactory
from tests.factories.catalogue import ServiceItemFactory
from tests.factories.patients import AddressFactory, CareRecipientFactory


class OrderFactory(BaseFactory):
    """An order in any status, written directly (tests of later stages start here)."""

    class Meta:
        model = Order

    organization_id = None
    patient_id = None
    address_id = None
    booked_by = None
    service_code = None
    duration_min = 30
    price_fen = 9000
    window_start = factory.LazyFunction(lambda: utcnow() + timedelta(hours=2))
    window_end = factory.LazyAttribute(lambda o: o.window_start + timedelta(hours=2))
    service_date = factory.LazyAttribute(
        lambda o: o.window_start.astimezone(ZoneInfo("Asia/Shanghai")).date())
    status = "approved"


def booked_order(org, *, status: str = "approved", item=None, **kwargs) -> Order:
    """An order for a new recipient at a Jining address of ``org``, in ``status``."""
    owner = UserFactory(role="patient")
    recipient = CareRecipientFactory(owner_id=owner.id)
    address = AddressFactory(patient_id=recipient.id, organization_id=org.id)
    item = item or ServiceItemFactory()
    return OrderFactory(organization_id=org.id, patient_id=recipient.id, address_id=address.id,
                        booked_by=owner.id, service_code=item.code,
                        duration_min=item.duration_min, price_fen=item.price_fen,
                        status=status, **kwargs)

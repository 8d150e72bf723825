"""Test data, one module per domain; everything is importable from here as well.

Default times are relative to ``homecare.clock.utcnow``, the injected clock, never to
the wall clock: the root conftest pins it for every test (``fixed_clock``, 10:00 in
Shanghai on ``tests.helpers.NOW``; ``pin_clock`` for another instant), so a shift
"from an hour ago for eight hours" or a window "in two hours" is the same at any hour
CI runs. Only tests marked ``wall_clock`` (processes on the real clock) see real time,
and they set the times that matter to them."""

from __future__ import annotations

from tests.factories.accounts import (
    OrganizationFactory,
    UserFactory,
    actor_of,
    auth,
    sms_code,
)
from tests.factories.alerts import AlertFactory
from tests.factories.base import PASSWORD, BaseFactory
from tests.factories.catalogue import ServiceItemFactory
from tests.factories.dispatch import OfferFactory
from tests.factories.duty import DutySpanFactory
from tests.factories.family_beds import FamilyBedFactory, FamilyBedPlanLineFactory
from tests.factories.notifications import NotificationFactory
from tests.factories.nurses import NurseFactory, ShiftFactory
from tests.factories.orders import OrderFactory, booked_order
from tests.factories.patients import AddressFactory, CareRecipientFactory, unassess
from tests.factories.scheduling import DayPlanFactory
from tests.factories.visits import CareRecordFactory

__all__ = [
    "AddressFactory",
    "AlertFactory",
    "BaseFactory",
    "CareRecipientFactory",
    "CareRecordFactory",
    "DayPlanFactory",
    "DutySpanFactory",
    "FamilyBedFactory",
    "FamilyBedPlanLineFactory",
    "NotificationFactory",
    "NurseFactory",
    "OfferFactory",
    "OrderFactory",
    "OrganizationFactory",
    "PASSWORD",
    "ServiceItemFactory",
    "ShiftFactory",
    "UserFactory",
    "actor_of",
    "auth",
    "booked_order",
    "sms_code",
    "unassess",
]

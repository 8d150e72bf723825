"""Orders fixtures: a patient's assessed recipient at a served address, a nurse, an
item, valid visit windows and a maker of orders in any status.

Fixtures that tests build requests on commit what they made: a refused request
rolls the session back, and with the per-test savepoint that would also undo
data only flushed by the factories.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from homecare.clock import utcnow
from tests.factories import (  # noqa: F401  (actor_of is re-exported to test modules)
    AddressFactory,
    CareRecipientFactory,
    OrderFactory,
    ServiceItemFactory,
    UserFactory,
    actor_of,
)
from tests.helpers import SHANGHAI


def local_window(days: int = 1, hour: int = 10, minutes: int = 120,
                 now: datetime | None = None) -> tuple[datetime, datetime]:
    """A window starting at ``hour`` local time ``days`` after today (Asia/Shanghai)."""
    today = (now or utcnow()).astimezone(SHANGHAI).date()
    start = datetime(today.year, today.month, today.day, hour, tzinfo=SHANGHAI) + timedelta(
        days=days)
    return start, start + timedelta(minutes=minutes)


@pytest.fixture
def item(session):
    return ServiceItemFactory(price_fen=12000, duration_min=60)


@pytest.fixture
def other_supervisor(other_org):
    return UserFactory(role="supervisor", organization_id=other_org.id)


@pytest.fixture
def order_body(session, recipient, address, item):
    session.commit()
    start, end = local_window()
    return {"patient_id": recipient.id, "address_id": address.id, "service_code": item.code,
            "window_start": start.isoformat(), "window_end": end.isoformat(),
            "notes": "请带血压计"}

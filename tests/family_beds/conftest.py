"""Family-bed fixtures: a served recipient and address, items, a fixed clock, a maker of
episodes through the service, and a request body for the routes.

Fixtures that requests are built on commit what they made: a refused request rolls
the session back, which would otherwise also undo data the factories only flushed.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from homecare.family_beds import service
from tests.factories import (  # noqa: F401  (actor_of is re-exported to test modules)
    AddressFactory,
    CareRecipientFactory,
    NurseFactory,
    ServiceItemFactory,
    ShiftFactory,
    UserFactory,
    actor_of,
)
from tests.family_beds.helpers import (  # noqa: F401  (re-exported to test modules)
    EVERY_DAY,
    NOW,
    TODAY,
    line,
    local,
    local_tomorrow,
    service_line,
)


@pytest.fixture
def item(session):
    return ServiceItemFactory(code="FB_VITALS", duration_min=30, price_fen=6000,
                              required_skills=["vital_signs"])


@pytest.fixture
def second_item(session):
    return ServiceItemFactory(code="FB_DRESSING", duration_min=60, price_fen=9000,
                              required_skills=["blood_sampling"])


@pytest.fixture
def recipient(patient):
    return CareRecipientFactory(owner_id=patient.id)


@pytest.fixture
def address(org, recipient):
    return AddressFactory(patient_id=recipient.id, organization_id=org.id)


@pytest.fixture
def other_supervisor(other_org):
    return UserFactory(role="supervisor", organization_id=other_org.id)


@pytest.fixture
def open_bed(session, supervisor, recipient, address, item, config):
    """Open an episode through the service at ``now`` (default the fixed clock)."""
    session.commit()

    def open_(plan=None, *, start_date: date = TODAY, end_date: date | None = None,
              now: datetime = NOW, cfg=None, **kwargs) -> dict:
        given = {"patient_id": recipient.id, "address_id": address.id,
                 "diagnosis": "脑梗后遗症，长期卧床", **kwargs}
        return service.open_family_bed(
            session=session, actor=actor_of(supervisor), start_date=start_date,
            end_date=end_date or start_date + timedelta(days=29),
            plan=plan or [service_line(item)], now=now, config=cfg or config, **given)

    return open_


@pytest.fixture
def bed_body(session, recipient, address, item):
    """A valid POST /family-beds body: from local tomorrow, every day 09:00-11:00."""
    session.commit()
    start = local_tomorrow()
    return {"patient_id": recipient.id, "address_id": address.id,
            "diagnosis": "脑梗后遗症，长期卧床", "start_date": start.isoformat(),
            "end_date": (start + timedelta(days=29)).isoformat(), "plan": [line(item)]}


@pytest.fixture
def on_shift_nurse(session, org):
    """A qualified nurse of ``org`` (vital signs) on shift all of the fixed clock's day."""
    nurse = NurseFactory(organization_id=org.id)
    ShiftFactory(nurse_id=nurse.id, start=local(TODAY, 7), end=local(TODAY, 21))
    session.commit()
    return nurse

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
from tests.helpers import API  # noqa: F401  (re-exported to test modules)


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


class Clock:
    """The routes' clock: fixed at ``NOW`` until a test moves it."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(pin_clock):
    """A controlled clock for every route a family-bed test calls (no wall clock)."""
    fixed = Clock()
    pin_clock(fixed)
    return fixed


@pytest.fixture
def fixed_body(session, recipient, address, item):
    """A POST /family-beds body for the fixed clock: from today (Tuesday 2030-05-07) for
    30 days, every day 14:00-16:00, whose windows all lie ahead of ``NOW``."""
    session.commit()
    return {"patient_id": recipient.id, "address_id": address.id,
            "diagnosis": "脑梗后遗症，长期卧床", "start_date": TODAY.isoformat(),
            "end_date": (TODAY + timedelta(days=29)).isoformat(),
            "plan": [line(item, start="14:00", end="16:00")]}


def nurse_on_shift(session, org, *days: date):
    """A qualified nurse of ``org`` on shift 07:00-21:00 local on each of ``days``."""
    nurse = NurseFactory(organization_id=org.id)
    for day in days:
        ShiftFactory(nurse_id=nurse.id, start=local(day, 7), end=local(day, 21))
    session.commit()
    return nurse


def post_bed(client, supervisor, body) -> dict:
    """Open an episode through the API; it must succeed."""
    from tests.factories import auth

    r = client.post(f"{API}/family-beds", json=body, headers=auth(supervisor))
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def user_of(session, nurse):
    from homecare.accounts.models import User

    return session.get(User, nurse.user_id)


def complete_visit(session, order, nurse) -> None:
    """``nurse`` does the visit in its window, through the state machine (40 minutes)."""
    import sqlalchemy as sa

    from homecare.dispatch.models import Offer
    from homecare.orders.states import transition

    # As accepting would: her offers and the others' end.
    session.execute(sa.update(Offer).where(Offer.order_id == order.id).values(status="withdrawn"))
    at = order.window_start
    transition(session, order, "assigned", actor=None, now=at, nurse_id=nurse.id)
    as_nurse = actor_of(user_of(session, nurse))
    transition(session, order, "en_route", actor=as_nurse, now=at)
    transition(session, order, "in_service", actor=as_nurse, now=at, checked_in_at=at)
    out = at + timedelta(minutes=40)
    transition(session, order, "completed", actor=as_nurse, now=out, checked_out_at=out)
    session.commit()

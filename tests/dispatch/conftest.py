"""Dispatch fixtures: an item, an approved order in Jining, and makers of nurses and offers.

Nurses are qualified, on shift from an hour ago for eight hours, and live at the
organization's centre, about 0.85 km from the order's address, unless a test
says otherwise. Fixtures commit what they made (a savepoint release inside the
per-test transaction): a refused request rolls its own session back, which
would otherwise also undo data the factories only flushed.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from homecare.accounts.models import User
from homecare.clock import utcnow
from homecare.dispatch.models import Offer
from homecare.nurses.models import Nurse
from tests.factories import (  # noqa: F401  (actor_of is re-exported to test modules)
    NurseFactory,
    ServiceItemFactory,
    ShiftFactory,
    UserFactory,
    actor_of,
    booked_order,
)


@pytest.fixture
def item(session):
    item = ServiceItemFactory(required_skills=["blood_sampling"], min_title="senior_nurse",
                              duration_min=30, price_fen=9000)
    session.commit()
    return item


@pytest.fixture
def make_nurse(session, org):
    """A qualified nurse of ``org`` on shift now (``shift=False``: no shift at all)."""

    def make(shift: bool = True, organization=None, **kwargs) -> Nurse:
        nurse = NurseFactory(organization_id=(organization or org).id, **kwargs)
        if shift:
            ShiftFactory(nurse_id=nurse.id)
        session.commit()
        return nurse

    return make


@pytest.fixture
def make_order(session, org, item):
    """An order of ``org`` for a new recipient, window from 2 h to 4 h from now."""

    def make(status: str = "approved", **kwargs):
        order = booked_order(org, status=status, item=kwargs.pop("item", item), **kwargs)
        session.commit()
        return order

    return make


@pytest.fixture
def order(make_order):
    return make_order()


@pytest.fixture
def nurse(make_nurse):
    return make_nurse()


@pytest.fixture
def nurse_user(session, nurse):
    return session.get(User, nurse.user_id)


@pytest.fixture
def make_offer(session):
    """An open offer of ``order`` to ``nurse``, due in five minutes unless told."""

    def make(order, nurse, *, status: str = "open", expires_in: timedelta | None = None,
             round: int = 1) -> Offer:
        offer = Offer(order_id=order.id, nurse_id=nurse.id, round=round, status=status,
                      distance_km=1.1, eta_min=3.4, score=0.8,
                      expires_at=utcnow() + (expires_in or timedelta(minutes=5)))
        session.add(offer)
        session.commit()
        return offer

    return make


@pytest.fixture
def other_supervisor(other_org):
    return UserFactory(role="supervisor", organization_id=other_org.id)

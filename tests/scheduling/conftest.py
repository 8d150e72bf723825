"""Fixtures for day-planning tests: a fixed day in Jining, nurses with shifts, orders."""

from __future__ import annotations

from dataclasses import replace

import pytest

from homecare.auth import Actor
from tests.factories import (
    AddressFactory,
    CareRecipientFactory,
    NurseFactory,
    OrderFactory,
    ServiceItemFactory,
    ShiftFactory,
    UserFactory,
)
from tests.scheduling.helpers import CENTER, DAY, MORNING, ZONE, local, place  # noqa: F401


@pytest.fixture
def config(app):
    # A small iteration budget: the days here are tiny, and tests stay fast.
    return replace(app.config["HOMECARE"], planning_iterations=300, planning_seconds=60.0)


@pytest.fixture
def supervisor_actor(supervisor):
    return Actor(user_id=supervisor.id, role="supervisor",
                 organization_id=supervisor.organization_id)


@pytest.fixture
def make_nurse(org):
    """A qualified, active nurse of ``org`` (unless told otherwise) with shifts on DAY."""

    def make(*, organization=None, home=CENTER, shifts=((8, 18),), day=DAY, **kwargs):
        nurse = NurseFactory(organization_id=(organization or org).id, home_lat=home[0],
                             home_lng=home[1], **kwargs)
        for start, end in shifts:
            ShiftFactory(nurse_id=nurse.id, start=local(start, day), end=local(end, day))
        return nurse

    return make


@pytest.fixture
def make_order(org):
    """An order of ``org`` on DAY for a new recipient at ``where``, window in local hours."""

    def make(*, organization=None, status="approved", window=(9, 11), where=CENTER,
             item=None, nurse=None, day=DAY, **kwargs):
        organization = organization or org
        owner = UserFactory(role="patient")
        recipient = CareRecipientFactory(owner_id=owner.id)
        address = AddressFactory(patient_id=recipient.id, organization_id=organization.id,
                                 lat=where[0], lng=where[1])
        item = item or ServiceItemFactory()
        return OrderFactory(organization_id=organization.id, patient_id=recipient.id,
                            address_id=address.id, booked_by=owner.id, service_code=item.code,
                            duration_min=item.duration_min, price_fen=item.price_fen,
                            status=status, window_start=local(window[0], day),
                            window_end=local(window[1], day),
                            nurse_id=nurse.id if nurse is not None else None, **kwargs)

    return make


@pytest.fixture
def run_plan(session, org, config):
    """Plan ``org``'s DAY as the morning job would, unless told otherwise."""
    from homecare.scheduling.service import plan_day

    def run(**kwargs):
        kwargs.setdefault("actor", None)
        kwargs.setdefault("organization_id", org.id)
        kwargs.setdefault("day", DAY)
        kwargs.setdefault("now", MORNING)
        kwargs.setdefault("config", config)
        return plan_day(session=session, **kwargs)

    return run

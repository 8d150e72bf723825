"""Planning against real concurrent connections (PostgreSQL): no lock held while solving."""

from __future__ import annotations

from dataclasses import replace

import pytest
import sqlalchemy as sa

from homecare import create_app
from homecare.auth import Actor
from homecare.db import db
from homecare.orders.models import Order
from homecare.orders.states import transition
from homecare.scheduling import service
from tests.factories import (
    AddressFactory,
    CareRecipientFactory,
    NurseFactory,
    OrderFactory,
    OrganizationFactory,
    ServiceItemFactory,
    ShiftFactory,
    UserFactory,
)
from tests.helpers import clean_up_city
from tests.scheduling.helpers import DAY, MORNING, local


@pytest.fixture
def committed_app(app, app_overrides):
    # ``app`` has migrated the database; this second app's sessions are bound
    # to the engine, so its commits are real and other connections see them.
    return create_app(app_overrides)


def _order(org, item, owner, window):
    recipient = CareRecipientFactory(owner_id=owner.id)
    address = AddressFactory(patient_id=recipient.id, organization_id=org.id)
    return OrderFactory(organization_id=org.id, patient_id=recipient.id, address_id=address.id,
                        booked_by=owner.id, service_code=item.code, duration_min=30,
                        price_fen=item.price_fen, window_start=local(window[0]),
                        window_end=local(window[1]))


@pytest.mark.postgres
def test_plan_day_lets_others_write_while_solving_and_skips_what_they_changed(
        committed_app, monkeypatch):
    config = replace(committed_app.config["HOMECARE"], planning_iterations=300)
    with committed_app.app_context():
        org = OrganizationFactory()
        item = ServiceItemFactory()
        supervisor = UserFactory(role="supervisor", organization_id=org.id)
        owner = UserFactory(role="patient")
        nurse = NurseFactory(organization_id=org.id)
        ShiftFactory(nurse_id=nurse.id, start=local(8), end=local(18))
        kept = _order(org, item, owner, (9, 11))
        cancelled = _order(org, item, owner, (13, 15))
        db.session.commit()
        org_id, item_code = org.id, item.code
        actor = Actor(user_id=supervisor.id, role="supervisor", organization_id=org.id)
        solve = service.planner.plan

        def solve_while_the_family_cancels(*args, **kwargs):
            # Another request on its own connection: it must not wait for the planner.
            with committed_app.app_context():
                other = db.session
                other.execute(sa.text("SET LOCAL lock_timeout = '2s'"))
                order = other.get(Order, cancelled.id)
                transition(other, order, "cancelled", actor=actor, now=MORNING,
                           reason="family called")
                other.commit()
            return solve(*args, **kwargs)

        monkeypatch.setattr(service.planner, "plan", solve_while_the_family_cancels)
        try:
            result = service.plan_day(session=db.session, actor=actor, day=DAY, now=MORNING,
                                      config=config)
            assert result["skipped"] == [{"order_id": cancelled.id, "status": "cancelled"}]
            statuses = dict(db.session.execute(sa.select(Order.id, Order.status).where(
                Order.id.in_([kept.id, cancelled.id]))).all())
            assert statuses == {kept.id: "assigned", cancelled.id: "cancelled"}
        finally:
            clean_up_city(org_id, item_code)

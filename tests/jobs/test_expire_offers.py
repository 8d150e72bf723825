"""The offer-deadline sweep job, with a controlled clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from homecare.alerts.models import Alert
from homecare.dispatch.models import Offer
from homecare.orders.models import Order, OrderEvent
from jobs import expire_offers
from tests.factories import NurseFactory, OfferFactory, booked_order

NOW = datetime(2030, 5, 7, 2, 0, tzinfo=UTC)


def _last_round(app, org):
    nurse = NurseFactory(organization_id=org.id)
    order = booked_order(org, status="offered", window_start=NOW + timedelta(hours=3),
                         dispatch_round=app.config["HOMECARE"].offer_max_rounds)
    offer = OfferFactory(order_id=order.id, nurse_id=nurse.id,
                         expires_at=NOW - timedelta(minutes=1))
    return order, offer


def test_expire_offers_ends_the_last_round_and_alerts_once(app, session, org):
    order, offer = _last_round(app, org)
    result = expire_offers.run(app, NOW)
    assert result["offers_expired"] == 1
    assert session.get(Offer, offer.id, populate_existing=True).status == "expired"
    assert session.get(Order, order.id, populate_existing=True).status == "approved"
    assert session.scalars(sa.select(Alert.kind).where(Alert.order_id == order.id)).all() == [
        "unassigned"]


def test_expire_offers_run_twice_applies_its_result_once(app, session, org):
    order, _ = _last_round(app, org)
    expire_offers.run(app, NOW)
    second = expire_offers.run(app, NOW + timedelta(seconds=10))
    assert not second.get("offers_expired") and not second.get("stopped")
    assert session.scalar(sa.select(sa.func.count()).select_from(OrderEvent).where(
        OrderEvent.order_id == order.id, OrderEvent.to_status == "approved")) == 1


def test_expire_offers_before_the_deadline_changes_nothing(app, session, org):
    _, offer = _last_round(app, org)
    expire_offers.run(app, NOW - timedelta(minutes=2))
    assert session.get(Offer, offer.id, populate_existing=True).status == "open"

"""Service tests for the audit trail: what an order's trail holds, and that nothing
can change or remove an entry."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from homecare.alerts.service import raise_alert
from homecare.audit import service
from homecare.audit.models import AuditEntry, AuditTrailIsAppendOnly
from homecare.clock import utcnow
from homecare.orders import trail
from homecare.orders.errors import OrderNotFound
from homecare.visits import service as visits
from tests.audit.conftest import actor_of
from tests.factories import CareRecordFactory, OfferFactory, UserFactory, booked_order


def _trail(session, actor, order_id) -> list[AuditEntry]:
    return list(session.scalars(trail.list_order_trail(session=session, actor=actor,
                                                         order_id=order_id)))


def test_record_keeps_who_what_when_and_where(session, org, supervisor):
    from homecare.auth import Actor

    actor = Actor(user_id=supervisor.id, role="supervisor", organization_id=org.id,
                  ip="10.1.2.3")
    now = utcnow()
    entry = service.record(session, actor=actor, action="patient.read", object_type="patient",
                           object_id=7, organization_id=org.id, now=now)
    session.flush()
    assert (entry.actor_id, entry.actor_role, entry.ip, entry.at) == (
        supervisor.id, "supervisor", "10.1.2.3", now)


def test_order_trail_holds_transitions_reads_alerts_and_offers(session, visit, nurse,
                                                                nurse_user, supervisor, org,
                                                                config):
    order = visit("en_route", departed_at=utcnow())
    now = utcnow()
    visits.check_in(session=session, actor=actor_of(nurse_user), order_id=order.id,
                    lat=35.5, lng=116.58, now=now, config=config)
    visits.check_out(session=session, actor=actor_of(nurse_user), order_id=order.id,
                     lat=35.41, lng=116.58, procedures=["venipuncture"],
                     now=now + timedelta(minutes=40))
    visits.read_care_record(session=session, actor=actor_of(supervisor), order_id=order.id,
                            now=now + timedelta(minutes=41))
    offer = OfferFactory(order_id=order.id, nurse_id=nurse.id)
    service.record(session, actor=None, action="offer.expired", object_type="offer",
                   object_id=offer.id, organization_id=org.id, now=now)
    actions = [e.action for e in _trail(session, actor_of(supervisor), order.id)]
    assert actions.count("order.in_service") == 1 and "order.completed" in actions
    assert {"alert.raised", "care_record.read", "offer.expired"} <= set(actions)


def test_order_trail_leaves_out_other_orders(session, visit, supervisor, org):
    mine, other = visit("assigned"), visit("assigned")
    raise_alert(session, kind="late", cause=f"late:order:{other.id}", organization_id=org.id,
                now=utcnow(), order_id=other.id)
    service.record(session, actor=None, action="order.assigned", object_type="order",
                   object_id=other.id, organization_id=org.id, now=utcnow())
    CareRecordFactory(order_id=other.id, nurse_id=other.nurse_id)
    assert _trail(session, actor_of(supervisor), mine.id) == []


def test_order_trail_of_another_organization_is_order_not_found(session, other_org, org):
    order = booked_order(org)
    stranger = UserFactory(role="supervisor", organization_id=other_org.id)
    with pytest.raises(OrderNotFound):
        trail.list_order_trail(session=session, actor=actor_of(stranger), order_id=order.id)


@pytest.fixture
def entry(session, org):
    made = service.record(session, actor=None, action="order.approved", object_type="order",
                          object_id=1, organization_id=org.id, now=utcnow())
    session.flush()
    return made


def test_database_refuses_to_update_an_audit_entry(session, entry):
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):
        with session.begin_nested():
            session.execute(sa.text("UPDATE audit_entries SET action = 'x' WHERE id = :id"),
                            {"id": entry.id})
    assert session.scalar(sa.select(AuditEntry.action).where(AuditEntry.id == entry.id)) == (
        "order.approved")


def test_database_refuses_to_delete_an_audit_entry(session, entry):
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):
        with session.begin_nested():
            session.execute(sa.text("DELETE FROM audit_entries WHERE id = :id"),
                            {"id": entry.id})
    assert session.get(AuditEntry, entry.id) is not None


def test_orm_refuses_to_change_an_audit_entry(session, entry):
    entry.action = "order.rejected"
    with pytest.raises(AuditTrailIsAppendOnly):
        session.flush()


def test_orm_refuses_to_delete_an_audit_entry(session, entry):
    session.delete(entry)
    with pytest.raises(AuditTrailIsAppendOnly):
        session.flush()

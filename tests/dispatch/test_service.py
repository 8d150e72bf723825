"""Dispatch services: rounds of offers, accept once, decline, assign, the deadline sweep."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from homecare.accounts.models import User
from homecare.alerts.models import Alert
from homecare.alerts.service import resolve_alert
from homecare.audit.models import AuditEntry
from homecare.clock import utcnow
from homecare.dispatch import offers as nurse_offers
from homecare.dispatch import rounds, service
from homecare.dispatch.models import Offer
from homecare.dispatch.rounds import offer_minutes
from homecare.notifications.models import Notification
from homecare.nurses.models import Nurse
from homecare.orders.models import Order, OrderEvent
from homecare.orders.states import HOLDS_NURSE, transition
from homecare.patients.models import CareRecipient
from tests.dispatch.conftest import actor_of
from tests.factories import NurseFactory, ShiftFactory

# A fixed clock: 2030-05-07 10:00 in Shanghai.
NOW = datetime(2030, 5, 7, 2, 0, tzinfo=UTC)


def _offers(session, order):
    session.expire_all()
    return list(session.scalars(sa.select(Offer).where(Offer.order_id == order.id)
                                .order_by(Offer.id)))


def _reload(session, order):
    session.expire_all()
    return session.get(Order, order.id)


def _user(session, nurse):
    return session.get(User, nurse.user_id)


def _unassigned_alert(session, order):
    return session.scalar(sa.select(Alert).where(Alert.order_id == order.id,
                                                 Alert.kind == "unassigned"))


# ---------------------------------------------------------------- start_dispatch


def test_start_dispatch_offers_the_best_k_nurses(session, order, make_nurse, config):
    near = [make_nurse(home_lat=35.4100 + d, home_lng=116.5800) for d in (0.001, 0.01, 0.02)]
    far = make_nurse(home_lat=35.4100 + 0.05, home_lng=116.5800)
    now = utcnow()
    offers = service.start_dispatch(session=session, order=order, now=now, config=config)
    assert [o.nurse_id for o in offers] == [n.id for n in near]
    assert far.id not in {o.nurse_id for o in _offers(session, order)}
    assert all(o.round == 1 and o.status == "open" for o in offers)
    assert all(o.expires_at == now + timedelta(minutes=offer_minutes(order, now, config))
               for o in offers)
    assert _reload(session, order).status == "offered"
    assert _reload(session, order).dispatch_round == 1


def test_start_dispatch_fanout_is_configurable(session, order, make_nurse, config):
    from dataclasses import replace

    for d in (0.001, 0.002, 0.003):
        make_nurse(home_lat=35.41 + d, home_lng=116.58)
    offers = service.start_dispatch(session=session, order=order, now=utcnow(),
                                    config=replace(config, offer_fanout=2))
    assert len(offers) == 2


def test_start_dispatch_tells_each_nurse_without_patient_details(session, order, nurse,
                                                                 config):
    service.start_dispatch(session=session, order=order, now=utcnow(), config=config)
    note = session.scalar(sa.select(Notification).where(Notification.user_id == nurse.user_id,
                                                        Notification.kind == "offer"))
    recipient = session.get(CareRecipient, order.patient_id)
    assert note.payload["order_id"] == order.id and note.payload["district"] == "任城区"
    flat = str(note.payload)
    assert recipient.name not in flat and recipient.phone not in flat
    assert "古槐路" not in flat


def test_start_dispatch_with_no_candidate_alerts_and_stays_approved(session, order, config):
    offers = service.start_dispatch(session=session, order=order, now=utcnow(), config=config)
    assert offers == []
    assert _reload(session, order).status == "approved"
    alert = _unassigned_alert(session, order)
    assert alert is not None and alert.kind == "unassigned" and alert.status == "open"


def test_start_dispatch_when_window_at_risk_alerts_without_offers(session, make_order, nurse,
                                                                  config):
    now = utcnow()
    order = make_order(window_start=now + timedelta(minutes=10),
                       window_end=now + timedelta(minutes=40))
    assert service.start_dispatch(session=session, order=order, now=now, config=config) == []
    assert _offers(session, order) == []
    assert _unassigned_alert(session, order) is not None


def test_start_dispatch_ignores_an_order_that_is_not_approved(session, make_order, nurse,
                                                              config):
    order = make_order("submitted")
    assert service.start_dispatch(session=session, order=order, now=utcnow(),
                                  config=config) == []
    assert _offers(session, order) == []


def test_start_dispatch_for_a_later_day_gives_the_longer_deadline(session, make_order,
                                                                  make_nurse, config):
    from tests.factories import ShiftFactory

    start = utcnow() + timedelta(days=2)
    order = make_order(window_start=start, window_end=start + timedelta(hours=2))
    nurse = make_nurse(shift=False)
    ShiftFactory(nurse_id=nurse.id, start=start - timedelta(hours=1),
                 end=start + timedelta(hours=6))
    now = utcnow()
    offers = service.start_dispatch(session=session, order=order, now=now, config=config)
    assert offers[0].expires_at == now + timedelta(minutes=config.offer_minutes_later)


def test_offer_minutes_just_after_midnight_is_the_short_deadline(session, make_order, config):
    # 23:50 in Jining, a visit at 00:30-01:00: tomorrow by the calendar, urgent in fact.
    now = datetime(2026, 12, 1, 15, 50, tzinfo=UTC)
    order = make_order(window_start=now + timedelta(minutes=40),
                       window_end=now + timedelta(minutes=70))
    assert order.service_date == date(2026, 12, 2)
    assert offer_minutes(order, now, config) == config.offer_minutes_same_day


def test_offer_minutes_for_tomorrow_morning_is_the_longer_deadline(session, make_order,
                                                                   config):
    now = datetime(2026, 12, 1, 15, 50, tzinfo=UTC)  # 23:50 local; the visit at 09:00
    order = make_order(window_start=now + timedelta(hours=9, minutes=10),
                       window_end=now + timedelta(hours=11, minutes=10))
    assert offer_minutes(order, now, config) == config.offer_minutes_later


# ---------------------------------------------------------------- accept


def _offered(session, order, nurses, config, now=None):
    offers = service.start_dispatch(session=session, order=order, now=now or utcnow(),
                                    config=config)
    session.commit()
    return {o.nurse_id: o for o in offers}


def test_accept_offer_assigns_and_withdraws_siblings(session, order, make_nurse, config):
    a, b = make_nurse(), make_nurse(home_lat=35.412)
    offers = _offered(session, order, [a, b], config)
    result = nurse_offers.accept_offer(session=session, actor=actor_of(_user(session, a)),
                                  offer_id=offers[a.id].id, now=utcnow(), config=config)
    assert result["status"] == "assigned" and result["nurse_id"] == a.id
    assert result["withdrawn_offers"] == 1
    fresh = _reload(session, order)
    assert fresh.status == "assigned" and fresh.nurse_id == a.id
    assert fresh.window_start <= fresh.planned_arrival <= fresh.window_end
    statuses = {o.nurse_id: o.status for o in _offers(session, order)}
    assert statuses == {a.id: "accepted", b.id: "withdrawn"}


def test_accept_offer_resolves_the_unassigned_alert(session, order, nurse, make_offer, config):
    from homecare.alerts.service import raise_alert

    raise_alert(session, kind="unassigned", cause=f"unassigned:order:{order.id}",
                organization_id=order.organization_id, order_id=order.id, now=utcnow())
    offer = make_offer(order, nurse)
    session.execute(sa.update(Order).where(Order.id == order.id).values(status="offered"))
    session.commit()
    nurse_offers.accept_offer(session=session, actor=actor_of(_user(session, nurse)),
                         offer_id=offer.id, now=utcnow(), config=config)
    assert _unassigned_alert(session, order).status == "resolved"


def test_accept_offer_tells_the_family(session, order, nurse, config):
    offers = _offered(session, order, [nurse], config)
    nurse_offers.accept_offer(session=session, actor=actor_of(_user(session, nurse)),
                         offer_id=offers[nurse.id].id, now=utcnow(), config=config)
    kinds = set(session.scalars(sa.select(Notification.kind).where(
        Notification.user_id == order.booked_by)))
    assert "nurse_assigned" in kinds


def test_accept_offer_after_deadline_is_offer_expired(session, order, nurse, config):
    offers = _offered(session, order, [nurse], config)
    later = offers[nurse.id].expires_at + timedelta(seconds=1)
    with pytest.raises(nurse_offers.OfferExpired):
        nurse_offers.accept_offer(session=session, actor=actor_of(_user(session, nurse)),
                             offer_id=offers[nurse.id].id, now=later, config=config)
    assert _reload(session, order).status == "offered"


def test_accept_offer_after_sibling_won_is_offer_taken(session, order, make_nurse, config):
    a, b = make_nurse(), make_nurse(home_lat=35.412)
    offers = _offered(session, order, [a, b], config)
    nurse_offers.accept_offer(session=session, actor=actor_of(_user(session, a)),
                         offer_id=offers[a.id].id, now=utcnow(), config=config)
    with pytest.raises(nurse_offers.OfferTaken):
        nurse_offers.accept_offer(session=session, actor=actor_of(_user(session, b)),
                             offer_id=offers[b.id].id, now=utcnow(), config=config)


def test_accept_offer_twice_is_offer_not_open(session, order, nurse, config):
    offers = _offered(session, order, [nurse], config)
    actor = actor_of(_user(session, nurse))
    nurse_offers.accept_offer(session=session, actor=actor, offer_id=offers[nurse.id].id,
                         now=utcnow(), config=config)
    with pytest.raises(nurse_offers.OfferNotOpen):
        nurse_offers.accept_offer(session=session, actor=actor, offer_id=offers[nurse.id].id,
                             now=utcnow(), config=config)


def test_accept_offer_of_another_nurse_is_not_found(session, order, make_nurse, config):
    a, b = make_nurse(), make_nurse(home_lat=35.412)
    offers = _offered(session, order, [a, b], config)
    with pytest.raises(nurse_offers.OfferNotFound):
        nurse_offers.accept_offer(session=session, actor=actor_of(_user(session, b)),
                             offer_id=offers[a.id].id, now=utcnow(), config=config)


def test_accept_offer_overlapping_a_held_visit_is_slot_taken(session, make_order, nurse,
                                                             make_offer, config):
    now = utcnow()
    window = {"window_start": now + timedelta(hours=2),
              "window_end": now + timedelta(hours=2, minutes=15)}
    make_order("assigned", nurse_id=nurse.id, **window)
    second = make_order("offered", **window)
    offer = make_offer(second, nurse)
    with pytest.raises(nurse_offers.SlotTaken) as caught:
        nurse_offers.accept_offer(session=session, actor=actor_of(_user(session, nurse)),
                             offer_id=offer.id, now=now, config=config)
    assert caught.value.extensions["rule"] == "schedule_conflict"
    session.expire_all()
    assert session.get(Offer, offer.id).status == "open"


def test_accept_offer_by_a_deactivated_nurse_is_no_longer_eligible(session, make_order, nurse,
                                                                   make_offer, config):
    order = make_order("offered")
    offer = make_offer(order, nurse)
    nurse.active = False
    session.commit()
    with pytest.raises(nurse_offers.NurseNoLongerEligible) as caught:
        nurse_offers.accept_offer(session=session, actor=actor_of(_user(session, nurse)),
                             offer_id=offer.id, now=utcnow(), config=config)
    assert caught.value.extensions["rule"] == "not_active"


# ---------------------------------------------------------------- decline


def test_decline_offer_keeps_the_reason(session, order, make_nurse, config):
    a, _b = make_nurse(), make_nurse(home_lat=35.412)
    offers = _offered(session, order, [a], config)
    offer = nurse_offers.decline_offer(session=session, actor=actor_of(_user(session, a)),
                                  offer_id=offers[a.id].id, reason=" 家里有事 ",
                                  now=utcnow(), config=config)
    assert offer.status == "declined" and offer.decline_reason == "家里有事"
    assert _reload(session, order).dispatch_round == 1


def test_decline_of_last_open_offer_starts_next_round(session, order, make_nurse, config):
    from dataclasses import replace

    one = replace(config, offer_fanout=1)
    a, b = make_nurse(), make_nurse(home_lat=35.43)
    offers = _offered(session, order, [a, b], one)
    assert set(offers) == {a.id}
    nurse_offers.decline_offer(session=session, actor=actor_of(_user(session, a)),
                          offer_id=offers[a.id].id, reason="busy", now=utcnow(), config=one)
    fresh = {o.nurse_id: (o.round, o.status) for o in _offers(session, order)}
    assert fresh == {a.id: (1, "declined"), b.id: (2, "open")}
    assert _reload(session, order).dispatch_round == 2


def test_decline_offer_after_deadline_is_offer_expired(session, order, nurse, config):
    offers = _offered(session, order, [nurse], config)
    with pytest.raises(nurse_offers.OfferExpired):
        nurse_offers.decline_offer(session=session, actor=actor_of(_user(session, nurse)),
                              offer_id=offers[nurse.id].id, reason="late",
                              now=utcnow() + timedelta(hours=1), config=config)


# ---------------------------------------------------------------- the sweep


def test_expire_offers_moves_to_next_candidates_exactly_once(session, order, make_nurse,
                                                              config):
    from dataclasses import replace

    one = replace(config, offer_fanout=1)
    a, b, c = make_nurse(), make_nurse(home_lat=35.42), make_nurse(home_lat=35.43)
    later = _offered(session, order, [a], one)[a.id].expires_at + timedelta(minutes=1)
    first = service.expire_offers(session=session, now=later, config=one)
    second = service.expire_offers(session=session, now=later, config=one)
    assert first == {"offers_expired": 1, "rounds_started": 1}
    assert second == {}
    rounds = {o.nurse_id: (o.round, o.status) for o in _offers(session, order)}
    assert rounds == {a.id: (1, "expired"), b.id: (2, "open")}
    assert c.id not in rounds


def test_expire_offers_after_max_rounds_alerts_and_stops(session, order, make_nurse, config):
    from dataclasses import replace

    one = replace(config, offer_fanout=1, offer_max_rounds=1)
    a, _b = make_nurse(), make_nurse(home_lat=35.42)
    later = _offered(session, order, [a], one)[a.id].expires_at + timedelta(minutes=1)
    assert service.expire_offers(session=session, now=later, config=one) == {
        "offers_expired": 1, "stopped": 1}
    assert _reload(session, order).status == "approved"
    assert len(_offers(session, order)) == 1
    assert _unassigned_alert(session, order).detail == "no nurse accepted in 1 rounds"


def test_expire_offers_when_window_at_risk_stops(session, make_order, make_nurse, config):
    from dataclasses import replace

    one = replace(config, offer_fanout=1)
    now = utcnow()
    # Offers go out (55 min left > 5 + 45), but not after the deadline (49 < 50).
    order = make_order(window_start=now + timedelta(minutes=25),
                       window_end=now + timedelta(minutes=55))
    make_nurse(), make_nurse(home_lat=35.42)
    _offered(session, order, [], one, now=now)
    later = now + timedelta(minutes=offer_minutes(order, now, config) + 1)
    assert service.expire_offers(session=session, now=later, config=one)["stopped"] == 1
    assert "at risk" in _unassigned_alert(session, order).detail


def test_expire_offers_expires_orders_whose_window_passed(session, make_order, nurse,
                                                          make_offer, config):
    order = make_order("offered")
    offer = make_offer(order, nurse, expires_in=timedelta(hours=10))
    after = order.window_end + timedelta(minutes=1)
    counts = service.expire_offers(session=session, now=after, config=config)
    assert counts["orders_expired"] == 1
    assert _reload(session, order).status == "expired"
    assert session.get(Offer, offer.id).status == "withdrawn"


def test_expire_offers_restarts_a_stalled_round(session, make_order, nurse, config):
    order = make_order("offered")
    counts = service.expire_offers(session=session, now=utcnow(), config=config)
    assert counts == {"rounds_started": 1}
    assert [o.nurse_id for o in _offers(session, order)] == [nurse.id]


def test_expire_offers_goes_on_after_one_order_fails(session, make_order, nurse, config,
                                                      monkeypatch, caplog):
    broken, fine = make_order("offered"), make_order("offered")
    next_round = rounds.next_round

    def next_round_with_a_bug(session, order, now, config):
        if order.id == broken.id:
            raise RuntimeError("a bug met on this order only")
        return next_round(session, order, now, config)

    monkeypatch.setattr(rounds, "next_round", next_round_with_a_bug)
    counts = service.expire_offers(session=session, now=utcnow(), config=config)
    assert counts == {"orders_failed": 1, "rounds_started": 1}
    assert [o.nurse_id for o in _offers(session, fine)] == [nurse.id]
    assert _offers(session, broken) == []
    assert f"sweep failed on order {broken.id}" in [r.getMessage() for r in caplog.records]


# ---------------------------------------------------------------- assign


def test_assign_nurse_assigns_and_withdraws_offers(session, supervisor, make_order, make_nurse,
                                                   make_offer, config):
    order = make_order("offered")
    a, b = make_nurse(), make_nurse(home_lat=35.412)
    offer = make_offer(order, a)
    result = service.assign_nurse(session=session, actor=actor_of(supervisor),
                                  order_id=order.id, nurse_id=b.id, now=utcnow(),
                                  config=config)
    assert result["nurse_id"] == b.id and result["withdrawn_offers"] == 1
    assert _reload(session, order).status == "assigned"
    assert session.get(Offer, offer.id).status == "withdrawn"


def test_assign_nurse_not_eligible_names_the_rule(session, supervisor, order, make_nurse,
                                                  config):
    nurse = make_nurse(skills=["injection"])
    with pytest.raises(service.NurseNotEligible) as caught:
        service.assign_nurse(session=session, actor=actor_of(supervisor), order_id=order.id,
                             nurse_id=nurse.id, now=utcnow(), config=config)
    assert caught.value.extensions["rule"] == "skills"
    assert _reload(session, order).status == "approved"


def test_reassign_tells_both_nurses_and_the_family(session, supervisor, make_order, make_nurse,
                                                   config):
    a, b = make_nurse(), make_nurse(home_lat=35.412)
    order = make_order("assigned", nurse_id=a.id)
    service.assign_nurse(session=session, actor=actor_of(supervisor), order_id=order.id,
                         nurse_id=b.id, now=utcnow(), config=config, reason="她病了")
    told = {(n.user_id, n.kind) for n in session.scalars(
        sa.select(Notification).where(Notification.order_id == order.id))}
    assert (a.user_id, "order_reassigned") in told
    assert (b.user_id, "order_assigned") in told
    assert (order.booked_by, "nurse_assigned") in told
    event = session.scalars(sa.select(OrderEvent).where(OrderEvent.order_id == order.id)
                            .order_by(OrderEvent.id.desc())).first()
    assert (event.from_status, event.to_status, event.reason) == ("assigned", "assigned",
                                                                  "她病了")


def test_assign_nurse_to_her_own_order_is_already_assigned(session, supervisor, make_order,
                                                           nurse, config):
    order = make_order("assigned", nurse_id=nurse.id)
    with pytest.raises(service.AlreadyAssigned):
        service.assign_nurse(session=session, actor=actor_of(supervisor), order_id=order.id,
                             nurse_id=nurse.id, now=utcnow(), config=config)


# ---------------------------------------------------------------- a nurse's day


def test_nurse_day_lists_held_orders_in_visiting_order(session, make_order, nurse):
    now = utcnow()
    late = make_order("assigned", nurse_id=nurse.id, window_start=now + timedelta(hours=5),
                      window_end=now + timedelta(hours=6))
    early = make_order("en_route", nurse_id=nurse.id, window_start=now + timedelta(hours=1),
                       window_end=now + timedelta(hours=2))
    make_order("cancelled", nurse_id=nurse.id)
    day = early.service_date
    found = service.nurse_day(session=session, nurse_id=nurse.id, day=day)
    expected = [o.id for o in (early, late) if o.service_date == day]
    assert [o.id for o in found] == expected
    assert all(o.status in HOLDS_NURSE for o in found)


def test_nurse_model_is_indexed_when_created(session, nurse):
    from homecare.dispatch.models import NurseCell, NurseCoverage

    assert session.get(NurseCoverage, nurse.id).radius_km == nurse.service_radius_km
    assert session.scalar(sa.select(sa.func.count()).select_from(NurseCell)
                          .where(NurseCell.nurse_id == nurse.id)) > 0
    assert isinstance(session.get(Nurse, nurse.id), Nurse)


# ---------------------------------------------------------------- unassigned episodes


def _unassigned(session, order) -> list[str]:
    return list(session.scalars(sa.select(Alert.status).where(
        Alert.order_id == order.id, Alert.kind == "unassigned").order_by(Alert.id)))


def test_unassigned_is_raised_again_after_the_order_lost_its_nurse(session, order, nurse,
                                                                    supervisor):
    rounds.stop_offering(session, order, "no eligible nurse", NOW)
    transition(session, order, "assigned", actor=actor_of(supervisor), now=NOW,
               nurse_id=nurse.id)
    transition(session, order, "approved", actor=actor_of(supervisor), now=NOW,
               nurse_id=None, reason="nurse ill")
    rounds.stop_offering(session, order, "no eligible nurse", NOW + timedelta(minutes=1))
    assert _unassigned(session, order) == ["resolved", "open"]


def test_unassigned_resolved_by_a_supervisor_is_not_raised_again(session, order, supervisor):
    rounds.stop_offering(session, order, "no eligible nurse", NOW)
    [alert_id] = session.scalars(sa.select(Alert.id).where(Alert.order_id == order.id))
    resolve_alert(session=session, actor=actor_of(supervisor), alert_id=alert_id, now=NOW)
    rounds.stop_offering(session, order, "no eligible nurse", NOW + timedelta(minutes=1))
    assert _unassigned(session, order) == ["resolved"]


@pytest.mark.parametrize(("to_status", "role", "changes"), [
    ("cancelled", "supervisor", {"reason": "family cancelled"}),
    ("expired", None, {}),
    # What the morning plan's placement does.
    ("assigned", None, {"nurse": True}),
])
def test_unassigned_resolves_itself_when_the_order_leaves_the_queue(
        session, order, nurse, supervisor, to_status, role, changes):
    rounds.stop_offering(session, order, "no eligible nurse", NOW)
    changes = dict(changes)
    if changes.pop("nurse", False):
        changes["nurse_id"] = nurse.id
    transition(session, order, to_status, actor=actor_of(supervisor) if role else None,
               now=NOW, **changes)
    assert _unassigned(session, order) == ["resolved"]


def test_expire_offers_resolves_the_unassigned_alert_of_an_expired_order(session, order,
                                                                         config):
    rounds.stop_offering(session, order, "no eligible nurse", NOW)
    service.expire_offers(session=session, now=order.window_end + timedelta(minutes=1),
                          config=config)
    assert _reload(session, order).status == "expired"
    assert _unassigned(session, order) == ["resolved"]


def test_stop_offering_puts_the_unassigned_alert_on_the_audit_trail(session, order):
    rounds.stop_offering(session, order, "no eligible nurse", NOW)
    [alert_id] = session.scalars(sa.select(Alert.id).where(Alert.order_id == order.id))
    entry = session.scalar(sa.select(AuditEntry).where(AuditEntry.object_type == "alert",
                                                       AuditEntry.object_id == alert_id))
    assert (entry.action, entry.actor_role) == ("alert.raised", "system")
    assert entry.detail["kind"] == "unassigned"


# ---------------------------------------------------------------- offers on the audit trail


@pytest.fixture
def on_shift(session, org):
    """A qualified nurse on shift around NOW."""

    def make(**kwargs) -> Nurse:
        nurse = NurseFactory(organization_id=org.id, **kwargs)
        ShiftFactory(nurse_id=nurse.id, start=NOW - timedelta(hours=1),
                     end=NOW + timedelta(hours=8))
        session.commit()
        return nurse

    return make


@pytest.fixture
def later_order(make_order):
    return make_order(window_start=NOW + timedelta(hours=2), window_end=NOW + timedelta(hours=4))


def _trail(session, action: str) -> list[AuditEntry]:
    return list(session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action)
                                .order_by(AuditEntry.id)))


def test_start_dispatch_puts_each_offer_on_the_audit_trail(session, later_order, on_shift,
                                                           config):
    on_shift(), on_shift(home_lat=35.412)
    offers = service.start_dispatch(session=session, order=later_order, now=NOW, config=config)
    entries = _trail(session, "offer.created")
    assert len(offers) == 2
    assert sorted(e.object_id for e in entries) == sorted(o.id for o in offers)
    assert {(e.actor_role, e.detail["order_id"]) for e in entries} == {
        ("system", later_order.id)}


def test_decline_offer_is_on_the_audit_trail_in_her_name(session, later_order, on_shift,
                                                         config):
    nurse = on_shift()
    [offer] = service.start_dispatch(session=session, order=later_order, now=NOW,
                                     config=config)
    session.commit()
    nurse_offers.decline_offer(session=session, actor=actor_of(_user(session, nurse)),
                               offer_id=offer.id, reason="家里有事",
                               now=NOW + timedelta(minutes=1), config=config)
    [entry] = _trail(session, "offer.declined")
    assert (entry.object_id, entry.actor_id) == (offer.id, nurse.user_id)
    assert entry.detail["reason"] == "家里有事"


def test_expire_offers_puts_each_expired_offer_on_the_audit_trail(session, later_order,
                                                                  on_shift, config):
    on_shift()
    [offer] = service.start_dispatch(session=session, order=later_order, now=NOW,
                                     config=config)
    session.commit()
    service.expire_offers(session=session, now=offer.expires_at + timedelta(minutes=1),
                          config=config)
    assert [e.object_id for e in _trail(session, "offer.expired")] == [offer.id]


def test_accept_offer_puts_the_accept_and_the_withdrawals_on_the_audit_trail(
        session, later_order, on_shift, config):
    a, b = on_shift(), on_shift(home_lat=35.412)
    offers = {o.nurse_id: o for o in service.start_dispatch(
        session=session, order=later_order, now=NOW, config=config)}
    session.commit()
    nurse_offers.accept_offer(session=session, actor=actor_of(_user(session, a)),
                              offer_id=offers[a.id].id, now=NOW + timedelta(minutes=1),
                              config=config)
    [accepted] = _trail(session, "offer.accepted")
    [withdrawn] = _trail(session, "offer.withdrawn")
    assert (accepted.object_id, accepted.actor_id) == (offers[a.id].id, a.user_id)
    assert (withdrawn.object_id, withdrawn.actor_id) == (offers[b.id].id, a.user_id)


def test_cancelling_withdraws_open_offers_on_the_audit_trail(session, later_order, on_shift,
                                                             config, supervisor):
    from homecare.orders.service import cancel_order

    on_shift()
    [offer] = service.start_dispatch(session=session, order=later_order, now=NOW,
                                     config=config)
    session.commit()
    cancel_order(session=session, actor=actor_of(supervisor), order_id=later_order.id,
                 now=NOW + timedelta(minutes=1), reason="family cancelled")
    [entry] = _trail(session, "offer.withdrawn")
    assert (entry.object_id, entry.actor_id) == (offer.id, supervisor.id)

"""Service tests for family beds: opening and its rules, the first round, idempotent
generation of the horizon, closing. Every test runs on the fixed clock ``NOW``."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from homecare.audit.models import AuditEntry
from homecare.auth import Actor
from homecare.dispatch.models import Offer
from homecare.family_beds import service
from homecare.family_beds.models import FamilyBed, FamilyBedVisit
from homecare.notifications.models import Notification
from homecare.orders import service as orders_service
from homecare.orders.models import Order, OrderEvent
from homecare.orders.states import InvalidTransition, transition
from homecare.patients.models import Assessment
from tests.factories import AddressFactory, CareRecipientFactory, ServiceItemFactory, UserFactory
from tests.family_beds.conftest import NOW, TODAY, actor_of, local, service_line


def _orders(session, bed_id: int) -> list[Order]:
    return list(session.scalars(sa.select(Order).where(Order.family_bed_id == bed_id)
                                .order_by(Order.window_start)))


def _dates(session, bed_id: int) -> list[date]:
    return [o.service_date for o in _orders(session, bed_id)]


def _first_round(session, bed_id: int) -> Order:
    return session.scalar(sa.select(Order).join(FamilyBedVisit, FamilyBedVisit.order_id == Order.id)
                          .where(FamilyBedVisit.family_bed_id == bed_id,
                                 FamilyBedVisit.first_round.is_(True)))


def _advance(session, order: Order, nurse, *steps: str) -> None:
    """Give ``order`` to ``nurse`` and walk it through ``steps``, via the state machine."""
    transition(session, order, "assigned", actor=None, now=NOW, nurse_id=nurse.id)
    as_nurse = Actor(user_id=nurse.user_id, role="nurse", organization_id=nurse.organization_id)
    for status in steps:
        transition(session, order, status, actor=as_nurse, now=NOW)
    session.commit()


def _close(session, supervisor, bed_id: int, config, **kwargs) -> dict:
    return service.close_family_bed(session=session, actor=actor_of(supervisor),
                                    family_bed_id=bed_id, reason=kwargs.get("reason", "improved"),
                                    summary="伤口愈合，生命体征平稳", now=kwargs.get("now", NOW),
                                    config=config)


TUE_THU = [2, 4]


# ---------------------------------------------------------------- opening


def test_open_family_bed_belongs_to_the_supervisors_organization(open_bed, org, supervisor):
    bed = open_bed()
    assert (bed["organization_id"], bed["status"], bed["opened_by"]) == (org.id, "open",
                                                                         supervisor.id)
    assert bed["opened_at"] == NOW


def test_open_family_bed_generates_the_plans_visits_of_the_horizon(open_bed, session, item):
    bed = open_bed([service_line(item, TUE_THU, "14:00", "16:00")])
    # Tuesday 7 May to Tuesday 14 May, both included: the default horizon is 7 days.
    assert _dates(session, bed["id"]) == [date(2030, 5, 7), date(2030, 5, 9), date(2030, 5, 14)]


def test_open_family_bed_horizon_follows_config(open_bed, session, item, config):
    bed = open_bed([service_line(item, TUE_THU, "14:00", "16:00")],
                   cfg=replace(config, family_bed_horizon_days=1))
    assert _dates(session, bed["id"]) == [date(2030, 5, 7)]


def test_open_family_bed_windows_are_local_times_of_day(open_bed, session, item):
    bed = open_bed([service_line(item, TUE_THU, "14:00", "16:00")])
    order = _orders(session, bed["id"])[0]
    assert (order.window_start, order.window_end) == (local(TODAY, 14), local(TODAY, 16))


def test_open_family_bed_orders_are_linked_and_copy_the_catalogue(open_bed, session, item,
                                                                  supervisor):
    bed = open_bed()
    orders = _orders(session, bed["id"])
    assert orders and all(o.family_bed_id == bed["id"] for o in orders)
    assert {(o.service_code, o.price_fen, o.duration_min, o.booked_by) for o in orders} == {
        (item.code, item.price_fen, item.duration_min, supervisor.id)}
    assert [v["order_id"] for v in bed["visits"]] == [o.id for o in orders]


def test_open_family_bed_orders_are_approved_by_the_system(open_bed, session):
    order = _orders(session, open_bed()["id"])[0]
    events = session.execute(sa.select(OrderEvent.from_status, OrderEvent.to_status,
                                       OrderEvent.actor_role)
                             .where(OrderEvent.order_id == order.id)
                             .order_by(OrderEvent.id)).all()
    assert [tuple(e) for e in events[:2]] == [(None, "submitted", "supervisor"),
                                             ("submitted", "approved", "system")]


def test_open_family_bed_puts_its_visits_to_dispatch(open_bed, session, item, on_shift_nurse):
    bed = open_bed([service_line(item, TUE_THU, "14:00", "16:00")])
    today = _orders(session, bed["id"])[0]
    assert today.status == "offered"
    assert session.scalar(sa.select(Offer.nurse_id).where(Offer.order_id == today.id)) == \
        on_shift_nurse.id


def test_open_family_bed_is_the_organizations_assessment_of_the_recipient(
        open_bed, session, recipient, org):
    open_bed()
    assert [(a.organization_id, a.assessed_at) for a in session.scalars(
        sa.select(Assessment).where(Assessment.patient_id == recipient.id))] == [(org.id, NOW)]


def test_open_family_bed_approves_items_that_require_assessment(open_bed, session):
    tube = ServiceItemFactory(requires_assessment=True, duration_min=45)
    session.commit()
    orders = _orders(session, open_bed([service_line(tube)])["id"])
    assert orders and {o.status for o in orders} == {"approved"}


def test_open_family_bed_records_the_opening_and_the_generation(open_bed, session, supervisor):
    bed = open_bed()
    entries = session.execute(sa.select(AuditEntry.action, AuditEntry.actor_id).where(
        AuditEntry.object_type == "family_bed", AuditEntry.object_id == bed["id"])
        .order_by(AuditEntry.id)).all()
    assert [tuple(e) for e in entries] == [("family_bed.opened", supervisor.id),
                                          ("family_bed.visits_generated", supervisor.id)]


def test_open_family_bed_may_last_exactly_the_maximum(open_bed):
    assert open_bed(end_date=TODAY + timedelta(days=89))["end_date"] == TODAY + timedelta(89)


def test_open_family_bed_lasting_longer_than_the_maximum_is_refused(open_bed):
    with pytest.raises(service.EpisodeTooLong):
        open_bed(end_date=TODAY + timedelta(days=90))


def test_open_family_bed_maximum_follows_config(open_bed, config):
    with pytest.raises(service.EpisodeTooLong):
        open_bed(end_date=TODAY + timedelta(days=30),
                 cfg=replace(config, family_bed_max_days=30))


def test_open_family_bed_starting_yesterday_is_refused(open_bed):
    with pytest.raises(service.StartDateInPast):
        open_bed(start_date=TODAY - timedelta(days=1))


def test_open_family_bed_today_is_local_today(open_bed):
    # 23:30 UTC on the 6th is already the 7th in Shanghai: the 6th is in the past there.
    late = NOW - timedelta(hours=1, minutes=30)
    with pytest.raises(service.StartDateInPast):
        open_bed(start_date=date(2030, 5, 6), now=late)


def test_open_family_bed_ending_before_it_starts_is_refused(open_bed):
    with pytest.raises(service.EndBeforeStart):
        open_bed(end_date=TODAY - timedelta(days=1))


def test_open_family_bed_for_unknown_recipient_is_refused(session, supervisor, address, item,
                                                          config):
    with pytest.raises(orders_service.UnknownPatient):
        service.open_family_bed(session=session, actor=actor_of(supervisor), patient_id=99999,
                                address_id=address.id, diagnosis="x", start_date=TODAY,
                                end_date=TODAY, plan=[service_line(item)], now=NOW,
                                config=config)


def test_open_family_bed_for_recipient_the_organization_does_not_serve_is_refused(
        session, supervisor, other_org, item, config):
    elsewhere = CareRecipientFactory()
    place = AddressFactory(patient_id=elsewhere.id, organization_id=other_org.id,
                           lat=36.65, lng=117.12)
    session.commit()
    with pytest.raises(orders_service.UnknownPatient):
        service.open_family_bed(session=session, actor=actor_of(supervisor),
                                patient_id=elsewhere.id, address_id=place.id, diagnosis="x",
                                start_date=TODAY, end_date=TODAY, plan=[service_line(item)],
                                now=NOW, config=config)


def test_open_family_bed_at_another_recipients_address_is_refused(open_bed, session, org):
    theirs = AddressFactory(organization_id=org.id)
    session.commit()
    with pytest.raises(orders_service.UnknownAddress):
        open_bed(address_id=theirs.id)


def test_open_family_bed_at_an_address_outside_every_area_is_refused(open_bed, session,
                                                                    recipient):
    far = AddressFactory(patient_id=recipient.id, organization_id=None,
                         outside_service_area=True, lat=31.23, lng=121.47)
    session.commit()
    with pytest.raises(orders_service.OutsideServiceArea):
        open_bed(address_id=far.id)


def test_open_family_bed_at_an_address_another_organization_serves_is_refused(
        open_bed, session, recipient, other_org):
    jinan = AddressFactory(patient_id=recipient.id, organization_id=other_org.id,
                           lat=36.65, lng=117.12)
    session.commit()
    with pytest.raises(orders_service.UnknownAddress):
        open_bed(address_id=jinan.id)


def test_open_family_bed_with_unknown_item_names_the_plan_line(open_bed, item):
    with pytest.raises(orders_service.UnknownService) as refused:
        open_bed([service_line(item), {**service_line(item), "service_code": "NO_SUCH_ITEM"}])
    assert refused.value.extensions["plan_line"] == 2
    assert refused.value.extensions["errors"] == {
        "plan": {1: {"service_code": ["no active item with this code"]}}}


def test_open_family_bed_with_withdrawn_item_is_refused(open_bed, session):
    withdrawn = ServiceItemFactory(active=False)
    session.commit()
    with pytest.raises(orders_service.UnknownService):
        open_bed([service_line(withdrawn)])


def test_open_family_bed_with_window_shorter_than_the_item_is_refused(open_bed, second_item):
    with pytest.raises(orders_service.WindowTooShort) as refused:
        open_bed([service_line(second_item, start="09:00", end="09:45")])
    assert refused.value.extensions["plan_line"] == 1
    assert set(refused.value.extensions["errors"]["plan"][0]) == {"window_end"}


def test_open_family_bed_with_window_ending_before_it_starts_is_refused(open_bed, item):
    with pytest.raises(orders_service.WindowTooShort):
        open_bed([service_line(item, start="11:00", end="09:00")])


def test_open_family_bed_with_window_outside_service_hours_is_refused(open_bed, item):
    with pytest.raises(orders_service.OutsideServiceHours):
        open_bed([service_line(item, start="20:00", end="21:30")])


def test_open_family_bed_window_rules_follow_the_service_hours_setting(open_bed, item, config):
    late = replace(config, service_hours_end="23:00")
    assert open_bed([service_line(item, start="21:00", end="22:30")], cfg=late)["id"]


def test_open_family_bed_while_one_is_open_is_refused(open_bed):
    first = open_bed()
    with pytest.raises(service.FamilyBedAlreadyOpen) as refused:
        open_bed()
    assert refused.value.extensions["family_bed_id"] == first["id"]


def test_open_family_bed_after_the_last_one_closed_is_allowed(open_bed, session, supervisor,
                                                              config):
    _close(session, supervisor, open_bed()["id"], config)
    assert open_bed()["status"] == "open"


def test_open_family_bed_refused_leaves_nothing_behind(open_bed, session, recipient, item):
    with pytest.raises(orders_service.OutsideServiceHours):
        open_bed([service_line(item), service_line(item, start="06:00", end="08:00")])
    assert session.scalar(sa.select(sa.func.count()).select_from(FamilyBed).where(
        FamilyBed.patient_id == recipient.id)) == 0
    assert session.scalar(sa.select(sa.func.count()).select_from(Order).where(
        Order.patient_id == recipient.id)) == 0


# ---------------------------------------------------------------- the first round


def test_first_round_is_the_plans_visit_within_24h(open_bed, session, item):
    bed = open_bed([service_line(item, TUE_THU, "14:00", "16:00")])
    first = _first_round(session, bed["id"])
    assert first.window_start == local(TODAY, 14)
    assert [v["first_round"] for v in bed["visits"]] == [True, False, False]


def test_first_round_is_due_24h_after_opening_today(open_bed):
    assert open_bed()["first_round_due"] == NOW + timedelta(hours=24)


def test_first_round_without_plan_visit_in_24h_adds_one_of_the_first_line(open_bed, session,
                                                                         item):
    # Tuesdays 08:00-10:00, opened on a Tuesday at 09:00: today's window has begun and
    # next Tuesday is a week away, so tomorrow gets a first round in the line's window.
    bed = open_bed([service_line(item, [2], "08:00", "10:00")])
    first = _first_round(session, bed["id"])
    assert (first.service_date, first.window_start) == (date(2030, 5, 8),
                                                         local(date(2030, 5, 8), 8))
    assert first.service_code == item.code and "查床" in first.notes
    assert _dates(session, bed["id"]) == [date(2030, 5, 8), date(2030, 5, 14)]


def test_first_round_extra_visit_is_today_when_the_window_is_ahead(open_bed, session, item):
    # Wednesdays 10:00-12:00, opened Tuesday 09:00: Wednesday's window opens after 25 h,
    # too late; today's opens in an hour.
    bed = open_bed([service_line(item, [3], "10:00", "12:00")])
    assert _first_round(session, bed["id"]).window_start == local(TODAY, 10)
    assert _dates(session, bed["id"]) == [TODAY, date(2030, 5, 8)]


def test_first_round_extra_visit_is_of_the_first_plan_line(open_bed, session, item,
                                                           second_item):
    bed = open_bed([service_line(second_item, [6], "14:00", "16:00"),
                    service_line(item, [6], "09:00", "11:00")])
    first = _first_round(session, bed["id"])
    assert (first.service_code, first.window_start) == (second_item.code, local(TODAY, 14))


def test_first_round_for_a_later_start_is_due_24h_after_that_day_begins(open_bed, session,
                                                                        item):
    friday = date(2030, 5, 10)
    bed = open_bed([service_line(item, [1])], start_date=friday)
    assert bed["first_round_due"] == local(date(2030, 5, 11), 0)
    first = _first_round(session, bed["id"])
    assert first.window_start == local(friday, 9)
    assert _dates(session, bed["id"]) == [friday, date(2030, 5, 13)]


def test_first_round_not_possible_before_the_episode_ends_is_refused(open_bed, item):
    # A one-day episode whose only window began an hour ago.
    with pytest.raises(service.FirstRoundNotPossible):
        open_bed([service_line(item, start="08:00", end="10:00")], end_date=TODAY)


def test_first_round_of_a_start_beyond_the_horizon_comes_with_the_nightly_run(
        open_bed, session, item, config):
    monday = date(2030, 5, 20)
    bed = open_bed([service_line(item, [3])], start_date=monday)
    assert _orders(session, bed["id"]) == []
    service.extend_family_beds(session=session, now=local(date(2030, 5, 13), 1), config=config)
    first = _first_round(session, bed["id"])
    assert first.window_start == local(monday, 9)
    assert _dates(session, bed["id"]) == [monday]


# ---------------------------------------------------------------- generation


def test_extend_family_beds_twice_creates_nothing_the_second_time(open_bed, session, config):
    bed = open_bed()
    night = local(date(2030, 5, 8), 1)
    first = service.extend_family_beds(session=session, now=night, config=config)
    before = _dates(session, bed["id"])
    second = service.extend_family_beds(session=session, now=night, config=config)
    assert first["orders_created"] == 1 and "orders_created" not in second
    assert _dates(session, bed["id"]) == before


def test_extend_family_beds_adds_the_next_day_of_the_horizon(open_bed, session, config):
    bed = open_bed()
    service.extend_family_beds(session=session, now=local(date(2030, 5, 8), 1), config=config)
    # 8 to 15 May: today's 09:00 window began as the episode opened at 09:00.
    assert _dates(session, bed["id"]) == [date(2030, 5, d) for d in range(8, 16)]


def test_extend_family_beds_opening_day_rerun_creates_nothing(open_bed, session, config):
    bed = open_bed()
    before = _dates(session, bed["id"])
    assert "orders_created" not in service.extend_family_beds(session=session, now=NOW,
                                                              config=config)
    assert _dates(session, bed["id"]) == before


def test_extend_family_beds_skips_windows_that_have_begun(open_bed, session, item, config):
    bed = open_bed([service_line(item, [4], "09:00", "11:00")])  # Thursdays
    order_ids = {o.id for o in _orders(session, bed["id"])}
    # A run late on the next Thursday: its window is over, the one a week later is new.
    service.extend_family_beds(session=session, now=local(date(2030, 5, 16), 12),
                               config=config)
    new = [o for o in _orders(session, bed["id"]) if o.id not in order_ids]
    assert [o.service_date for o in new] == [date(2030, 5, 23)]


def test_extend_family_beds_does_not_regenerate_a_visit_cancelled_on_its_own(
        open_bed, session, supervisor, config):
    bed = open_bed()
    dropped = _orders(session, bed["id"])[2]
    orders_service.cancel_order(session=session, actor=actor_of(supervisor), order_id=dropped.id,
                                now=NOW, reason="家属要求本次暂停")
    service.extend_family_beds(session=session, now=NOW, config=config)
    assert _dates(session, bed["id"]).count(dropped.service_date) == 1


def test_extend_family_beds_racing_for_a_slot_creates_one_order(open_bed, session, config,
                                                                monkeypatch):
    bed = open_bed()
    # Every slot offered twice within one run: the second insert is the loser of a race
    # the pre-read did not see, and must fail on the slot key.
    plan_slots = service._plan_slots
    monkeypatch.setattr(service, "_plan_slots", lambda *a: plan_slots(*a) * 2)
    counts = service.extend_family_beds(session=session, now=local(date(2030, 5, 8), 1),
                                        config=config)
    assert counts["orders_created"] == 1 and counts["skipped_taken"] == 1
    dates = _dates(session, bed["id"])
    assert len(dates) == len(set(dates))


def test_extend_family_beds_skips_closed_episodes(open_bed, session, supervisor, config):
    bed = open_bed()
    _close(session, supervisor, bed["id"], config)
    counts = service.extend_family_beds(session=session, now=local(date(2030, 5, 8), 1),
                                        config=config)
    assert counts.get("family_beds", 0) == 0
    assert session.scalar(sa.select(sa.func.count()).select_from(Order).where(
        Order.family_bed_id == bed["id"], Order.status != "cancelled")) == 0


def test_extend_family_beds_stops_at_the_episodes_end(open_bed, session, config):
    bed = open_bed(end_date=TODAY + timedelta(days=2))
    service.extend_family_beds(session=session, now=local(date(2030, 5, 10), 1), config=config)
    assert _dates(session, bed["id"])[-1] == TODAY + timedelta(days=2)


def test_extend_family_beds_skips_an_item_since_withdrawn(open_bed, session, item, config):
    bed = open_bed()
    item.active = False
    session.commit()
    counts = service.extend_family_beds(session=session, now=local(date(2030, 5, 8), 1),
                                        config=config)
    assert counts["skipped_unknown_service"] == 1
    assert _dates(session, bed["id"])[-1] == date(2030, 5, 14)


def test_extend_family_beds_leaves_slots_past_the_booking_horizon_for_later(
        open_bed, session, config):
    long = replace(config, family_bed_horizon_days=20)
    bed = open_bed(cfg=long)
    dates = _dates(session, bed["id"])
    assert dates[-1] == date(2030, 5, 21)  # 14 days ahead, the booking horizon
    counts = service.extend_family_beds(session=session, now=local(date(2030, 5, 8), 9, 30),
                                        config=long)
    assert counts["orders_created"] == 1 and counts["skipped_beyond_booking_horizon"] == 6


def test_extend_family_beds_is_recorded_as_the_system(open_bed, session, config):
    bed = open_bed()
    service.extend_family_beds(session=session, now=local(date(2030, 5, 8), 1), config=config)
    entry = session.scalar(sa.select(AuditEntry).where(
        AuditEntry.object_type == "family_bed", AuditEntry.object_id == bed["id"])
        .order_by(AuditEntry.id.desc()))
    assert (entry.action, entry.actor_role) == ("family_bed.visits_generated", "system")
    assert entry.detail["through"] == "2030-05-15"


# ---------------------------------------------------------------- closing


def test_close_family_bed_keeps_who_when_why_and_the_summary(open_bed, session, supervisor,
                                                             config):
    closed = _close(session, supervisor, open_bed()["id"], config)
    assert (closed["status"], closed["closed_by"], closed["closed_at"]) == ("closed",
                                                                            supervisor.id, NOW)
    assert (closed["close_reason"], closed["summary"]) == ("improved", "伤口愈合，生命体征平稳")


def test_close_family_bed_cancels_visits_not_started_with_the_reason(open_bed, session,
                                                                     supervisor, config):
    bed = open_bed()
    _close(session, supervisor, bed["id"], config)
    orders = _orders(session, bed["id"])
    reason = f"family bed {bed['id']} closed: improved"
    assert {(o.status, o.status_reason) for o in orders} == {("cancelled", reason)}
    event = session.scalar(sa.select(OrderEvent).where(OrderEvent.order_id == orders[0].id)
                           .order_by(OrderEvent.id.desc()))
    assert (event.to_status, event.actor_id, event.reason) == (
        "cancelled", supervisor.id, f"family bed {bed['id']} closed: improved")


def test_close_family_bed_keeps_visits_under_way_or_done(open_bed, session, supervisor, nurse,
                                                         config):
    bed = open_bed()
    done, on_site, en_route, held = _orders(session, bed["id"])[:4]
    _advance(session, done, nurse, "en_route", "in_service", "completed")
    _advance(session, on_site, nurse, "en_route", "in_service")
    _advance(session, en_route, nurse, "en_route")
    _advance(session, held, nurse)
    _close(session, supervisor, bed["id"], config)
    statuses = [session.get(Order, o.id).status for o in (done, on_site, en_route, held)]
    assert statuses == ["completed", "in_service", "en_route", "cancelled"]


def test_close_family_bed_withdraws_open_offers(open_bed, session, supervisor, item, config,
                                                on_shift_nurse):
    bed = open_bed([service_line(item, TUE_THU, "14:00", "16:00")])
    offered = _orders(session, bed["id"])[0]
    _close(session, supervisor, bed["id"], config)
    assert session.scalar(sa.select(Offer.status).where(Offer.order_id == offered.id)) == \
        "withdrawn"
    kinds = session.scalars(sa.select(Notification.kind).where(
        Notification.user_id == on_shift_nurse.user_id)).all()
    assert "offer_withdrawn" in kinds


def test_close_family_bed_tells_the_family(open_bed, session, supervisor, patient, config):
    bed = open_bed()
    _close(session, supervisor, bed["id"], config)
    told = session.scalars(sa.select(Notification.order_id).where(
        Notification.user_id == patient.id, Notification.kind == "order_cancelled")).all()
    assert sorted(told) == [o.id for o in _orders(session, bed["id"])]


def test_close_family_bed_keeps_a_visit_the_nurse_sets_off_for_meanwhile(
        open_bed, session, supervisor, config, monkeypatch):
    bed = open_bed()
    first = _orders(session, bed["id"])[0]
    cancel = service.apply_cancellation

    def nurse_departs_first(*, order, **kwargs):
        if order.id == first.id:
            raise InvalidTransition(order_id=order.id, current_status="en_route")
        return cancel(order=order, **kwargs)

    monkeypatch.setattr(service, "apply_cancellation", nurse_departs_first)
    _close(session, supervisor, bed["id"], config)
    assert session.get(Order, first.id).status == "approved"
    entry = session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "family_bed.closed"))
    assert entry.detail["kept_order_ids"] == [first.id]
    assert len(entry.detail["cancelled_order_ids"]) == len(_orders(session, bed["id"])) - 1


def test_close_family_bed_records_it(open_bed, session, supervisor, config):
    bed = open_bed()
    _close(session, supervisor, bed["id"], config)
    entry = session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "family_bed.closed",
                                                       AuditEntry.object_id == bed["id"]))
    assert (entry.actor_id, entry.detail["reason"]) == (supervisor.id, "improved")


def test_close_family_bed_twice_is_refused(open_bed, session, supervisor, config):
    bed = open_bed()
    _close(session, supervisor, bed["id"], config)
    with pytest.raises(service.FamilyBedAlreadyClosed):
        _close(session, supervisor, bed["id"], config)


def test_close_family_bed_of_another_organization_is_not_found(open_bed, session,
                                                               other_supervisor, config):
    bed = open_bed()
    with pytest.raises(service.FamilyBedNotFound):
        _close(session, other_supervisor, bed["id"], config)
    assert session.get(FamilyBed, bed["id"]).status == "open"


# ---------------------------------------------------------------- reads


def test_get_family_bed_by_another_owner_is_not_found(open_bed, session, config):
    bed = open_bed()
    stranger = UserFactory(role="patient")
    with pytest.raises(service.FamilyBedNotFound):
        service.get_family_bed(session=session, actor=actor_of(stranger),
                               family_bed_id=bed["id"], config=config)


def test_list_family_beds_of_the_owner_are_her_recipients(open_bed, session, patient, config):
    bed = open_bed()
    listing = service.list_family_beds(session=session, actor=actor_of(patient), config=config)
    assert [b.id for b in session.scalars(listing.stmt)] == [bed["id"]]
    stranger = UserFactory(role="patient")
    listing = service.list_family_beds(session=session, actor=actor_of(stranger), config=config)
    assert session.scalars(listing.stmt).all() == []

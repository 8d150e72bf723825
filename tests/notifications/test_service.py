"""Service tests: who hears about which order event, the relay and the inbox."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from homecare.notifications import service
from homecare.notifications.delivery import LoggingSender, Message
from homecare.notifications.models import Notification
from homecare.orders.models import Order
from homecare.orders.states import STATUSES, transition
from tests.factories import NotificationFactory, NurseFactory, UserFactory
from tests.notifications.conftest import actor_of

NOW = datetime(2030, 5, 7, 2, 0, tzinfo=UTC)


def _sent_to(session, order_id: int) -> list[tuple[int, str]]:
    return [tuple(row) for row in session.execute(
        sa.select(Notification.user_id, Notification.kind)
        .where(Notification.order_id == order_id).order_by(Notification.id))]


def _move(session, order, to_status, actor=None, **changes):
    transition(session, order, to_status, actor=actor, now=NOW, **changes)
    session.flush()


# ---------------------------------------------------------------- who hears what


def test_assignment_tells_owner_nurse_name_and_planned_arrival(
        session, order, owner, nurse, nurse_user):
    arrival = NOW + timedelta(hours=1)
    _move(session, order, "assigned", nurse_id=nurse.id, planned_arrival=arrival)
    note = session.scalars(sa.select(Notification).where(
        Notification.user_id == owner.id, Notification.kind == "nurse_assigned")).one()
    assert note.payload["nurse_name"] == nurse_user.name
    assert note.payload["planned_arrival"] == arrival.isoformat()
    assert note.payload["window_start"] == order.window_start.isoformat()


def test_assignment_by_system_tells_the_nurse(session, order, nurse, nurse_user):
    _move(session, order, "assigned", nurse_id=nurse.id)
    assert (nurse_user.id, "order_assigned") in _sent_to(session, order.id)


def test_nurse_accepting_is_not_told_of_her_own_acceptance(
        session, org, order, owner, nurse, nurse_user):
    _move(session, order, "offered")
    _move(session, order, "assigned", actor=actor_of(nurse_user), nurse_id=nurse.id)
    assert _sent_to(session, order.id) == [(owner.id, "nurse_assigned")]


def test_offering_tells_nobody(session, order):
    _move(session, order, "offered")
    assert _sent_to(session, order.id) == []


def test_reassignment_tells_previous_nurse_and_owner(
        session, org, order, owner, nurse, nurse_user, supervisor):
    _move(session, order, "assigned", nurse_id=nurse.id)
    other = NurseFactory(organization_id=org.id)
    session.query(Notification).delete()
    _move(session, order, "assigned", actor=actor_of(supervisor), nurse_id=other.id)
    assert sorted(_sent_to(session, order.id)) == sorted([
        (owner.id, "nurse_assigned"), (other.user_id, "order_assigned"),
        (nurse_user.id, "order_reassigned")])


def test_reassignment_to_the_same_nurse_tells_nobody(session, order, nurse, supervisor):
    _move(session, order, "assigned", nurse_id=nurse.id)
    session.query(Notification).delete()
    _move(session, order, "assigned", actor=actor_of(supervisor), nurse_id=nurse.id,
          planned_arrival=NOW)
    assert _sent_to(session, order.id) == []


def test_taking_the_nurse_off_tells_her_and_the_family(session, order, owner, nurse,
                                                       nurse_user, supervisor):
    _move(session, order, "assigned", nurse_id=nurse.id)
    session.query(Notification).delete()
    _move(session, order, "approved", actor=actor_of(supervisor), nurse_id=None)
    assert sorted(_sent_to(session, order.id)) == sorted(
        [(nurse_user.id, "order_reassigned"), (owner.id, "nurse_unassigned")])


@pytest.mark.parametrize(("to_status", "kind"), [("en_route", "nurse_departed"),
                                                 ("in_service", "nurse_arrived"),
                                                 ("completed", "visit_completed")])
def test_visit_progress_tells_the_owner(session, org, order, owner, nurse, nurse_user,
                                        to_status, kind):
    _move(session, order, "assigned", nurse_id=nurse.id)
    for step in ("en_route", "in_service", "completed"):
        session.query(Notification).delete()
        _move(session, order, step, actor=actor_of(nurse_user))
        if step == to_status:
            break
    assert _sent_to(session, order.id) == [(owner.id, kind)]


def test_expiry_tells_the_owner(session, order, owner):
    _move(session, order, "expired")
    assert _sent_to(session, order.id) == [(owner.id, "order_expired")]


def test_cancel_after_departure_tells_nurse_and_other_supervisors_urgently(
        session, org, order, owner, nurse, nurse_user, supervisor):
    colleague = UserFactory(role="supervisor", organization_id=org.id)
    UserFactory(role="supervisor", organization_id=org.id, active=False)
    _move(session, order, "assigned", nurse_id=nurse.id)
    _move(session, order, "en_route", actor=actor_of(nurse_user))
    session.query(Notification).delete()
    _move(session, order, "cancelled", actor=actor_of(supervisor), reason="家属取消")
    notes = {(n.user_id, n.kind): n for n in session.scalars(sa.select(Notification))}
    assert set(notes) == {(owner.id, "order_cancelled"), (nurse_user.id, "order_cancelled"),
                          (colleague.id, "order_cancelled_after_departure")}
    assert notes[(nurse_user.id, "order_cancelled")].urgent
    assert notes[(colleague.id, "order_cancelled_after_departure")].urgent
    assert not notes[(owner.id, "order_cancelled")].urgent
    assert notes[(owner.id, "order_cancelled")].payload["reason"] == "家属取消"


def test_cancel_before_departure_does_not_alarm_supervisors(session, order, supervisor, owner):
    _move(session, order, "cancelled", actor=actor_of(owner))
    assert _sent_to(session, order.id) == []


def test_payload_never_holds_a_phone_number(session, order, owner, nurse, nurse_user):
    _move(session, order, "assigned", nurse_id=nurse.id)
    text = str([n.payload for n in session.scalars(sa.select(Notification))])
    assert owner.phone not in text and nurse_user.phone not in text


def test_rules_name_known_statuses_and_audiences():
    for rule in service.ORDER_EVENT_RULES:
        assert rule.to in STATUSES
        assert rule.audience in ("owner", "nurse", "held_by", "supervisors")
        assert rule.from_ is None or rule.from_ <= set(STATUSES)


def test_notification_is_written_in_the_callers_transaction(session, order, owner):
    session.commit()
    _move(session, order, "expired")
    session.rollback()
    assert _sent_to(session, order.id) == []
    assert session.get(Order, order.id).status == "approved"


# ---------------------------------------------------------------- relay


def test_relay_pending_sends_oldest_first_and_marks_sent(session, owner, sender):
    first = NotificationFactory(user_id=owner.id, created_at=NOW - timedelta(minutes=2))
    second = NotificationFactory(user_id=owner.id, kind="nurse_departed")
    assert service.relay_pending(session=session, sender=sender, now=NOW) == 2
    assert [m.id for m in sender.sent] == [first.id, second.id]
    assert (first.sent_at, first.attempts) == (NOW, 1)


def test_relay_pending_sends_urgent_ones_first(session, owner, sender):
    older = NotificationFactory(user_id=owner.id)
    sos = NotificationFactory(user_id=owner.id, kind="alert_sos", urgent=True)
    service.relay_pending(session=session, sender=sender, now=NOW)
    assert [m.id for m in sender.sent] == [sos.id, older.id]


def test_relay_pending_takes_an_urgent_row_into_the_first_batch_behind_a_backlog(
        session, owner, sender):
    for _ in range(5):
        NotificationFactory(user_id=owner.id, kind="offer")
    sos = NotificationFactory(user_id=owner.id, kind="alert_sos", urgent=True)
    assert service.relay_pending(session=session, sender=sender, now=NOW, limit=3) == 3
    assert sender.sent[0].id == sos.id


def test_relay_pending_skips_sent_ones(session, owner, sender):
    NotificationFactory(user_id=owner.id, sent_at=NOW)
    assert service.relay_pending(session=session, sender=sender, now=NOW) == 0
    assert sender.sent == []


def test_relay_pending_respects_limit(session, owner, sender):
    notes = [NotificationFactory(user_id=owner.id) for _ in range(3)]
    assert service.relay_pending(session=session, sender=sender, now=NOW, limit=2) == 2
    assert notes[2].sent_at is None


def test_relay_pending_failure_counts_attempt_and_retries_after_the_backoff(
        session, owner, sender):
    note = NotificationFactory(user_id=owner.id)
    sender.fail_ids.add(note.id)
    assert service.relay_pending(session=session, sender=sender, now=NOW) == 0
    assert (note.sent_at, note.attempts, note.last_error) == (
        None, 1, f"memory: refused notification {note.id}")
    assert note.next_attempt_at == NOW + timedelta(seconds=service.RETRY_FIRST_S)
    sender.fail_ids.clear()
    assert service.relay_pending(session=session, sender=sender, now=NOW) == 0
    later = NOW + timedelta(seconds=service.RETRY_FIRST_S)
    assert service.relay_pending(session=session, sender=sender, now=later) == 1
    assert (note.sent_at, note.attempts) == (later, 2)


def test_relay_pending_doubles_the_wait_up_to_the_cap(session, owner, sender):
    note = NotificationFactory(user_id=owner.id)
    sender.fail_ids.add(note.id)
    now, waits = NOW, []
    for _ in range(9):
        service.relay_pending(session=session, sender=sender, now=now)
        waits.append((note.next_attempt_at - now).total_seconds())
        now = note.next_attempt_at
    assert waits == [10, 20, 40, 80, 160, 320, 600, 600, 600]


def test_relay_pending_keeps_a_non_urgent_row_as_a_dead_letter_after_max_attempts(
        session, owner, sender, caplog):
    note = NotificationFactory(user_id=owner.id)
    sender.fail_ids.add(note.id)
    now = NOW
    with caplog.at_level(logging.ERROR, logger="homecare.notifications.service"):
        for _ in range(3):
            service.relay_pending(session=session, sender=sender, now=now, max_attempts=3)
            now += timedelta(hours=1)
    assert (note.attempts, note.failed_at, note.sent_at) == (3, NOW + timedelta(hours=2), None)
    assert f"notification {note.id}" in caplog.text and "dead letter" in caplog.text
    sender.fail_ids.clear()
    assert service.relay_pending(session=session, sender=sender, now=now) == 0
    assert session.get(Notification, note.id) is not None


def test_relay_pending_never_gives_up_an_urgent_row(session, owner, sender):
    sos = NotificationFactory(user_id=owner.id, kind="alert_sos", urgent=True)
    sender.fail_ids.add(sos.id)
    now = NOW
    for _ in range(12):
        service.relay_pending(session=session, sender=sender, now=now, max_attempts=3)
        now += timedelta(hours=1)
    assert (sos.attempts, sos.failed_at) == (12, None)
    sender.fail_ids.clear()
    assert service.relay_pending(session=session, sender=sender, now=now) == 1


def test_relay_pending_delivers_an_sos_page_soon_after_a_100_second_outage(
        session, owner, sender):
    sos = NotificationFactory(user_id=owner.id, kind="alert_sos", urgent=True)
    sender.fail_ids.add(sos.id)
    for tick in range(0, 100, 10):  # the relay runs every 10 s; the channel is down
        service.relay_pending(session=session, sender=sender, now=NOW + timedelta(seconds=tick))
    sender.fail_ids.clear()
    tick = 100
    while sos.sent_at is None and tick < 100 + service.URGENT_RETRY_CAP_S + 10:
        service.relay_pending(session=session, sender=sender, now=NOW + timedelta(seconds=tick))
        tick += 10
    assert sos.sent_at is not None and sos.attempts < 10


def test_relay_pending_leaves_a_row_claimed_by_a_relay_that_died_until_its_lease_ends(
        session, owner, sender):
    note = NotificationFactory(user_id=owner.id)
    session.commit()

    class Killed(BaseException):
        pass

    class DiesWhileSending:
        name = "dies"

        def send(self, message):
            raise Killed

    with pytest.raises(Killed):
        service.relay_pending(session=session, sender=DiesWhileSending(), now=NOW)
    session.rollback()
    assert service.relay_pending(session=session, sender=sender, now=NOW) == 0
    lease_over = NOW + timedelta(seconds=service.CLAIM_LEASE_S)
    assert service.relay_pending(session=session, sender=sender, now=lease_over) == 1
    assert [m.id for m in sender.sent] == [note.id]


def test_relay_pending_resends_after_a_crash_with_the_same_id(session, owner, sender,
                                                              monkeypatch):
    note = NotificationFactory(user_id=owner.id)
    session.commit()
    # The process dies after sending but before marking: nothing is committed.
    monkeypatch.setattr(session, "commit", lambda: None)
    service.relay_pending(session=session, sender=sender, now=NOW)
    monkeypatch.undo()
    session.rollback()
    service.relay_pending(session=session, sender=sender, now=NOW)
    assert [m.id for m in sender.sent] == [note.id, note.id]


def test_relay_pending_holds_no_lock_while_the_channel_sends(scratch_app):
    """A slow channel must not keep the outbox rows (PostgreSQL) or the database
    (SQLite's write lock) from an SOS being stored meanwhile: another connection
    writes while the message is being sent."""
    from homecare.db import db, make_engine

    with scratch_app.app_context():
        user = UserFactory()
        note_id = NotificationFactory(user_id=user.id, kind="alert_sos", urgent=True).id
        db.session.commit()
    engine = make_engine(scratch_app.config["HOMECARE"].database_url)
    wrote = []

    class WritesWhileSending:
        name = "writes"

        def send(self, message):
            with engine.connect() as other:
                if other.dialect.name == "sqlite":
                    other.exec_driver_sql("PRAGMA busy_timeout=500")
                else:
                    other.exec_driver_sql("SET lock_timeout = '500ms'")
                other.execute(sa.update(Notification).where(Notification.id == message.id)
                              .values(read_at=NOW))
                other.commit()
            wrote.append(message.id)

    try:
        with scratch_app.app_context():
            sent = service.relay_pending(session=db.session, sender=WritesWhileSending(),
                                         now=NOW)
    finally:
        engine.dispose()
    assert (sent, wrote) == (1, [note_id])


def test_logging_sender_logs_no_payload(caplog, owner):
    message = Message(id=1, user_id=owner.id, kind="order_cancelled", urgent=False, order_id=2,
                      payload={"reason": "call me on 13812345678"}, created_at=NOW)
    with caplog.at_level(logging.INFO, logger="homecare.notifications.delivery"):
        LoggingSender().send(message)
    assert "order_cancelled" in caplog.text
    assert "13812345678" not in caplog.text


# ---------------------------------------------------------------- inbox


def test_list_notifications_only_unread(session, owner):
    read = NotificationFactory(user_id=owner.id, read_at=NOW)
    unread = NotificationFactory(user_id=owner.id)
    ids = list(session.scalars(service.list_notifications(session=session, actor=actor_of(owner),
                                                          unread=True)))
    assert [n.id for n in ids] == [unread.id] and read.id not in ids


def test_mark_read_keeps_the_first_read_time(session, owner):
    note = NotificationFactory(user_id=owner.id)
    service.mark_read(session=session, actor=actor_of(owner), notification_id=note.id, now=NOW)
    service.mark_read(session=session, actor=actor_of(owner), notification_id=note.id,
                      now=NOW + timedelta(hours=1))
    assert note.read_at == NOW


def test_mark_read_of_someone_elses_is_not_found(session, owner, nurse_user):
    note = NotificationFactory(user_id=owner.id)
    with pytest.raises(service.NotificationNotFound):
        service.mark_read(session=session, actor=actor_of(nurse_user), notification_id=note.id,
                          now=NOW)

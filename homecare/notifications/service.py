"""The notifications outbox: who hears about which order event, relay and the inbox."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from homecare.accounts.models import User
from homecare.accounts.service import active_supervisors
from homecare.auth import Actor
from homecare.db import atomic
from homecare.duty.service import texted_supervisors
from homecare.errors import NotFound
from homecare.notifications.delivery import DeliveryFailed, Message, Sender
from homecare.notifications.models import Notification
from homecare.nurses.models import Nurse
from homecare.orders.models import Order
from homecare.orders.states import HOLDS_NURSE, UNDER_WAY
from homecare.pagination import QueryPage
from homecare.patients.models import CareRecipient

if TYPE_CHECKING:
    from homecare.orders.models import OrderEvent

log = logging.getLogger(__name__)

# Ids are 32-bit columns: a larger number names no row and must not reach the database.


class NotificationNotFound(NotFound):
    code, title = "notification_not_found", "No such notification"


def notify(session: Session, *, user_id: int, kind: str, now: datetime,
           order_id: int | None = None, payload: dict[str, Any] | None = None,
           urgent: bool = False, sms: bool = False) -> Notification:
    """Queue a message for ``user_id`` (no commit); ``sms``: an urgent page that also
    goes to her phone (a supervisor on duty, ``duty.service.texted_supervisors``).

    Because the row is written in the same transaction as the event it reports,
    a rolled-back change leaves no notification and a committed one is never
    lost; the jobs process relays it.
    """
    notification = Notification(user_id=user_id, kind=kind, order_id=order_id,
                                payload=payload or {}, urgent=urgent, sms=sms and urgent,
                                created_at=now)
    session.add(notification)
    return notification


@dataclass(frozen=True)
class Rule:
    """One line of the order-event table: on ``to`` (from any of ``from_``), tell ``audience``.

    Audiences: ``owner`` (the account managing the care recipient: the patient app),
    ``nurse`` (the nurse holding the order after the event), ``held_by`` (the nurse
    who held it before and no longer does: cancelled, reassigned, taken off) and
    ``supervisors`` (the organization's dispatchers).
    """

    to: str
    audience: str
    kind: str
    from_: frozenset[str] | None = None
    urgent: bool = False



# THE table of who hears about what. Offers are not here: dispatch tells nurses
# about its offers itself. Nobody is told about their own action.
ORDER_EVENT_RULES: tuple[Rule, ...] = (
    Rule("approved", "owner", "order_approved", from_=frozenset({"submitted"})),
    Rule("approved", "held_by", "order_reassigned"),
    # Taken off its nurse (un-assigned, handed back, she fell ill): back to dispatch.
    Rule("approved", "owner", "nurse_unassigned", from_=HOLDS_NURSE),
    Rule("rejected", "owner", "order_rejected"),
    Rule("assigned", "owner", "nurse_assigned"),
    Rule("assigned", "nurse", "order_assigned"),
    Rule("assigned", "held_by", "order_reassigned"),
    Rule("en_route", "owner", "nurse_departed"),
    Rule("in_service", "owner", "nurse_arrived"),
    Rule("completed", "owner", "visit_completed"),
    Rule("cancelled", "owner", "order_cancelled"),
    Rule("cancelled", "held_by", "order_cancelled"),
    # The nurse may be at the door already: she must hear at once.
    Rule("cancelled", "held_by", "order_cancelled", from_=UNDER_WAY, urgent=True),
    Rule("cancelled", "supervisors", "order_cancelled_after_departure", from_=UNDER_WAY,
         urgent=True),
    Rule("expired", "owner", "order_expired"),
    Rule("no_show", "owner", "visit_no_show"),
)


def _rules_for(from_status: str | None, to_status: str) -> list[Rule]:
    matching = [r for r in ORDER_EVENT_RULES
                if r.to == to_status and (r.from_ is None or from_status in r.from_)]
    # A rule naming its from-statuses refines a general rule for the same audience.
    specific = {(r.audience, r.kind) for r in matching if r.from_ is not None}
    return [r for r in matching if r.from_ is not None or (r.audience, r.kind) not in specific]


def notify_order_event(session: Session, *, order: Order, event: OrderEvent,
                       previous_nurse_id: int | None, actor: Actor | None,
                       now: datetime) -> list[Notification]:
    """Queue the notifications one order event calls for, per ``ORDER_EVENT_RULES``.

    Called by ``orders.states.transition`` for every event, in its transaction (no
    commit). ``previous_nurse_id`` is the order's nurse before the event.
    """
    from_status, to_status = event.from_status, event.to_status
    nurse_changed = previous_nurse_id != order.nurse_id
    if from_status == to_status and not nurse_changed:
        return []
    held_by = previous_nurse_id if from_status in HOLDS_NURSE and (
        to_status not in HOLDS_NURSE or nurse_changed) else None
    nurse = order.nurse_id if to_status in HOLDS_NURSE else None
    payload = _payload(session, order, event)
    written = []
    for rule in _rules_for(from_status, to_status):
        # An urgent message to the supervisors is a page: every one of them is told,
        # the ones on duty (else all) are texted.
        texted = texted_supervisors(session, organization_id=order.organization_id, at=now) \
            if rule.urgent and rule.audience == "supervisors" else set()
        for user_id in _audience(session, rule.audience, order, nurse=nurse, held_by=held_by):
            if actor is not None and user_id == actor.user_id:
                continue
            written.append(notify(session, user_id=user_id, kind=rule.kind, now=now,
                                  order_id=order.id, payload=payload, urgent=rule.urgent,
                                  sms=user_id in texted))
    return written


def _audience(session: Session, audience: str, order: Order, *, nurse: int | None,
              held_by: int | None) -> list[int]:
    if audience == "owner":
        # session.get: the booking that moved the order has usually read the recipient.
        recipient = session.get(CareRecipient, order.patient_id)
        return [recipient.owner_id] if recipient is not None else []
    if audience in ("nurse", "held_by"):
        nurse_id = nurse if audience == "nurse" else held_by
        if nurse_id is None:
            return []
        user_id = session.scalar(sa.select(Nurse.user_id).where(Nurse.id == nurse_id))
        return [user_id] if user_id is not None else []
    if audience == "supervisors":
        return active_supervisors(session, organization_id=order.organization_id)
    raise ValueError(f"unknown audience {audience!r}")


def _payload(session: Session, order: Order, event: OrderEvent) -> dict[str, Any]:
    # What the app shows in the message; never a phone or identity number, which
    # would then sit in the outbox and in every delivery channel's logs.
    payload: dict[str, Any] = {
        "order_id": order.id, "status": event.to_status, "from_status": event.from_status,
        "service_code": order.service_code, "window_start": _iso(order.window_start),
        "window_end": _iso(order.window_end)}
    if event.reason:
        payload["reason"] = event.reason
    if event.to_status == "assigned" and order.nurse_id is not None:
        payload["nurse_name"] = session.scalar(
            sa.select(User.name).join(Nurse, Nurse.user_id == User.id)
            .where(Nurse.id == order.nurse_id))
        payload["planned_arrival"] = _iso(order.planned_arrival)
    return payload


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


# Retries wait twice as long each time, from RETRY_FIRST_S up to a cap: a gateway
# outage is ridden out without hammering the channel. Urgent messages (an SOS, a
# cancellation at the door) are never given up and wait at most a minute between
# tries, so they go out soon after the channel is back; the rest wait up to ten.
RETRY_FIRST_S = 10
RETRY_CAP_S = 600
URGENT_RETRY_CAP_S = 60
# How long a relay's claim keeps other relays off a row: longer than sending a
# batch takes, short enough that a relay dying mid-batch delays its rows little.
CLAIM_LEASE_S = 120


def retry_delay(attempts: int, *, urgent: bool) -> timedelta:
    """How long to wait after the ``attempts``-th failed try before the next one."""
    cap = URGENT_RETRY_CAP_S if urgent else RETRY_CAP_S
    return timedelta(seconds=min(cap, RETRY_FIRST_S * 2 ** min(max(attempts - 1, 0), 16)))


@atomic
def relay_pending(*, session: Session, sender: Sender | Sequence[Sender], now: datetime,
                  limit: int = 100, max_attempts: int = 10) -> int:
    """Send up to ``limit`` due notifications, urgent ones first, then oldest first, by
    each channel of ``sender`` (one or several, ``delivery.channels_for``); returns how
    many were delivered by all of them. Commits twice, and sends between the two.

    First a short transaction claims the batch: each row counts an attempt and its
    ``next_attempt_at`` moves ``CLAIM_LEASE_S`` ahead, a lease that keeps any other
    relay (a stand-by scheduler taking over) off it. Then the messages are sent
    with no transaction open, so a slow channel never holds the database (on
    SQLite its write lock) while an SOS waits to be stored. Then a second short
    transaction marks the sent rows and schedules the failed ones
    (``retry_delay``). Each row records the channels that took it
    (``delivered_via``): a retry sends only by those that failed, so an SOS reaches
    a phone by SMS once while the push gateway is down. At least once: a relay
    dying between sending and marking leaves its rows to be sent again when their
    lease ends; receivers drop duplicates by ``id``. A non-urgent row whose
    ``max_attempts``-th try fails is a dead letter: kept with ``failed_at`` and
    ``last_error``, logged as an error, never tried again. Urgent rows are retried
    for as long as it takes.
    """
    channels = list(sender) if isinstance(sender, Sequence) else [sender]
    claimed = _claim(session, now=now, limit=limit)
    session.commit()
    failures: dict[int, str] = {}
    delivered: dict[int, str] = {}
    for message, _attempt in claimed:
        done = set(message.delivered_via)
        errors = []
        for channel in channels:
            if channel.name in done:
                continue
            try:
                channel.send(message)
            except DeliveryFailed as exc:  # its text names the channel and why, no secret
                errors.append(str(exc))
            except Exception as exc:  # any other channel failure: count it, retry later
                errors.append(f"{channel.name}: {type(exc).__name__}")
            else:
                done.add(channel.name)
        delivered[message.id] = ",".join(sorted(done))
        if errors:
            failures[message.id] = "; ".join(errors)
            log.warning("notification %s not delivered: %s", message.id, failures[message.id])
    sent: dict[str, list[int]] = {}
    for message, _ in claimed:
        if message.id not in failures:
            sent.setdefault(delivered[message.id], []).append(message.id)
    for via, ids in sent.items():
        session.execute(sa.update(Notification)
                        .where(Notification.id.in_(ids), Notification.sent_at.is_(None))
                        .values(sent_at=now, delivered_via=via)
                        .execution_options(synchronize_session="fetch"))
    for message, attempt in claimed:
        if message.id in failures:
            _reschedule(session, message, attempt, error=failures[message.id], now=now,
                        max_attempts=max_attempts, delivered_via=delivered[message.id])
    session.commit()
    return sum(len(ids) for ids in sent.values())


def _claim(session: Session, *, now: datetime, limit: int) -> list[tuple[Message, int]]:
    due = (sa.select(Notification)
           .where(Notification.sent_at.is_(None), Notification.failed_at.is_(None),
                  sa.or_(Notification.next_attempt_at.is_(None),
                         Notification.next_attempt_at <= now))
           .order_by(Notification.urgent.desc(), Notification.id).limit(limit)
           .execution_options(populate_existing=True))
    if session.get_bind().dialect.name == "postgresql":
        # Two relays claiming at the same moment take disjoint batches; once this
        # claim commits, the lease keeps the other off these rows.
        due = due.with_for_update(skip_locked=True)
    rows = session.scalars(due).all()
    routing = _routing(session, rows, now=now)
    claimed = []
    for notification in rows:
        notification.attempts += 1
        notification.next_attempt_at = now + timedelta(seconds=CLAIM_LEASE_S)
        claimed.append((Message.of(notification, **routing[notification.id]),
                        notification.attempts))
    return claimed


def _routing(session: Session, rows: Sequence[Notification], *,
             now: datetime) -> dict[int, dict[str, Any]]:
    """What the channels need beside the message: the organization whose gateway
    carries it (the order's, else the addressee's), her role and phone, and the
    channels done with it. Two reads for the whole batch (and a few for a texted
    page whose supervisor was deactivated since, ``_sms_fallback``)."""
    if not rows:
        return {}
    users = {row.id: row for row in session.execute(
        sa.select(User.id, User.role, User.phone, User.active, User.organization_id)
        .where(User.id.in_({n.user_id for n in rows})))}
    order_ids = {n.order_id for n in rows if n.order_id is not None}
    orgs = dict(session.execute(sa.select(Order.id, Order.organization_id)
                                .where(Order.id.in_(order_ids))).all()) if order_ids else {}
    routing = {}
    for note in rows:
        user = users.get(note.user_id)
        routing[note.id] = {
            "organization_id": orgs.get(note.order_id) or (user and user.organization_id),
            "role": user.role if user else None,
            # A deactivated account's phone is no longer hers to page.
            "phone": user.phone if user and user.active else None,
            "delivered_via": frozenset(filter(None, (note.delivered_via or "").split(",")))}
        if (note.sms and note.urgent and user is not None and user.role == "supervisor"
                and not user.active):
            routing[note.id]["fallback_phones"] = _sms_fallback(
                session, note, organization_id=routing[note.id]["organization_id"], now=now)
    return routing


def _sms_fallback(session: Session, note: Notification, *, organization_id: int | None,
                  now: datetime) -> tuple[str, ...]:
    """The phones a texted page goes to when its supervisor was deactivated after it
    was written: none while another supervisor texted for the same page is still
    active (her own row texts her); else the organization's supervisors texted now
    (on duty, or all active), so an SOS never ends up ringing nobody."""
    siblings = session.execute(
        sa.select(Notification.payload).join(User, User.id == Notification.user_id)
        .where(Notification.kind == note.kind, Notification.created_at == note.created_at,
               Notification.order_id.is_(None) if note.order_id is None
               else Notification.order_id == note.order_id,
               Notification.sms.is_(True), Notification.urgent.is_(True),
               Notification.id != note.id, User.role == "supervisor",
               User.active.is_(True))).scalars().all()
    if any(payload == note.payload for payload in siblings) or organization_id is None:
        return ()
    texted = texted_supervisors(session, organization_id=organization_id, at=now)
    phones = tuple(sorted(session.scalars(sa.select(User.phone).where(User.id.in_(texted)))))
    log.warning("notification %s: its supervisor %s was deactivated; texting %s other "
                "supervisor(s) of organization %s instead", note.id, note.user_id,
                len(phones), organization_id)
    return phones


def _reschedule(session: Session, message: Message, attempt: int, *, error: str,
                now: datetime, max_attempts: int, delivered_via: str) -> None:
    gives_up = not message.urgent and attempt >= max_attempts
    values: dict[str, Any] = {"last_error": error[:200], "delivered_via": delivered_via,
                              "next_attempt_at": now + retry_delay(attempt,
                                                                   urgent=message.urgent)}
    if gives_up:
        values["failed_at"] = now
    # Only our own claim: a relay that took the row over after our lease ended owns it.
    done = session.execute(
        sa.update(Notification)
        .where(Notification.id == message.id, Notification.sent_at.is_(None),
               Notification.attempts == attempt)
        .values(**values).execution_options(synchronize_session="fetch"))
    if gives_up and done.rowcount:
        log.error("notification %s (%s for user %s) given up after %s attempts: %s; "
                  "kept as a dead letter", message.id, message.kind, message.user_id,
                  attempt, error)


class NotificationPage(QueryPage):
    """QueryPage that answers a page number past any 64-bit OFFSET with an empty page."""

    @property
    def items(self) -> list[Any]:
        params = self.page_params
        return [] if params.first_item > 2**63 - 1 - params.page_size else super().items


def list_notifications(*, session: Session, actor: Actor, unread: bool = False) -> sa.Select:
    """The caller's own notifications, newest first; only unread ones when asked."""
    stmt = sa.select(Notification).where(Notification.user_id == actor.user_id)
    if unread:
        stmt = stmt.where(Notification.read_at.is_(None))
    return stmt.order_by(Notification.created_at.desc(), Notification.id.desc())


@atomic
def mark_read(*, session: Session, actor: Actor, notification_id: int,
              now: datetime) -> Notification:
    """Mark one of the caller's notifications read (the first read time is kept).

    :raises NotificationNotFound: no such notification, or it is someone else's.
    """
    notification = session.get(Notification, notification_id)
    if notification is None or notification.user_id != actor.user_id:
        raise NotificationNotFound(notification_id=notification_id)
    if notification.read_at is None:
        notification.read_at = now
    session.commit()
    return notification

"""Alerts for supervisors: raised once per cause, acknowledged, resolved, swept.

A cause names what went wrong and, for a visit, whose visit it was (``late``,
``no_show``, ``overtime`` and ``geofence`` name the nurse; ``unassigned`` names the
dispatch episode), so a new nurse late on a reassigned order, or a second
dispatch failure after the order lost its nurse, is a new alert, while a sweep
running twice, or a cause a supervisor already resolved, raises nothing again.

``late``, ``no_show``, ``overtime`` and ``unassigned`` alerts resolve themselves
when their cause goes away (``resolve_gone``, called by every order transition
and by the sweep). ``geofence`` and ``sos`` alerts never do: a check-in far from
the address and an alarm are for a supervisor to review and resolve, whatever
the visit did afterwards.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from homecare.accounts.service import active_supervisors
from homecare.alerts.models import ALERT_KINDS, Alert
from homecare.audit.service import record
from homecare.auth import Actor, ensure_visible
from homecare.config import Config
from homecare.db import UTCDateTime, atomic
from homecare.duty.service import texted_supervisors
from homecare.errors import Conflict, NotFound
from homecare.notifications.service import notify
from homecare.nurseday.model import day_span
from homecare.orders.models import Order
from homecare.orders.states import AWAITED, SEEKING_NURSE, touch

log = logging.getLogger(__name__)

ALERT_STATUSES = ("open", "acknowledged", "resolved")
SEVERITIES = ("warning", "high", "critical")
# The order statuses in which a nurse is expected but not yet at the door.


class AlertNotFound(NotFound):
    code, title = "alert_not_found", "No such alert"


class AlertAlreadyAcknowledged(Conflict):
    code, title = "alert_already_acknowledged", "The alert has been acknowledged already"


class AlertAlreadyResolved(Conflict):
    code, title = "alert_already_resolved", "The alert has been resolved already"


# A visit's causes name the nurse: once the order is someone else's, her being late
# is history and the new nurse's lateness is a cause of its own.
def late_cause(order_id: int, nurse_id: int | None) -> str:
    return f"late:order:{order_id}:nurse:{nurse_id}"


def no_show_cause(order_id: int, nurse_id: int | None) -> str:
    return f"no_show:order:{order_id}:nurse:{nurse_id}"


def overtime_cause(order_id: int, nurse_id: int | None) -> str:
    return f"overtime:order:{order_id}:nurse:{nurse_id}"


def geofence_cause(order_id: int, nurse_id: int | None) -> str:
    return f"geofence:order:{order_id}:nurse:{nurse_id}"


# ---------------------------------------------------------------- seams for other domains


def raise_alert(session: Session, *, kind: str, cause: str, organization_id: int,
                now: datetime, order_id: int | None = None, nurse_id: int | None = None,
                family_bed_id: int | None = None,
                severity: str = "warning", detail: str | None = None,
                lat: float | None = None, lng: float | None = None,
                actor: Actor | None = None) -> Alert | None:
    """Open an alert for ``cause`` unless one was raised for it already (no commit).

    Returns the new alert, or None when the cause had one. The unique ``cause``
    column makes this hold across processes: a savepoint absorbs the losing insert.
    A new alert goes on the audit trail here, so no caller can forget it;
    ``actor`` is who caused it (the nurse checking in or pressing SOS), None the
    service.
    """
    if kind not in ALERT_KINDS:
        raise ValueError(f"unknown alert kind {kind!r}")
    if session.scalar(sa.select(Alert.id).where(Alert.cause == cause)) is not None:
        return None
    alert = Alert(kind=kind, cause=cause, organization_id=organization_id, order_id=order_id,
                  nurse_id=nurse_id, family_bed_id=family_bed_id, severity=severity,
                  detail=detail, lat=lat, lng=lng, status="open", raised_at=now)
    try:
        with session.begin_nested():
            session.add(alert)
    except sa.exc.IntegrityError:
        return None
    if order_id is not None:
        touch(session, order_id)
    audit = {"kind": kind, "cause": cause, "order_id": order_id, "nurse_id": nurse_id,
             "severity": severity}
    if lat is not None:
        audit.update(lat=lat, lng=lng)
    record(session, actor=actor, action="alert.raised", object_type="alert",
           object_id=alert.id, organization_id=organization_id, now=now, detail=audit)
    return alert


def resolve_cause(session: Session, *, cause: str, now: datetime,
                  actor: Actor | None = None) -> bool:
    """Resolve the open alert for ``cause``, if any, because its cause went away (no commit).

    The resolution goes on the audit trail in the name of ``actor``, whose action
    made the cause go away (the nurse checking in, from her device's address); None
    is the service. ``resolved_by`` keeps the account, if any.
    """
    resolved_by = actor.user_id if actor is not None else None
    resolved = session.execute(
        sa.update(Alert).where(Alert.cause == cause, Alert.status != "resolved")
        .values(status="resolved", resolved_at=now, resolved_by=resolved_by)
        .returning(Alert.id, Alert.organization_id)
        .execution_options(synchronize_session=False)).all()
    for alert_id, organization_id in resolved:
        record(session, actor=actor, action="alert.resolved", object_type="alert",
               object_id=alert_id, organization_id=organization_id, now=now,
               detail={"cause": cause, "automatic": True, "resolved_by": resolved_by})
    return bool(resolved)


def _gone() -> dict[str, sa.ColumnElement[bool]]:
    """THE rule of when an alert's cause has gone away, by kind, as a condition on
    the alert joined with its order. ``geofence`` and ``sos`` are not here: they
    stay open for a supervisor to review."""
    # Another nurse's order now (reassigned, taken off): her alert is moot. A
    # NULL on either side is not "another nurse".
    moved = Alert.nurse_id != Order.nurse_id
    # A late nurse who checked in, a cancelled visit, a visit that ended.
    awaited_gone = sa.or_(Order.status.not_in(AWAITED), Order.checked_in_at.is_not(None),
                          moved)
    return {
        "late": awaited_gone,
        "no_show": awaited_gone,
        "overtime": sa.or_(Order.status != "in_service", moved),
        # Assigned (accepted, by a supervisor, by the day plan), or finished
        # (cancelled, expired, rejected): nobody needs to find a nurse any more.
        "unassigned": Order.status.not_in(SEEKING_NURSE),
    }


def _gone_alerts() -> sa.Select:
    return (sa.select(Alert.kind, Alert.cause).join(Order, Order.id == Alert.order_id)
            .where(Alert.status != "resolved",
                   sa.or_(*(sa.and_(Alert.kind == kind, condition)
                            for kind, condition in _gone().items())))
            .order_by(Alert.id))


# Run after every transition of every order: built once (building it was a tenth of a
# booking's CPU).
_GONE_OF_ORDER = _gone_alerts().where(Alert.order_id == sa.bindparam("order_id"))


def resolve_gone(session: Session, *, now: datetime, order_id: int | None = None,
                 actor: Actor | None = None) -> Counter[str]:
    """Resolve every open alert whose cause went away (no commit); counts by kind.

    ``orders.states.transition`` calls it for the order it moved, in its
    transaction and in the name of its actor, so an alert closes the moment its
    cause does; the sweep calls it for every order as a safety net. Without
    ``order_id`` alerts another transaction holds are skipped (PostgreSQL): that
    transaction is resolving them.
    """
    if order_id is not None:
        rows = session.execute(_GONE_OF_ORDER, {"order_id": order_id}).all()
    else:
        rows = session.execute(_gone_alerts().with_for_update(skip_locked=True, of=Alert)).all()
    counts: Counter[str] = Counter()
    for kind, cause in rows:
        if resolve_cause(session, cause=cause, now=now, actor=actor):
            counts[f"{kind}_resolved"] += 1
    return counts


def open_alert_counts(*, session: Session, organization_id: int) -> dict[str, int]:
    """Open (not resolved) alerts of an organization by kind, for the dispatch board."""
    rows = session.execute(
        sa.select(Alert.kind, sa.func.count()).where(
            Alert.organization_id == organization_id, Alert.status != "resolved")
        .group_by(Alert.kind))
    return {kind: count for kind, count in rows}


# ---------------------------------------------------------------- the console


def list_alerts(*, session: Session, actor: Actor, config: Config, kind: str | None = None,
                status: str | None = None, day: date | None = None,
                order_id: int | None = None) -> sa.Select:
    """The alerts of the caller's organization, newest first.

    ``day`` is a local date (``config.timezone``) of ``raised_at``. Admins see
    every organization's alerts.
    """
    stmt = sa.select(Alert)
    if actor.role != "admin":
        stmt = stmt.where(Alert.organization_id == actor.organization_id)
    if kind is not None:
        stmt = stmt.where(Alert.kind == kind)
    if status is not None:
        stmt = stmt.where(Alert.status == status)
    if order_id is not None:
        stmt = stmt.where(Alert.order_id == order_id)
    if day is not None:
        span = day_span(day, config.timezone)
        stmt = stmt.where(Alert.raised_at >= span.midnight, Alert.raised_at < span.end)
    return stmt.order_by(Alert.raised_at.desc(), Alert.id.desc())


def access_alert(session: Session, actor: Actor, alert_id: int) -> Alert:
    """One alert of the caller's organization.

    :raises AlertNotFound: (404) no such alert, or another organization's.
    """
    alert = session.get(Alert, alert_id, populate_existing=True)
    if alert is None:
        raise AlertNotFound(alert_id=alert_id)
    ensure_visible(actor, alert.organization_id, AlertNotFound, alert_id=alert_id)
    return alert


def _change(session: Session, alert: Alert, *, from_statuses: tuple[str, ...],
            values: dict[str, Any]) -> bool:
    # Compare-and-set on the status read: of two supervisors acting at once one wins.
    done = session.execute(
        sa.update(Alert).where(Alert.id == alert.id, Alert.status.in_(from_statuses))
        .values(**values).execution_options(synchronize_session=False))
    session.refresh(alert)
    return done.rowcount == 1


def _refusal(alert: Alert) -> Conflict:
    if alert.status == "resolved":
        return AlertAlreadyResolved(
            f"resolved at {alert.resolved_at.isoformat()}", alert_id=alert.id,
            current_status=alert.status, resolved_by=alert.resolved_by)
    return AlertAlreadyAcknowledged(
        f"acknowledged at {alert.acked_at.isoformat()}", alert_id=alert.id,
        current_status=alert.status, acked_by=alert.acked_by)


@atomic
def acknowledge_alert(*, session: Session, actor: Actor, alert_id: int,
                      now: datetime) -> Alert:
    """A supervisor takes an open alert on: who and when are kept.

    :raises AlertNotFound: (404) no such alert in the caller's organization.
    :raises AlertAlreadyAcknowledged: (409) someone acknowledged it first.
    :raises AlertAlreadyResolved: (409) it is resolved already.
    """
    alert = access_alert(session, actor, alert_id)
    if not _change(session, alert, from_statuses=("open",),
                   values={"status": "acknowledged", "acked_by": actor.user_id,
                           "acked_at": now}):
        raise _refusal(alert)
    record(session, actor=actor, action="alert.acknowledged", object_type="alert",
           object_id=alert.id, organization_id=alert.organization_id, now=now,
           detail={"kind": alert.kind, "order_id": alert.order_id})
    session.commit()
    return alert


@atomic
def resolve_alert(*, session: Session, actor: Actor, alert_id: int, now: datetime,
                  note: str | None = None) -> Alert:
    """A supervisor closes an alert (open or acknowledged); ``note`` goes on the trail.

    An alert resolved without having been acknowledged counts as acknowledged by
    the same supervisor at the same time: someone did look at it.

    :raises AlertNotFound: (404) no such alert in the caller's organization.
    :raises AlertAlreadyResolved: (409) it is resolved already.
    """
    alert = access_alert(session, actor, alert_id)
    values: dict[str, Any] = {"status": "resolved", "resolved_by": actor.user_id,
                              "resolved_at": now,
                              "acked_by": sa.func.coalesce(Alert.acked_by, actor.user_id),
                              "acked_at": sa.func.coalesce(Alert.acked_at,
                                                           sa.literal(now, UTCDateTime()))}
    if not _change(session, alert, from_statuses=("open", "acknowledged"), values=values):
        raise _refusal(alert)
    record(session, actor=actor, action="alert.resolved", object_type="alert",
           object_id=alert.id, organization_id=alert.organization_id, now=now,
           detail={"kind": alert.kind, "order_id": alert.order_id, "note": note})
    session.commit()
    return alert


# ---------------------------------------------------------------- the sweep


# Kinds whose raising also pages the organization's supervisors (the console
# shows the rest); overtime is about the nurse's safety, so it is urgent.
_PAGED = {"no_show": False, "overtime": True}


@atomic
def sweep_alerts(*, session: Session, now: datetime, config: Config) -> dict[str, int]:
    """Raise ``late``, ``no_show`` and ``overtime`` alerts that are due, and resolve
    any whose cause went away (``resolve_gone``; transitions resolve theirs at
    once, so this finds only what slipped past them). Commits.

    ``late`` and ``no_show`` count from the planned arrival, or the window's start
    when the day has not been planned. Idempotent: each cause raises one alert
    however often this runs, in however many processes. Returns counts.
    """
    counts: Counter[str] = Counter()
    _raise_awaited(session, now, config, counts)
    _raise_overtime(session, now, config, counts)
    counts.update(resolve_gone(session, now=now))
    session.commit()
    return dict(counts)


def _raise_awaited(session: Session, now: datetime, config: Config, counts: Counter) -> None:
    expected = sa.func.coalesce(Order.planned_arrival, Order.window_start)
    for kind, after, cause_of, severity in (
            ("late", config.late_after_minutes, late_cause, "warning"),
            ("no_show", config.no_show_after_minutes, no_show_cause, "high")):
        rows = session.execute(
            sa.select(Order.id, Order.organization_id, Order.nurse_id,
                      expected.label("expected"))
            .where(Order.status.in_(AWAITED), Order.checked_in_at.is_(None),
                   expected <= now - timedelta(minutes=after), _no_alert(kind))
            .order_by(Order.id)).all()
        for row in rows:
            if not _still(session, row.id, AWAITED, checked_in=False):
                continue
            expected_at = _aware(row.expected)
            minutes = int((now - expected_at).total_seconds() // 60)
            _raise_swept(session, kind=kind, cause=cause_of(row.id, row.nurse_id),
                         severity=severity,
                         now=now, organization_id=row.organization_id, order_id=row.id,
                         nurse_id=row.nurse_id, counts=counts,
                         detail=f"no check-in {minutes} min after the expected arrival "
                                f"{expected_at.isoformat()}")


def _no_alert(kind: str) -> sa.ColumnElement[bool]:
    """The order has had no alert of ``kind`` for its nurse yet: an order raised for
    once is not looked at again every minute (the unique cause would refuse it
    anyway), but a nurse it was reassigned to is."""
    return ~sa.exists().where(Alert.order_id == Order.id, Alert.kind == kind,
                              Alert.nurse_id == Order.nurse_id)


def _raise_overtime(session: Session, now: datetime, config: Config, counts: Counter) -> None:
    grace = timedelta(minutes=config.overtime_grace_minutes)
    rows = session.execute(
        sa.select(Order.id, Order.organization_id, Order.nurse_id, Order.checked_in_at,
                  Order.duration_min)
        .where(Order.status == "in_service", Order.checked_in_at <= now - grace,
               _no_alert("overtime"))
        .order_by(Order.id)).all()
    for row in rows:
        on_site = now - row.checked_in_at
        if on_site < timedelta(minutes=row.duration_min) + grace:
            continue
        if not _still(session, row.id, ("in_service",), checked_in=True):
            continue
        detail = (f"on site {int(on_site.total_seconds() // 60)} min; the item takes "
                  f"{row.duration_min} min")
        _raise_swept(session, kind="overtime", cause=overtime_cause(row.id, row.nurse_id),
                     severity="high",
                     now=now, organization_id=row.organization_id, order_id=row.id,
                     nurse_id=row.nurse_id, detail=detail, counts=counts)


def _still(session: Session, order_id: int, statuses: tuple[str, ...], *,
           checked_in: bool) -> bool:
    """Re-read the order under its row lock: a check-in that committed since the
    sweep's first read must not get a stale alert it would never resolve."""
    row = session.execute(
        sa.select(Order.status, Order.checked_in_at).where(Order.id == order_id)
        .with_for_update(skip_locked=True)).first()
    return (row is not None and row.status in statuses
            and (row.checked_in_at is not None) == checked_in)


def _raise_swept(session: Session, *, kind: str, cause: str, severity: str, now: datetime,
                 organization_id: int, order_id: int, nurse_id: int | None, detail: str,
                 counts: Counter) -> None:
    alert = raise_alert(session, kind=kind, cause=cause, organization_id=organization_id,
                        now=now, order_id=order_id, nurse_id=nurse_id, severity=severity,
                        detail=detail)
    if alert is None:
        return
    counts[f"{kind}_raised"] += 1
    if kind in _PAGED:
        page_supervisors(session, alert=alert, now=now, urgent=_PAGED[kind])


def page_supervisors(session: Session, *, alert: Alert, now: datetime,
                     urgent: bool) -> int:
    """Put a message about ``alert`` in the outbox for each active supervisor of its
    organization (no commit); returns how many.

    Every one of them sees it in the app, on duty or not. An ``urgent`` one is also
    texted, to the supervisors on duty now, or to every active supervisor when the
    roster has nobody on duty: an SOS is never left with nobody's phone ringing
    (``duty.service.texted_supervisors``).
    """
    supervisors = active_supervisors(session, organization_id=alert.organization_id)
    payload = {"alert_id": alert.id, "kind": alert.kind, "severity": alert.severity,
               "order_id": alert.order_id, "nurse_id": alert.nurse_id,
               "raised_at": alert.raised_at.isoformat(), "detail": alert.detail}
    if alert.lat is not None:
        payload.update(lat=alert.lat, lng=alert.lng)
    texted = texted_supervisors(session, organization_id=alert.organization_id,
                                at=now) if urgent else set()
    for user_id in supervisors:
        notify(session, user_id=user_id, kind=f"alert_{alert.kind}", now=now,
               order_id=alert.order_id, payload=payload, urgent=urgent,
               sms=user_id in texted)
    return len(supervisors)


def _aware(value: datetime | str) -> datetime:
    # The stored value is UTC whatever form a driver hands back for an expression.
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)

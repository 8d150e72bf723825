"""Live updates: what a caller's event stream (``GET /events/stream``) shows, read from
the tables the service writes anyway, so a reconnect with ``Last-Event-ID`` replays
exactly what was missed.

Sources, each read by its own increasing row id:

- ``n`` the notifications outbox rows addressed to the caller (every role): a
  patient's orders moving (assigned, departed, arrived, no-show, ...), a nurse's
  offers made and withdrawn and visits assigned or taken off her, a supervisor's
  urgent pages (SOS).
- ``e`` (supervisors) the order events of her organization: the board changing.
- ``a`` (supervisors) the alerts raised in her organization, SOS first in a batch.
- ``t`` (patients) her nurse on the way: the location pings, since departure, of the
  nurse of an order of hers that is ``en_route``, those that moved the ETA by a
  minute or more (``nurses.availability.ETA_STEP_MIN``, marked with ``eta_min``
  when the ping was stored), as ``eta`` events. Read from the trace itself, not
  copied into the outbox: a position goes with the trace's retention, never
  reaches a push gateway's logs or the inbox, and once she checks in (the order
  no longer ``en_route``) none is sent, not even on replay.
- ``r`` (supervisors) the repairs of her organization's planned days, as each finishes
  (the ``DayPlan`` a repair records, ``scheduling.repair_queue``): ``repair`` events
  saying what moved and why.

Scoping is by the query, never by filtering afterwards: a notification is read only
by its addressee, events and alerts only by their organization's supervisors, an
ETA only by the owner of the order's care recipient.

The event id is a cursor over all of the caller's sources (``n12.e40.a3``,
``n12.t40``): the last row of each source already sent. A client that reconnects
with it gets what came after, whichever source it came from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from homecare.alerts.models import Alert
from homecare.auth import Actor
from homecare.errors import ValidationProblem
from homecare.notifications.models import Notification
from homecare.nurses.models import LocationPing
from homecare.orders.models import Order, OrderEvent
from homecare.patients.models import CareRecipient
from homecare.scheduling.models import DayPlan
from homecare.schemas import location_out

# Rows read per source and poll: a client far behind catches up over several polls.
BATCH = 200
_PART = re.compile(r"([neart])(\d{1,12})")


class BadLastEventId(ValidationProblem):
    code, title = "bad_last_event_id", "Last-Event-ID is not an id this stream sent"


@dataclass(frozen=True)
class Event:
    id: str  # the cursor after this event
    name: str
    data: dict[str, Any]


def sources(actor: Actor) -> tuple[str, ...]:
    """The sources the caller's stream reads."""
    if actor.role == "supervisor":
        return ("n", "e", "a", "r")
    return ("n", "t") if actor.role == "patient" else ("n",)


def format_cursor(cursor: dict[str, int]) -> str:
    return ".".join(f"{source}{cursor[source]}" for source in sorted(cursor))


def parse_cursor(raw: str | None, actor: Actor, session: Session) -> dict[str, int]:
    """The cursor a ``Last-Event-ID`` names; without one, the present (only what
    happens from now on is sent). A source the id does not name starts at the present.

    :raises BadLastEventId: (422) not of the form this stream sends.
    """
    cursor = _present(session, actor)
    if raw is None or not raw.strip():
        return cursor
    parts = raw.strip().split(".")
    parsed = [_PART.fullmatch(part) for part in parts]
    if not all(parsed) or len(parts) > len(cursor):
        raise BadLastEventId(last_event_id=raw[:100])
    for match in parsed:
        if match.group(1) in cursor:
            cursor[match.group(1)] = int(match.group(2))
    return cursor


def _present(session: Session, actor: Actor) -> dict[str, int]:
    latest = {"n": sa.select(sa.func.max(Notification.id)).where(
                  Notification.user_id == actor.user_id),
              "e": _order_events(actor).with_only_columns(sa.func.max(OrderEvent.id)),
              "a": sa.select(sa.func.max(Alert.id)).where(
                  Alert.organization_id == actor.organization_id),
              "t": _eta_pings(actor).with_only_columns(sa.func.max(LocationPing.id)),
              "r": _repairs(actor).with_only_columns(sa.func.max(DayPlan.id))}
    return {source: session.scalar(latest[source]) or 0 for source in sources(actor)}


def _order_events(actor: Actor) -> sa.Select:
    return (sa.select(OrderEvent).join(Order, Order.id == OrderEvent.order_id)
            .where(Order.organization_id == actor.organization_id))


def _eta_pings(actor: Actor) -> sa.Select:
    # The same rule as GET /orders/{id}/tracking: the owner, while en route, the
    # nurse holding the order, her pings since she set off.
    return (sa.select(LocationPing)
            .join(Order, sa.and_(Order.id == LocationPing.order_id,
                                 Order.nurse_id == LocationPing.nurse_id))
            .join(CareRecipient, CareRecipient.id == Order.patient_id)
            .where(CareRecipient.owner_id == actor.user_id, Order.status == "en_route",
                   LocationPing.eta_min.is_not(None),
                   LocationPing.recorded_at >= Order.departed_at))


def _repairs(actor: Actor) -> sa.Select:
    # A repair's DayPlan is written when the repair finishes, so its id orders the
    # finished repairs (the queue's own rows are numbered when the first change came).
    return sa.select(DayPlan).where(DayPlan.organization_id == actor.organization_id,
                                    DayPlan.result["kind"].as_string() == "repair")


def events_after(session: Session, actor: Actor, cursor: dict[str, int]) -> list[Event]:
    """What happened in the caller's scope after ``cursor``, oldest first per source
    (alerts first, SOS before others), each with the cursor that follows it."""
    cursor = dict(cursor)
    out: list[Event] = []

    def emit(source: str, row_id: int, name: str, data: dict[str, Any]) -> None:
        cursor[source] = max(cursor[source], row_id)
        out.append(Event(format_cursor(cursor), name, data))

    if "a" in cursor:
        alerts = session.scalars(sa.select(Alert).where(
            Alert.organization_id == actor.organization_id, Alert.id > cursor["a"])
            .order_by(Alert.id).limit(BATCH)).all()
        # SOS first. Sent out of order, an event's cursor stops below the oldest alert
        # of the batch not sent yet: a client cut off there is sent those again (at
        # least once; the alert id tells duplicates), never skips one.
        unsent = sorted(alert.id for alert in alerts)
        last = unsent[-1] if unsent else 0
        for alert in sorted(alerts, key=lambda a: (a.kind != "sos", a.id)):
            unsent.remove(alert.id)
            emit("a", unsent[0] - 1 if unsent else last, "alert", {
                "id": alert.id, "kind": alert.kind, "severity": alert.severity,
                "order_id": alert.order_id, "nurse_id": alert.nurse_id,
                "detail": alert.detail, "raised_at": alert.raised_at.isoformat()})
    if "e" in cursor:
        rows = session.scalars(_order_events(actor).where(OrderEvent.id > cursor["e"])
                               .order_by(OrderEvent.id).limit(BATCH)).all()
        for event in rows:
            emit("e", event.id, "order", {
                "order_id": event.order_id, "from_status": event.from_status,
                "to_status": event.to_status, "nurse_id": event.nurse_id,
                "at": event.at.isoformat()})
    if "r" in cursor:
        for plan in session.scalars(_repairs(actor).where(DayPlan.id > cursor["r"])
                                    .order_by(DayPlan.id).limit(BATCH)):
            emit("r", plan.id, "repair", repair_event(plan))
    notes = session.scalars(sa.select(Notification).where(
        Notification.user_id == actor.user_id, Notification.id > cursor["n"])
        .order_by(Notification.id).limit(BATCH)).all()
    for note in notes:
        emit("n", note.id, "notification", {
            "id": note.id, "kind": note.kind, "order_id": note.order_id,
            "urgent": note.urgent, "payload": note.payload,
            "created_at": note.created_at.isoformat()})
    if "t" in cursor:
        pings = session.scalars(_eta_pings(actor).where(LocationPing.id > cursor["t"])
                                .order_by(LocationPing.id).limit(BATCH)).all()
        for ping in pings:
            place = location_out(ping.lat, ping.lng)
            emit("t", ping.id, "eta", {
                "order_id": ping.order_id, "eta_min": ping.eta_min, "lat": ping.lat,
                "lng": ping.lng, "gcj02": place["gcj02"], "accuracy_m": ping.accuracy_m,
                "updated_at": ping.recorded_at.isoformat()})
    return out


def repair_event(plan: DayPlan) -> dict[str, Any]:
    """A finished repair as the stream tells it: the day, and per kind of change the
    orders it concerned with their reasons (the full diff is in
    ``GET /dispatch/plan/repairs``)."""
    diff = (plan.result or {}).get("diff") or {}
    return {"day_plan_id": plan.id, "date": plan.day.isoformat(),
            "created_at": plan.created_at.isoformat(),
            **{kind: diff.get(kind, []) for kind in ("moved", "added", "dropped", "retimed",
                                                     "stranded")}}

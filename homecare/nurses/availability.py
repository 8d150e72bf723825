"""Nurses' published availability (shifts) and location pings while working."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from homecare.db import atomic, in_fixed
from homecare.errors import Conflict, TooManyRequests, ValidationProblem
from homecare.geo import Point, TravelModel, eta_minutes
from homecare.nurseday.model import merge_stretches
from homecare.nurses.models import LocationPing, Nurse, Shift
from homecare.orders.models import Order
from homecare.orders.states import UNDER_WAY
from homecare.patients.models import Address

Window = tuple[datetime, datetime]


class ShiftInPast(ValidationProblem):
    code, title = "shift_in_past", "A window starts or ends in the past"


class NotTracking(Conflict):
    code, title = "not_tracking", "Location is recorded only while working"


class PingRateLimited(TooManyRequests):
    code, title = "ping_rate_limited", "Location pings are too frequent"


def merge_windows(windows: Iterable[Window]) -> list[Window]:
    """Sorted windows with overlapping and touching ones merged (``nurseday.model``)."""
    return merge_stretches(windows)


def shifts_covering(*, session: Session, nurse_ids: Iterable[int], start: datetime,
                    end: datetime) -> dict[int, list[Window]]:
    """Each nurse's availability windows overlapping [start, end), sorted by start.

    Every nurse asked about has an entry (an empty list: not available then).
    """
    ids = list(nurse_ids)
    result: dict[int, list[Window]] = {nurse_id: [] for nurse_id in ids}
    if not ids:
        return result
    for shift in session.scalars(sa.select(Shift).where(
            Shift.nurse_id.in_(ids), Shift.start < end, Shift.end > start)
            .order_by(Shift.nurse_id, Shift.start)):
        result[shift.nurse_id].append((shift.start, shift.end))
    return result


def on_shift_ids(*, session: Session, nurse_ids: Iterable[int], at: datetime) -> set[int]:
    """Those of ``nurse_ids`` with a published window covering ``at``."""
    ids = list(nurse_ids)
    if not ids:
        return set()
    return set(session.scalars(sa.select(Shift.nurse_id).where(
        Shift.nurse_id.in_(ids), Shift.start <= at, Shift.end > at)))


def is_on_shift(*, session: Session, nurse_id: int, at: datetime) -> bool:
    """Whether a published window of the nurse covers ``at``."""
    return bool(on_shift_ids(session=session, nurse_ids=[nurse_id], at=at))


def list_shifts(*, session: Session, nurse: Nurse, start: datetime | None, end: datetime | None,
                now: datetime) -> list[Shift]:
    """The nurse's windows ending after ``start`` (default now) and starting before ``end``."""
    stmt = sa.select(Shift).where(Shift.nurse_id == nurse.id,
                                  Shift.end > (start or now)).order_by(Shift.start)
    if end is not None:
        stmt = stmt.where(Shift.start < end)
    return list(session.scalars(stmt))


@atomic
def replace_shifts(*, session: Session, nurse: Nurse, windows: list[dict[str, datetime]],
                   now: datetime) -> list[Shift]:
    """Replace the nurse's availability from now on with ``windows``, merged.

    Windows that have ended are history and never change. The running window
    (started, not ended) is kept if resubmitted with its start, possibly with a
    new end; if left out, it is closed now (she goes off duty). Every other
    window must start at or after now. Returns her windows that have not ended.

    :raises ShiftInPast: a window ended already, or starts in the past without
        being the running one (``index`` names it).
    """
    running = session.scalar(sa.select(Shift).where(
        Shift.nurse_id == nurse.id, Shift.start <= now, Shift.end > now))
    submitted = [(w["start"], w["end"]) for w in windows]
    for index, (start, end) in enumerate(submitted):
        if end <= now:
            raise ShiftInPast(f"window {index} ended at {end.isoformat()}", index=index)
        if start < now and (running is None or start != running.start):
            raise ShiftInPast(
                f"window {index} starts in the past; only the running window may keep its "
                "start, every other window starts now or later", index=index)
    kept: list[Window] = []
    if running is not None and running.start < now and \
            running.start not in {start for start, _ in submitted}:
        kept.append((running.start, now))
    merged = merge_windows(kept + submitted)

    session.execute(sa.delete(Shift).where(Shift.nurse_id == nurse.id, Shift.start > now)
                    .execution_options(synchronize_session=False))
    if running is not None:
        match = next((w for w in merged if w[0] == running.start), None)
        if match is None:
            session.delete(running)
        else:
            running.end = match[1]
            merged.remove(match)
    session.add_all(Shift(nurse_id=nurse.id, start=start, end=end) for start, end in merged)
    session.flush()
    result = list_shifts(session=session, nurse=nurse, start=now, end=None, now=now)
    session.commit()
    return result


@dataclass(frozen=True)
class KeptPing:
    """A stored location ping, as the client is told about it."""

    id: int
    nurse_id: int
    order_id: int | None
    lat: float
    lng: float
    accuracy_m: float | None
    recorded_at: datetime
    received_at: datetime
    eta_min: float | None = None


def _active_order(nurse_id) -> sa.ScalarSelect:
    # Location is recorded only during active work (PIPL): from departure to check-out.
    return (sa.select(sa.func.min(Order.id))
            .where(Order.nurse_id == nurse_id, in_fixed(Order.status, UNDER_WAY))
            .scalar_subquery())


def _on_shift(nurse_id, at) -> sa.Exists:
    return sa.exists().where(Shift.nurse_id == nurse_id, Shift.start <= at, Shift.end > at)


def _ping_update(match: sa.ColumnElement[bool]) -> sa.Update:
    """Her position, if she is working and her last ping is old enough; returns her
    id and active order. Built once: pings are too frequent to build it each time."""
    now = sa.bindparam("now", type_=Nurse.last_ping_at.type)
    active_order = _active_order(Nurse.id)
    return (sa.update(Nurse).where(
        match,
        sa.or_(Nurse.last_ping_at.is_(None), Nurse.last_ping_at <= sa.bindparam("cutoff")),
        sa.or_(active_order.is_not(None), _on_shift(Nurse.id, now)))
        .values(last_lat=sa.bindparam("lat"), last_lng=sa.bindparam("lng"), last_ping_at=now)
        .returning(Nurse.id, active_order))


_PING_BY_USER = _ping_update(Nurse.user_id == sa.bindparam("who"))
_PING_BY_NURSE = _ping_update(Nurse.id == sa.bindparam("who"))
_PING_INSERT = sa.insert(LocationPing).returning(LocationPing.id)

# The family's stream shows a ping of her nurse on the way only when it moved the ETA
# by this much since the last one shown: a ping every few seconds would flood it
# with tenths of a minute.
ETA_STEP_MIN = 1.0


def _en_route_eta() -> sa.Select:
    """The order if it is en route: when she set off, the address, and the ETA last
    shown since then (on the order's latest ETA ping)."""
    last_shown = (sa.select(LocationPing.eta_min)
                  .where(LocationPing.order_id == Order.id, LocationPing.eta_min.is_not(None),
                         LocationPing.recorded_at >= Order.departed_at)
                  .order_by(LocationPing.id.desc()).limit(1).scalar_subquery())
    return (sa.select(Order.departed_at, Address.lat, Address.lng, last_shown.label("shown"))
            .join(Address, Address.id == Order.address_id)
            .where(Order.id == sa.bindparam("order_id"), Order.status == "en_route"))


_EN_ROUTE_ETA = _en_route_eta()


@atomic
def store_ping(*, session: Session, nurse: Nurse | None = None, user_id: int | None = None,
               lat: float, lng: float, accuracy_m: float | None,
               recorded_at: datetime | None, now: datetime,
               min_interval_seconds: int,
               travel: TravelModel | None = None) -> tuple[KeptPing, str] | None:
    """Keep a position report of a working nurse (``nurse``, or the nurse profile of
    ``user_id``); returns the ping and why it was kept.

    Kept while she is on an active order (departed to checked out: the trace goes
    on the order) or on shift; her latest position goes on her profile for
    dispatch. A fix time in the future is taken as the receive time. On her way
    to a visit (``en_route``), with ``travel`` given, a ping that moves her ETA to
    the address by ``ETA_STEP_MIN`` or more since the last one shown (or is her
    first since departure) carries its ``eta_min``: the family's event stream
    shows those pings (``events.service``), so they go with the trace's retention.

    Pings are the busiest write of the service (every working nurse, every few
    seconds), so the usual case is two prepared Core statements on the session's
    connection: one UPDATE of her profile that checks she is working and not
    pinging too often (a compare-and-set on ``last_ping_at``: of two concurrent
    pings only one passes) and returns her active order, then the INSERT. Only a
    refused ping reads more, to say why.

    :returns: None when ``user_id`` has no nurse profile.
    :raises NotTracking: neither on an active order nor on shift.
    :raises PingRateLimited: sooner than ``min_interval_seconds`` after her last ping
        (with Retry-After).
    """
    interval = timedelta(seconds=min_interval_seconds)
    statement, who = ((_PING_BY_NURSE, nurse.id) if nurse is not None
                      else (_PING_BY_USER, user_id))
    connection = session.connection()
    kept = connection.execute(statement, {"who": who, "now": now, "cutoff": now - interval,
                                          "lat": lat, "lng": lng}).first()
    if kept is None:
        match = Nurse.id == who if nurse is not None else Nurse.user_id == who
        return _refused(session, match, now, interval, min_interval_seconds)
    nurse_id, order_id = kept
    recorded_at = min(recorded_at or now, now)
    eta = (_eta_if_moved(connection, order_id, Point(lat, lng), recorded_at, travel)
           if order_id is not None and travel is not None else None)
    values = {"nurse_id": nurse_id, "order_id": order_id, "lat": lat, "lng": lng,
              "accuracy_m": accuracy_m, "recorded_at": recorded_at, "received_at": now,
              "eta_min": eta}
    ping_id = connection.execute(_PING_INSERT, values).scalar_one()
    session.commit()
    return KeptPing(id=ping_id, **values), ("order" if order_id is not None else "shift")


def _eta_if_moved(connection: sa.Connection, order_id: int, at: Point,
                  recorded_at: datetime, travel: TravelModel) -> float | None:
    """Her ETA to the order's address, if she is on her way there and it is news."""
    row = connection.execute(_EN_ROUTE_ETA, {"order_id": order_id}).first()
    if row is None or row.departed_at is None or recorded_at < row.departed_at:
        return None  # not on her way, or a fix from before she set off
    eta = eta_minutes(travel, at, Point(row.lat, row.lng))
    if row.shown is not None and abs(eta - row.shown) < ETA_STEP_MIN:
        return None
    return eta


def _refused(session: Session, match, now: datetime, interval: timedelta,
             min_interval_seconds: int) -> None:
    """Why a ping was not kept: no profile (None), off duty, or too soon."""
    row = session.execute(sa.select(Nurse.id, Nurse.last_ping_at, _active_order(Nurse.id),
                                    _on_shift(Nurse.id, now)).where(match)).first()
    if row is None:
        return None
    nurse_id, last, order_id, on_shift = row
    if order_id is None and not on_shift:
        raise NotTracking("location is recorded only on an active order (departed to "
                          "checked out) or during a published shift", nurse_id=nurse_id)
    wait = max(1, math.ceil((last + interval - now).total_seconds())) if last else 1
    raise PingRateLimited(f"one ping per {min_interval_seconds} s; retry in {wait} s",
                          headers={"Retry-After": str(wait)}, retry_after=wait)


@atomic
def purge_location_traces(*, session: Session, now: datetime, retention_days: int) -> int:
    """Delete pings recorded before the retention period and forget stale last positions.

    Location traces are sensitive personal information (PIPL art. 28): kept only
    ``retention_days`` (config ``trace_retention_days``). Returns pings deleted.
    Idempotent; commits.
    """
    cutoff = now - timedelta(days=retention_days)
    deleted = session.execute(sa.delete(LocationPing).where(LocationPing.recorded_at < cutoff)
                              .execution_options(synchronize_session=False)).rowcount
    session.execute(sa.update(Nurse).where(Nurse.last_ping_at < cutoff)
                    .values(last_lat=None, last_lng=None, last_ping_at=None)
                    .execution_options(synchronize_session=False))
    session.commit()
    return deleted

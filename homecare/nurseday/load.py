"""Reading nurses' days from the database into the model (``nurseday.model``), and the
lock on a nurse's day."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from homecare.config import Config
from homecare.db import in_fixed
from homecare.geo import Point
from homecare.nurseday.model import (
    SHIFT_MARGIN,
    Held,
    Stretch,
    at,
    day_span,
    secs,
    secs_up,
    stretches_of,
    visit,
)
from homecare.nurses.models import Nurse, Shift
from homecare.orders.models import Order
from homecare.orders.states import DAY_LOAD
from homecare.patients.models import Address


def _raw(column: Any) -> Any:
    """A UTC datetime column read as the driver gives it (naive UTC on SQLite)."""
    return sa.type_coerce(column, sa.DateTime()).label(column.key)


# Statements are built once: building a SELECT costs about as much as SQLite
# takes to run it, and a search runs several.
@functools.cache
def _shifts_stmt() -> sa.Select:
    return (sa.select(Shift.nurse_id, _raw(Shift.start), _raw(Shift.end))
            .where(Shift.nurse_id.in_(sa.bindparam("ids", expanding=True)),
                   Shift.start < sa.bindparam("until"), Shift.end > sa.bindparam("since"))
            .order_by(Shift.nurse_id, Shift.start, Shift.id))


def stretches(session: Session, nurse_ids: Sequence[int], day: date,
              config: Config) -> dict[int, list[Stretch]]:
    """Per nurse, the stretches of her shifts touching the local ``day``, in epoch
    seconds: back-to-back shifts merged, also across midnight (read ``SHIFT_MARGIN``
    either side first). Nurses without one are left out."""
    if not nurse_ids:
        return {}
    clock = day_span(day, config.timezone)
    rows = session.connection().execute(_shifts_stmt(), {
        "ids": list(nurse_ids), "until": clock.end + SHIFT_MARGIN,
        "since": clock.midnight - SHIFT_MARGIN}).all()
    spans: dict[int, list[tuple[Any, Any]]] = {}
    for nurse_id, s, e in rows:
        spans.setdefault(nurse_id, []).append((s, e))
    out: dict[int, list[Stretch]] = {}
    for nurse_id, mine in spans.items():
        found = stretches_of(mine, clock)
        if found:
            out[nurse_id] = found
    return out


@functools.cache
def _held_stmt() -> sa.Select:
    return (sa.select(Order.id, Order.nurse_id, Order.status, _raw(Order.window_start),
                      _raw(Order.window_end), Order.duration_min, _raw(Order.planned_arrival),
                      _raw(Order.checked_in_at), _raw(Order.checked_out_at), Order.service_date,
                      Address.lat, Address.lng)
            .join(Address, Address.id == Order.address_id)
            .where(Order.nurse_id.in_(sa.bindparam("ids", expanding=True)),
                   Order.window_start < sa.bindparam("until"),
                   Order.window_end > sa.bindparam("since"),
                   in_fixed(Order.status, DAY_LOAD), Order.id != sa.bindparam("skip")))


def held_visits(session: Session, nurse_ids: Sequence[int], day: date,
                shifts: dict[int, list[Stretch]], config: Config,
                exclude_order_id: int | None = None) -> dict[int, list[Held]]:
    """Per nurse, the visits she holds or has done that meet the local ``day`` or any of
    her ``shifts`` touching it, in visiting order.

    By time, not by booked date: a night shift runs past midnight, and a visit
    booked for the evening before still holds her at 00:15. Only the visits of
    ``day`` itself are marked ``on_day`` (her daily cap counts those).
    """
    if not nurse_ids:
        return {}
    clock = day_span(day, config.timezone)
    since, until = clock.midnight, clock.end
    spans = [s for mine in shifts.values() for s in mine]
    if spans:
        since = min(since, at(min(s for s, _e in spans)))
        until = max(until, at(max(e for _s, e in spans)))
    out: dict[int, list[Held]] = {}
    rows = session.connection().execute(_held_stmt(), {
        "ids": list(nurse_ids), "since": since, "until": until,
        "skip": exclude_order_id or 0}).all()
    for (order_id, nurse_id, status, start, end, minutes, planned, checked_in, checked_out,
         service_date, lat, lng) in rows:
        stop = visit(order_id, Point(lat, lng), start, end, minutes)
        out.setdefault(nurse_id, []).append(Held(
            order_id, status, stop, secs(planned) if planned else stop.window_start,
            secs_up(checked_in) if checked_in else None,
            secs(checked_out) if checked_out else None, service_date == day))
    for mine in out.values():
        mine.sort(key=lambda v: (v.sort_key, v.stop.window_start, v.id))
    return out


def lock_nurses(session: Session, nurse_ids: Iterable[int]) -> None:
    """Lock the nurses' rows until commit: a nurse's day changes one writer at a time.

    Her row is the lock on her day: two accepts, assignments or plan writes
    touching her day run one after the other, and the second sees the first's
    visit. Taken in id order, so no two writers wait on each other in a cycle.
    (SQLite writers are serialised by BEGIN IMMEDIATE already; FOR UPDATE is a
    no-op there.)
    """
    ids = sorted(set(nurse_ids))
    if ids:
        session.execute(sa.select(Nurse.id).where(Nurse.id.in_(ids)).order_by(Nurse.id)
                        .with_for_update())

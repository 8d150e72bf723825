"""Whether a visit fits a nurse's shifts and her day: the planner's insertion check, batched."""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from homecare.config import Config
from homecare.geo import Point, TravelModel
from homecare.nurses.availability import SHIFT_MARGIN
from homecare.nurses.models import Shift
from homecare.orders.models import Order
from homecare.orders.states import HOLDS_NURSE
from homecare.patients.models import Address
from homecare.scheduling import planner
from homecare.scheduling.insertion import best_insertion

# A nurse's day: the visits she holds or has done count towards her cap.
DAY_LOAD = HOLDS_NURSE | {"completed"}
UNDER_WAY = frozenset({"en_route", "in_service"})
# Every time rule of matching goes through scheduling.insertion.best_insertion;
# this module prepares its inputs and feeds it travel times. A search checks up
# to hundreds of nurses, and the travel model answers a 3-place question in
# nearly the time of a 20-place one, so the places of many checks go to it
# together and each check is served its own block of the answer. Distinct places
# per call: a call costs a fixed overhead plus a little per pair of places, so
# about 20 is the cheapest per place (measured: 4.6 us a place at 20, 15 us at
# 3, 7 us at 60). Times are whole seconds since the epoch, as the planner counts:
# starts rounded up, ends down, so rounding never widens a window.
_BATCH_POINTS = 20

# A stretch of shifts: (start, end) in seconds.
Stretch = tuple[int, int]
# A leg of travel: (from, to).
Leg = tuple[Point, Point]


_EPOCH = datetime(1970, 1, 1)


def _timestamp(at: datetime) -> float:
    # Naive values are UTC: the columns below are read without UTCDateTime's
    # per-value conversion (see _raw), which cost more than the queries.
    return at.timestamp() if at.tzinfo is not None else (at - _EPOCH).total_seconds()


def secs(at: datetime) -> int:
    """Whole seconds, rounded down: for the ends of windows and shifts."""
    return math.floor(_timestamp(at))


def secs_up(at: datetime) -> int:
    """Whole seconds, rounded up: for starts, so rounding never widens a window."""
    return math.ceil(_timestamp(at))


def _raw(column: Any) -> Any:
    """A UTC datetime column read as the driver gives it (naive UTC on SQLite)."""
    return sa.type_coerce(column, sa.DateTime()).label(column.key)


def at(seconds: int) -> datetime:
    """A planner time back as an aware UTC datetime."""
    return datetime.fromtimestamp(seconds, UTC)


def visit(key: object, place: Point, start: datetime, end: datetime,
          duration_min: int) -> planner.Visit:
    """A visit as the insertion check takes it: its window bounds the start of service."""
    opens = secs_up(start)
    return planner.Visit(id=key, place=place, window_start=opens,
                         window_end=max(secs(end), opens), service_s=duration_min * 60)


class Held(NamedTuple):
    """A visit she holds or has done near the order's day, ready for the insertion check."""

    id: int
    status: str
    stop: planner.Visit
    # Visiting order: the planned arrival where there is one, else the window start.
    sort_key: int
    checked_in: int | None
    checked_out: int | None
    # Booked for the order's local day: only these count towards her daily cap.
    on_day: bool


class Fit(NamedTuple):
    """Where the visit goes in her day: when she arrives and begins, and the leg there."""

    arrival: int
    start: int
    leg_m: int
    leg_s: int
    start_from: str


def day_bounds(day: date, config: Config) -> tuple[datetime, datetime]:
    """The UTC span of a local date in the service area's time zone."""
    zone = ZoneInfo(config.timezone)
    start = datetime.combine(day, time(0), zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(UTC)
    return start, end


@functools.cache
def _shifts_stmt() -> sa.Select:
    return (sa.select(Shift.nurse_id, _raw(Shift.start), _raw(Shift.end))
            .where(Shift.nurse_id.in_(sa.bindparam("ids", expanding=True)),
                   Shift.start < sa.bindparam("until"), Shift.end > sa.bindparam("since"))
            .order_by(Shift.nurse_id, Shift.start, Shift.id))


def stretches(session: Session, nurse_ids: Sequence[int], day: date,
              config: Config) -> dict[int, list[Stretch]]:
    """Per nurse, the stretches of her shifts touching the local ``day``: back-to-back
    shifts merged, also across midnight (read ``SHIFT_MARGIN`` either side first)."""
    if not nurse_ids:
        return {}
    start, end = day_bounds(day, config)
    rows = session.connection().execute(_shifts_stmt(), {
        "ids": list(nurse_ids), "until": end + SHIFT_MARGIN,
        "since": start - SHIFT_MARGIN}).all()
    merged: dict[int, list[list[datetime]]] = {}
    for nurse_id, s, e in rows:
        mine = merged.setdefault(nurse_id, [])
        # Shifts entered back to back (8-12, 12-16) are one stretch of work.
        # Merged before rounding to seconds, which would open a gap between them.
        if mine and s <= mine[-1][1]:
            mine[-1][1] = max(mine[-1][1], e)
        elif e > s:
            mine.append([s, e])
    since, until = secs(start), secs(end)
    out: dict[int, list[Stretch]] = {}
    for nurse_id, spans in merged.items():
        mine = [(secs_up(s), secs(e)) for s, e in spans]
        mine = [(s, e) for s, e in mine if e > since and s < until]
        if mine:
            out[nurse_id] = mine
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
                   Order.status.in_(sorted(DAY_LOAD)), Order.id != sa.bindparam("skip")))


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
    since, until = day_bounds(day, config)
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


def day_load(held: Sequence[Held]) -> int:
    """The visits of the order's own day: what her daily cap and the balance score count."""
    return sum(1 for v in held if v.on_day)


def may_cover(stretch: Stretch, target: planner.Visit) -> bool:
    """Whether the stretch could hold the visit at all, travel aside (skips hopeless checks)."""
    return stretch[0] <= target.window_end and stretch[1] >= target.window_start + \
        target.service_s


class Start(NamedTuple):
    """Where and when she sets off for a stretch, and what that place is."""

    place: Point
    depart: int
    start_from: str


def _under_way(stretch: Stretch, held: Sequence[Held]) -> Held | None:
    busy = [v for v in held if v.status in UNDER_WAY
            and v.stop.window_end > stretch[0] and v.stop.window_start < stretch[1]]
    return busy[-1] if busy else None


def _last_done(stretch: Stretch, held: Sequence[Held], now: int) -> Held | None:
    """Her last visit done in the stretch before ``now``: where she is when free."""
    # Completed without a check-out time (imported data): its window start, as the
    # planner orders them (scheduling.day._last_known_place).
    done = [(v.checked_out if v.checked_out is not None else v.stop.window_start, v.id, v)
            for v in held if v.status == "completed"]
    done = [d for d in done if stretch[0] <= d[0] <= now]
    return max(done, key=lambda d: d[:2])[2] if done else None


def heading(home: Point, ping: Point | None, stretch: Stretch, held: Sequence[Held],
            now: int) -> Leg | None:
    """The leg still ahead of her if she is en route to a visit in the stretch: from
    her fresh ping, else her last visit done in it, else home (as the planner has it,
    scheduling.day._current). ``start_of`` needs its travel time."""
    v = _under_way(stretch, held)
    if v is None or v.status != "en_route" or v.checked_in is not None:
        return None
    if ping is not None:
        return ping, v.stop.place
    done = _last_done(stretch, held, now)
    return (done.stop.place if done is not None else home), v.stop.place


def start_of(home: Point, ping: Point | None, stretch: Stretch, held: Sequence[Held],
             now: int, legs: Mapping[Leg, int]) -> Start:
    """She sets off no earlier than the stretch's start or ``now``: from the visit she
    is on once it is done (en route: after travelling there; ``legs`` holds the
    seconds of each ``heading``, see ``leg_times``); else, if the stretch has begun,
    from ``ping`` (her fresh position), else from her last visit done in it; else
    from ``home``."""
    depart = max(stretch[0], now)
    v = _under_way(stretch, held)
    if v is not None:
        leg = heading(home, ping, stretch, held, now)
        if leg is not None:
            begun = max(now + legs[leg], v.stop.window_start)
        else:
            begun = v.checked_in or max(now, v.stop.window_start)
        return Start(v.stop.place, max(depart, begun + v.stop.service_s), "previous_visit")
    if stretch[0] <= now:
        if ping is not None:
            return Start(ping, depart, "current_position")
        done = _last_done(stretch, held, now)
        if done is not None:
            return Start(done.stop.place, depart, "previous_visit")
    return Start(home, depart, "home")


def leg_times(legs: Iterable[Leg], travel: TravelModel) -> dict[Leg, int]:
    """Travel seconds for each leg, from a few travel-model calls (not one per nurse)."""
    todo = list(dict.fromkeys(legs))
    out: dict[Leg, int] = {}
    for k in range(0, len(todo), _BATCH_POINTS // 2):
        chunk = todo[k:k + _BATCH_POINTS // 2]
        index: dict[Point, int] = {}
        for a, b in chunk:
            index.setdefault(a, len(index))
            index.setdefault(b, len(index))
        _dist, dur = travel.matrices(list(index))
        dur = np.asarray(dur, dtype=np.int64)
        for a, b in chunk:
            out[(a, b)] = int(dur[index[a], index[b]])
    return out


def route_of(stretch: Stretch, held: Sequence[Held], depart: int) -> list[planner.Visit]:
    """Her accepted visits in the stretch still to come, in visiting order: the route the
    new visit must fit into. Visits done, under way or already missed no longer shape it
    (nor those she can no longer reach in time: the check drops them, see _reachable)."""
    return [v.stop for v in held if v.status == "assigned" and v.stop.window_end > stretch[0]
            and v.stop.window_start < stretch[1] and v.stop.window_end >= depart]


class Job(NamedTuple):
    """One question: does ``target`` fit this stretch of this nurse's day?"""

    nurse_id: int
    home: Point
    start: Start
    shift_end: int
    route: list[planner.Visit]


class _Check:
    """A job with a route, prepared for best_insertion."""

    __slots__ = ("dist", "dur", "job", "nurse", "points")

    def __init__(self, job: Job, target: planner.Visit) -> None:
        self.job = job
        # Its own object: the free end (home), told apart from a start at home.
        end = Point(job.home.lat, job.home.lng)
        self.nurse = planner.Nurse(id=job.nurse_id, start=job.start.place, end=end,
                                   shift_start=job.start.depart, shift_end=job.shift_end)
        self.points = [job.start.place, *(v.place for v in job.route), end, target.place]
        self.dist: list[list[int]] = []
        self.dur: list[list[int]] = []


class _Served:
    """What best_insertion sees as its travel model: the block computed for its check."""

    def __init__(self, travel: TravelModel, item: _Check) -> None:
        self.travel = travel
        self.item = item

    def matrices(self, points: Sequence[Point]) -> tuple[list[list[int]], list[list[int]]]:
        item = self.item
        if len(points) != len(item.points) or any(
                a is not b for a, b in zip(points, item.points, strict=True)):
            # The insertion asked for other places than prepared: answer directly.
            item.points = list(points)
            _fill(self.travel, [item])
        return item.dist, item.dur


def _fill(travel: TravelModel, items: Sequence[_Check]) -> None:
    """Travel blocks for ``items`` from one travel-model call on their distinct places.

    The trip to a route's end (home) is free, so the end is left out of the call
    and its row and column are zero; places shared by several checks (the
    order's address above all) are computed once.
    """
    index: dict[Point, int] = {}
    for item in items:
        end = item.nurse.end
        for p in item.points:
            if p is not end and p not in index:
                index[p] = len(index)
    dist, dur = travel.matrices(list(index))
    dist = np.asarray(dist, dtype=np.int64).tolist()
    dur = np.asarray(dur, dtype=np.int64).tolist()
    for item in items:
        end = item.nurse.end
        ix = [None if p is end else index[p] for p in item.points]
        item.dist = [[0 if a is None or b is None else dist[a][b] for b in ix] for a in ix]
        item.dur = [[0 if a is None or b is None else dur[a][b] for b in ix] for a in ix]


def _batches(items: Sequence[_Check]) -> list[list[_Check]]:
    batches: list[list[_Check]] = []
    seen: set[Point] = set()
    for item in items:
        end = item.nurse.end
        fresh = {p for p in item.points if p is not end and p not in seen}
        if not batches or len(seen) + len(fresh) > _BATCH_POINTS:
            batches.append([])
            seen = set()
            fresh = {p for p in item.points if p is not end}
        batches[-1].append(item)
        seen |= fresh
    return batches


def _reachable(item: _Check) -> None:
    """Drop from the route the visits she can no longer begin inside their window.

    She is running late for them: the ``late`` and ``no_show`` alerts deal with
    those, and they must not make every later visit of her stretch look
    infeasible (best_insertion stops at the first broken window). Walking the
    route in order, a visit she cannot reach in time is skipped and she goes on
    to the next from where she was. The travel block is cut to match, so no new
    travel call is needed.
    """
    job, dur = item.job, item.dur
    n = len(job.route)
    keep, here, clock = [], 0, job.start.depart
    for k, v in enumerate(job.route, start=1):
        begin = max(clock + dur[here][k], v.window_start)
        if begin <= v.window_end:
            keep.append(k)
            here, clock = k, begin + v.service_s
    if len(keep) == n:
        return
    ix = [0, *keep, n + 1, n + 2]
    item.job = job._replace(route=[job.route[k - 1] for k in keep])
    item.points = [item.points[i] for i in ix]
    item.dist = [[item.dist[a][b] for b in ix] for a in ix]
    item.dur = [[dur[a][b] for b in ix] for a in ix]


def _with_route(jobs: Sequence[Job], target: planner.Visit,
                travel: TravelModel) -> list[Fit | None]:
    items = [_Check(job, target) for job in jobs]
    for batch in _batches(items):
        _fill(travel, batch)
    for item in items:
        _reachable(item)
    out: list[Fit | None] = []
    for item in items:
        job = item.job
        found = best_insertion(nurse=item.nurse, route=job.route, visit=target,
                               travel=_Served(travel, item), start_time=job.start.depart)
        if found is None:
            out.append(None)
            continue
        previous = job.start.place if found.index == 0 else job.route[found.index - 1].place
        i = next(k for k, p in enumerate(item.points) if p is previous)
        j = next(k for k, p in enumerate(item.points) if p is target.place)
        out.append(Fit(found.arrival, found.start, item.dist[i][j], item.dur[i][j],
                       job.start.start_from if found.index == 0 else "previous_visit"))
    return out


def _without_route(jobs: Sequence[Job], target: planner.Visit,
                   travel: TravelModel) -> list[Fit | None]:
    """Jobs with no accepted visit in the stretch: one leg decides.

    This is best_insertion's arithmetic for an empty route (start -> visit ->
    free end): arrive, wait for the window, begin inside it, finish by the
    shift's end. Done here for many nurses from one travel call per batch of
    starts, because most nurses near an order have nothing in that stretch yet;
    a test holds the two equal.
    """
    out: list[Fit | None] = []
    for k in range(0, len(jobs), _BATCH_POINTS - 1):
        chunk = jobs[k:k + _BATCH_POINTS - 1]
        dist, dur = travel.matrices([target.place, *(job.start.place for job in chunk)])
        dist = np.asarray(dist, dtype=np.int64)[1:, 0].tolist()
        dur = np.asarray(dur, dtype=np.int64)[1:, 0].tolist()
        for job, leg_m, leg_s in zip(chunk, dist, dur, strict=True):
            arrival = job.start.depart + leg_s
            begin = max(arrival, target.window_start)
            if begin > target.window_end or begin + target.service_s > job.shift_end:
                out.append(None)
            else:
                out.append(Fit(arrival, begin, leg_m, leg_s, job.start.start_from))
    return out


def fits(jobs: Sequence[Job], target: planner.Visit, travel: TravelModel) -> list[Fit | None]:
    """Whether and where ``target`` fits each job's stretch: best_insertion for jobs with
    a route, the one-leg case batched for the rest. One answer per job, in order."""
    routed = [k for k, job in enumerate(jobs) if job.route]
    plain = [k for k, job in enumerate(jobs) if not job.route]
    out: list[Fit | None] = [None] * len(jobs)
    for k, fit in zip(routed, _with_route([jobs[k] for k in routed], target, travel),
                      strict=True):
        out[k] = fit
    for k, fit in zip(plain, _without_route([jobs[k] for k in plain], target, travel),
                      strict=True):
        out[k] = fit
    return out

"""A nurse's day, modelled once and pure (no Flask, no session): the clock of a local
day, her stretches of shift, the visits she holds, where she sets off from, her cap.

Dispatch fits an order into this model (``dispatch.fitting``, ``dispatch.matching``);
the planner turns it into vehicles (``scheduling.day``); ``nurseday.load`` reads it
from the database. A rule about her day changes here, and both sides follow.

Times are whole seconds since the epoch, as the planner counts: starts rounded
up, ends down, so rounding never widens a window.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

import numpy as np

from homecare.geo import Point, TravelModel
from homecare.orders.states import UNDER_WAY
from homecare.scheduling import planner

# A stretch of shifts: (start, end) in seconds.
Stretch = tuple[int, int]
# A leg of travel: (from, to).
Leg = tuple[Point, Point]

_EPOCH = datetime(1970, 1, 1)

# Back-to-back shifts may run across local midnight (20:00-24:00, then
# 00:00-04:00) and are one stretch of work. Whoever reads a day's shifts reads
# this much either side of the day, merges, then keeps the stretches touching
# the day: a visit of the day starts on it and lasts a few hours at most, so a
# stretch cut beyond the margin decides nothing about it.
SHIFT_MARGIN = timedelta(hours=6)


# ---------------------------------------------------------------- the clock


def _timestamp(at: datetime) -> float:
    # Naive values are UTC: the loader reads columns without UTCDateTime's
    # per-value conversion (see nurseday.load._raw), which cost more than the queries.
    return at.timestamp() if at.tzinfo is not None else (at - _EPOCH).total_seconds()


def secs(at: datetime) -> int:
    """Whole seconds, rounded down: for the ends of windows and shifts."""
    return math.floor(_timestamp(at))


def secs_up(at: datetime) -> int:
    """Whole seconds, rounded up: for starts, so rounding never widens a window."""
    return math.ceil(_timestamp(at))


def at(seconds: int) -> datetime:
    """A planner time back as an aware UTC datetime."""
    return datetime.fromtimestamp(seconds, UTC)


@dataclass(frozen=True)
class Clock:
    """A local day: its UTC span, and seconds since its local midnight <-> UTC datetimes."""

    day: date
    midnight: datetime
    end: datetime

    def seconds(self, at: datetime) -> int:
        """Whole seconds, rounded down: for the ends of windows and shifts."""
        return math.floor((at - self.midnight).total_seconds())

    def seconds_up(self, at: datetime) -> int:
        """Whole seconds, rounded up: for starts, so rounding never widens a window."""
        return math.ceil((at - self.midnight).total_seconds())

    def at(self, seconds: int) -> datetime:
        return self.midnight + timedelta(seconds=seconds)


def day_span(day: date, timezone: str) -> Clock:
    """The UTC span of the local ``day`` in ``timezone`` (23 or 25 h on DST days)."""
    zone = ZoneInfo(timezone)
    start = datetime.combine(day, time(0), zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(UTC)
    return Clock(day, start, end)


def local_day(at: datetime, timezone: str) -> date:
    """The service area's local date at ``at``."""
    return at.astimezone(ZoneInfo(timezone)).date()


# ---------------------------------------------------------------- her shifts


def merge_stretches(spans: Iterable[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Sorted spans with overlapping and touching ones merged: shifts entered back to
    back (8-12, 12-16) are one stretch of work. Merged before any rounding to
    seconds, which would open a gap between them."""
    merged: list[list[datetime]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(start, end) for start, end in merged]


def stretches_of(spans: Iterable[tuple[datetime, datetime]], clock: Clock) -> list[Stretch]:
    """Her stretches touching the day, in seconds: merged (also across midnight), then
    rounded inwards; an empty span is no stretch."""
    since, until = secs(clock.midnight), secs(clock.end)
    out = [(secs_up(s), secs(e)) for s, e in merge_stretches((s, e) for s, e in spans if e > s)]
    return [(s, e) for s, e in out if e > since and s < until]


# ---------------------------------------------------------------- where she is


def fresh_ping(lat: float | None, lng: float | None, ping_at: datetime | None,
               now: datetime, max_age: timedelta) -> Point | None:
    """Her last position if it is no older than ``max_age``
    (``dispatch_ping_max_age_minutes``), else None: too old to plan from."""
    if ping_at is None or lat is None or lng is None or now - ping_at > max_age:
        return None
    return Point(lat, lng)


# ---------------------------------------------------------------- her visits


def visit(key: object, place: Point, start: datetime, end: datetime,
          duration_min: int) -> planner.Visit:
    """A visit as the insertion check takes it: its window bounds the start of service."""
    opens = secs_up(start)
    return planner.Visit(id=key, place=place, window_start=opens,
                         window_end=max(secs(end), opens), service_s=duration_min * 60)


class Held(NamedTuple):
    """A visit she holds or has done near the day, ready for the insertion check."""

    id: int
    status: str
    stop: planner.Visit
    # Visiting order: the planned arrival where there is one, else the window start.
    sort_key: int
    checked_in: int | None
    checked_out: int | None
    # Booked for the local day asked about: only these count towards her daily cap.
    on_day: bool


def day_load(held: Sequence[Held]) -> int:
    """The visits of the day itself: what her daily cap and the balance score count."""
    return sum(1 for v in held if v.on_day)


def at_cap(held: Sequence[Held], cap: int) -> bool:
    """Whether she holds her daily cap of visits already (counted over the whole day)."""
    return day_load(held) >= cap


def may_cover(stretch: Stretch, target: planner.Visit) -> bool:
    """Whether the stretch could hold the visit at all, travel aside (skips hopeless checks)."""
    return stretch[0] <= target.window_end and stretch[1] >= target.window_start + \
        target.service_s


class Start(NamedTuple):
    """Where and when she sets off for a stretch, and what that place is."""

    place: Point
    depart: int
    start_from: str


def under_way(stretch: Stretch, held: Sequence[Held]) -> Held | None:
    """The visit she is on in the stretch (en route or in the home), if any."""
    busy = [v for v in held if v.status in UNDER_WAY
            and v.stop.window_end > stretch[0] and v.stop.window_start < stretch[1]]
    return busy[-1] if busy else None


def last_done(stretch: Stretch, held: Sequence[Held], now: int) -> Held | None:
    """Her last visit done in the stretch before ``now``: where she is when free."""
    # Completed without a check-out time (imported data): its window start.
    done = [(v.checked_out if v.checked_out is not None else v.stop.window_start, v.id, v)
            for v in held if v.status == "completed"]
    done = [d for d in done if stretch[0] <= d[0] <= now]
    return max(done, key=lambda d: d[:2])[2] if done else None


def heading(home: Point, ping: Point | None, stretch: Stretch, held: Sequence[Held],
            now: int) -> Leg | None:
    """The leg still ahead of her if she is en route to a visit in the stretch: from
    her fresh ping, else her last visit done in it, else home. ``start_of`` needs
    its travel time."""
    v = under_way(stretch, held)
    if v is None or v.status != "en_route" or v.checked_in is not None:
        return None
    if ping is not None:
        return ping, v.stop.place
    done = last_done(stretch, held, now)
    return (done.stop.place if done is not None else home), v.stop.place


def start_of(home: Point, ping: Point | None, stretch: Stretch, held: Sequence[Held],
             now: int, legs: dict[Leg, int]) -> Start:
    """She sets off no earlier than the stretch's start or ``now``: from the visit she
    is on once it is done (en route: after travelling there; ``legs`` holds the
    seconds of each ``heading``); else, if the stretch has begun, from ``ping``
    (her fresh position), else from her last visit done in it; else from ``home``."""
    depart = max(stretch[0], now)
    v = under_way(stretch, held)
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
        done = last_done(stretch, held, now)
        if done is not None:
            return Start(done.stop.place, depart, "previous_visit")
    return Start(home, depart, "home")


# Legs per travel-model call: 20 distinct places, the cheapest per place (see
# dispatch.fitting._BATCH_POINTS).
_LEGS_PER_CALL = 10


def leg_times(legs: Iterable[Leg], travel: TravelModel) -> dict[Leg, int]:
    """Travel seconds for each leg, from a few travel-model calls (not one per nurse)."""
    todo = list(dict.fromkeys(legs))
    out: dict[Leg, int] = {}
    for k in range(0, len(todo), _LEGS_PER_CALL):
        chunk = todo[k:k + _LEGS_PER_CALL]
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
    """Her accepted visits in the stretch still to come, in visiting order: the route a
    new visit must fit into. Visits done, under way or already missed no longer shape it
    (nor those she can no longer reach in time: dispatch.fitting drops them)."""
    return [v.stop for v in held if v.status == "assigned" and v.stop.window_end > stretch[0]
            and v.stop.window_start < stretch[1] and v.stop.window_end >= depart]


# ---------------------------------------------------------------- her cap


def split_cap(total: int, lengths: Sequence[int]) -> list[int]:
    """Share a daily cap between stretches by length (largest remainder), never above it.

    The routing engine caps each vehicle on its own; splitting keeps the day's
    total within max_visits_per_day at the price of some slack on split days.
    """
    if len(lengths) == 1:
        return [total]
    whole = sum(lengths)
    quotas = [total * length / whole for length in lengths]
    shares = [math.floor(q) for q in quotas]
    by_remainder = sorted(range(len(lengths)), key=lambda i: (shares[i] - quotas[i], i))
    for i in by_remainder[:total - sum(shares)]:
        shares[i] += 1
    return shares

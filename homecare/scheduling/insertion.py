"""Whether one more visit fits into a nurse's day without a full solve, and where."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from homecare.scheduling.planner import Nurse, TravelModel, Visit

__all__ = ["Insertion", "InsertionCheck", "best_insertion", "explain_insertion"]

# Why a visit does not fit, most fundamental first.
PINNED = "pinned"  # pinned to another nurse
SKILLS = "skills"
MAX_VISITS = "max_visits"
CAPACITY = "capacity"
WINDOW = "window"  # every position breaks a promised window (hers or the new one)
SHIFT = "shift"  # windows could hold, but she would not be home by her shift's end


@dataclass(frozen=True)
class Insertion:
    """Where the visit goes: before ``route[index]`` (``len(route)``: last).

    ``arrival`` and ``start`` assume she sets off as early as she can and waits
    where a window is not open yet.
    """

    index: int
    added_travel_s: int
    added_distance_m: int
    arrival: int
    start: int


@dataclass(frozen=True)
class InsertionCheck:
    """The cheapest insertion, or None with the reason it cannot fit."""

    insertion: Insertion | None
    reason: str | None

    @property
    def fits(self) -> bool:
        """Whether the visit can be inserted."""
        return self.insertion is not None


def best_insertion(
    *,
    nurse: Nurse,
    route: Sequence[Visit],
    visit: Visit,
    travel: TravelModel,
    start_time: int | None = None,
) -> Insertion | None:
    """The cheapest position (least added travel time) for ``visit`` in her route, or None.

    The route keeps its order; every window in it, the new visit's window,
    her shift and the return to her end place must still hold.
    ``start_time`` is the earliest she can set off (re-planning: "now").
    """
    return explain_insertion(
        nurse=nurse, route=route, visit=visit, travel=travel, start_time=start_time
    ).insertion


def explain_insertion(
    *,
    nurse: Nurse,
    route: Sequence[Visit],
    visit: Visit,
    travel: TravelModel,
    start_time: int | None = None,
) -> InsertionCheck:
    """Like :func:`best_insertion`, but says why not: pinned, skills, max_visits,
    capacity, window or shift."""
    if any(v.id == visit.id for v in route):
        raise ValueError(f"visit {visit.id!r} is already in the route")
    if visit.pinned_nurse is not None and visit.pinned_nurse != nurse.id:
        return InsertionCheck(None, PINNED)
    if not visit.required_skills <= nurse.skills:
        return InsertionCheck(None, SKILLS)
    if nurse.max_visits is not None and len(route) + 1 > nurse.max_visits:
        return InsertionCheck(None, MAX_VISITS)
    if nurse.capacity is not None and sum(v.demand for v in route) + visit.demand > nurse.capacity:
        return InsertionCheck(None, CAPACITY)

    n = len(route)
    # Locations: 0 = her start, 1..n = her route, n + 1 = her end, n + 2 = the new visit.
    dist, dur = travel.matrices([nurse.start, *(v.place for v in route), nurse.end, visit.place])
    dist = np.asarray(dist, dtype=np.int64).tolist()
    dur = np.asarray(dur, dtype=np.int64).tolist()
    new = n + 2
    depart = nurse.shift_start if start_time is None else max(start_time, nurse.shift_start)

    # ready[k]: when she can leave location k at the earliest, following the
    # route as it is; ok_before[k]: every window up to location k holds.
    ready = [depart] * (n + 1)
    ok_before = [True] * (n + 2)
    for k, v in enumerate(route, start=1):
        begin = max(ready[k - 1] + dur[k - 1][k], v.window_start)
        ok_before[k] = ok_before[k - 1] and begin <= v.window_end
        ready[k] = begin + v.service_s
    # latest[k]: the latest she may start at location k (arrive, for her end)
    # and still keep every later window and be home in time. Waiting is free,
    # so any start up to latest[k] is fine for the rest of the day.
    latest = [0] * (n + 2)
    latest[n + 1] = nurse.shift_end
    for k in range(n, 0, -1):
        v = route[k - 1]
        latest[k] = min(v.window_end, latest[k + 1] - dur[k][k + 1] - v.service_s)

    best: Insertion | None = None
    for i in range(n + 1):  # between location i and location i + 1
        if not ok_before[i]:
            break
        arrival = ready[i] + dur[i][new]
        begin = max(arrival, visit.window_start)
        if begin > visit.window_end:
            continue
        after = begin + visit.service_s + dur[new][i + 1]
        if i < n:
            after = max(after, route[i].window_start)
        if after > latest[i + 1]:
            continue
        added = dur[i][new] + dur[new][i + 1] - dur[i][i + 1]
        if best is None or added < best.added_travel_s:
            added_m = dist[i][new] + dist[new][i + 1] - dist[i][i + 1]
            best = Insertion(i, added, added_m, arrival, begin)
    if best is not None:
        return InsertionCheck(best, None)
    return InsertionCheck(None, _why_not(nurse, route, visit, dur, depart))


def _why_not(
    nurse: Nurse, route: Sequence[Visit], visit: Visit, dur: list[list[int]], depart: int
) -> str:
    """SHIFT if some position keeps every window and fails only the shift end, else WINDOW."""
    n = len(route)
    for i in range(n + 1):
        order = [*range(1, i + 1), n + 2, *range(i + 1, n + 1)]
        stops = [*route[:i], visit, *route[i:]]
        clock, here, windows_ok = depart, 0, True
        for loc, v in zip(order, stops, strict=True):
            begin = max(clock + dur[here][loc], v.window_start)
            windows_ok = windows_ok and begin <= v.window_end
            clock, here = begin + v.service_s, loc
        if windows_ok:
            return SHIFT
    return WINDOW

"""Whether a visit fits a stretch of a nurse's day (``nurseday.model``): the planner's
insertion check, batched."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from homecare.geo import Point, TravelModel
from homecare.nurseday.model import Start
from homecare.scheduling import planner
from homecare.scheduling.insertion import best_insertion

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


class Fit(NamedTuple):
    """Where the visit goes in her day: when she arrives and begins, and the leg there."""

    arrival: int
    start: int
    leg_m: int
    leg_s: int
    start_from: str


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

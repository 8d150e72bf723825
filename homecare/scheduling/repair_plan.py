"""Repairing a day plan: a pure function from the current plan and the changed day to
a new plan that differs from the current one only where it must.

The planner (``planner.plan``) solves a day from nothing; this starts from the
routes the nurses and families were told about:

1. Frozen: each vehicle's visits planned to begin by ``freeze_until`` stay, in
   order, with their nurse and their time. They are a prefix of her route, so
   her vehicle now starts at the last of them, when she will be done with it
   (later than planned if she runs late: the delay carries into what follows,
   not into what is frozen).
2. Kept: the rest of her route stays in order while it still works (her skills,
   windows, shift, daily cap); a visit that no longer fits is released.
3. Reinserted: released visits, new ones and those left out before go, window
   order first, where they add the least travel plus the visit's move cost when
   a nurse other than the one who holds it takes it (cheapest feasible
   insertion, ``insertion.best_insertion``). The move cost is ``move_cost_s`` for
   a visit due at the freeze horizon and fades to ``move_cost_far_s`` for one
   further ahead (``move_costs``).
4. Improved: a bounded relocate search over the routes the change hit (their
   nurse is named, or they lost a visit) moves one of their visits at a time to
   where it costs less (travel plus move cost), only when that is strictly
   better. A route that only gains a visit keeps the others as they were.
5. Won back: a visit still out gets a second chance, then room is made for it
   (one visit of a nearby route moves elsewhere); visits the plan served that are
   still out after that are won back by re-solving the few routes nearest them
   together (as in step 6), taken only if those routes still serve all they served.
6. Re-solved: while time is left, neighbourhoods of routes (a seed route and its
   nearest few; the routes the change hit seed first, then the others, costliest
   per visit first) are re-solved with PyVRP starting from their current routes.
   Each nurse keeps her frozen prefix (she starts after it), bans hold, and each
   nurse's cost matrix adds the move cost on the edges into visits another nurse
   holds (travel times unchanged), so the search weighs travel against moves as
   the steps above do. A neighbourhood's new routes are taken only if they serve
   every visit they served and serve more or cost less (travel plus move costs).

Deterministic: ties are broken by the problem's order, and PyVRP runs on a fixed
seed and iteration budget per neighbourhood, with at most ``_LNS_NEIGHBOURHOODS``
of them (``max_seconds`` only cuts steps 4-6 on a slow machine).
"""

from __future__ import annotations

import time
from collections.abc import Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from homecare.scheduling import planner
from homecare.scheduling.insertion import best_insertion
from homecare.scheduling.solver import RoutingTask, improve_routes

__all__ = ["AfterFreeze", "Current", "Repair", "after_freeze", "move_costs", "repair"]

# Why a visit could not stay where it was (``Repair.released``).
NURSE_GONE = "nurse_gone"  # its nurse has no shift left that holds it
NOT_ALLOWED = "not_allowed"  # she may no longer serve it (skills, radius, pins)
LATE = "late"  # her route, as it now runs, reaches it after its window
SHIFT = "shift"  # she would finish it after her shift
CAP = "cap"  # over her daily cap


@dataclass(frozen=True)
class Current:
    """The plan being repaired, in the planner's ids.

    ``routes``: per vehicle of the problem, the visits it holds, in visiting
    order. ``starts``: the planned start of each held visit (seconds, as the
    problem counts). ``holder``: per visit, who holds it (a nurse: all her
    vehicles are one holder), also for held visits no vehicle of hers can keep;
    ``vehicle_holder`` maps each vehicle to its holder (default: the vehicle
    itself). Moving a visit to another holder costs the move cost.
    """

    routes: Mapping[Hashable, Sequence[Hashable]]
    starts: Mapping[Hashable, int]
    holder: Mapping[Hashable, Hashable] = field(default_factory=dict)
    vehicle_holder: Mapping[Hashable, Hashable] = field(default_factory=dict)


@dataclass(frozen=True)
class Repair:
    """The repaired plan, the visits kept frozen, and why each released visit had to go."""

    plan: planner.Plan
    frozen: frozenset[Hashable]
    released: dict[Hashable, str]
    # Visits the improvement step moved to another holder (by choice, not need).
    improved: frozenset[Hashable] = frozenset()


def move_costs(current: Current, freeze_until: int, near_s: int, far_s: int | None,
               fade_s: int, moved_before: Collection[Hashable] = ()) -> dict[Hashable, int]:
    """What moving each held visit to another nurse costs, in seconds of travel: ``near_s``
    for a visit planned to begin at the freeze horizon, falling linearly to ``far_s`` for
    one planned ``fade_s`` or more after it (``far_s`` None: ``near_s`` for all; ``fade_s``
    0: ``far_s`` from the horizon on). A visit in ``moved_before`` (it has had another
    nurse already today) costs ``near_s`` however far ahead: its family was told of a
    new nurse once, and is not told again for a few minutes of travel.

    A move hours ahead is a smaller thing than one due soon: the family has the time to
    take in the new name, and the nurse who loses it has not yet prepared for it. A move
    that cost as much at 16:00 as at 10:00 would keep the morning's routes through the
    whole day while the orders that arrive make them longer and longer."""
    if far_s is None or far_s == near_s:
        return {i: near_s for i in current.holder}
    # No floor under a far cost of 0 to keep ties with the holder: a 1-second floor,
    # measured on bench/live_day.py's day, moved 141 visits by choice instead of 116
    # (every nurse's cost matrix in the re-solve then differs, and PyVRP searched
    # differently); a re-solve is taken only when it lowers the total anyway.
    out = {}
    again = set(moved_before)
    for i in current.holder:
        if i in again:
            out[i] = near_s
            continue
        ahead = max(0, current.starts.get(i, freeze_until) - freeze_until)
        share = 1.0 if fade_s <= 0 else min(1.0, ahead / fade_s)
        out[i] = round(near_s + (far_s - near_s) * share)
    return out


class _Matrix:
    """The repair's matrices behind ``best_insertion``'s travel interface: ``focus``
    names the locations of [start, *route, end, new visit] it will ask about."""

    def __init__(self, dist: np.ndarray, dur: np.ndarray) -> None:
        self.dist, self.dur = dist, dur
        self.locs: list[int] = []

    def focus(self, locs: list[int]) -> None:
        self.locs = locs

    def matrices(self, points: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
        if len(points) != len(self.locs):
            raise ValueError("asked for other places than the focused insertion")
        idx = np.asarray(self.locs)
        return self.dist[np.ix_(idx, idx)], self.dur[np.ix_(idx, idx)]


@dataclass
class _Vehicle:
    """A vehicle after its frozen prefix: what is left of its day, and its route."""

    base: planner.Nurse
    rest: planner.Nurse  # starts at the end of the frozen prefix
    origin_loc: int  # where the vehicle starts (before its frozen prefix)
    start_loc: int  # where the rest starts: its last frozen visit, else its origin
    end_loc: int
    frozen: list[planner.Stop]
    frozen_locs: list[int]
    route: list[planner.Visit]
    holder: Hashable
    touched: bool = False


def repair(
    problem: planner.Problem,
    travel: planner.TravelModel,
    current: Current,
    *,
    freeze_until: int,
    move_cost_s: int,
    move_cost_far_s: int | None = None,
    move_cost_fade_s: int = 0,
    moved_before: Collection[Hashable] = (),
    banned: Mapping[Hashable, frozenset[Hashable]] | None = None,
    touched: Collection[Hashable] = (),
    max_moves: int = 200,
    max_seconds: float | None = 1.0,
    seed: int = 1,
) -> Repair:
    """Repair ``current`` for the day as ``problem`` now is (see the module's steps).

    ``move_cost_s``, ``move_cost_far_s``, ``move_cost_fade_s``, ``moved_before``: what
    moving a held visit to another holder costs (``move_costs``).
    ``banned``: per visit, holders who must not get it (handed back, taken
    away). ``touched``: holders whose routes the change hit; their routes, and
    those that cannot keep a visit, are the ones step 4 improves.
    ``max_moves`` bounds the improvement step, ``max_seconds`` its time (which
    only cuts it on a slow machine; the moves are deterministic). ``seed``: the
    re-solves' (``HOMECARE_PLANNING_SEED``, as the morning plan's).
    """
    began = time.perf_counter()
    banned = banned or {}
    touched_set = set(touched)
    visits = {v.id: v for v in problem.visits}
    order = {v.id: k for k, v in enumerate(problem.visits)}

    place_index, loc, dist, dur = _matrices(problem, travel)
    dur_l = dur.tolist()
    matrix = _Matrix(dist, dur)

    released: dict[Hashable, str] = {}
    vehicles, rests, frozen_ids = _freeze(problem, current, freeze_until, place_index, loc,
                                          dur_l)
    placed = frozen_ids | {v for rest in rests for v in rest}
    for vehicle, rest in zip(vehicles, rests, strict=True):
        vehicle.touched = vehicle.holder in touched_set
        vehicle.route, why = _keep(vehicle, [visits[i] for i in rest], loc, dur_l)
        released.update(why)
    for v in problem.visits:
        if v.id in current.holder and v.id not in placed:
            released[v.id] = NURSE_GONE
    for vehicle in vehicles:
        if any(v in released for v in current.routes.get(vehicle.base.id, ())):
            vehicle.touched = True

    # What moving each held visit to another nurse costs (``move_costs``).
    cost_s = move_costs(current, freeze_until, move_cost_s, move_cost_far_s, move_cost_fade_s,
                        moved_before)

    def move_cost(v: planner.Visit, vehicle: _Vehicle) -> int:
        holder = current.holder.get(v.id)
        return 0 if holder is None or holder == vehicle.holder else cost_s[v.id]

    def best_spot(v: planner.Visit, skip: _Vehicle | None = None,
                  among: Sequence[int] | None = None):
        best = None
        no = banned.get(v.id, frozenset())
        for k in range(len(vehicles)) if among is None else among:
            vehicle = vehicles[k]
            if vehicle is skip or vehicle.holder in no or not vehicle.rest.may_serve(v):
                continue
            matrix.focus([vehicle.start_loc, *(loc[u.id] for u in vehicle.route),
                          vehicle.end_loc, loc[v.id]])
            spot = best_insertion(nurse=vehicle.rest, route=vehicle.route, visit=v,
                                  travel=matrix)
            if spot is None:
                continue
            cost = spot.added_travel_s + move_cost(v, vehicle)
            if best is None or cost < best[0]:
                best = (cost, k, spot.index)
        return best

    kept = {u.id for vehicle in vehicles for u in vehicle.route} | frozen_ids
    todo = sorted((v for v in problem.visits if v.id not in kept),
                  key=lambda v: (v.window_start, v.window_end, order[v.id]))
    unplanned: list[planner.Unplanned] = []
    for v in todo:
        best = best_spot(v)
        if best is None:
            unplanned.append(planner.Unplanned(v.id, _why_unplanned(v, vehicles, matrix, loc)))
            continue
        _cost, k, index = best
        vehicles[k].route.insert(index, v)

    deadline = None if max_seconds is None else began + max_seconds
    improved = _improve(vehicles, best_spot, move_cost, loc, dur_l, max_moves, deadline)

    # What is still out: a second chance now that routes moved, then (those the plan
    # served first) by making room: one visit of a nearby route moves elsewhere.
    still: list[planner.Unplanned] = []
    for item in sorted(unplanned, key=lambda u: (u.visit_id not in released,
                                                 visits[u.visit_id].window_start,
                                                 order[u.visit_id])):
        v = visits[item.visit_id]
        best = best_spot(v)
        if best is not None:
            vehicles[best[1]].route.insert(best[2], v)
            continue
        if deadline is not None and time.perf_counter() > deadline:
            still.append(item)
            continue
        made = _make_room(v, vehicles, best_spot, move_cost, banned, loc, dur, matrix)
        if made is None:
            still.append(item)
        else:
            improved.add(made)
    unplanned = still

    search = _Search(vehicles, loc, dur, dur_l, current.holder, banned, cost_s,
                     seed=seed)
    lost = [visits[u.visit_id] for u in unplanned if u.visit_id in released]
    if lost:
        saved, won = _rescue(search, lost, deadline)
        improved |= saved
        unplanned = [u for u in unplanned if u.visit_id not in won]
    # Then, while time and the budget last, better routes than one-visit moves find.
    hit = [k for k, vehicle in enumerate(vehicles) if vehicle.touched]
    saved, won = _lns(search, hit, [visits[u.visit_id] for u in unplanned], deadline)
    improved |= saved
    unplanned = [u for u in unplanned if u.visit_id not in won]

    routes = [_timed(vehicle, loc, dist, dur) for vehicle in vehicles]
    unplanned.sort(key=lambda u: order[u.visit_id])
    travel_s = sum(r.travel_s for r in routes)
    return Repair(
        plan=planner.Plan(routes=tuple(routes), unplanned=tuple(unplanned), travel_s=travel_s,
                          distance_m=sum(r.distance_m for r in routes), objective="duration",
                          cost=travel_s, iterations=0),
        frozen=frozenset(frozen_ids),
        released=released,
        improved=frozenset(improved),
    )


@dataclass(frozen=True)
class AfterFreeze:
    """The day once every frozen prefix is done: what a repair (or a re-plan that keeps
    the same promises) still decides, and the frozen part's travel and stops."""

    problem: planner.Problem
    frozen_travel_s: int
    frozen_stops: int


def after_freeze(problem: planner.Problem, travel: planner.TravelModel, current: Current, *,
                 freeze_until: int) -> AfterFreeze:
    """The problem left after the frozen prefixes (as :func:`repair` freezes them): each
    vehicle starts at its last frozen visit when done with it, the frozen visits gone.
    For comparing a repair with a plan from scratch of the same situation."""
    place_index, loc, _dist, dur = _matrices(problem, travel)
    dur_l = dur.tolist()
    vehicles, _rests, frozen_ids = _freeze(problem, current, freeze_until, place_index, loc,
                                           dur_l)
    visits = {v.id: v for v in problem.visits}
    nurses = []
    travel_s = 0
    for vehicle in vehicles:
        start = visits[vehicle.frozen[-1].visit_id].place if vehicle.frozen else vehicle.base.start
        nurses.append(replace(vehicle.rest, start=start))
        locs = [vehicle.origin_loc, *vehicle.frozen_locs]
        travel_s += sum(dur_l[a][b] for a, b in zip(locs, locs[1:], strict=False))
    return AfterFreeze(
        planner.Problem(tuple(nurses), tuple(v for v in problem.visits if v.id not in frozen_ids)),
        travel_s, len(frozen_ids))


def _matrices(problem: planner.Problem, travel: planner.TravelModel
              ) -> tuple[dict[Any, int], dict[Hashable, int], np.ndarray, np.ndarray]:
    """Locations as the planner numbers them: nurses' places first, then one per visit."""
    place_index: dict[Any, int] = {}
    for n in problem.nurses:
        place_index.setdefault(n.start, len(place_index))
        place_index.setdefault(n.end, len(place_index))
    points = [*place_index, *(v.place for v in problem.visits)]
    dist, dur = travel.matrices(points)
    loc = {v.id: len(place_index) + k for k, v in enumerate(problem.visits)}
    return (place_index, loc, np.asarray(dist, dtype=np.int64),
            np.asarray(dur, dtype=np.int64))


def _freeze(problem: planner.Problem, current: Current, freeze_until: int,
            place_index: dict[Any, int], loc: dict[Hashable, int], dur: list[list[int]]
            ) -> tuple[list[_Vehicle], list[list[Hashable]], set[Hashable]]:
    """Per vehicle its frozen prefix (visits planned to begin by ``freeze_until``, kept
    at their time) and what is left of its day after it; the rest of each route (ids,
    in order) and the frozen visits."""
    visits = {v.id: v for v in problem.visits}
    vehicles: list[_Vehicle] = []
    rests: list[list[Hashable]] = []
    frozen_ids: set[Hashable] = set()
    placed: set[Hashable] = set()
    for n in problem.nurses:
        holder = current.vehicle_holder.get(n.id, n.id)
        held = [v for v in current.routes.get(n.id, ()) if v in visits and v not in placed]
        placed.update(held)
        clock, here = n.shift_start, place_index[n.start]
        frozen: list[planner.Stop] = []
        frozen_locs: list[int] = []
        k = 0
        while k < len(held) and current.starts[held[k]] <= freeze_until:
            v = visits[held[k]]
            arrival = clock + dur[here][loc[v.id]]
            planned = current.starts[v.id]
            # Kept at its time; she is free after it when she really will be.
            frozen.append(planner.Stop(v.id, min(arrival, planned), planned,
                                       planned + v.service_s))
            frozen_locs.append(loc[v.id])
            clock = max(arrival, v.window_start, planned) + v.service_s
            here = loc[v.id]
            frozen_ids.add(v.id)
            k += 1
        cap = None if n.max_visits is None else max(0, n.max_visits - len(frozen))
        if clock >= n.shift_end:
            cap = 0
        rest = replace(n, shift_start=min(clock, n.shift_end), max_visits=cap)
        vehicles.append(_Vehicle(n, rest, place_index[n.start], here, place_index[n.end],
                                 frozen, frozen_locs, [], holder))
        rests.append(held[k:])
    return vehicles, rests, frozen_ids


def _keep(vehicle: _Vehicle, held: list[planner.Visit], loc: dict[Hashable, int],
          dur: list[list[int]]) -> tuple[list[planner.Visit], dict[Hashable, str]]:
    """Her route after the frozen prefix as far as it still works, and what it cannot keep."""
    rest = vehicle.rest
    clock, here = rest.shift_start, vehicle.start_loc
    kept: list[planner.Visit] = []
    why: dict[Hashable, str] = {}
    for v in held:
        if not rest.may_serve(v):
            why[v.id] = NOT_ALLOWED
            continue
        if rest.max_visits is not None and len(kept) >= rest.max_visits:
            why[v.id] = CAP
            continue
        begin = max(clock + dur[here][loc[v.id]], v.window_start)
        if begin > v.window_end:
            why[v.id] = LATE
            continue
        if begin + v.service_s > rest.shift_end:
            why[v.id] = SHIFT
            continue
        kept.append(v)
        clock, here = begin + v.service_s, loc[v.id]
    return kept, why


def _route_cost(vehicle: _Vehicle, route: Sequence[planner.Visit], loc: dict[Hashable, int],
                dur: list[list[int]]) -> int:
    locs = [vehicle.start_loc, *(loc[v.id] for v in route), vehicle.end_loc]
    return sum(dur[a][b] for a, b in zip(locs, locs[1:], strict=False)) if route else 0


def _improve(vehicles: list[_Vehicle], best_spot: Any, move_cost: Any,
             loc: dict[Hashable, int], dur: list[list[int]], max_moves: int,
             deadline: float | None) -> set[Hashable]:
    """Relocate visits of touched routes one at a time while that strictly lowers travel
    plus move cost; each visit is tried once per pass, passes until nothing improves."""
    moved: set[Hashable] = set()
    moves = 0
    improving = True
    while improving and moves < max_moves:
        improving = False
        for vehicle in [v for v in vehicles if v.touched]:
            for v in list(vehicle.route):
                if deadline is not None and time.perf_counter() > deadline:
                    return moved
                if moves >= max_moves:
                    return moved
                k = vehicle.route.index(v)
                without = vehicle.route[:k] + vehicle.route[k + 1:]
                saved = (_route_cost(vehicle, vehicle.route, loc, dur)
                         - _route_cost(vehicle, without, loc, dur) + move_cost(v, vehicle))
                best = best_spot(v, skip=vehicle)
                if best is None or best[0] >= saved:
                    continue
                _cost, target, index = best
                vehicle.route.pop(k)
                vehicles[target].route.insert(index, v)
                moved.add(v.id)
                moves += 1
                improving = True
    return moved


# Making room looks at this many routes nearest the visit (of those on shift then),
# and for the visit that moves out, at this many nearest it: a bounded search, not a
# re-plan.
_ROOM_ROUTES = 8
_ROOM_TARGETS = 10
# Only visits within this many seconds of the new one's window may make room for it.
_ROOM_WINDOW_S = 2 * 3600


def _nearest(vehicles: list[_Vehicle], v: planner.Visit, loc: dict[Hashable, int],
             dur: np.ndarray, count: int) -> list[int]:
    """The ``count`` vehicles nearest ``v`` (their start or a visit of their route) among
    those who may serve it and are on shift in its window."""
    near = []
    for k, vehicle in enumerate(vehicles):
        rest = vehicle.rest
        if (not rest.may_serve(v) or rest.shift_start > v.window_end
                or rest.shift_end < v.window_start + v.service_s):
            continue
        locs = [vehicle.start_loc, *(loc[u.id] for u in vehicle.route)]
        near.append((int(dur[locs, loc[v.id]].min()), k))
    return [k for _d, k in sorted(near)[:count]]


def _make_room(v: planner.Visit, vehicles: list[_Vehicle], best_spot: Any, move_cost: Any,
               banned: Mapping[Hashable, frozenset[Hashable]], loc: dict[Hashable, int],
               dur: np.ndarray, matrix: _Matrix) -> Hashable | None:
    """Serve ``v`` by moving one visit of a nearby route to another route: the cheapest
    such pair (travel plus move costs), if any; the id of the visit moved."""
    dur_l = None
    best = None
    no = banned.get(v.id, frozenset())
    for k in _nearest(vehicles, v, loc, dur, _ROOM_ROUTES):
        w = vehicles[k]
        if w.holder in no or not w.rest.may_serve(v):
            continue
        for j, u in enumerate(w.route):
            if abs(u.window_start - v.window_start) > _ROOM_WINDOW_S:
                continue
            without = w.route[:j] + w.route[j + 1:]
            matrix.focus([w.start_loc, *(loc[x.id] for x in without), w.end_loc, loc[v.id]])
            spot = best_insertion(nurse=w.rest, route=without, visit=v, travel=matrix)
            if spot is None:
                continue
            elsewhere = best_spot(u, skip=w,
                                  among=_nearest(vehicles, u, loc, dur, _ROOM_TARGETS))
            if elsewhere is None:
                continue
            dur_l = dur_l or dur.tolist()
            removed = _route_cost(w, w.route, loc, dur_l) - _route_cost(w, without, loc, dur_l)
            cost = spot.added_travel_s + move_cost(v, w) + elsewhere[0] - removed \
                - move_cost(u, w)
            if best is None or cost < best[0]:
                best = (cost, w, j, spot.index, elsewhere)
    if best is None:
        return None
    _cost, w, j, index, (_c, target, at) = best
    u = w.route.pop(j)
    w.route.insert(index, v)
    vehicles[target].route.insert(at, u)
    return u.id


# The rescue re-solves this many routes nearest each visit it must win back.
_RESCUE_ROUTES = 6
_RESCUE_ITERATIONS = 1000
# What leaving out a visit the plan served costs in a re-solved neighbourhood: a day's
# travel, far above any detour or move cost.
_LOST_PENALTY_S = 8 * 3600
# The large-neighbourhood step: a route and its nearest few are re-solved together
# (PyVRP, from their current routes) for this many iterations (PyVRP finds what it
# finds from a good start within the first few dozen), at most this many
# neighbourhoods per repair: one pass over an 85-nurse day, 6 routes at a time
# (100 iterations on ~25 visits took 0.1 s on 2 busy vCPUs; the repair's time cap
# ends the step sooner on a busier machine).
_LNS_ROUTES = 6
_LNS_ITERATIONS = 100
_LNS_NEIGHBOURHOODS = 15


@dataclass
class _Search:
    """What re-solving a neighbourhood needs: the vehicles, the day's matrices, who
    holds which visit (moving it elsewhere costs its ``cost_s``) and the bans."""

    vehicles: list[_Vehicle]
    loc: dict[Hashable, int]
    dur: np.ndarray
    dur_l: list[list[int]]
    holder: Mapping[Hashable, Hashable]
    banned: Mapping[Hashable, frozenset[Hashable]]
    cost_s: Mapping[Hashable, int]
    seed: int = 1

    def move_cost(self, v: planner.Visit, vehicle: _Vehicle) -> int:
        holder = self.holder.get(v.id)
        return 0 if holder is None or holder == vehicle.holder else self.cost_s[v.id]

    def allowed(self, vehicle: _Vehicle, v: planner.Visit) -> bool:
        return (vehicle.rest.may_serve(v)
                and vehicle.holder not in self.banned.get(v.id, frozenset()))

    def cost(self, vehicle: _Vehicle, route: Sequence[planner.Visit]) -> int:
        """Travel after the frozen prefix plus the move costs of the route's visits."""
        return (_route_cost(vehicle, route, self.loc, self.dur_l)
                + sum(self.move_cost(v, vehicle) for v in route))

    def feasible(self, vehicle: _Vehicle, route: Sequence[planner.Visit]) -> bool:
        """Her windows, shift (home by its end), cap, skills, pins and bans, as the
        repair times the route (``_timed``)."""
        rest = vehicle.rest
        if rest.max_visits is not None and len(route) > rest.max_visits:
            return False
        clock, here = rest.shift_start, vehicle.start_loc
        for v in route:
            if not self.allowed(vehicle, v):
                return False
            begin = max(clock + self.dur_l[here][self.loc[v.id]], v.window_start)
            if begin > v.window_end:
                return False
            clock, here = begin + v.service_s, self.loc[v.id]
        return not route or clock + self.dur_l[here][vehicle.end_loc] <= rest.shift_end

    def nearest_routes(self, k: int, count: int) -> list[int]:
        """The ``count`` vehicles whose places (start, visits) lie nearest vehicle
        ``k``'s, among those with time left: mean over her places of the nearest one."""
        vehicle = self.vehicles[k]
        mine = [vehicle.start_loc, *(self.loc[u.id] for u in vehicle.route)]
        near = []
        for j, other in enumerate(self.vehicles):
            rest = other.rest
            if j == k or rest.shift_start >= rest.shift_end or rest.max_visits == 0:
                continue
            theirs = [other.start_loc, *(self.loc[u.id] for u in other.route)]
            gap = self.dur[np.ix_(mine, theirs)].min(axis=1).mean()
            near.append((float(gap), j))
        return [j for _gap, j in sorted(near)[:count]]

    def resolve(self, chosen: Sequence[int], extra: Sequence[planner.Visit], *,
                iterations: int, deadline: float | None
                ) -> tuple[set[Hashable], set[Hashable]] | None:
        """Re-solve the ``chosen`` vehicles' routes together with PyVRP, starting from
        them: each keeps her frozen prefix (she starts after it), each visit may go
        to any of them who may serve it (a move to a nurse other than its holder
        costs its move cost, through her own cost matrix; travel times stay), and
        ``extra`` visits (out of the plan) are worth serving. Taken only if every
        visit they served is still served and it serves more or costs less (travel
        plus move costs); then the routes change in place. The ids of the visits that
        changed vehicle and of the ``extra`` ones won, or None when not taken."""
        vehicles = [self.vehicles[k] for k in chosen]
        routed = [u for w in vehicles for u in w.route]
        extra = [v for v in extra if any(self.allowed(w, v) for w in vehicles)]
        sub = [*routed, *extra]
        if not sub:
            return None
        remaining = None if deadline is None else deadline - time.perf_counter()
        if remaining is not None and remaining <= 0:
            return None
        places = sorted({w.start_loc for w in vehicles} | {w.end_loc for w in vehicles})
        at = {p: i for i, p in enumerate(places)}
        idx = [*places, *(self.loc[u.id] for u in sub)]
        dur = self.dur[np.ix_(idx, idx)]
        first = len(places)
        costs = []
        for w in vehicles:
            moving = np.array([self.move_cost(u, w) for u in sub], dtype=np.int64)
            cost = dur.copy()
            cost[:, first:] += moving[None, :]
            costs.append(cost)
        task = RoutingTask(
            nurses=[w.rest for w in vehicles],
            visits=[*routed, *(replace(v, required=False, penalty=_LOST_PENALTY_S)
                               for v in extra)],
            nurse_start=[at[w.start_loc] for w in vehicles],
            nurse_end=[at[w.end_loc] for w in vehicles],
            visit_loc=list(range(first, first + len(sub))),
            cost=np.maximum.reduce(costs), duration=dur,
            allowed=np.array([[self.allowed(w, u) for u in sub] for w in vehicles],
                             dtype=bool).reshape(len(vehicles), len(sub)))
        position = {u.id: j for j, u in enumerate(sub)}
        initial = [[position[u.id] for u in w.route] for w in vehicles]
        found = improve_routes(task, initial, nurse_cost=costs, seed=self.seed,
                               max_iterations=iterations, max_seconds=remaining)
        if found is None:
            return None
        new = [[sub[j] for j in order] for order in found]
        served = {u.id for route in new for u in route}
        if any(u.id not in served for u in routed) or not all(
                self.feasible(w, route) for w, route in zip(vehicles, new, strict=True)):
            return None
        before = sum(self.cost(w, w.route) for w in vehicles)
        after = sum(self.cost(w, route) for w, route in zip(vehicles, new, strict=True))
        if len(served) == len(routed) and after >= before:
            return None
        was = {u.id: w.holder for w in vehicles for u in w.route}
        moved = set()
        for w, route in zip(vehicles, new, strict=True):
            moved |= {u.id for u in route if u.id in was and was[u.id] != w.holder}
            w.route = route
        return moved, {v.id for v in extra if v.id in served}


def _rescue(search: _Search, lost: list[planner.Visit], deadline: float | None
            ) -> tuple[set[Hashable], set[Hashable]]:
    """Win back visits the plan served and no insertion could keep: re-solve the few
    routes nearest them together (``_Search.resolve``: bans and move costs hold).
    The ids of visits that changed nurse and of those won back."""
    chosen = sorted({k for v in lost
                     for k in _nearest(search.vehicles, v, search.loc, search.dur,
                                       _RESCUE_ROUTES)})
    if not chosen:
        return set(), set()
    done = search.resolve(chosen, lost, iterations=_RESCUE_ITERATIONS, deadline=deadline)
    return done if done is not None else (set(), set())


def _lns(search: _Search, touched: Sequence[int], out: list[planner.Visit],
         deadline: float | None) -> tuple[set[Hashable], set[Hashable]]:
    """Large-neighbourhood improvement: each neighbourhood is a seed route and its
    nearest few, re-solved together (``_Search.resolve``); the routes the change hit
    seed first, then the others, costliest per visit first; a route already re-solved
    seeds no neighbourhood again until a pass improved something. Visits still
    ``out`` are offered to every neighbourhood. At most ``_LNS_NEIGHBOURHOODS``,
    fewer if the deadline comes first. The ids of visits that changed nurse, and of
    those won from ``out``."""
    vehicles = search.vehicles
    moved: set[Hashable] = set()
    won: set[Hashable] = set()

    def per_visit(k: int) -> float:
        route = vehicles[k].route
        return -_route_cost(vehicles[k], route, search.loc, search.dur_l) / len(route)

    rest = sorted((k for k, w in enumerate(vehicles) if w.route and k not in set(touched)),
                  key=lambda k: (per_visit(k), k))
    order = [*touched, *rest]
    done = 0
    improved = True
    while improved and done < _LNS_NEIGHBOURHOODS:
        improved = False
        covered: set[int] = set()
        for k in order:
            if done >= _LNS_NEIGHBOURHOODS or (
                    deadline is not None and time.perf_counter() >= deadline):
                return moved, won
            if k in covered:
                continue
            chosen = sorted({k, *search.nearest_routes(k, _LNS_ROUTES - 1)})
            covered.update(chosen)
            done += 1
            result = search.resolve(chosen, [v for v in out if v.id not in won],
                                    iterations=_LNS_ITERATIONS, deadline=deadline)
            if result is None:
                continue
            moved |= result[0]
            won |= result[1]
            improved = True
    return moved, won


def _why_unplanned(v: planner.Visit, vehicles: list[_Vehicle], matrix: _Matrix,
                   loc: dict[Hashable, int]) -> str:
    """The planner's reasons: nobody may serve it on shift then, nobody could reach it even
    with an empty day, or everyone who could is full."""
    able = [vehicle for vehicle in vehicles if vehicle.rest.may_serve(v)
            and max(v.window_start, vehicle.rest.shift_start) <= v.window_end
            and max(v.window_start, vehicle.rest.shift_start) + v.service_s
            <= vehicle.rest.shift_end]
    if not able:
        return planner.NO_QUALIFIED_NURSE
    for vehicle in able:
        matrix.focus([vehicle.start_loc, vehicle.end_loc, loc[v.id]])
        empty = replace(vehicle.rest, max_visits=None)
        if best_insertion(nurse=empty, route=[], visit=v, travel=matrix) is not None:
            return planner.CAPACITY
    return planner.WINDOW_UNREACHABLE


def _timed(vehicle: _Vehicle, loc: dict[Hashable, int], dist: np.ndarray,
           dur: np.ndarray) -> planner.Route:
    """The vehicle's route with times: the frozen prefix as it was, then the rest leaving
    just in time for its first window (as ``planner`` times a route)."""
    base, rest = vehicle.base, vehicle.rest
    stops = list(vehicle.frozen)
    locs = [vehicle.origin_loc, *vehicle.frozen_locs]
    departure = base.shift_start
    if vehicle.frozen:
        first = int(dur[vehicle.origin_loc, vehicle.frozen_locs[0]])
        departure = max(base.shift_start, vehicle.frozen[0].start - first)
    clock = rest.shift_start
    here = vehicle.start_loc
    for k, v in enumerate(vehicle.route):
        leg = int(dur[here, loc[v.id]])
        if k == 0 and not vehicle.frozen:
            departure = max(rest.shift_start, v.window_start - leg)
            clock = departure
        arrival = clock + leg
        begin = max(arrival, v.window_start)
        clock = begin + v.service_s
        stops.append(planner.Stop(v.id, arrival, begin, clock))
        locs.append(loc[v.id])
        here = loc[v.id]
    if not stops:
        return planner.Route(base.id, (), 0, 0, base.shift_start, base.shift_start)
    locs.append(vehicle.end_loc)
    legs = list(zip(locs, locs[1:], strict=False))
    return planner.Route(
        nurse_id=base.id, stops=tuple(stops),
        travel_s=sum(int(dur[a, b]) for a, b in legs),
        distance_m=sum(int(dist[a, b]) for a, b in legs),
        departure=departure, back=clock + int(dur[here, vehicle.end_loc]))

"""Benchmark the planner on a synthetic Jining day against a greedy dispatcher.

    python bench/homecare_day.py [--nurses 85] [--visits 420] [--seed 7]

A reproducible day in Jining, Shandong: nurses living across the city with
mixed skills and irregular shifts, patients clustered in neighbourhoods,
1-2 h windows and 30-90 min services. The day is planned with ``plan()``
and with a greedy baseline that takes visits in window order and gives each
to the nurse whose day it lengthens least (cheapest feasible insertion).
Both results are re-checked here and printed as one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from homecare.geo import GeodesicTravel, Point  # noqa: E402
from homecare.scheduling.insertion import best_insertion  # noqa: E402
from homecare.scheduling.planner import Nurse, Problem, Visit, plan  # noqa: E402

JINING = Point(35.41, 116.59)
H = 3600
SKILLS = ("tube", "wound", "tcm", "maternal", "picc")
# Share of nurses holding each extra skill; everyone does basic care.
SKILL_SHARE = (0.4, 0.3, 0.25, 0.2, 0.15)
# Share of visits needing each extra skill (the rest are basic care).
VISIT_SKILL_SHARE = (0.12, 0.1, 0.06, 0.06, 0.04)


def make_day(n_nurses: int, n_visits: int, seed: int) -> Problem:
    """A reproducible Jining day, times in seconds since local midnight."""
    rng = np.random.default_rng(seed)

    def spread(n: int, half_lat: float = 0.06, half_lng: float = 0.08) -> list[Point]:
        # About 13 x 14 km: Rencheng district and its edges.
        lat = JINING.lat + rng.uniform(-half_lat, half_lat, n)
        lng = JINING.lng + rng.uniform(-half_lng, half_lng, n)
        return [Point(float(a), float(b)) for a, b in zip(lat, lng, strict=True)]

    nurses = []
    for i, home in enumerate(spread(n_nurses)):
        kind = rng.choice(["day", "morning", "afternoon", "evening"], p=[0.5, 0.2, 0.2, 0.1])
        first, length = {
            "day": ((7.5, 9.5), (8, 9)),
            "morning": ((7.0, 9.0), (4, 5)),
            "afternoon": ((12.5, 15.0), (4, 6)),
            "evening": ((16.5, 18.0), (3, 4)),
        }[kind]
        start = int(rng.uniform(*first) * 4) * 900
        end = start + int(rng.uniform(*length) * 4) * 900
        skills = {s for s, p in zip(SKILLS, SKILL_SHARE, strict=True) if rng.random() < p}
        nurses.append(Nurse(f"N{i:03d}", home, home, start, end, frozenset(skills), max_visits=8))

    # Patients live in neighbourhoods (old quarters, new estates) and a few outside them.
    centres = spread(14, 0.05, 0.07)
    visits = []
    for j in range(n_visits):
        if rng.random() < 0.8:
            c = centres[rng.integers(len(centres))]
            place = Point(float(c.lat + rng.normal(0, 0.008)), float(c.lng + rng.normal(0, 0.009)))
        else:
            place = spread(1)[0]
        # Most care is asked for in the morning; few families want an evening visit.
        hours = rng.choice([(8, 12), (12, 17), (17, 19)], p=[0.5, 0.4, 0.1])
        opens = int(rng.integers(hours[0] * 4, hours[1] * 4)) * 900
        width = int(rng.choice([1, 2])) * H
        service = int(rng.choice([30, 45, 60, 90], p=[0.3, 0.3, 0.3, 0.1])) * 60
        extra = rng.random()
        needs: frozenset[str] = frozenset()
        for skill, share in zip(SKILLS, VISIT_SKILL_SHARE, strict=True):
            if extra < share:
                needs = frozenset({skill})
                break
            extra -= share
        visits.append(Visit(f"V{j:03d}", place, opens, opens + width, service, needs))

    # Family-bed patients keep their nurse: pin a few visits to a qualified one on shift.
    for j in rng.choice(n_visits, size=n_visits // 40, replace=False):
        v = visits[j]
        able = [
            n.id
            for n in nurses
            if n.may_serve(v) and n.shift_start + H <= v.window_start < n.shift_end - 2 * H
        ]
        if able:
            visits[j] = Visit(
                v.id,
                v.place,
                v.window_start,
                v.window_end,
                v.service_s,
                v.required_skills,
                pinned_nurse=able[rng.integers(len(able))],
            )
    return Problem(tuple(nurses), tuple(visits))


class MatrixTravel:
    """A travel model answering from one precomputed matrix (the greedy asks thousands of times)."""

    def __init__(self, base: GeodesicTravel, points: list[Point]) -> None:
        self.index = {p: i for i, p in enumerate(points)}
        self.dist, self.dur = base.matrices(points)

    def matrices(self, points):
        idx = [self.index[p] for p in points]
        return self.dist[np.ix_(idx, idx)], self.dur[np.ix_(idx, idx)]


def greedy(problem: Problem, travel: MatrixTravel) -> dict[object, list[Visit]]:
    """Visits in window order, each to the nurse whose travel grows least; None if nobody fits."""
    days: dict[object, list[Visit]] = {n.id: [] for n in problem.nurses}
    for visit in sorted(problem.visits, key=lambda v: (v.window_start, v.window_end, v.id)):
        best = None
        for nurse in problem.nurses:
            spot = best_insertion(nurse=nurse, route=days[nurse.id], visit=visit, travel=travel)
            if spot is not None and (best is None or spot.added_travel_s < best[0].added_travel_s):
                best = (spot, nurse.id)
        if best is not None:
            days[best[1]].insert(best[0].index, visit)
    return days


def audit(problem: Problem, days: dict[object, list[Visit]], travel: MatrixTravel) -> dict:
    """Recompute every day from the travel matrix: travel, late starts, shift overruns."""
    nurses = {n.id: n for n in problem.nurses}
    travel_s = late = overrun = planned = 0
    for nurse_id, visits in days.items():
        if not visits:
            continue
        nurse = nurses[nurse_id]
        places = [nurse.start, *(v.place for v in visits), nurse.end]
        _, dur = travel.matrices(places)
        legs = [int(dur[k, k + 1]) for k in range(len(places) - 1)]
        clock = nurse.shift_start
        for leg, v in zip(legs, visits, strict=False):
            begin = max(clock + leg, v.window_start)
            late += begin > v.window_end
            late += not nurse.may_serve(v)
            clock = begin + v.service_s
        overrun += clock + legs[-1] > nurse.shift_end
        travel_s += sum(legs)
        planned += len(visits)
    return {
        "planned": planned,
        "unplanned": len(problem.visits) - planned,
        "travel_h": round(travel_s / H, 2),
        "travel_min_per_visit": round(travel_s / 60 / max(planned, 1), 2),
        "windows_missed": late,
        "shift_overruns": overrun,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nurses", type=int, default=85)
    parser.add_argument("--visits", type=int, default=420)
    parser.add_argument("--seed", type=int, default=7, help="seed of the synthetic day")
    parser.add_argument("--max-iterations", type=int, default=None, help="planner iterations")
    parser.add_argument("--max-seconds", type=float, default=None, help="planner time cap")
    args = parser.parse_args(argv)

    problem = make_day(args.nurses, args.visits, args.seed)
    base = GeodesicTravel(detour_factor=1.3, speed_kmh=25)

    began = time.perf_counter()
    limits = {
        k: v
        for k, v in (("max_iterations", args.max_iterations), ("max_seconds", args.max_seconds))
        if v is not None
    }
    result = plan(problem, base, seed=1, **limits)
    plan_s = time.perf_counter() - began

    points = list({p: None for n in problem.nurses for p in (n.start, n.end)})
    points += list({v.place: None for v in problem.visits})
    travel = MatrixTravel(base, points)
    visits = {v.id: v for v in problem.visits}
    planned_days = {r.nurse_id: [visits[s.visit_id] for s in r.stops] for r in result.routes}
    planner = audit(problem, planned_days, travel)
    planner.update(
        wall_s=round(plan_s, 2),
        iterations=result.iterations,
        unplanned_reasons=dict(Counter(u.reason for u in result.unplanned)),
        nurses_used=sum(1 for r in result.routes if r.stops),
        reported_travel_h=round(result.travel_s / H, 2),
    )

    began = time.perf_counter()
    greedy_days = greedy(problem, travel)
    baseline = audit(problem, greedy_days, travel)
    baseline.update(
        wall_s=round(time.perf_counter() - began, 2),
        nurses_used=sum(1 for d in greedy_days.values() if d),
    )

    report = {
        "city": "Jining",
        "nurses": len(problem.nurses),
        "visits": len(problem.visits),
        "pinned_visits": sum(1 for v in problem.visits if v.pinned_nurse is not None),
        "skilled_visits": sum(1 for v in problem.visits if v.required_skills),
        "planner": planner,
        "greedy": baseline,
        "travel_ratio": round(planner["travel_h"] / baseline["travel_h"], 3),
        "travel_per_visit_ratio": round(
            planner["travel_min_per_visit"] / baseline["travel_min_per_visit"], 3
        ),
    }
    print(json.dumps(report, indent=2))
    ok = planner["windows_missed"] == 0 and planner["shift_overruns"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark the planner on Solomon VRPTW instances against their best-known distances.

    python bench/solomon.py [FILE_OR_FOLDER ...] [--seconds 10] [--seed 1]

Each instance becomes the planner's own problem (one depot as every nurse's
home, demand as workload capacity) and is solved through ``plan()``; the
solution is then checked here without PyVRP and one JSON line is printed per
instance, then a summary line. Conventions (see bench-data/README.md): arcs
are truncated to one decimal, travel time equals distance.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from homecare.scheduling.planner import Nurse, Plan, Problem, Visit, plan  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "bench-data" / "solomon"
# Times and distances are planned in tenths so that integer arithmetic carries
# the one-decimal truncation of the best-known values exactly.
SCALE = 10


class XY(NamedTuple):
    """A point of a Solomon instance (the planner treats places as opaque)."""

    x: float
    y: float


class Customer(NamedTuple):
    number: int
    x: float
    y: float
    demand: int
    ready: int
    due: int
    service: int


@dataclass(frozen=True)
class Instance:
    name: str
    vehicles: int
    capacity: int
    depot: Customer
    customers: tuple[Customer, ...]


class SolomonTravel:
    """Euclidean distance in tenths, truncated; travel time equals distance."""

    def matrices(self, points):
        xy = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        euclid = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])
        tenths = np.floor(SCALE * euclid).astype(np.int64)
        return tenths, tenths.copy()


def read_instance(path: Path) -> Instance:
    """Parse the classic Solomon text layout."""
    lines = [line.split() for line in path.read_text().splitlines()]
    name = lines[0][0]
    vehicles = capacity = None
    rows = []
    for k, parts in enumerate(lines):
        if parts[:1] == ["NUMBER"]:
            vehicles, capacity = (int(v) for v in lines[k + 1][:2])
        if len(parts) == 7 and all(_is_number(p) for p in parts):
            number, x, y, *rest = (float(p) for p in parts)
            rows.append(Customer(int(number), x, y, *(int(v) for v in rest)))
    if vehicles is None or not rows or rows[0].number != 0:
        raise ValueError(f"{path}: not a Solomon instance")
    return Instance(name, vehicles, capacity, rows[0], tuple(rows[1:]))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def to_problem(inst: Instance) -> Problem:
    """The instance as a planning problem: a nurse per vehicle, a visit per customer."""
    depot = XY(inst.depot.x, inst.depot.y)
    nurses = tuple(
        Nurse(
            id=k,
            start=depot,
            end=depot,
            shift_start=SCALE * inst.depot.ready,
            shift_end=SCALE * inst.depot.due,
            capacity=inst.capacity,
        )
        for k in range(inst.vehicles)
    )
    visits = tuple(
        Visit(
            id=c.number,
            place=XY(c.x, c.y),
            window_start=SCALE * c.ready,
            window_end=SCALE * c.due,
            service_s=SCALE * c.service,
            demand=c.demand,
        )
        for c in inst.customers
    )
    return Problem(nurses, visits)


def _tenths(a: Customer, b: Customer) -> int:
    return math.floor(SCALE * math.hypot(a.x - b.x, a.y - b.y))


def check(inst: Instance, result: Plan) -> tuple[bool, int, list[str]]:
    """Validate a plan from the raw instance alone: (feasible, distance in tenths, errors)."""
    by_number = {c.number: c for c in inst.customers}
    errors = []
    served = [s.visit_id for r in result.routes for s in r.stops]
    if sorted(served) != sorted(by_number):
        errors.append("not every customer exactly once")
    used = [r for r in result.routes if r.stops]
    if len(used) > inst.vehicles:
        errors.append("too many vehicles")
    total = 0
    for route in used:
        here, clock, load = inst.depot, inst.depot.ready * SCALE, 0
        for stop in route.stops:
            c = by_number[stop.visit_id]
            total += _tenths(here, c)
            clock = max(clock + _tenths(here, c), c.ready * SCALE)
            if clock > c.due * SCALE:
                errors.append(f"customer {c.number} served late")
            clock += c.service * SCALE
            load += c.demand
            here = c
        total += _tenths(here, inst.depot)
        if clock + _tenths(here, inst.depot) > inst.depot.due * SCALE:
            errors.append(f"route of vehicle {route.nurse_id} back late")
        if load > inst.capacity:
            errors.append(f"route of vehicle {route.nurse_id} over capacity")
    return not errors, total, errors


def read_bks(folder: Path) -> dict[str, tuple[float, int]]:
    """Best-known (distance, vehicles) by instance name, from a bks.csv if there is one."""
    path = folder / "bks.csv"
    if not path.exists():
        return {}
    with path.open(newline="") as fh:
        return {
            row["instance"]: (float(row["distance"]), int(row["vehicles"]))
            for row in csv.DictReader(fh)
        }


def instance_paths(targets: list[Path]) -> list[Path]:
    """Instance files named on the command line, folders expanded to their .txt files."""
    paths = []
    for target in targets:
        if target.is_dir():
            paths.extend(sorted(p for p in target.iterdir() if p.suffix.lower() == ".txt"))
        else:
            paths.append(target)
    return paths


def run(path: Path, seconds: float, seed: int) -> dict:
    """Solve one instance through the planner and report it as a JSON-ready dict."""
    inst = read_instance(path)
    problem = to_problem(inst)
    began = time.perf_counter()
    result = plan(
        problem,
        SolomonTravel(),
        seed=seed,
        max_iterations=None,
        max_seconds=seconds,
        objective="distance",
    )
    wall = time.perf_counter() - began
    feasible, tenths, errors = check(inst, result)
    report = {
        "instance": inst.name,
        "customers": len(inst.customers),
        "distance": round(tenths / SCALE, 1),
        "vehicles": sum(1 for r in result.routes if r.stops),
        "feasible": feasible,
        "wall_s": round(wall, 2),
        "iterations": result.iterations,
    }
    if tenths != result.distance_m:
        errors.append("planner's distance differs from the recomputed one")
        report["feasible"] = False
    bks = read_bks(path.parent).get(inst.name)
    if bks is not None:
        report["bks"] = bks[0]
        report["bks_vehicles"] = bks[1]
        report["gap_pct"] = round(100 * (tenths / SCALE - bks[0]) / bks[0], 3)
    if errors:
        report["errors"] = errors[:10]
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, default=[DEFAULT_DATA])
    parser.add_argument("--seconds", type=float, default=10.0, help="time limit per instance")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    reports = []
    for path in instance_paths(args.paths):
        report = run(path, args.seconds, args.seed)
        reports.append(report)
        print(json.dumps(report), flush=True)
    gaps = [r["gap_pct"] for r in reports if "gap_pct" in r]
    summary = {
        "instances": len(reports),
        "seconds_per_instance": args.seconds,
        "all_feasible": all(r["feasible"] for r in reports),
        "mean_gap_pct": round(statistics.fmean(gaps), 3) if gaps else None,
        "max_gap_pct": max(gaps) if gaps else None,
        "total_wall_s": round(sum(r["wall_s"] for r in reports), 2),
    }
    print(json.dumps({"summary": summary}), flush=True)
    return 0 if summary["all_feasible"] else 1


if __name__ == "__main__":
    sys.exit(main())

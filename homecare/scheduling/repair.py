"""Repairing a planned day after it changed: keep the plan, change it only where it must.

The jobs process calls :func:`repair_day` (serialised and debounced per
organization and day) after a new or cancelled order, a nurse off sick, a
no-show or an overrun. A day nobody planned is left to dispatch.
"""

from __future__ import annotations

import logging
import time
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from homecare.config import Config
from homecare.db import atomic
from homecare.geo import travel_model
from homecare.scheduling import planner
from homecare.scheduling.day import DayTravel, load_day
from homecare.scheduling.models import DayPlan
from homecare.scheduling.service import _store

log = logging.getLogger(__name__)

REASON_KINDS = ("order_added", "order_cancelled", "nurse_unavailable", "no_show", "overrun",
                "unassigned")


def latest_plan(session: Session, organization_id: int, day: date) -> DayPlan | None:
    """The organization's newest stored plan of ``day``, if any."""
    return session.scalar(
        sa.select(DayPlan).where(DayPlan.organization_id == organization_id, DayPlan.day == day)
        .order_by(DayPlan.created_at.desc(), DayPlan.id.desc()).limit(1))


@atomic
def repair_day(*, session: Session, organization_id: int, day: date, now: datetime,
               config: Config, reasons: list[dict[str, Any]]) -> DayPlan | None:
    """Repair the organization's latest plan of ``day`` after ``reasons`` changed it.

    Returns the new DayPlan (``result["kind"] == "repair"``, with a ``diff``),
    or None, writing nothing, when the day has no stored plan.
    """
    previous = latest_plan(session, organization_id, day)
    if previous is None:
        session.rollback()
        return None
    before = _plan_stops(previous)
    travel = travel_model(config)
    loaded = load_day(session, organization_id=organization_id, day=day, now=now,
                      config=config, travel=travel, reassign=False)
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("repair_day needs the caller's changes committed first")
    session.commit()

    began = time.perf_counter()
    result = planner.plan(loaded.problem, DayTravel(travel), seed=config.planning_seed,
                          max_iterations=config.planning_iterations,
                          max_seconds=config.planning_seconds)
    solve_s = time.perf_counter() - began
    day_plan = _store(session, loaded, result, actor=None, now=now, reassign=False,
                      seed=config.planning_seed, solve_s=solve_s)
    day_plan.result = {**day_plan.result, "kind": "repair", "reasons": reasons,
                       "diff": _diff(before, day_plan.result, reasons)}
    session.commit()
    return day_plan


def _plan_stops(day_plan: DayPlan) -> dict[int, tuple[int, str]]:
    """Per order in a stored plan: (nurse id, planned arrival as stored)."""
    return {stop["order_id"]: (route["nurse_id"], stop["planned_arrival"])
            for route in (day_plan.result or {}).get("routes", []) for stop in route["stops"]}


def _diff(before: dict[int, tuple[int, str]], after: dict[str, Any],
          reasons: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    now_at = {stop["order_id"]: (route["nurse_id"], stop["planned_arrival"])
              for route in after["routes"] for stop in route["stops"]}
    why_order = {r["order_id"]: r["kind"] for r in reasons if r.get("order_id") is not None}
    why_nurse = {r["nurse_id"]: r["kind"] for r in reasons if r.get("nurse_id") is not None}
    diff: dict[str, list[dict[str, Any]]] = {"moved": [], "added": [], "dropped": [],
                                             "retimed": []}
    for order_id, (nurse_id, arrival) in sorted(now_at.items()):
        if order_id not in before:
            diff["added"].append({"order_id": order_id, "to_nurse_id": nurse_id,
                                  "new_arrival": arrival,
                                  "reason": why_order.get(order_id, "unplanned_before")})
            continue
        old_nurse, old_arrival = before[order_id]
        reason = why_order.get(order_id) or why_nurse.get(old_nurse) or "repair"
        if old_nurse != nurse_id:
            diff["moved"].append({"order_id": order_id, "from_nurse_id": old_nurse,
                                  "to_nurse_id": nurse_id, "old_arrival": old_arrival,
                                  "new_arrival": arrival, "reason": reason})
        elif old_arrival != arrival:
            diff["retimed"].append({"order_id": order_id, "nurse_id": nurse_id,
                                    "old_arrival": old_arrival, "new_arrival": arrival,
                                    "reason": reason})
    for order_id in sorted(set(before) - set(now_at)):
        reason = why_order.get(order_id) or why_nurse.get(before[order_id][0]) or "unplanned"
        diff["dropped"].append({"order_id": order_id, "reason": reason})
    return diff

"""Family beds (家庭病床): what an episode's record and alerts are built of, shared by
opening, changing, closing, continuity and risk control: its events, the alert
cause of its end date, its visit counts. Imports no other family-bed module."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from homecare.auth import Actor
from homecare.config import Config
from homecare.family_beds.models import FamilyBed, FamilyBedEvent
from homecare.orders.models import Order
from homecare.orders.states import AWAITING_NURSE, HOLDS_NURSE


def add_event(session: Session, bed: FamilyBed, kind: str, *, actor: Actor | None,
              now: datetime, **detail: Any) -> FamilyBedEvent:
    """Keep one change of the episode for its record (no commit)."""
    event = FamilyBedEvent(family_bed_id=bed.id, kind=kind,
                           actor_id=actor.user_id if actor is not None else None, at=now,
                           detail=detail)
    session.add(event)
    return event


def ending_cause(bed_id: int, end_date: Any) -> str:
    return f"family_bed_ending:{bed_id}:{end_date.isoformat()}"


def visit_counts(session: Session, bed_ids: list[int], config: Config
                 ) -> dict[int, dict[str, Any]]:
    """Per episode: visits ``done``, ``missed`` (window passed with no nurse),
    ``no_show``, ``planned`` (still to happen), and ``last_round_on``: the local date
    of the last visit a nurse completed."""
    zone = ZoneInfo(config.timezone)
    result: dict[int, dict[str, Any]] = {
        bed_id: {"done": 0, "missed": 0, "no_show": 0, "planned": 0, "last_round_on": None}
        for bed_id in bed_ids}
    if not bed_ids:
        return result
    buckets = {"completed": "done", "expired": "missed", "no_show": "no_show",
               **{status: "planned" for status in (*AWAITING_NURSE, *HOLDS_NURSE)}}
    for bed_id, status, count in session.execute(
            sa.select(Order.family_bed_id, Order.status, sa.func.count())
            .where(Order.family_bed_id.in_(bed_ids)).group_by(Order.family_bed_id,
                                                              Order.status)):
        if status in buckets:
            result[bed_id][buckets[status]] += count
    for bed_id, last in session.execute(
            sa.select(Order.family_bed_id, sa.func.max(Order.checked_out_at))
            .where(Order.family_bed_id.in_(bed_ids), Order.status == "completed")
            .group_by(Order.family_bed_id)):
        if last is not None:
            if isinstance(last, str):
                last = datetime.fromisoformat(last)
            if last.tzinfo is None:
                last = last.replace(tzinfo=UTC)
            result[bed_id]["last_round_on"] = last.astimezone(zone).date()
    return result

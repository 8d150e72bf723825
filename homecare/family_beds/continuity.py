"""Family beds (家庭病床) continuity: the responsible nurse first, then the last one.

A generated visit is offered first to the episode's responsible nurse (责任护士),
alone, in a round of her own; if she declines or lets it expire, to the nurse who
served the episode last (its latest completed visit), alone; then as any order, to
the best ``offer_fanout`` nurses. Dispatch asks ``preferred_round`` for each round
(``dispatch.rounds``); a preferred nurse who is not eligible (off shift, day full,
...) is skipped, and the rule that excluded her is kept as an event on the
episode (``nurse_passed_over``), so the supervisor sees why the visit went to
someone else (``elsewhere``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from homecare.config import Config
from homecare.family_beds.episode import add_event
from homecare.family_beds.models import FamilyBed, FamilyBedEvent
from homecare.orders.models import Order

# Why a visit went to another nurse than the responsible one, from her offer's end.
_OFFER_ENDS = {"declined": "declined", "expired": "offer_expired",
               "withdrawn": "offer_withdrawn", "open": "offer_open"}


def last_served(session: Session, family_bed_id: int) -> int | None:
    """The nurse of the episode's latest completed visit."""
    return session.scalar(
        sa.select(Order.nurse_id).where(Order.family_bed_id == family_bed_id,
                                        Order.status == "completed")
        .order_by(Order.window_start.desc(), Order.id.desc()).limit(1))


def preferred_round(session: Session, order: Order, fresh: Sequence[Any], offered: set[int],
                    *, now: datetime, config: Config) -> list[Any] | None:
    """The round to open for a family bed's visit: the next preferred nurse alone, or
    None for a round as usual (no commit).

    ``fresh`` are the eligible candidates not offered this order yet, best first;
    ``offered`` the nurses offered it before.
    """
    if order.family_bed_id is None:
        return None
    bed = session.get(FamilyBed, order.family_bed_id)
    if bed is None:
        return None
    preferred = [("responsible", bed.responsible_nurse_id),
                 ("last_served", last_served(session, bed.id))]
    seen: set[int] = set()
    for role, nurse_id in preferred:
        if nurse_id is None or nurse_id in seen:
            continue
        seen.add(nurse_id)
        if nurse_id in offered:
            continue  # she had her turn
        chosen = next((c for c in fresh if c.nurse_id == nurse_id), None)
        if chosen is not None:
            return [chosen]
        _passed_over(session, bed, order, nurse_id, role, now=now, config=config)
    return None


def _passed_over(session: Session, bed: FamilyBed, order: Order, nurse_id: int, role: str,
                 *, now: datetime, config: Config) -> None:
    from homecare.dispatch.matching import check_nurse

    standing = check_nurse(session, order, nurse_id, now=now, config=config)
    if standing.eligible:  # eligible but not fresh: offered before, nothing to explain
        return
    already = session.scalar(sa.select(FamilyBedEvent.id).where(
        FamilyBedEvent.family_bed_id == bed.id, FamilyBedEvent.kind == "nurse_passed_over",
        FamilyBedEvent.detail["order_id"].as_integer() == order.id,
        FamilyBedEvent.detail["nurse_id"].as_integer() == nurse_id).limit(1))
    if already is None:
        add_event(session, bed, "nurse_passed_over", actor=None, now=now, order_id=order.id,
                  nurse_id=nurse_id, preference=role, rule=standing.excluded_by,
                  reason=standing.reason)


def elsewhere(session: Session, bed: FamilyBed,
              orders: Sequence[Order]) -> dict[int, dict[str, Any]]:
    """For each visit held or done by another nurse than the responsible one, why:
    ``{"preferred_nurse_id", "reason", "detail"}`` by order id. ``reason`` is her
    offer's end (``declined``, ``offer_expired``, ``offer_withdrawn``), the rule that
    excluded her (``not_eligible``, with the rule in ``detail``), or
    ``assigned_by_supervisor`` / ``not_offered``."""
    from homecare.dispatch.models import Offer
    from homecare.orders.models import OrderEvent

    nurse_id = bed.responsible_nurse_id
    if nurse_id is None:
        return {}
    others = [o for o in orders if o.nurse_id is not None and o.nurse_id != nurse_id]
    if not others:
        return {}
    ids = [o.id for o in others]
    offers = dict(session.execute(sa.select(Offer.order_id, Offer.status).where(
        Offer.order_id.in_(ids), Offer.nurse_id == nurse_id)).all())
    passed = {event.detail.get("order_id"): event for event in session.scalars(
        sa.select(FamilyBedEvent).where(FamilyBedEvent.family_bed_id == bed.id,
                                        FamilyBedEvent.kind == "nurse_passed_over")
        .order_by(FamilyBedEvent.id)) if event.detail.get("nurse_id") == nurse_id}
    by_supervisor = set(session.scalars(sa.select(OrderEvent.order_id).where(
        OrderEvent.order_id.in_(ids), OrderEvent.to_status == "assigned",
        OrderEvent.actor_role == "supervisor")))
    result = {}
    for order in others:
        why: dict[str, Any] = {"preferred_nurse_id": nurse_id, "detail": None}
        if order.id in by_supervisor and offers.get(order.id) in (None, "open", "withdrawn"):
            why["reason"] = "assigned_by_supervisor"
        elif order.id in offers:
            why["reason"] = _OFFER_ENDS.get(offers[order.id], offers[order.id])
        elif order.id in passed:
            event = passed[order.id]
            why["reason"] = "not_eligible"
            why["detail"] = f"{event.detail.get('rule')}: {event.detail.get('reason')}"
        else:
            why["reason"] = "not_offered"
        result[order.id] = why
    return result

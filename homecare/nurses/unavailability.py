"""A nurse becomes unavailable (ill, an emergency): ``POST /nurses/{id}/unavailability``."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from homecare.alerts.service import raise_alert
from homecare.audit.service import record
from homecare.auth import Actor
from homecare.config import Config
from homecare.db import atomic
from homecare.dispatch.handback import return_to_dispatch
from homecare.errors import ValidationProblem
from homecare.nurseday.load import lock_nurses
from homecare.nurseday.model import local_day
from homecare.nurses.models import Shift
from homecare.nurses.service import access_nurse
from homecare.orders.models import Order
from homecare.orders.states import UNDER_WAY
from homecare.scheduling.repair_queue import request_repair

# A longer absence is leave, planned with her shifts, not a live-day change.
MAX_SPAN = timedelta(days=31)


class BadUnavailableSpan(ValidationProblem):
    code, title = "bad_unavailable_span", "The span must end after it starts, within 31 days"


@atomic
def mark_unavailable(*, session: Session, actor: Actor, nurse_id: int, start: datetime,
                     until: datetime, reason: str, now: datetime,
                     config: Config) -> dict[str, Any]:
    """The nurse is off from ``start`` to ``until``, in one transaction.

    Her shifts in the span are removed, or trimmed to its edges (one that spans it
    is split in two). Her visits whose window meets the span and that she has not
    set off for (``assigned``) go back to dispatch, each as an un-assign does
    (``dispatch.handback.return_to_dispatch``: re-offered without her, the family
    told). Visits already under way are the supervisor's call: each raises a
    ``nurse_unavailable`` alert and stays as it is. On the audit trail. Each planned day
    the span meets gets a repair queued (``scheduling.repair_queue``), run by the
    jobs process: her returned visits go onto other nurses' routes there.

    :raises NurseNotFound: (404) not the supervisor's organization's nurse, nor herself.
    :raises BadUnavailableSpan: (422) ``until`` not after ``start``, or longer than 31 days.
    """
    nurse = access_nurse(session, actor, nurse_id)
    if not start < until <= start + MAX_SPAN:
        raise BadUnavailableSpan(errors={"until": ["must be after from, within 31 days"]})
    lock_nurses(session, [nurse.id])
    removed, trimmed = _cut_shifts(session, nurse.id, start, until)
    visits = session.scalars(sa.select(Order).where(
        Order.nurse_id == nurse.id, Order.status.in_(("assigned", *sorted(UNDER_WAY))),
        Order.window_start < until, Order.window_end > start)
        .order_by(Order.window_start, Order.id)).all()
    returned, kept = [], []
    for order in visits:
        if order.status == "assigned":
            offers = return_to_dispatch(session, order, actor=actor, now=now, config=config,
                                        reason=f"nurse unavailable: {reason}")
            returned.append({"order_id": order.id, "status": order.status,
                             "offers_made": len(offers)})
            continue
        alert = raise_alert(
            session, kind="nurse_unavailable", organization_id=order.organization_id,
            cause=f"nurse_unavailable:order:{order.id}:nurse:{nurse.id}:{start.isoformat()}",
            now=now, order_id=order.id, nurse_id=nurse.id, actor=actor, severity="critical",
            detail=f"the nurse is unavailable ({reason}) but the visit is {order.status}: "
                   "decide whether she finishes it or someone takes over")
        kept.append({"order_id": order.id, "status": order.status,
                     "alert_id": alert.id if alert is not None else None})
    # Her returned visits are named too, so the repair's diff says why each moved.
    for order in visits:
        if order.id in {r["order_id"] for r in returned}:
            request_repair(session, organization_id=order.organization_id,
                           day=order.service_date, now=now, config=config,
                           reason={"kind": "nurse_unavailable", "order_id": order.id,
                                   "nurse_id": nurse.id})
    for day in _local_days(start, until, config.timezone):
        request_repair(session, organization_id=nurse.organization_id, day=day, now=now,
                       config=config, reason={"kind": "nurse_unavailable", "nurse_id": nurse.id})
    record(session, actor=actor, action="nurse.unavailable", object_type="nurse",
           object_id=nurse.id, organization_id=nurse.organization_id, now=now,
           detail={"from": start.isoformat(), "until": until.isoformat(), "reason": reason,
                   "returned": [r["order_id"] for r in returned],
                   "under_way": [k["order_id"] for k in kept]})
    session.commit()
    return {"nurse_id": nurse.id, "from": start, "until": until, "reason": reason,
            "shifts_removed": removed, "shifts_trimmed": trimmed,
            "returned_to_dispatch": returned, "under_way": kept}


def _local_days(start: datetime, until: datetime, timezone: str) -> list[date]:
    """The service area's days that ``[start, until)`` meets."""
    first = local_day(start, timezone)
    last = local_day(until - timedelta(microseconds=1), timezone)
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _cut_shifts(session: Session, nurse_id: int, start: datetime,
                until: datetime) -> tuple[int, int]:
    """Take ``[start, until)`` out of her shifts (no commit): (removed, trimmed)."""
    removed = trimmed = 0
    for shift in session.scalars(sa.select(Shift).where(
            Shift.nurse_id == nurse_id, Shift.start < until, Shift.end > start)).all():
        before, after = shift.start < start, shift.end > until
        if before and after:  # the span falls inside: split it in two
            session.add(Shift(nurse_id=nurse_id, start=until, end=shift.end))
            shift.end = start
        elif before:
            shift.end = start
        elif after:
            shift.start = until
        else:
            session.delete(shift)
            removed += 1
            continue
        trimmed += 1
    session.flush()
    return removed, trimmed

"""Visit time corrections: times on the visit record are evidence.

A nurse who forgot to check in or out, or whose phone died, asks for corrected
times with a reason; a supervisor of the organization approves or rejects. The
original times are kept on the request and on the audit trail; once approved the
order carries the corrected times, so every report and the visit record use them
(the record also shows the originals). One pending request per visit at a time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from homecare.audit.service import record
from homecare.auth import Actor
from homecare.db import atomic
from homecare.errors import Conflict, NotFound, ValidationProblem
from homecare.orders.access import access_order
from homecare.orders.errors import OrderNotFound
from homecare.orders.models import Order
from homecare.visits.models import TimeCorrection

# Only a visit that has started has times to correct.
_CORRECTABLE = frozenset({"in_service", "completed"})
# A visit is never longer than this: a longer span is a typo (a wrong day).
_MAX_VISIT = timedelta(hours=12)


class CorrectionNotFound(NotFound):
    code, title = "correction_not_found", "No such time correction for this visit"


class CorrectionPending(Conflict):
    code, title = "correction_pending", "This visit has a correction waiting for a decision"


class CorrectionNotPending(Conflict):
    code, title = "correction_not_pending", "The correction has been decided already"


class VisitNotStarted(Conflict):
    code, title = "visit_not_started", "Only a visit that has started has times to correct"


class CorrectionInvalid(ValidationProblem):
    code, title = "correction_invalid", "The corrected times are not possible"


def _check_times(order: Order, check_in: datetime | None, check_out: datetime | None,
                 now: datetime) -> None:
    if check_out is not None and order.status != "completed":
        raise CorrectionInvalid("the visit has not been checked out yet",
                                errors={"checked_out_at": ["the visit is not completed"]})
    for name, value in (("checked_in_at", check_in), ("checked_out_at", check_out)):
        if value is not None and value > now:
            raise CorrectionInvalid(f"{name} is in the future", errors={name: ["in the future"]})
    start = check_in or order.checked_in_at
    end = check_out or order.checked_out_at
    if start is not None and end is not None and not (start < end <= start + _MAX_VISIT):
        raise CorrectionInvalid("check-out must follow check-in, within 12 hours",
                                errors={"checked_out_at": ["must follow check-in"]})
    if start is not None and abs(start - order.window_start) > _MAX_VISIT:
        raise CorrectionInvalid("the check-in must be near the visit's window",
                                errors={"checked_in_at": ["not near the visit's window"]})


@atomic
def request_correction(*, session: Session, actor: Actor, order_id: int, reason: str,
                       now: datetime, checked_in_at: datetime | None = None,
                       checked_out_at: datetime | None = None) -> TimeCorrection:
    """The nurse of the visit asks for corrected check-in/out times, saying why.

    :raises OrderNotFound: (404) no such order, or the caller is not its nurse.
    :raises VisitNotStarted: (409) the visit is not in service or completed.
    :raises CorrectionPending: (409) an earlier request awaits a decision.
    :raises CorrectionInvalid: (422) times in the future, out of order or far off the window.
    """
    order = access_order(session, actor, order_id)
    if actor.role != "nurse":
        raise OrderNotFound(order_id=order_id)
    if order.status not in _CORRECTABLE:
        raise VisitNotStarted(f"the visit is {order.status}", order_id=order.id,
                              current_status=order.status)
    pending = session.scalar(sa.select(TimeCorrection.id).where(
        TimeCorrection.order_id == order.id, TimeCorrection.status == "pending"))
    if pending is not None:
        raise CorrectionPending(order_id=order.id, correction_id=pending)
    _check_times(order, checked_in_at, checked_out_at, now)
    correction = TimeCorrection(
        order_id=order.id, nurse_id=order.nurse_id, requested_by=actor.user_id,
        checked_in_at=checked_in_at, checked_out_at=checked_out_at,
        original_checked_in_at=order.checked_in_at,
        original_checked_out_at=order.checked_out_at, reason=reason.strip(),
        status="pending", created_at=now)
    session.add(correction)
    session.flush()
    _audit(session, actor, order, correction, "time_correction.requested", now)
    session.commit()
    return correction


def list_corrections(*, session: Session, actor: Actor, order_id: int) -> sa.Select:
    """The visit's correction requests, oldest first, for whoever may see the order.

    :raises OrderNotFound: (404) the caller may not see the order.
    """
    order = access_order(session, actor, order_id)
    return (sa.select(TimeCorrection).where(TimeCorrection.order_id == order.id)
            .order_by(TimeCorrection.created_at, TimeCorrection.id))


def _pending(session: Session, actor: Actor, order_id: int,
             correction_id: int) -> tuple[Order, TimeCorrection]:
    order = access_order(session, actor, order_id)
    correction = session.get(TimeCorrection, correction_id, with_for_update=True)
    if correction is None or correction.order_id != order.id:
        raise CorrectionNotFound(order_id=order.id, correction_id=correction_id)
    if correction.status != "pending":
        raise CorrectionNotPending(correction_id=correction.id,
                                   correction_status=correction.status)
    return order, correction


@atomic
def approve_correction(*, session: Session, actor: Actor, order_id: int, correction_id: int,
                       now: datetime, note: str | None = None) -> TimeCorrection:
    """A supervisor approves: the order's times become the corrected ones.

    :raises OrderNotFound: (404) no such order in her organization.
    :raises CorrectionNotFound: (404) no such request for this visit.
    :raises CorrectionNotPending: (409) it was decided already.
    :raises CorrectionInvalid: (422) the visit changed so the times no longer fit.
    """
    order, correction = _pending(session, actor, order_id, correction_id)
    _check_times(order, correction.checked_in_at, correction.checked_out_at, now)
    # The order's status is untouched: only its record of when things happened.
    if correction.checked_in_at is not None:
        order.checked_in_at = correction.checked_in_at
    if correction.checked_out_at is not None:
        order.checked_out_at = correction.checked_out_at
    _decide(correction, "approved", actor, now, note)
    _audit(session, actor, order, correction, "time_correction.approved", now)
    session.commit()
    return correction


@atomic
def reject_correction(*, session: Session, actor: Actor, order_id: int, correction_id: int,
                      now: datetime, note: str | None = None) -> TimeCorrection:
    """A supervisor rejects, saying why; the recorded times stay.

    :raises OrderNotFound: (404) no such order in her organization.
    :raises CorrectionNotFound: (404) no such request for this visit.
    :raises CorrectionNotPending: (409) it was decided already.
    :raises CorrectionInvalid: (422) no reason given.
    """
    if not (note and note.strip()):
        raise CorrectionInvalid("say why the correction is rejected",
                                errors={"note": ["required to reject"]})
    order, correction = _pending(session, actor, order_id, correction_id)
    _decide(correction, "rejected", actor, now, note)
    _audit(session, actor, order, correction, "time_correction.rejected", now)
    session.commit()
    return correction


def _decide(correction: TimeCorrection, status: str, actor: Actor, now: datetime,
            note: str | None) -> None:
    correction.status, correction.decided_by, correction.decided_at = status, actor.user_id, now
    correction.decision_note = note.strip() if note else None


def _audit(session: Session, actor: Actor, order: Order, correction: TimeCorrection,
           action: str, now: datetime) -> None:
    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    record(session, actor=actor, action=action, object_type="order", object_id=order.id,
           organization_id=order.organization_id, now=now,
           detail={"correction_id": correction.id, "reason": correction.reason,
                   "checked_in_at": iso(correction.checked_in_at),
                   "checked_out_at": iso(correction.checked_out_at),
                   "original_checked_in_at": iso(correction.original_checked_in_at),
                   "original_checked_out_at": iso(correction.original_checked_out_at),
                   "note": correction.decision_note})


def original_times(session: Session, order_id: int) -> dict[str, Any]:
    """For the visit record: whether its times were corrected, and the originals."""
    first = session.scalar(sa.select(TimeCorrection).where(
        TimeCorrection.order_id == order_id, TimeCorrection.status == "approved")
        .order_by(TimeCorrection.decided_at, TimeCorrection.id).limit(1))
    if first is None:
        return {"times_corrected": False, "original_started_at": None,
                "original_ended_at": None}
    return {"times_corrected": True, "original_started_at": first.original_checked_in_at,
            "original_ended_at": first.original_checked_out_at}

"""The door check: the family makes sure the person at the door is the nurse sent.

When the nurse sets off, the family gets a 6-digit visit code (a notification,
and ``visit_code`` on the order for the owner). At the door the nurse enters
the code the family reads out, or the family confirms her in the app
(``POST /orders/{id}/confirm-nurse``). A wrong code is refused and counted; after
``visit_code_max_attempts`` wrong codes the code is locked for that visit (so
it cannot be guessed: 10^6 codes, a handful of tries). A check-in nobody
confirmed is accepted, since refusing care at the door helps nobody, but is
flagged on the visit record and raises a ``door_unverified`` alert. The family
also sees whom to expect (name, photo, title, licence number) once a nurse is
assigned.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from homecare.auth import Actor
from homecare.config import Config
from homecare.db import atomic, undo_call
from homecare.errors import Conflict, TooManyRequests, ValidationProblem
from homecare.orders.access import access_order
from homecare.orders.models import Order
from homecare.orders.states import DAY_LOAD, UNDER_WAY
from homecare.visits.models import DoorCheck

# The family sees the code from departure until the visit is over.
_CODE_SHOWN = UNDER_WAY
# ... and whom to expect from assignment on.
_NURSE_SHOWN = DAY_LOAD


class VisitCodeWrong(ValidationProblem):
    code, title = "visit_code_wrong", "The visit code is not this visit's"


class VisitCodeLocked(TooManyRequests):
    code, title = "visit_code_locked", "Too many wrong visit codes for this visit"


class NurseNotAtDoor(Conflict):
    code, title = "nurse_not_at_door", "The nurse has not set off to this visit"


def door_cause(order_id: int, nurse_id: int | None) -> str:
    return f"door_unverified:order:{order_id}:nurse:{nurse_id}"


def issue_code(session: Session, *, order: Order, now: datetime) -> DoorCheck:
    """Issue the visit's code as the nurse sets off and tell the family (no commit)."""
    from homecare.notifications.service import notify
    from homecare.patients.models import CareRecipient

    check = session.get(DoorCheck, order.id)
    if check is None:
        check = DoorCheck(order_id=order.id)
        session.add(check)
    # secrets, not random: the code is what stands between a stranger and the door.
    check.code = f"{secrets.randbelow(10**6):06d}"
    check.issued_at = now
    check.failed_attempts, check.last_failed_at = 0, None
    check.confirmed_by = check.confirmed_at = None
    owner = session.scalar(sa.select(CareRecipient.owner_id)
                           .where(CareRecipient.id == order.patient_id))
    if owner is not None:
        profile = _nurse_profiles(session, [order.nurse_id]).get(order.nurse_id)
        notify(session, user_id=owner, kind="visit_code", now=now, order_id=order.id,
               payload={"order_id": order.id, "visit_code": check.code, "nurse": profile})
    return check


def _locked(order_id: int, limit: int) -> VisitCodeLocked:
    return VisitCodeLocked(
        f"{limit} wrong codes: the code is locked for this visit; the family can "
        "confirm you in the app, or check in without the code (flagged)",
        order_id=order_id, max_attempts=limit)


def check_at_door(session: Session, *, order: Order, visit_code: str | None, actor: Actor,
                  now: datetime, config: Config) -> dict[str, Any]:
    """At check-in: check the code the nurse entered, or whether the family confirmed her.

    Call before the check-in's transition, from the check-in's ``atomic`` call. A
    wrong code is counted and committed, the check-in's own changes rolled back
    (``undo_call``; the caller's uncommitted work is committed with the count), and
    refused.
    Without a code and without the family's confirmation the check-in goes ahead
    flagged, with a ``door_unverified`` alert (no commit). Returns the door check's
    part of the check-in answer.

    :raises VisitCodeWrong: (422) not this visit's code; ``attempts_left`` says how many remain.
    :raises VisitCodeLocked: (429) too many wrong codes for this visit.
    """
    from homecare.alerts.service import raise_alert

    # Locked while counting: two check-ins at once must not both read the count
    # below the cap (PostgreSQL; SQLite serialises writers anyway).
    check = session.get(DoorCheck, order.id, populate_existing=True,
                        with_for_update=visit_code is not None)
    if visit_code is not None and check is not None and check.confirmed_by is None:
        limit = config.visit_code_max_attempts
        if check.failed_attempts >= limit:
            raise _locked(order.id, limit)
        if not secrets.compare_digest(visit_code, check.code):
            # Read before the rollback: it may expire (or, for a row this call
            # added, discard) the door check.
            undo_call(session)
            # The count is re-checked in the UPDATE itself: undoing the call may have
            # ended the transaction that held the lock (a call with no savepoint), so
            # another check-in may have counted meanwhile; none gets a guess past the cap.
            attempts = session.scalar(
                sa.update(DoorCheck)
                .where(DoorCheck.order_id == order.id, DoorCheck.failed_attempts < limit)
                .values(failed_attempts=DoorCheck.failed_attempts + 1, last_failed_at=now)
                .returning(DoorCheck.failed_attempts))
            session.commit()
            if attempts is None:
                raise _locked(order.id, limit)
            left = max(limit - attempts, 0)
            raise VisitCodeWrong(f"wrong visit code; {left} attempts left", order_id=order.id,
                                 attempts_left=left, errors={"visit_code": ["wrong code"]})
        check.confirmed_by, check.confirmed_at = "code", now
    if check is None:
        # No code was ever issued (the visit departed before door checks existed):
        # there was nothing for the family to confirm.
        return {"door_verified": False, "door_verified_by": None, "door_alert_id": None}
    verified = check.confirmed_by is not None
    alert = None
    if not verified:
        check.unverified_check_in = True
        alert = raise_alert(
            session, kind="door_unverified", cause=door_cause(order.id, order.nurse_id),
            organization_id=order.organization_id, order_id=order.id,
            nurse_id=order.nurse_id, now=now, severity="high", actor=actor,
            detail="checked in without the family's visit code or confirmation")
    return {"door_verified": verified, "door_verified_by": check.confirmed_by,
            "door_alert_id": alert.id if alert is not None else None}


@atomic
def confirm_nurse(*, session: Session, actor: Actor, order_id: int,
                  now: datetime) -> dict[str, Any]:
    """The family confirms in the app that the nurse at the door is the one sent.

    Accepted from departure until the visit ends; confirming after a flagged
    check-in resolves its alert (the flag stays on the record). Idempotent.

    :raises OrderNotFound: (404) not an order of the caller's recipients.
    :raises NurseNotAtDoor: (409) the nurse has not set off (or the visit is over).
    """
    from homecare.alerts.service import resolve_cause
    from homecare.audit.service import record

    order = access_order(session, actor, order_id)
    check = session.get(DoorCheck, order.id)
    if order.status not in _CODE_SHOWN or check is None:
        raise NurseNotAtDoor(f"the order is {order.status}", order_id=order.id,
                             current_status=order.status)
    if check.confirmed_by is None:
        check.confirmed_by, check.confirmed_at = "family", now
        record(session, actor=actor, action="order.nurse_confirmed", object_type="order",
               object_id=order.id, organization_id=order.organization_id, now=now,
               detail={"nurse_id": order.nurse_id})
        resolve_cause(session, cause=door_cause(order.id, order.nurse_id), now=now,
                      actor=actor)
    view = door_view(check)
    session.commit()
    return {"order_id": order.id, **view}


def door_view(check: DoorCheck | None) -> dict[str, Any]:
    """The door check as the visit record shows it."""
    if check is None:
        return {"door_verified": False, "door_verified_by": None, "door_verified_at": None,
                "unverified_check_in": False}
    return {"door_verified": check.confirmed_by is not None,
            "door_verified_by": check.confirmed_by, "door_verified_at": check.confirmed_at,
            "unverified_check_in": check.unverified_check_in}


def _nurse_profiles(session: Session, nurse_ids: Sequence[int | None]) -> dict[int, dict]:
    from homecare.accounts.models import User
    from homecare.nurses.models import Nurse

    ids = {i for i in nurse_ids if i is not None}
    if not ids:
        return {}
    rows = session.execute(sa.select(Nurse.id, User.name, Nurse.title, Nurse.license_no,
                                     Nurse.photo_url).join(User, User.id == Nurse.user_id)
                           .where(Nurse.id.in_(ids)))
    return {r.id: {"id": r.id, "name": r.name, "title": r.title, "license_no": r.license_no,
                   "photo_url": r.photo_url} for r in rows}


def family_sees(session: Session, orders: Sequence[Order]) -> dict[int, dict[str, Any]]:
    """For the owner's orders: whom to expect (``nurse``) and the ``visit_code``."""
    if not orders:
        return {}
    profiles = _nurse_profiles(session, [o.nurse_id for o in orders
                                         if o.status in _NURSE_SHOWN])
    shown = [o.id for o in orders if o.status in _CODE_SHOWN]
    codes = dict(session.execute(sa.select(DoorCheck.order_id, DoorCheck.code)
                                 .where(DoorCheck.order_id.in_(shown))).all()) if shown else {}
    return {o.id: {"nurse": profiles.get(o.nurse_id) if o.status in _NURSE_SHOWN else None,
                   "visit_code": codes.get(o.id)} for o in orders}

"""The order state machine: every named set of statuses, the one table of allowed
transitions, the one function that applies a transition, and the hooks through
which the rest of the service reacts to one. Nothing else assigns ``Order.status``.

What happens after a transition (the audit entry, notifications, alerts resolved,
open offers withdrawn) is registered at start-up in ``homecare.order_hooks``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import Session

from homecare.auth import Actor
from homecare.db import transaction_set
from homecare.errors import Conflict, Forbidden
from homecare.orders.models import Order, OrderEvent

STATUSES = ("submitted", "approved", "offered", "assigned", "en_route", "in_service",
            "completed", "rejected", "cancelled", "expired", "no_show")
FINAL = frozenset({"completed", "rejected", "cancelled", "expired", "no_show"})
# "system" is the service itself (auto-approval, dispatch rounds, sweeps).
SYSTEM = "system"
# A nurse is committed to these orders: they hold her time slot. An order that
# leaves them (cancelled, no_show, completed) keeps ``nurse_id`` as history but
# no longer blocks her day: slot and load queries filter on these statuses.
HOLDS_NURSE = frozenset({"assigned", "en_route", "in_service"})
# A nurse's day: the visits she holds or has done count towards her daily cap.
DAY_LOAD = HOLDS_NURSE | {"completed"}
# Under way: she has set off for the visit or is in the home.
UNDER_WAY = frozenset({"en_route", "in_service"})
# Orders the day plan places: approved and offered ones get a nurse; assigned
# ones keep theirs (pinned) unless the supervisor asks for a full re-plan.
PLANNED = ("approved", "offered", "assigned")
# Done or under way, in the order she does them: the plan keeps them fixed.
FIXED = ("completed", "in_service", "en_route")
# Waiting for a nurse: in the supervisor's queue (to vet or to assign) or out on
# offer. A tuple, in lifecycle order, for lists shown to people and the spec.
AWAITING_NURSE = ("submitted", "approved", "offered")
# Vetted and looking for a nurse: dispatch offers these, and expires them when
# their window passes with nobody.
SEEKING_NURSE = ("approved", "offered")
# Orders dispatch ranks candidates for: waiting for a nurse, or held (reassignable).
DISPATCHABLE = frozenset(AWAITING_NURSE) | HOLDS_NURSE
# Not started: cancelled when a family bed closes.
NOT_STARTED = (*AWAITING_NURSE, "assigned")
# A nurse is expected at the door: the ``late`` and ``no_show`` alerts watch these.
AWAITED = ("assigned", "en_route")
# The orders a nurse sees: those she holds, and those she finished or missed.
NURSE_SEES = HOLDS_NURSE | {"completed", "no_show"}
# The status every order starts in, and who may create one (family beds and
# supervisors book on a recipient's behalf).
INITIAL = "submitted"
CREATION_ROLES = frozenset({"patient", "supervisor", SYSTEM})

# (from, to) -> roles that may cause it. Ownership (the patient who booked, the
# nurse assigned) is checked by the service before it asks for the transition.
TRANSITIONS: dict[tuple[str, str], frozenset[str]] = {
    ("submitted", "approved"): frozenset({"supervisor", SYSTEM}),
    ("submitted", "rejected"): frozenset({"supervisor"}),
    ("submitted", "cancelled"): frozenset({"patient", "supervisor"}),
    ("approved", "offered"): frozenset({SYSTEM}),
    ("approved", "assigned"): frozenset({"supervisor", SYSTEM}),
    ("approved", "cancelled"): frozenset({"patient", "supervisor"}),
    ("approved", "expired"): frozenset({SYSTEM}),
    # Offers ran out with no taker: back to the supervisor's queue.
    ("offered", "approved"): frozenset({SYSTEM, "supervisor"}),
    ("offered", "assigned"): frozenset({"nurse", "supervisor", SYSTEM}),
    ("offered", "cancelled"): frozenset({"patient", "supervisor"}),
    ("offered", "expired"): frozenset({SYSTEM}),
    # Reassignment to another nurse keeps the status but is still an event.
    ("assigned", "assigned"): frozenset({"supervisor", SYSTEM}),
    # The nurse falls ill / is taken off / hands it back before she sets off (within
    # the lead time, dispatch.handback): the order goes back to dispatch.
    ("assigned", "approved"): frozenset({"nurse", "supervisor", SYSTEM}),
    ("assigned", "en_route"): frozenset({"nurse"}),
    ("assigned", "cancelled"): frozenset({"patient", "supervisor"}),
    ("assigned", "no_show"): frozenset({"supervisor"}),
    ("en_route", "in_service"): frozenset({"nurse"}),
    # After departure only a supervisor cancels, and must say why.
    ("en_route", "cancelled"): frozenset({"supervisor"}),
    ("en_route", "no_show"): frozenset({"nurse", "supervisor"}),
    ("in_service", "completed"): frozenset({"nurse"}),
    ("in_service", "cancelled"): frozenset({"supervisor"}),
}
# Actions that are not a transition of their own, or that ask more of the order than
# the table does: the statuses each needs. A service asks ``may(action, status)``
# and raises its own Problem (naming the current status) when not.
PRECONDITIONS: dict[str, frozenset[str]] = {
    # The table also lets a supervisor move offered/assigned orders back to
    # approved (dispatch); vetting is only for orders still waiting for it.
    "vet": frozenset({"submitted"}),
    # A first round of offers goes out right after approval.
    "start_dispatch": frozenset({"approved"}),
    # Un-assign and hand-back take an order from its nurse; an offered one has none
    # (the table's offered -> approved is dispatch's own move, not theirs).
    "return_to_dispatch": frozenset({"assigned"}),
    "list_candidates": DISPATCHABLE,
    "accept_offer": frozenset({"offered"}),
    "review": frozenset({"completed"}),
}


def may(action: str, status: str) -> bool:
    """Whether an order in ``status`` meets ``action``'s precondition (``PRECONDITIONS``)."""
    return status in PRECONDITIONS[action]


REASON_REQUIRED = frozenset({("submitted", "rejected"), ("en_route", "cancelled"),
                             ("in_service", "cancelled"), ("assigned", "no_show"),
                             ("en_route", "no_show")})


class Moved(NamedTuple):
    """An order that has just moved (or been created: ``event.from_status`` None), as an
    after-transition hook sees it."""

    session: Session
    order: Order
    event: OrderEvent
    previous_nurse_id: int | None
    actor: Actor | None
    now: datetime


Hook = Callable[[Moved], None]
# Run in registration order, in the transition's transaction (see homecare.order_hooks).
_HOOKS: list[Hook] = []


def after_transition(hook: Hook) -> Hook:
    """Run ``hook`` after every transition and creation from now on (once, however often
    it is registered). Hooks must not commit."""
    if hook not in _HOOKS:
        _HOOKS.append(hook)
    return hook


def _react(moved: Moved) -> None:
    for hook in _HOOKS:
        hook(moved)


class InvalidTransition(Conflict):
    code, title = "invalid_transition", "The order is not in a state that allows this"


class TransitionForbidden(Forbidden):
    code, title = "transition_forbidden", "This role may not make this change"


class ReasonRequired(Conflict):
    status, code, title = 422, "reason_required", "A reason is required for this change"


# session.info key of the orders created in the session's transaction that nothing has
# offered, given a nurse or raised an alert on since (``untouched``).
_UNTOUCHED = "homecare.untouched_orders"


def untouched(session: Session, order_id: int) -> bool:
    """Whether the order was created in this transaction (``open_order``) and has had no
    offer, no nurse and no alert since (``touch``): its offers, past nurses and alerts
    are then known to be none, and no other transaction can see it to add any. A booking
    skips those four reads (dispatch's, and the alerts hook's after each of its two
    transitions)."""
    return order_id in transaction_set(session, _UNTOUCHED)


def touch(session: Session, order_id: int) -> None:
    """The order got an offer, a nurse or an alert in this transaction: it is not
    ``untouched`` any more. Dispatch's offers, ``transition`` and ``raise_alert`` call it."""
    transaction_set(session, _UNTOUCHED).discard(order_id)


def allowed(from_status: str, to_status: str, role: str) -> bool:
    return role in TRANSITIONS.get((from_status, to_status), frozenset())


def transition(session: Session, order: Order, to_status: str, *, actor: Actor | None,
               now: datetime, reason: str | None = None, **changes: Any) -> OrderEvent:
    """Move ``order`` to ``to_status`` and record the event, or refuse.

    ``actor`` None means the system. ``changes`` are other columns set in the
    same UPDATE (e.g. ``nurse_id``). The UPDATE is a compare-and-set on the
    version read, so of two concurrent transitions of one order only one
    succeeds; the loser gets InvalidTransition naming the current status.
    Writes the event and runs the after-transition hooks (``homecare.order_hooks``:
    its audit entry, the notifications it calls for, the alerts whose cause it took
    away, the open offers of an order that left dispatch), all in the caller's
    transaction. Does not commit: the calling service commits once.

    :raises InvalidTransition: (409) the pair is not in the table, or the order changed.
    :raises TransitionForbidden: (403) the pair exists but not for this role.
    :raises ReasonRequired: (422) the transition needs a reason.
    """
    role = actor.role if actor else SYSTEM
    from_status = order.status
    previous_nurse_id = order.nurse_id
    roles = TRANSITIONS.get((from_status, to_status))
    if roles is None:
        raise InvalidTransition(
            f"an order that is {from_status} cannot become {to_status}",
            order_id=order.id, current_status=from_status)
    if role not in roles:
        raise TransitionForbidden(
            f"a {role} may not move an order from {from_status} to {to_status}",
            order_id=order.id, current_status=from_status)
    if (from_status, to_status) in REASON_REQUIRED and not (reason and reason.strip()):
        raise ReasonRequired(f"moving an order from {from_status} to {to_status} needs a reason",
                             order_id=order.id)

    values = {"status": to_status, "version": order.version + 1, "updated_at": now, **changes}
    if reason is not None:
        values["status_reason"] = reason
    if session.autoflush:
        session.flush()
    result = session.connection().execute(
        _compare_and_set(tuple(values)),
        {"_id": order.id, "_version": order.version, "_from": from_status,
         **{f"v_{key}": value for key, value in values.items()}})
    if result.rowcount != 1:
        current = session.scalar(sa.select(Order.status).where(Order.id == order.id))
        raise InvalidTransition("the order was changed by someone else; reload it",
                                order_id=order.id, current_status=current)
    if to_status in HOLDS_NURSE or "nurse_id" in changes:
        touch(session, order.id)
    for key, value in values.items():
        set_committed = getattr(type(order), key, None)
        if set_committed is not None:
            sa.orm.attributes.set_committed_value(order, key, value)

    event = _record_event(session, order, actor=actor, from_status=from_status,
                          to_status=to_status, reason=reason, now=now)
    _react(Moved(session, order, event, previous_nurse_id, actor, now))
    return event


@functools.lru_cache(maxsize=64)
def _compare_and_set(columns: tuple[str, ...]) -> sa.Update:
    """The transition's UPDATE setting ``columns``, as a Core statement built once per set
    of columns: every order moves through here, and the ORM's UPDATE (a statement built
    and its ORM context set up on every call) was a tenth of a booking's CPU."""
    table = Order.__table__
    return (sa.update(table)
            .where(table.c.id == sa.bindparam("_id"), table.c.version == sa.bindparam("_version"),
                   table.c.status == sa.bindparam("_from"))
            .values({table.c[key]: sa.bindparam(f"v_{key}", type_=table.c[key].type)
                     for key in columns}))


def open_order(session: Session, order: Order, *, actor: Actor | None,
               now: datetime) -> OrderEvent:
    """Add a new ``order`` in the initial status and record its creation event.

    The event has no from-status: every order's history starts with (None,
    submitted), and each later event's from-status is the previous one's to-status.
    Does not commit.

    :raises TransitionForbidden: (403) this role may not create orders.
    """
    role = actor.role if actor else SYSTEM
    if role not in CREATION_ROLES:
        raise TransitionForbidden(f"a {role} may not create an order")
    order.status = INITIAL
    order.version = 1
    order.created_at = order.updated_at = now
    session.add(order)
    session.flush()
    transaction_set(session, _UNTOUCHED).add(order.id)
    event = _record_event(session, order, actor=actor, from_status=None, to_status=INITIAL,
                          reason=None, now=now)
    _react(Moved(session, order, event, None, actor, now))
    return event


def _record_event(session: Session, order: Order, *, actor: Actor | None,
                  from_status: str | None, to_status: str, reason: str | None,
                  now: datetime) -> OrderEvent:
    event = OrderEvent(order_id=order.id, actor_id=actor.user_id if actor else None,
                       actor_role=actor.role if actor else SYSTEM, from_status=from_status,
                       to_status=to_status, reason=reason, nurse_id=order.nurse_id, at=now)
    session.add(event)
    return event

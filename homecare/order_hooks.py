"""What happens when an order moves: the after-transition hooks, registered at start-up.

``orders.states.transition`` (and ``open_order``) run these, in this order, in the
transition's transaction:

1. ``audit``     the event goes on the audit trail (``order.<status>``)
2. ``notify``    the people it concerns are told (``notifications.service.ORDER_EVENT_RULES``)
3. ``alerts``    the order's alerts whose cause went away resolve (``alerts.service.resolve_gone``)
4. ``family_beds`` a family bed's visit that did not happen (expired, cancelled by the
                 hospital, no-show) raises the episode's risk alert
                 (``family_beds.risk.after_visit_transition``)
5. ``offers``    an order that left dispatch (assigned, cancelled, expired, ...) has its open
                 offers withdrawn, and their nurses told (``dispatch.service.withdraw_open_offers``)
6. ``repairs``   a move that changes a planned day's routes (approved, taken back from its
                 nurse, cancelled, expired, no-show) queues a repair of that day for the jobs
                 process (``scheduling.repair_queue.request_for_transition``), written as
                 the transaction commits

The state machine imports none of these domains: they sit above the orders core.
Likewise the family's view of an order shows whom to expect at the door and the visit
code (``visits.door.family_sees``), added to ``orders.views`` here.
"""

from __future__ import annotations

import flask

from homecare.alerts.service import resolve_gone
from homecare.api import current_config
from homecare.audit.service import record
from homecare.dispatch.service import withdraw_open_offers
from homecare.family_beds.risk import after_visit_transition
from homecare.notifications.service import notify_order_event
from homecare.orders.states import AWAITING_NURSE, Moved, after_transition, untouched
from homecare.orders.views import FamilyExtra, add_family_extra
from homecare.scheduling.repair_queue import install as install_repair_requests
from homecare.scheduling.repair_queue import request_for_transition
from homecare.visits.door import family_sees


def audit(moved: Moved) -> None:
    event, order = moved.event, moved.order
    record(moved.session, actor=moved.actor, action=f"order.{event.to_status}",
           object_type="order", object_id=order.id, organization_id=order.organization_id,
           now=moved.now,
           detail={"from": event.from_status, "to": event.to_status, "reason": event.reason})


def notify(moved: Moved) -> None:
    if moved.event.from_status is not None:
        notify_order_event(moved.session, order=moved.order, event=moved.event,
                           previous_nurse_id=moved.previous_nurse_id, actor=moved.actor,
                           now=moved.now)


def alerts(moved: Moved) -> None:
    # An order created in this transaction and never alerted on has no alert to resolve.
    if moved.event.from_status is not None and not untouched(moved.session, moved.order.id):
        resolve_gone(moved.session, now=moved.now, order_id=moved.order.id, actor=moved.actor)


def family_beds(moved: Moved) -> None:
    if moved.event.from_status is not None:
        after_visit_transition(moved.session, moved.order, moved.event, moved.now)


def offers(moved: Moved) -> None:
    if moved.event.from_status is not None and moved.event.to_status not in AWAITING_NURSE:
        withdraw_open_offers(session=moved.session, order_id=moved.order.id, now=moved.now,
                             actor=moved.actor)


def repairs(moved: Moved) -> None:
    # The debounce and the service area's day are the running app's settings. A script
    # driving the services without an app has no jobs process to repair anything.
    if flask.has_app_context():
        request_for_transition(moved.session, order=moved.order,
                               from_status=moved.event.from_status,
                               to_status=moved.event.to_status,
                               previous_nurse_id=moved.previous_nurse_id, now=moved.now,
                               config=current_config())


def register() -> None:
    """Register the hooks (idempotent); ``create_app`` calls this."""
    for hook in (audit, notify, alerts, family_beds, offers, repairs):
        after_transition(hook)
    install_repair_requests()
    add_family_extra(_DOOR)


_DOOR = FamilyExtra(family_sees, {"nurse": None, "visit_code": None})

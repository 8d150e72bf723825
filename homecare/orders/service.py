"""Booking and the order lifecycle: book, vet, cancel, read, review."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from homecare.accounts.models import Organization
from homecare.audit.service import record
from homecare.auth import Actor
from homecare.catalogue.models import ServiceItem
from homecare.config import Config
from homecare.db import atomic
from homecare.dispatch.service import start_dispatch
from homecare.errors import Conflict, ValidationProblem
from homecare.geo import Point
from homecare.nurses.models import Nurse
from homecare.orders import idempotency
from homecare.orders.access import access_order
from homecare.orders.errors import OutsideServiceArea, UnknownAddress
from homecare.orders.models import Order, OrderEvent, Review
from homecare.orders.states import NURSE_SEES, InvalidTransition, may, open_order, transition
from homecare.orders.views import nurse_id_of, order_view, order_views
from homecare.pagination import Listing
from homecare.patients.models import Address, CareRecipient
from homecare.patients.service import is_assessed, mark_assessed, record_recipient_reads
from homecare.pricing.models import FeeTable
from homecare.pricing.service import cancellation_charge, price_breakdown, record_charge

log = logging.getLogger(__name__)


class UnknownPatient(ValidationProblem):
    code, title = "unknown_patient", "No such care recipient among yours"


class UnknownService(ValidationProblem):
    code, title = "unknown_service", "No active service item with this code"


class WindowInPast(ValidationProblem):
    code, title = "window_in_past", "The visit window must start in the future"


class WindowTooShort(ValidationProblem):
    code, title = "window_too_short", "The visit window is shorter than the service"


class BeyondBookingHorizon(ValidationProblem):
    code, title = "beyond_booking_horizon", "The visit is too far ahead to book"


class OutsideServiceHours(ValidationProblem):
    code, title = "outside_service_hours", "The visit window is outside the service hours"


class OrderNotCompleted(Conflict):
    code, title = "order_not_completed", "Only a completed visit can be reviewed"


class AlreadyReviewed(Conflict):
    code, title = "already_reviewed", "This visit has been reviewed already"



# ---------------------------------------------------------------- booking


@atomic
def place_order(*, session: Session, actor: Actor, body: dict[str, Any],
                idempotency_key: str | None, now: datetime, config: Config,
                render: Callable[[dict[str, Any]], dict[str, Any]]
                ) -> dict[str, Any] | idempotency.Replay:
    """Book a visit (``POST /orders``), honouring an Idempotency-Key.

    Returns the new order's response body (its view through ``render``, the
    route's schema: HTTP stays in the route), or the stored first response when the
    key was used with this body before; the key keeps the body it returns. A failed booking
    releases the key, so a corrected retry with the same key can succeed; failures
    are never replayed.

    :raises IdempotencyKeyReused: (422) the key was used with another body.
    :raises IdempotencyConflict: (409) the first request with the key is still running.
    :raises: every Problem of ``create_order``.
    """
    if idempotency_key is None:
        order = create_order(session=session, actor=actor, now=now, config=config, **body)
        return render(order_view(order, actor, session=session))
    # Unwrapped: this call's own unit of work (``atomic``) guards it, and a savepoint of
    # its own would guard nothing more (place_order has done nothing before it).
    claim = idempotency.claim_key.__wrapped__(
        session=session, user_id=actor.user_id, key=idempotency_key,
        request_hash=idempotency.request_hash(body), now=now)
    if isinstance(claim, idempotency.Replay):
        return claim
    try:
        # _read: held until the view is rendered, which finds those rows in the session.
        order, _read = _book(session, actor=actor, now=now, config=config, **body)
        answer = render(order_view(order, actor, session=session))
        idempotency.store_response(session, claim, status_code=201, body=answer)
        session.commit()
    except Exception:
        # The claim's commit left nothing of the caller's uncommitted: the transaction
        # holds the refused booking only, and rolling it back undoes it before the key
        # is released (and that committed), with no savepoint of its own (SAVEPOINT and
        # RELEASE on every booking, and their flushes).
        session.rollback()
        try:
            idempotency.release_key(session=session, claim=claim)
        except Exception:  # the lease frees the key later; report the booking's own error
            log.exception("could not release idempotency key %s", claim.id)
        raise
    return answer


@atomic
def create_order(*, session: Session, actor: Actor, patient_id: int, address_id: int,
                 service_code: str, window_start: datetime, window_end: datetime,
                 now: datetime, config: Config, notes: str | None = None) -> Order:
    """Book a visit for one of the caller's care recipients.

    Price and duration are copied from the catalogue. A recipient not yet assessed
    by the organization (首诊评估), or an item that requires assessment, leaves the
    order ``submitted`` for a supervisor; otherwise it is approved by the system
    and handed to dispatch in the same transaction.

    :raises UnknownPatient: (422) not a care recipient of the caller.
    :raises UnknownAddress: (422) not an address of that recipient.
    :raises UnknownService: (422) no such item, or it is not offered any more.
    :raises OutsideServiceArea: (422) no organization serves the address.
    :raises WindowTooShort: (422) the window is shorter than the item's duration.
    :raises WindowInPast: (422) the window does not start in the future.
    :raises BeyondBookingHorizon: (422) the window starts after the booking horizon.
    :raises OutsideServiceHours: (422) the window leaves the local service hours.
    """
    order, _ = _book(session, actor=actor, patient_id=patient_id, address_id=address_id,
                     service_code=service_code, window_start=window_start,
                     window_end=window_end, notes=notes, now=now, config=config)
    session.commit()
    return order


# The recipient and, if it is hers, the address, in one round trip (two session.get).
_RECIPIENT_AND_ADDRESS = (
    sa.select(CareRecipient, Address)
    .outerjoin(Address, sa.and_(Address.id == sa.bindparam("address_id"),
                                Address.patient_id == CareRecipient.id))
    .where(CareRecipient.id == sa.bindparam("patient_id")))


_ITEM_AND_FEES = (
    sa.select(Organization, FeeTable, ServiceItem)
    .outerjoin(FeeTable, FeeTable.organization_id == Organization.id)
    .outerjoin(ServiceItem, ServiceItem.code == sa.bindparam("code"))
    .where(Organization.id == sa.bindparam("organization_id")))


def _book(session: Session, *, actor: Actor, patient_id: int, address_id: int,
          service_code: str, window_start: datetime, window_end: datetime,
          notes: str | None, now: datetime, config: Config) -> tuple[Order, tuple]:
    """The booking, and the rows it read (recipient, address, item): the session holds
    rows weakly, so a caller that renders the order keeps them to find them there."""
    recipient, address = session.execute(_RECIPIENT_AND_ADDRESS, {
        "patient_id": patient_id, "address_id": address_id}).first() or (None, None)
    if recipient is None or (actor.role == "patient" and recipient.owner_id != actor.user_id):
        raise UnknownPatient(patient_id=patient_id, errors={"patient_id": ["not found"]})
    if address is None or address.patient_id != recipient.id:
        raise UnknownAddress(address_id=address_id, errors={"address_id": ["not found"]})
    if address.outside_service_area or address.organization_id is None:
        raise OutsideServiceArea("no organization's service area covers this address",
                                 address_id=address_id)
    if actor.role != "patient" and actor.organization_id != address.organization_id:
        # Staff book only for addresses their own organization serves.
        raise UnknownAddress(address_id=address_id, errors={"address_id": ["not found"]})
    # The item, and the serving organization with its fee table (price_breakdown's), in
    # one round trip instead of three: session.get then finds them in the session.
    _prices = session.execute(_ITEM_AND_FEES, {"code": service_code,
                                               "organization_id": address.organization_id}).first()
    item = session.get(ServiceItem, service_code)
    if item is None or not item.active:
        raise UnknownService(service_code=service_code,
                             errors={"service_code": ["no active item with this code"]})
    window_start, window_end = window_start.astimezone(now.tzinfo), window_end.astimezone(
        now.tzinfo)
    service_date = check_window(window_start, window_end, duration_min=item.duration_min,
                                now=now, config=config)

    price = price_breakdown(session=session, item_price_fen=item.price_fen,
                            service_code=item.code, organization_id=address.organization_id,
                            place=Point(address.lat, address.lng), window_start=window_start,
                            config=config)
    order = Order(organization_id=address.organization_id, patient_id=recipient.id,
                  address_id=address.id, booked_by=actor.user_id, service_code=item.code,
                  duration_min=item.duration_min, price_fen=price["total_fen"],
                  price_breakdown=price, window_start=window_start, window_end=window_end,
                  service_date=service_date, notes=notes)
    # The rows a booking appends (its events, their audit entries and notifications) wait
    # for one flush, one INSERT per table, instead of going out before each read: none
    # of its reads looks for them (the order's alerts, offers and past nurses, none yet,
    # are not even read: ``states.untouched``). Its offers are flushed by dispatch.
    with session.no_autoflush:
        open_order(session, order, actor=actor, now=now)
        # The assessment of the organization that would send the nurse: another
        # hospital's does not vouch for this one's visit.
        if not item.requires_assessment and is_assessed(
                session=session, patient_id=recipient.id,
                organization_id=order.organization_id):
            transition(session, order, "approved", actor=None, now=now)
            start_dispatch(session=session, order=order, now=now, config=config)
    return order, (recipient, address, item)


def check_window(start: datetime, end: datetime, *, duration_min: int, now: datetime,
                 config: Config):
    """The local service date of a valid visit window; raises the first rule it breaks.

    The booking rules every visit keeps, booked or generated from a family bed's plan.

    :raises WindowTooShort: (422) shorter than ``duration_min``.
    :raises WindowInPast: (422) does not start after ``now``.
    :raises BeyondBookingHorizon: (422) starts after the booking horizon.
    :raises OutsideServiceHours: (422) leaves the local service hours.
    """
    if end - start < timedelta(minutes=duration_min):
        raise WindowTooShort(f"the window must be at least {duration_min} minutes long",
                             duration_min=duration_min,
                             errors={"window_end": [f"at least {duration_min} min after start"]})
    if start <= now:
        raise WindowInPast(errors={"window_start": ["must be in the future"]})
    if start > now + timedelta(days=config.booking_horizon_days):
        raise BeyondBookingHorizon(
            f"visits can be booked at most {config.booking_horizon_days} days ahead",
            horizon_days=config.booking_horizon_days,
            errors={"window_start": ["beyond the booking horizon"]})
    zone = ZoneInfo(config.timezone)
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    opens = time.fromisoformat(config.service_hours_start)
    closes = time.fromisoformat(config.service_hours_end)
    if (local_start.time() < opens or local_end.date() != local_start.date()
            or local_end.time() > closes):
        hours = f"{config.service_hours_start}-{config.service_hours_end}"
        raise OutsideServiceHours(f"visits are made between {hours} ({config.timezone})",
                                  service_hours=hours, timezone=config.timezone,
                                  errors={"window_start": [f"within {hours}"]})
    return local_start.date()


# ---------------------------------------------------------------- reads


@atomic
def get_order_view(*, session: Session, actor: Actor, order_id: int,
                   now: datetime) -> dict[str, Any]:
    """The order as the caller may see it (masked per ``views.sight``).

    A read that shows the recipient's name and exact address to anyone but the
    family goes on the audit trail, as reads of the recipient's record do, so
    this commits.

    :raises OrderNotFound: (404) see ``access_order``.
    """
    order = access_order(session, actor, order_id)
    view = order_view(order, actor, session=session)
    if view["recipient"] is not None:
        record_recipient_reads(session, actor=actor, patient_ids=[order.patient_id], now=now,
                               part="order", detail={"order_id": order.id})
    session.commit()
    return view


def list_orders(*, session: Session, actor: Actor, status: str | None = None,
                date: Any = None, date_from: Any = None, date_to: Any = None,
                patient_id: int | None = None) -> Listing:
    """The orders the caller may see, by window start, filtered as asked; each page's
    views are masked for the caller."""
    stmt = sa.select(Order)
    if actor.role == "patient":
        stmt = stmt.where(Order.patient_id.in_(sa.select(CareRecipient.id).where(
            CareRecipient.owner_id == actor.user_id)))
    elif actor.role == "nurse":
        nurse_id = nurse_id_of(session, actor)
        # No profile yet: nothing is hers (and "nurse_id IS NULL" must not match).
        stmt = stmt.where(Order.nurse_id == nurse_id, Order.status.in_(NURSE_SEES)) \
            if nurse_id is not None else stmt.where(sa.false())
    elif actor.role != "admin":
        stmt = stmt.where(Order.organization_id == actor.organization_id)
    if status is not None:
        stmt = stmt.where(Order.status == status)
    if date is not None:
        stmt = stmt.where(Order.service_date == date)
    if date_from is not None:
        stmt = stmt.where(Order.service_date >= date_from)
    if date_to is not None:
        stmt = stmt.where(Order.service_date <= date_to)
    if patient_id is not None:
        stmt = stmt.where(Order.patient_id == patient_id)
    return Listing(stmt.order_by(Order.window_start, Order.id), session,
                   lambda orders: order_views(orders, actor, session=session))


def list_events(*, session: Session, actor: Actor, order_id: int) -> sa.Select:
    """The order's transitions, oldest first.

    :raises OrderNotFound: (404) see ``access_order``.
    """
    order = access_order(session, actor, order_id)
    return (sa.select(OrderEvent).where(OrderEvent.order_id == order.id)
            .order_by(OrderEvent.at, OrderEvent.id))


# ---------------------------------------------------------------- vetting and cancel


def _require_submitted(order: Order) -> None:
    if not may("vet", order.status):
        raise InvalidTransition(f"only a submitted order is vetted; this one is {order.status}",
                                order_id=order.id, current_status=order.status)


@atomic
def approve_order(*, session: Session, actor: Actor, order_id: int, now: datetime,
                  config: Config, reason: str | None = None) -> dict[str, Any]:
    """A supervisor approves a submitted order; it goes to dispatch at once.

    Approving a recipient's first order completes the organization's first-visit
    assessment: her later orders with this organization are approved automatically
    (not those with another, which assesses her itself).

    :raises OrderNotFound: (404) no such order in the supervisor's organization.
    :raises InvalidTransition: (409) the order is not submitted (names the status).
    """
    order = access_order(session, actor, order_id)
    _require_submitted(order)
    transition(session, order, "approved", actor=actor, now=now, reason=reason)
    mark_assessed(session, patient_id=order.patient_id, organization_id=order.organization_id,
                  now=now)
    start_dispatch(session=session, order=order, now=now, config=config)
    session.commit()
    return order_view(order, actor, session=session)


@atomic
def reject_order(*, session: Session, actor: Actor, order_id: int, reason: str,
                 now: datetime) -> dict[str, Any]:
    """A supervisor rejects a submitted order, saying why (the family is told).

    :raises OrderNotFound: (404) no such order in the supervisor's organization.
    :raises InvalidTransition: (409) the order is not submitted.
    :raises ReasonRequired: (422) an empty reason.
    """
    order = access_order(session, actor, order_id)
    _require_submitted(order)
    transition(session, order, "rejected", actor=actor, now=now, reason=reason)
    session.commit()
    return order_view(order, actor, session=session)


@atomic
def cancel_order(*, session: Session, actor: Actor, order_id: int, now: datetime,
                 reason: str | None = None, requested_by_family: bool = False
                 ) -> dict[str, Any]:
    """Cancel an order: the owner until the nurse departs, a supervisor at any stage.

    Open offers are withdrawn. A nurse who held the order keeps it in ``nurse_id``
    for the record, but her slot is free: only ``HOLDS_NURSE`` statuses occupy one.
    The cancellation policy (``pricing.service``) decides the family's fee, recorded
    on the order with its rule; ``requested_by_family`` is a supervisor cancelling
    on the family's behalf (the policy then applies as to the family).

    :raises OrderNotFound: (404) the caller may not see the order.
    :raises InvalidTransition: (409) already finished (completed, cancelled, ...).
    :raises TransitionForbidden: (403) the owner after the nurse departed.
    :raises ReasonRequired: (422) a supervisor cancelling after departure without a reason.
    """
    order = access_order(session, actor, order_id)
    apply_cancellation(session=session, order=order, actor=actor, now=now, reason=reason,
                       requested_by_family=requested_by_family)
    session.commit()
    return order_view(order, actor, session=session)


def apply_cancellation(*, session: Session, order: Order, actor: Actor | None, now: datetime,
                       reason: str | None = None,
                       requested_by_family: bool = False) -> OrderEvent:
    """Cancel a loaded order in the caller's transaction (no commit): the family's fee
    under the cancellation policy (``pricing.service``), recorded on the order, then
    the transition, whose hooks notify and withdraw its open offers
    (``homecare.order_hooks``).

    ``cancel_order`` and closing a family bed both cancel through here, so the two
    cannot drift apart.

    :raises: the Problems of ``cancel_order`` except OrderNotFound.
    """
    charge = cancellation_charge(session, order=order, actor=actor, now=now,
                                 requested_by_family=requested_by_family)
    event = transition(session, order, "cancelled", actor=actor, now=now, reason=reason,
                       cancellation_fee_fen=charge.fee_fen, cancellation_rule=charge.rule)
    record_charge(session, order=order, charge=charge, actor=actor, now=now)
    return event


# ---------------------------------------------------------------- review


@atomic
def review_order(*, session: Session, actor: Actor, order_id: int, rating: int,
                 now: datetime, comment: str | None = None) -> Review:
    """The owner rates a completed visit, once; the nurse's rating moves with it.

    :raises OrderNotFound: (404) not an order of the caller's recipients.
    :raises OrderNotCompleted: (409) the visit has not been completed.
    :raises AlreadyReviewed: (409) the visit has a review already.
    """
    order = access_order(session, actor, order_id)
    if not may("review", order.status):
        raise OrderNotCompleted(f"this visit is {order.status}", order_id=order.id,
                                current_status=order.status)
    if session.scalar(sa.select(Review.id).where(Review.order_id == order.id)) is not None:
        raise AlreadyReviewed(order_id=order.id)
    review = Review(order_id=order.id, nurse_id=order.nurse_id, rating=rating,
                    comment=comment, created_at=now)
    try:
        with session.begin_nested():
            session.add(review)
    except sa.exc.IntegrityError:  # a concurrent review of the same visit won
        raise AlreadyReviewed(order_id=order.id) from None
    if order.nurse_id is not None:
        # In SQL, not in Python: two reviews of one nurse at once must both count.
        session.execute(sa.update(Nurse).where(Nurse.id == order.nurse_id).values(
            rating_sum=Nurse.rating_sum + rating, rating_count=Nurse.rating_count + 1))
    record(session, actor=actor, action="order.reviewed", object_type="order",
           object_id=order.id, organization_id=order.organization_id, now=now,
           detail={"rating": rating})
    session.commit()
    return review

"""Orders (visit requests), their event history, reviews and idempotency keys."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from homecare.clock import utcnow
from homecare.db import Base


class Order(Base):
    """A visit request. ``status`` changes only through ``orders.states.transition``.

    Service name, duration and price are copied from the catalogue when booked:
    a later catalogue change never alters an order already placed.
    """

    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"))
    patient_id: Mapped[int] = mapped_column(sa.ForeignKey("patients.id"), index=True)
    address_id: Mapped[int] = mapped_column(sa.ForeignKey("addresses.id"))
    booked_by: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    service_code: Mapped[str] = mapped_column(sa.ForeignKey("service_items.code"))
    duration_min: Mapped[int]
    price_fen: Mapped[int]
    # How price_fen adds up, as quoted when booked (pricing.service.price_breakdown).
    price_breakdown: Mapped[dict | None] = mapped_column(sa.JSON)
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    # The local (service-area time zone) date of window_start: the "day" of
    # planning, the board and date filters.
    service_date: Mapped[date]
    notes: Mapped[str | None] = mapped_column(sa.String(1000))
    status: Mapped[str] = mapped_column(sa.String(20), default="submitted")
    nurse_id: Mapped[int | None] = mapped_column(sa.ForeignKey("nurses.id"), index=True)
    planned_arrival: Mapped[datetime | None]
    route_position: Mapped[int | None]
    dispatch_round: Mapped[int] = mapped_column(default=0)
    departed_at: Mapped[datetime | None]
    checked_in_at: Mapped[datetime | None]
    checked_out_at: Mapped[datetime | None]
    check_in_lat: Mapped[float | None]
    check_in_lng: Mapped[float | None]
    check_in_distance_m: Mapped[float | None]
    check_out_lat: Mapped[float | None]
    check_out_lng: Mapped[float | None]
    status_reason: Mapped[str | None] = mapped_column(sa.String(500))
    # What cancelling cost the family and the policy rule that decided it
    # (pricing.service.cancellation_charge); None while not cancelled.
    cancellation_fee_fen: Mapped[int | None]
    cancellation_rule: Mapped[str | None] = mapped_column(sa.String(20))
    # The family-bed episode whose plan generated this visit; None for a booking.
    family_bed_id: Mapped[int | None] = mapped_column(sa.ForeignKey("family_beds.id"),
                                                      index=True)
    # Bumped by every transition: a compare-and-set on it makes concurrent
    # transitions of one order fail instead of both succeeding.
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        sa.Index("ix_orders_org_date_status", "organization_id", "service_date", "status"),
        sa.Index("ix_orders_nurse_date", "nurse_id", "service_date"),
    )


class OrderEvent(Base):
    """One transition of an order: who moved it from what to what, when and why."""

    __tablename__ = "order_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("orders.id"), index=True)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    actor_role: Mapped[str] = mapped_column(sa.String(20))
    from_status: Mapped[str | None] = mapped_column(sa.String(20))
    to_status: Mapped[str] = mapped_column(sa.String(20))
    reason: Mapped[str | None] = mapped_column(sa.String(500))
    # The nurse holding the order after the event: who held it, and when, stays on
    # record after a reassignment or cancellation (her alarm on it must still work).
    nurse_id: Mapped[int | None] = mapped_column(sa.ForeignKey("nurses.id"))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Review(Base):
    """The patient's rating of a completed visit; one per order."""

    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("orders.id"), unique=True)
    nurse_id: Mapped[int | None] = mapped_column(sa.ForeignKey("nurses.id"), index=True)
    rating: Mapped[int]
    comment: Mapped[str | None] = mapped_column(sa.String(1000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class IdempotencyKey(Base):
    """A client's Idempotency-Key: the first response is kept and replayed.

    Keys are scoped to the caller; on the unique constraint a concurrent duplicate's
    claim inserts nothing (``ON CONFLICT DO NOTHING``) and finds the first one's row,
    instead of creating a second order.
    """

    __tablename__ = "idempotency_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    key: Mapped[str] = mapped_column(sa.String(200))
    request_hash: Mapped[str] = mapped_column(sa.String(64))
    status_code: Mapped[int | None]
    response_body: Mapped[dict | None] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    __table_args__ = (sa.UniqueConstraint("user_id", "key", name="uq_idempotency_user_key"),)

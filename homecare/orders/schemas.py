"""Request and response shapes for orders, their events and reviews."""

from __future__ import annotations

from datetime import UTC, datetime

import marshmallow as ma
from marshmallow import validate

from homecare.orders.states import STATUSES
from homecare.pricing.schemas import PriceBreakdownSchema
from homecare.pricing.service import CANCELLATION_RULES
from homecare.schemas import Gcj02Schema, RowId, Text


def _utc_representable(value: datetime) -> None:
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ma.ValidationError("is out of range") from None


def _row_id(*, strict: bool = True, **kwargs) -> ma.fields.Integer:
    return RowId(strict=strict, **kwargs)


def _text(max_length: int, min_length: int = 0, **kwargs) -> Text:
    return Text(validate=validate.Length(min=min_length, max=max_length), **kwargs)


class OrderCreateSchema(ma.Schema):
    patient_id = _row_id(required=True,
                         metadata={"description": "One of the caller's care recipients"})
    address_id = _row_id(required=True, metadata={"description": "An address of that recipient"})
    service_code = _text(40, 1, required=True)
    window_start = ma.fields.AwareDateTime(required=True, validate=_utc_representable, metadata={
        "description": "ISO 8601 with offset; in the future, within the booking horizon "
                       "and the local service hours"})
    window_end = ma.fields.AwareDateTime(required=True, validate=_utc_representable, metadata={
        "description": "At least the item's duration after window_start, the same local day"})
    notes = _text(1000, load_default=None, allow_none=True)


class IdempotencyHeaderSchema(ma.Schema):
    idempotency_key = Text(
        data_key="Idempotency-Key", validate=validate.Length(min=1, max=200),
        metadata={"description": (
            "Makes the booking safe to retry: the same key and body return the first "
            "response (header Idempotent-Replayed: true), never a second order; the same "
            "key with another body is 422 idempotency_key_reused; while the first request "
            "is still running, 409 idempotency_conflict. Keys are per account, kept 24 h.")})


class OrderQueryArgsSchema(ma.Schema):
    status = Text(validate=validate.OneOf(STATUSES))
    date = ma.fields.Date(metadata={"description": "Local service date (YYYY-MM-DD)"})
    date_from = ma.fields.Date(metadata={"description": "Service date on or after"})
    date_to = ma.fields.Date(metadata={"description": "Service date on or before"})
    patient_id = _row_id(strict=False)  # a query string: "5" is 5


class OrderRecipientSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    phone = ma.fields.String(allow_none=True, metadata={
        "description": "In full for the owner; masked (138****5678) for everyone else, "
                       "her nurse included (calls go through the number-masking relay)"})


class OrderAddressSchema(ma.Schema):
    id = ma.fields.Integer()
    label = ma.fields.String()
    text = ma.fields.String()
    district = ma.fields.String(allow_none=True)
    lat = ma.fields.Float()
    lng = ma.fields.Float()
    gcj02 = ma.fields.Nested(Gcj02Schema)


class ReviewSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    order_id = ma.fields.Integer(dump_only=True)
    nurse_id = ma.fields.Integer(dump_only=True, allow_none=True)
    rating = ma.fields.Integer(required=True, strict=True, validate=validate.Range(1, 5))
    comment = _text(1000, load_default=None, allow_none=True)
    created_at = ma.fields.DateTime(dump_only=True)


class AssignedNurseSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    title = ma.fields.String()
    license_no = ma.fields.String(metadata={"description": "护士执业证书编号"})
    photo_url = ma.fields.String(allow_none=True)


class OrderSchema(ma.Schema):
    """An order as one caller may see it: recipient and address only for those who need them."""

    id = ma.fields.Integer()
    status = ma.fields.String()
    organization_id = ma.fields.Integer()
    patient_id = ma.fields.Integer()
    address_id = ma.fields.Integer()
    service_code = ma.fields.String()
    service_name_zh = ma.fields.String(allow_none=True)
    duration_min = ma.fields.Integer()
    price_fen = ma.fields.Integer(metadata={"description": "The total, as booked"})
    price_breakdown = ma.fields.Nested(PriceBreakdownSchema, allow_none=True, metadata={
        "description": "How price_fen adds up, from the fee table when booked; a later "
                       "table change leaves it as it was"})
    window_start = ma.fields.DateTime()
    window_end = ma.fields.DateTime()
    service_date = ma.fields.Date()
    district = ma.fields.String(allow_none=True)
    notes = ma.fields.String(allow_none=True)
    nurse_id = ma.fields.Integer(allow_none=True)
    nurse_name = ma.fields.String(allow_none=True)
    planned_arrival = ma.fields.DateTime(allow_none=True)
    departed_at = ma.fields.DateTime(allow_none=True)
    checked_in_at = ma.fields.DateTime(allow_none=True)
    checked_out_at = ma.fields.DateTime(allow_none=True)
    status_reason = ma.fields.String(allow_none=True)
    cancellation_fee_fen = ma.fields.Integer(allow_none=True, metadata={
        "description": "What cancelling cost the family (recorded for billing, not "
                       "collected here); null while not cancelled"})
    cancellation_rule = ma.fields.String(allow_none=True, metadata={
        "enum": list(CANCELLATION_RULES),
        "description": "free (ahead of the free-cancellation lead), late (after it), "
                       "call_out (the nurse had set off: the travel fee), by_service "
                       "(cancelled by the service: never charged)"})
    nurse = ma.fields.Nested(AssignedNurseSchema, allow_none=True, metadata={
        "description": "For the family, once a nurse is assigned: whom to expect"})
    visit_code = ma.fields.String(allow_none=True, metadata={
        "description": "The door check's 6-digit code, for the owner only, from departure "
                       "until the visit is done: read it out to the nurse at the door"})
    recipient = ma.fields.Nested(OrderRecipientSchema, allow_none=True, metadata={
        "description": "Null for a nurse who does not (or no longer) hold the order"})
    address = ma.fields.Nested(OrderAddressSchema, allow_none=True)
    review = ma.fields.Nested(ReviewSchema, allow_none=True)
    created_at = ma.fields.DateTime()
    updated_at = ma.fields.DateTime()


class OrderEventSchema(ma.Schema):
    id = ma.fields.Integer()
    order_id = ma.fields.Integer()
    from_status = ma.fields.String(allow_none=True,
                                   metadata={"description": "Null for the creation event"})
    to_status = ma.fields.String()
    actor_id = ma.fields.Integer(allow_none=True, metadata={"description": "Null: the system"})
    actor_role = ma.fields.String()
    reason = ma.fields.String(allow_none=True)
    at = ma.fields.DateTime()


class OrderCancelSchema(ma.Schema):
    reason = _text(500, 1, load_default=None, metadata={
        "description": "Required when cancelling after the nurse departed"})
    requested_by_family = ma.fields.Boolean(load_default=False, metadata={
        "description": "Supervisor: cancelling at the family's request (e.g. by phone), "
                       "so the cancellation policy's fees apply as to the family"})


class OrderApproveSchema(ma.Schema):
    reason = _text(500, 1, load_default=None,
                   metadata={"description": "Assessment note, kept in the record"})


class OrderRejectSchema(ma.Schema):
    reason = _text(500, 1, required=True)

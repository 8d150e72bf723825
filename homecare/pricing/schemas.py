"""Request and response shapes for fee tables and price quotes."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from homecare.schemas import HH_MM, MOMENTS, RowId, Text

FEN = validate.Range(min=0, max=10_000_000)


class FeeTableSchema(ma.Schema):
    """An organization's published fees, in fen; fields left out of a PUT take the defaults."""

    organization_id = ma.fields.Integer(dump_only=True)
    included_km = ma.fields.Float(load_default=3.0, validate=validate.Range(min=0, max=100),
                                  metadata={"description": "Road km the base fee covers"})
    base_fee_fen = ma.fields.Integer(strict=True, load_default=0, validate=FEN, metadata={
        "description": "Travel fee within included_km"})
    per_km_fen = ma.fields.Integer(strict=True, load_default=0, validate=FEN, metadata={
        "description": "Each further km of road distance from the institution"})
    cap_fen = ma.fields.Integer(strict=True, load_default=None, allow_none=True, validate=FEN,
                                metadata={"description": "The travel fee never exceeds this"})
    night_surcharge_fen = ma.fields.Integer(strict=True, load_default=0, validate=FEN)
    night_start = Text(load_default=None, allow_none=True, validate=HH_MM, metadata={
        "description": "A window starting in [night_start, night_end) local time pays the "
                       "night surcharge (may wrap past midnight)"})
    night_end = Text(load_default=None, allow_none=True, validate=HH_MM)
    holiday_surcharge_fen = ma.fields.Integer(strict=True, load_default=0, validate=FEN)
    holidays = ma.fields.List(ma.fields.Date(), load_default=list,
                              validate=validate.Length(max=100),
                              metadata={"description": "Local dates with the holiday surcharge"})
    free_cancel_minutes = ma.fields.Integer(
        strict=True, load_default=240, validate=validate.Range(min=0, max=7 * 24 * 60),
        metadata={"description": "The family cancels free until this long before the window"})
    late_cancel_fee_fen = ma.fields.Integer(strict=True, load_default=0, validate=FEN, metadata={
        "description": "Charged to a family cancelling later than that (before departure)"})
    version = ma.fields.Integer(dump_only=True, metadata={
        "description": "Bumped by every change; 0: nothing published (no fees on top)"})
    updated_at = ma.fields.DateTime(dump_only=True, allow_none=True)


class SurchargeSchema(ma.Schema):
    kind = ma.fields.String(metadata={"enum": ["night", "holiday"]})
    fee_fen = ma.fields.Integer()


class PriceBreakdownSchema(ma.Schema):
    """How ``price_fen`` adds up: item + travel fee + surcharges = total."""

    service_code = ma.fields.String()
    item_fen = ma.fields.Integer(metadata={"description": "The catalogue item's price"})
    road_km = ma.fields.Float(metadata={
        "description": "Road distance from the institution (travel model)"})
    included_km = ma.fields.Float()
    per_km_fen = ma.fields.Integer()
    travel_fee_fen = ma.fields.Integer(metadata={"description": "上门费"})
    travel_capped = ma.fields.Boolean()
    surcharges = ma.fields.List(ma.fields.Nested(SurchargeSchema))
    total_fen = ma.fields.Integer()
    fee_table_version = ma.fields.Integer()


class QuoteQueryArgsSchema(ma.Schema):
    address_id = RowId(required=True, strict=False)
    window_start = ma.fields.AwareDateTime(required=True, validate=MOMENTS, metadata={
        "description": "ISO 8601 with offset: decides night and holiday surcharges"})


class QuoteSchema(ma.Schema):
    service_code = ma.fields.String()
    address_id = ma.fields.Integer()
    organization_id = ma.fields.Integer()
    window_start = ma.fields.DateTime()
    price_fen = ma.fields.Integer()
    price_breakdown = ma.fields.Nested(PriceBreakdownSchema)

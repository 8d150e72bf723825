"""Request and response shapes for candidates, assignment and offers."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from homecare.dispatch.matching import RULES
from homecare.schemas import RowId, Text


def _not_blank(value: str) -> None:
    if not value.strip():
        raise ma.ValidationError("must not be blank")


class CandidateQueryArgsSchema(ma.Schema):
    explain = RowId(metadata={
        "description": "A nurse id: answer with that nurse alone, eligible and scored, or "
                       "with the hard filter (`excluded_by`) that excludes her"})


class ScorePartsSchema(ma.Schema):
    travel = ma.fields.Float(metadata={"description": "1 - min(eta, horizon) / horizon"})
    continuity = ma.fields.Float(metadata={
        "description": "1 if she has visited this care recipient before, else 0"})
    balance = ma.fields.Float(metadata={
        "description": "1 - her visits that day / her daily cap"})
    rating = ma.fields.Float(metadata={
        "description": "Her mean review shrunk towards 3 stars, mapped 1-5 -> 0-1"})


class CandidateSchema(ma.Schema):
    nurse_id = ma.fields.Integer()
    name = ma.fields.String(allow_none=True)
    eligible = ma.fields.Boolean()
    excluded_by = ma.fields.String(allow_none=True, metadata={
        "description": "The first hard filter she breaks (explanations only)",
        "enum": list(RULES)})
    reason = ma.fields.String(allow_none=True, metadata={
        "description": "The rule in words, with her figures"})
    distance_km = ma.fields.Float(allow_none=True, metadata={
        "description": "Travel distance (travel model) from where she will be just before "
                       "the visit: previous visit, home, or her current position"})
    eta_min = ma.fields.Float(allow_none=True, metadata={
        "description": "Travel time in minutes for that leg"})
    home_distance_km = ma.fields.Float(allow_none=True, metadata={
        "description": "Great-circle distance from her home, about what her service "
                       "radius limits (the rule itself uses the WGS-84 geodesic)"})
    score = ma.fields.Float(allow_none=True, metadata={"description": "0-1, higher is better"})
    score_parts = ma.fields.Nested(ScorePartsSchema, allow_none=True)
    planned_arrival = ma.fields.DateTime(allow_none=True, metadata={
        "description": "When she would begin the visit, inside the window"})
    start_from = ma.fields.String(allow_none=True, metadata={
        "enum": ["home", "previous_visit", "current_position"]})
    visits_that_day = ma.fields.Integer(allow_none=True)
    offer_status = ma.fields.String(allow_none=True, metadata={
        "description": "Her offer for this order, if she had one"})


class AssignSchema(ma.Schema):
    nurse_id = RowId(required=True, strict=True)
    reason = Text(load_default=None, allow_none=True, validate=validate.Length(max=500),
                  metadata={"description": "Why (kept in the order's history)"})


class AssignmentSchema(ma.Schema):
    """The order after an accept or an assignment; details via GET /orders/{id}."""

    order_id = ma.fields.Integer()
    status = ma.fields.String()
    nurse_id = ma.fields.Integer()
    service_code = ma.fields.String()
    window_start = ma.fields.DateTime()
    window_end = ma.fields.DateTime()
    planned_arrival = ma.fields.DateTime(allow_none=True)
    dispatch_round = ma.fields.Integer()
    withdrawn_offers = ma.fields.Integer(metadata={
        "description": "Other nurses' open offers withdrawn by this change"})


class OfferSchema(ma.Schema):
    """An open offer as the nurse sees it: no name, address, phone or diagnosis."""

    id = ma.fields.Integer()
    order_id = ma.fields.Integer()
    round = ma.fields.Integer()
    service_code = ma.fields.String()
    service_name_zh = ma.fields.String(attribute="name_zh")
    service_name_en = ma.fields.String(attribute="name_en")
    window_start = ma.fields.DateTime()
    window_end = ma.fields.DateTime()
    duration_min = ma.fields.Integer()
    distance_km = ma.fields.Float()
    eta_min = ma.fields.Float()
    price_fen = ma.fields.Integer()
    expires_at = ma.fields.DateTime()
    district = ma.fields.String(allow_none=True)


class DeclineSchema(ma.Schema):
    reason = Text(required=True, validate=[validate.Length(min=1, max=300), _not_blank])


class OfferAnswerSchema(ma.Schema):
    id = ma.fields.Integer()
    order_id = ma.fields.Integer()
    status = ma.fields.String()
    responded_at = ma.fields.DateTime()
    decline_reason = ma.fields.String(allow_none=True)

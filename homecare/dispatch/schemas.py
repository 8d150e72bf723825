"""Request and response shapes for candidates, assignment and offers."""

from __future__ import annotations

import datetime as dt

import marshmallow as ma
from marshmallow import validate

from homecare.alerts.models import ALERT_KINDS
from homecare.dispatch.matching import RULES
from homecare.orders.states import AWAITING_NURSE, STATUSES
from homecare.schemas import PlaceOutFields, RowId, Text

# Any real day lies well inside this; it keeps the day's UTC bounds (midnight of
# the next day) far from the end of Python's calendar.
DATES = validate.Range(dt.date(2000, 1, 1), dt.date(2199, 12, 31),
                       error="must be between 2000-01-01 and 2199-12-31")


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


class BoardQueryArgsSchema(ma.Schema):
    date = ma.fields.Date(validate=DATES, metadata={
        "description": "The local day (service area's zone), YYYY-MM-DD; default today"})
    organization_id = RowId(metadata={
        "description": "Admins name the organization; supervisors see their own"})


def _per(names: tuple[str, ...], what: str) -> dict[str, ma.fields.Integer]:
    return {name: ma.fields.Integer(metadata={"description": f"{what} {name}"})
            for name in names}


BoardCountsSchema = ma.Schema.from_dict(
    _per(STATUSES, "Orders of the day now"), name="BoardCountsSchema")
BoardAlertCountsSchema = ma.Schema.from_dict(
    _per(ALERT_KINDS, "Open alerts of kind"), name="BoardAlertCountsSchema")


class BoardOrderSchema(ma.Schema):
    """An order of the day still without a nurse (no recipient details)."""

    id = ma.fields.Integer()
    status = ma.fields.String(metadata={"enum": list(AWAITING_NURSE)})
    service_code = ma.fields.String()
    window_start = ma.fields.DateTime()
    window_end = ma.fields.DateTime()
    district = ma.fields.String(allow_none=True)
    dispatch_round = ma.fields.Integer(metadata={
        "description": "Offer rounds run so far (0: not offered yet)"})


class BoardPositionSchema(PlaceOutFields):
    at = ma.fields.DateTime(metadata={"description": "When the ping was recorded"})


class BoardNurseSchema(ma.Schema):
    nurse_id = ma.fields.Integer()
    name = ma.fields.String()
    position = ma.fields.Nested(BoardPositionSchema, allow_none=True, metadata={
        "description": "Her last ping, WGS-84 with a GCJ-02 copy; null when none is "
                       "fresher than HOMECARE_DISPATCH_PING_MAX_AGE_MINUTES"})
    load = ma.fields.Integer(metadata={
        "description": "Visits of the day she holds (assigned, en route, in service) "
                       "or has completed"})
    max_visits_per_day = ma.fields.Integer()


class BoardAlertSchema(ma.Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String(metadata={"enum": list(ALERT_KINDS)})
    severity = ma.fields.String()
    order_id = ma.fields.Integer(allow_none=True)
    nurse_id = ma.fields.Integer(allow_none=True)
    raised_at = ma.fields.DateTime()


class BoardAlertsSchema(ma.Schema):
    open = ma.fields.Nested(BoardAlertCountsSchema, metadata={
        "description": "Open (not resolved) alerts by kind, zeros included"})
    critical = ma.fields.List(ma.fields.Nested(BoardAlertSchema), metadata={
        "description": "The open SOS and critical alerts, newest first"})


class BoardSchema(ma.Schema):
    date = ma.fields.Date()
    now = ma.fields.DateTime(metadata={
        "description": "The server's time of this answer: what a position's age is "
                       "measured against"})
    organization_id = ma.fields.Integer()
    counts = ma.fields.Nested(BoardCountsSchema, metadata={
        "description": "The day's orders by status, every status, zeros included"})
    unassigned = ma.fields.List(ma.fields.Nested(BoardOrderSchema), metadata={
        "description": "Submitted, approved and offered orders of the day, by window"})
    nurses = ma.fields.List(ma.fields.Nested(BoardNurseSchema), metadata={
        "description": "Active nurses with a shift touching the day"})
    alerts = ma.fields.Nested(BoardAlertsSchema)


class UnassignSchema(ma.Schema):
    reason = Text(required=True, validate=validate.Length(min=1, max=500), metadata={
        "description": "Why the order goes back to dispatch (kept in its history)"})


class UnassignedSchema(ma.Schema):
    """The order back in dispatch: ``offered`` again, or ``approved`` in the supervisor's
    queue (with an ``unassigned`` alert) when nobody else could take it."""

    order_id = ma.fields.Integer()
    status = ma.fields.String()
    previous_nurse_id = ma.fields.Integer(allow_none=True)
    offers_made = ma.fields.Integer(metadata={"description": "Offers of the new round"})

"""Request and response shapes for nurse profiles, shifts and location pings."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import marshmallow as ma
from marshmallow import validate

from homecare.catalogue.models import TITLES
from homecare.catalogue.schemas import skill_list
from homecare.schemas import (
    COORD_SYSTEM_NAMES,
    FullMatch,
    LocationSchema,
    PlaceInSchema,
    PlaceOutFields,
    RowId,
    Text,
    location_out,
    wgs84_point,
)

# A single availability window longer than this is a typo (a wrong date), not a shift.
MAX_WINDOW = timedelta(hours=24)
# Any real shift or fix lies well inside this; it also keeps a time at the edge of
# Python's range from overflowing when converted to UTC for the database.
MOMENT = validate.Range(min=datetime(2000, 1, 1, tzinfo=UTC),
                        max=datetime(2100, 1, 1, tzinfo=UTC),
                        error="must be between 2000 and 2100")
LICENSE = FullMatch(r"[0-9A-Za-z-]{6,40}",
                    error="must be 6-40 letters, digits or -")
# The largest service radius the spatial search is built for (HOMECARE_MAX_SERVICE_RADIUS_KM
# may lower it); documented so that the spec says what is enforced.
MAX_SERVICE_RADIUS_KM = 30


class CredentialFields(ma.Schema):
    """Her practising licence's and liability insurance's validity: dispatch sends her
    only on dates both cover (rule `credentials`)."""

    license_valid_until = ma.fields.Date(allow_none=True, metadata={
        "description": "Last day her practising licence is valid (local date)"})
    insurance_no = Text(allow_none=True, validate=validate.Length(min=1, max=60),
                        metadata={"description": "Medical liability insurance policy number"})
    insurer = Text(allow_none=True, validate=validate.Length(min=1, max=100))
    insurance_valid_until = ma.fields.Date(allow_none=True, metadata={
        "description": "Last day the insurance covers"})
    photo_url = Text(allow_none=True, validate=[validate.Length(max=500), validate.URL(
        schemes={"https", "http"})], metadata={
        "description": "Shown to the family once she is assigned"})


class NurseCreateSchema(CredentialFields):
    user_id = RowId(
        required=True,
        metadata={"description": "A nurse account of the supervisor's organization"})
    license_no = Text(required=True, validate=LICENSE,
                      metadata={"description": "护士执业证书编号"})
    title = Text(required=True, validate=validate.OneOf(TITLES))
    years_experience = ma.fields.Integer(required=True, validate=validate.Range(min=0, max=60))
    skills = skill_list(load_default=list)
    home = ma.fields.Nested(LocationSchema, required=True)
    service_radius_km = ma.fields.Float(load_default=10.0,
                                        validate=validate.Range(
                                            min=0.5, max=MAX_SERVICE_RADIUS_KM))
    max_visits_per_day = ma.fields.Integer(load_default=8, validate=validate.Range(min=1, max=30))
    active = ma.fields.Boolean(load_default=False, metadata={
        "description": "Available for dispatch; needs the Internet+nursing qualification"})


class NurseUpdateSchema(CredentialFields):
    """Supervisor: any field. The nurse herself: home, service_radius_km, max_visits_per_day."""

    license_no = Text(validate=LICENSE)
    title = Text(validate=validate.OneOf(TITLES))
    years_experience = ma.fields.Integer(validate=validate.Range(min=0, max=60))
    skills = skill_list()
    home = ma.fields.Nested(LocationSchema)
    service_radius_km = ma.fields.Float(validate=validate.Range(
                                            min=0.5, max=MAX_SERVICE_RADIUS_KM))
    max_visits_per_day = ma.fields.Integer(validate=validate.Range(min=1, max=30))
    active = ma.fields.Boolean()


class LastPositionSchema(LocationSchema):
    at = ma.fields.DateTime(dump_only=True)

    @ma.pre_dump
    def _with_display_copy(self, data: Any, **_: Any) -> dict[str, Any]:
        out = super()._with_display_copy(data)
        return {**out, "at": data["at"]}


class NurseSchema(CredentialFields):
    id = ma.fields.Integer()
    user_id = ma.fields.Integer()
    organization_id = ma.fields.Integer()
    name = ma.fields.String()
    phone = ma.fields.String()
    license_no = ma.fields.String()
    title = ma.fields.String()
    years_experience = ma.fields.Integer()
    skills = ma.fields.List(ma.fields.String())
    home = ma.fields.Nested(LocationSchema)
    service_radius_km = ma.fields.Float()
    max_visits_per_day = ma.fields.Integer()
    active = ma.fields.Boolean()
    qualified = ma.fields.Boolean(metadata={
        "description": "Meets the Internet+nursing gate (experience and title)"})
    unmet = ma.fields.List(ma.fields.String(), metadata={
        "description": "The gate's rules she does not meet, e.g. years_experience >= 5"})
    on_shift = ma.fields.Boolean(metadata={"description": "A published window covers now"})
    rating = ma.fields.Float(allow_none=True)
    rating_count = ma.fields.Integer()
    last_position = ma.fields.Nested(LastPositionSchema, allow_none=True)
    distance_km = ma.fields.Float(metadata={
        "description": "From `near` to her home base (searches with `near` only)"})
    created_at = ma.fields.DateTime()
    updated_at = ma.fields.DateTime()


class Near(Text):
    """``lat,lng`` in a query string; its range is checked once converted (post_load)."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            lat, lng = (float(part) for part in text.split(","))
        except ValueError as exc:
            raise ma.ValidationError("must be lat,lng, e.g. 35.415,116.587") from exc
        if not (math.isfinite(lat) and math.isfinite(lng)):
            raise ma.ValidationError("latitude and longitude must be finite numbers")
        return lat, lng


class NurseQueryArgsSchema(ma.Schema):
    skill = skill_list(metadata={"description": "Repeat for several: nurses holding all "
                                                "of them"})
    near = Near(metadata={"description": "lat,lng: sort by geodesic distance from here",
                          "example": "35.415,116.587"})
    coord_system = Text(load_default="wgs84", validate=validate.OneOf(COORD_SYSTEM_NAMES))
    radius_km = ma.fields.Float(validate=validate.Range(min=0, max=200, min_inclusive=False),
                                metadata={"description": "With near: only nurses whose "
                                                         "home is this close"})
    status = Text(validate=validate.OneOf(("active", "inactive", "on_shift")))

    @ma.validates_schema
    def _radius_needs_near(self, data: dict[str, Any], **_: Any) -> None:
        if "radius_km" in data and "near" not in data:
            raise ma.ValidationError({"radius_km": ["needs near"]})

    @ma.post_load
    def _near_to_wgs84(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        system = data.pop("coord_system")
        if "near" in data:
            data["near"] = wgs84_point(*data["near"], system, lat_field="near",
                                       lng_field="near")
        return data


class ShiftWindowSchema(ma.Schema):
    start = ma.fields.AwareDateTime(required=True, validate=MOMENT)
    end = ma.fields.AwareDateTime(required=True, validate=MOMENT)

    @ma.validates_schema
    def _ordered(self, data: dict[str, Any], **_: Any) -> None:
        if data["end"] <= data["start"]:
            raise ma.ValidationError({"end": ["must be after start"]})
        if data["end"] - data["start"] > MAX_WINDOW:
            raise ma.ValidationError({"end": ["a window may not exceed 24 hours"]})


class ShiftsSchema(ma.Schema):
    shifts = ma.fields.List(ma.fields.Nested(ShiftWindowSchema), required=True,
                            validate=validate.Length(max=200))


class ShiftSchema(ma.Schema):
    start = ma.fields.DateTime()
    end = ma.fields.DateTime()


class ShiftQueryArgsSchema(ma.Schema):
    start = ma.fields.AwareDateTime(data_key="from", validate=MOMENT, metadata={
        "description": "Windows ending after this (default: now)"})
    end = ma.fields.AwareDateTime(data_key="to", validate=MOMENT, metadata={
        "description": "Windows starting before this (default: no limit)"})


class PingSchema(PlaceInSchema):
    accuracy_m = ma.fields.Float(load_default=None, allow_none=True,
                                 validate=validate.Range(min=0, max=100_000))
    recorded_at = ma.fields.AwareDateTime(
        load_default=None, allow_none=True, validate=MOMENT,
        metadata={"description": "When the phone took the fix (default: received time)"})


class PingOutSchema(PlaceOutFields):
    id = ma.fields.Integer()
    nurse_id = ma.fields.Integer()
    order_id = ma.fields.Integer(allow_none=True, metadata={
        "description": "The active order the trace belongs to, if any"})
    accuracy_m = ma.fields.Float(allow_none=True)
    recorded_at = ma.fields.DateTime()
    received_at = ma.fields.DateTime()
    tracking = ma.fields.String(metadata={"description": "order or shift: why it was kept"})


def ping_out(ping: dict[str, Any]) -> dict[str, Any]:
    """What ``PingOutSchema().dump(ping)`` gives, without marshmallow.

    The ping is the busiest request of the service (every working nurse, every few
    seconds), and dumping through the schema was a tenth of its CPU. The schema
    stays the route's documented response; tests/nurses/test_ping_out.py holds the
    two to the same output.
    """
    place = location_out(ping["lat"], ping["lng"])
    accuracy = ping["accuracy_m"]
    return {"id": ping["id"], "nurse_id": ping["nurse_id"], "order_id": ping["order_id"],
            "lat": float(ping["lat"]), "lng": float(ping["lng"]),
            "gcj02": place["gcj02"] if place else None,
            "accuracy_m": None if accuracy is None else float(accuracy),
            "recorded_at": ping["recorded_at"].isoformat(),
            "received_at": ping["received_at"].isoformat(),
            "tracking": ping["tracking"]}


class UnavailabilitySchema(ma.Schema):
    start = ma.fields.AwareDateTime(data_key="from", required=True, validate=MOMENT)
    until = ma.fields.AwareDateTime(required=True, validate=MOMENT)
    reason = Text(required=True, validate=validate.Length(min=1, max=500), metadata={
        "description": "Ill, a family emergency, ..."})


class _ReturnedVisitSchema(ma.Schema):
    order_id = ma.fields.Integer()
    status = ma.fields.String(metadata={"description": "offered again, or approved (queue)"})
    offers_made = ma.fields.Integer()


class _UnderWayVisitSchema(ma.Schema):
    order_id = ma.fields.Integer()
    status = ma.fields.String()
    alert_id = ma.fields.Integer(allow_none=True, metadata={
        "description": "The nurse_unavailable alert asking the supervisor to decide"})


class UnavailabilityOutSchema(ma.Schema):
    """What moved: her shifts in the span, her unstarted visits back in dispatch, and
    the visits under way left for the supervisor (each with an alert)."""

    nurse_id = ma.fields.Integer()
    start = ma.fields.DateTime(data_key="from")
    until = ma.fields.DateTime()
    reason = ma.fields.String()
    shifts_removed = ma.fields.Integer()
    shifts_trimmed = ma.fields.Integer()
    returned_to_dispatch = ma.fields.List(ma.fields.Nested(_ReturnedVisitSchema))
    under_way = ma.fields.List(ma.fields.Nested(_UnderWayVisitSchema))

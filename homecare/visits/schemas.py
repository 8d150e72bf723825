"""Request and response shapes for visit execution and the care record."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import marshmallow as ma
from marshmallow import validate

from homecare.alerts.schemas import AlertSchema
from homecare.schemas import (
    FullMatch,
    LocationSchema,
    PlaceInSchema,
    PlaceOutFields,
    Text,
    wgs84_point,
)

COORD_SYSTEMS = ("wgs84", "gcj02", "bd09")


class VitalsSchema(ma.Schema):
    """Vital signs, each range-checked: a value outside its range is a typing error,
    not a patient in trouble (that range would be far wider than these)."""

    # strict: a non-integer (pulse 76.5) is refused, not silently cut to 76 in a
    # health record.
    systolic_mmhg = ma.fields.Integer(strict=True, validate=validate.Range(50, 260),
                                      metadata={"description": "Blood pressure, systolic"})
    diastolic_mmhg = ma.fields.Integer(strict=True, validate=validate.Range(30, 160),
                                       metadata={"description": "Blood pressure, diastolic"})
    pulse_bpm = ma.fields.Integer(strict=True, validate=validate.Range(20, 250))
    temperature_c = ma.fields.Float(validate=validate.Range(32.0, 43.0))
    spo2_pct = ma.fields.Integer(strict=True, validate=validate.Range(50, 100),
                                 metadata={"description": "Oxygen saturation (SpO2)"})
    glucose_mmol_l = ma.fields.Float(validate=validate.Range(1.0, 35.0),
                                     metadata={"description": "Blood glucose, mmol/L"})

    @ma.validates_schema
    def _blood_pressure_pair(self, data: dict[str, Any], **_: Any) -> None:
        systolic, diastolic = data.get("systolic_mmhg"), data.get("diastolic_mmhg")
        if (systolic is None) != (diastolic is None):
            raise ma.ValidationError("give systolic and diastolic together",
                                     "systolic_mmhg" if systolic is None else "diastolic_mmhg")
        if systolic is not None and diastolic >= systolic:
            raise ma.ValidationError("must be below the systolic pressure", "diastolic_mmhg")


class ConsumableSchema(ma.Schema):
    name = Text(required=True, validate=validate.Length(min=1, max=100))
    quantity = ma.fields.Integer(load_default=1, validate=validate.Range(1, 1000))
    unit = Text(load_default=None, allow_none=True, validate=validate.Length(max=20))


class ProcedureSchema(ma.Schema):
    name = ma.fields.String()
    listed = ma.fields.Boolean(metadata={
        "description": "Whether it is one of the service item's procedures (else free text)"})


VISIT_CODE = FullMatch(r"[0-9]{6}", error="must be the 6 digits the family reads out")


class CheckInSchema(PlaceInSchema):
    accuracy_m = ma.fields.Float(load_default=None, allow_none=True,
                                 validate=validate.Range(0, 10000))
    visit_code = Text(load_default=None, allow_none=True, validate=VISIT_CODE, metadata={
        "description": "The family's visit code; without it (or the family's confirmation "
                       "in the app) the check-in is flagged"})


class DoorFields(ma.Schema):
    door_verified = ma.fields.Boolean(metadata={
        "description": "The family confirmed the nurse: by the visit code or in the app"})
    door_verified_by = ma.fields.String(allow_none=True, metadata={"enum": ["code", "family"]})


class CheckInOutSchema(PlaceOutFields, DoorFields):
    """The check-in: a place (top-level lat/lng), and how far it was from the address."""

    order_id = ma.fields.Integer()
    status = ma.fields.String()
    departed_at = ma.fields.DateTime(allow_none=True)
    checked_in_at = ma.fields.DateTime()
    distance_m = ma.fields.Float(metadata={"description": "Geodesic distance to the address"})
    geofence_m = ma.fields.Integer()
    within_geofence = ma.fields.Boolean(metadata={
        "description": "False: accepted but flagged, and a geofence alert was opened"})
    alert_id = ma.fields.Integer(allow_none=True)
    door_alert_id = ma.fields.Integer(allow_none=True, metadata={
        "description": "The door_unverified alert opened by an unconfirmed check-in"})


class CheckOutSchema(PlaceInSchema):
    """The nurse's position at check-out and the care record; no record, no check-out."""

    vitals = ma.fields.Nested(VitalsSchema, load_default=dict)
    procedures = ma.fields.List(
        Text(validate=validate.Length(min=1, max=200)), required=True,
        validate=validate.Length(min=1, max=30, error="list at least one procedure done"),
        metadata={"description": "The item's procedures done, or free text"})
    notes = Text(load_default=None, allow_none=True, validate=validate.Length(max=4000))
    consumables = ma.fields.List(ma.fields.Nested(ConsumableSchema), load_default=list,
                                 validate=validate.Length(max=50))


class VisitRecordSchema(DoorFields):
    """The electronic visit record: service, recipient, nurse, date, place, start and
    end, with the care given."""

    order_id = ma.fields.Integer()
    status = ma.fields.String()
    service_code = ma.fields.String()
    service_name_zh = ma.fields.String()
    service_name_en = ma.fields.String()
    patient_id = ma.fields.Integer()
    patient_name = ma.fields.String()
    nurse_id = ma.fields.Integer()
    nurse_name = ma.fields.String()
    service_date = ma.fields.Date()
    address_text = ma.fields.String()
    address = ma.fields.Nested(LocationSchema, dump_only=True)
    started_at = ma.fields.DateTime(metadata={"description": "Check-in (as corrected)"})
    ended_at = ma.fields.DateTime(metadata={"description": "Check-out (as corrected)"})
    times_corrected = ma.fields.Boolean(metadata={
        "description": "A supervisor approved a correction of the times"})
    original_started_at = ma.fields.DateTime(allow_none=True, metadata={
        "description": "The check-in as recorded at the door, before any correction"})
    original_ended_at = ma.fields.DateTime(allow_none=True)
    door_verified_at = ma.fields.DateTime(allow_none=True)
    unverified_check_in = ma.fields.Boolean(metadata={
        "description": "Flag: she checked in before the family confirmed her"})
    minutes_on_site = ma.fields.Integer()
    check_in_distance_m = ma.fields.Float(allow_none=True)
    check_out = ma.fields.Nested(LocationSchema, dump_only=True, allow_none=True)
    vitals = ma.fields.Nested(VitalsSchema)
    procedures = ma.fields.List(ma.fields.Nested(ProcedureSchema))
    notes = ma.fields.String(allow_none=True)
    consumables = ma.fields.List(ma.fields.Nested(ConsumableSchema))
    recorded_at = ma.fields.DateTime()


class DepartureSchema(ma.Schema):
    order_id = ma.fields.Integer()
    status = ma.fields.String()
    departed_at = ma.fields.DateTime()


class OptionalPosition(ma.Schema):
    """A body that may carry a position (SOS, no-show): lat and lng together or neither,
    in any coord_system; ``post_load`` leaves WGS-84 ``lat``/``lng`` (or None)."""

    lat = ma.fields.Float(load_default=None, allow_none=True)
    lng = ma.fields.Float(load_default=None, allow_none=True)
    coord_system = Text(load_default="wgs84", validate=validate.OneOf(COORD_SYSTEMS))

    @ma.validates_schema
    def _both_or_neither(self, data: dict[str, Any], **_: Any) -> None:
        if (data.get("lat") is None) != (data.get("lng") is None):
            raise ma.ValidationError("give lat and lng together, or neither",
                                     "lat" if data.get("lat") is None else "lng")

    @ma.post_load
    def _to_wgs84(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        system = data.pop("coord_system")
        if data["lat"] is not None:
            point = wgs84_point(data["lat"], data["lng"], system)
            data["lat"], data["lng"] = point.lat, point.lng
        return data


_SOS_POSITION = ("lat", "lng", "coord_system", "accuracy_m")
_SOS_NOTE_MAX = 300


class SosSchema(OptionalPosition):
    """The one-key alarm. Everything is optional, and nothing in it can refuse the
    alarm: a position that fails validation is dropped (the nurse's last reported
    position is used, as when none is sent), a note too long is cut and one that is
    not text dropped, unknown fields are ignored; what was dropped, and why, is
    noted in the alert's detail."""

    # The one lenient body of the API. A phone in a panic sends what it has:
    # accuracy -1 for "no fix" (iOS), "GCJ02" in capitals, a battery level, lat
    # without lng. Refusing that with a 422 loses the alarm of a nurse in danger,
    # so ``load`` never raises; every other body keeps unknown=RAISE and 422s.
    class Meta:
        unknown = ma.INCLUDE

    lenient_body = True  # nor held to JSON types (homecare.strict_input)

    lat = ma.fields.Float(load_default=None, allow_none=True, validate=validate.Range(-90, 90))
    lng = ma.fields.Float(load_default=None, allow_none=True,
                          validate=validate.Range(-180, 180))
    coord_system = Text(load_default="wgs84", validate=validate.OneOf(COORD_SYSTEMS))
    accuracy_m = ma.fields.Float(load_default=None, allow_none=True,
                                 validate=validate.Range(0, 100000))
    note = Text(load_default=None, allow_none=True, validate=validate.Length(max=_SOS_NOTE_MAX))

    def load(self, data: Any, *, many: bool | None = None, partial: Any = None,
             unknown: str | None = None) -> dict[str, Any]:
        """The alarm's arguments, with ``ignored``: what was dropped and why (or None)."""
        ignored: dict[str, Any] = {}
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            ignored["_body"] = [f"not a JSON object: {type(data).__name__}"]
            data = {}
        body = {key: value for key, value in data.items() if key in self.load_fields}
        # A name may hold a lone surrogate (JSON allows "\\ud800"), which no column
        # can store: noted as its escape, so the alarm is still raised.
        extra = sorted(str(key).encode("utf-8", "backslashreplace").decode()
                       for key in data if key not in self.load_fields)
        if extra:
            ignored["unknown_fields"] = extra
        note = body.get("note")
        if isinstance(note, str) and len(note) > _SOS_NOTE_MAX:
            # Her words matter more than the limit: keep their start.
            body["note"] = note[:_SOS_NOTE_MAX]
            ignored["note"] = [f"cut to its first {_SOS_NOTE_MAX} characters"]
        try:
            loaded = super().load(body, unknown=ma.RAISE)
        except ma.ValidationError as err:
            errors = err.messages if isinstance(err.messages, dict) else {"_schema": err.messages}
            # A position is kept whole or not at all: half of one, or one in an unknown
            # system, could put the supervisor's map hundreds of metres off.
            bad_position = any(key in _SOS_POSITION or key == "_schema" for key in errors)
            dropped = (set(_SOS_POSITION) if bad_position else set()) | set(errors)
            ignored.update(errors)
            if bad_position:
                ignored["position"] = {key: body[key] for key in _SOS_POSITION if key in body}
            try:
                loaded = super().load({k: v for k, v in body.items() if k not in dropped},
                                      unknown=ma.RAISE)
            except ma.ValidationError as still:  # cannot happen today; never refuse anyway
                ignored["_rest"] = still.messages
                loaded = super().load({}, unknown=ma.RAISE)
        loaded["ignored"] = ignored or None
        return loaded



class SosAlertSchema(AlertSchema):
    supervisors_paged = ma.fields.Integer(metadata={
        "description": "Supervisors an urgent message was queued for"})


class ConfirmNurseSchema(DoorFields):
    order_id = ma.fields.Integer()
    door_verified_at = ma.fields.DateTime(allow_none=True)
    unverified_check_in = ma.fields.Boolean()


class CorrectionCreateSchema(ma.Schema):
    """Corrected times of the visit (one or both) and why."""

    checked_in_at = ma.fields.AwareDateTime(load_default=None, allow_none=True)
    checked_out_at = ma.fields.AwareDateTime(load_default=None, allow_none=True)
    reason = Text(required=True, validate=validate.Length(min=1, max=500))

    @ma.validates_schema
    def _some_time(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("checked_in_at") is None and data.get("checked_out_at") is None:
            raise ma.ValidationError("give checked_in_at, checked_out_at or both",
                                     "checked_in_at")


class CorrectionDecisionSchema(ma.Schema):
    note = Text(load_default=None, allow_none=True, validate=validate.Length(min=1, max=500),
                metadata={"description": "Why (required to reject)"})


class CorrectionSchema(ma.Schema):
    id = ma.fields.Integer()
    order_id = ma.fields.Integer()
    nurse_id = ma.fields.Integer()
    requested_by = ma.fields.Integer()
    checked_in_at = ma.fields.DateTime(allow_none=True)
    checked_out_at = ma.fields.DateTime(allow_none=True)
    original_checked_in_at = ma.fields.DateTime(allow_none=True)
    original_checked_out_at = ma.fields.DateTime(allow_none=True)
    reason = ma.fields.String()
    status = ma.fields.String(metadata={"enum": ["pending", "approved", "rejected"]})
    decided_by = ma.fields.Integer(allow_none=True)
    decided_at = ma.fields.DateTime(allow_none=True)
    decision_note = ma.fields.String(allow_none=True)
    created_at = ma.fields.DateTime()


class NoShowSchema(OptionalPosition):
    """A no-show: the nurse at the door gives her position (any coord_system); a
    supervisor gives only the reason."""

    reason = Text(required=True, validate=validate.Length(min=1, max=500), metadata={
        "description": "Not at home, refused the visit, ..."})
    accuracy_m = ma.fields.Float(load_default=None, allow_none=True,
                                 validate=validate.Range(0, 10000))


class NoShowOutSchema(PlaceOutFields):
    """The no-show; with the nurse's position (WGS-84 and GCJ-02) and how far it was
    from the address when she reported it."""

    order_id = ma.fields.Integer()
    status = ma.fields.String()
    reason = ma.fields.String()
    distance_m = ma.fields.Float(allow_none=True)
    geofence_m = ma.fields.Integer(allow_none=True)
    within_geofence = ma.fields.Boolean(allow_none=True, metadata={
        "description": "False: accepted but flagged, and a geofence alert was opened"})
    alert_id = ma.fields.Integer(allow_none=True)


class TrackingSchema(PlaceOutFields):
    """The nurse on her way: her latest position since departure (WGS-84 and GCJ-02 for
    the map; null until her first ping), the ETA to the address by the travel model."""

    order_id = ma.fields.Integer()
    status = ma.fields.String()
    departed_at = ma.fields.DateTime()
    accuracy_m = ma.fields.Float(allow_none=True)
    eta_min = ma.fields.Float(allow_none=True, metadata={
        "description": "Minutes from her position to the address (travel model)"})
    updated_at = ma.fields.DateTime(allow_none=True, metadata={
        "description": "When the position was recorded"})

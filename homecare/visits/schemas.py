"""Request and response shapes for visit execution and the care record."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import validate

from homecare.alerts.schemas import AlertSchema
from homecare.schemas import LocationSchema, PlaceInSchema, PlaceOutFields

COORD_SYSTEMS = ("wgs84", "gcj02", "bd09")


class VitalsSchema(ma.Schema):
    """Vital signs, each range-checked: a value outside its range is a typing error,
    not a patient in trouble (that range would be far wider than these)."""

    systolic_mmhg = ma.fields.Integer(validate=validate.Range(50, 260),
                                      metadata={"description": "Blood pressure, systolic"})
    diastolic_mmhg = ma.fields.Integer(validate=validate.Range(30, 160),
                                       metadata={"description": "Blood pressure, diastolic"})
    pulse_bpm = ma.fields.Integer(validate=validate.Range(20, 250))
    temperature_c = ma.fields.Float(validate=validate.Range(32.0, 43.0))
    spo2_pct = ma.fields.Integer(validate=validate.Range(50, 100),
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
    name = ma.fields.String(required=True, validate=validate.Length(min=1, max=100))
    quantity = ma.fields.Integer(load_default=1, validate=validate.Range(1, 1000))
    unit = ma.fields.String(load_default=None, allow_none=True,
                            validate=validate.Length(max=20))


class ProcedureSchema(ma.Schema):
    name = ma.fields.String()
    listed = ma.fields.Boolean(metadata={
        "description": "Whether it is one of the service item's procedures (else free text)"})


class CheckInSchema(PlaceInSchema):
    accuracy_m = ma.fields.Float(load_default=None, allow_none=True,
                                 validate=validate.Range(0, 10000))


class CheckInOutSchema(PlaceOutFields):
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


class CheckOutSchema(PlaceInSchema):
    """The nurse's position at check-out and the care record; no record, no check-out."""

    vitals = ma.fields.Nested(VitalsSchema, load_default=dict)
    procedures = ma.fields.List(
        ma.fields.String(validate=validate.Length(min=1, max=200)), required=True,
        validate=validate.Length(min=1, max=30, error="list at least one procedure done"),
        metadata={"description": "The item's procedures done, or free text"})
    notes = ma.fields.String(load_default=None, allow_none=True,
                             validate=validate.Length(max=4000))
    consumables = ma.fields.List(ma.fields.Nested(ConsumableSchema), load_default=list,
                                 validate=validate.Length(max=50))


class VisitRecordSchema(ma.Schema):
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
    started_at = ma.fields.DateTime(metadata={"description": "Check-in"})
    ended_at = ma.fields.DateTime(metadata={"description": "Check-out"})
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


class SosSchema(ma.Schema):
    """The one-key alarm. The position is optional: an alarm is never refused for want
    of a GPS fix; without one the nurse's last reported position is used."""

    lat = ma.fields.Float(load_default=None, allow_none=True, validate=validate.Range(-90, 90))
    lng = ma.fields.Float(load_default=None, allow_none=True,
                          validate=validate.Range(-180, 180))
    coord_system = ma.fields.String(load_default="wgs84", validate=validate.OneOf(COORD_SYSTEMS))
    accuracy_m = ma.fields.Float(load_default=None, allow_none=True,
                                 validate=validate.Range(0, 100000))
    note = ma.fields.String(load_default=None, allow_none=True,
                            validate=validate.Length(max=300))

    @ma.validates_schema
    def _both_or_neither(self, data: dict[str, Any], **_: Any) -> None:
        if (data.get("lat") is None) != (data.get("lng") is None):
            raise ma.ValidationError("give lat and lng together, or neither",
                                     "lat" if data.get("lat") is None else "lng")

    @ma.post_load
    def _to_wgs84(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        from homecare.geo import to_wgs84

        system = data.pop("coord_system")
        if data["lat"] is not None:
            point = to_wgs84(data["lat"], data["lng"], system)
            data["lat"], data["lng"] = point.lat, point.lng
        return data


class SosAlertSchema(AlertSchema):
    supervisors_paged = ma.fields.Integer(metadata={
        "description": "Supervisors an urgent message was queued for"})

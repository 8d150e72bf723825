"""Request and response shapes for family beds (家庭病床): episodes, plans, visits."""

from __future__ import annotations

import datetime as dt
from typing import Any

import marshmallow as ma
from marshmallow import validate

from homecare.catalogue.schemas import CODE
from homecare.family_beds.models import CLOSE_REASONS, FAMILY_BED_STATUSES
from homecare.schemas import HH_MM, RowId, Text
from homecare.visits.schemas import ProcedureSchema

WEEKDAYS = "ISO weekdays, Monday = 1 ... Sunday = 7"
# Any real episode lies well inside this; it also keeps date arithmetic (start + 90
# days, the horizon) far from the end of Python's calendar.
DATES = validate.Range(dt.date(2000, 1, 1), dt.date(2199, 12, 31),
                       error="must be between 2000-01-01 and 2199-12-31")


def _written(value: str) -> None:
    if not value.strip():
        raise ma.ValidationError("must not be blank")


def _text(max_length: int, **kwargs: Any) -> Text:
    return Text(validate=[validate.Length(min=1, max=max_length), _written], **kwargs)


class TimeOfDay(ma.fields.Time):
    """A local time of day written exactly ``HH:MM`` (strptime alone also takes ``9:3``)."""

    def __init__(self, **kwargs: Any) -> None:
        metadata = {"pattern": HH_MM.regex.pattern, "example": "09:00",
                    **kwargs.pop("metadata", {})}
        super().__init__(format="%H:%M", metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> dt.time:
        HH_MM(value)
        return super()._deserialize(value, attr, data, **kwargs)


def _distinct(days: list[int]) -> None:
    if len(set(days)) != len(days):
        raise ma.ValidationError("must not name a day twice")


class PlanLineSchema(ma.Schema):
    """One line of the care plan: an item on some weekdays in a local window."""

    line_no = ma.fields.Integer(dump_only=True, metadata={
        "description": "1, 2, ... in the order given; generated visits name their line"})
    service_code = Text(required=True, validate=CODE, metadata={
        "description": "An active catalogue item (GET /services)"})
    weekdays = ma.fields.List(
        ma.fields.Integer(strict=True, validate=validate.Range(1, 7)), required=True,
        validate=[validate.Length(min=1, max=7), _distinct],
        metadata={"description": WEEKDAYS, "example": [1, 3, 5]})
    window_start = TimeOfDay(required=True, metadata={
        "description": "Local time of day (service area zone), within the service hours"})
    window_end = TimeOfDay(required=True, metadata={
        "description": "Local time of day, at least the item's duration after window_start",
        "example": "11:00"})


class FamilyBedCreateSchema(ma.Schema):
    patient_id = RowId(strict=True, required=True, metadata={
        "description": "A care recipient the supervisor's organization serves"})
    address_id = RowId(strict=True, required=True, metadata={
        "description": "An address of that recipient inside the organization's service area"})
    diagnosis = _text(500, required=True)
    start_date = ma.fields.Date(required=True, validate=DATES, metadata={
        "description": "Local date, today or later"})
    end_date = ma.fields.Date(required=True, validate=DATES, metadata={
        "description": "Local date, included; the episode lasts at most "
                       "HOMECARE_FAMILY_BED_MAX_DAYS days (default 90)"})
    plan = ma.fields.List(ma.fields.Nested(PlanLineSchema), required=True,
                          validate=validate.Length(min=1, max=20), metadata={
        "description": "The care plan. Its first line's item is the first round (查床) "
                       "when the plan itself has no visit within 24 h of the opening"})
    responsible_nurse_id = RowId(strict=True, allow_none=True, load_default=None, metadata={
        "description": "The responsible nurse (责任护士), an active nurse of the organization: "
                       "generated visits are offered to her first, alone"})


PLAN = ("The new care plan: a new plan version. Future visits that no longer fit are "
        "cancelled (with notifications), those that fit are kept, missing ones are "
        "generated up to the horizon")


class FamilyBedUpdateSchema(ma.Schema):
    plan = ma.fields.List(ma.fields.Nested(PlanLineSchema), validate=validate.Length(
        min=1, max=20), metadata={"description": PLAN})
    end_date = ma.fields.Date(validate=DATES, metadata={
        "description": "Local date, today or later, within HOMECARE_FAMILY_BED_MAX_DAYS of "
                       "start_date; visits after it are cancelled, new ones generated"})
    responsible_nurse_id = RowId(strict=True, allow_none=True, metadata={
        "description": "The responsible nurse (责任护士); null for none"})
    reschedule_accepted = ma.fields.Boolean(load_default=False, metadata={
        "description": "Also cancel visits a nurse has accepted that no longer fit "
                       "(by default they stay)"})


class FamilyBedCloseSchema(ma.Schema):
    reason = Text(required=True, validate=validate.OneOf(CLOSE_REASONS), metadata={
        "description": "Why the episode ends (撤床). `deceased` also calls back a nurse on her "
                       "way and sends the family nothing more about the episode's visits"})
    summary = _text(2000, required=True, metadata={"description": "The discharge summary"})


class FamilyBedQueryArgsSchema(ma.Schema):
    status = Text(validate=validate.OneOf(FAMILY_BED_STATUSES))
    patient_id = RowId()


class OtherNurseSchema(ma.Schema):
    preferred_nurse_id = ma.fields.Integer()
    reason = ma.fields.String(metadata={"enum": [
        "declined", "offer_expired", "offer_withdrawn", "offer_open", "not_eligible",
        "assigned_by_supervisor", "not_offered"]})
    detail = ma.fields.String(allow_none=True, metadata={
        "description": "For not_eligible: the dispatch rule that excluded her and why"})


class FamilyBedVisitSchema(ma.Schema):
    order_id = ma.fields.Integer()
    line_no = ma.fields.Integer()
    service_code = ma.fields.String()
    service_date = ma.fields.Date()
    window_start = ma.fields.DateTime()
    window_end = ma.fields.DateTime()
    status = ma.fields.String(metadata={"description": "The order's status"})
    nurse_id = ma.fields.Integer(allow_none=True)
    first_round = ma.fields.Boolean(metadata={"description": "This visit is the first round"})
    plan_version = ma.fields.Integer(metadata={"description": "The plan version it belongs to"})
    withdrawn = ma.fields.String(allow_none=True, metadata={
        "description": "Why the episode itself cancelled it: plan_changed, end_date, closed",
        "enum": ["plan_changed", "end_date", "closed", None]})
    other_nurse = ma.fields.Nested(OtherNurseSchema, allow_none=True, metadata={
        "description": "Held or done by another nurse than the responsible one: why"})


class VisitCountsSchema(ma.Schema):
    done = ma.fields.Integer(metadata={"description": "Completed"})
    missed = ma.fields.Integer(metadata={"description": "Window passed with no nurse"})
    no_show = ma.fields.Integer()
    planned = ma.fields.Integer(metadata={"description": "Still to happen"})


class VisitChangesSchema(ma.Schema):
    cancelled = ma.fields.List(ma.fields.Integer())
    created = ma.fields.List(ma.fields.Integer())
    kept = ma.fields.List(ma.fields.Integer(), metadata={
        "description": "No longer fitting but kept: accepted (without reschedule_accepted) "
                       "or under way"})


class FamilyBedSchema(ma.Schema):
    """An episode; ``visits`` (the generated orders so far) only on the single episode."""

    id = ma.fields.Integer()
    status = ma.fields.String(metadata={"enum": list(FAMILY_BED_STATUSES)})
    organization_id = ma.fields.Integer()
    patient_id = ma.fields.Integer()
    address_id = ma.fields.Integer()
    diagnosis = ma.fields.String()
    start_date = ma.fields.Date()
    end_date = ma.fields.Date()
    responsible_nurse_id = ma.fields.Integer(allow_none=True)
    plan_version = ma.fields.Integer(metadata={"description": "1, then one more per change"})
    plan = ma.fields.List(ma.fields.Nested(PlanLineSchema), metadata={
        "description": "The current plan"})
    visit_counts = ma.fields.Nested(VisitCountsSchema)
    last_round_on = ma.fields.Date(allow_none=True, metadata={
        "description": "Local date of the last visit a nurse completed"})
    first_round_due = ma.fields.DateTime(metadata={
        "description": "24 h after the opening (the later of the time it was opened "
                       "and the start of start_date): the first round is due by then"})
    opened_by = ma.fields.Integer()
    opened_at = ma.fields.DateTime()
    closed_by = ma.fields.Integer(allow_none=True)
    closed_at = ma.fields.DateTime(allow_none=True)
    close_reason = ma.fields.String(allow_none=True, metadata={
        "enum": [*CLOSE_REASONS, None]})
    summary = ma.fields.String(allow_none=True)
    visits = ma.fields.List(ma.fields.Nested(FamilyBedVisitSchema), metadata={
        "description": "Generated visits, by window; absent from lists"})
    changes = ma.fields.Nested(VisitChangesSchema, metadata={
        "description": "Only in the answer to PATCH: the future visits it changed"})


class RecordPatientSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    gender = ma.fields.String()
    birth_date = ma.fields.Date()
    masked = ma.fields.Boolean()
    id_number = ma.fields.String(allow_none=True, metadata={
        "description": "In full for the owner; masked for staff"})
    phone = ma.fields.String(allow_none=True, metadata={
        "description": "In full for the owner; masked for staff"})
    address = ma.fields.String(allow_none=True)


class RecordCareSchema(ma.Schema):
    vitals = ma.fields.Dict()
    procedures = ma.fields.List(ma.fields.Nested(ProcedureSchema))
    notes = ma.fields.String(allow_none=True)
    recorded_at = ma.fields.DateTime()


class RecordOtherNurseSchema(ma.Schema):
    preferred_nurse_id = ma.fields.Integer(allow_none=True)
    reason = ma.fields.String(allow_none=True)
    detail = ma.fields.String(allow_none=True)


class RecordVisitSchema(ma.Schema):
    order_id = ma.fields.Integer()
    service_code = ma.fields.String()
    service_date = ma.fields.Date()
    window_start = ma.fields.DateTime()
    window_end = ma.fields.DateTime()
    status = ma.fields.String()
    status_reason = ma.fields.String(allow_none=True)
    first_round = ma.fields.Boolean()
    withdrawn = ma.fields.Boolean()
    nurse_id = ma.fields.Integer(allow_none=True)
    nurse_name = ma.fields.String(allow_none=True)
    checked_in_at = ma.fields.DateTime(allow_none=True)
    checked_out_at = ma.fields.DateTime(allow_none=True)
    other_nurse = ma.fields.Nested(RecordOtherNurseSchema, allow_none=True, metadata={
        "description": "Why the episode's responsible nurse did not make this visit"})
    care_record = ma.fields.Nested(RecordCareSchema, allow_none=True)


class RecordAlertSchema(ma.Schema):
    alert_id = ma.fields.Integer()
    kind = ma.fields.String()
    severity = ma.fields.String()
    status = ma.fields.String()
    order_id = ma.fields.Integer(allow_none=True)
    detail = ma.fields.String(allow_none=True)
    resolved_at = ma.fields.DateTime(allow_none=True)


class RecordVitalsSchema(ma.Schema):
    at = ma.fields.DateTime()
    order_id = ma.fields.Integer()
    vitals = ma.fields.Dict()


class RecordEntrySchema(ma.Schema):
    at = ma.fields.DateTime()
    kind = ma.fields.String(metadata={"enum": list(
        ("opened", "plan", "event", "visit", "alert", "closed"))})
    data = ma.fields.Dict(metadata={
        "description": "opened, plan (plan_version, plan), event (event: end_date_changed, "
                       "responsible_nurse_changed, visits_changed, nurse_passed_over; its "
                       "details), closed (reason, summary)"})
    visit = ma.fields.Nested(RecordVisitSchema, metadata={
        "description": "For a visit: order_id, service_code, window, status, nurse, "
                       "check-in/out and care_record (vitals, procedures, notes)"})
    alert = ma.fields.Nested(RecordAlertSchema, metadata={
        "description": "For an alert: kind, severity, status, detail"})


class FamilyBedRecordSchema(ma.Schema):
    family_bed = ma.fields.Nested(FamilyBedSchema)
    responsible_nurse_name = ma.fields.String(allow_none=True)
    patient = ma.fields.Nested(RecordPatientSchema)
    entries = ma.fields.List(ma.fields.Nested(RecordEntrySchema), metadata={
        "description": "In time order"})
    vitals = ma.fields.List(ma.fields.Nested(RecordVitalsSchema), metadata={
        "description": "Vitals over time: at, order_id, vitals"})
    generated_at = ma.fields.DateTime()

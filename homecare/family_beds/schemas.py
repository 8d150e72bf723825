"""Request and response shapes for family beds (家庭病床): episodes, plans, visits."""

from __future__ import annotations

import datetime as dt
from typing import Any

import marshmallow as ma
from marshmallow import validate

from homecare.catalogue.schemas import CODE
from homecare.family_beds.models import FAMILY_BED_STATUSES
from homecare.schemas import FullMatch, RowId, Text

HH_MM = FullMatch(r"([01][0-9]|2[0-3]):[0-5][0-9]",
                  error="must be a local time of day HH:MM, 00:00-23:59")
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


class FamilyBedCloseSchema(ma.Schema):
    reason = _text(500, required=True, metadata={
        "description": "Why the episode ends (撤床); also the cancelled visits' reason"})
    summary = _text(2000, required=True, metadata={"description": "The discharge summary"})


class FamilyBedQueryArgsSchema(ma.Schema):
    status = Text(validate=validate.OneOf(FAMILY_BED_STATUSES))
    patient_id = RowId()


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
    plan = ma.fields.List(ma.fields.Nested(PlanLineSchema))
    first_round_due = ma.fields.DateTime(metadata={
        "description": "24 h after the opening (the later of the time it was opened "
                       "and the start of start_date): the first round is due by then"})
    opened_by = ma.fields.Integer()
    opened_at = ma.fields.DateTime()
    closed_by = ma.fields.Integer(allow_none=True)
    closed_at = ma.fields.DateTime(allow_none=True)
    close_reason = ma.fields.String(allow_none=True)
    summary = ma.fields.String(allow_none=True)
    visits = ma.fields.List(ma.fields.Nested(FamilyBedVisitSchema), metadata={
        "description": "Generated visits, by window; absent from lists"})

"""Response shapes for the audit trail."""

from __future__ import annotations

import marshmallow as ma

from homecare.schemas import MAX_ID, MOMENTS, Pattern, RowId

SUBJECT_TYPES = ("patient", "order", "nurse", "user", "family_bed", "alert", "offer",
                 "care_record", "day_plan", "duty_span")


def _subject_id_in_range(value: str) -> None:
    number = value.partition(":")[2]
    if number.isascii() and number.isdigit() and not 1 <= int(number) <= MAX_ID:
        raise ma.ValidationError("the id is out of range")


class AuditQueryArgsSchema(ma.Schema):
    subject = Pattern(rf"({'|'.join(SUBJECT_TYPES)}):[0-9]{{1,10}}",
                      error="must be type:id, e.g. patient:12 or order:7",
                      validate=_subject_id_in_range, metadata={
                          "description": "type:id of the object: " + ", ".join(SUBJECT_TYPES)
                          + " (an order's trail includes its care record, alerts, offers)",
                          "example": "patient:12"})
    actor_id = RowId(metadata={"description": "Who acted"})
    since = ma.fields.AwareDateTime(validate=MOMENTS, metadata={
        "description": "From this moment (included)"})
    until = ma.fields.AwareDateTime(validate=MOMENTS, metadata={
        "description": "Before this moment (excluded)"})


class AuditEntrySchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    at = ma.fields.DateTime()
    actor_id = ma.fields.Integer(allow_none=True, metadata={"description": "None: the service"})
    actor_role = ma.fields.String()
    action = ma.fields.String(metadata={"example": "order.in_service"})
    object_type = ma.fields.String(metadata={"example": "order"})
    object_id = ma.fields.Integer()
    organization_id = ma.fields.Integer(allow_none=True)
    ip = ma.fields.String(allow_none=True)
    detail = ma.fields.Dict(allow_none=True)

"""Request and response shapes for alerts."""

from __future__ import annotations

import datetime as dt

import marshmallow as ma
from marshmallow import validate

from homecare.alerts.models import ALERT_KINDS
from homecare.alerts.service import ALERT_STATUSES
from homecare.schemas import LocationSchema, RowId, Text


class AlertSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    organization_id = ma.fields.Integer()
    kind = ma.fields.String(metadata={"enum": list(ALERT_KINDS)})
    severity = ma.fields.String(metadata={"enum": ["warning", "high", "critical"]})
    status = ma.fields.String(metadata={"enum": list(ALERT_STATUSES)})
    order_id = ma.fields.Integer(allow_none=True)
    nurse_id = ma.fields.Integer(allow_none=True)
    family_bed_id = ma.fields.Integer(allow_none=True, metadata={
        "description": "The family-bed episode it is about (family_bed_* kinds)"})
    detail = ma.fields.String(allow_none=True)
    position = ma.fields.Nested(LocationSchema, allow_none=True, dump_only=True, metadata={
        "description": "Where the nurse was (SOS), WGS-84 with a GCJ-02 copy"})
    raised_at = ma.fields.DateTime()
    acked_by = ma.fields.Integer(allow_none=True)
    acked_at = ma.fields.DateTime(allow_none=True)
    resolved_by = ma.fields.Integer(allow_none=True)
    resolved_at = ma.fields.DateTime(allow_none=True)


class AlertQueryArgsSchema(ma.Schema):
    kind = Text(validate=validate.OneOf(ALERT_KINDS))
    status = Text(validate=validate.OneOf(ALERT_STATUSES))
    date = ma.fields.Date(validate=validate.Range(dt.date(2000, 1, 1), dt.date(2199, 12, 31)),
                          metadata={"description": "Local date (service area zone) raised"})
    order_id = RowId()


class AlertResolveSchema(ma.Schema):
    note = Text(validate=validate.Length(max=500), load_default=None,
                metadata={"description": "What was done; kept on the audit trail"})

"""Response shapes for the audit trail."""

from __future__ import annotations

import marshmallow as ma


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

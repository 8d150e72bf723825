"""Request and response shapes for the notifications inbox."""

from __future__ import annotations

import marshmallow as ma


class NotificationSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True, metadata={
        "description": "Stable across redeliveries: drop a message whose id was seen"})
    kind = ma.fields.String(metadata={"description": (
        "order_approved, order_rejected, nurse_assigned, order_assigned, order_reassigned, "
        "nurse_departed, nurse_arrived, visit_completed, order_cancelled, "
        "order_cancelled_after_departure, order_expired, visit_no_show")})
    urgent = ma.fields.Boolean()
    order_id = ma.fields.Integer(allow_none=True)
    payload = ma.fields.Dict(metadata={"description": (
        "order_id, status, from_status, service_code, window_start, window_end; reason "
        "when one was given; nurse_name and planned_arrival for nurse_assigned")})
    created_at = ma.fields.DateTime()
    read_at = ma.fields.DateTime(allow_none=True)


class NotificationQueryArgsSchema(ma.Schema):
    unread = ma.fields.Boolean(load_default=False,
                               metadata={"description": "Only notifications not yet read"})

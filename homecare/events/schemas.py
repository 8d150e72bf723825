"""Request shapes of the event stream."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from homecare.schemas import Text


class LastEventIdHeaderSchema(ma.Schema):
    resume_from = Text(
        data_key="Last-Event-ID", load_default=None,
        validate=validate.Length(min=1, max=100),
        metadata={"description": (
            "The `id` of the last event received (EventSource sends it on reconnect): "
            "what came after it is replayed first. Without it the stream starts now; "
            "an id this stream never sends is 422 bad_last_event_id.")})

"""GET /events/stream: server-sent events, scoped to the caller (``events.service``)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

from flask import Response, stream_with_context
from flask.views import MethodView

from homecare.api import Blueprint, current_config
from homecare.auth import Actor, current_actor
from homecare.db import db, reading
from homecare.events import schemas, service
from homecare.events.service import Event

blp = Blueprint("events", __name__, description="Live updates (server-sent events)")

# How long a client waits before reconnecting after a stream closes (ms).
RETRY_MS = 3000


def _frame(event: Event) -> str:
    data = json.dumps(event.data, ensure_ascii=False, separators=(",", ":"))
    return f"id: {event.id}\nevent: {event.name}\ndata: {data}\n\n"


def _poll(actor: Actor, cursor: dict[str, int]) -> list[Event]:
    # A short read-only transaction per poll, ended at once: no connection (and on
    # SQLite no lock) is held while the stream sleeps.
    with reading():
        try:
            return service.events_after(db.session, actor, cursor)
        finally:
            db.session.commit()


def _stream(actor: Actor, cursor: dict[str, int], seconds: float,
            poll: float) -> Iterator[str]:
    # monotonic, not the service clock: this bounds a connection, it is no business time.
    deadline = time.monotonic() + seconds
    yield f"retry: {RETRY_MS}\n"
    yield _frame(Event(service.format_cursor(cursor), "ready", {"role": actor.role}))
    while True:
        events = _poll(actor, cursor)
        for event in events:
            yield _frame(event)
        if events:
            cursor = dict(part for part in _cursor_of(events[-1].id))
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        if not events:
            yield ": keep-alive\n\n"
        time.sleep(min(poll, remaining))


def _cursor_of(raw: str) -> Iterator[tuple[str, int]]:
    for part in raw.split("."):
        yield part[0], int(part[1:])


@blp.route("/events/stream")
class EventStream(MethodView):
    @blp.auth()
    @blp.arguments(schemas.LastEventIdHeaderSchema, location="headers")
    @blp.response(200, content_type="text/event-stream", description=(
        "A `text/event-stream`: `ready` (the cursor now), then `notification`, for "
        "supervisors `order`, `alert` and `repair` events, for patients `eta` events (her "
        "nurse on the way: `order_id`, `eta_min`, `lat`, `lng`, `gcj02`, `accuracy_m`, "
        "`updated_at`), each with an `id` to resume from"))
    @blp.problems(422)
    def get(self, headers):
        """Server-sent events for the caller; reconnect with `Last-Event-ID` to replay.

        A patient gets her own orders' updates and, while her nurse is on the way,
        an `eta` event each time a ping moves the ETA by a minute or more (none after
        check-in); a nurse her offers and visits; a supervisor also her
        organization's order events, alerts (SOS first) and finished plan repairs
        (`repair`: the day, and the orders moved, added, dropped and retimed with
        reasons; GET /dispatch/plan/repairs has the rest). The
        stream closes after HOMECARE_EVENTS_STREAM_SECONDS (the client reconnects
        with the last id it saw, as EventSource does by itself), so a stream holds a
        server thread for a bounded time; see the README's "The live day".
        """
        actor = current_actor()
        config = current_config()
        with reading():
            cursor = service.parse_cursor(headers["resume_from"], actor, db.session)
            db.session.commit()
        body = stream_with_context(_stream(actor, cursor, config.events_stream_seconds,
                                           config.events_poll_seconds))
        return Response(body, mimetype="text/event-stream", headers={
            "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

"""The clock: every "now" the service takes outside a test comes from here."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import flask


def _wall_clock() -> datetime:
    return datetime.now(UTC)


_source: Callable[[], datetime] = _wall_clock


def utcnow() -> datetime:
    """Now, timezone-aware in UTC: the app's clock when it was given one
    (``HOMECARE_CLOCK``: a live server in a browser test runs at a pinned instant),
    else the wall clock, unless a test pinned it (``pinned``)."""
    if flask.has_app_context():
        clock = flask.current_app.config.get("HOMECARE_CLOCK")
        if clock is not None:
            return clock()
    return _source()


@contextmanager
def pinned(at: datetime | Callable[[], datetime]) -> Iterator[None]:
    """Make ``utcnow`` answer ``at`` (or call it) inside the block: how a test pins the
    time every route and service sees, in one place (no test reads the wall clock)."""
    global _source
    before = _source
    _source = at if callable(at) else (lambda: at)
    try:
        yield
    finally:
        _source = before

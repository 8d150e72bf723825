"""The clock: every "now" the service takes outside a test comes from here."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime


def _wall_clock() -> datetime:
    return datetime.now(UTC)


_source: Callable[[], datetime] = _wall_clock


def utcnow() -> datetime:
    """Now, timezone-aware in UTC: the wall clock, unless a test pinned it (``pinned``)."""
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

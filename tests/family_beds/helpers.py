"""The family-bed tests' fixed clock, local times and plan lines."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from homecare.clock import utcnow
from tests.helpers import SHANGHAI, local_time

# A fixed clock for service tests: Tuesday 2030-05-07 09:00 in Shanghai.
NOW = datetime(2030, 5, 7, 1, 0, tzinfo=UTC)
TODAY = date(2030, 5, 7)
EVERY_DAY = [1, 2, 3, 4, 5, 6, 7]


# A wall-clock time of a day in the service area.
local = local_time


def local_tomorrow() -> date:
    """Tomorrow in the service area: route tests use the real clock."""
    return utcnow().astimezone(SHANGHAI).date() + timedelta(days=1)


def line(item, weekdays=None, start: str = "09:00", end: str = "11:00") -> dict:
    """A plan line as the API takes it."""
    return {"service_code": item.code, "weekdays": EVERY_DAY if weekdays is None else weekdays,
            "window_start": start, "window_end": end}


def service_line(item, weekdays=None, start: str = "09:00", end: str = "11:00") -> dict:
    """A plan line as the service takes it (times loaded)."""
    return {**line(item, weekdays, start, end), "window_start": time.fromisoformat(start),
            "window_end": time.fromisoformat(end)}

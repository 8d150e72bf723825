"""No test reads the wall clock: every "now" in a test comes from the app's clock, which
the root conftest starts at ``tests.helpers.NOW`` for every test."""

import re
from datetime import timedelta
from pathlib import Path

from homecare.clock import utcnow
from tests.helpers import NOW

ROOT = Path(__file__).resolve().parents[1]
WALL_CLOCK = re.compile(r"\b(?:datetime\.(?:now|utcnow|today)|date\.today|time\.time)\(")
# A live server in another process runs on the wall clock, and so must its client:
# the production tests' site (gunicorn, a real PostgreSQL) books "tomorrow" by it.
ALLOWED = {"tests/production/site.py"}


def test_no_test_reads_the_wall_clock():
    reads = [f"{path.relative_to(ROOT)}:{n}"
             for path in [ROOT / "conftest.py", *sorted((ROOT / "tests").rglob("*.py"))]
             if path.relative_to(ROOT).as_posix() not in ALLOWED
             for n, line in enumerate(path.read_text().splitlines(), 1)
             if WALL_CLOCK.search(line) and "WALL_CLOCK" not in line]
    assert reads == []


def test_a_test_starts_at_the_fixed_instant(fixed_clock):
    assert fixed_clock == NOW
    # It moves on as the test runs (leases and heartbeats need time to pass), from NOW.
    assert NOW <= utcnow() < NOW + timedelta(hours=1)


def test_pin_clock_overrides_the_fixed_instant(pin_clock):
    pin_clock(NOW + timedelta(days=3))
    assert utcnow() == NOW + timedelta(days=3)

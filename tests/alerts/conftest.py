"""Alert fixtures: the visit fixtures (a nurse's orders in any status) and a clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.factories import actor_of  # noqa: F401  (re-exported to test modules)

# A fixed clock: 2030-05-07 10:00 in Shanghai.
NOW = datetime(2030, 5, 7, 2, 0, tzinfo=UTC)


@pytest.fixture
def now():
    return NOW

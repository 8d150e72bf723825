"""Alert fixtures: the visit fixtures (a nurse's orders in any status) and a clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.visits.conftest import actor_of, item, visit  # noqa: F401

# A fixed clock: 2030-05-07 10:00 in Shanghai.
NOW = datetime(2030, 5, 7, 2, 0, tzinfo=UTC)


@pytest.fixture
def now():
    return NOW

"""Duty roster fixtures: a second supervisor of ``org``, and a clock the tests name."""

from __future__ import annotations

import pytest

from tests.factories import UserFactory
from tests.helpers import NOW


@pytest.fixture
def now():
    """The root conftest's pinned instant, for service calls."""
    return NOW


@pytest.fixture
def colleague(org):
    """Another active supervisor of ``org``."""
    return UserFactory(role="supervisor", organization_id=org.id)

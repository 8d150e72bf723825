"""Audit fixtures: the visit fixtures (a nurse's orders in any status)."""

from tests.visits.conftest import actor_of, item, visit  # noqa: F401

"""Audit fixtures: the visit fixtures (a nurse's orders in any status)."""

from tests.factories import actor_of  # noqa: F401  (re-exported to test modules)

"""Visit fixtures: a nurse of ``org``, an item with its procedures, and orders
assigned to her in any status at a Jining address (``tests.fixtures.visits``)."""

from __future__ import annotations

from tests.factories import actor_of  # noqa: F401  (re-exported to test modules)
from tests.helpers import address_of, north_of  # noqa: F401  (re-exported to test modules)

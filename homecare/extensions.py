"""Where the database, the API machinery, pagination and the clock used to live.

Kept as re-exports only: the migrations name ``homecare.extensions.UTCDateTime``
by path, and branches in flight still import from here. New code imports from
``homecare.db``, ``homecare.api``, ``homecare.pagination`` and ``homecare.clock``.
"""

from __future__ import annotations

from homecare.api import (  # noqa: F401
    Api,
    Blueprint,
    BodyParser,
    BoundedIntConverter,
    TextConverter,
    current_config,
)
from homecare.clock import utcnow  # noqa: F401
from homecare.db import (  # noqa: F401
    Base,
    Database,
    UTCDateTime,
    atomic,
    db,
    make_engine,
    reading,
    write_intent,
)
from homecare.pagination import Listing, ListPage, QueryPage, ViewPage  # noqa: F401

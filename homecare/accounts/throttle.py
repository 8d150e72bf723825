"""Rate limits that hold under concurrency: counting and recording happen under a
lock per key, on both databases.

PostgreSQL: a transaction-scoped advisory lock per key (released at commit or
rollback), taken in a fixed order so two requests never deadlock. SQLite: every
writing transaction begins IMMEDIATE (homecare/db.py), holding the
database's write lock, so the count and the insert are already serialized.
Without the lock, 30 parallel wrong passwords all counted 4 earlier failures and
all went on to try (18 x 401 instead of 5).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session


def _lock_id(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


def lock_keys(session: Session, keys: Iterable[str]) -> None:
    """Hold a lock on each key until the session's transaction ends."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for lock_id in sorted({_lock_id(key) for key in keys}):
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_id})


def seconds_until_allowed(attempts: list[datetime], limit: int, *, now: datetime,
                           window: timedelta) -> int | None:
    """None if fewer than ``limit`` attempts are in the window; else when one more may come.

    That is when enough of the oldest have left the window for the count to drop
    below the limit, i.e. when attempt number ``len - limit`` (oldest first) expires.
    """
    if len(attempts) < limit:
        return None
    freed_at = attempts[len(attempts) - limit] + window
    return max(1, math.ceil((freed_at - now).total_seconds()))

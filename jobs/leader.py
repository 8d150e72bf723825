"""One active scheduler per database: the leader lock, standing by, the heartbeat."""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from threading import Event
from typing import Protocol

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from homecare.db import make_engine
from homecare.ops.models import SchedulerHeartbeat

log = logging.getLogger(__name__)

# Namespaces our advisory lock key: other software on the same server may use
# advisory locks too.
_LOCK_NAMESPACE = "homecare.scheduler"
# Heartbeat rows of schedulers that stopped are kept this long (for /ready and
# for the operator asking "who ran the jobs last night"), then dropped.
_HEARTBEAT_KEEP = timedelta(days=1)


class Leadership(Protocol):
    """The right to run the jobs. Held for the process's lifetime; dies with it."""

    def try_acquire(self) -> bool: ...

    def still_held(self) -> bool: ...

    def release(self) -> None: ...


def lock_key(database: str, schema: str) -> int:
    """A signed 64-bit advisory lock key for one database and schema.

    The schema is part of it because test runs share a server, each in its own
    schema, and each must be able to elect its own scheduler.
    """
    digest = hashlib.blake2b(f"{_LOCK_NAMESPACE}:{database}:{schema}".encode(),
                             digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class AdvisoryLock:
    """PostgreSQL: a session-level ``pg_try_advisory_lock`` on a connection of its own.

    The server releases the lock when that connection ends, however the process
    died (even ``kill -9``), so a standby can take over.
    """

    def __init__(self, url: str) -> None:
        # NullPool: closing the connection must end the server session (and with
        # it the lock), not return it to a pool still holding the lock.
        # make_engine: its options too (hide_parameters keeps values out of errors).
        self._engine = make_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        self._conn: sa.Connection | None = None
        self.key: int | None = None

    def try_acquire(self) -> bool:
        if self._conn is not None:
            return True
        conn = self._engine.connect()
        try:
            database, schema = conn.execute(
                sa.text("SELECT current_database(), current_schema()")).one()
            key = lock_key(database, schema or "public")
            if conn.scalar(sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": key}):
                self._conn, self.key = conn, key
                return True
        except Exception:
            conn.close()
            raise
        conn.close()
        return False

    def still_held(self) -> bool:
        if self._conn is None:
            return False
        try:
            return bool(self._conn.scalar(sa.text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND pid = pg_backend_pid()")))
        except sa.exc.SQLAlchemyError:
            log.error("the scheduler lock's connection is gone; the lock is lost")
            return False

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
        except sa.exc.SQLAlchemyError:
            pass  # the connection is gone, and the lock with it
        finally:
            try:
                conn.close()
            except sa.exc.SQLAlchemyError:
                pass


class FileLock:
    """SQLite: an exclusive ``flock`` on a file next to the database file.

    The kernel drops the lock when the process dies, so a standby can take over.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def still_held(self) -> bool:
        if self._fd is None:
            return False
        # A lock file deleted (or replaced) under us would let another process lock
        # a new file of the same name: then we no longer hold the lock that counts.
        try:
            return os.stat(self.path).st_ino == os.fstat(self._fd).st_ino
        except FileNotFoundError:
            return False

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def leadership_for(app: Flask) -> Leadership:
    """The lock that elects this database's one scheduler."""
    config = app.config["HOMECARE"]
    url = sa.engine.make_url(config.database_url)
    if url.get_backend_name() == "postgresql":
        return AdvisoryLock(config.database_url)
    if url.get_backend_name() == "sqlite":
        database = url.database
        if database and database != ":memory:":
            return FileLock(Path(database + ".scheduler.lock").resolve())
        return FileLock(Path(config.instance_path) / "scheduler.lock")
    raise RuntimeError(f"no scheduler lock for {url.get_backend_name()} databases")


@dataclass
class Process:
    """This scheduler process: who it is, its lock, and when it lost the lock."""

    leadership: Leadership
    holder: str = field(default_factory=lambda: (
        f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"))
    started_at: datetime | None = None
    lost: Event = field(default_factory=Event)


def record_heartbeat(*, session: Session, holder: str, started_at: datetime,
                     now: datetime) -> None:
    """Write this scheduler's heartbeat (``/ready`` reports the newest); commits.

    Also drops the rows of schedulers that stopped beating a day ago.
    """
    beat = session.execute(
        sa.update(SchedulerHeartbeat).where(SchedulerHeartbeat.holder == holder)
        .values(beat_at=now).execution_options(synchronize_session=False))
    if beat.rowcount == 0:
        session.add(SchedulerHeartbeat(holder=holder, beat_at=now, started_at=started_at))
    session.execute(sa.delete(SchedulerHeartbeat).where(
        SchedulerHeartbeat.beat_at < now - _HEARTBEAT_KEEP,
        SchedulerHeartbeat.holder != holder).execution_options(synchronize_session=False))
    session.commit()

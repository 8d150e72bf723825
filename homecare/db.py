"""The database: the engine and its SQLite pragmas, one session per app context, the
model base and its UTC datetime type, and ``atomic`` (the one transaction decorator)."""

from __future__ import annotations

import contextvars
import functools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import flask
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import (
    DeclarativeBase,
    Session,
    SessionTransaction,
    scoped_session,
    sessionmaker,
)

# Whether the current unit of work may write. On SQLite such a transaction starts
# with BEGIN IMMEDIATE: taking the write lock up front means a busy database makes
# the writer wait (busy_timeout) instead of failing halfway with "database is
# locked" when a read lock cannot be upgraded. Every request counts as a writer,
# GETs included, because reads of sensitive records write audit entries; only
# code that surely writes nothing (the readiness probe) opts out with reading().
write_intent: contextvars.ContextVar[bool] = contextvars.ContextVar("write_intent",
                                                                   default=True)


class UTCDateTime(sa.types.TypeDecorator):
    """Timezone-aware datetimes stored in UTC on every backend.

    SQLite has no timezone type: without this, aware datetimes come back naive
    and comparisons with ``now`` break.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def insert_unless_taken(dialect: str, table: sa.Table, key: list[str]) -> sa.Insert:
    """``INSERT ... ON CONFLICT (key) DO NOTHING`` on ``table``: a row whose key is taken
    is not inserted, rather than failing (and rolling back the caller's work). Both
    dialects spell it alike, each with its own construct (there is no portable one)."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(table).on_conflict_do_nothing(index_elements=key)


def in_fixed(column: sa.ColumnElement, values) -> sa.ColumnElement[bool]:
    """``column IN (...)`` for a fixed set of values (a set of statuses), rendered once
    when the statement is compiled.

    ``column.in_(values)`` binds the list as one expanding parameter, whose SQL is
    rendered again on every execution (a fortieth of a ping's CPU); a parameter per
    value keeps the compiled statement as it is.
    """
    return column.in_([sa.literal(value, column.type) for value in sorted(values)])


class Base(DeclarativeBase):
    """Base of every model; constraint names are fixed so migrations are stable."""

    metadata = sa.MetaData(naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    })
    type_annotation_map = {datetime: UTCDateTime}


def make_engine(url: str, **kwargs: Any) -> sa.Engine:
    """An engine configured for safe concurrent use on SQLite or PostgreSQL."""
    # Bound parameters (password hashes, names, identity numbers) never go into an
    # exception's text, so no log line that quotes one can carry them.
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30,
                                                     "check_same_thread": False}, **kwargs)
        _configure_sqlite(engine)
        return engine
    engine = sa.create_engine(url, **kwargs)
    _ping_idle_connections(engine)
    return engine


# A pooled connection unused for longer than this is tested before it is handed out.
PING_AFTER_IDLE_SECONDS = 5.0


def _ping_idle_connections(engine: sa.Engine) -> None:
    """SQLAlchemy's ``pool_pre_ping``, for connections that sat idle only.

    The pre-ping catches a connection that died unused in the pool (a database
    restart or failover, a firewall's idle timeout) before a request trips over it.
    Testing every checkout costs a round trip on every request; a connection
    checked in moments ago by a busy worker worked moments ago, so only one idle
    for ``PING_AFTER_IDLE_SECONDS`` is tested. A connection that breaks in use is
    still caught by SQLAlchemy's disconnect handling: that request fails (503,
    ``errors.py``) and the whole pool is reconnected before the next checkout.
    """
    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn, record) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn, record, _proxy) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as exc:
            # The pool drops this connection and checks out a fresh one.
            raise sa.exc.DisconnectionError("idle connection failed its ping") from exc


def _configure_sqlite(engine: sa.Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # pysqlite's own transaction handling issues BEGIN lazily and cannot do
        # BEGIN IMMEDIATE; switch it off and begin ourselves below.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        # FULL: an accepted booking, alarm or care record survives a power cut too.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write_intent.get() else "BEGIN")


# Work that runs once, last, as a session's transaction really commits (see
# ``HomecareSession``), in registration order.
_BEFORE_ROOT_COMMIT: list[Callable[[Session], None]] = []


def before_root_commit(callback: Callable[[Session], None]) -> None:
    """Run ``callback(session)`` whenever a session commits, just before (idempotent)."""
    if callback not in _BEFORE_ROOT_COMMIT:
        _BEFORE_ROOT_COMMIT.append(callback)


class HomecareSession(Session):
    """A Session whose ``commit()`` first runs the ``before_root_commit`` callbacks.

    SQLAlchemy's ``before_commit`` event also fires each time a savepoint is released
    (``atomic`` runs every service call in one), so it cannot tell "this transaction is
    committing" from "a step inside it ended". ``Session.commit()`` always commits the
    outermost transaction; work that must be written last, after every other lock the
    transaction took (the repair queue's rows), hooks in here. A callback that raises
    stops the commit, as a failed flush would.
    """

    def commit(self) -> None:
        for callback in _BEFORE_ROOT_COMMIT:
            callback(self)
        super().commit()


class Database:
    """Per-app engine, and one session per app context (request, command, job run).

    Services receive ``session`` as an argument; routes and jobs pass ``db.session``.
    """

    def __init__(self) -> None:
        self.session = scoped_session(self._new_session, scopefunc=_scope_id)

    def init_app(self, app: flask.Flask) -> None:
        engine = make_engine(app.config["HOMECARE"].database_url)
        app.extensions["homecare.db"] = {
            "engine": engine,
            "factory": sessionmaker(bind=engine, expire_on_commit=False,
                                    class_=HomecareSession),
        }
        app.teardown_appcontext(self._teardown)

    @property
    def engine(self) -> sa.Engine:
        return flask.current_app.extensions["homecare.db"]["engine"]

    def bind_sessions(self, app: flask.Flask, **kwargs: Any) -> None:
        """Make the app's sessions use ``kwargs`` (tests bind them to one connection)."""
        app.extensions["homecare.db"]["factory"] = sessionmaker(expire_on_commit=False,
                                                                class_=HomecareSession,
                                                                **kwargs)

    def _new_session(self) -> Session:
        return flask.current_app.extensions["homecare.db"]["factory"]()

    def _teardown(self, _exc: BaseException | None) -> None:
        try:
            self.session.remove()
        except sa.exc.DBAPIError:
            # The database went away between the answer and this closing rollback (an
            # outage): the answer stands, as nothing uncommitted outlives a lost
            # connection (SQLAlchemy has invalidated it). Raised from here, gunicorn
            # would send a 500 instead of the answer.
            self.session.registry.clear()


def _scope_id() -> int:
    # One session per app context; a test's worker threads each push their own.
    return id(flask.globals.app_ctx._get_current_object())


db = Database()


@contextmanager
def reading() -> Iterator[None]:
    """Mark the enclosed unit of work as read-only (a deferred BEGIN on SQLite)."""
    token = write_intent.set(False)
    try:
        yield
    finally:
        write_intent.reset(token)


# session.info key: the root transaction whose only work so far is a Core read that
# opened it (``opening_read``).
_ONLY_READ = "homecare.only_read"


def opening_read(session: Session) -> sa.Connection:
    """The session's connection for a Core read (the caller of a request, ``auth``).

    If this read opens the session's transaction, the transaction is marked as having
    only read: the first ``atomic`` call in it then takes no savepoint, since rolling
    back the whole transaction takes nothing away (two round trips, SAVEPOINT and
    RELEASE, of a ping's six). A flush or a DML statement through ``session.execute``
    ends the mark; a write straight on the returned connection would not, so none is
    made there.
    """
    session = _plain(session)
    opens = not session.in_transaction()
    connection = session.connection()
    if opens:
        session.info[_ONLY_READ] = session.get_transaction()
    return connection


@event.listens_for(HomecareSession, "after_flush")
def _wrote_by_flush(session: Session, _context: Any) -> None:
    # A flush wrote rows: the transaction has work of its caller's to keep now, so the
    # next ``atomic`` call must take its savepoint.
    session.info.pop(_ONLY_READ, None)


@event.listens_for(HomecareSession, "do_orm_execute")
def _wrote_by_statement(state: Any) -> None:
    # The same for an INSERT/UPDATE/DELETE run through ``session.execute``.
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info.pop(_ONLY_READ, None)


def _plain(session: Session | scoped_session) -> Session:
    return session() if isinstance(session, scoped_session) else session


def transaction_set(session: Session | scoped_session, key: str) -> set:
    """A set kept in ``session.info[key]`` for the session's current transaction only: the
    next transaction (after a commit or a rollback) starts with an empty one."""
    session = _plain(session)
    transaction = session.get_transaction()
    entry = session.info.get(key)
    if entry is None or entry[0] is not transaction:
        entry = session.info[key] = (transaction, set())
    return entry[1]


# The savepoints of the ``atomic`` calls running on a session, innermost last.
_CALLS = "homecare.atomic_calls"


def atomic(func: Callable) -> Callable:
    """Decorate a service function so that a call that fails leaves nothing behind
    and takes nothing away.

    The call runs in a SAVEPOINT: what it flushed before failing is rolled back at
    once, not only when the request's session is closed, so a caller that goes on
    using the session (a job, a test) never commits half of a refused change, while
    the caller's own uncommitted work survives the refusal. That includes a flush
    the database refused (a unique key lost to a concurrent insert): SQLAlchemy has
    rolled back to the savepoint already, and the caller's work stands. So a service
    never calls ``session.rollback()`` on its failure path, which would take the
    caller's work too: it raises (``undo_call`` is for the one that must write
    something after undoing its own work). The function's own
    ``session.commit()`` commits the whole transaction (SQLAlchemy 2 commits the
    outermost one, releasing the savepoint); if it committed and then failed, what
    it wrote since is its own, and the session is rolled back.

    In a transaction that has only read so far (``opening_read``: a request's first
    service call after the caller's check) there is nothing of the caller's to keep:
    the call runs without a savepoint and a failure rolls the transaction back.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, session: Session, **kwargs: Any) -> Any:
        only_read = session.info.pop(_ONLY_READ, None)
        if (only_read is not None and only_read is _plain(session).get_transaction()
                and not (session.new or session.dirty or session.deleted)):
            calls = session.info.setdefault(_CALLS, [])
            calls.append(None)  # no savepoint: the transaction's work is all this call's
            try:
                return func(*args, session=session, **kwargs)
            except Exception:
                session.rollback()
                raise
            finally:
                calls.pop()
        savepoint = session.begin_nested()
        calls = session.info.setdefault(_CALLS, [])
        calls.append(savepoint)
        try:
            result = func(*args, session=session, **kwargs)
        except Exception:
            if _open(savepoint):
                savepoint.rollback()
            else:
                session.rollback()
            raise
        finally:
            calls.pop()
        if savepoint.is_active:
            # Returned without committing (a step of a larger change): its work
            # joins the caller's transaction.
            savepoint.commit()
        return result

    return wrapper


def _open(savepoint: SessionTransaction) -> bool:
    """Whether ``savepoint`` is still one of its session's transactions: active, or
    deactivated by a refused flush; not closed by a commit or a rollback."""
    # Its own Session: a scoped_session does not proxy get_nested_transaction.
    transaction = savepoint.session.get_nested_transaction()
    while transaction is not None:
        if transaction is savepoint:
            return True
        transaction = transaction.parent
    return False


def undo_call(session: Session) -> None:
    """Roll back what the innermost running ``atomic`` call has written, keeping its
    caller's uncommitted work; the call goes on in the caller's transaction.

    For a service that must write something that outlives its own refusal (a wrong
    visit code is counted although the check-in fails): it undoes its own work with
    this, writes, commits and raises. ``session.rollback()`` would discard the
    caller's work as well.

    :raises RuntimeError: no ``atomic`` call is running, or it has committed already.
    """
    calls = session.info.get(_CALLS)
    if calls and calls[-1] is None:
        # A call that took no savepoint (see ``atomic``): what the transaction holds is
        # its own work only.
        session.rollback()
        return
    if not calls or not _open(calls[-1]):
        raise RuntimeError("undo_call outside a running atomic call's savepoint")
    calls[-1].rollback()


def atomic_in_steps(func: Callable) -> Callable:
    """``atomic`` for a function that commits more than once by design (read, then a
    long computation holding no lock, then write: ``scheduling.service.plan_day``).

    Refused before its first commit, it leaves the caller's work as ``atomic`` does;
    failing after one, it rolls back the transaction it has open, which only it has
    written to. Its first commit would take the caller's pending changes along, so it
    refuses to start over any (flushed work cannot be told apart: the caller commits
    first, as the function's docstring says).

    :raises RuntimeError: the caller has unflushed changes (a programming error).
    """
    guarded = atomic(func)

    @functools.wraps(func)
    def wrapper(*args: Any, session: Session, **kwargs: Any) -> Any:
        if session.new or session.dirty or session.deleted:
            raise RuntimeError(f"{func.__name__} needs the caller's changes committed first")
        return guarded(*args, session=session, **kwargs)

    return wrapper

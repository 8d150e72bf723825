"""The database session, the model base and our flask-smorest Api and Blueprint."""

from __future__ import annotations

import contextvars
import functools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, NamedTuple

import flask
import flask_smorest
import sqlalchemy as sa
from flask_smorest.pagination import Page
from sqlalchemy import event
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session, sessionmaker
from webargs.core import missing
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.routing import IntegerConverter, UnicodeConverter, ValidationError

from homecare.schemas import MAX_ID

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


def utcnow() -> datetime:
    """Now, in UTC: the app's clock when it was given one (create_app(clock=...)),
    so a live server in a browser test runs at a pinned instant; else the wall clock."""
    if flask.has_app_context():
        clock = flask.current_app.config.get("HOMECARE_CLOCK")
        if clock is not None:
            return clock()
    return datetime.now(UTC)


def current_config():
    """The running app's Config (routes pass it to services; services never look it up)."""
    return flask.current_app.config["HOMECARE"]


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
    return sa.create_engine(url, pool_pre_ping=True, **kwargs)


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
            "factory": sessionmaker(bind=engine, expire_on_commit=False),
        }
        app.teardown_appcontext(self._teardown)

    @property
    def engine(self) -> sa.Engine:
        return flask.current_app.extensions["homecare.db"]["engine"]

    def bind_sessions(self, app: flask.Flask, **kwargs: Any) -> None:
        """Make the app's sessions use ``kwargs`` (tests bind them to one connection)."""
        app.extensions["homecare.db"]["factory"] = sessionmaker(expire_on_commit=False,
                                                                **kwargs)

    def _new_session(self) -> Session:
        return flask.current_app.extensions["homecare.db"]["factory"]()

    def _teardown(self, _exc: BaseException | None) -> None:
        self.session.remove()


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


def atomic(func: Callable) -> Callable:
    """Decorate a service function so that a call that fails leaves nothing behind.

    What it flushed is rolled back at once, not only when the request's session is
    closed, so a caller that goes on using the session (a job, a test) never
    commits half of a refused change.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, session: Session, **kwargs: Any) -> Any:
        try:
            return func(*args, session=session, **kwargs)
        except Exception:
            session.rollback()
            raise

    return wrapper


class QueryPage(Page):
    """Paginate a SQLAlchemy ``Select`` in the database, not in memory."""

    @property
    def item_count(self) -> int:
        stmt = self.collection.order_by(None)
        return db.session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery()))

    @property
    def items(self) -> list[Any]:
        if not isinstance(self.collection, sa.Select):
            return list(self.collection)[self.page_params.first_item:
                                         self.page_params.last_item + 1]
        if self.page_params.first_item >= self.item_count:
            # Past the end: answer empty instead of sending the database an
            # offset it may not be able to represent.
            return []
        stmt = self.collection.limit(self.page_params.page_size).offset(
            self.page_params.first_item)
        return list(db.session.scalars(stmt))


class Listing(NamedTuple):
    """A query and how a page of its rows becomes views, for lists whose items need
    more than their rows (masking by viewer, facts from other tables)."""

    stmt: sa.Select
    session: Session
    views: Callable[[list[Any]], list[Any]]


class ViewPage(Page):
    """Paginate a ``Listing`` in the database, then build views for that page only."""

    @functools.cached_property
    def item_count(self) -> int:
        listing = self.collection
        return listing.session.scalar(sa.select(sa.func.count()).select_from(
            listing.stmt.order_by(None).subquery()))

    @property
    def items(self) -> list[Any]:
        listing = self.collection
        if self.page_params.first_item >= self.item_count:
            # Past the end: empty, without sending the database an offset it may
            # not be able to represent.
            return []
        rows = list(listing.session.scalars(listing.stmt.limit(self.page_params.page_size)
                                            .offset(self.page_params.first_item)))
        return listing.views(rows)


class BoundedIntConverter(IntegerConverter):
    """``<int:id>`` limited to the database's integer range: a larger id is a plain
    404 from routing instead of an overflow error from the database."""

    def __init__(self, url_map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


class TextConverter(UnicodeConverter):
    """``<code>`` path parts that a string column can be compared with: a part holding
    NUL (``%00``; PostgreSQL text cannot hold it) or a lone surrogate matches no
    route, a plain 404, instead of failing in the database."""

    def to_python(self, value: str) -> str:
        if "\x00" in value:
            raise ValidationError()
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValidationError() from None
        return value


class BodyParser(FlaskParser):
    """webargs' parser, with bodies held to ``homecare.strict_input``: parsed safely
    (else a 400 like bad JSON), required, and typed as JSON types (else a 422)."""

    def _raw_load_json(self, req: flask.Request) -> Any:
        from homecare.strict_input import parse_json_body

        if not is_json_request(req):
            return missing
        try:
            return parse_json_body(req.get_data(cache=True))
        except ValueError as exc:
            self._handle_invalid_json_error(
                json.JSONDecodeError(str(exc)[:200], "", 0), req)

    def _load_location_data(self, *, schema: Any, req: flask.Request, location: str) -> Any:
        from marshmallow import ValidationError

        from homecare.strict_input import BODY_REQUIRED, LENIENT_BODY, json_type_errors

        data = super()._load_location_data(schema=schema, req=req, location=location)
        if location == "json" and not getattr(schema, LENIENT_BODY, False):
            if data is missing and not getattr(schema, "body_optional", False):
                raise ValidationError({"_schema": [BODY_REQUIRED]})
            errors = json_type_errors(schema, data)
            if errors:
                raise ValidationError(errors)
        return data


class ListPage(Page):
    """Paginate a list already in memory (small, computed collections)."""


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest Blueprint that also documents and enforces authentication."""

    ARGUMENTS_PARSER = BodyParser()

    def arguments(self, schema, *, location: str = "json", required: bool | None = None,
                  **kwargs: Any):
        """flask-smorest's ``arguments``; a JSON body is required (documented and
        enforced) unless the operation is a POST action none of whose fields is
        required (approve, cancel, sos)."""
        if location != "json" or required is not None:
            return super().arguments(schema, location=location,
                                     required=True if required is None else required, **kwargs)

        def decorator(func):
            instance = schema() if isinstance(schema, type) else schema
            optional = func.__name__ == "post" and not any(
                field.required for field in instance.load_fields.values())
            instance.body_optional = optional
            return super(Blueprint, self).arguments(
                instance, location=location, required=not optional, **kwargs)(func)

        return decorator

    def auth(self, *roles: str):
        """Require a valid access token, and one of ``roles`` when any are named.

        The caller is then available as ``current_actor()``. Documents the bearer
        scheme and the 401/403 problem responses in the OpenAPI spec.
        """
        from homecare.auth import authenticate

        def decorator(func):
            @functools.wraps(func)
            def wrapper(*args, **kwargs):
                authenticate(roles)
                return func(*args, **kwargs)

            wrapper = self.problems(401, 403 if roles else 401)(wrapper)
            return self.doc(security=[{"bearerAuth": []}])(wrapper)

        return decorator

    def problems(self, *statuses: int):
        """Document problem+json responses a route can return (404, 409, ...)."""
        import http

        def decorator(func):
            for status in sorted(set(statuses)):
                func = self.alt_response(status, response=http.HTTPStatus(status).name)(func)
            return func
        return decorator


class Api(flask_smorest.Api):
    """Our Api: errors are RFC 9457 problem+json, in the responses and in the spec."""

    DEFAULT_RESPONSE_CONTENT_TYPE = "application/json"

    def __init__(self, *args, **kwargs):
        from homecare.errors import ProblemSchema

        self.ERROR_SCHEMA = ProblemSchema
        super().__init__(*args, **kwargs)

    def _register_pagination_header(self):
        # flask-smorest documents X-Pagination as an object; on the wire it is a
        # JSON object in a string, and the document says so.
        from homecare.strict_input import PAGINATION_HEADER

        self.spec.components.header("PAGINATION", PAGINATION_HEADER, lazy=True)

    def _register_error_handlers(self):
        from homecare.errors import register_error_handlers

        register_error_handlers(self._app)

    def _register_responses(self):
        import http

        from flask_smorest.utils import prepare_response

        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, "application/problem+json")
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Default error response", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, "application/problem+json")
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)


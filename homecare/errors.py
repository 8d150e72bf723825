"""One error model: RFC 9457 problem+json for every error the service returns."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import marshmallow as ma
from flask import Flask, Response, g, json, request
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

PROBLEM_TYPE_BASE = "https://homecare.example.cn/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"


class Problem(Exception):
    """A business condition the client must hear about, with a stable ``code``.

    Subclasses live beside the service that raises them and set ``code``,
    ``title`` and ``status``; ``detail`` and extension members are per instance:
    ``raise OrderNotFound(order_id=7)``.
    """

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "Bad request"
    headers: dict[str, str]

    def __init__(self, detail: str | None = None, *, headers: dict[str, str] | None = None,
                 **extensions: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extensions = extensions
        self.headers = headers or {}

    @classmethod
    def type_uri(cls) -> str:
        return PROBLEM_TYPE_BASE + cls.code

    def to_dict(self) -> dict[str, Any]:
        body = {"type": self.type_uri(), "title": self.title, "status": self.status,
                "detail": self.detail, "code": self.code}
        body.update(self.extensions)
        return body


class NotFound(Problem):
    status, code, title = 404, "not_found", "Not found"


class Unauthorized(Problem):
    status, code, title = 401, "unauthorized", "Authentication required"


class Forbidden(Problem):
    status, code, title = 403, "forbidden", "Not allowed for this role"


class Conflict(Problem):
    status, code, title = 409, "conflict", "Conflict with the current state"


class ValidationProblem(Problem):
    """A request that is well formed but breaks a rule (422), naming the fields."""

    status, code, title = 422, "validation_failed", "The request is not valid"


class TooManyRequests(Problem):
    status, code, title = 429, "rate_limited", "Too many requests"


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details as this service sends them.

    Extension members (``order_id``, ``current_status``, ...) are part of the
    format, so the documented object admits additional properties.
    """

    class Meta:
        unknown = ma.INCLUDE

    type = ma.fields.String(metadata={"description": "URI naming the problem type"})
    title = ma.fields.String()
    status = ma.fields.Integer()
    detail = ma.fields.String()
    code = ma.fields.String(metadata={"description": "Stable machine-readable code"})
    instance = ma.fields.String()
    errors = ma.fields.Dict(metadata={"description": "Field name -> messages (validation)"})
    request_id = ma.fields.String()


def problem_response(body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    rid = getattr(g, "request_id", None)
    if rid:
        body.setdefault("request_id", rid)
    body.setdefault("instance", request.path)
    # An error may echo what the client sent (an unknown field's name), and JSON
    # lets a client send a lone surrogate ("\\ud800"), which UTF-8 cannot encode.
    # Written back as the same JSON escape, the body stays valid JSON, not a 500.
    text = json.dumps(body).encode("utf-8", "backslashreplace")
    response = Response(text, status=body["status"], mimetype=PROBLEM_MEDIA_TYPE)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _flatten_validation(messages: Any) -> dict[str, Any]:
    # webargs keys messages by location ({"json": {...}, "query": {...}}); the
    # clients want field -> messages, so merge the locations.
    if not isinstance(messages, dict):
        return {"_schema": messages}
    merged: dict[str, Any] = {}
    for location, fields in messages.items():
        if isinstance(fields, dict):
            merged.update(fields)
        else:
            merged[location] = fields
    return merged


def _handle_problem(exc: Problem) -> Response:
    if exc.status >= 500:
        log.error("problem %s: %s", exc.code, exc.detail)
    return problem_response(exc.to_dict(), exc.headers)


def _handle_http_exception(exc: HTTPException) -> Response:
    status = exc.code or 500
    data = getattr(exc, "data", None) or {}
    if status == 422 and "messages" in data:
        body = ValidationProblem("Some fields are missing or invalid",
                                 errors=_flatten_validation(data["messages"])).to_dict()
        return problem_response(body, data.get("headers"))
    if status >= 500:
        log.error("http %s: %s", status, exc.description)
    body = {"type": "about:blank", "title": exc.name, "status": status,
            "detail": exc.description if status < 500 else "Internal error",
            "code": exc.name.lower().replace(" ", "_").replace("'", "")}
    headers = dict(exc.get_response().headers) if status == 405 else {}
    return problem_response(body, {k: v for k, v in headers.items() if k == "Allow"})


def _handle_unexpected(exc: Exception) -> Response:
    if isinstance(exc, HTTPException):
        return _handle_http_exception(exc)
    from homecare.logging_setup import database_error_text

    scrubbed = database_error_text(exc)
    if scrubbed is not None:
        log.error("unhandled error: %s", scrubbed)  # never the values (see there)
    else:
        log.exception("unhandled error")
    body = {"type": "about:blank", "title": "Internal Server Error", "status": 500,
            "detail": "An unexpected error occurred; it has been logged.",
            "code": "internal_error"}
    return problem_response(body)


def _handle_database_busy(exc: OperationalError) -> Response:
    # A database that is down or locked past the busy timeout is an outage, not
    # a bug in the request: say so and let the client retry.
    log.error("database unavailable: %s", exc.orig.__class__.__name__)
    return problem_response(DatabaseUnavailable().to_dict(), {"Retry-After": "2"})


class DatabaseUnavailable(Problem):
    status, code, title = 503, "database_unavailable", "The database is unavailable"


def register_error_handlers(app: Flask) -> None:
    """Install the handlers: Problem, HTTP errors (incl. 422), anything else."""
    app.register_error_handler(Problem, _handle_problem)
    app.register_error_handler(OperationalError, _handle_database_busy)
    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(Exception, _handle_unexpected)

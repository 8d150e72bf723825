"""The HTTP API's machinery: our flask-smorest Api (problem+json errors) and Blueprint
(authentication), the body parser, the URL converters, the running app's Config."""

from __future__ import annotations

import functools
import http
import json
from typing import Any

import flask
import flask_smorest
from flask_smorest.utils import prepare_response
from marshmallow import ValidationError as SchemaValidationError
from webargs.core import missing
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.routing import IntegerConverter, UnicodeConverter, ValidationError

from homecare.auth import authenticate
from homecare.errors import ProblemSchema, register_error_handlers
from homecare.pagination import PAGINATION_HEADER
from homecare.schemas import MAX_ID
from homecare.strict_input import (
    BODY_REQUIRED,
    LENIENT_BODY,
    json_type_errors,
    parse_json_body,
)


def current_config():
    """The running app's Config (routes pass it to services; services never look it up)."""
    return flask.current_app.config["HOMECARE"]


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
        if not is_json_request(req):
            return missing
        try:
            return parse_json_body(req.get_data(cache=True))
        except ValueError as exc:
            self._handle_invalid_json_error(
                json.JSONDecodeError(str(exc)[:200], "", 0), req)

    def _load_location_data(self, *, schema: Any, req: flask.Request, location: str) -> Any:
        data = super()._load_location_data(schema=schema, req=req, location=location)
        if location == "json" and not getattr(schema, LENIENT_BODY, False):
            if data is missing and not getattr(schema, "body_optional", False):
                raise SchemaValidationError({"_schema": [BODY_REQUIRED]})
            errors = json_type_errors(schema, data)
            if errors:
                raise SchemaValidationError(errors)
        return data


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
        def decorator(func):
            @functools.wraps(func)
            def wrapper(*args, **kwargs):
                authenticate(roles)
                return func(*args, **kwargs)

            wrapper = self.problems(401, 403 if roles else 401)(wrapper)
            return self.doc(security=[{"bearerAuth": []}])(wrapper)

        return decorator

    def problems(self, *statuses: int):
        """Document problem+json responses a route can return (404, 409, ...).

        Documentation only: ``alt_response`` also wraps the view in a call layer of its
        own (each checking whether the view is a coroutine) that does nothing at run
        time, one per status on every request; its documentation is kept and its
        wrappers are dropped.
        """
        def decorator(func):
            documented = func
            for status in sorted(set(statuses)):
                documented = self.alt_response(
                    status, response=http.HTTPStatus(status).name)(documented)
            if documented is not func:
                func._apidoc = documented._apidoc
            return func
        return decorator


class Api(flask_smorest.Api):
    """Our Api: errors are RFC 9457 problem+json, in the responses and in the spec."""

    DEFAULT_RESPONSE_CONTENT_TYPE = "application/json"

    def __init__(self, *args, **kwargs):
        self.ERROR_SCHEMA = ProblemSchema
        super().__init__(*args, **kwargs)

    def _register_pagination_header(self):
        # flask-smorest documents X-Pagination as an object; on the wire it is a
        # JSON object in a string, and the document says so (homecare.pagination).
        self.spec.components.header("PAGINATION", PAGINATION_HEADER, lazy=True)

    def _register_error_handlers(self):
        register_error_handlers(self._app)

    def _register_responses(self):
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, "application/problem+json")
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Default error response", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, "application/problem+json")
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)

"""The shared schema pieces, and that every request schema of every domain uses them."""

from __future__ import annotations

import marshmallow as ma
import pytest
from marshmallow import validate

from homecare.schemas import MAX_ID, RowId, Text, wgs84_point


def _request_schemas(app):
    """Every schema a route reads its body, query or headers with, with its route."""
    for rule in app.url_map.iter_rules():
        view_class = getattr(app.view_functions[rule.endpoint], "view_class", None)
        for method in getattr(view_class, "methods", None) or ():
            func = getattr(view_class, method.lower())
            for param in getattr(func, "_apidoc", {}).get("arguments", {}).get("parameters", []):
                schema = param["schema"]
                yield f"{method} {rule.rule}", schema() if isinstance(schema, type) else schema


def _input_fields(schema: ma.Schema, path: str = ""):
    for name, field in schema.fields.items():
        if not field.dump_only:
            yield from _walk(field, f"{path}{name}")


def _walk(field: ma.fields.Field, path: str):
    if isinstance(field, ma.fields.Nested):
        yield from _input_fields(field.schema, path + ".")
    elif isinstance(field, ma.fields.List):
        yield from _walk(field.inner, path + "[]")
    elif isinstance(field, ma.fields.Dict):
        for part in (field.key_field, field.value_field):
            if part is not None:
                yield from _walk(part, path + "{}")
    else:
        yield path, field


def test_every_string_a_request_takes_is_text(app):
    # A plain String lets NUL and lone surrogates through to the database: a 500.
    plain = sorted({f"{route}: {path}" for route, schema in _request_schemas(app)
                    for path, field in _input_fields(schema)
                    if isinstance(field, ma.fields.String) and not isinstance(field, Text)})
    assert plain == []


def test_every_integer_a_request_takes_is_bounded(app):
    # An id past the 32-bit columns failed in the database (OverflowError, int4 out
    # of range): ids are RowId; any other integer has a Range within the columns.
    def bounded(field: ma.fields.Integer) -> bool:
        return any(isinstance(v, validate.Range) and v.min is not None and v.max is not None
                   and -MAX_ID - 1 <= v.min and v.max <= MAX_ID for v in field.validators)

    unbounded = sorted({f"{route}: {path}" for route, schema in _request_schemas(app)
                        for path, field in _input_fields(schema)
                        if isinstance(field, ma.fields.Integer) and not bounded(field)})
    misnamed = sorted({f"{route}: {path}" for route, schema in _request_schemas(app)
                       for path, field in _input_fields(schema)
                       if path.split(".")[-1].endswith("_id")
                       and not isinstance(field, RowId)})
    assert (unbounded, misnamed) == ([], [])


def test_request_schemas_were_found(app):
    routes = {route for route, _ in _request_schemas(app)}
    assert {"POST /api/v1/auth/login", "POST /api/v1/users", "GET /api/v1/nurses",
            "POST /api/v1/orders/<int:order_id>/sos"} <= routes


@pytest.mark.parametrize("value, message", [
    ("a\x00b", "must not contain NUL characters"),
    ("a\ud800b", "must be valid Unicode text (a lone surrogate is not a character)"),
])
def test_text_refuses_what_no_column_stores(value, message):
    with pytest.raises(ma.ValidationError) as refused:
        Text().deserialize(value)
    assert refused.value.messages == [message]


def test_text_takes_chinese_and_emoji():
    assert Text().deserialize("空腹采血 👍") == "空腹采血 👍"


def test_wgs84_point_checks_the_range_after_conversion():
    with pytest.raises(ma.ValidationError) as refused:
        wgs84_point(-90, -180, "bd09")
    assert set(refused.value.messages) == {"lat", "lng"}
    assert wgs84_point(-90, -180, "wgs84") == (-90, -180)


def test_wgs84_point_names_the_fields_it_was_given():
    with pytest.raises(ma.ValidationError) as refused:
        wgs84_point(-90, 0, "bd09", lat_field="near", lng_field="near")
    assert list(refused.value.messages) == ["near"]


def test_wgs84_point_refuses_a_conversion_that_overflows():
    with pytest.raises(ma.ValidationError):
        wgs84_point(1.7e308, 1.7e308, "bd09")

"""What a JSON body may be: parsed safely, and typed as JSON types, never coerced.

One mechanism for every operation, applied where bodies are read (the webargs
parser of our Blueprint), so no schema can forget it:

- ``parse_json_body``: JSON that cannot be parsed safely (malformed, nested too
  deeply, an integer beyond Python's 4,300-digit conversion limit, ``NaN`` or
  ``Infinity``, which are not JSON) is a 400 ``invalid_json``, never a 500.
- ``json_type_errors``: marshmallow coerces (``"yes"`` and ``1`` are true, ``"35.4"``
  is a float); a body field declared boolean must be a JSON boolean and one
  declared a number a JSON number. Query strings still carry text, so this is
  applied to bodies only.
- A body is required: an operation that reads one refuses a request without it
  (a PATCH with no body is a 422, not a silent 200 that changed nothing).
"""

from __future__ import annotations

import json
from typing import Any

import marshmallow as ma

BODY_REQUIRED = "a JSON body is required"
# A schema with this attribute true takes its body as it comes (the one-key alarm).
LENIENT_BODY = "lenient_body"


def _refuse_constant(name: str) -> Any:
    # Python's json accepts NaN, Infinity and -Infinity; JSON has no such tokens.
    raise ValueError(f"{name} is not JSON")


def parse_json_body(raw: bytes | str) -> Any:
    """The body's JSON value; ValueError for anything that cannot be parsed safely."""
    text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:  # '[' * 100000 exhausts the stack: malformed input
        raise ValueError("nested too deeply") from None
    # A ValueError also covers "Exceeds the limit (4300 digits) for integer string
    # conversion" and invalid UTF-8 (UnicodeDecodeError).


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def json_type_errors(schema: ma.Schema, data: Any) -> dict[str, Any]:
    """Field -> messages for body values whose JSON type is not the field's type."""
    if not isinstance(data, dict):
        return {}
    errors: dict[str, Any] = {}
    for name, field in schema.load_fields.items():
        key = field.data_key or name
        if key in data:
            data[key] = _integral(field, data[key])
            problem = _field_type_error(field, data[key])
            if problem:
                errors[key] = problem
    return errors


def _integral(field: ma.fields.Field, value: Any) -> Any:
    """JSON has one number type: ``5.0`` is the integer 5 (as JSON Schema says)."""
    if isinstance(field, ma.fields.List) and isinstance(value, list):
        return [_integral(field.inner, item) for item in value]
    if (isinstance(field, ma.fields.Integer) and isinstance(value, float)
            and value.is_integer() and abs(value) <= 2**63):
        return int(value)
    return value


def _field_type_error(field: ma.fields.Field, value: Any) -> Any:
    if value is None:
        return None  # allow_none decides
    if isinstance(field, ma.fields.Boolean):
        return None if isinstance(value, bool) else ["must be a JSON boolean (true or false)"]
    if isinstance(field, ma.fields.Number):
        return None if _is_number(value) else ["must be a JSON number"]
    if isinstance(field, ma.fields.Nested):
        nested = field.schema
        if nested.many or field.many:
            if not isinstance(value, list):
                return None
            found = {i: e for i, item in enumerate(value)
                     if (e := json_type_errors(nested, item))}
            return found or None
        return json_type_errors(nested, value) or None
    if isinstance(field, ma.fields.List) and isinstance(value, list):
        found = {i: e for i, item in enumerate(value)
                 if (e := _field_type_error(field.inner, item))}
        return found or None
    return None


# The document must say what is enforced, so that a generated client (or a fuzzer)
# can trust it. Registered on the spec's field converter by ``document_input``.
NO_NUL_PATTERN = r"^[^\u0000]*$"


def _enforced_attributes(self: Any, field: ma.fields.Field, ret: dict[str, Any],
                         **_: Any) -> dict[str, Any]:
    from homecare.schemas import Text

    out: dict[str, Any] = {}
    if isinstance(field, Text) and "pattern" not in ret and "enum" not in ret:
        out["pattern"] = NO_NUL_PATTERN  # text never holds NUL (PostgreSQL cannot)
    if "x-minimum" in ret and "x-maximum" in ret:
        span = f"Between {ret['x-minimum']} and {ret['x-maximum']}."
        described = ret.get("description") or field.metadata.get("description")
        out["description"] = f"{described.rstrip('.')}. {span}" if described else span
    for validator in field.validators:
        # apispec drops exclusivity: a minimum of 0 that refuses 0 is exclusiveMinimum.
        if (isinstance(validator, ma.validate.Range) and validator.min is not None
                and not validator.min_inclusive and "minimum" in ret):
            ret.pop("minimum")
            out["exclusiveMinimum"] = ret.get("exclusiveMinimum", validator.min)
    return out


def document_input(api: Any) -> None:
    """Make the spec say what this module enforces."""
    api.ma_plugin.converter.add_attribute_function(_enforced_attributes)

"""Marshmallow pieces every domain shares: text, places, phone numbers, masking, ids."""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import TYPE_CHECKING, Any

import marshmallow as ma
from marshmallow import validate

from homecare.geo import Point, from_wgs84, to_wgs84

if TYPE_CHECKING:
    from homecare.geo import Point

MOBILE_PATTERN = r"1[3-9][0-9]{9}"
# Ids are 32-bit integer columns: a larger number cannot name a row, and passed to
# the database it would fail there (a 500) instead of at the edge (a 404 or 422).
MAX_ID = 2**31 - 1
# Moments a query may name: far-off dates (year 1 or 9999 with an offset) cannot
# even be converted to UTC or local time, so they are refused at the edge (422).
MOMENTS = validate.Range(min=dt.datetime(2000, 1, 1, tzinfo=dt.UTC),
                         max=dt.datetime(2100, 1, 1, tzinfo=dt.UTC),
                         error="must be between 2000 and 2100")


def mask_phone(phone: str | None) -> str | None:
    """138****5678: enough for a person to recognise the number, not to dial it."""
    if not phone:
        return phone
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def mask_id_number(id_number: str | None) -> str | None:
    """110***********1234: region and last four only."""
    if not id_number:
        return id_number
    return id_number[:3] + "*" * (len(id_number) - 7) + id_number[-4:]


class Text(ma.fields.String):
    """Every string a request carries, in a body, a query or a header.

    Refuses what no column can store, so that it is a 422 naming the field here and
    not a 500 at the database: NUL (PostgreSQL text cannot hold it) and lone
    surrogates (JSON may spell ``"\\ud800"``, but it is no character and cannot be
    encoded as UTF-8 for SQLite, psycopg or argon2).
    """

    default_error_messages = {
        "nul": "must not contain NUL characters",
        "surrogate": "must be valid Unicode text (a lone surrogate is not a character)",
    }

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in text:
            raise self.make_error("nul")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise self.make_error("surrogate") from None
        return text


class FullMatch(validate.Regexp):
    """A pattern the *whole* value must match, in ASCII only: the one pattern check.

    ``re.match`` with ``^...$`` lets a trailing newline through (``$`` matches
    before it) and ``\\d`` matches any Unicode digit (full-width ``９``, Arabic-Indic,
    Devanagari): a look-alike phone number is a second account, or a 500 on
    PostgreSQL. The documented pattern is the same, anchored (ECMA ``$`` and ``\\d``
    are strict already).
    """

    def __init__(self, pattern: str, *, error: str | None = None) -> None:
        super().__init__(f"^(?:{pattern})$", flags=re.ASCII, error=error)

    def __call__(self, value: str) -> str:
        if not isinstance(value, str) or self.regex.fullmatch(value) is None:
            raise ma.ValidationError(self._format_error(value))
        return value


# A local time of day; family-bed plans and fee tables' night hours use it.
HH_MM = FullMatch(r"([01][0-9]|2[0-3]):[0-5][0-9]",
                  error="must be a local time of day HH:MM, 00:00-23:59")


class Pattern(Text):
    """A text field whose whole value matches ``pattern`` (ASCII): phones, codes,
    licence numbers. Every pattern-checked field is one of these."""

    def __init__(self, pattern: str, *, error: str | None = None, **kwargs: Any) -> None:
        extra = kwargs.pop("validate", None)
        checks = [FullMatch(pattern, error=error)]
        if extra is not None:
            checks += list(extra) if isinstance(extra, list | tuple) else [extra]
        super().__init__(validate=checks, **kwargs)


class Mobile(Pattern):
    """A mainland China mobile number (11 digits starting 13-19)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {"example": "13812345678"})
        super().__init__(MOBILE_PATTERN,
                         error="must be a mainland mobile number (11 digits, 1[3-9]...)",
                         **kwargs)


class RowId(ma.fields.Integer):
    """The id of a row given in a body or a query: a positive 32-bit integer."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("validate", validate.Range(1, MAX_ID))
        super().__init__(**kwargs)


COORD_SYSTEM_NAMES = ("wgs84", "gcj02", "bd09")
_LAT_DOC = {"minimum": -90, "maximum": 90,
            "description": "Latitude in coord_system; in range once converted to WGS-84"}
_LNG_DOC = {"minimum": -180, "maximum": 180,
            "description": "Longitude in coord_system; in range once converted to WGS-84"}


def wgs84_point(lat: float, lng: float, coord_system: str, *, lat_field: str = "lat",
                lng_field: str = "lng") -> Point:
    """The WGS-84 point for an input coordinate: the one place inputs are converted.

    The range is checked here, on the converted point, not on the input: BD-09 is
    offset by about 0.006 deg, so ``lat -90`` in BD-09 is -90.0055 in WGS-84, off the
    globe; stored, geopy refuses it at every later distance (a 500 on each address
    of the area once an organization's centre is such a point).

    :raises ValidationError: with the messages under ``lat_field`` and ``lng_field``.
    """
    try:
        point = to_wgs84(lat, lng, coord_system)
    except ValueError:  # a huge BD-09 input overflows the conversion
        point = Point(math.nan, math.nan)
    errors: dict[str, list[str]] = {}
    # Written so that NaN fails too.
    if not -90 <= point.lat <= 90:
        errors.setdefault(lat_field, []).append(
            "latitude must be between -90 and 90 once converted to WGS-84")
    if not -180 <= point.lng <= 180:
        errors.setdefault(lng_field, []).append(
            "longitude must be between -180 and 180 once converted to WGS-84")
    if errors:
        raise ma.ValidationError(errors)
    return point


class Gcj02Schema(ma.Schema):
    lat = ma.fields.Float()
    lng = ma.fields.Float()


class LocationSchema(ma.Schema):
    """A place held by another object (``center``, ``home``), in any coordinate system.

    Input may be WGS-84, GCJ-02 or BD-09; it is converted to WGS-84 on load.
    Output is WGS-84 with a GCJ-02 copy for display on Chinese maps.
    """

    lat = ma.fields.Float(required=True, metadata=_LAT_DOC)
    lng = ma.fields.Float(required=True, metadata=_LNG_DOC)
    coord_system = Text(load_default="wgs84", validate=validate.OneOf(COORD_SYSTEM_NAMES))
    gcj02 = ma.fields.Nested(Gcj02Schema, dump_only=True)

    @ma.post_load
    def _to_wgs84(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        point = wgs84_point(data["lat"], data["lng"], data.pop("coord_system"))
        return {"lat": point.lat, "lng": point.lng}

    @ma.pre_dump
    def _with_display_copy(self, data: Any, **_: Any) -> dict[str, Any]:
        return location_out(_get(data, "lat"), _get(data, "lng"))


def location_out(lat: float | None, lng: float | None) -> dict[str, Any] | None:
    """The response form of a stored WGS-84 place: WGS-84 plus a GCJ-02 copy."""
    if lat is None or lng is None:
        return None
    gcj = from_wgs84(Point(lat, lng), "gcj02")
    return {"lat": lat, "lng": lng, "coord_system": "wgs84",
            "gcj02": {"lat": round(gcj.lat, 7), "lng": round(gcj.lng, 7)}}


class PlaceInSchema(ma.Schema):
    """A resource that *is* a place (address, ping, check-in): top-level lat/lng.

    Subclasses add their own fields; ``post_load`` leaves WGS-84 ``lat``/``lng``.
    """

    lat = ma.fields.Float(required=True, metadata=_LAT_DOC)
    lng = ma.fields.Float(required=True, metadata=_LNG_DOC)
    coord_system = Text(load_default="wgs84", validate=validate.OneOf(COORD_SYSTEM_NAMES))

    @ma.post_load
    def _to_wgs84(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        point = wgs84_point(data["lat"], data["lng"], data.pop("coord_system"))
        data["lat"], data["lng"] = point.lat, point.lng
        return data


class PlaceOutFields(ma.Schema):
    """Response fields of a resource that is a place: WGS-84 and a GCJ-02 copy."""

    lat = ma.fields.Float(dump_only=True)
    lng = ma.fields.Float(dump_only=True)
    gcj02 = ma.fields.Method("_gcj02", dump_only=True)

    def _gcj02(self, obj: Any) -> dict[str, float] | None:
        out = location_out(_get(obj, "lat"), _get(obj, "lng"))
        return out["gcj02"] if out else None


def _get(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


class IdSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)

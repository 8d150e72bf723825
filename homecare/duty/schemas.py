"""Request and response shapes for the supervisors' duty roster."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import validate

from homecare.duty.service import MAX_SPAN, MAX_SPANS_PER_REQUEST, MAX_WINDOW
from homecare.schemas import MOMENTS, RowId

_SPAN_DAYS = MAX_SPAN.days
_WINDOW_DAYS = MAX_WINDOW.days


class DutySpanInSchema(ma.Schema):
    user_id = RowId(required=True, metadata={
        "description": "An active supervisor of the caller's organization"})
    start = ma.fields.AwareDateTime(required=True, validate=MOMENTS, metadata={
        "description": "A start before now is stored as now: a span never begins "
                       "before it was written"})
    end = ma.fields.AwareDateTime(required=True, validate=MOMENTS, metadata={
        "description": f"After start, at most {_SPAN_DAYS} days later, and after now"})

    @ma.validates_schema
    def _ordered(self, data: dict[str, Any], **_: Any) -> None:
        if data["end"] <= data["start"]:
            raise ma.ValidationError({"end": ["must be after start"]})
        if data["end"] - data["start"] > MAX_SPAN:
            raise ma.ValidationError({"end": [f"a span may not exceed {_SPAN_DAYS} days"]})


def _spans(**kwargs: Any) -> ma.fields.List:
    return ma.fields.List(
        ma.fields.Nested(DutySpanInSchema), required=True,
        validate=validate.Length(max=MAX_SPANS_PER_REQUEST, **kwargs), metadata={
            "description": f"At most {MAX_SPANS_PER_REQUEST}; one supervisor's spans may "
                           "not overlap each other or her spans that stay"})


class DutySpansAddSchema(ma.Schema):
    spans = _spans(min=1)


class _Window(ma.Schema):
    @ma.validates_schema
    def _window(self, data: dict[str, Any], **_: Any) -> None:
        start, end = data.get("start"), data.get("end")
        if start is None or end is None:
            return
        if end <= start:
            raise ma.ValidationError({"to": ["must be after from"]})
        if end - start > MAX_WINDOW:
            raise ma.ValidationError({"to": [f"a window may not exceed {_WINDOW_DAYS} days"]})


class DutyReplaceSchema(_Window):
    start = ma.fields.AwareDateTime(data_key="from", required=True, validate=MOMENTS)
    end = ma.fields.AwareDateTime(data_key="to", required=True, validate=MOMENTS, metadata={
        "description": f"After from, at most {_WINDOW_DAYS} days later"})
    spans = _spans()

    @ma.validates_schema
    def _inside(self, data: dict[str, Any], **_: Any) -> None:
        start, end = data.get("start"), data.get("end")
        if start is None or end is None:
            return
        outside = {index: {"start": ["the span must lie within from and to"]}
                   for index, span in enumerate(data.get("spans") or ())
                   if span["start"] < start or span["end"] > end}
        if outside:
            raise ma.ValidationError({"spans": outside})


class DutyQueryArgsSchema(_Window):
    start = ma.fields.AwareDateTime(data_key="from", validate=MOMENTS, metadata={
        "description": "Spans ending after this (default: now)"})
    end = ma.fields.AwareDateTime(data_key="to", validate=MOMENTS, metadata={
        "description": f"Spans starting before this (default: 7 days after from; at most "
                       f"{_WINDOW_DAYS} days after it)"})

    @ma.validates_schema
    def _to_needs_from(self, data: dict[str, Any], **_: Any) -> None:
        # Without from, "now" is the start: a window's length could not be checked here.
        if data.get("end") is not None and data.get("start") is None:
            raise ma.ValidationError({"from": ["required with to"]})


class DutySpanSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    user_id = ma.fields.Integer()
    start = ma.fields.DateTime()
    end = ma.fields.DateTime()
    created_by = ma.fields.Integer(allow_none=True)
    created_at = ma.fields.DateTime()

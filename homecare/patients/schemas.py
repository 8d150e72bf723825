"""Request and response shapes for care recipients and their addresses."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import marshmallow as ma
from marshmallow import validate

from homecare.clock import utcnow
from homecare.patients.identity import birth_date_of, id_number_problems, normalize
from homecare.schemas import Mobile, Pattern, PlaceInSchema, PlaceOutFields, Text

GENDERS = ("male", "female")
MOBILITY = ("independent", "assisted", "wheelchair", "bedridden")
ELIGIBILITY = ("elderly_disabled", "post_discharge", "rehabilitation", "terminal_care",
               "maternal_infant", "chronic")


def _latest_today():
    # Shape checks run without the configured zone; UTC+14 is the latest "today"
    # anywhere, so no real birth date is refused. The service checks ages exactly.
    return (utcnow() + timedelta(hours=14)).date()


class IdNumber(Pattern):
    """A mainland resident identity number (18 characters, check digit verified)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {
            "description": "18-character resident identity number; masked for all but the "
                           "owner (110***********1234)", "example": "11010519491231002X"})
        super().__init__(r"[0-9]{17}[0-9Xx]",
                         error="must be 18 characters: 17 digits and a digit or X", **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        # The pattern first (whole string, ASCII): a number it refuses is not normalized
        # into one that passes.
        self.validators[0](text)
        text = normalize(text)
        problems = id_number_problems(text, today=_latest_today())
        if problems:
            raise ma.ValidationError(problems)
        return text


def _not_future(value) -> None:
    if value > _latest_today():
        raise ma.ValidationError("must not be in the future")


class EmergencyContactSchema(ma.Schema):
    name = Text(required=True, validate=validate.Length(min=1, max=100))
    phone = Mobile(required=True)
    relation = Text(load_default=None, allow_none=True,
                                validate=validate.Length(max=30))


class EmergencyContactOutSchema(ma.Schema):
    """As sent back: the phone is masked for everyone but the owner, so no pattern."""

    name = ma.fields.String()
    phone = ma.fields.String(metadata={"example": "138****5678"})
    relation = ma.fields.String(allow_none=True)


_TEXT_LIST = {"validate": validate.Length(max=30)}


def _text_list(**kwargs: Any) -> ma.fields.List:
    return ma.fields.List(Text(validate=validate.Length(min=1, max=100)),
                          **_TEXT_LIST, **kwargs)


def _birth_matches_id(data: dict[str, Any]) -> None:
    if "id_number" in data and birth_date_of(data["id_number"]) != data.get("birth_date"):
        raise ma.ValidationError({"id_number": ["birth date in the number does not match "
                                                "birth_date"]})


class RecipientCreateSchema(ma.Schema):
    name = Text(required=True, validate=validate.Length(min=1, max=100))
    gender = Text(required=True, validate=validate.OneOf(GENDERS))
    birth_date = ma.fields.Date(required=True, validate=_not_future)
    id_number = IdNumber(required=True)
    phone = Mobile(load_default=None, allow_none=True)
    conditions = _text_list(load_default=list)
    allergies = _text_list(load_default=list)
    mobility = Text(load_default=None, allow_none=True,
                                validate=validate.OneOf(MOBILITY))
    eligibility = Text(required=True, validate=validate.OneOf(ELIGIBILITY))
    emergency_contact = ma.fields.Nested(EmergencyContactSchema, load_default=None,
                                         allow_none=True)
    consent = ma.fields.Boolean(required=True, validate=validate.Equal(
        True, error="consent to processing health data is required"), metadata={
        "description": "Separate consent to processing health data (PIPL art. 29); must be "
                       "true"})
    guardian_consent = ma.fields.Boolean(load_default=False, metadata={
        "description": "Required for a recipient under 14: the account holder consents as "
                       "guardian"})

    @ma.validates_schema
    def _id_matches_birth_date(self, data: dict[str, Any], **_: Any) -> None:
        _birth_matches_id(data)


class RecipientUpdateSchema(ma.Schema):
    """Owner: any field. Supervisor: the clinical ones (conditions, allergies, mobility,
    eligibility). ``id_number`` and ``birth_date`` change together."""

    name = Text(validate=validate.Length(min=1, max=100))
    gender = Text(validate=validate.OneOf(GENDERS))
    birth_date = ma.fields.Date(validate=_not_future)
    id_number = IdNumber()
    phone = Mobile(allow_none=True)
    conditions = _text_list()
    allergies = _text_list()
    mobility = Text(allow_none=True, validate=validate.OneOf(MOBILITY))
    eligibility = Text(validate=validate.OneOf(ELIGIBILITY))
    emergency_contact = ma.fields.Nested(EmergencyContactSchema, allow_none=True)
    guardian_consent = ma.fields.Boolean()

    @ma.validates_schema
    def _id_and_birth_date_together(self, data: dict[str, Any], **_: Any) -> None:
        if ("id_number" in data) != ("birth_date" in data):
            missing = "birth_date" if "id_number" in data else "id_number"
            raise ma.ValidationError({missing: ["id_number and birth_date change together"]})
        _birth_matches_id(data)


class AddressCreateSchema(PlaceInSchema):
    label = Text(required=True, validate=validate.Length(min=1, max=50),
                             metadata={"example": "家"})
    text = Text(required=True, validate=validate.Length(min=1, max=300),
                            metadata={"example": "山东省济宁市任城区古槐路1号3单元402"})
    district = Text(load_default=None, allow_none=True,
                                validate=validate.Length(max=50))


class AddressSchema(PlaceOutFields):
    id = ma.fields.Integer(dump_only=True)
    patient_id = ma.fields.Integer(dump_only=True)
    label = ma.fields.String(dump_only=True)
    text = ma.fields.String(dump_only=True)
    district = ma.fields.String(dump_only=True, allow_none=True)
    organization_id = ma.fields.Integer(dump_only=True, allow_none=True, metadata={
        "description": "The organization whose service area covers the address"})
    outside_service_area = ma.fields.Boolean(dump_only=True, metadata={
        "description": "No organization serves this place: accepted, but visits there "
                       "cannot be booked (problem code outside_service_area)"})
    created_at = ma.fields.DateTime(dump_only=True)


class AssessmentSchema(ma.Schema):
    organization_id = ma.fields.Integer()
    assessed_at = ma.fields.DateTime()


class RecipientSchema(ma.Schema):
    id = ma.fields.Integer()
    owner_id = ma.fields.Integer()
    name = ma.fields.String()
    gender = ma.fields.String()
    birth_date = ma.fields.Date()
    age = ma.fields.Integer()
    id_number = ma.fields.String(allow_none=True, metadata={
        "description": "In full for the owner; masked (110***********1234) for staff"})
    phone = ma.fields.String(allow_none=True, metadata={
        "description": "In full for the owner; masked (138****5678) for staff"})
    conditions = ma.fields.List(ma.fields.String())
    allergies = ma.fields.List(ma.fields.String())
    mobility = ma.fields.String(allow_none=True)
    eligibility = ma.fields.String()
    emergency_contact = ma.fields.Nested(EmergencyContactOutSchema, allow_none=True)
    consent = ma.fields.Boolean()
    guardian_consent = ma.fields.Boolean()
    consent_at = ma.fields.DateTime(allow_none=True)
    assessments = ma.fields.List(ma.fields.Nested(AssessmentSchema), metadata={
        "description": "First-visit assessments (首诊评估) by organization; staff see "
                       "their own organization's only. Orders at an organization that "
                       "has not assessed the person wait for its supervisor"})
    masked = ma.fields.Boolean(metadata={"description": "Whether personal numbers are masked"})
    addresses = ma.fields.List(ma.fields.Nested(AddressSchema))
    created_at = ma.fields.DateTime()
    updated_at = ma.fields.DateTime()

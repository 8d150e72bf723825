"""Request and response shapes for accounts and organizations."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from homecare.schemas import LocationSchema, Mobile, Pattern, RowId, Text

PASSWORD = validate.Length(min=8, max=128, error="must be 8 to 128 characters")


def _sms_code(**kwargs) -> Pattern:
    return Pattern(r"[0-9]{6}", error="must be the 6-digit code sent by SMS", metadata={
        "description": "The code sent to the phone (POST /auth/sms-code)",
        "example": "123456"}, **kwargs)


class SmsCodeRequestSchema(ma.Schema):
    phone = Mobile(required=True)
    purpose = Text(required=True, validate=validate.OneOf(("register", "reset_password")))


class ResetPasswordSchema(ma.Schema):
    phone = Mobile(required=True)
    sms_code = _sms_code(required=True)
    password = Text(required=True, load_only=True, validate=PASSWORD)


class RegisterSchema(ma.Schema):
    phone = Mobile(required=True)
    sms_code = _sms_code(required=True, load_only=True)
    password = Text(required=True, load_only=True, validate=PASSWORD)
    name = Text(required=True, validate=validate.Length(min=1, max=100))


class LoginSchema(ma.Schema):
    phone = Mobile(required=True)
    password = Text(required=True, load_only=True, validate=validate.Length(max=128))


class RefreshSchema(ma.Schema):
    refresh_token = Text(required=True, load_only=True)


class TokensSchema(ma.Schema):
    access_token = ma.fields.String()
    refresh_token = ma.fields.String()
    token_type = ma.fields.String(dump_default="Bearer")
    role = ma.fields.String()
    user_id = ma.fields.Integer()


class UserSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    phone = ma.fields.String()
    name = ma.fields.String()
    role = ma.fields.String()
    organization_id = ma.fields.Integer(allow_none=True)
    active = ma.fields.Boolean()
    created_at = ma.fields.DateTime()


class MeSchema(UserSchema):
    nurse_id = ma.fields.Integer(allow_none=True,
                                 metadata={"description": "The nurse profile, for nurses"})
    patient_ids = ma.fields.List(ma.fields.Integer(), metadata={
        "description": "Care recipients this account manages, for patients"})


class UserCreateSchema(ma.Schema):
    phone = Mobile(required=True)
    password = Text(required=True, load_only=True, validate=PASSWORD)
    name = Text(required=True, validate=validate.Length(min=1, max=100))
    role = Text(required=True, validate=validate.OneOf(("nurse", "supervisor")))
    organization_id = RowId(required=True, strict=True)


class UserUpdateSchema(ma.Schema):
    name = Text(validate=validate.Length(min=1, max=100))
    active = ma.fields.Boolean()
    password = Text(load_only=True, validate=PASSWORD)


class OrganizationSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    name = Text(required=True, validate=validate.Length(min=1, max=200))
    center = ma.fields.Nested(LocationSchema, required=True)
    radius_km = ma.fields.Float(required=True, validate=validate.Range(min=0.5, max=200))
    created_at = ma.fields.DateTime(dump_only=True)

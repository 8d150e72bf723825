"""Request and response shapes for the service catalogue and the skill vocabulary."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from homecare.catalogue.models import CATEGORIES, SKILLS, TITLES
from homecare.schemas import FullMatch, Text

CODE = FullMatch(r"[A-Z][A-Z0-9_]{1,39}",
                 error="must be 2-40 upper-case letters, digits or _, e.g. BASIC_VITALS")


def skill_list(**kwargs) -> ma.fields.List:
    """A list of skills from the controlled vocabulary (GET /skills)."""
    # The vocabulary is checked on each item, so the spec shows an enum of
    # strings (a list-level ContainsOnly documents an unsatisfiable array enum).
    return ma.fields.List(
        Text(validate=validate.OneOf(tuple(SKILLS),
                                     error="unknown skill; see GET /skills")),
        validate=validate.Length(max=len(SKILLS)), **kwargs)


class ServiceItemSchema(ma.Schema):
    code = Text(required=True, validate=CODE)
    name_zh = Text(required=True, validate=validate.Length(min=1, max=100))
    name_en = Text(required=True, validate=validate.Length(min=1, max=150))
    category = Text(required=True, validate=validate.OneOf(CATEGORIES))
    duration_min = ma.fields.Integer(required=True, validate=validate.Range(min=10, max=240))
    required_skills = skill_list(required=True)
    min_title = Text(load_default="senior_nurse", validate=validate.OneOf(TITLES))
    price_fen = ma.fields.Integer(required=True, validate=validate.Range(min=0, max=10_000_000),
                                  metadata={"description": "Price in fen (1/100 yuan)"})
    requires_assessment = ma.fields.Boolean(load_default=False, metadata={
        "description": "Orders of this item wait for a supervisor's assessment"})
    procedures = ma.fields.List(Text(validate=validate.Length(min=1, max=60)),
                                load_default=list, validate=validate.Length(max=30))
    active = ma.fields.Boolean(load_default=True)
    created_at = ma.fields.DateTime(dump_only=True)
    updated_at = ma.fields.DateTime(dump_only=True)


class ServiceItemUpdateSchema(ma.Schema):
    """Every field but ``code``; a price change applies to orders placed afterwards only."""

    name_zh = Text(validate=validate.Length(min=1, max=100))
    name_en = Text(validate=validate.Length(min=1, max=150))
    category = Text(validate=validate.OneOf(CATEGORIES))
    duration_min = ma.fields.Integer(validate=validate.Range(min=10, max=240))
    required_skills = skill_list()
    min_title = Text(validate=validate.OneOf(TITLES))
    price_fen = ma.fields.Integer(validate=validate.Range(min=0, max=10_000_000))
    requires_assessment = ma.fields.Boolean()
    procedures = ma.fields.List(Text(validate=validate.Length(min=1, max=60)),
                                validate=validate.Length(max=30))
    active = ma.fields.Boolean()


class ServiceQueryArgsSchema(ma.Schema):
    category = Text(validate=validate.OneOf(CATEGORIES))
    active = ma.fields.Boolean(load_default=True, metadata={
        "description": "true (default): orderable items; false: retired items"})


class SkillSchema(ma.Schema):
    code = ma.fields.String()
    name_zh = ma.fields.String()
    name_en = ma.fields.String()

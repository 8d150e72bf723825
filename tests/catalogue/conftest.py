"""Catalogue fixtures: the packaged seed set loaded through the service."""

from __future__ import annotations

import pytest

from homecare.catalogue.service import seed_catalogue
from homecare.clock import utcnow


@pytest.fixture
def seeded(session):
    """The seed catalogue in the database; returns how many items were added."""
    return seed_catalogue(session=session, now=utcnow())


def item_body(**overrides) -> dict:
    body = {"code": "BASIC_ECG", "name_zh": "心电图检查", "name_en": "ECG at home",
            "category": "basic", "duration_min": 30, "required_skills": ["vital_signs"],
            "min_title": "senior_nurse", "price_fen": 15000, "requires_assessment": False}
    body.update(overrides)
    return body

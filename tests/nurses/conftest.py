"""Nurse fixtures: a qualified, active nurse of ``org`` and her account."""

from __future__ import annotations

import pytest

from tests.factories import UserFactory


@pytest.fixture
def nurse_account(org):
    """A nurse account of ``org`` with no profile yet."""
    return UserFactory(role="nurse", organization_id=org.id)


def nurse_body(user_id: int, **overrides) -> dict:
    body = {"user_id": user_id, "license_no": "201837000123", "title": "senior_nurse",
            "years_experience": 8, "skills": ["vital_signs", "blood_sampling", "injection"],
            "home": {"lat": 35.4020, "lng": 116.5650}, "service_radius_km": 12,
            "max_visits_per_day": 6, "active": True}
    body.update(overrides)
    return body

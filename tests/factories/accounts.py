"""Organizations, users, and how a test acts as one."""

from __future__ import annotations

import factory

from homecare.accounts.models import Organization, User
from homecare.auth import Actor, issue_tokens
from tests.factories.base import _PASSWORD_HASH, BaseFactory


class OrganizationFactory(BaseFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"济宁市第{n}人民医院")
    # Jining, Shandong (WGS-84).
    center_lat = 35.4150
    center_lng = 116.5870
    radius_km = 30.0


class UserFactory(BaseFactory):
    class Meta:
        model = User

    phone = factory.Sequence(lambda n: f"139{n:08d}")
    password_hash = _PASSWORD_HASH
    name = factory.Sequence(lambda n: f"用户{n}")
    role = "patient"
    organization_id = None
    active = True


def actor_of(user: User) -> Actor:
    """The service-level caller for ``user`` (service tests call services directly)."""
    return Actor(user_id=user.id, role=user.role, organization_id=user.organization_id)


def auth(user: User) -> dict[str, str]:
    """Authorization header for ``user`` (needs an app context)."""
    return {"Authorization": "Bearer " + issue_tokens(user.id, user.role)["access_token"]}

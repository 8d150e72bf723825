"""Organizations, users, and how a test acts as one."""

from __future__ import annotations

import logging

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


class _SentCodes(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.codes: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "event", None) == "sms_code_sent":
            self.codes.append(record.sms_code)


def sms_code(client, phone: str, purpose: str = "register", **kwargs) -> str:
    """Ask for an SMS code through the API and read it from the ``log`` provider's
    ``sms_code_sent`` line, as a local user would."""
    logger = logging.getLogger("homecare.accounts.sms")
    handler, level = _SentCodes(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        r = client.post("/api/v1/auth/sms-code", json={"phone": phone, "purpose": purpose},
                        **kwargs)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert r.status_code == 202, r.get_data(as_text=True)
    assert len(handler.codes) == 1
    return handler.codes[0]

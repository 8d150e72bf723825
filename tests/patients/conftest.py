"""Care-recipient fixtures: recipients registered through the service, as the app does."""

from __future__ import annotations

import pytest

from homecare.auth import Actor
from homecare.clock import utcnow
from homecare.patients import service
from homecare.patients.models import CareRecipient
from tests.factories.patients import recipient_body

# Jining city centre (WGS-84), inside the test organization's 30 km area.
JINING = {"lat": 35.4150, "lng": 116.5870}


@pytest.fixture
def make_recipient(session, config):
    """Register a recipient for ``owner`` through the service (encrypted id number)."""
    from homecare.patients.schemas import RecipientCreateSchema

    def make(owner, **overrides) -> CareRecipient:
        data = RecipientCreateSchema().load(recipient_body(**overrides))
        actor = Actor(user_id=owner.id, role="patient", organization_id=None)
        view = service.create_recipient(session=session, actor=actor, data=data, now=utcnow(),
                                        config=config)
        return session.get(CareRecipient, view["id"])

    return make


@pytest.fixture
def recipient(patient, make_recipient):
    return make_recipient(patient)


@pytest.fixture
def home_in_org(session, org, recipient, patient):
    """An address of ``recipient`` inside ``org``'s area: ``org`` now serves her."""
    actor = Actor(user_id=patient.id, role="patient", organization_id=None)
    return service.add_address(session=session, actor=actor, patient_id=recipient.id,
                               data={"label": "家", "text": "济宁市任城区古槐路1号", **JINING},
                               now=utcnow())

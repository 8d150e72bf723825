"""Care recipients and their addresses."""

from __future__ import annotations

from datetime import date

import factory
import sqlalchemy as sa

from homecare.clock import utcnow
from homecare.db import db
from homecare.patients.identity import make_id_number
from homecare.patients.models import Address, Assessment, CareRecipient
from tests.factories.accounts import UserFactory
from tests.factories.base import BaseFactory


# The body of POST /patients (a recipient in Jining), as a client sends it.
def recipient_body(**overrides) -> dict:
    born = overrides.pop("born", date(1946, 5, 17))
    body = {"name": "王秀英", "gender": "female", "birth_date": born.isoformat(),
            "id_number": make_id_number("370811", born, overrides.pop("sequence", 42)),
            "phone": "13853712345", "conditions": ["高血压", "2型糖尿病"],
            "allergies": ["青霉素"], "mobility": "bedridden", "eligibility": "elderly_disabled",
            "emergency_contact": {"name": "李娜", "phone": "13953798765", "relation": "女儿"},
            "consent": True}
    body.update(overrides)
    return body


class CareRecipientFactory(BaseFactory):
    class Meta:
        model = CareRecipient

    owner_id = factory.LazyFunction(lambda: UserFactory(role="patient").id)
    name = factory.Sequence(lambda n: f"患者{n}")
    gender = "female"
    birth_date = date(1945, 3, 1)
    # Ciphertext and digest as the patients service would store them.
    id_number_enc = "test-ciphertext"
    id_number_hash = factory.Sequence(lambda n: f"{n:064d}")
    phone = factory.Sequence(lambda n: f"138{n:08d}")
    conditions = factory.LazyFunction(lambda: ["hypertension"])
    allergies = factory.LazyFunction(list)
    mobility = "bedridden"
    eligibility = "elderly_disabled"
    consent = True
    consent_at = factory.LazyFunction(utcnow)

    @factory.post_generation
    def assessed_by(self, create, organization_id, **_):
        """``assessed_by=org.id``: that organization has done its first-visit assessment
        (首诊评估), so her orders there are approved at once."""
        if create and organization_id is not None:
            db.session.add(Assessment(patient_id=self.id, organization_id=organization_id,
                                      assessed_at=utcnow()))
            db.session.flush()


def unassess(recipient: CareRecipient) -> None:
    """Forget every first-visit assessment of ``recipient`` (flush, no commit)."""
    db.session.execute(sa.delete(Assessment).where(Assessment.patient_id == recipient.id))
    db.session.flush()


class AddressFactory(BaseFactory):
    class Meta:
        model = Address

    patient_id = factory.LazyFunction(lambda: CareRecipientFactory().id)
    label = "家"
    text = "山东省济宁市任城区古槐路1号"
    district = "任城区"
    lat = 35.4100
    lng = 116.5800
    organization_id = None
    outside_service_area = False

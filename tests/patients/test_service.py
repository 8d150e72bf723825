"""Service tests for care recipients: identity numbers, encryption, areas, consent, audit."""

import hashlib
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from homecare.audit.models import AuditEntry
from homecare.auth import Actor
from homecare.clock import utcnow
from homecare.geo import Point
from homecare.patients import identity, service
from homecare.patients.schemas import RecipientCreateSchema
from tests.factories import OrganizationFactory, UserFactory
from tests.patients.conftest import recipient_body


def _actor(user):
    return Actor(user_id=user.id, role=user.role, organization_id=user.organization_id)


# --- identity numbers ----------------------------------------------------------------

def test_check_character_of_published_sample_number():
    # The GB 11643 sample used across Chinese documentation.
    assert identity.check_character("11010519491231002") == "X"


def test_id_number_problems_accepts_valid_number():
    assert identity.id_number_problems("11010519491231002X", today=date(2025, 1, 1)) == []


@pytest.mark.parametrize(("number", "problem"), [
    ("11010519491231002", "18 characters"),
    ("1101051949123100XX", "18 characters"),
    ("99010519491231002X", "province"),
    ("110105194912310021", "check digit"),
])
def test_id_number_problems_names_the_fault(number, problem):
    assert problem in " ".join(identity.id_number_problems(number, today=date(2025, 1, 1)))


def test_id_number_problems_refuses_birth_date_after_today():
    number = identity.make_id_number("370811", date(2030, 1, 1), 1)
    assert "birth date" in " ".join(identity.id_number_problems(number, today=date(2025, 1, 1)))


def test_make_id_number_is_valid_and_encodes_birth_date():
    number = identity.make_id_number("370811", date(1950, 7, 8), 123)
    assert identity.id_number_problems(number, today=date(2025, 1, 1)) == []
    assert identity.birth_date_of(number) == date(1950, 7, 8)


def test_decrypt_with_another_key_is_none():
    token = identity.encrypt_id_number(Fernet.generate_key().decode(), "11010519491231002X")
    assert identity.decrypt_id_number(Fernet.generate_key().decode(), token) is None


def test_digest_is_keyed_not_a_bare_sha256():
    key_a, key_b = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    number = "11010519491231002X"
    digest = identity.id_number_digest(key_a, number)
    assert digest == identity.id_number_digest(key_a, number)
    assert digest != identity.id_number_digest(key_b, number)
    assert digest != hashlib.sha256(number.encode()).hexdigest()


# --- registration ---------------------------------------------------------------------

def test_create_recipient_stores_number_encrypted_never_in_clear(session, config, patient,
                                                                 make_recipient):
    recipient = make_recipient(patient)
    number = recipient_body()["id_number"]
    assert number not in recipient.id_number_enc
    assert service.decrypt_id_number(config=config, recipient=recipient) == number
    assert recipient.id_number_hash == identity.id_number_digest(config.data_key, number)


def test_create_recipient_records_consent_time_and_audit(session, config, patient):
    now = datetime(2025, 3, 1, 2, 0, tzinfo=UTC)
    data = RecipientCreateSchema().load(recipient_body())
    view = service.create_recipient(session=session, actor=_actor(patient), data=data, now=now,
                                    config=config)
    assert view["consent_at"] == now
    entry = session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "patient.created"))
    assert entry.object_id == view["id"] and entry.actor_id == patient.id


def test_create_recipient_turning_14_today_needs_no_guardian(session, config, patient):
    now = datetime(2025, 6, 1, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
    data = RecipientCreateSchema().load(recipient_body(born=date(2011, 6, 1),
                                                       eligibility="chronic"))
    view = service.create_recipient(session=session, actor=_actor(patient), data=data, now=now,
                                    config=config)
    assert view["age"] == 14


def test_create_recipient_day_before_14th_birthday_needs_guardian(session, config, patient):
    now = datetime(2025, 5, 31, 4, 0, tzinfo=UTC)
    data = RecipientCreateSchema().load(recipient_body(born=date(2011, 6, 1),
                                                       eligibility="chronic"))
    with pytest.raises(service.GuardianConsentRequired):
        service.create_recipient(session=session, actor=_actor(patient), data=data, now=now,
                                 config=config)


def test_age_uses_the_service_area_local_date(session, config, patient):
    # 16:30 UTC on 31 May is already 1 June in Shanghai: the birthday has come.
    now = datetime(2025, 5, 31, 16, 30, tzinfo=UTC)
    data = RecipientCreateSchema().load(recipient_body(born=date(2011, 6, 1),
                                                       eligibility="chronic"))
    view = service.create_recipient(session=session, actor=_actor(patient), data=data, now=now,
                                    config=config)
    assert view["age"] == 14


def test_create_same_person_twice_raises(session, config, patient, make_recipient):
    make_recipient(patient)
    with pytest.raises(service.RecipientAlreadyRegistered):
        make_recipient(patient)


# --- service areas ----------------------------------------------------------------------

def test_find_serving_organization_none_outside_every_area(session, org):
    assert service.find_serving_organization(session=session, point=Point(31.23, 121.47)) is None


def test_find_serving_organization_boundary_is_geodesic(session):
    org = OrganizationFactory(center_lat=35.0, center_lng=116.0, radius_km=10)
    # 0.0899 deg of latitude is ~9.98 km here, 0.0902 ~10.01 km.
    assert service.find_serving_organization(session=session, point=Point(35.0899, 116.0)) == org
    assert service.find_serving_organization(session=session, point=Point(35.0902, 116.0)) \
        is None


def test_find_serving_organization_prefers_nearest_centre(session, org):
    closer = OrganizationFactory(center_lat=35.50, center_lng=116.60, radius_km=30)
    assert service.find_serving_organization(session=session,
                                             point=Point(35.49, 116.60)) == closer
    assert service.find_serving_organization(session=session,
                                             point=Point(35.40, 116.58)) == org


def test_serves_recipient_after_address_in_area(session, org, other_org, recipient,
                                                home_in_org):
    assert service.serves_recipient(session=session, organization_id=org.id,
                                    patient_id=recipient.id)
    assert not service.serves_recipient(session=session, organization_id=other_org.id,
                                        patient_id=recipient.id)


# --- reads and audit -----------------------------------------------------------------------

def test_read_by_supervisor_masks_and_audits(session, config, supervisor, recipient,
                                             home_in_org):
    now = utcnow()
    view = service.read_recipient(session=session, actor=_actor(supervisor),
                                  patient_id=recipient.id, now=now, config=config)
    assert view["masked"] and view["id_number"].count("*") == 11
    entry = session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "patient.read"))
    assert (entry.actor_id, entry.object_id, entry.organization_id) == (
        supervisor.id, recipient.id, supervisor.organization_id)


def test_list_addresses_by_supervisor_is_audited(session, supervisor, recipient, home_in_org):
    service.list_addresses(session=session, actor=_actor(supervisor), patient_id=recipient.id,
                           now=utcnow())
    entry = session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "patient.read"))
    assert entry.detail == {"part": "addresses"}


def test_list_recipients_paginates_and_counts(session, config, patient, make_recipient):
    for seq in range(5):
        make_recipient(patient, sequence=100 + seq, name=f"老人{seq}")
    views, total = service.list_recipients(session=session, actor=_actor(patient), now=utcnow(),
                                           config=config, page=2, page_size=2)
    assert total == 5
    assert [v["name"] for v in views] == ["老人2", "老人3"]


def test_recipient_with_unreadable_ciphertext_shows_no_number(session, config, supervisor, org):
    from tests.factories import booked_order

    order = booked_order(org)  # factory ciphertext is not a Fernet token
    view = service.read_recipient(session=session, actor=_actor(supervisor),
                                  patient_id=order.patient_id, now=utcnow(), config=config)
    assert view["id_number"] is None


def test_nurse_sees_no_recipients_here(session, config, org, recipient, home_in_org):
    nurse = UserFactory(role="nurse", organization_id=org.id)
    with pytest.raises(service.RecipientNotFound):
        service.access_recipient(session, _actor(nurse), recipient.id)


def test_update_with_refused_field_changes_nothing(session, config, supervisor, recipient,
                                                   home_in_org):
    with pytest.raises(service.RecipientFieldsNotAllowed):
        service.update_recipient(session=session, actor=_actor(supervisor),
                                 patient_id=recipient.id,
                                 changes={"phone": "15012345678", "conditions": ["x"]},
                                 now=utcnow() + timedelta(minutes=1), config=config)
    assert recipient.phone == "13853712345" and recipient.conditions != ["x"]

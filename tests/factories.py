"""factory_boy factories bound to the test session (flush, never commit)."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import factory
import sqlalchemy as sa
from factory.alchemy import SQLAlchemyModelFactory

from homecare.accounts.models import Organization, User
from homecare.accounts.service import hash_password
from homecare.auth import Actor, issue_tokens
from homecare.catalogue.models import ServiceItem
from homecare.extensions import db, utcnow
from homecare.nurses.models import Nurse, Shift
from homecare.orders.models import Order
from homecare.patients.models import Address, Assessment, CareRecipient

PASSWORD = "correct-horse-9"
# Hashing is deliberately slow (argon2); hash the shared test password once.
_PASSWORD_HASH = hash_password(PASSWORD)


class BaseFactory(SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_factory = lambda: db.session  # noqa: E731
        sqlalchemy_session_persistence = "flush"


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


class ServiceItemFactory(BaseFactory):
    class Meta:
        model = ServiceItem

    code = factory.Sequence(lambda n: f"TEST_{n:03d}")
    name_zh = "静脉采血"
    name_en = "Venous blood sampling"
    category = "basic"
    duration_min = 30
    required_skills = factory.LazyFunction(lambda: ["blood_sampling"])
    min_title = "senior_nurse"
    price_fen = 9000
    requires_assessment = False
    procedures = factory.LazyFunction(lambda: ["venipuncture"])
    active = True


class NurseFactory(BaseFactory):
    class Meta:
        model = Nurse

    user_id = factory.LazyAttribute(
        lambda o: UserFactory(role="nurse", organization_id=o.organization_id).id)
    organization_id = None
    license_no = factory.Sequence(lambda n: f"L2010{n:06d}")
    # Far ahead of any visit a test books: credentials are a dispatch hard filter.
    license_valid_until = date(2099, 12, 31)
    insurance_no = factory.Sequence(lambda n: f"PICC-{n:08d}")
    insurer = "中国人民财产保险"
    insurance_valid_until = date(2099, 12, 31)
    title = "senior_nurse"
    years_experience = 8
    skills = factory.LazyFunction(lambda: ["blood_sampling", "injection", "vital_signs"])
    home_lat = 35.4150
    home_lng = 116.5870
    service_radius_km = 15.0
    max_visits_per_day = 8
    active = True


class ShiftFactory(BaseFactory):
    class Meta:
        model = Shift

    nurse_id = None
    start = factory.LazyFunction(lambda: utcnow() - timedelta(hours=1))
    end = factory.LazyFunction(lambda: utcnow() + timedelta(hours=8))


class OrderFactory(BaseFactory):
    """An order in any status, written directly (tests of later stages start here)."""

    class Meta:
        model = Order

    organization_id = None
    patient_id = None
    address_id = None
    booked_by = None
    service_code = None
    duration_min = 30
    price_fen = 9000
    window_start = factory.LazyFunction(lambda: utcnow() + timedelta(hours=2))
    window_end = factory.LazyAttribute(lambda o: o.window_start + timedelta(hours=2))
    service_date = factory.LazyAttribute(
        lambda o: o.window_start.astimezone(ZoneInfo("Asia/Shanghai")).date())
    status = "approved"


def booked_order(org, *, status: str = "approved", item=None, **kwargs) -> Order:
    """An order for a new recipient at a Jining address of ``org``, in ``status``."""
    owner = UserFactory(role="patient")
    recipient = CareRecipientFactory(owner_id=owner.id)
    address = AddressFactory(patient_id=recipient.id, organization_id=org.id)
    item = item or ServiceItemFactory()
    return OrderFactory(organization_id=org.id, patient_id=recipient.id, address_id=address.id,
                        booked_by=owner.id, service_code=item.code,
                        duration_min=item.duration_min, price_fen=item.price_fen,
                        status=status, **kwargs)


from homecare.scheduling.models import DayPlan  # noqa: E402


class DayPlanFactory(BaseFactory):
    """A stored day plan (empty result): "this day has been planned"."""

    class Meta:
        model = DayPlan

    organization_id = None
    day = factory.LazyFunction(
        lambda: utcnow().astimezone(ZoneInfo("Asia/Shanghai")).date())
    created_by = None
    reassign = False
    seed = 1
    stats = factory.LazyFunction(dict)
    result = factory.LazyFunction(dict)


# Appended by the orders/notifications issue (#4); kept below so the shared
# header above stays untouched while other domains append too.
from homecare.dispatch.models import Offer  # noqa: E402
from homecare.notifications.models import Notification  # noqa: E402


class NotificationFactory(BaseFactory):
    """An outbox row for ``user_id`` (pending unless ``sent_at`` is given)."""

    class Meta:
        model = Notification

    user_id = None
    kind = "order_approved"
    urgent = False
    order_id = None
    payload = factory.LazyFunction(dict)
    created_at = factory.LazyFunction(utcnow)


class OfferFactory(BaseFactory):
    """An open offer of ``order_id`` to ``nurse_id``."""

    class Meta:
        model = Offer

    order_id = None
    nurse_id = None
    round = 1
    status = "open"
    distance_km = 2.0
    eta_min = 8.0
    score = 0.9
    expires_at = factory.LazyFunction(lambda: utcnow() + timedelta(minutes=5))


# Appended by the visits/alerts/audit/jobs issue (#7).
from homecare.alerts.models import Alert  # noqa: E402
from homecare.visits.models import CareRecord  # noqa: E402


class AlertFactory(BaseFactory):
    """An open alert of ``organization_id``; each gets a cause of its own."""

    class Meta:
        model = Alert

    organization_id = None
    kind = "late"
    severity = "warning"
    cause = factory.Sequence(lambda n: f"test:alert:{n}")
    order_id = None
    nurse_id = None
    status = "open"
    detail = "raised by a test"
    raised_at = factory.LazyFunction(utcnow)


class CareRecordFactory(BaseFactory):
    """The care record of a checked-out ``order_id`` by ``nurse_id``."""

    class Meta:
        model = CareRecord

    order_id = None
    nurse_id = None
    vitals = factory.LazyFunction(lambda: {"systolic_mmhg": 132, "diastolic_mmhg": 84,
                                           "pulse_bpm": 76})
    procedures = factory.LazyFunction(lambda: [{"name": "venipuncture", "listed": True}])
    notes = "采血顺利"
    consumables = factory.LazyFunction(list)
    recorded_at = factory.LazyFunction(utcnow)


# Appended by the family-beds issue.
from datetime import time  # noqa: E402

from homecare.family_beds.models import FamilyBed, FamilyBedPlanLine  # noqa: E402


class FamilyBedFactory(BaseFactory):
    """An open episode of ``organization_id`` for ``patient_id`` at ``address_id``, written
    directly with no plan and no visits (reads start here; openings use the service)."""

    class Meta:
        model = FamilyBed

    organization_id = None
    patient_id = None
    address_id = None
    diagnosis = "脑卒中后遗症，长期卧床"
    start_date = factory.LazyFunction(
        lambda: utcnow().astimezone(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=1))
    end_date = factory.LazyAttribute(lambda o: o.start_date + timedelta(days=29))
    status = "open"
    opened_by = None
    opened_at = factory.LazyFunction(utcnow)


class FamilyBedPlanLineFactory(BaseFactory):
    """Line ``line_no`` of ``family_bed_id``'s plan: every day 09:00-11:00 local."""

    class Meta:
        model = FamilyBedPlanLine

    family_bed_id = None
    line_no = 1
    service_code = None
    weekdays = factory.LazyFunction(lambda: [1, 2, 3, 4, 5, 6, 7])
    window_start = time(9, 0)
    window_end = time(11, 0)

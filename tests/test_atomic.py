"""``atomic``: a refused call leaves nothing of its own behind and keeps the caller's
uncommitted work; ``atomic_in_steps`` refuses to start over uncommitted work."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import factory
import pytest
import sqlalchemy as sa

from homecare.accounts import service as accounts
from homecare.accounts import sms
from homecare.accounts.models import Organization, User
from homecare.accounts.service import PhoneTaken
from homecare.auth import Actor
from homecare.catalogue import service as catalogue
from homecare.catalogue.models import ServiceItem
from homecare.catalogue.service import ServiceCodeTaken
from homecare.clock import utcnow
from homecare.db import atomic, atomic_in_steps
from homecare.nurses import service as nurses
from homecare.nurses.models import Nurse, Shift
from homecare.nurses.service import NurseNotQualified, NurseProfileExists
from homecare.orders import idempotency
from homecare.orders import service as orders
from homecare.orders.models import IdempotencyKey, Order, Review
from homecare.orders.service import AlreadyReviewed
from homecare.patients import service as patients
from homecare.patients.models import CareRecipient
from homecare.patients.schemas import RecipientCreateSchema
from homecare.patients.service import RecipientAlreadyRegistered
from homecare.scheduling.repair import repair_day
from homecare.scheduling.service import DayInPast, plan_all_organizations, plan_day
from homecare.visits import service as visits
from homecare.visits.door import VisitCodeWrong
from homecare.visits.models import DoorCheck
from tests.factories import (
    PASSWORD,
    NurseFactory,
    ServiceItemFactory,
    ShiftFactory,
    UserFactory,
    actor_of,
)
from tests.factories.patients import recipient_body
from tests.helpers import SHANGHAI, address_of
from tests.nurses.conftest import nurse_body

NOW = datetime(2025, 6, 2, 0, 0, tzinfo=UTC)


def _org(name: str) -> Organization:
    return Organization(name=name, center_lat=35.415, center_lng=116.587, radius_km=30.0)


def _names(session):
    return set(session.scalars(sa.select(Organization.name)))


def test_atomic_refused_call_rolls_back_its_own_flush_and_keeps_the_callers(session):
    session.add(_org("the caller's"))
    session.flush()

    @atomic
    def refuse(*, session):
        session.add(_org("the call's"))
        session.flush()
        raise ValueError("refused")

    with pytest.raises(ValueError):
        refuse(session=session)
    assert {"the caller's"} <= _names(session) and "the call's" not in _names(session)


def test_atomic_call_that_fails_after_committing_rolls_back_what_it_wrote_since(session):
    @atomic
    def commit_then_fail(*, session):
        session.add(_org("committed"))
        session.commit()
        session.add(_org("after the commit"))
        session.flush()
        raise ValueError("refused")

    with pytest.raises(ValueError):
        commit_then_fail(session=session)
    names = _names(session)
    assert "committed" in names and "after the commit" not in names


def test_atomic_step_that_returns_without_committing_joins_the_callers_transaction(session):
    @atomic
    def step(*, session):
        session.add(_org("a step's"))

    step(session=session)
    session.rollback()
    assert "a step's" not in _names(session)


def test_update_nurse_refused_keeps_the_callers_uncommitted_shift(session, config, supervisor,
                                                                  org):
    nurse = NurseFactory(organization_id=org.id, active=False, years_experience=0)
    session.commit()
    ShiftFactory(nurse_id=nurse.id, start=NOW, end=NOW.replace(hour=4))
    actor = Actor(user_id=supervisor.id, role="supervisor", organization_id=org.id)
    with pytest.raises(NurseNotQualified):
        nurses.update_nurse(session=session, actor=actor, nurse_id=nurse.id,
                            changes={"active": True}, now=NOW, config=config)
    assert session.scalar(sa.select(sa.func.count()).select_from(Shift).where(
        Shift.nurse_id == nurse.id)) == 1


def test_plan_day_refuses_to_start_over_uncommitted_changes(session, org, config):
    @atomic_in_steps
    def two_steps(*, session):
        session.commit()

    session.add(_org("not committed"))
    with pytest.raises(RuntimeError, match="committed first"):
        two_steps(session=session)
    with pytest.raises(RuntimeError, match="committed first"):
        plan_day(session=session, actor=None, day=NOW.date(), now=NOW, config=config,
                 organization_id=org.id)


def test_plan_day_refused_keeps_the_callers_flushed_work(session, org, config):
    session.add(_org("flushed, not committed"))
    session.flush()
    with pytest.raises(DayInPast):
        plan_day(session=session, actor=None, day=NOW.date() - timedelta(days=2), now=NOW,
                 config=config, organization_id=org.id)
    assert "flushed, not committed" in _names(session)


# ---------------------------------------------------------------- services' failure paths
# Each refusal below once called session.rollback(), which took the caller's work too.

CALLERS = "the caller's, not committed"
PHONE = "13712349999"


class _Outbox:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def send_code(self, *, phone: str, code: str, purpose: str) -> None:
        self.sent.append(code)


@pytest.fixture
def callers_work(session):
    """Call to leave flushed, uncommitted work of a caller that goes on to call a
    service; it returns whether that work is still there."""

    def leave() -> Callable[[], bool]:
        session.add(_org(CALLERS))
        session.flush()
        return lambda: CALLERS in _names(session)

    return leave


def lose_race(session, model) -> None:
    """Before the service flushes its new ``model`` row, an identical one appears, as if
    a concurrent request had inserted it after the service's own check."""
    real = session()  # the Session itself: a listener on the scoped one would be global

    inserted = []

    def insert_twin(flushing, _context, _instances) -> None:
        new = next((o for o in flushing.new if isinstance(o, model)), None)
        if new is None or inserted:
            return
        inserted.append(new)
        values = {attr.columns[0]: getattr(new, attr.key)
                  for attr in sa.inspect(model).column_attrs
                  if getattr(new, attr.key) is not None}
        flushing.connection().execute(sa.insert(model.__table__).values(values))

    sa.event.listen(real, "before_flush", insert_twin)


def test_atomic_flush_refused_by_the_database_keeps_the_callers_work(session, callers_work):
    taken = UserFactory(role="patient")

    @atomic
    def insert_taken(*, session):
        session.add(User(phone=taken.phone, password_hash="x", name="twin", role="patient"))
        session.flush()

    kept = callers_work()
    with pytest.raises(sa.exc.IntegrityError):
        insert_taken(session=session)
    assert kept()


def test_create_recipient_lost_race_keeps_the_callers_work(session, config, patient,
                                                           callers_work):
    body = RecipientCreateSchema().load(recipient_body())
    lose_race(session, CareRecipient)
    kept = callers_work()
    with pytest.raises(RecipientAlreadyRegistered):
        patients.create_recipient(session=session, actor=actor_of(patient), data=body,
                                  now=NOW, config=config)
    assert kept()


def test_create_item_lost_race_keeps_the_callers_work(session, callers_work):
    data = factory.build(dict, FACTORY_CLASS=ServiceItemFactory)
    lose_race(session, ServiceItem)
    kept = callers_work()
    with pytest.raises(ServiceCodeTaken):
        catalogue.create_item(session=session, data=data, now=NOW)
    assert kept()


def test_create_staff_user_lost_race_keeps_the_callers_work(session, admin, org,
                                                            callers_work):
    lose_race(session, User)
    kept = callers_work()
    with pytest.raises(PhoneTaken):
        accounts.create_staff_user(session=session, actor=actor_of(admin), phone="13700000001",
                                   password=PASSWORD, name="Nurse", role="nurse",
                                   organization_id=org.id, now=NOW)
    assert kept()


def test_create_nurse_lost_race_keeps_the_callers_work(session, config, supervisor, org,
                                                       callers_work):
    account = UserFactory(role="nurse", organization_id=org.id)
    lose_race(session, Nurse)
    kept = callers_work()
    with pytest.raises(NurseProfileExists):
        nurses.create_nurse(session=session, actor=actor_of(supervisor),
                            data=nurse_body(account.id), now=NOW, config=config)
    assert kept()


def test_review_order_lost_race_keeps_the_callers_work(session, patient, make_order, nurse,
                                                       callers_work):
    order = make_order("completed", nurse=nurse)
    lose_race(session, Review)
    kept = callers_work()
    with pytest.raises(AlreadyReviewed):
        orders.review_order(session=session, actor=actor_of(patient), order_id=order.id,
                            rating=5, now=utcnow())
    assert kept()


def test_request_code_rate_limited_keeps_the_callers_work(session, config, callers_work):
    outbox = _Outbox()
    sms.request_code(session=session, config=config, phone=PHONE, purpose="register",
                     ip="10.0.0.1", now=NOW, provider=outbox)
    kept = callers_work()
    with pytest.raises(sms.SmsRateLimited):
        sms.request_code(session=session, config=config, phone=PHONE, purpose="register",
                         ip="10.0.0.1", now=NOW + timedelta(seconds=1), provider=outbox)
    assert kept()


def test_consume_code_without_a_live_code_keeps_the_callers_work(session, config,
                                                                 callers_work):
    kept = callers_work()
    with pytest.raises(sms.SmsCodeInvalid):
        sms.consume_code(session=session, config=config, phone=PHONE, purpose="register",
                         code="123456", now=NOW)
    assert kept()


def test_reset_password_for_a_phone_without_account_keeps_the_callers_work(session, config,
                                                                          callers_work):
    outbox = _Outbox()
    sms.request_code(session=session, config=config, phone=PHONE, purpose="reset_password",
                     ip="10.0.0.1", now=NOW, provider=outbox)
    kept = callers_work()
    with pytest.raises(sms.SmsCodeInvalid):
        accounts.reset_password(session=session, config=config, phone=PHONE,
                                sms_code=outbox.sent[-1], password=PASSWORD, ip=None,
                                now=NOW + timedelta(seconds=1))
    assert kept()


def test_claim_key_reused_for_another_body_keeps_the_callers_work(session, patient,
                                                                  callers_work):
    idempotency.claim_key(session=session, user_id=patient.id, key="k", request_hash="a",
                          now=NOW)
    kept = callers_work()
    with pytest.raises(idempotency.IdempotencyKeyReused):
        idempotency.claim_key(session=session, user_id=patient.id, key="k", request_hash="b",
                              now=NOW)
    assert kept()


def test_claim_key_replay_keeps_the_callers_work(session, patient, callers_work):
    claim = idempotency.claim_key(session=session, user_id=patient.id, key="k",
                                  request_hash="a", now=NOW)
    idempotency.store_response(session, claim, status_code=201, body={"id": 7})
    session.commit()
    kept = callers_work()
    replay = idempotency.claim_key(session=session, user_id=patient.id, key="k",
                                   request_hash="a", now=NOW)
    assert replay == idempotency.Replay(201, {"id": 7}) and kept()


def test_release_key_keeps_the_callers_work(session, patient, callers_work):
    claim = idempotency.claim_key(session=session, user_id=patient.id, key="k",
                                  request_hash="a", now=NOW)
    kept = callers_work()
    idempotency.release_key(session=session, claim=claim)
    assert kept()
    assert session.get(IdempotencyKey, claim.id) is None


def test_place_order_refused_after_booking_releases_its_key_and_keeps_no_order(
        session, config, patient, recipient, address, item):
    session.commit()
    start = utcnow().astimezone(SHANGHAI).replace(hour=10, minute=0) + timedelta(days=1)
    body = {"patient_id": recipient.id, "address_id": address.id, "service_code": item.code,
            "window_start": start, "window_end": start + timedelta(hours=2), "notes": None}

    def render(_view):
        raise RuntimeError("the answer could not be rendered")

    with pytest.raises(RuntimeError):
        orders.place_order(session=session, actor=actor_of(patient), body=body,
                           idempotency_key="k", now=utcnow(), config=config, render=render)
    assert session.scalar(sa.select(sa.func.count()).select_from(Order)) == 0
    assert session.scalar(sa.select(sa.func.count()).select_from(IdempotencyKey)) == 0


def test_raise_sos_refused_keeps_the_callers_work(session, visit, nurse_user, monkeypatch,
                                                  callers_work):
    order = visit("en_route")

    def broken(*_args, **_kwargs):
        raise RuntimeError("the alert could not be stored")

    monkeypatch.setattr(visits, "raise_alert", broken)
    kept = callers_work()
    with pytest.raises(RuntimeError):
        visits.raise_sos(session=session, actor=actor_of(nurse_user), order_id=order.id,
                         now=utcnow())
    assert kept()


def test_check_in_with_a_wrong_code_counts_it_and_keeps_the_callers_work(
        session, config, visit, nurse_user, callers_work):
    order = visit("assigned", window_start=utcnow() + timedelta(hours=1),
                  window_end=utcnow() + timedelta(hours=3))
    visits.depart(session=session, actor=actor_of(nurse_user), order_id=order.id,
                  now=utcnow(), config=config)
    code = session.get(DoorCheck, order.id).code
    door = address_of(session, order)
    kept = callers_work()
    with pytest.raises(VisitCodeWrong):
        visits.check_in(session=session, actor=actor_of(nurse_user), order_id=order.id,
                        lat=door.lat, lng=door.lng, now=utcnow(), config=config,
                        visit_code=f"{(int(code) + 1) % 10**6:06d}")
    assert kept()
    assert session.get(DoorCheck, order.id, populate_existing=True).failed_attempts == 1
    assert session.get(Order, order.id, populate_existing=True).status == "en_route"


def test_repair_day_without_a_plan_keeps_the_callers_flushed_work(session, org, config,
                                                                  callers_work):
    session.commit()
    kept = callers_work()
    assert repair_day(session=session, organization_id=org.id, day=NOW.date(), now=NOW,
                      config=config, reasons=[]) is None
    assert kept()


def test_plan_all_organizations_failing_keeps_the_callers_flushed_work(session, org, config,
                                                                       callers_work):
    session.commit()
    kept = callers_work()
    summary = plan_all_organizations(session=session, day=NOW.date() - timedelta(days=2),
                                     now=NOW, config=config)
    assert org.id in summary["failed"] and kept()

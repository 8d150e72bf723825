"""The demo city loads, is realistic enough to dispatch on, and loads idempotently."""

from datetime import UTC, datetime

import sqlalchemy as sa

from homecare.catalogue.models import SKILLS
from homecare.demo import CENTER, RADIUS_KM, load_demo
from homecare.geo import Point, geodesic_km
from homecare.nurses.models import Nurse
from homecare.nurses.service import qualification_problems
from homecare.patients.identity import id_number_problems
from homecare.patients.models import Address, CareRecipient
from homecare.patients.service import decrypt_id_number

# 09:00 in Jining: the day's orders are booked for today.
NOW = datetime(2025, 6, 2, 1, 0, tzinfo=UTC)


def test_load_demo_twice_gives_the_same_counts_and_adds_nothing(session, app):
    config = app.config["HOMECARE"]
    first = load_demo(session=session, config=config, now=NOW)
    second = load_demo(session=session, config=config, now=NOW)
    assert first["counts"] == second["counts"]
    assert first["counts"]["nurses"] >= 40 and first["counts"]["care_recipients"] == 200
    assert first["counts"]["patient_accounts"] == 120
    assert first["counts"]["shifts_today"] > 0 and first["counts"]["service_items"] >= 24
    assert {k: v for k, v in second["added"].items() if v} == {}


def test_demo_nurses_are_realistic_and_active_only_when_qualified(session, app):
    config = app.config["HOMECARE"]
    summary = load_demo(session=session, config=config, now=NOW)
    nurses = list(session.scalars(sa.select(Nurse).where(
        Nurse.organization_id == summary["organization_id"])))
    assert {n.title for n in nurses} >= {"nurse", "senior_nurse", "supervisor_nurse"}
    for nurse in nurses:
        assert set(nurse.skills) <= set(SKILLS)
        assert nurse.active == (qualification_problems(nurse, config) == [])
        assert geodesic_km(CENTER, Point(nurse.home_lat, nurse.home_lng)) < RADIUS_KM


def test_demo_recipients_have_valid_numbers_and_served_addresses(session, app):
    config = app.config["HOMECARE"]
    summary = load_demo(session=session, config=config, now=NOW)
    recipients = list(session.scalars(sa.select(CareRecipient)))
    for recipient in recipients:
        number = decrypt_id_number(config=config, recipient=recipient)
        assert id_number_problems(number, today=NOW.date()) == []
    districts = set(session.scalars(sa.select(Address.district).where(
        Address.organization_id == summary["organization_id"])))
    assert len(districts) >= 5
    assert session.scalar(sa.select(sa.func.count()).select_from(Address).where(
        Address.outside_service_area.is_(True))) == 0


def test_demo_nurse_login_is_active_and_on_shift_today(session, app):
    from homecare.accounts.models import User
    from homecare.nurses.service import shifts_covering

    summary = load_demo(session=session, config=app.config["HOMECARE"], now=NOW)
    user = session.scalar(sa.select(User).where(
        User.phone == summary["logins"]["nurse"]["phone"]))
    nurse = session.scalar(sa.select(Nurse).where(Nurse.user_id == user.id))
    day = datetime(2025, 6, 1, 16, 0, tzinfo=UTC)  # local midnight, 2 June
    assert nurse.active
    assert shifts_covering(session=session, nurse_ids=[nurse.id], start=day,
                           end=day.replace(day=2))[nurse.id]


def test_demo_family_beds_stand_in_several_states(session, app):
    from datetime import timedelta

    from homecare.alerts.models import Alert
    from homecare.family_beds.models import FamilyBed

    load_demo(session=session, config=app.config["HOMECARE"], now=NOW)
    beds = session.scalars(sa.select(FamilyBed).order_by(FamilyBed.id)).all()
    today = NOW.date()  # 09:00 in Jining
    with_nurse = [b for b in beds if b.status == "open" and b.responsible_nurse_id]
    ending = [b for b in beds if b.status == "open" and b.end_date <= today + timedelta(days=3)]
    closed = [b for b in beds if b.status == "closed"]
    assert with_nurse and ending and closed
    assert closed[0].close_reason == "transferred" and closed[0].summary
    assert session.scalar(sa.select(Alert.family_bed_id).where(
        Alert.kind == "family_bed_ending")) == ending[0].id

"""The Jining demo city: one organization, its nurses and shifts, families, the catalogue,
the day's bookings and three family beds."""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from homecare.accounts.models import Organization, User
from homecare.accounts.service import hash_password
from homecare.auth import Actor
from homecare.catalogue.models import ServiceItem, title_rank
from homecare.catalogue.service import seed_catalogue
from homecare.clock import utcnow
from homecare.config import Config
from homecare.db import atomic
from homecare.family_beds.models import FamilyBed
from homecare.family_beds.risk import keep_end_dates
from homecare.family_beds.service import close_family_bed, open_family_bed
from homecare.geo import Point, geodesic_km
from homecare.nurses.models import Nurse, Shift
from homecare.orders.models import Order
from homecare.orders.service import create_order
from homecare.patients import identity
from homecare.patients.models import Address, CareRecipient
from homecare.patients.service import find_serving_organization, mark_assessed
from homecare.pricing.models import FeeTable

ORG_NAME = "济宁市第一人民医院 互联网+护理服务中心"
CENTER = Point(35.4150, 116.5870)
RADIUS_KM = 30.0
PASSWORD = "homecare-demo"
ADMIN_PHONE = "13800000000"
SUPERVISOR_PHONE = "13800000001"
NURSE_PHONES = [f"1381000{n:04d}" for n in range(1, 41)]
PATIENT_PHONES = [f"1382000{n:04d}" for n in range(1, 121)]
# The first 80 families register both parents, the other 40 one person: 200 recipients.
TWO_RECIPIENTS = 80
SEED = 20240601

# (district, centre, spread in km, weight, area code of its identity numbers, streets).
# Every centre lies inside the 30 km service area; 曲阜 and 邹城 (~35 km) do not.
DISTRICTS = (
    ("任城区", Point(35.4050, 116.5950), 3.0, 35, "370811",
     ("古槐路", "共青团路", "红星中路", "琵琶山路", "建设路", "吴泰闸路", "洸河路")),
    ("太白湖新区", Point(35.3620, 116.6030), 2.5, 15, "370811",
     ("圣贤路", "荷花路", "济安桥路", "运河路", "太白湖路")),
    ("高新区", Point(35.4150, 116.6650), 3.0, 20, "370811",
     ("崇文大道", "火炬路", "海川路", "同济路", "科苑路")),
    ("兖州区", Point(35.5530, 116.7830), 2.5, 15, "370812",
     ("建设东路", "九州中路", "龙桥路", "中御桥路", "文化路")),
    ("经开区", Point(35.3900, 116.4700), 2.0, 8, "370811",
     ("呈祥大道", "嘉达路", "金宇路")),
    ("嘉祥县", Point(35.4080, 116.3420), 2.0, 7, "370829",
     ("嘉宁路", "建设北路", "萌山路")),
)
ESTATES = ("阳光花园", "运河小区", "翰林苑", "府河花园", "金宇小区", "铁塔寺小区", "安居花园",
           "幸福里", "杏坛小区", "和谐家园")
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗孔颜孟曹田"
NURSE_GIVEN = ("丽", "静", "敏", "燕", "艳", "娟", "霞", "芳", "婷", "雪", "慧", "洁", "琳",
               "晓燕", "海燕", "春梅", "雪梅", "丽娜", "文静", "晓丽")
ELDER_GIVEN = {"female": ("秀英", "桂兰", "玉兰", "凤英", "淑珍", "桂芝", "素梅", "秀珍"),
               "male": ("建国", "国强", "德华", "志刚", "树林", "长海", "文华", "春生")}
YOUNG_GIVEN = {"female": ("晓雨", "佳怡", "梦琪", "雨涵"), "male": ("子轩", "浩然", "宇航")}
CHILD_GIVEN = ("王", "李", "张", "刘", "陈", "杨")

# Skill bundles a nurse's specialty brings on top of the basics every nurse has.
BASICS = ["vital_signs", "blood_sampling", "injection", "glucose_monitoring"]
BUNDLES = {
    "tube": ["urinary_catheter", "nasogastric_tube", "feeding"],
    "picc": ["picc_maintenance"],
    "wound": ["wound_care", "ostomy_care", "pressure_injury"],
    "tcm": ["moxibustion", "cupping", "acupressure", "gua_sha"],
    "maternal": ["postnatal_care", "newborn_care", "breastfeeding"],
    "rehab": ["rehabilitation", "swallowing_training"],
    "elderly": ["pressure_injury", "feeding", "enema", "medication_guidance"],
}
# (title, share, years of experience range)
TITLE_MIX = (("nurse", 0.15, (2, 4)), ("senior_nurse", 0.45, (5, 12)),
             ("supervisor_nurse", 0.28, (10, 20)), ("associate_chief_nurse", 0.09, (18, 28)),
             ("chief_nurse", 0.03, (25, 32)))
# Irregular availability (local hours): many nurses work for the service off duty.
SHIFT_PATTERNS = (((8, 17),), ((7.5, 11.5),), ((13, 18),), ((17.5, 20.5),),
                  ((8, 10), (15, 19)), ((9, 12), (14, 16.5)), ((12, 20),))

# eligibility -> (share, birth years, mobility choices, condition sets, items booked)
PROFILES = {
    "elderly_disabled": (0.35, (1930, 1950), ("bedridden", "wheelchair", "assisted"),
                         (["高血压", "脑梗后遗症"], ["阿尔茨海默病"], ["帕金森病", "长期卧床"]),
                         ("BASIC_VITALS", "BASIC_BLOOD_SAMPLING", "ELDER_PRESSURE_PREVENTION",
                          "TUBE_URINARY_CARE", "TUBE_NG_CARE", "ELDER_FEEDING")),
    "chronic": (0.25, (1940, 1965), ("independent", "assisted"),
                (["2型糖尿病", "高血压"], ["慢性阻塞性肺病"], ["慢性肾病"]),
                ("BASIC_GLUCOSE", "BASIC_SC_INJECTION", "BASIC_BLOOD_SAMPLING",
                 "BASIC_MEDICATION", "TCM_MOXIBUSTION", "TCM_ACUPRESSURE")),
    "post_discharge": (0.15, (1945, 1975), ("assisted", "wheelchair"),
                       (["股骨颈骨折术后"], ["结肠癌术后造口"], ["冠心病支架术后"]),
                       ("WO_DRESSING", "WO_SUTURE_REMOVAL", "WO_OSTOMY",
                        "BASIC_BLOOD_SAMPLING")),
    "rehabilitation": (0.12, (1940, 1970), ("assisted", "wheelchair"),
                       (["脑卒中后偏瘫"], ["膝关节置换术后"]),
                       ("REHAB_LIMB", "REHAB_BREATHING", "REHAB_SWALLOWING")),
    "terminal_care": (0.05, (1930, 1960), ("bedridden",),
                      (["肺癌晚期"], ["肝癌晚期"]),
                      ("BASIC_VITALS", "WO_PRESSURE_WOUND", "BASIC_IM_INJECTION")),
    "maternal_infant": (0.08, (1990, 1998), ("independent",),
                        (["产后"],), ("MI_POSTNATAL_VISIT", "MI_BREASTFEEDING")),
}
NEWBORN_ITEMS = ("MI_NEWBORN_BATH", "MI_JAUNDICE", "MI_UMBILICAL")


@atomic
def load_demo(*, session: Session, config: Config, now: datetime | None = None
              ) -> dict[str, Any]:
    """Load the demo city; idempotent (keyed on the organization name and phone numbers).

    Returns what is there after loading, what this run added, and the demo logins.
    Commits.
    """
    now = now or utcnow()
    zone = ZoneInfo(config.timezone)
    today = now.astimezone(zone).date()
    password_hash = hash_password(PASSWORD)
    added: dict[str, int] = {"service_items": seed_catalogue(session=session, now=now)}

    org = session.scalar(sa.select(Organization).where(Organization.name == ORG_NAME))
    if org is None:
        org = Organization(name=ORG_NAME, center_lat=CENTER.lat, center_lng=CENTER.lng,
                           radius_km=RADIUS_KM, created_at=now)
        session.add(org)
        session.flush()
    _user(session, ADMIN_PHONE, "系统管理员", "admin", None, password_hash, added)
    _user(session, SUPERVISOR_PHONE, "孔调度", "supervisor", org.id, password_hash, added)
    _fee_table(session, org, today, added, now)
    nurses = _nurses(session, org, password_hash, added, now)
    _credentials(nurses, today)
    # Tomorrow too: after 16:00 the demo books tomorrow's visits, which need nurses.
    added["shifts"] = sum(_shifts(session, nurses, day, zone)
                          for day in (today, today + timedelta(days=1)))
    _families(session, config, password_hash, added, now, today)
    session.commit()
    added["orders"] = _todays_orders(session, config, org, now, zone)
    added["family_beds"] = _family_beds(session, config, org, now, zone)

    return {
        "organization_id": org.id,
        "organization": ORG_NAME,
        "logins": {role: {"phone": phone, "password": PASSWORD} for role, phone in (
            ("admin", ADMIN_PHONE), ("supervisor", SUPERVISOR_PHONE),
            ("nurse", _working_nurse_phone(session, nurses, today, zone)),
            ("patient", PATIENT_PHONES[0]))},
        "counts": _counts(session, org, today, zone),
        "added": added,
    }


def _user(session: Session, phone: str, name: str, role: str, organization_id: int | None,
          password_hash: str, added: dict[str, int]) -> User:
    user = session.scalar(sa.select(User).where(User.phone == phone))
    if user is None:
        user = User(phone=phone, password_hash=password_hash, name=name, role=role,
                    organization_id=organization_id)
        session.add(user)
        session.flush()
        added[f"{role}_accounts"] = added.get(f"{role}_accounts", 0) + 1
    return user


def _place(rng: random.Random) -> tuple[str, Point, str, str]:
    """A random home: district, WGS-84 point inside the service area, street, area code."""
    district = rng.choices(DISTRICTS, weights=[d[3] for d in DISTRICTS])[0]
    name, centre, spread_km, _, area_code, streets = district
    while True:
        point = Point(centre.lat + rng.gauss(0, spread_km / 111.0),
                      centre.lng + rng.gauss(0, spread_km / 91.0))
        if geodesic_km(CENTER, point) < RADIUS_KM - 0.5:
            return name, point, rng.choice(streets), area_code


def _rng(*key: object) -> random.Random:
    # One stream per person (and day): what one person gets never depends on
    # whether another was created on this run, so a rerun regenerates the same data.
    return random.Random(":".join(map(str, (SEED, *key))))


def _nurses(session: Session, org: Organization, password_hash: str,
            added: dict[str, int], now: datetime) -> list[Nurse]:
    nurses = []
    for index, phone in enumerate(NURSE_PHONES):
        rng = _rng("nurse", phone)
        name = rng.choice(SURNAMES) + rng.choice(NURSE_GIVEN)
        title, _, years = rng.choices(TITLE_MIX, weights=[t[1] for t in TITLE_MIX])[0]
        experience = rng.randint(*years)
        bundles = rng.sample(sorted(BUNDLES), k=rng.randint(1, 3))
        skills = list(BASICS)
        for bundle in bundles:
            skills += [s for s in BUNDLES[bundle] if s not in skills]
        if title_rank(title) >= title_rank("supervisor_nurse"):
            skills += [s for s in ("geriatric_assessment", "tracheostomy_care")
                       if rng.random() < 0.4]
        _, home, _, _ = _place(rng)
        user = _user(session, phone, name, "nurse", org.id, password_hash, added)
        nurse = session.scalar(sa.select(Nurse).where(Nurse.user_id == user.id))
        if nurse is None:
            # Below the gate (护士, under five years) she is on the books but not dispatched.
            qualified = title_rank(title) >= title_rank("senior_nurse") and experience >= 5
            nurse = Nurse(user_id=user.id, organization_id=org.id,
                          license_no=f"{2024 - experience}37{index:06d}", title=title,
                          years_experience=experience, skills=skills,
                          home_lat=round(home.lat, 6), home_lng=round(home.lng, 6),
                          service_radius_km=float(rng.choice((8, 10, 12, 15))),
                          max_visits_per_day=rng.randint(4, 8), active=qualified,
                          created_at=now, updated_at=now)
            session.add(nurse)
            session.flush()
            added["nurses"] = added.get("nurses", 0) + 1
        nurses.append(nurse)
    return nurses


def _fee_table(session: Session, org: Organization, today: date, added: dict[str, int],
               now: datetime) -> None:
    """The hospital's published fees: 30 yuan travel within 3 km, 3 yuan per further km
    up to 80; 20 yuan after 19:00; 30 yuan on public holidays; 20 yuan to cancel
    within 4 hours."""
    if session.get(FeeTable, org.id) is not None:
        return
    holidays = sorted(f"{year}-{month_day}" for year in (today.year, today.year + 1)
                      for month_day in ("01-01", "05-01", "05-02", "05-03", "10-01",
                                        "10-02", "10-03", "10-04", "10-05", "10-06", "10-07"))
    session.add(FeeTable(organization_id=org.id, included_km=3.0, base_fee_fen=3000,
                         per_km_fen=300, cap_fen=8000, night_surcharge_fen=2000,
                         night_start="19:00", night_end="07:00", holiday_surcharge_fen=3000,
                         holidays=holidays, free_cancel_minutes=240, late_cancel_fee_fen=2000,
                         version=1, updated_at=now))
    session.flush()
    added["fee_tables"] = 1


def _credentials(nurses: list[Nurse], today: date) -> None:
    """Licence and liability insurance for every nurse without them; every seventh
    nurse's insurance runs out within the alert horizon (still valid this week), so
    the nightly check has something to say."""
    for index, nurse in enumerate(nurses):
        if nurse.license_valid_until is not None:
            continue
        rng = _rng("credentials", nurse.license_no)
        nurse.license_valid_until = today + timedelta(days=rng.randint(200, 1500))
        nurse.insurance_no = f"PICC{today.year}{nurse.id:08d}"
        nurse.insurer = rng.choice(("中国人民财产保险", "中国平安财产保险", "中国太平洋财产保险"))
        soon = index % 7 == 3
        nurse.insurance_valid_until = today + timedelta(
            days=rng.randint(10, 25) if soon else rng.randint(60, 365))
        nurse.photo_url = f"https://photos.example.cn/nurses/{nurse.license_no}.jpg"


def _shifts(session: Session, nurses: list[Nurse], today: date, zone: ZoneInfo) -> int:
    day_start = datetime.combine(today, time(0), zone)
    day_end = day_start + timedelta(days=1)
    busy = set(session.scalars(sa.select(Shift.nurse_id).where(
        Shift.nurse_id.in_([n.id for n in nurses]), Shift.start < day_end,
        Shift.end > day_start)))
    count = 0
    for nurse in nurses:
        rng = _rng("shifts", nurse.license_no, today)
        pattern = rng.choice(SHIFT_PATTERNS)
        jitter = rng.choice((-0.5, 0, 0, 0.5))
        off_today = rng.random() < 0.15
        if nurse.id in busy or not nurse.active or off_today:
            continue
        for start_h, end_h in pattern:
            session.add(Shift(nurse_id=nurse.id,
                              start=day_start + timedelta(hours=start_h + jitter),
                              end=day_start + timedelta(hours=end_h + jitter)))
            count += 1
    return count


def _working_nurse_phone(session: Session, nurses: list[Nurse], today: date,
                         zone: ZoneInfo) -> str:
    """The first demo nurse who is active and has a shift today: the one to log in as."""
    day_start = datetime.combine(today, time(0), zone)
    working = set(session.scalars(sa.select(Shift.nurse_id).where(
        Shift.nurse_id.in_([n.id for n in nurses]), Shift.start < day_start + timedelta(days=1),
        Shift.end > day_start)))
    for phone, nurse in zip(NURSE_PHONES, nurses, strict=True):
        if nurse.active and nurse.id in working:
            return phone
    return NURSE_PHONES[0]


def _eligibility(rng: random.Random) -> str:
    names = list(PROFILES)
    return rng.choices(names, weights=[PROFILES[n][0] for n in names])[0]


def _families(session: Session, config: Config, password_hash: str,
              added: dict[str, int], now: datetime, today: date) -> None:
    for index, phone in enumerate(PATIENT_PHONES):
        rng = _rng("family", phone)
        if session.scalar(sa.select(User.id).where(User.phone == phone)) is not None:
            # Keyed on the account: its family is there (newborns' birth dates move
            # with the day, so the people themselves are not a stable key).
            continue
        family = rng.choice(SURNAMES)
        owner_name = family + rng.choice(YOUNG_GIVEN[rng.choice(("female", "male"))])
        owner = _user(session, phone, owner_name, "patient", None, password_hash, added)
        district, point, street, area_code = _place(rng)
        text = (f"山东省济宁市{district}{street}{rng.randint(1, 300)}号"
                f"{rng.choice(ESTATES)}{rng.randint(1, 30)}号楼{rng.randint(1, 4)}单元"
                f"{rng.randint(1, 18)}0{rng.randint(1, 4)}")
        eligibility, second = _eligibility(rng), _eligibility(rng)
        if eligibility == "maternal_infant":
            # A young family: the mother and her baby, or the baby alone.
            people = ["maternal_infant", "newborn"][-2 if index < TWO_RECIPIENTS else -1:]
        elif index < TWO_RECIPIENTS:
            # Both parents: the second is never a new mother.
            people = [eligibility, "chronic" if second == "maternal_infant" else second]
        else:
            people = [eligibility]
        for seq, kind in enumerate(people):
            gender = ("female", "male")[seq % 2] if kind != "maternal_infant" else "female"
            _recipient(session, rng, config, owner, family, kind, gender, area_code, district,
                       point, text, added, now, today)


def _recipient(session: Session, rng: random.Random, config: Config, owner: User, family: str,
               kind: str, gender: str, area_code: str, district: str, point: Point, text: str,
               added: dict[str, int], now: datetime, today: date) -> None:
    if kind == "newborn":
        born = today - timedelta(days=rng.randint(3, 25))
        name = family + rng.choice(CHILD_GIVEN) + "宝"
        eligibility, mobility, conditions = "maternal_infant", None, ["新生儿黄疸"]
    else:
        share, years, mobilities, condition_sets, _ = PROFILES[kind]
        born = date(rng.randint(*years), rng.randint(1, 12), rng.randint(1, 28))
        pool = YOUNG_GIVEN if kind == "maternal_infant" else ELDER_GIVEN
        name = family + rng.choice(pool[gender])
        eligibility, mobility = kind, rng.choice(mobilities)
        conditions = list(rng.choice(condition_sets))
    sequence = rng.randrange(0, 500) * 2 + (1 if gender == "male" else 0)
    id_number = identity.make_id_number(area_code, born, sequence)
    digest = identity.id_number_digest(config.data_key, id_number)
    exists = session.scalar(sa.select(CareRecipient.id).where(
        CareRecipient.owner_id == owner.id, CareRecipient.id_number_hash == digest))
    if exists is not None:
        return
    recipient = CareRecipient(
        owner_id=owner.id, name=name, gender=gender, birth_date=born,
        id_number_enc=identity.encrypt_id_number(config.data_key, id_number),
        id_number_hash=digest, phone=None if kind == "newborn" else
        f"15{rng.randint(0, 9)}{rng.randint(0, 99999999):08d}",
        conditions=conditions, allergies=["青霉素"] if rng.random() < 0.1 else [],
        mobility=mobility, eligibility=eligibility,
        emergency_contact={"name": owner.name, "phone": owner.phone, "relation": "子女"},
        consent=True, guardian_consent=kind == "newborn", consent_at=now,
        created_at=now, updated_at=now)
    # Most families have had the first-visit assessment by the organization that
    # serves their home; the rest wait for it.
    assessed = rng.random() < 0.8
    session.add(recipient)
    session.flush()
    org = find_serving_organization(session=session, point=point)
    session.add(Address(patient_id=recipient.id, label="家", text=text, district=district,
                        lat=round(point.lat, 6), lng=round(point.lng, 6),
                        organization_id=org.id if org else None,
                        outside_service_area=org is None, created_at=now))
    if assessed and org is not None:
        mark_assessed(session, patient_id=recipient.id, organization_id=org.id, now=now)
    added["care_recipients"] = added.get("care_recipients", 0) + 1


def _todays_orders(session: Session, config: Config, org: Organization, now: datetime,
                   zone: ZoneInfo) -> int:
    """Book the day's visits through the orders service, as families would."""
    local = now.astimezone(zone)
    # Late in the day there is nothing left to book today: the demo books tomorrow.
    day = local.date() if local.hour < 16 else local.date() + timedelta(days=1)
    # Family-bed visits are generated days ahead: only the demo's own bookings count.
    if session.scalar(sa.select(Order.id).where(Order.organization_id == org.id,
                                                Order.service_date == day,
                                                Order.family_bed_id.is_(None)).limit(1)):
        return 0
    rng = _rng("orders", day)
    open_h, close_h = (int(config.service_hours_start[:2]), int(config.service_hours_end[:2]))
    first = max(open_h + 1, local.hour + 2) if day == local.date() else open_h + 1
    rows = session.execute(
        sa.select(CareRecipient, Address, User).join(Address, Address.patient_id ==
                                                     CareRecipient.id)
        .join(User, User.id == CareRecipient.owner_id)
        .where(Address.organization_id == org.id, User.phone.in_(PATIENT_PHONES))
        .order_by(CareRecipient.id)).all()
    booked = 0
    for recipient, address, owner in rng.sample(rows, k=min(60, len(rows))):
        items = (NEWBORN_ITEMS if recipient.birth_date > day - timedelta(days=365)
                 else PROFILES[recipient.eligibility][4])
        start_h = rng.randint(first, close_h - 3)
        start = datetime.combine(day, time(start_h, rng.choice((0, 30))), zone)
        actor = Actor(user_id=owner.id, role="patient", organization_id=None)
        create_order(session=session, actor=actor, patient_id=recipient.id,
                     address_id=address.id, service_code=rng.choice(items),
                     window_start=start, window_end=start + timedelta(hours=2),
                     now=now, config=config, notes="演示订单")
        booked += 1
    return booked


# The episodes (家庭病床) the demo opens: eligibility of the recipient, diagnosis, plan,
# days it lasts, and how it stands: ``responsible`` (open, with a responsible nurse),
# ``ending`` (its end within the pre-end alert's days: the supervisor is alerted), or
# ``closed`` (with a reason and a summary).
FAMILY_BEDS = (
    ("post_discharge", "股骨颈骨折术后，切口换药", (
        ("WO_DRESSING", [1, 3, 5], time(9), time(11)),
        ("BASIC_VITALS", [2, 4], time(15), time(16))), 60, "responsible"),
    ("elderly_disabled", "脑梗后遗症，长期卧床", (
        ("ELDER_PRESSURE_PREVENTION", [1, 2, 3, 4, 5], time(10), time(12)),), 3, "ending"),
    ("chronic", "慢阻肺急性加重后，家庭氧疗", (
        ("BASIC_VITALS", [1, 4], time(9), time(11)),), 30, "closed"),
)


def _family_beds(session: Session, config: Config, org: Organization, now: datetime,
                 zone: ZoneInfo) -> int:
    """Open the demo's family beds through the service, as the supervisor would; close
    one, and let the nightly job's pre-end alert see the one about to end."""
    if session.scalar(sa.select(FamilyBed.id).where(FamilyBed.organization_id == org.id)
                      .limit(1)) is not None:
        return 0
    supervisor = session.scalar(sa.select(User).where(User.phone == SUPERVISOR_PHONE))
    actor = Actor(user_id=supervisor.id, role="supervisor", organization_id=org.id)
    today = now.astimezone(zone).date()
    opened = 0
    for eligibility, diagnosis, plan, days, state in FAMILY_BEDS:
        recipient, address = session.execute(
            sa.select(CareRecipient, Address).join(Address, Address.patient_id ==
                                                   CareRecipient.id)
            .join(User, User.id == CareRecipient.owner_id)
            .where(Address.organization_id == org.id, User.phone.in_(PATIENT_PHONES),
                   CareRecipient.eligibility == eligibility)
            .order_by(CareRecipient.id).limit(1)).one()
        responsible = (_responsible_nurse(session, org, address, [code for code, *_ in plan])
                       if state == "responsible" else None)
        bed = open_family_bed(
            session=session, actor=actor, patient_id=recipient.id, address_id=address.id,
            diagnosis=diagnosis, start_date=today, end_date=today + timedelta(days=days - 1),
            plan=[{"service_code": code, "weekdays": weekdays, "window_start": start,
                   "window_end": end} for code, weekdays, start, end in plan],
            responsible_nurse_id=responsible, now=now, config=config)
        if state == "closed":
            close_family_bed(session=session, actor=actor, family_bed_id=bed["id"],
                             reason="transferred", summary="转上级医院呼吸科住院治疗，撤床",
                             now=now, config=config)
        opened += 1
    keep_end_dates(session=session, now=now, config=config)
    return opened


def _responsible_nurse(session: Session, org: Organization, address: Address,
                       codes: list[str]) -> int | None:
    """The first active nurse (by id) with every skill the plan's items need who serves
    the address (within her service radius of home)."""
    needed = {skill for item in session.scalars(sa.select(ServiceItem).where(
        ServiceItem.code.in_(codes))) for skill in item.required_skills}
    for nurse in session.scalars(sa.select(Nurse).where(
            Nurse.organization_id == org.id, Nurse.active.is_(True)).order_by(Nurse.id)):
        home = Point(nurse.home_lat, nurse.home_lng)
        if needed <= set(nurse.skills) and geodesic_km(
                home, Point(address.lat, address.lng)) <= nurse.service_radius_km:
            return nurse.id
    return None


def _counts(session: Session, org: Organization, today: date, zone: ZoneInfo
            ) -> dict[str, int]:
    def count(stmt) -> int:
        return session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery()))

    nurse_ids = sa.select(Nurse.id).where(Nurse.organization_id == org.id)
    owners = sa.select(User.id).where(User.phone.in_(PATIENT_PHONES))
    day_start = datetime.combine(today, time(0), zone)
    return {
        "nurses": count(nurse_ids),
        "active_nurses": count(nurse_ids.where(Nurse.active.is_(True))),
        "patient_accounts": count(owners),
        "care_recipients": count(sa.select(CareRecipient.id).where(
            CareRecipient.owner_id.in_(owners))),
        "service_items": count(sa.select(ServiceItem.code)),
        "shifts_today": count(sa.select(Shift.id).where(
            Shift.nurse_id.in_(nurse_ids), Shift.start < day_start + timedelta(days=1),
            Shift.end > day_start)),
        "orders": count(sa.select(Order.id).where(Order.organization_id == org.id)),
    }

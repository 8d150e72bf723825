"""Care recipients and addresses: registration with consent, masking, service areas."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from homecare.accounts.models import Organization
from homecare.audit.service import record
from homecare.auth import Actor, ensure_visible, visible_filter
from homecare.config import Config
from homecare.db import atomic, insert_unless_taken
from homecare.errors import Conflict, Forbidden, NotFound, ValidationProblem
from homecare.geo import Point, geodesic_km
from homecare.orders.models import Order
from homecare.patients import identity
from homecare.patients.models import Address, Assessment, CareRecipient
from homecare.schemas import mask_id_number, mask_phone

# PIPL art. 31: personal information of a child under 14 needs a guardian's consent.
GUARDIAN_CONSENT_UNDER = 14
# What a supervisor may correct after her organization's assessment; the rest
# (identity, contact details) belongs to the family who registered the person.
SUPERVISOR_FIELDS = frozenset({"conditions", "allergies", "mobility", "eligibility"})


class RecipientNotFound(NotFound):
    code, title = "patient_not_found", "No such care recipient"


class RecipientAlreadyRegistered(Conflict):
    code, title = "patient_exists", "This account has already registered this person"


class GuardianConsentRequired(ValidationProblem):
    code, title = "guardian_consent_required", "A guardian's consent is required"


class RecipientFieldsNotAllowed(Forbidden):
    code, title = "field_not_allowed", "This role may not change these fields"


def decrypt_id_number(*, config: Config, recipient: CareRecipient) -> str | None:
    """The recipient's identity number in clear (None if the data key cannot read it).

    Callers must only show it to the owner; everyone else gets ``mask_id_number``.
    """
    return identity.decrypt_id_number(config.data_key, recipient.id_number_enc)


def find_serving_organization(*, session: Session, point: Point) -> Organization | None:
    """The organization whose service area (centre, radius, geodesic) holds ``point``.

    Where areas overlap the nearest centre wins. None: nobody serves the place.
    """
    best: tuple[float, Organization] | None = None
    for org in session.scalars(sa.select(Organization).order_by(Organization.id)):
        distance = geodesic_km(Point(org.center_lat, org.center_lng), point)
        if distance <= org.radius_km and (best is None or distance < best[0]):
            best = (distance, org)
    return best[1] if best else None


def _served_by(organization_id: int | None) -> sa.ColumnElement[bool]:
    # An organization serves a recipient who lives in its area or has booked it.
    return sa.or_(
        sa.exists().where(Address.patient_id == CareRecipient.id,
                          Address.organization_id == organization_id),
        sa.exists().where(Order.patient_id == CareRecipient.id,
                          Order.organization_id == organization_id))


def serves_recipient(*, session: Session, organization_id: int, patient_id: int) -> bool:
    """Whether ``organization_id`` serves the recipient (an address in its area, or an order)."""
    return session.scalar(sa.select(sa.exists().where(
        CareRecipient.id == patient_id, _served_by(organization_id)))) or False


# Who sees a recipient, for her getter and the list alike: her owner, a supervisor of
# an organization that serves her, an admin. Nurses see recipients through the
# orders they are assigned to, not here.
RECIPIENT_STAFF = ("admin", "supervisor")


def _visible(actor: Actor) -> sa.Select:
    return sa.select(CareRecipient).where(visible_filter(
        actor, _served_by, staff=RECIPIENT_STAFF,
        parties={"patient": CareRecipient.owner_id}))


def access_recipient(session: Session, actor: Actor, patient_id: int) -> CareRecipient:
    """The recipient if the caller may see it: the owner, a supervisor of an organization
    that serves the person, or an admin. No audit entry: for other services' checks.

    :raises RecipientNotFound: missing, or not the caller's to see.
    """
    recipient = session.get(CareRecipient, patient_id)
    if recipient is None:
        raise RecipientNotFound(patient_id=patient_id)
    # A recipient belongs to every organization that serves her: for the rule, to
    # the supervisor's if it does.
    serving = actor.organization_id if actor.role == "supervisor" and serves_recipient(
        session=session, organization_id=actor.organization_id, patient_id=patient_id) else None
    ensure_visible(actor, serving, RecipientNotFound, staff=RECIPIENT_STAFF,
                   parties={"patient": recipient.owner_id}, patient_id=patient_id)
    return recipient


def _local_today(now: datetime, config: Config) -> date:
    return now.astimezone(ZoneInfo(config.timezone)).date()


def _age(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _check_guardian(birth_date: date, guardian_consent: bool, *, now: datetime,
                    config: Config) -> None:
    age = _age(birth_date, _local_today(now, config))
    if age < GUARDIAN_CONSENT_UNDER and not guardian_consent:
        raise GuardianConsentRequired(
            f"the person is {age}: for anyone under {GUARDIAN_CONSENT_UNDER} the account "
            "holder must give guardian_consent", field="guardian_consent")


def _ensure_unregistered(session: Session, *, owner_id: int, digest: str,
                         except_id: int | None = None) -> None:
    stmt = sa.select(CareRecipient.id).where(CareRecipient.owner_id == owner_id,
                                             CareRecipient.id_number_hash == digest)
    if except_id is not None:
        stmt = stmt.where(CareRecipient.id != except_id)
    existing = session.scalar(stmt)
    if existing is not None:
        raise RecipientAlreadyRegistered(patient_id=existing)


# Asked on every booking: a Core read built once (``session.get`` of the two-column key
# went through the ORM's loading for an answer that is only yes or no).
_ASSESSED = sa.select(sa.literal(1)).where(
    Assessment.__table__.c.patient_id == sa.bindparam("patient_id"),
    Assessment.__table__.c.organization_id == sa.bindparam("organization_id"))


def is_assessed(*, session: Session, patient_id: int, organization_id: int) -> bool:
    """Whether ``organization_id`` has done its first-visit assessment of the recipient."""
    return session.execute(_ASSESSED, {"patient_id": patient_id,
                                       "organization_id": organization_id}).first() is not None


def mark_assessed(session: Session, *, patient_id: int, organization_id: int,
                  now: datetime) -> None:
    """Record ``organization_id``'s first-visit assessment of the recipient (no commit).

    For the services that complete one: approving a first order, opening a family
    bed. An assessment already on record keeps its time.
    """
    # Two supervisors approving at once must not collide on the key (a 500).
    session.execute(insert_unless_taken(
        session.get_bind().dialect.name, Assessment.__table__,
        ["patient_id", "organization_id"]).values(
        patient_id=patient_id, organization_id=organization_id, assessed_at=now))


def _assessments_of(session: Session, patient_ids: list[int], actor: Actor
                    ) -> dict[int, list[dict[str, Any]]]:
    # Staff see only their own organization's: which other institutions a person
    # turned to is not theirs to know.
    by_patient: dict[int, list[dict[str, Any]]] = {pid: [] for pid in patient_ids}
    stmt = sa.select(Assessment).where(Assessment.patient_id.in_(patient_ids)).order_by(
        Assessment.assessed_at, Assessment.organization_id)
    if actor.role not in ("patient", "admin"):
        stmt = stmt.where(Assessment.organization_id == actor.organization_id)
    if patient_ids:
        for row in session.scalars(stmt):
            by_patient[row.patient_id].append(
                {"organization_id": row.organization_id, "assessed_at": row.assessed_at})
    return by_patient


def _addresses_of(session: Session, patient_ids: list[int]) -> dict[int, list[Address]]:
    by_patient: dict[int, list[Address]] = {pid: [] for pid in patient_ids}
    if patient_ids:
        for address in session.scalars(sa.select(Address).where(
                Address.patient_id.in_(patient_ids)).order_by(Address.id)):
            by_patient[address.patient_id].append(address)
    return by_patient


def _view(recipient: CareRecipient, addresses: list[Address], *, actor: Actor,
          now: datetime, config: Config,
          assessments: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    owner = actor.role == "patient" and recipient.owner_id == actor.user_id
    id_number = decrypt_id_number(config=config, recipient=recipient)
    contact = dict(recipient.emergency_contact) if recipient.emergency_contact else None
    if not owner:
        id_number = mask_id_number(id_number)
        if contact:
            contact["phone"] = mask_phone(contact.get("phone"))
    view = {c: getattr(recipient, c) for c in (
        "id", "owner_id", "name", "gender", "birth_date", "conditions", "allergies",
        "mobility", "eligibility", "consent", "guardian_consent", "consent_at",
        "created_at", "updated_at")}
    view.update(id_number=id_number, emergency_contact=contact, masked=not owner,
                phone=recipient.phone if owner else mask_phone(recipient.phone),
                age=_age(recipient.birth_date, _local_today(now, config)),
                addresses=addresses, assessments=assessments or [])
    return view


def record_recipient_reads(session: Session, *, actor: Actor, patient_ids: list[int],
                           now: datetime, part: str,
                           detail: dict[str, Any] | None = None) -> None:
    """Put a read of each recipient's personal data on the audit trail (no commit).

    For every service that shows staff a recipient's record, name, exact address
    or phone (``part`` says through what). Reads by a patient account are not
    logged: a family reading its own relatives' data is not an access by the
    institution.
    """
    # PIPL: access to health records is logged.
    if actor.role == "patient":
        return
    for pid in patient_ids:
        record(session, actor=actor, action="patient.read", object_type="patient",
               object_id=pid, organization_id=actor.organization_id, now=now,
               detail={"part": part, **(detail or {})})


@atomic
def create_recipient(*, session: Session, actor: Actor, data: dict[str, Any], now: datetime,
                     config: Config) -> dict[str, Any]:
    """Register a care recipient for the calling patient account, with consent.

    The identity number is stored encrypted, with a keyed digest for uniqueness.

    :raises GuardianConsentRequired: under 14 without ``guardian_consent``.
    :raises RecipientAlreadyRegistered: this account has registered the person already.
    """
    data = dict(data)
    _check_guardian(data["birth_date"], data["guardian_consent"], now=now, config=config)
    id_number = data.pop("id_number")
    digest = identity.id_number_digest(config.data_key, id_number)
    _ensure_unregistered(session, owner_id=actor.user_id, digest=digest)
    recipient = CareRecipient(
        **data, owner_id=actor.user_id, id_number_hash=digest,
        id_number_enc=identity.encrypt_id_number(config.data_key, id_number),
        consent_at=now, created_at=now, updated_at=now)
    session.add(recipient)
    try:
        session.flush()
    except sa.exc.IntegrityError as exc:  # the same person registered concurrently
        raise RecipientAlreadyRegistered() from exc
    record(session, actor=actor, action="patient.created", object_type="patient",
           object_id=recipient.id, organization_id=None, now=now,
           detail={"guardian_consent": recipient.guardian_consent})
    session.commit()
    return _view(recipient, [], actor=actor, now=now, config=config)


@atomic
def list_recipients(*, session: Session, actor: Actor, now: datetime, config: Config,
                    page: int, page_size: int) -> tuple[list[dict[str, Any]], int]:
    """One page of the recipients the caller may see, and the total count.

    Owners see theirs in full; supervisors those their organization serves, and
    admins all, masked; every staff read is audited.
    """
    stmt = _visible(actor)
    total = session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery()))
    offset = (page - 1) * page_size
    # Past the end the answer is empty; the database may not represent such an offset.
    recipients = [] if offset >= total else list(session.scalars(
        stmt.order_by(CareRecipient.id).limit(page_size).offset(offset)))
    addresses = _addresses_of(session, [r.id for r in recipients])
    assessments = _assessments_of(session, [r.id for r in recipients], actor)
    views = [_view(r, addresses[r.id], actor=actor, now=now, config=config,
                   assessments=assessments[r.id]) for r in recipients]
    record_recipient_reads(session, actor=actor, patient_ids=[r.id for r in recipients],
                           now=now, part="list")
    session.commit()
    return views, total


@atomic
def read_recipient(*, session: Session, actor: Actor, patient_id: int, now: datetime,
                   config: Config) -> dict[str, Any]:
    """One recipient's record with addresses, masked for staff; staff reads are audited.

    :raises RecipientNotFound: missing, or not the caller's to see.
    """
    recipient = access_recipient(session, actor, patient_id)
    view = _view(recipient, _addresses_of(session, [recipient.id])[recipient.id], actor=actor,
                 now=now, config=config,
                 assessments=_assessments_of(session, [recipient.id], actor)[recipient.id])
    record_recipient_reads(session, actor=actor, patient_ids=[recipient.id],
                           now=now, part="record")
    session.commit()
    return view


@atomic
def update_recipient(*, session: Session, actor: Actor, patient_id: int,
                     changes: dict[str, Any], now: datetime, config: Config
                     ) -> dict[str, Any]:
    """Change a recipient: the owner any field, a serving supervisor the clinical ones.

    :raises RecipientNotFound: missing, or not the caller's to see.
    :raises RecipientFieldsNotAllowed: a supervisor changing identity or contact fields.
    :raises GuardianConsentRequired: the change leaves a child under 14 without it.
    :raises RecipientAlreadyRegistered: the new identity number is another recipient's.
    """
    recipient = access_recipient(session, actor, patient_id)
    if actor.role != "patient":
        refused = sorted(set(changes) - SUPERVISOR_FIELDS)
        if refused:
            raise RecipientFieldsNotAllowed(
                "a supervisor may change only " + ", ".join(sorted(SUPERVISOR_FIELDS)),
                fields=refused)
    changes = dict(changes)
    _check_guardian(changes.get("birth_date", recipient.birth_date),
                    changes.get("guardian_consent", recipient.guardian_consent),
                    now=now, config=config)
    if "id_number" in changes:
        id_number = changes.pop("id_number")
        digest = identity.id_number_digest(config.data_key, id_number)
        _ensure_unregistered(session, owner_id=recipient.owner_id, digest=digest,
                             except_id=recipient.id)
        recipient.id_number_hash = digest
        recipient.id_number_enc = identity.encrypt_id_number(config.data_key, id_number)
        changed = sorted([*changes, "id_number"])
    else:
        changed = sorted(changes)
    for name, value in changes.items():
        setattr(recipient, name, value)
    recipient.updated_at = now
    record(session, actor=actor, action="patient.updated", object_type="patient",
           object_id=recipient.id, organization_id=actor.organization_id, now=now,
           detail={"fields": changed})
    view = _view(recipient, _addresses_of(session, [recipient.id])[recipient.id], actor=actor,
                 now=now, config=config,
                 assessments=_assessments_of(session, [recipient.id], actor)[recipient.id])
    session.commit()
    return view


@atomic
def add_address(*, session: Session, actor: Actor, patient_id: int, data: dict[str, Any],
                now: datetime) -> Address:
    """Add a place where the recipient is visited (the owner), given in WGS-84.

    The serving organization is the one whose area holds the place. A place no
    organization serves is accepted but flagged ``outside_service_area``, and
    orders there are refused (problem code ``outside_service_area``).

    :raises RecipientNotFound: missing, or not the caller's own recipient.
    """
    recipient = access_recipient(session, actor, patient_id)
    org = find_serving_organization(session=session, point=Point(data["lat"], data["lng"]))
    address = Address(patient_id=recipient.id, label=data["label"], text=data["text"],
                      district=data.get("district"), lat=data["lat"], lng=data["lng"],
                      organization_id=org.id if org else None,
                      outside_service_area=org is None, created_at=now)
    session.add(address)
    session.flush()
    record(session, actor=actor, action="patient.address_added", object_type="patient",
           object_id=recipient.id, organization_id=address.organization_id, now=now,
           detail={"address_id": address.id, "outside_service_area": org is None})
    session.commit()
    return address


@atomic
def list_addresses(*, session: Session, actor: Actor, patient_id: int, now: datetime
                   ) -> list[Address]:
    """The recipient's addresses (owner, serving supervisor, admin); staff reads are audited.

    :raises RecipientNotFound: missing, or not the caller's to see.
    """
    recipient = access_recipient(session, actor, patient_id)
    addresses = _addresses_of(session, [recipient.id])[recipient.id]
    record_recipient_reads(session, actor=actor, patient_ids=[recipient.id],
                           now=now, part="addresses")
    session.commit()
    return addresses

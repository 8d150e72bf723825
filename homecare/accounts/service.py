"""Accounts: registration, login with throttling, tokens, organizations, staff."""

from __future__ import annotations

import hashlib
import math
from datetime import datetime, timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from homecare.accounts.models import LoginAttempt, Organization, User
from homecare.auth import Actor, decode_token, ensure_visible, load_active_user
from homecare.db import atomic
from homecare.errors import (
    Conflict,
    Forbidden,
    NotFound,
    Problem,
    TooManyRequests,
    ValidationProblem,
)
from homecare.nurses.models import Nurse
from homecare.patients.models import CareRecipient

_hasher = PasswordHasher()
# Verified against when the phone is unknown, so a wrong phone costs the same
# time as a wrong password and response time does not reveal who has an account.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


class PhoneTaken(Conflict):
    code, title = "phone_taken", "An account with this phone number exists"


class InvalidCredentials(Problem):
    status, code, title = 401, "invalid_credentials", "Phone number or password is wrong"


class UserNotFound(NotFound):
    code, title = "user_not_found", "No such user"


class OrganizationNotFound(NotFound):
    code, title = "organization_not_found", "No such organization"


class OrganizationRequired(ValidationProblem):
    code, title = "organization_required", "Name the organization"


class LoginRateLimited(TooManyRequests):
    code, title = "login_rate_limited", "Too many login attempts"


def organization_in_charge(session: Session, actor: Actor | None, organization_id: int | None,
                           *, what: str) -> int:
    """The organization whose ``what`` (its day plan, its board) a caller works on: a
    supervisor's own unless she names it, one an admin must name; None is the service.

    :raises Forbidden: (403) the caller is neither supervisor nor admin.
    :raises OrganizationRequired: (422) an admin (or the service) named none.
    :raises OrganizationNotFound: (404) no such organization, or another one's.
    """
    if actor is not None and actor.role not in ("supervisor", "admin"):
        raise Forbidden(f"only a supervisor works on the {what}")
    if organization_id is None:
        if actor is None or actor.role == "admin" or actor.organization_id is None:
            raise OrganizationRequired(f"name the organization_id of the {what}")
        organization_id = actor.organization_id
    if session.get(Organization, organization_id) is None:
        raise OrganizationNotFound(organization_id=organization_id)
    if actor is not None:
        ensure_visible(actor, organization_id, OrganizationNotFound,
                       organization_id=organization_id)
    return organization_id


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _new_user(session: Session, *, phone: str, password: str, name: str, role: str,
              organization_id: int | None) -> User:
    if session.scalar(sa.select(User.id).where(User.phone == phone)) is not None:
        raise PhoneTaken()
    user = User(phone=phone, password_hash=hash_password(password), name=name, role=role,
                organization_id=organization_id)
    session.add(user)
    try:
        session.flush()
    except sa.exc.IntegrityError as exc:  # a concurrent registration won the race
        session.rollback()
        raise PhoneTaken() from exc
    return user


@atomic
def register_patient(*, session: Session, phone: str, password: str, name: str) -> User:
    """Self-registration of a patient account (a family member who books).

    :raises PhoneTaken: the number already has an account.
    """
    user = _new_user(session, phone=phone, password=password, name=name, role="patient",
                     organization_id=None)
    session.commit()
    return user


def _rate_key(kind: str, value: str) -> str:
    # Phone numbers are personal data: the counter table keeps only a digest.
    return f"login:{kind}:" + hashlib.sha256(value.encode()).hexdigest()[:32]


def _attempts_since(session: Session, key: str, since: datetime) -> list[datetime]:
    return list(session.scalars(sa.select(LoginAttempt.at).where(
        LoginAttempt.key == key, LoginAttempt.at > since).order_by(LoginAttempt.at)))


def _seconds_until_allowed(attempts: list[datetime], limit: int, *, now: datetime,
                           window: timedelta) -> int | None:
    """None if fewer than ``limit`` attempts are in the window; else when one more may come.

    That is when enough of the oldest have left the window for the count to drop
    below the limit, i.e. when attempt number ``len - limit`` (oldest first) expires.
    """
    if len(attempts) < limit:
        return None
    freed_at = attempts[len(attempts) - limit] + window
    return max(1, math.ceil((freed_at - now).total_seconds()))


@atomic
def login(*, session: Session, phone: str, password: str, ip: str | None, now: datetime,
          max_per_phone: int, max_per_ip: int, window_seconds: int) -> User:
    """Check a phone and password, throttled per phone (failures) and per IP (all).

    A sliding window: a limit counts the attempts of the last ``window_seconds``,
    whenever they fell. (Windows fixed to the clock let a burst at the end of one
    and the start of the next through: twice the limit within a second.) The
    attempts live in the database so that every worker process counts them all.

    :raises LoginRateLimited: too many attempts in the window (with Retry-After).
    :raises InvalidCredentials: unknown phone or wrong password.
    """
    window = timedelta(seconds=window_seconds)
    since = now - window
    phone_key, ip_key = _rate_key("phone", phone), _rate_key("ip", ip or "unknown")
    # Attempts that left the window no longer count: forget them, so the table
    # holds at most one window of attempts per key.
    session.execute(sa.delete(LoginAttempt).where(LoginAttempt.key.in_((phone_key, ip_key)),
                                                  LoginAttempt.at <= since))
    waits = [wait for wait in (
        _seconds_until_allowed(_attempts_since(session, phone_key, since), max_per_phone,
                               now=now, window=window),
        _seconds_until_allowed(_attempts_since(session, ip_key, since), max_per_ip,
                               now=now, window=window)) if wait is not None]
    if waits:
        session.commit()
        retry_after = max(waits)
        raise LoginRateLimited(f"try again in {retry_after} seconds",
                               headers={"Retry-After": str(retry_after)},
                               retry_after=retry_after)
    session.add(LoginAttempt(key=ip_key, at=now))
    user = session.scalar(sa.select(User).where(User.phone == phone))
    if not _password_matches(user.password_hash if user else None, password) or (
            user is not None and not user.active):
        session.add(LoginAttempt(key=phone_key, at=now))
        session.commit()
        raise InvalidCredentials()
    session.commit()
    return user


def _password_matches(stored_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    # UnicodeError: a password argon2 cannot encode (a lone surrogate) matches nothing.
    except (VerificationError, InvalidHashError, UnicodeError):
        return False


def refresh(*, session: Session, refresh_token: str) -> User:
    """The active user behind a refresh token.

    :raises TokenInvalid: expired, malformed, not a refresh token, or the user is inactive.
    """
    claims = decode_token(refresh_token, "refresh")
    return load_active_user(int(claims["sub"]))


def access_user(session: Session, actor: Actor, user_id: int) -> User:
    """A user the caller may see (herself, or staff of her organization)."""
    user = session.get(User, user_id)
    if user is None or (user.id != actor.user_id and (
            actor.role not in ("admin", "supervisor") or user.role in ("patient", "admin"))):
        raise UserNotFound(user_id=user_id)
    if user.id != actor.user_id:
        ensure_visible(actor, user.organization_id, UserNotFound, user_id=user_id)
    return user


@atomic
def create_organization(*, session: Session, name: str, center: dict, radius_km: float
                        ) -> Organization:
    """A new institution with its service area (centre and radius)."""
    org = Organization(name=name, center_lat=center["lat"], center_lng=center["lng"],
                       radius_km=radius_km)
    session.add(org)
    session.commit()
    return org


def access_organization(session: Session, actor: Actor, organization_id: int) -> Organization:
    org = session.get(Organization, organization_id)
    if org is None:
        raise OrganizationNotFound(organization_id=organization_id)
    if actor.role != "admin":
        ensure_visible(actor, org.id, OrganizationNotFound, organization_id=organization_id)
    return org


def list_organizations(*, session: Session) -> sa.Select:
    return sa.select(Organization).order_by(Organization.id)


@atomic
def create_staff_user(*, session: Session, actor: Actor, phone: str, password: str, name: str,
                      role: str, organization_id: int) -> User:
    """A nurse or supervisor account inside an organization.

    :raises Forbidden: a supervisor naming another organization.
    :raises OrganizationNotFound: no such organization.
    :raises PhoneTaken: the number already has an account.
    """
    if actor.role == "supervisor" and actor.organization_id != organization_id:
        raise Forbidden("a supervisor may create accounts only in her own organization")
    if session.get(Organization, organization_id) is None:
        raise OrganizationNotFound(organization_id=organization_id)
    user = _new_user(session, phone=phone, password=password, name=name, role=role,
                     organization_id=organization_id)
    session.commit()
    return user


def update_user(*, session: Session, actor: Actor, user_id: int, changes: dict) -> User:
    """Rename, (de)activate or reset the password of a staff account.

    Deactivation takes effect at once: every token of the user stops working.
    """
    user = access_user(session, actor, user_id)
    if actor.role not in ("admin", "supervisor"):
        raise Forbidden("only an admin or supervisor changes accounts")
    if "name" in changes:
        user.name = changes["name"]
    if "active" in changes:
        user.active = changes["active"]
    if "password" in changes:
        user.password_hash = hash_password(changes["password"])
    session.commit()
    return user


@atomic
def ensure_admin(*, session: Session, phone: str, password: str, name: str = "Administrator"
                 ) -> tuple[User, bool]:
    """The admin account for ``phone``, created if missing (idempotent CLI step).

    Returns the user and whether it was created.
    """
    user = session.scalar(sa.select(User).where(User.phone == phone))
    if user is not None:
        if user.role != "admin":
            raise PhoneTaken("this phone belongs to a non-admin account")
        return user, False
    user = _new_user(session, phone=phone, password=password, name=name, role="admin",
                     organization_id=None)
    session.commit()
    return user, True


def describe_me(*, session: Session, actor: Actor) -> dict:
    """The caller's account with the ids of her profile: nurse or care recipients."""
    user = session.get(User, actor.user_id)
    me = {c: getattr(user, c) for c in ("id", "phone", "name", "role", "organization_id",
                                        "active", "created_at")}
    me["nurse_id"] = session.scalar(sa.select(Nurse.id).where(Nurse.user_id == user.id))
    me["patient_ids"] = list(session.scalars(
        sa.select(CareRecipient.id).where(CareRecipient.owner_id == user.id)
        .order_by(CareRecipient.id)))
    return me

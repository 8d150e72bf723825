"""Accounts: registration, login with throttling, tokens, organizations, staff."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from homecare.accounts.models import LoginAttempt, Organization, User
from homecare.accounts.sessions import revoke_all_tokens
from homecare.accounts.sms import SmsCodeInvalid, consume_code
from homecare.accounts.throttle import lock_keys, seconds_until_allowed
from homecare.audit.service import record
from homecare.auth import Actor, ensure_visible
from homecare.clock import utcnow
from homecare.config import Config
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


class CannotDeactivateSelf(Conflict):
    code, title = "cannot_deactivate_self", "Nobody deactivates her own account"


class LastActiveAdmin(Conflict):
    code, title = "last_active_admin", "The last active admin cannot be deactivated"


class LoginRateLimited(TooManyRequests):
    code, title = "login_rate_limited", "Too many login attempts"


def active_supervisors(session: Session, *, organization_id: int) -> list[int]:
    """The user ids of the organization's active supervisors, ascending: whom its
    alerts and dispatch pages reach in the app, and whom an SOS texts when nobody is
    on duty."""
    return list(session.scalars(sa.select(User.id).where(
        User.organization_id == organization_id, User.role == "supervisor",
        User.active.is_(True)).order_by(User.id)))


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
        raise PhoneTaken() from exc
    return user


def _audit_account(session: Session, actor: Actor | None, user: User, action: str,
                   now: datetime, **detail: Any) -> None:
    """An account change on the audit trail: who, whom, which fields (never a password)."""
    record(session, actor=actor, action=action, object_type="user", object_id=user.id,
           organization_id=user.organization_id, now=now, detail=detail or None)


@atomic
def register_patient(*, session: Session, config: Config, phone: str, sms_code: str,
                     password: str, name: str, ip: str | None, now: datetime) -> User:
    """Self-registration of a patient account (a family member who books), with the
    SMS code sent to the phone (POST /auth/sms-code, purpose ``register``).

    :raises SmsCodeInvalid: (422) the code is wrong, expired or used up.
    :raises PhoneTaken: the number already has an account.
    """
    consume_code(session=session, config=config, phone=phone, purpose="register",
                 code=sms_code, now=now)
    user = _new_user(session, phone=phone, password=password, name=name, role="patient",
                     organization_id=None)
    _audit_account(session, Actor(user.id, user.role, None, ip), user, "user.registered", now)
    session.commit()
    return user


@atomic
def reset_password(*, session: Session, config: Config, phone: str, sms_code: str,
                   password: str, ip: str | None, now: datetime) -> None:
    """A new password for the account of ``phone``, proven by the SMS code (purpose
    ``reset_password``); every earlier token of the account stops working.

    :raises SmsCodeInvalid: (422) the code is wrong, expired or used up (also when
        the phone has no account: no code was ever sent for it to match).
    """
    consume_code(session=session, config=config, phone=phone, purpose="reset_password",
                 code=sms_code, now=now)
    user = session.scalar(sa.select(User).where(User.phone == phone))
    if user is None:
        raise SmsCodeInvalid("request a new code", errors={"sms_code": ["no valid code"]})
    user.password_hash = hash_password(password)
    revoke_all_tokens(session, user, now)
    _audit_account(session, Actor(user.id, user.role, user.organization_id, ip), user,
                   "user.password_reset", now, fields=["password"])
    session.commit()


def _rate_key(kind: str, value: str) -> str:
    # Phone numbers are personal data: the counter table keeps only a digest.
    return f"login:{kind}:" + hashlib.sha256(value.encode()).hexdigest()[:32]


def _attempts_since(session: Session, key: str, since: datetime) -> list[datetime]:
    return list(session.scalars(sa.select(LoginAttempt.at).where(
        LoginAttempt.key == key, LoginAttempt.at > since).order_by(LoginAttempt.at)))


@atomic
def login(*, session: Session, phone: str, password: str, ip: str | None, now: datetime,
          max_per_phone: int, max_per_ip: int, window_seconds: int) -> User:
    """Check a phone and password, throttled per phone and per IP (failed attempts).

    A sliding window: a limit counts the attempts of the last ``window_seconds``,
    whenever they fell. (Windows fixed to the clock let a burst at the end of one
    and the start of the next through: twice the limit within a second.) The
    attempts live in the database so that every worker process counts them all.

    Atomic: under a lock per key (homecare/accounts/throttle.py) the attempt is
    counted and recorded *before* the password is checked, and the lock is let go
    for the slow check; a successful login then takes its attempts back, so only
    failures count. N parallel wrong passwords give exactly ``max_per_phone`` 401s.

    :raises LoginRateLimited: too many attempts in the window (with Retry-After).
    :raises InvalidCredentials: unknown phone or wrong password.
    """
    window = timedelta(seconds=window_seconds)
    since = now - window
    phone_key, ip_key = _rate_key("phone", phone), _rate_key("ip", ip or "unknown")
    lock_keys(session, (phone_key, ip_key))
    # Attempts that left the window no longer count: forget them, so the table
    # holds at most one window of attempts per key.
    session.execute(sa.delete(LoginAttempt).where(LoginAttempt.key.in_((phone_key, ip_key)),
                                                  LoginAttempt.at <= since))
    waits = [wait for wait in (
        seconds_until_allowed(_attempts_since(session, phone_key, since), max_per_phone,
                               now=now, window=window),
        seconds_until_allowed(_attempts_since(session, ip_key, since), max_per_ip,
                               now=now, window=window)) if wait is not None]
    if waits:
        session.commit()
        retry_after = max(waits)
        raise LoginRateLimited(f"try again in {retry_after} seconds",
                               headers={"Retry-After": str(retry_after)},
                               retry_after=retry_after)
    attempts = [LoginAttempt(key=ip_key, at=now), LoginAttempt(key=phone_key, at=now)]
    session.add_all(attempts)
    user = session.scalar(sa.select(User).where(User.phone == phone))
    session.commit()  # counted: the locks are released for the slow password check
    if not _password_matches(user.password_hash if user else None, password) or (
            user is not None and not user.active):
        raise InvalidCredentials()
    session.execute(sa.delete(LoginAttempt).where(
        LoginAttempt.id.in_([attempt.id for attempt in attempts])))
    session.commit()
    return user


def _password_matches(stored_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    # UnicodeError: a password argon2 cannot encode (a lone surrogate) matches nothing.
    except (VerificationError, InvalidHashError, UnicodeError):
        return False


def access_user(session: Session, actor: Actor, user_id: int) -> User:
    """A user the caller may see (herself, or staff of her organization)."""
    user = session.get(User, user_id)
    if user is None:
        raise UserNotFound(user_id=user_id)
    # Staff accounts are their organization's, for its supervisors (and admins) to
    # manage; a family's or an admin's account is seen by its holder alone.
    ensure_visible(actor, user.organization_id, UserNotFound,
                   staff=("admin", "supervisor") if user.role in ("supervisor", "nurse") else (),
                   parties={user.role: user.id}, user_id=user_id)
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
    ensure_visible(actor, org.id, OrganizationNotFound, organization_id=organization_id)
    return org


def list_organizations(*, session: Session) -> sa.Select:
    return sa.select(Organization).order_by(Organization.id)


@atomic
def create_staff_user(*, session: Session, actor: Actor, phone: str, password: str, name: str,
                      role: str, organization_id: int, now: datetime | None = None) -> User:
    """A nurse or supervisor account inside an organization.

    :raises Forbidden: a supervisor naming another organization.
    :raises OrganizationNotFound: no such organization.
    :raises PhoneTaken: the number already has an account.
    """
    if actor.role == "supervisor" and actor.organization_id != organization_id:
        raise Forbidden("a supervisor may create accounts only in her own organization")
    if session.get(Organization, organization_id) is None:
        raise OrganizationNotFound(organization_id=organization_id)
    if actor.role == "supervisor" and role != "nurse":
        raise Forbidden("supervisors are managed by admins; a supervisor creates nurses")
    user = _new_user(session, phone=phone, password=password, name=name, role=role,
                     organization_id=organization_id)
    _audit_account(session, actor, user, "user.created", now or utcnow(), role=role)
    session.commit()
    return user


def _may_manage(actor: Actor, user: User) -> None:
    """Who may change whom: a supervisor her organization's nurses; an admin staff
    (nurses and supervisors) and herself. Nobody deactivates herself (checked apart)."""
    if actor.role == "admin" or user.id == actor.user_id:
        return
    if actor.role == "supervisor" and user.role == "nurse":
        return
    raise Forbidden("a supervisor manages the nurses of her organization; supervisors "
                    "are managed by admins")


@atomic
def update_user(*, session: Session, actor: Actor, user_id: int, changes: dict,
                now: datetime | None = None) -> User:
    """Rename, (de)activate or reset the password of a staff account.

    Deactivation takes effect at once, and so does a new password: every earlier
    token of the user stops working. Each change is on the audit trail (the fields
    changed, never the password itself).

    :raises Forbidden: (403) the caller may not manage this account.
    :raises CannotDeactivateSelf: (409) the caller deactivating herself.
    :raises LastActiveAdmin: (409) deactivating the last active admin.
    """
    now = now or utcnow()
    user = access_user(session, actor, user_id)
    if actor.role not in ("admin", "supervisor"):
        raise Forbidden("only an admin or supervisor changes accounts")
    _may_manage(actor, user)
    if changes.get("active") is False and user.active:
        if user.id == actor.user_id:
            raise CannotDeactivateSelf()
        if user.role == "admin" and _other_active_admins(session, user) == 0:
            raise LastActiveAdmin()
    changed = sorted(name for name in changes if name == "password"
                     or getattr(user, name) != changes[name])
    if "name" in changes:
        user.name = changes["name"]
    if "active" in changes:
        user.active = changes["active"]
    if "password" in changes:
        user.password_hash = hash_password(changes["password"])
        revoke_all_tokens(session, user, now)
    if changed:
        detail = {"fields": changed}
        if "active" in changed:
            detail["active"] = user.active
        _audit_account(session, actor, user, "user.updated", now, **detail)
    session.commit()
    return user


def _other_active_admins(session: Session, user: User) -> int:
    lock_keys(session, ("admins",))
    return session.scalar(sa.select(sa.func.count()).select_from(User).where(
        User.role == "admin", User.active.is_(True), User.id != user.id))


@atomic
def ensure_admin(*, session: Session, phone: str, password: str, name: str = "Administrator",
                 now: datetime | None = None) -> tuple[User, str]:
    """The admin account for ``phone`` with this password, active (the CLI's way back in).

    Returns the user and what was done: ``created``, or ``reset`` (an existing admin
    reactivated if she was not active, her password set, her earlier tokens revoked).
    """
    now = now or utcnow()
    user = session.scalar(sa.select(User).where(User.phone == phone))
    if user is not None:
        if user.role != "admin":
            raise PhoneTaken("this phone belongs to a non-admin account")
        was_active = user.active
        user.active = True
        user.password_hash = hash_password(password)
        revoke_all_tokens(session, user, now)
        _audit_account(session, None, user, "user.admin_reset", now,
                       fields=["password"] if was_active else ["active", "password"],
                       active=True)
        session.commit()
        return user, "reset"
    user = _new_user(session, phone=phone, password=password, name=name, role="admin",
                     organization_id=None)
    _audit_account(session, None, user, "user.created", now, role="admin")
    session.commit()
    return user, "created"


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

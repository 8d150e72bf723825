"""Who is calling: token issue and check, roles, and the organization boundary.

Every route that needs a caller goes through ``Blueprint.auth`` (which calls
``authenticate``), and every service that touches an organization's objects
goes through ``ensure_visible`` (by an ``access_<thing>(session, actor, id)`` getter):
the two places where access is decided.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import jwt
import sqlalchemy as sa
from flask import current_app, g, request
from sqlalchemy.orm import Session

from homecare.accounts.models import RefreshToken, User
from homecare.clock import utcnow
from homecare.db import db, opening_read
from homecare.errors import Forbidden, NotFound, Problem, Unauthorized
from homecare.schemas import MAX_ID

# Pinned: a token naming any other algorithm (including "none") is refused.
JWT_ALGORITHM = "HS256"


class TokenInvalid(Problem):
    status, code, title = 401, "token_invalid", "The token is invalid or expired"


@dataclass(frozen=True)
class Actor:
    """The authenticated caller, as services see it."""

    user_id: int
    role: str
    organization_id: int | None
    ip: str | None = None

    def has_role(self, *roles: str) -> bool:
        return self.role in roles


def issue_tokens(user_id: int, role: str, *, session: Session | None = None,
                 family: str | None = None) -> dict[str, str]:
    """An access token (short-lived) and a refresh token (long-lived, used once).

    Both carry the user's token generation; the refresh token is recorded (in the
    caller's transaction, no commit) as the next of ``family``, or of a new family
    (a new login session).
    """
    session = session or db.session
    config = current_app.config["HOMECARE"]
    generation = session.get(User, user_id).token_generation
    now = utcnow()
    family = family or secrets.token_hex(16)
    jti = secrets.token_hex(16)
    refresh_ttl = timedelta(days=config.refresh_token_days)
    session.add(RefreshToken(jti=jti, family=family, user_id=user_id, issued_at=now,
                             expires_at=now + refresh_ttl))
    session.flush()
    return {
        "access_token": _encode(user_id, role, "access",
                                timedelta(minutes=config.access_token_minutes),
                                now=now, gen=generation),
        "refresh_token": _encode(user_id, role, "refresh", refresh_ttl, now=now,
                                 gen=generation, jti=jti, fam=family),
    }


def _encode(user_id: int, role: str, kind: str, ttl: timedelta, *, now: datetime | None = None,
            **extra: str | int) -> str:
    now = now or utcnow()
    claims = {"sub": str(user_id), "role": role, "typ": kind,
              "iat": int(now.timestamp()), "exp": int((now + ttl).timestamp()), **extra}
    return jwt.encode(claims, current_app.config["HOMECARE"].secret_key,
                      algorithm=JWT_ALGORITHM)


def decode_token(token: str, kind: str) -> dict:
    """The claims of a valid token of ``kind``; raises TokenInvalid otherwise."""
    try:
        claims = dict(_verified_claims(token, current_app.config["HOMECARE"].secret_key))
    except jwt.PyJWTError as exc:
        raise TokenInvalid() from exc
    exp = claims["exp"]
    if (not isinstance(exp, int | float) or isinstance(exp, bool)
            or exp <= utcnow().timestamp()):
        raise TokenInvalid()
    if claims.get("typ") != kind:
        raise TokenInvalid(f"a {kind} token is required")
    # A validly signed subject that names no possible row ("99999999999", "-1",
    # "1e3") is refused here, not sent to the database as an out-of-range integer.
    sub = claims["sub"]
    if not (isinstance(sub, str) and len(sub) <= 10 and sub.isascii() and sub.isdigit()
            and 1 <= int(sub) <= MAX_ID):
        raise TokenInvalid()
    claims["sub"] = int(sub)
    return claims


# Read on every authenticated request, so a Core row of the five columns the check
# needs rather than an ORM object (no identity map, no attribute instrumentation, no
# password hash fetched); the statement is built once.
_CALLER = sa.select(User.id, User.role, User.organization_id, User.active,
                    User.token_generation).where(User.id == sa.bindparam("user_id"))


@lru_cache(maxsize=4096)
def _verified_claims(token: str, secret_key: str) -> tuple[tuple[str, object], ...]:
    """The claims of a token whose signature holds, remembered: a nurse's app sends
    the same access token with every ping for its lifetime, and checking the
    signature again each time was a fifth of the ping's CPU. Only verified tokens
    are kept (an exception is not cached), keyed by the whole token and the key;
    expiry and the account's state are checked on every request by the callers."""
    # Expiry is checked by decode_token against the app's clock (utcnow), the one
    # that stamped the token, not PyJWT's wall clock.
    claims = jwt.decode(token, secret_key, algorithms=[JWT_ALGORITHM],
                        options={"require": ["exp", "sub", "typ"],
                                 "verify_exp": False, "verify_iat": False})
    return tuple(claims.items())


def load_active_user(user_id: int, generation: int | None = None) -> sa.Row:
    """The user behind a token (``id``, ``role``, ``organization_id``), if still active
    and the token of her current generation: deactivation, and a password change or
    reset, stop tokens at once."""
    user = opening_read(db.session).execute(_CALLER, {"user_id": user_id}).first()
    if user is None or not user.active:
        raise TokenInvalid("the account is not active")
    if generation is not None and generation != user.token_generation:
        raise TokenInvalid("the token was revoked (the password changed)")
    return user


def token_generation(claims: dict) -> int:
    """The generation a token was issued in (tokens from before generations: 0)."""
    generation = claims.get("gen", 0)
    return generation if isinstance(generation, int) and not isinstance(
        generation, bool) else -1


def authenticate(roles: tuple[str, ...] = ()) -> Actor:
    """Check the bearer token and the caller's role; sets ``g.actor``."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("send Authorization: Bearer <access_token>")
    claims = decode_token(token.strip(), "access")
    user = load_active_user(claims["sub"], token_generation(claims))
    actor = Actor(user_id=user.id, role=user.role, organization_id=user.organization_id,
                  ip=request.remote_addr)
    if roles and actor.role not in roles:
        raise Forbidden(f"this action needs the role {' or '.join(roles)}")
    g.actor = actor
    return actor


def current_actor() -> Actor:
    return g.actor


# Who sees an organization's objects unless a getter says otherwise.
STAFF = ("admin", "supervisor", "nurse")


def _grounds(actor: Actor, staff: tuple[str, ...],
             parties: Mapping[str, Any] | None) -> tuple[bool, bool, bool]:
    """On what grounds ``actor`` may see an object: (every organization's, her own
    organization's, as the object's party in her role). The rule itself; the two
    that apply it say what "her organization" and "the party" are for one object
    (``ensure_visible``) or for a query's rows (``visible_filter``)."""
    every = actor.role == "admin" and "admin" in staff
    own_organization = actor.role in staff and actor.role != "admin"
    party = bool(parties) and parties.get(actor.role) is not None
    return every, own_organization, party


def ensure_visible(actor: Actor, organization_id: int | None,
                   not_found: type[NotFound] = NotFound, /, *,
                   staff: tuple[str, ...] = STAFF,
                   parties: Mapping[str, int | None] | None = None, **ids: Any) -> None:
    """The one visibility rule: every ``access_<thing>`` getter decides through it
    (and every list of such things filters through ``visible_filter``, its twin).

    An object is seen by the staff roles in ``staff`` of its organization (an
    admin's is every organization), and by its parties: ``parties`` maps a role to
    the account that is party to the object in that role (the family that owns
    it, the nurse who holds it, the account itself). Anyone else is told it is
    missing (404 rather than 403), so that ids of others' objects cannot be probed.
    """
    every, own_organization, party = _grounds(actor, staff, parties)
    if every or (own_organization and actor.organization_id == organization_id) \
            or (party and parties[actor.role] == actor.user_id):
        return
    raise not_found(**ids)


def visible_filter(actor: Actor,
                   organization: sa.ColumnElement[Any] | Callable[[int | None],
                                                                  sa.ColumnElement[bool]],
                   *, staff: tuple[str, ...] = STAFF,
                   parties: Mapping[str, sa.ColumnElement[Any]] | None = None
                   ) -> sa.ColumnElement[bool]:
    """``ensure_visible`` as a WHERE clause: the rows of a list the caller may see.

    A list passes what its getter passes ``ensure_visible``, as SQL: ``organization``
    the column holding a row's organization, or, for a row that belongs to every
    organization a condition names (a recipient, to each that serves her), that
    condition for an organization id; ``parties`` each role's party as a column (or
    scalar subquery). So a list and a get of the same things cannot disagree.
    """
    every, own_organization, party = _grounds(actor, staff, parties)
    if every:
        return sa.true()
    seen = []
    if own_organization:
        seen.append(organization(actor.organization_id) if callable(organization)
                    else organization == actor.organization_id)
    if party:
        seen.append(parties[actor.role] == actor.user_id)
    return sa.or_(*seen) if seen else sa.false()

"""Who is calling: token issue and check, roles, and the organization boundary.

Every route that needs a caller goes through ``Blueprint.auth`` (which calls
``authenticate``), and every service that touches an organization's objects
goes through ``ensure_visible``: the two places where access is decided.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import jwt
from flask import current_app, g, request

from homecare.errors import Forbidden, NotFound, Problem, Unauthorized
from homecare.extensions import db, utcnow
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


def issue_tokens(user_id: int, role: str) -> dict[str, str]:
    """An access token (short-lived) and a refresh token (long-lived)."""
    config = current_app.config["HOMECARE"]
    return {
        "access_token": _encode(user_id, role, "access",
                                timedelta(minutes=config.access_token_minutes)),
        "refresh_token": _encode(user_id, role, "refresh",
                                 timedelta(days=config.refresh_token_days)),
    }


def issue_access_token(user_id: int, role: str) -> str:
    config = current_app.config["HOMECARE"]
    return _encode(user_id, role, "access", timedelta(minutes=config.access_token_minutes))


def _encode(user_id: int, role: str, kind: str, ttl: timedelta) -> str:
    now = utcnow()
    claims = {"sub": str(user_id), "role": role, "typ": kind,
              "iat": int(now.timestamp()), "exp": int((now + ttl).timestamp())}
    return jwt.encode(claims, current_app.config["HOMECARE"].secret_key,
                      algorithm=JWT_ALGORITHM)


def decode_token(token: str, kind: str) -> dict:
    """The claims of a valid token of ``kind``; raises TokenInvalid otherwise."""
    try:
        claims = jwt.decode(token, current_app.config["HOMECARE"].secret_key,
                            algorithms=[JWT_ALGORITHM],
                            options={"require": ["exp", "sub", "typ"]})
    except jwt.PyJWTError as exc:
        raise TokenInvalid() from exc
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


def load_active_user(user_id: int):
    """The user behind a token, if still active: deactivation stops tokens at once."""
    from homecare.accounts.models import User

    user = db.session.get(User, user_id)
    if user is None or not user.active:
        raise TokenInvalid("the account is not active")
    return user


def authenticate(roles: tuple[str, ...] = ()) -> Actor:
    """Check the bearer token and the caller's role; sets ``g.actor``."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("send Authorization: Bearer <access_token>")
    claims = decode_token(token.strip(), "access")
    user = load_active_user(claims["sub"])
    actor = Actor(user_id=user.id, role=user.role, organization_id=user.organization_id,
                  ip=request.remote_addr)
    if roles and actor.role not in roles:
        raise Forbidden(f"this action needs the role {' or '.join(roles)}")
    g.actor = actor
    return actor


def current_actor() -> Actor:
    return g.actor


def ensure_visible(actor: Actor, organization_id: int | None,
                   not_found: type[NotFound] = NotFound, /, **ids) -> None:
    """Staff see only their own organization's objects; others' look missing (404).

    404 rather than 403 so that ids of another organization's objects cannot be
    probed. Admins see everything; patients are checked by ownership elsewhere.
    """
    if actor.role == "admin":
        return
    if actor.role in ("supervisor", "nurse") and actor.organization_id == organization_id:
        return
    raise not_found(**ids)

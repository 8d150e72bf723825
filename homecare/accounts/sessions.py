"""Login sessions: rotating refresh tokens, reuse detection, logout, revocation.

A login starts a family of refresh tokens. Each refresh uses its token up (an
atomic UPDATE claims it, so two concurrent refreshes cannot both succeed) and
issues the next one of the family. A used or revoked token presented again is
the sign that it was stolen (the thief or the owner refreshed first): the whole
family is revoked, so both must log in again. A password change or reset moves
the user's token generation on, which every earlier token carries: they all stop.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from homecare.accounts.models import RefreshToken, User
from homecare.audit.service import record
from homecare.auth import (
    Actor,
    TokenInvalid,
    decode_token,
    issue_tokens,
    load_active_user,
    token_generation,
)
from homecare.db import atomic


class RefreshTokenReused(TokenInvalid):
    code, title = "refresh_token_reused", "This refresh token was already used"


def _family_of(session: Session, claims: dict) -> RefreshToken:
    row = session.scalar(sa.select(RefreshToken).where(RefreshToken.jti == claims.get("jti")))
    if row is None or row.user_id != claims["sub"] or row.family != claims.get("fam"):
        raise TokenInvalid("unknown refresh token")
    return row


def _revoke_family(session: Session, family: str, now: datetime) -> None:
    session.execute(sa.update(RefreshToken).where(
        RefreshToken.family == family, RefreshToken.revoked_at.is_(None)).values(revoked_at=now))


@atomic
def start_session(*, session: Session, user: User) -> dict:
    """Tokens for a user who just logged in: a new family of refresh tokens."""
    tokens = issue_tokens(user.id, user.role, session=session)
    session.commit()
    return {**tokens, "role": user.role, "user_id": user.id}


@atomic
def refresh_session(*, session: Session, refresh_token: str, now: datetime,
                    ip: str | None = None) -> dict:
    """New access and refresh tokens for a refresh token, which is used up.

    :raises TokenInvalid: (401) expired, malformed, revoked, or the user inactive or
        her password changed since.
    :raises RefreshTokenReused: (401) the token was used before: the family is revoked.
    """
    claims = decode_token(refresh_token, "refresh")
    user = load_active_user(claims["sub"], token_generation(claims))
    row = _family_of(session, claims)
    if row.revoked_at is not None:
        raise TokenInvalid("the refresh token was revoked")
    claimed = session.execute(sa.update(RefreshToken).where(
        RefreshToken.id == row.id, RefreshToken.used_at.is_(None),
        RefreshToken.revoked_at.is_(None)).values(used_at=now)).rowcount
    if claimed != 1:
        _revoke_family(session, row.family, now)
        record(session, actor=Actor(user.id, user.role, user.organization_id, ip),
               action="user.refresh_token_reused", object_type="user", object_id=user.id,
               organization_id=user.organization_id, now=now)
        session.commit()
        raise RefreshTokenReused("the session was ended; log in again")
    tokens = issue_tokens(user.id, user.role, session=session, family=row.family)
    session.commit()
    return {**tokens, "role": user.role, "user_id": user.id}


@atomic
def logout(*, session: Session, refresh_token: str, now: datetime, ip: str | None = None
           ) -> None:
    """End the login session of ``refresh_token``: it and its family stop working.

    :raises TokenInvalid: (401) not a valid refresh token.
    """
    claims = decode_token(refresh_token, "refresh")
    row = _family_of(session, claims)
    _revoke_family(session, row.family, now)
    user = session.get(User, row.user_id)
    record(session, actor=Actor(user.id, user.role, user.organization_id, ip),
           action="user.logout", object_type="user", object_id=user.id,
           organization_id=user.organization_id, now=now)
    session.commit()


def revoke_all_tokens(session: Session, user: User, now: datetime) -> None:
    """Every token issued to ``user`` so far stops working (no commit)."""
    user.token_generation += 1
    session.execute(sa.update(RefreshToken).where(
        RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now))


@atomic
def purge_spent_auth_records(*, session: Session, now: datetime) -> int:
    """Forget refresh tokens past their expiry and SMS codes older than the day their
    limits count (``jobs/purge_auth_records.py``). Returns how many rows went."""
    from homecare.accounts.models import SmsCode

    tokens = session.execute(sa.delete(RefreshToken).where(RefreshToken.expires_at < now))
    codes = session.execute(sa.delete(SmsCode).where(SmsCode.created_at < now - timedelta(days=1)))
    session.commit()
    return tokens.rowcount + codes.rowcount

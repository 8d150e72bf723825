"""The purge of auth records: expired refresh tokens, SMS codes past their counting day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from homecare.accounts.models import RefreshToken, SmsCode
from jobs import purge_auth_records
from tests.factories import UserFactory

NOW = datetime(2030, 5, 7, 2, 0, tzinfo=UTC)


def test_purge_auth_records_forgets_only_what_no_longer_counts(app, session):
    user = UserFactory()
    for jti, expires in (("old", NOW - timedelta(seconds=1)), ("live", NOW + timedelta(days=1))):
        session.add(RefreshToken(jti=jti, family="f", user_id=user.id,
                                 issued_at=expires - timedelta(days=30), expires_at=expires))
    for hours in (25, 23):
        at = NOW - timedelta(hours=hours)
        session.add(SmsCode(phone_key=f"p{hours}", ip_key="i", purpose="register",
                            code_hash="h", created_at=at, expires_at=at + timedelta(minutes=5)))
    session.flush()
    assert purge_auth_records.run(app, NOW) == 2
    assert session.scalars(sa.select(RefreshToken.jti)).all() == ["live"]
    assert session.scalars(sa.select(SmsCode.phone_key)).all() == ["p23"]

"""The factories' base (flush into the test session, never commit) and the shared password."""

from __future__ import annotations

from factory.alchemy import SQLAlchemyModelFactory

from homecare.accounts.service import hash_password
from homecare.db import db

PASSWORD = "correct-horse-9"
# Hashing is deliberately slow (argon2); hash the shared test password once.
_PASSWORD_HASH = hash_password(PASSWORD)


class BaseFactory(SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_factory = lambda: db.session  # noqa: E731
        sqlalchemy_session_persistence = "flush"

"""Idempotency-Key for booking: claim a key, keep the first response, replay it."""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from homecare.db import atomic, insert_unless_taken
from homecare.errors import Conflict, ValidationProblem
from homecare.orders.models import IdempotencyKey

# A claim with no stored response older than this belongs to a request that died
# (worker killed mid-booking). The response is stored in the same transaction as
# the order, so such a claim never has an order behind it and may be taken over.
LEASE = timedelta(seconds=60)
REPLAY_HEADER = "Idempotent-Replayed"


class IdempotencyConflict(Conflict):
    code, title = "idempotency_conflict", "A request with this Idempotency-Key is in progress"


class IdempotencyKeyReused(ValidationProblem):
    code, title = ("idempotency_key_reused",
                   "This Idempotency-Key was used with a different request body")


@dataclass(frozen=True)
class Replay:
    """The stored first response to a repeated request."""

    status_code: int
    body: dict[str, Any]


@dataclass(frozen=True)
class Claim:
    """A key this request holds: its row and the claim time that proves it is ours."""

    id: int
    claimed_at: datetime


def request_hash(body: dict[str, Any]) -> str:
    """SHA-256 of the loaded body as canonical JSON.

    Hashed after loading, so the same instant written with another offset
    (``+08:00`` or ``Z``) is the same request.
    """
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=_canonical)
    return hashlib.sha256(text.encode()).hexdigest()


def _canonical(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"not serialisable: {type(value).__name__}")


@atomic
def claim_key(*, session: Session, user_id: int, key: str, request_hash: str,
              now: datetime) -> Claim | Replay:
    """Take ``key`` for this request (committed at once), or return the stored response.

    The claim is committed in its own step, before the booking: a concurrent
    duplicate then meets the unique (user, key) row instead of booking twice.

    :raises IdempotencyKeyReused: (422) the key was used with another body.
    :raises IdempotencyConflict: (409) the first request with this key is still running.
    """
    # Insert first and look only when the key is taken: a fresh key (nearly every
    # booking) costs one statement, a repeated one (a retry) the refused insert too.
    # A taken key inserts nothing rather than failing, so no savepoint is needed to
    # keep the caller's work (the SAVEPOINT, RELEASE and the ORM's flush were a
    # tenth of a booking's statements and a twentieth of its CPU).
    claim_id = session.execute(_claim_statement(session.get_bind().dialect.name), {
        "user_id": user_id, "key": key, "request_hash": request_hash,
        "created_at": now}).scalar()
    if claim_id is not None:
        session.commit()
        return Claim(id=claim_id, claimed_at=now)
    existing = _find(session, user_id, key)
    if existing is None:  # claimed and released in between: the caller may retry
        raise IdempotencyConflict(headers={"Retry-After": "1"})
    if existing.request_hash != request_hash:
        raise IdempotencyKeyReused("send a new Idempotency-Key for a different request",
                                   errors={"Idempotency-Key": ["already used for another body"]})
    if existing.status_code is not None:
        return Replay(existing.status_code, dict(existing.response_body or {}))
    if existing.created_at <= now - LEASE:
        taken = session.execute(
            sa.update(IdempotencyKey)
            .where(IdempotencyKey.id == existing.id, IdempotencyKey.status_code.is_(None),
                   IdempotencyKey.created_at == existing.created_at)
            .values(created_at=now).execution_options(synchronize_session=False))
        if taken.rowcount == 1:
            session.commit()
            return Claim(id=existing.id, claimed_at=now)
    raise IdempotencyConflict("the first request with this key has not finished; retry shortly",
                              headers={"Retry-After": "1"})


@functools.lru_cache(maxsize=4)
def _claim_statement(dialect: str) -> sa.Insert:
    """The claim's INSERT, inserting nothing when the (user, key) pair is taken (built
    once per dialect: ``db.insert_unless_taken``). On PostgreSQL a concurrent duplicate
    waits for the first claim's transaction, as a refused unique insert would, and then
    inserts nothing."""
    table = IdempotencyKey.__table__
    return insert_unless_taken(dialect, table, ["user_id", "key"]).returning(table.c.id)


def _store_response_stmt() -> sa.Update:
    table = IdempotencyKey.__table__
    return (sa.update(table)
            .where(table.c.id == sa.bindparam("_id"), table.c.status_code.is_(None),
                   table.c.created_at == sa.bindparam("_claimed_at",
                                                      type_=table.c.created_at.type))
            .values(status_code=sa.bindparam("v_status_code", type_=table.c.status_code.type),
                    response_body=sa.bindparam("v_response_body",
                                               type_=table.c.response_body.type)))


# Once per booking: a Core statement built once (the ORM's UPDATE builds its statement and
# ORM context on every call).
_STORE_RESPONSE = _store_response_stmt()


def store_response(session: Session, claim: Claim, *, status_code: int,
                   body: dict[str, Any]) -> None:
    """Keep the response with the claim, in the caller's transaction (no commit).

    Compare-and-set on the claim time: if the lease ran out and another request
    took the key over, this one must not complete too.

    :raises IdempotencyConflict: (409) the claim was taken over.
    """
    if session.autoflush:  # the ORM's UPDATE flushed first; a Core one does not
        session.flush()
    result = session.connection().execute(_STORE_RESPONSE, {
        "_id": claim.id, "_claimed_at": claim.claimed_at, "v_status_code": status_code,
        "v_response_body": body})
    if result.rowcount != 1:
        raise IdempotencyConflict("this request took too long and its key was taken over")


@atomic
def release_key(*, session: Session, claim: Claim) -> None:
    """Drop a claim whose request failed, so a corrected retry with the key can book.

    Failed requests are not replayed: a 422 for a window in the past would
    otherwise stick to the key for a day. Commits: the caller has undone the failed
    request's own work first (``place_order`` rolls back its transaction, which held
    the booking only: the claim was committed before it).
    """
    session.execute(sa.delete(IdempotencyKey).where(
        IdempotencyKey.id == claim.id, IdempotencyKey.status_code.is_(None),
        IdempotencyKey.created_at == claim.claimed_at))
    session.commit()


@atomic
def purge_idempotency_keys(*, session: Session, now: datetime, ttl_hours: int) -> int:
    """Delete keys older than ``ttl_hours`` (the jobs process); returns how many."""
    result = session.execute(sa.delete(IdempotencyKey).where(
        IdempotencyKey.created_at < now - timedelta(hours=ttl_hours)))
    session.commit()
    return result.rowcount


def _find(session: Session, user_id: int, key: str) -> IdempotencyKey | None:
    return session.scalar(sa.select(IdempotencyKey).where(
        IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
        .execution_options(populate_existing=True))

"""The supervisors' duty roster: read, add, replace and remove duty spans, and who of
an organization's supervisors an urgent page reaches by SMS at a given moment.

Only supervisors keep their own organization's roster. A span is a supervisor on
duty over [start, end), at most ``MAX_SPAN`` long; one supervisor's spans never
overlap. What has started is history: a span that ended is never changed or
removed, a running one is only ended early (she goes off duty now). Every change
goes on the audit trail, like every other supervisor action.

The roster decides who is *texted*, not who is told: every active supervisor still
gets each alert in the app and on the board (``alerts.service.page_supervisors``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from homecare.accounts.models import User
from homecare.accounts.service import active_supervisors
from homecare.accounts.throttle import lock_keys
from homecare.audit.service import record
from homecare.auth import Actor
from homecare.db import atomic
from homecare.duty.models import DutySpan
from homecare.errors import Conflict, NotFound, ValidationProblem

# A span longer than a week is a typo (a wrong date), not a duty; the schemas state
# these limits so the OpenAPI document tells the clients.
MAX_SPAN = timedelta(days=7)
# How much of the roster one request may read or replace.
MAX_WINDOW = timedelta(days=31)
MAX_SPANS_PER_REQUEST = 50
DEFAULT_WINDOW = timedelta(days=7)


class DutySpanNotFound(NotFound):
    code, title = "duty_span_not_found", "No such duty span"


class DutyNotSupervisor(ValidationProblem):
    code, title = "duty_not_supervisor", "Only an active supervisor of the organization is on duty"


class DutyInPast(ValidationProblem):
    code, title = "duty_in_past", "A duty span that has ended is history"


class DutyOverlap(Conflict):
    code, title = "duty_overlap", "The supervisor is on duty then already"


class DutySpanEnded(Conflict):
    code, title = "duty_span_ended", "The duty span has ended: it is history"


# ---------------------------------------------------------------- who is texted


def on_duty_supervisors(session: Session, *, organization_id: int, at: datetime) -> list[int]:
    """The active supervisors of the organization on duty at ``at`` (user ids, sorted).

    A span of an account that was deactivated, or moved to another organization or
    role, pages nobody.
    """
    return list(session.scalars(
        sa.select(User.id).join(DutySpan, DutySpan.user_id == User.id)
        .where(DutySpan.organization_id == organization_id, DutySpan.start <= at,
               DutySpan.end > at, User.organization_id == organization_id,
               User.role == "supervisor", User.active.is_(True))
        .distinct().order_by(User.id)))


def texted_supervisors(session: Session, *, organization_id: int, at: datetime) -> set[int]:
    """Whom an urgent page raised at ``at`` reaches by SMS: the supervisors on duty then;
    with nobody on duty, every active supervisor of the organization.

    The fallback is deliberate: an empty or lapsed roster must never leave an SOS
    with nobody's phone ringing, so a gap in the roster pages everyone, as the
    service did before it kept one.
    """
    on_duty = on_duty_supervisors(session, organization_id=organization_id, at=at)
    if on_duty:
        return set(on_duty)
    return set(active_supervisors(session, organization_id=organization_id))


# ---------------------------------------------------------------- the roster


def list_duty(*, session: Session, actor: Actor, now: datetime, start: datetime | None = None,
              end: datetime | None = None) -> list[DutySpan]:
    """The caller's organization's spans overlapping [start, end) (default: the week
    from now), by start then supervisor."""
    start = start or now
    end = end or start + DEFAULT_WINDOW
    return list(session.scalars(
        sa.select(DutySpan).where(DutySpan.organization_id == actor.organization_id,
                                  DutySpan.start < end, DutySpan.end > start)
        .order_by(DutySpan.start, DutySpan.user_id, DutySpan.id)))


@atomic
def add_duty_spans(*, session: Session, actor: Actor, spans: Sequence[dict[str, Any]],
                   now: datetime) -> list[DutySpan]:
    """Put supervisors of the caller's organization on duty (all or none of ``spans``).

    A span may be given a start before now, but is stored from now: she is on duty
    from the moment it is stored, and the roster never claims she was on duty
    before that. It may not end by now. Returns the new spans.

    :raises DutyNotSupervisor: (422) a ``user_id`` is not an active supervisor of
        the caller's organization (``index`` names the span).
    :raises DutyInPast: (422) a span ends at or before now.
    :raises DutyOverlap: (409) a span overlaps another of the same supervisor, in
        the roster or in the request.
    """
    _lock_roster(session, actor)
    spans = _from_now(spans, now)
    _check(session, actor, spans, now=now, kept=_spans_of(session, actor, spans))
    added = _add(session, actor, spans, now=now)
    session.commit()
    return added


@atomic
def replace_duty_spans(*, session: Session, actor: Actor, start: datetime, end: datetime,
                       spans: Sequence[dict[str, Any]], now: datetime) -> list[DutySpan]:
    """Make ``spans`` the roster of [start, end): the organization's spans starting in
    the window that have not started yet are removed, ``spans`` (each within the
    window, checked by the schema) are added. Spans that started before now are
    history and stay. A span given a start before now is stored from now, as in
    ``add_duty_spans``. Returns the window's roster afterwards.

    :raises DutyNotSupervisor: (422) as ``add_duty_spans``.
    :raises DutyInPast: (422) as ``add_duty_spans``.
    :raises DutyOverlap: (409) a span overlaps another of the same supervisor that
        stays (one that started, or one outside the window) or another in the request.
    """
    _lock_roster(session, actor)
    spans = _from_now(spans, now)
    replaced = list(session.scalars(
        sa.select(DutySpan).where(DutySpan.organization_id == actor.organization_id,
                                  DutySpan.start >= start, DutySpan.start < end,
                                  DutySpan.start > now)))
    gone = {span.id for span in replaced}
    kept = [s for s in _spans_of(session, actor, spans) if s.id not in gone]
    _check(session, actor, spans, now=now, kept=kept)
    for span in replaced:
        _audit(session, actor, "duty.removed", span, now=now)
        session.delete(span)
    session.flush()
    _add(session, actor, spans, now=now)
    result = list_duty(session=session, actor=actor, now=now, start=start, end=end)
    session.commit()
    return result


@atomic
def remove_duty_span(*, session: Session, actor: Actor, span_id: int, now: datetime) -> None:
    """Take a span off the roster: one that has not started is removed; a running one
    ends now (she goes off duty, and that she was on duty stays on record).

    :raises DutySpanNotFound: (404) no such span in the caller's organization.
    :raises DutySpanEnded: (409) the span has ended: it is history.
    """
    _lock_roster(session, actor)
    span = session.get(DutySpan, span_id, populate_existing=True)
    if span is None or span.organization_id != actor.organization_id:
        raise DutySpanNotFound(span_id=span_id)
    if span.end <= now:
        raise DutySpanEnded(f"the span ended at {span.end.isoformat()}", span_id=span_id)
    if span.start < now:
        span.end = now
        _audit(session, actor, "duty.ended", span, now=now)
    else:
        _audit(session, actor, "duty.removed", span, now=now)
        session.delete(span)
    session.commit()


def _lock_roster(session: Session, actor: Actor) -> None:
    # Two supervisors saving the roster at once would each check overlaps against
    # what the other has not committed yet; one organization's edits go one at a
    # time (PostgreSQL; SQLite's write lock does the same for every write).
    lock_keys(session, [f"duty:organization:{actor.organization_id}"])


def _from_now(spans: Sequence[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    # What has started is history: a span written now cannot have begun earlier, or
    # the roster (and the audit trail) would say she was on duty when nobody knew.
    return [{**span, "start": max(span["start"], now)} for span in spans]


def _spans_of(session: Session, actor: Actor,
              spans: Sequence[dict[str, Any]]) -> list[DutySpan]:
    """The stored spans of the supervisors named in ``spans`` that could overlap them."""
    if not spans:
        return []
    return list(session.scalars(sa.select(DutySpan).where(
        DutySpan.organization_id == actor.organization_id,
        DutySpan.user_id.in_({s["user_id"] for s in spans}),
        DutySpan.start < max(s["end"] for s in spans),
        DutySpan.end > min(s["start"] for s in spans))))


def _check(session: Session, actor: Actor, spans: Sequence[dict[str, Any]], *,
           now: datetime, kept: Sequence[DutySpan]) -> None:
    """Every rule, before anything is written: a refused request changes nothing."""
    supervisors = set(session.scalars(sa.select(User.id).where(
        User.id.in_({s["user_id"] for s in spans}),
        User.organization_id == actor.organization_id, User.role == "supervisor",
        User.active.is_(True)))) if spans else set()
    for index, span in enumerate(spans):
        if span["user_id"] not in supervisors:
            # The same answer whether the account is elsewhere or nowhere: the
            # roster tells nothing of other organizations' staff.
            raise DutyNotSupervisor(
                f"span {index}: user {span['user_id']} is not an active supervisor of "
                "your organization", index=index, user_id=span["user_id"])
        if span["end"] <= now:
            raise DutyInPast(f"span {index} ended at {span['end'].isoformat()}", index=index)
    for index, span in enumerate(spans):
        for other in kept:
            if other.user_id == span["user_id"] and other.start < span["end"] \
                    and other.end > span["start"]:
                raise DutyOverlap(
                    f"span {index} overlaps the supervisor's span {other.id} "
                    f"({other.start.isoformat()} to {other.end.isoformat()})",
                    index=index, span_id=other.id)
        for earlier_index, earlier in enumerate(spans[:index]):
            if earlier["user_id"] == span["user_id"] and earlier["start"] < span["end"] \
                    and earlier["end"] > span["start"]:
                raise DutyOverlap(f"span {index} overlaps span {earlier_index} of the request",
                                  index=index, other_index=earlier_index)


def _add(session: Session, actor: Actor, spans: Sequence[dict[str, Any]], *,
         now: datetime) -> list[DutySpan]:
    added = [DutySpan(organization_id=actor.organization_id, user_id=s["user_id"],
                      start=s["start"], end=s["end"], created_by=actor.user_id,
                      created_at=now) for s in spans]
    session.add_all(added)
    session.flush()
    for span in added:
        _audit(session, actor, "duty.added", span, now=now)
    return added


def _audit(session: Session, actor: Actor, action: str, span: DutySpan, *,
           now: datetime) -> None:
    record(session, actor=actor, action=action, object_type="duty_span", object_id=span.id,
           organization_id=span.organization_id, now=now,
           detail={"user_id": span.user_id, "start": span.start.isoformat(),
                   "end": span.end.isoformat()})

"""Nurse profiles: the qualification gate, who may change what, and supervisor search."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from homecare.accounts.models import User
from homecare.accounts.service import UserNotFound
from homecare.audit.service import record
from homecare.auth import Actor, ensure_visible
from homecare.config import Config
from homecare.db import atomic
from homecare.errors import Conflict, Forbidden, NotFound, ValidationProblem
from homecare.geo import Point, bounding_box, geodesic_km, travel_model
from homecare.nurses import availability
from homecare.nurses.availability import (  # noqa: F401  (the domain's public API)
    NotTracking,
    PingRateLimited,
    ShiftInPast,
    is_on_shift,
    merge_windows,
    on_shift_ids,
    purge_location_traces,
    shifts_covering,
)
from homecare.nurses.gate import qualification_problems
from homecare.nurses.models import Nurse, Shift

# What a nurse may change on her own profile: where she starts from and how
# much she takes on. Qualification, skills and activation are the supervisor's.
SELF_FIELDS = frozenset({"home", "service_radius_km", "max_visits_per_day"})


class NurseNotFound(NotFound):
    code, title = "nurse_not_found", "No such nurse"


class NurseProfileExists(Conflict):
    code, title = "nurse_profile_exists", "This account has a nurse profile already"


class NotANurseAccount(ValidationProblem):
    code, title = "not_a_nurse_account", "The account is not a nurse's"


class NurseNotQualified(ValidationProblem):
    code, title = "nurse_not_qualified", "The nurse does not meet the Internet+nursing gate"


class NurseFieldsNotAllowed(Forbidden):
    code, title = "field_not_allowed", "This role may not change these fields"


class ServiceRadiusTooLarge(ValidationProblem):
    code, title = "service_radius_too_large", "The service radius exceeds the maximum"


def find_nurse_by_user(*, session: Session, user_id: int) -> Nurse | None:
    """The nurse profile of an account, if it has one."""
    return session.scalar(sa.select(Nurse).where(Nurse.user_id == user_id))


def get_nurse(*, session: Session, nurse_id: int) -> Nurse:
    """A nurse profile by id, with no visibility check (for other services).

    :raises NurseNotFound: no such profile.
    """
    nurse = session.get(Nurse, nurse_id)
    if nurse is None:
        raise NurseNotFound(nurse_id=nurse_id)
    return nurse


def my_nurse(*, session: Session, actor: Actor) -> Nurse:
    """The calling nurse's own profile.

    :raises NurseNotFound: her supervisor has not created it yet.
    """
    nurse = find_nurse_by_user(session=session, user_id=actor.user_id)
    if nurse is None:
        raise NurseNotFound("no nurse profile for this account yet; ask your supervisor")
    return nurse


def access_nurse(session: Session, actor: Actor, nurse_id: int) -> Nurse:
    nurse = session.get(Nurse, nurse_id)
    if nurse is None:
        raise NurseNotFound(nurse_id=nurse_id)
    # Her profile is her supervisors' and her own; other nurses do not see it.
    ensure_visible(actor, nurse.organization_id, NurseNotFound, staff=("supervisor",),
                   parties={"nurse": nurse.user_id}, nurse_id=nurse_id)
    return nurse


def _views(session: Session, nurses: list[Nurse], *, now: datetime, config: Config,
           distances: dict[int, float] | None = None) -> list[dict[str, Any]]:
    users = {u.id: u for u in session.scalars(
        sa.select(User).where(User.id.in_([n.user_id for n in nurses])))} if nurses else {}
    working = on_shift_ids(session=session, nurse_ids=[n.id for n in nurses], at=now)
    views = []
    for n in nurses:
        unmet = qualification_problems(n, config)
        view = {c: getattr(n, c) for c in (
            "id", "user_id", "organization_id", "license_no", "title", "years_experience",
            "skills", "service_radius_km", "max_visits_per_day", "active", "rating_count",
            "license_valid_until", "insurance_no", "insurer", "insurance_valid_until",
            "photo_url", "created_at", "updated_at")}
        view.update(
            name=users[n.user_id].name, phone=users[n.user_id].phone,
            home={"lat": n.home_lat, "lng": n.home_lng}, qualified=not unmet, unmet=unmet,
            on_shift=n.id in working,
            rating=round(n.rating_sum / n.rating_count, 2) if n.rating_count else None,
            last_position=({"lat": n.last_lat, "lng": n.last_lng, "at": n.last_ping_at}
                           if n.last_ping_at is not None and n.last_lat is not None else None))
        if distances is not None:
            view["distance_km"] = round(distances[n.id], 3)
        views.append(view)
    return views


def _check_settings(values: dict[str, Any], config: Config) -> None:
    radius = values.get("service_radius_km")
    if radius is not None and radius > config.max_service_radius_km:
        raise ServiceRadiusTooLarge(
            f"service_radius_km may be at most {config.max_service_radius_km}",
            max_service_radius_km=config.max_service_radius_km)


def _check_gate(nurse: Any, config: Config) -> None:
    if not nurse.active:
        return
    unmet = qualification_problems(nurse, config)
    if unmet:
        raise NurseNotQualified(
            "only a qualified nurse may be active for dispatch: needs " + " and ".join(unmet),
            unmet=unmet)


@atomic
def create_nurse(*, session: Session, actor: Actor, data: dict[str, Any], now: datetime,
                 config: Config) -> dict[str, Any]:
    """A supervisor creates the dispatch profile of a nurse account of her organization.

    :raises UserNotFound: no such account in her organization.
    :raises NotANurseAccount: the account's role is not nurse.
    :raises NurseProfileExists: the account has a profile already.
    :raises ServiceRadiusTooLarge: above ``config.max_service_radius_km``.
    :raises NurseNotQualified: ``active`` true for a nurse below the gate (``unmet`` names
        the rules).
    """
    user = session.get(User, data["user_id"])
    if user is None or user.organization_id != actor.organization_id:
        raise UserNotFound(user_id=data["user_id"])
    if user.role != "nurse":
        raise NotANurseAccount(f"account {user.id} is a {user.role} account",
                               user_id=user.id)
    if find_nurse_by_user(session=session, user_id=user.id) is not None:
        raise NurseProfileExists(user_id=user.id)
    _check_settings(data, config)
    values = {k: v for k, v in data.items() if k != "home"}
    nurse = Nurse(**values, organization_id=user.organization_id,
                  home_lat=data["home"]["lat"], home_lng=data["home"]["lng"],
                  created_at=now, updated_at=now)
    _check_gate(nurse, config)
    session.add(nurse)
    try:
        session.flush()
    except sa.exc.IntegrityError as exc:  # a concurrent create for the same account
        raise NurseProfileExists(user_id=user.id) from exc
    record(session, actor=actor, action="nurse.created", object_type="nurse",
           object_id=nurse.id, organization_id=nurse.organization_id, now=now,
           detail={"active": nurse.active})
    session.commit()
    return _views(session, [nurse], now=now, config=config)[0]


def read_nurse(*, session: Session, actor: Actor, nurse_id: int | None, now: datetime,
               config: Config) -> dict[str, Any]:
    """A profile: a supervisor of her organization, or the nurse herself (``nurse_id``
    None: the caller's own).

    :raises NurseNotFound: missing, another organization's, or another nurse's.
    """
    nurse = (my_nurse(session=session, actor=actor) if nurse_id is None
             else access_nurse(session, actor, nurse_id))
    return _views(session, [nurse], now=now, config=config)[0]


@atomic
def update_nurse(*, session: Session, actor: Actor, nurse_id: int, changes: dict[str, Any],
                 now: datetime, config: Config) -> dict[str, Any]:
    """Change a profile: the supervisor any field, the nurse herself only her home,
    service radius and daily cap. Activation passes the qualification gate.

    :raises NurseNotFound: missing, another organization's, or another nurse's.
    :raises NurseFieldsNotAllowed: a nurse changing qualification, skills or activation.
    :raises ServiceRadiusTooLarge: above ``config.max_service_radius_km``.
    :raises NurseNotQualified: the profile would be active below the gate.
    """
    nurse = access_nurse(session, actor, nurse_id)
    if actor.role == "nurse":
        refused = sorted(set(changes) - SELF_FIELDS)
        if refused:
            raise NurseFieldsNotAllowed(
                "a nurse may change only " + ", ".join(sorted(SELF_FIELDS)) +
                "; ask your supervisor for the rest", fields=refused)
    _check_settings(changes, config)
    # Checked before anything is assigned, so a refused change leaves the row untouched.
    _check_gate(SimpleNamespace(**{c: changes.get(c, getattr(nurse, c)) for c in (
        "active", "title", "years_experience")}), config)
    was_active = nurse.active
    for name, value in changes.items():
        if name == "home":
            nurse.home_lat, nurse.home_lng = value["lat"], value["lng"]
        else:
            setattr(nurse, name, value)
    nurse.updated_at = now
    action = ("nurse.activated" if nurse.active and not was_active else
              "nurse.deactivated" if was_active and not nurse.active else "nurse.updated")
    record(session, actor=actor, action=action, object_type="nurse", object_id=nurse.id,
           organization_id=nurse.organization_id, now=now,
           detail={"fields": sorted(changes)})
    view = _views(session, [nurse], now=now, config=config)[0]
    session.commit()
    return view


def search_nurses(*, session: Session, actor: Actor, now: datetime, config: Config,
                  skill: list[str] | None = None, near: Point | None = None,
                  radius_km: float | None = None, status: str | None = None,
                  page: int = 1, page_size: int = 10) -> tuple[list[dict[str, Any]], int]:
    """One page of the supervisor's nurses and the total count.

    ``skill``: holds all of them. ``near``: sorted by geodesic distance from
    there to her home base, within ``radius_km`` if given. ``status``:
    ``active``, ``inactive`` or ``on_shift`` (a published window covers now).
    """
    stmt = sa.select(Nurse).where(Nurse.organization_id == actor.organization_id)
    if status == "active":
        stmt = stmt.where(Nurse.active.is_(True))
    elif status == "inactive":
        stmt = stmt.where(Nurse.active.is_(False))
    if near is not None and radius_km is not None:
        # The box only narrows the rows read; the geodesic below decides.
        min_lat, max_lat, min_lng, max_lng = bounding_box(near, radius_km)
        stmt = stmt.where(Nurse.home_lat.between(min_lat, max_lat),
                          Nurse.home_lng.between(min_lng, max_lng))
    nurses = list(session.scalars(stmt.order_by(Nurse.id)))
    if status == "on_shift":
        working = on_shift_ids(session=session, nurse_ids=[n.id for n in nurses], at=now)
        nurses = [n for n in nurses if n.id in working]
    if skill:
        nurses = [n for n in nurses if set(skill) <= set(n.skills or ())]
    distances = None
    if near is not None:
        distances = {n.id: geodesic_km(near, Point(n.home_lat, n.home_lng)) for n in nurses}
        if radius_km is not None:
            nurses = [n for n in nurses if distances[n.id] <= radius_km]
        nurses.sort(key=lambda n: (distances[n.id], n.id))
    page_of = nurses[(page - 1) * page_size: page * page_size]
    return _views(session, page_of, now=now, config=config, distances=distances), len(nurses)


@atomic
def replace_my_shifts(*, session: Session, actor: Actor, windows: list[dict[str, datetime]],
                      now: datetime) -> list[Shift]:
    """The calling nurse publishes her availability from now on (see
    ``availability.replace_shifts`` for what is kept); returns it merged.

    :raises NurseNotFound: she has no profile yet.
    :raises ShiftInPast: a window ended already or starts in the past.
    """
    return availability.replace_shifts(session=session, nurse=my_nurse(session=session,
                                                                       actor=actor),
                                       windows=windows, now=now)


def list_nurse_shifts(*, session: Session, actor: Actor, nurse_id: int | None, now: datetime,
                      start: datetime | None = None, end: datetime | None = None
                      ) -> list[Shift]:
    """A nurse's windows ending after ``start`` (default now) and starting before ``end``:
    her supervisor's view, or her own (``nurse_id`` None).

    :raises NurseNotFound: missing, another organization's, or another nurse's.
    """
    nurse = (my_nurse(session=session, actor=actor) if nurse_id is None
             else access_nurse(session, actor, nurse_id))
    return availability.list_shifts(session=session, nurse=nurse, start=start, end=end,
                                    now=now)


def record_my_ping(*, session: Session, actor: Actor, data: dict[str, Any], now: datetime,
                   config: Config) -> dict[str, Any]:
    """The calling nurse reports her position (WGS-84) while working.

    :raises NurseNotFound: she has no profile yet.
    :raises NotTracking: neither on an active order nor on shift (409).
    :raises PingRateLimited: more often than ``config.ping_min_interval_seconds`` (429).
    """
    # By her account, not a loaded profile: the ping path reads no more than it must.
    kept = availability.store_ping(
        session=session, user_id=actor.user_id, lat=data["lat"], lng=data["lng"],
        accuracy_m=data.get("accuracy_m"), recorded_at=data.get("recorded_at"),
        now=now, min_interval_seconds=config.ping_min_interval_seconds,
        travel=travel_model(config))
    if kept is None:
        my_nurse(session=session, actor=actor)  # raises NurseNotFound
    ping, reason = kept
    return {**_ping_fields(ping), "tracking": reason}


def _ping_fields(ping: availability.KeptPing) -> dict[str, Any]:
    return {c: getattr(ping, c) for c in ("id", "nurse_id", "order_id", "lat", "lng",
                                          "accuracy_m", "recorded_at", "received_at")}

"""Visit execution: depart, check in at the door, check out with the care record, SOS."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from homecare.accounts.models import User
from homecare.alerts.models import Alert
from homecare.alerts.service import geofence_cause, page_supervisors, raise_alert
from homecare.audit.service import record
from homecare.auth import Actor, ensure_visible
from homecare.catalogue.models import ServiceItem
from homecare.config import Config
from homecare.db import atomic
from homecare.dispatch.models import Offer
from homecare.errors import Conflict, NotFound
from homecare.geo import Point, geodesic_km
from homecare.nurses.models import Nurse
from homecare.orders.access import access_order
from homecare.orders.errors import OrderNotFound
from homecare.orders.models import Order, OrderEvent
from homecare.orders.states import NURSE_SEES, transition
from homecare.patients.models import Address, CareRecipient
from homecare.visits import corrections, door
from homecare.visits.models import CareRecord, DoorCheck

log = logging.getLogger(__name__)


class CareRecordNotFound(NotFound):
    code, title = "care_record_not_found", "The visit has no care record yet"


class TooEarlyToDepart(Conflict):
    code, title = "too_early_to_depart", "The visit's window is too far ahead to set off"


def _check_not_too_early(order: Order, now: datetime, config: Config) -> None:
    """Setting off starts location tracking and the visit record's times: only from
    ``config.depart_lead_minutes`` before the window opens."""
    earliest = order.window_start - timedelta(minutes=config.depart_lead_minutes)
    if now < earliest:
        raise TooEarlyToDepart(
            f"the window opens at {order.window_start.isoformat()}; set off from "
            f"{earliest.isoformat()} on", order_id=order.id, earliest=earliest.isoformat())



def access_assigned_order(session: Session, actor: Actor, order_id: int) -> Order:
    """The order, if the caller is the nurse it is assigned to; else it looks missing."""
    order = access_order(session, actor, order_id)
    if actor.role != "nurse":
        # Staff and families may read the order, but only its nurse works it.
        raise OrderNotFound(order_id=order_id)
    return order


def set_off_if_assigned(session: Session, order: Order, *, actor: Actor, now: datetime,
                        config: Config) -> bool:
    """At the door of an order still ``assigned``: she forgot to tap "depart", so it
    departs first (refusing her at the door helps nobody); whether it did. No commit.

    :raises TooEarlyToDepart: (409) its window opens too far ahead.
    """
    if order.status != "assigned":
        return False
    _check_not_too_early(order, now, config)
    transition(session, order, "en_route", actor=actor, now=now, departed_at=now)
    door.issue_code(session, order=order, now=now)
    return True


@atomic
def depart(*, session: Session, actor: Actor, order_id: int, now: datetime,
           config: Config) -> dict[str, Any]:
    """The assigned nurse sets off to the visit: ``assigned`` -> ``en_route``.

    :raises OrderNotFound: (404) no such order, or not assigned to the caller.
    :raises InvalidTransition: (409) the order is not ``assigned``.
    :raises TooEarlyToDepart: (409) the window opens more than
        ``config.depart_lead_minutes`` from now.
    """
    order = access_assigned_order(session, actor, order_id)
    if order.status == "assigned":
        _check_not_too_early(order, now, config)
    transition(session, order, "en_route", actor=actor, now=now, departed_at=now)
    door.issue_code(session, order=order, now=now)
    session.commit()
    return {"order_id": order.id, "status": order.status, "departed_at": order.departed_at}


@atomic
def check_in(*, session: Session, actor: Actor, order_id: int, lat: float, lng: float,
             now: datetime, config: Config, accuracy_m: float | None = None,
             visit_code: str | None = None) -> dict[str, Any]:
    """The nurse is at the door: ``en_route`` -> ``in_service``, position in WGS-84.

    Her position is compared with the address. Outside the geofence
    (``config.geofence_m``) the check-in is still accepted, since GPS drifts and she
    is at the door, but it is flagged and a ``geofence`` alert opens. An order still
    ``assigned`` departs first (she forgot to tap "depart"; refusing her at the door
    helps nobody). Her ``late`` and ``no_show`` alerts resolve (the state machine
    resolves them, in her name). The ``geofence`` alert stays open for a
    supervisor to review. The door check (``visits.door``): ``visit_code`` is the
    code the family read out; without it or the family's confirmation the check-in
    is flagged and a ``door_unverified`` alert opens.

    :raises OrderNotFound: (404) no such order, or not assigned to the caller.
    :raises InvalidTransition: (409) the order is not ``assigned`` or ``en_route``.
    :raises TooEarlyToDepart: (409) still ``assigned`` and its window too far ahead.
    :raises VisitCodeWrong: (422) a wrong visit code (counted).
    :raises VisitCodeLocked: (429) too many wrong codes for this visit.
    """
    order = access_assigned_order(session, actor, order_id)
    if set_off_if_assigned(session, order, actor=actor, now=now, config=config):
        # The code was issued just now: the family could not have read it out to her,
        # so whatever she typed is ignored and the check-in is flagged as without one.
        visit_code = None
    at_door = door.check_at_door(session, order=order, visit_code=visit_code, actor=actor,
                                 now=now, config=config)
    distance_m = door_distance_m(session, order, lat, lng)
    transition(session, order, "in_service", actor=actor, now=now, checked_in_at=now,
               check_in_lat=lat, check_in_lng=lng, check_in_distance_m=distance_m)
    within, alert = geofence_check(session, order, distance_m, lat=lat, lng=lng, actor=actor,
                                   now=now, config=config, accuracy_m=accuracy_m,
                                   doing="checked in")
    session.commit()
    return {"order_id": order.id, "status": order.status, "departed_at": order.departed_at,
            "checked_in_at": order.checked_in_at, "lat": lat, "lng": lng,
            "distance_m": distance_m, "geofence_m": config.geofence_m,
            "within_geofence": within, "alert_id": alert.id if alert is not None else None,
            **at_door}


def door_distance_m(session: Session, order: Order, lat: float, lng: float) -> float:
    """How far (geodesic, metres, 0.1 m) a WGS-84 position is from the order's address."""
    address = session.get(Address, order.address_id)
    return round(geodesic_km(Point(lat, lng), Point(address.lat, address.lng)) * 1000, 1)


def geofence_check(session: Session, order: Order, distance_m: float, *, lat: float,
                   lng: float, actor: Actor, now: datetime, config: Config,
                   accuracy_m: float | None, doing: str) -> tuple[bool, Alert | None]:
    """Whether the nurse was within the geofence; outside it a ``geofence`` alert opens
    for a supervisor to review (``doing`` says what she did there). No commit."""
    if distance_m <= config.geofence_m:
        return True, None
    accuracy = f" (GPS accuracy {accuracy_m:.0f} m)" if accuracy_m is not None else ""
    alert = raise_alert(
        session, kind="geofence", cause=geofence_cause(order.id, order.nurse_id), now=now,
        organization_id=order.organization_id, order_id=order.id, nurse_id=order.nurse_id,
        lat=lat, lng=lng, actor=actor,
        detail=f"{doing} {distance_m:.0f} m from the address; the "
               f"geofence is {config.geofence_m} m{accuracy}")
    return False, alert


@atomic
def check_out(*, session: Session, actor: Actor, order_id: int, lat: float, lng: float,
              procedures: list[str], now: datetime, vitals: dict[str, Any] | None = None,
              notes: str | None = None,
              consumables: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The nurse leaves with the care recorded: ``in_service`` -> ``completed``.

    The care record (vitals, procedures, notes, consumables) is written with the
    transition, so a completed visit always has one. Procedures are matched with
    the item's list; others are kept as free text. Her ``overtime`` alert resolves
    (the state machine resolves it); a ``geofence`` alert stays open for review.

    :raises OrderNotFound: (404) no such order, or not assigned to the caller.
    :raises InvalidTransition: (409) the order is not ``in_service``.
    """
    order = access_assigned_order(session, actor, order_id)
    transition(session, order, "completed", actor=actor, now=now, checked_out_at=now,
               check_out_lat=lat, check_out_lng=lng)
    listed = set(session.scalar(sa.select(ServiceItem.procedures)
                                .where(ServiceItem.code == order.service_code)) or ())
    care = CareRecord(order_id=order.id, nurse_id=order.nurse_id, vitals=vitals or {},
                      procedures=[{"name": p, "listed": p in listed} for p in procedures],
                      notes=notes, consumables=consumables or [], recorded_at=now)
    session.add(care)
    session.flush()
    view = _record_view(session, order, care)
    session.commit()
    return view


@atomic
def read_care_record(*, session: Session, actor: Actor, order_id: int,
                     now: datetime) -> dict[str, Any]:
    """The visit record with its care record, for the family, the nurse who gave the
    care, and the organization's supervisors. Every read goes on the audit trail
    (health data, PIPL art. 28), so this commits.

    :raises OrderNotFound: (404) no such order, or the caller may not see it.
    :raises CareRecordNotFound: (404) the visit has not been checked out.
    """
    order = access_order(session, actor, order_id)
    care = session.scalar(sa.select(CareRecord).where(CareRecord.order_id == order.id))
    if care is None:
        raise CareRecordNotFound(order_id=order.id, current_status=order.status)
    view = _record_view(session, order, care)
    record(session, actor=actor, action="care_record.read", object_type="care_record",
           object_id=care.id, organization_id=order.organization_id, now=now,
           detail={"order_id": order.id})
    session.commit()
    return view


def _record_view(session: Session, order: Order, care: CareRecord) -> dict[str, Any]:
    item = session.get(ServiceItem, order.service_code)
    address = session.get(Address, order.address_id)
    nurse_name = session.scalar(sa.select(User.name).join(Nurse, Nurse.user_id == User.id)
                                .where(Nurse.id == care.nurse_id))
    started, ended = order.checked_in_at, order.checked_out_at
    return {
        "order_id": order.id, "status": order.status, "service_code": order.service_code,
        "service_name_zh": item.name_zh if item else None,
        "service_name_en": item.name_en if item else None,
        "patient_id": order.patient_id,
        "patient_name": session.scalar(sa.select(CareRecipient.name)
                                       .where(CareRecipient.id == order.patient_id)),
        "nurse_id": care.nurse_id, "nurse_name": nurse_name,
        "service_date": order.service_date, "address_text": address.text,
        "address": {"lat": address.lat, "lng": address.lng},
        "started_at": started, "ended_at": ended,
        "minutes_on_site": (int((ended - started).total_seconds() // 60)
                            if started and ended else None),
        "check_in_distance_m": order.check_in_distance_m,
        "check_out": ({"lat": order.check_out_lat, "lng": order.check_out_lng}
                      if order.check_out_lat is not None else None),
        "vitals": care.vitals, "procedures": care.procedures, "notes": care.notes,
        "consumables": care.consumables, "recorded_at": care.recorded_at,
        **door.door_view(session.get(DoorCheck, order.id)),
        **corrections.original_times(session, order.id),
    }


@atomic
def raise_sos(*, session: Session, actor: Actor, order_id: int, now: datetime,
              lat: float | None = None, lng: float | None = None,
              accuracy_m: float | None = None, note: str | None = None,
              ignored: dict[str, Any] | None = None) -> dict[str, Any]:
    """The one-key alarm: a ``critical`` alert with the nurse's position, at once.

    Works for any order the nurse holds or has held: assigned to her now, or on
    record as hers (an event naming her or done by her, an offer she accepted),
    also once it was cancelled or given to another nurse: the family refusing her
    at the door is exactly when the supervisor cancels it. Without a position her
    last reported one is used. ``ignored`` is what the request held that failed
    validation (see ``SosSchema``); it is noted in the alert's detail. The alarm
    and its audit entry are committed on their own first, so nothing that
    follows can lose them; then, in a second transaction, every supervisor of the
    organization gets an urgent message. If that second step fails the alarm
    still stands (and shows on the console): it is logged, not raised. Each
    press is a new alarm. Never rate-limited.

    :raises OrderNotFound: (404) no such order, or the caller never held it.
    """
    order, nurse_id = access_held_order(session, actor, order_id)
    if lat is None or lng is None:
        lat, lng = _last_position(session, nurse_id)
    detail = "one-key alarm" + (f": {note}" if note else "")
    if accuracy_m is not None:
        detail += f" (GPS accuracy {accuracy_m:.0f} m)"
    if order.nurse_id != nurse_id or order.status not in NURSE_SEES:
        detail += f"; the order is {order.status} now and no longer hers"
    if ignored:
        detail += "; ignored from the request: " + json.dumps(ignored, ensure_ascii=False,
                                                              default=str)
    alert = raise_alert(session, kind="sos", cause=f"sos:order:{order.id}:{uuid.uuid4().hex}",
                        organization_id=order.organization_id, now=now,
                        order_id=order.id, nurse_id=nurse_id, severity="critical",
                        detail=detail[:_DETAIL_MAX], lat=lat, lng=lng, actor=actor)
    session.commit()
    # Read before the second step: a rollback there would expire the alert.
    view = alert_view(alert)
    try:
        paged = page_supervisors(session, alert=alert, now=now, urgent=True)
        session.commit()
    except Exception:
        # The alarm is stored and on the console; only the paging failed.
        log.exception("SOS alert %s stored, but paging the supervisors failed", view["id"])
        session.rollback()
        paged = 0
    return {**view, "supervisors_paged": paged}


_DETAIL_MAX = Alert.__table__.c.detail.type.length


def access_held_order(session: Session, actor: Actor, order_id: int) -> tuple[Order, int]:
    """The order and the caller's nurse id, if she holds or has ever held the order."""
    # Not access_order: an order cancelled or reassigned meanwhile is no longer
    # hers to read, but her alarm on it must be stored all the same.
    nurse_id = (session.scalar(sa.select(Nurse.id).where(Nurse.user_id == actor.user_id))
                if actor.role == "nurse" else None)
    order = session.get(Order, order_id) if nurse_id is not None else None
    if order is None:
        raise OrderNotFound(order_id=order_id)
    held = order.nurse_id == nurse_id or session.scalar(sa.select(sa.or_(
        sa.exists().where(OrderEvent.order_id == order.id,
                          sa.or_(OrderEvent.nurse_id == nurse_id,
                                 OrderEvent.actor_id == actor.user_id)),
        sa.exists().where(Offer.order_id == order.id, Offer.nurse_id == nurse_id,
                          Offer.status == "accepted"))))
    # Party to it as the nurse who holds or held it; nobody sees it as staff here.
    ensure_visible(actor, order.organization_id, OrderNotFound, staff=(),
                   parties={"nurse": actor.user_id if held else None}, order_id=order_id)
    return order, nurse_id


def _last_position(session: Session, nurse_id: int | None) -> tuple[float | None, float | None]:
    row = session.execute(sa.select(Nurse.last_lat, Nurse.last_lng)
                          .where(Nurse.id == nurse_id)).first()
    return (row.last_lat, row.last_lng) if row is not None else (None, None)


def alert_view(alert: Alert) -> dict[str, Any]:
    """An alert as a response dict (with its position object)."""
    view = {column.key: getattr(alert, column.key) for column in Alert.__table__.columns}
    view["position"] = alert.position
    return view

"""No-shows: the patient was not at home or refused the visit (``POST /orders/{id}/no-show``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from homecare.audit.service import record
from homecare.auth import Actor
from homecare.config import Config
from homecare.db import atomic
from homecare.errors import ValidationProblem
from homecare.orders.access import access_order
from homecare.orders.states import transition
from homecare.visits.service import (
    access_assigned_order,
    door_distance_m,
    geofence_check,
    set_off_if_assigned,
)


class PositionRequired(ValidationProblem):
    code, title = "position_required", "A nurse reports a no-show from the door, with her position"


@atomic
def report_no_show(*, session: Session, actor: Actor, order_id: int, reason: str,
                   now: datetime, config: Config, lat: float | None = None,
                   lng: float | None = None,
                   accuracy_m: float | None = None) -> dict[str, Any]:
    """The order becomes ``no_show``: reported by its nurse at the door, or by a supervisor.

    The nurse gives her position (WGS-84 here): it is checked against the address like
    a check-in. Outside the geofence the report is still accepted (GPS drifts) but
    flagged, and a ``geofence`` alert opens for a supervisor to review. An order she
    never marked as departed departs first, as at check-in. A supervisor marks a
    no-show from ``assigned`` or ``en_route`` without a position. Both must say why.
    The state machine's hooks tell the family (``visit_no_show``), resolve the order's
    ``late`` and ``no_show`` alerts and free the nurse's slot; the position goes on
    the audit trail.

    :raises OrderNotFound: (404) no such order, or not the caller's (nurse) or her
        organization's (supervisor).
    :raises PositionRequired: (422) a nurse without ``lat``/``lng``.
    :raises InvalidTransition: (409) the order is not ``assigned`` or ``en_route``.
    :raises TooEarlyToDepart: (409) a nurse, the order still ``assigned`` and its window
        too far ahead.
    :raises ReasonRequired: (422) an empty reason.
    """
    if actor.role != "nurse":
        order = access_order(session, actor, order_id)
        transition(session, order, "no_show", actor=actor, now=now, reason=reason)
        session.commit()
        return {"order_id": order.id, "status": order.status, "reason": reason}
    order = access_assigned_order(session, actor, order_id)
    if lat is None or lng is None:
        raise PositionRequired(order_id=order.id,
                               errors={"lat": ["required from the nurse"],
                                       "lng": ["required from the nurse"]})
    set_off_if_assigned(session, order, actor=actor, now=now, config=config)
    distance_m = door_distance_m(session, order, lat, lng)
    transition(session, order, "no_show", actor=actor, now=now, reason=reason)
    within, alert = geofence_check(session, order, distance_m, lat=lat, lng=lng, actor=actor,
                                   now=now, config=config, accuracy_m=accuracy_m,
                                   doing="reported a no-show")
    record(session, actor=actor, action="order.no_show_position", object_type="order",
           object_id=order.id, organization_id=order.organization_id, now=now,
           detail={"lat": lat, "lng": lng, "accuracy_m": accuracy_m, "distance_m": distance_m})
    session.commit()
    return {"order_id": order.id, "status": order.status, "reason": reason, "lat": lat,
            "lng": lng, "distance_m": distance_m, "geofence_m": config.geofence_m,
            "within_geofence": within, "alert_id": alert.id if alert is not None else None}

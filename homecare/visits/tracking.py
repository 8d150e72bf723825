"""Live tracking for the family: where her nurse is while on the way (``GET
/orders/{id}/tracking``), and nothing before or after."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from homecare.auth import Actor
from homecare.config import Config
from homecare.errors import Conflict
from homecare.geo import Point, eta_minutes, travel_model
from homecare.nurses.models import LocationPing
from homecare.orders.access import access_order
from homecare.orders.errors import OrderNotFound
from homecare.patients.models import Address


class NotEnRoute(Conflict):
    code, title = "not_en_route", "The nurse is not on her way to this visit"


def track(*, session: Session, actor: Actor, order_id: int, config: Config) -> dict[str, Any]:
    """The nurse's latest position on the way to the owner's visit, and an ETA to the
    address from the travel model (``geo.travel_model``).

    Only the owner, and only while the order is ``en_route``: before she sets off and
    once she checks in there is nothing to see. Only pings since her departure count
    (an older one may be her home). With none yet the position and ETA are null.

    :raises OrderNotFound: (404) no such order, or not the caller's recipient's.
    :raises NotEnRoute: (409) the nurse is not on her way to it.
    """
    order = access_order(session, actor, order_id)
    if actor.role != "patient":  # staff may read the order, but not trace its nurse
        raise OrderNotFound(order_id=order_id)
    if order.status != "en_route" or order.departed_at is None:
        raise NotEnRoute(f"the order is {order.status}; a nurse is tracked only on her way",
                         order_id=order.id, current_status=order.status)
    ping = session.execute(
        sa.select(LocationPing.lat, LocationPing.lng, LocationPing.accuracy_m,
                  LocationPing.recorded_at)
        .where(LocationPing.nurse_id == order.nurse_id,
               LocationPing.recorded_at >= order.departed_at)
        .order_by(LocationPing.recorded_at.desc(), LocationPing.id.desc()).limit(1)).first()
    view = {"order_id": order.id, "status": order.status, "departed_at": order.departed_at,
            "lat": None, "lng": None, "accuracy_m": None, "eta_min": None, "updated_at": None}
    if ping is None:
        return view
    address = session.get(Address, order.address_id)
    eta = eta_minutes(travel_model(config), Point(ping.lat, ping.lng),
                      Point(address.lat, address.lng))
    return {**view, "lat": ping.lat, "lng": ping.lng, "accuracy_m": ping.accuracy_m,
            "eta_min": eta, "updated_at": ping.recorded_at}

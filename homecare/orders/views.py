"""What each caller may see of an order: the one place order responses are built."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from homecare.accounts.models import User
from homecare.auth import Actor
from homecare.catalogue.models import ServiceItem
from homecare.nurses.models import Nurse
from homecare.orders.models import Order, Review
from homecare.orders.states import NURSE_SEES, may
from homecare.patients.models import Address, CareRecipient
from homecare.schemas import location_out, mask_phone

# A nurse sees the recipient only once the order is hers (PIPL: only what the
# role needs): from assignment on, including the finished visit for her records.

_ORDER_FIELDS = ("id", "status", "organization_id", "patient_id", "address_id", "service_code",
                 "duration_min", "price_fen", "window_start", "window_end", "service_date",
                 "notes", "nurse_id", "planned_arrival", "departed_at", "checked_in_at",
                 "checked_out_at", "status_reason", "price_breakdown", "cancellation_fee_fen",
                 "cancellation_rule", "created_at", "updated_at")


class FamilyExtra(NamedTuple):
    """Fields another domain adds to the owner's view of her orders (the door check:
    whom to expect, the visit code). ``load(session, orders)`` answers them per order
    the owner sees; every other viewer gets ``hidden``. Registered at start-up
    (``homecare.order_hooks``), so the orders core imports no use case."""

    load: Callable[[Session, Sequence[Order]], dict[int, dict[str, Any]]]
    hidden: dict[str, Any]


_FAMILY_EXTRAS: list[FamilyExtra] = []


def add_family_extra(extra: FamilyExtra) -> None:
    """Add ``extra`` to every order view from now on (once, however often it is added)."""
    if extra not in _FAMILY_EXTRAS:
        _FAMILY_EXTRAS.append(extra)


def nurse_id_of(session: Session, actor: Actor) -> int | None:
    """The nurse profile behind a nurse account, if any."""
    if actor.role != "nurse":
        return None
    return session.scalar(sa.select(Nurse.id).where(Nurse.user_id == actor.user_id))


def sight(order: Order, actor: Actor, actor_nurse_id: int | None) -> str:
    """How much of the recipient ``actor`` sees: ``full``, ``staff`` or ``none``.

    ``full``: the owner. ``staff``: supervisors, admins and the nurse holding the
    order: the name and exact address, the phone masked. ``none``: anyone else,
    e.g. a nurse only offered the order.
    """
    if actor.role == "patient":
        return "full"
    if actor.role in ("supervisor", "admin"):
        return "staff"
    # Her nurse reaches the family through the institution's number-masking
    # relay, not on the number itself: the contract masks it for all but the owner.
    if (actor.role == "nurse" and actor_nurse_id is not None
            and order.nurse_id == actor_nurse_id and order.status in NURSE_SEES):
        return "staff"
    return "none"


def order_view(order: Order, actor: Actor, *, session: Session) -> dict[str, Any]:
    """The response for one order as ``actor`` may see it (``OrderSchema``)."""
    return order_views([order], actor, session=session)[0]


def order_views(orders: Sequence[Order], actor: Actor, *,
                session: Session) -> list[dict[str, Any]]:
    """Responses for several orders, loading the related rows in a few queries."""
    if not orders:
        return []
    recipients = _by_id(session, CareRecipient, {o.patient_id for o in orders})
    addresses = _by_id(session, Address, {o.address_id for o in orders})
    names = {code: item.name_zh for code, item in _by_id(
        session, ServiceItem, {o.service_code for o in orders}, key="code").items()}
    nurse_ids = {o.nurse_id for o in orders if o.nurse_id is not None}
    nurse_names = dict(session.execute(
        sa.select(Nurse.id, User.name).join(User, User.id == Nurse.user_id)
        .where(Nurse.id.in_(nurse_ids))).all()) if nurse_ids else {}
    # Only a completed visit can be reviewed (states.may("review")).
    reviewable = [o.id for o in orders if may("review", o.status)]
    reviews = {r.order_id: r for r in session.scalars(
        sa.select(Review).where(Review.order_id.in_(reviewable)))} if reviewable else {}
    actor_nurse_id = nurse_id_of(session, actor)
    owned = [o for o in orders if sight(o, actor, actor_nurse_id) == "full"]
    extras = [(extra.hidden, extra.load(session, owned)) for extra in _FAMILY_EXTRAS]

    views = []
    for order in orders:
        view = {name: getattr(order, name) for name in _ORDER_FIELDS}
        address = addresses.get(order.address_id)
        recipient = recipients.get(order.patient_id)
        view["district"] = address.district if address else None
        view["service_name_zh"] = names.get(order.service_code)
        view["nurse_name"] = nurse_names.get(order.nurse_id)
        view["review"] = reviews.get(order.id)
        level = sight(order, actor, actor_nurse_id)
        view["recipient"] = _recipient(recipient, level)
        view["address"] = _address(address) if level != "none" else None
        if level == "none":
            view["notes"] = None
        for hidden, loaded in extras:
            view.update(loaded.get(order.id, hidden))
        views.append(view)
    return views


def _by_id(session: Session, model: type, ids: set[Any], key: str = "id") -> dict[Any, Any]:
    """Rows by primary key: those the session holds already (a booking just read its
    recipient, address and item) without a query, the rest in one."""
    found = {}
    for ident in ids:
        row = session.identity_map.get(identity_key(model, ident))
        if row is not None:
            found[ident] = row
    missing = ids - found.keys()
    if missing:
        column = getattr(model, key)
        found.update((getattr(row, key), row)
                     for row in session.scalars(sa.select(model).where(column.in_(missing))))
    return found


def _recipient(recipient: Any, level: str) -> dict[str, Any] | None:
    if recipient is None or level == "none":
        return None
    phone = recipient.phone if level == "full" else mask_phone(recipient.phone)
    return {"id": recipient.id, "name": recipient.name, "phone": phone}


def _address(address: Any) -> dict[str, Any] | None:
    if address is None:
        return None
    place = location_out(address.lat, address.lng) or {}
    return {"id": address.id, "label": address.label, "text": address.text,
            "district": address.district, "lat": address.lat, "lng": address.lng,
            "gcj02": place.get("gcj02")}

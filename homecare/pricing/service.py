"""Prices before booking and charges at cancellation: the one place fees are worked out.

The price of an order is the item's price plus the travel fee from the
organization's published table (road distance from the institution to the
address, by the travel model) plus any night or holiday surcharge. The
breakdown is copied onto the order when it is booked.

The cancellation policy (``cancellation_charge``):

``by_service``  cancelled by a supervisor (not at the family's request), the
                nurse or the service itself: always free
``call_out``    at the family's request after the nurse set off: the travel fee
                the order was booked with (her trip is wasted)
``late``        by the family less than ``free_cancel_minutes`` before the
                window: the table's late-cancellation fee
``free``        by the family earlier than that: free

No payment is processed here: ``record_charge`` is the seam where a payment
adapter (the hospital's billing / HIS interface) would plug in; today the
amount is recorded on the order and on the audit trail for billing to collect.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from homecare.accounts.models import Organization
from homecare.auth import Actor, ensure_visible
from homecare.config import Config
from homecare.db import atomic
from homecare.errors import NotFound, ValidationProblem
from homecare.geo import Point, travel_model
from homecare.orders.states import UNDER_WAY
from homecare.pricing.models import FeeTable

# What an organization without a published table charges: nothing on top.
DEFAULTS: dict[str, Any] = {
    "included_km": 3.0, "base_fee_fen": 0, "per_km_fen": 0, "cap_fen": None,
    "night_surcharge_fen": 0, "night_start": None, "night_end": None,
    "holiday_surcharge_fen": 0, "holidays": [], "free_cancel_minutes": 240,
    "late_cancel_fee_fen": 0}
CANCELLATION_RULES = ("free", "late", "call_out", "by_service")


class OrganizationNotFound(NotFound):
    code, title = "organization_not_found", "No such organization"


class NightHoursIncomplete(ValidationProblem):
    code, title = "night_hours_incomplete", "A night surcharge needs night_start and night_end"


@dataclass(frozen=True)
class Charge:
    """What a cancellation costs the family, and the rule that decided it."""

    fee_fen: int
    rule: str
    detail: str


# ---------------------------------------------------------------- the table


def fee_table(session: Session, organization_id: int) -> dict[str, Any]:
    """The organization's fee table as a dict (the defaults if it published none)."""
    row = session.get(FeeTable, organization_id)
    if row is None:
        return {**DEFAULTS, "organization_id": organization_id, "version": 0,
                "updated_at": None}
    return {name: getattr(row, name) for name in (
        *DEFAULTS, "organization_id", "version", "updated_at")}


def access_fee_table_owner(session: Session, actor: Actor, organization_id: int
                           ) -> Organization:
    """The organization whose fee table the caller may publish: hers (an admin any).

    :raises OrganizationNotFound: (404) no such organization, or not hers.
    """
    org = session.get(Organization, organization_id)
    if org is None:
        raise OrganizationNotFound(organization_id=organization_id)
    ensure_visible(actor, organization_id, OrganizationNotFound, staff=("admin", "supervisor"),
                   organization_id=organization_id)
    return org


def read_fee_table(*, session: Session, organization_id: int) -> dict[str, Any]:
    """An organization's published fees (public: fees are published, 收费公示).

    :raises OrganizationNotFound: (404) no such organization.
    """
    if session.get(Organization, organization_id) is None:
        raise OrganizationNotFound(organization_id=organization_id)
    return _published(fee_table(session, organization_id))


def _published(table: dict[str, Any]) -> dict[str, Any]:
    # Holidays are kept as ISO strings (JSON); the response gives dates.
    return {**table, "holidays": [date.fromisoformat(d) for d in table["holidays"]]}


@atomic
def replace_fee_table(*, session: Session, actor: Actor, organization_id: int,
                      data: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A supervisor publishes her organization's fee table (an admin any one's).

    Fields left out take the defaults. Placed orders keep the breakdown they
    were booked with; only later quotes and bookings use the new table.

    :raises OrganizationNotFound: (404) no such organization, or not hers.
    :raises NightHoursIncomplete: (422) a night surcharge without its hours.
    """
    from homecare.audit.service import record

    access_fee_table_owner(session, actor, organization_id)
    values = {**DEFAULTS, **data}
    if values["night_surcharge_fen"] and not (values["night_start"] and values["night_end"]):
        raise NightHoursIncomplete(errors={"night_start": ["needed with night_surcharge_fen"]})
    values["holidays"] = sorted({d.isoformat() if isinstance(d, date) else d
                                 for d in values["holidays"]})
    row = session.get(FeeTable, organization_id)
    if row is None:
        row = FeeTable(organization_id=organization_id, version=0)
        session.add(row)
    for name, value in values.items():
        setattr(row, name, value)
    row.version += 1
    row.updated_by, row.updated_at = actor.user_id, now
    session.flush()
    record(session, actor=actor, action="fee_table.published", object_type="organization",
           object_id=organization_id, organization_id=organization_id, now=now,
           detail={"version": row.version, **values})
    session.commit()
    return _published(fee_table(session, organization_id))


# ---------------------------------------------------------------- the price


def _in_night(local: time, start: str | None, end: str | None) -> bool:
    if not start or not end:
        return False
    begins, ends = time.fromisoformat(start), time.fromisoformat(end)
    if begins <= ends:
        return begins <= local < ends
    return local >= begins or local < ends  # wraps past midnight


def price_breakdown(*, session: Session, item_price_fen: int, service_code: str,
                    organization_id: int, place: Point, window_start: datetime,
                    config: Config) -> dict[str, Any]:
    """The price of a visit, line by line (``PriceBreakdownSchema``), from the
    organization's current table; ``total_fen`` is the order's ``price_fen``."""
    table = fee_table(session, organization_id)
    org = session.get(Organization, organization_id)
    road_m = travel_model(config).distance_m(Point(org.center_lat, org.center_lng), place)
    road_km = road_m / 1000.0
    extra_km = max(0.0, road_km - table["included_km"])
    # Whole fen, rounded up: the published per-km rate is never undercut.
    travel = table["base_fee_fen"] + math.ceil(round(extra_km * table["per_km_fen"], 6))
    capped = table["cap_fen"] is not None and travel > table["cap_fen"]
    if capped:
        travel = table["cap_fen"]
    local = window_start.astimezone(ZoneInfo(config.timezone))
    surcharges = []
    if table["night_surcharge_fen"] and _in_night(local.time(), table["night_start"],
                                                  table["night_end"]):
        surcharges.append({"kind": "night", "fee_fen": table["night_surcharge_fen"]})
    if table["holiday_surcharge_fen"] and local.date().isoformat() in table["holidays"]:
        surcharges.append({"kind": "holiday", "fee_fen": table["holiday_surcharge_fen"]})
    total = item_price_fen + travel + sum(s["fee_fen"] for s in surcharges)
    return {"service_code": service_code, "item_fen": item_price_fen,
            "road_km": round(road_km, 2), "included_km": table["included_km"],
            "per_km_fen": table["per_km_fen"], "travel_fee_fen": travel,
            "travel_capped": capped, "surcharges": surcharges, "total_fen": total,
            "fee_table_version": table["version"]}


def quote(*, session: Session, actor: Actor, code: str, address_id: int,
          window_start: datetime, config: Config) -> dict[str, Any]:
    """The price before booking (``GET /services/{code}/quote``): the family for
    her own recipient's address, a supervisor for an address her organization serves.

    :raises ServiceItemNotFound: (404) no such item, or it is retired.
    :raises UnknownAddress: (422) not an address the caller may quote for.
    :raises OutsideServiceArea: (422) no organization serves the address.
    """
    from homecare.catalogue.service import ServiceItemNotFound, get_item
    from homecare.orders.errors import OutsideServiceArea, UnknownAddress
    from homecare.patients.models import Address, CareRecipient

    item = get_item(session=session, code=code)
    if not item.active:
        raise ServiceItemNotFound(f"service item {code} is retired", service_code=code)
    address = session.get(Address, address_id)
    owner = (session.get(CareRecipient, address.patient_id).owner_id
             if address is not None else None)
    if address is None or (actor.role == "patient" and owner != actor.user_id):
        raise UnknownAddress(address_id=address_id, errors={"address_id": ["not found"]})
    # Whose address first: a supervisor must not learn whether another
    # organization's (or nobody's) address is served.
    if actor.role == "supervisor" and actor.organization_id != address.organization_id:
        raise UnknownAddress(address_id=address_id, errors={"address_id": ["not found"]})
    if address.outside_service_area or address.organization_id is None:
        raise OutsideServiceArea("no organization's service area covers this address",
                                 address_id=address_id)
    breakdown = price_breakdown(session=session, item_price_fen=item.price_fen,
                                service_code=item.code,
                                organization_id=address.organization_id,
                                place=Point(address.lat, address.lng),
                                window_start=window_start, config=config)
    return {"service_code": item.code, "address_id": address.id,
            "organization_id": address.organization_id, "window_start": window_start,
            "price_fen": breakdown["total_fen"], "price_breakdown": breakdown}


# ---------------------------------------------------------------- cancellation


def cancellation_charge(session: Session, *, order: Any, actor: Actor | None,
                        now: datetime, requested_by_family: bool = False) -> Charge:
    """What cancelling ``order`` now costs the family, by the policy above."""
    by_family = actor is not None and (actor.role == "patient" or (
        requested_by_family and actor.role in ("supervisor", "admin")))
    if not by_family:
        return Charge(0, "by_service", "cancelled by the service: never charged")
    if order.departed_at is not None and order.status in UNDER_WAY:
        fee = int((order.price_breakdown or {}).get("travel_fee_fen", 0))
        return Charge(fee, "call_out", "the nurse had set off: the travel fee is due")
    table = fee_table(session, order.organization_id)
    lead_min = table["free_cancel_minutes"]
    if (order.window_start - now).total_seconds() < lead_min * 60:
        return Charge(table["late_cancel_fee_fen"], "late",
                      f"less than {lead_min} minutes before the window: the late fee is due")
    return Charge(0, "free", f"more than {lead_min} minutes before the window: free")


def record_charge(session: Session, *, order: Any, charge: Charge, actor: Actor | None,
                  now: datetime) -> None:
    """Record what the family owes for ``order`` (no commit).

    THE seam for a payment adapter: the platform processes no payment; the
    hospital's billing system collects what is recorded here (the order's
    ``cancellation_fee_fen`` and this audit entry). An adapter that bills
    directly would be called from here, inside the same transaction's outbox.
    """
    from homecare.audit.service import record

    if charge.fee_fen <= 0:
        return
    record(session, actor=actor, action="billing.charge_recorded", object_type="order",
           object_id=order.id, organization_id=order.organization_id, now=now,
           detail={"fee_fen": charge.fee_fen, "rule": charge.rule})

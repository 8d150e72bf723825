"""Reading a search's nurses: the spatial index lookup by address, and the radius rule."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from homecare.accounts.models import User
from homecare.catalogue.models import ServiceItem
from homecare.config import Config
from homecare.dispatch.models import NurseCell, cell_of
from homecare.geo import Point
from homecare.geo import within_radius as within_radius_km
from homecare.nurses import gate
from homecare.nurses.models import Nurse, Shift
from homecare.orders.models import Order
from homecare.patients.models import Address


@dataclass(frozen=True)
class Job:
    """The order as matching sees it: place, window, and what the item demands."""

    order_id: int
    organization_id: int
    patient_id: int
    status: str
    nurse_id: int | None
    place: Point
    district: str | None
    window_start: datetime
    window_end: datetime
    duration_min: int
    service_date: date
    service_code: str
    price_fen: int
    required_skills: frozenset[str]
    min_title: str


# Statements of the search are built once: building a SELECT costs about as much
# as SQLite takes to run it, and a search runs several.
@functools.cache
def _job_stmt() -> sa.Select:
    return (sa.select(Address.lat, Address.lng, Address.district, ServiceItem.required_skills,
                      ServiceItem.min_title)
            .select_from(Address).join(ServiceItem, ServiceItem.code == sa.bindparam("code"))
            .where(Address.id == sa.bindparam("address_id")))


def load_job(session: Session, order: Order) -> Job:
    """The order, its address and its item's demands, read once per search: from the
    session when it holds both rows (a booking has just read them), else from the
    database."""
    address = session.identity_map.get(identity_key(Address, order.address_id))
    item = session.identity_map.get(identity_key(ServiceItem, order.service_code))
    row = (address.lat, address.lng, address.district, item.required_skills, item.min_title) \
        if address is not None and item is not None else None
    if row is None:
        row = session.execute(_job_stmt(), {"code": order.service_code,
                                            "address_id": order.address_id}).one()
    lat, lng, district, required_skills, min_title = row
    return Job(order_id=order.id, organization_id=order.organization_id,
               patient_id=order.patient_id, status=order.status, nurse_id=order.nurse_id,
               place=Point(lat, lng), district=district,
               window_start=order.window_start, window_end=order.window_end,
               duration_min=order.duration_min, service_date=order.service_date,
               service_code=order.service_code, price_fen=order.price_fen,
               required_skills=frozenset(required_skills or ()), min_title=min_title)


_NURSE_COLUMNS = (Nurse.id, Nurse.organization_id, Nurse.user_id, User.name,
                  Nurse.active, User.active.label("user_active"), Nurse.title,
                  Nurse.years_experience, Nurse.skills, Nurse.home_lat, Nurse.home_lng,
                  Nurse.service_radius_km, Nurse.max_visits_per_day, Nurse.rating_sum,
                  Nurse.rating_count, Nurse.last_lat, Nurse.last_lng, Nurse.last_ping_at,
                  Nurse.license_no, Nurse.license_valid_until, Nurse.insurance_no,
                  Nurse.insurance_valid_until)


def nurse_rows(session: Session, where: Iterable[Any]) -> list[Any]:
    """Nurse rows with the columns matching needs, filtered by ``where``."""
    stmt = (sa.select(*_NURSE_COLUMNS).join(User, User.id == Nurse.user_id)
            .where(*where).order_by(Nurse.id))
    return list(session.execute(stmt))


@functools.cache
def _nearby_stmt() -> sa.Select:
    # Any stretch able to hold the visit has a shift overlapping [window start,
    # window end + duration]: a necessary condition, so it only narrows. Tested on
    # the cell's entries before the nurse's row is read, it halves the query: most
    # nurses near an address have no shift that day.
    on_shift = sa.exists().where(Shift.nurse_id == NurseCell.nurse_id,
                                 Shift.start < sa.bindparam("until"),
                                 Shift.end > sa.bindparam("since"))
    return (sa.select(*_NURSE_COLUMNS).select_from(NurseCell)
            .join(Nurse, Nurse.id == NurseCell.nurse_id)
            .join(User, User.id == Nurse.user_id)
            .where(NurseCell.organization_id == sa.bindparam("org"),
                   NurseCell.cell == sa.bindparam("cell"), on_shift,
                   Nurse.organization_id == sa.bindparam("org"), *gate.where())
            .order_by(Nurse.id))


def nearby_nurses(session: Session, job: Job, config: Config) -> list[Any]:
    """The spatial prefilter: the organization's nurses whose service disc may cover
    the address, by one indexed lookup of the address's grid cell.

    The cheap rules of the qualification gate (``nurses.gate.where``: active,
    experience, titles) and a shift that day near the window go into the same
    query because they are cheap for the database and cut the rows to decode;
    every rule is checked again in Python, so this only ever narrows, never decides.
    """
    return list(session.connection().execute(_nearby_stmt(), {
        "org": job.organization_id, "cell": cell_of(job.place.lat, job.place.lng),
        **gate.where_params(config, job.min_title),
        "until": job.window_end + timedelta(minutes=job.duration_min),
        "since": job.window_start}))


def radius_km(row: Any, config: Config) -> float:
    """Her service radius as matching applies it: never beyond the configured maximum."""
    return min(row.service_radius_km, config.max_service_radius_km)


def within_radius(rows: Sequence[Any], job: Job, config: Config,
                  exact: bool) -> tuple[list[float], list[bool]]:
    """Per row, the great-circle km from home to the address, and whether the address
    lies within her radius (``geo.within_radius``: geodesic, boundary included)."""
    return within_radius_km(job.place, [Point(r.home_lat, r.home_lng) for r in rows],
                            [radius_km(r, config) for r in rows], exact)

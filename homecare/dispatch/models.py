"""Offers (an order proposed to a nurse, with a deadline as a row) and the spatial index."""

from __future__ import annotations

import math
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Mapped, mapped_column

from homecare.clock import utcnow
from homecare.db import Base
from homecare.geo import Point, bounding_box, haversine_km
from homecare.nurses.models import Nurse

OFFER_STATUSES = ("open", "accepted", "declined", "expired", "withdrawn")


class Offer(Base):
    """An order offered to one nurse in a dispatch round until ``expires_at``.

    A nurse is offered an order at most once (unique order, nurse), which makes a
    repeated sweep unable to offer twice. ``distance_km`` and ``eta_min`` are the
    leg from where she will be (previous visit, home or current position) to the
    address, as ranked when the offer was made.
    """

    __tablename__ = "offers"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("orders.id"), index=True)
    nurse_id: Mapped[int] = mapped_column(sa.ForeignKey("nurses.id"), index=True)
    round: Mapped[int]
    status: Mapped[str] = mapped_column(sa.String(20), default="open")
    distance_km: Mapped[float]
    eta_min: Mapped[float]
    score: Mapped[float]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    responded_at: Mapped[datetime | None]
    decline_reason: Mapped[str | None] = mapped_column(sa.String(300))

    __table_args__ = (
        sa.UniqueConstraint("order_id", "nurse_id", name="uq_offers_order_nurse"),
        sa.Index("ix_offers_status_expires", "status", "expires_at"),
        sa.Index("ix_offers_nurse_status", "nurse_id", "status"),
    )


# ---------------------------------------------------------------- spatial index
#
# Why cells of the service disc, not a bounding box on the nurse's home: every
# nurse has her own radius (5-15 km typically, up to the configured maximum), so
# a box around the address must be as wide as the largest radius and, in a city
# 100 km across, brings back several times the nurses who can actually reach it.
# Indexing each nurse under the grid cells her disc touches turns "whose disc
# covers this address?" into one equality lookup on (organization, cell), which
# B-trees on SQLite and PostgreSQL both answer without PostGIS or R-tree modules.
# The lookup over-covers by the cell size only; the exact geodesic check follows.
#
# 0.05 degrees (5.6 km north-south, 4.5 km east-west at Jining's latitude) was
# measured with bench/match.py: smaller cells multiply the rows per nurse (the
# index grows with the square of radius / cell) for little gain in precision,
# larger ones return more nurses to check per order.
CELL_DEG = 0.05
# Cells per row of the grid: an id is lat_index * _ROW + lng_index.
_ROW = 10_000
# Haversine on the mean sphere is within 0.6% of the ellipsoidal geodesic; the
# pruning below keeps any cell that might hold a point inside the disc.
_PRUNE_SLACK = 1.01


def cell_of(lat: float, lng: float) -> int:
    """The grid cell holding a WGS-84 point."""
    return (math.floor((lat + 90.0) / CELL_DEG) * _ROW
            + math.floor((lng + 180.0) / CELL_DEG))


def coverage_cells(home: Point, radius_km: float) -> list[int]:
    """Every grid cell that holds a point within ``radius_km`` of ``home``.

    Over-covers, never under-covers: the rigorous bounding box bounds the disc,
    and a box cell is dropped only when its nearest point is clearly outside.
    """
    min_lat, max_lat, min_lng, max_lng = bounding_box(home, max(radius_km, 0.0))
    i0, i1 = (math.floor((v + 90.0) / CELL_DEG) for v in (min_lat, max_lat))
    j0, j1 = (math.floor((v + 180.0) / CELL_DEG) for v in (min_lng, max_lng))
    limit = radius_km * _PRUNE_SLACK + 0.05
    cells = []
    for i in range(i0, i1 + 1):
        lo, hi = i * CELL_DEG - 90.0, (i + 1) * CELL_DEG - 90.0
        near_lat = min(max(home.lat, lo), hi)
        for j in range(j0, j1 + 1):
            west, east = j * CELL_DEG - 180.0, (j + 1) * CELL_DEG - 180.0
            near_lng = min(max(home.lng, west), east)
            if haversine_km(home, Point(near_lat, near_lng)) <= limit:
                cells.append(i * _ROW + j)
    return cells


class NurseCoverage(Base):
    """Where a nurse's service disc was indexed from: one row per indexed nurse.

    Compared with the nurse's profile by ``dispatch.spatial.sync_spatial_index``
    to find discs a bulk update moved without the ORM (and so without the hooks).
    """

    __tablename__ = "nurse_coverage"

    nurse_id: Mapped[int] = mapped_column(
        sa.ForeignKey("nurses.id", ondelete="CASCADE"), primary_key=True)
    organization_id: Mapped[int]
    home_lat: Mapped[float]
    home_lng: Mapped[float]
    radius_km: Mapped[float]


class NurseCell(Base):
    """One grid cell a nurse's service disc touches, keyed for the lookup by address."""

    __tablename__ = "nurse_cells"

    organization_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    cell: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    nurse_id: Mapped[int] = mapped_column(
        sa.ForeignKey("nurses.id", ondelete="CASCADE"), primary_key=True,
        autoincrement=False, index=True)


_INDEXED = ("organization_id", "home_lat", "home_lng", "service_radius_km")


def index_nurses(connection: sa.Connection, nurses: list[tuple[int, int, float, float, float]],
                 ) -> int:
    """(Re)write the coverage and cells of ``nurses`` on ``connection``; returns the cells.

    Each item is (nurse_id, organization_id, home_lat, home_lng, radius_km).
    """
    total = 0
    for chunk in (nurses[i:i + 500] for i in range(0, len(nurses), 500)):
        ids = [n[0] for n in chunk]
        connection.execute(sa.delete(NurseCell).where(NurseCell.nurse_id.in_(ids)))
        connection.execute(sa.delete(NurseCoverage).where(NurseCoverage.nurse_id.in_(ids)))
        connection.execute(sa.insert(NurseCoverage), [
            {"nurse_id": n, "organization_id": org, "home_lat": lat, "home_lng": lng,
             "radius_km": r} for n, org, lat, lng, r in chunk])
        cells = [{"organization_id": org, "cell": c, "nurse_id": n}
                 for n, org, lat, lng, r in chunk for c in coverage_cells(Point(lat, lng), r)]
        if cells:
            connection.execute(sa.insert(NurseCell), cells)
        total += len(cells)
    return total


def _index_from_target(connection: sa.Connection, nurse: Nurse) -> None:
    index_nurses(connection, [(nurse.id, nurse.organization_id, nurse.home_lat, nurse.home_lng,
                               nurse.service_radius_km)])


# The index follows every profile written through the ORM, in the same
# transaction, so a nurse is findable exactly when her profile is committed.
@event.listens_for(Nurse, "after_insert")
def _index_new_nurse(_mapper, connection, target: Nurse) -> None:
    _index_from_target(connection, target)


@event.listens_for(Nurse, "after_update")
def _reindex_moved_nurse(_mapper, connection, target: Nurse) -> None:
    state = sa.inspect(target)
    if any(state.attrs[name].history.has_changes() for name in _INDEXED):
        _index_from_target(connection, target)

"""Keeping the spatial index of nurses' service discs in step with their profiles."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from homecare.db import atomic
from homecare.dispatch.models import NurseCoverage, index_nurses
from homecare.nurses.models import Nurse


@atomic
def sync_spatial_index(*, session: Session) -> int:
    """Re-index every nurse whose service disc is missing from the index or stale; commits.

    Profiles written through the ORM are indexed in their own transaction by the
    hooks in ``dispatch.models``; this catches what bypasses them (bulk UPDATEs,
    imports, a restored backup). Safe to run at any time; returns how many nurses
    were re-indexed.
    """
    stale = session.execute(
        sa.select(Nurse.id, Nurse.organization_id, Nurse.home_lat, Nurse.home_lng,
                  Nurse.service_radius_km)
        .outerjoin(NurseCoverage, NurseCoverage.nurse_id == Nurse.id)
        .where(sa.or_(NurseCoverage.nurse_id.is_(None),
                      NurseCoverage.organization_id != Nurse.organization_id,
                      NurseCoverage.home_lat != Nurse.home_lat,
                      NurseCoverage.home_lng != Nurse.home_lng,
                      NurseCoverage.radius_km != Nurse.service_radius_km))
        .order_by(Nurse.id)).all()
    if stale:
        index_nurses(session.connection(), [tuple(row) for row in stale])
    session.commit()
    return len(stale)

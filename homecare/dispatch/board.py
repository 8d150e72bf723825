"""The dispatch board: a supervisor's view of one local day of her organization."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from homecare.accounts.models import User
from homecare.accounts.service import organization_in_charge
from homecare.alerts.models import ALERT_KINDS, Alert
from homecare.alerts.service import open_alert_counts
from homecare.auth import Actor
from homecare.config import Config
from homecare.nurseday.load import stretches
from homecare.nurseday.model import fresh_ping, local_day
from homecare.nurses.models import Nurse
from homecare.orders.models import Order
from homecare.orders.states import AWAITING_NURSE, DAY_LOAD, STATUSES
from homecare.patients.models import Address

# Open alerts listed one by one, not only counted: a supervisor acts on these now.
URGENT_KINDS = ("sos",)
URGENT_SEVERITIES = ("critical",)


def dispatch_board(*, session: Session, actor: Actor, day: date | None, now: datetime,
                   config: Config, organization_id: int | None = None) -> dict[str, Any]:
    """The day view of the caller's organization (an admin names one).

    ``day`` is a local date in ``config.timezone`` (default: today there). Orders
    are counted by every status of the state machine for that service date; the
    unassigned ones (submitted, approved, offered) are listed by window. Nurses are
    the active ones with a shift touching the day, with her last ping if it is no
    older than ``dispatch_ping_max_age_minutes`` and her load (visits of the day
    she holds or has completed). Alerts are the open (not resolved) ones, counted
    by kind, with the SOS and critical ones listed. A fixed number of queries,
    however many nurses.

    :raises Forbidden: (403) the caller is neither a supervisor nor an admin.
    :raises OrganizationRequired: (422) an admin did not name the organization.
    :raises OrganizationNotFound: (404) no such organization, or another one's.
    """
    organization_id = organization_in_charge(session, actor, organization_id,
                                             what="dispatch board")
    day = day or local_day(now, config.timezone)
    return {
        "date": day,
        "now": now,
        "organization_id": organization_id,
        "counts": _counts(session, organization_id, day),
        "unassigned": _unassigned(session, organization_id, day),
        "nurses": _nurses(session, organization_id, day, now, config),
        "alerts": _alerts(session, organization_id),
    }


def _counts(session: Session, organization_id: int, day: date) -> dict[str, int]:
    counts = dict.fromkeys(STATUSES, 0)
    rows = session.execute(
        sa.select(Order.status, sa.func.count())
        .where(Order.organization_id == organization_id, Order.service_date == day)
        .group_by(Order.status))
    for status, count in rows:
        counts[status] = count
    return counts


def _unassigned(session: Session, organization_id: int, day: date) -> list[dict[str, Any]]:
    rows = session.execute(
        sa.select(Order.id, Order.status, Order.service_code, Order.window_start,
                  Order.window_end, Address.district, Order.dispatch_round)
        .join(Address, Address.id == Order.address_id)
        .where(Order.organization_id == organization_id, Order.service_date == day,
               Order.status.in_(AWAITING_NURSE))
        .order_by(Order.window_start, Order.id))
    return [row._asdict() for row in rows]


def _nurses(session: Session, organization_id: int, day: date, now: datetime,
            config: Config) -> list[dict[str, Any]]:
    rows = session.execute(
        sa.select(Nurse.id, User.name, Nurse.max_visits_per_day, Nurse.last_lat,
                  Nurse.last_lng, Nurse.last_ping_at)
        .join(User, User.id == Nurse.user_id)
        .where(Nurse.organization_id == organization_id, Nurse.active.is_(True),
               User.active.is_(True))
        .order_by(Nurse.id)).all()
    # Shifts as dispatch reads them: back-to-back shifts merged, night shifts
    # running into or out of the day count.
    on_shift = stretches(session, [row.id for row in rows], day, config)
    rows = [row for row in rows if row.id in on_shift]
    load = _loads(session, [row.id for row in rows], day)
    fresh = timedelta(minutes=config.dispatch_ping_max_age_minutes)
    out = []
    for row in rows:
        ping = fresh_ping(row.last_lat, row.last_lng, row.last_ping_at, now, fresh)
        position = (None if ping is None
                    else {"lat": ping.lat, "lng": ping.lng, "at": row.last_ping_at})
        out.append({"nurse_id": row.id, "name": row.name, "position": position,
                    "load": load.get(row.id, 0),
                    "max_visits_per_day": row.max_visits_per_day})
    return out


def _loads(session: Session, nurse_ids: list[int], day: date) -> dict[int, int]:
    # By booked date, as her daily cap counts (nurseday.model.day_load).
    if not nurse_ids:
        return {}
    rows = session.execute(
        sa.select(Order.nurse_id, sa.func.count())
        .where(Order.nurse_id.in_(nurse_ids), Order.service_date == day,
               Order.status.in_(sorted(DAY_LOAD)))
        .group_by(Order.nurse_id))
    return {nurse_id: count for nurse_id, count in rows}


def _alerts(session: Session, organization_id: int) -> dict[str, Any]:
    counts = dict.fromkeys(ALERT_KINDS, 0)
    counts.update(open_alert_counts(session=session, organization_id=organization_id))
    urgent = session.execute(
        sa.select(Alert.id, Alert.kind, Alert.severity, Alert.order_id, Alert.nurse_id,
                  Alert.raised_at)
        .where(Alert.organization_id == organization_id, Alert.status != "resolved",
               sa.or_(Alert.kind.in_(URGENT_KINDS), Alert.severity.in_(URGENT_SEVERITIES)))
        .order_by(Alert.raised_at.desc(), Alert.id.desc()))
    return {"open": counts, "critical": [row._asdict() for row in urgent]}

"""What many test modules share: the API base, the service area's time zone and local
times, waiting for a condition, and tearing down a committed test city."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from homecare.accounts.models import Organization, User
from homecare.alerts.models import Alert
from homecare.audit.models import AuditEntry
from homecare.catalogue.models import ServiceItem
from homecare.db import db
from homecare.dispatch.models import Offer
from homecare.geo import Point
from homecare.notifications.models import Notification
from homecare.nurses.models import Nurse, Shift
from homecare.orders.models import IdempotencyKey, Order, OrderEvent
from homecare.patients.models import Address, Assessment, CareRecipient
from homecare.scheduling.models import DayPlan

API = "/api/v1"
SHANGHAI = ZoneInfo("Asia/Shanghai")
# The instant every test runs at unless it pins its own (root conftest, ``fixed_clock``):
# 10:00 on a Tuesday in the service area, inside service hours and far from midnight,
# so no test depends on the time of day it runs.
NOW = datetime(2026, 3, 10, 10, 0, tzinfo=SHANGHAI).astimezone(UTC)
# A guard against a hung test, never an assertion about speed.
GUARD_SECONDS = 30


def local_time(day: date, hour: int, minute: int = 0) -> datetime:
    """A wall-clock time of ``day`` in the service area (Asia/Shanghai)."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI)


def address_of(session, order) -> Point:
    """Where the order's address is (WGS-84)."""
    address = session.get(Address, order.address_id)
    return Point(address.lat, address.lng)


def north_of(point: Point, metres: float) -> Point:
    # One degree of latitude is ~111 km everywhere: close enough for a test offset.
    return Point(point.lat + metres / 111_000, point.lng)


def eventually(check: Callable[[], Any], guard: float = GUARD_SECONDS,
               poll: float = 0.2) -> Any:
    """``check()``'s first truthy answer within ``guard`` seconds, else its last answer."""
    deadline = time.monotonic() + guard
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(poll)
    return check()


def clean_up_city(org_id: int, item_code: str, *, user_ids: Iterable[int] = (),
                  recipient_ids: Iterable[int] = ()) -> None:
    """Delete what a concurrency test committed for an organization: its orders and all
    that hangs off them, its recipients (``recipient_ids`` and those it booked for),
    nurses, staff, the accounts in ``user_ids``, the service item and the organization."""
    s = db.session
    s.rollback()
    # The audit trail is append-only (migration 0002); as the migration says, a
    # superuser purges it with replication role, which skips that trigger.
    s.execute(sa.text("SET LOCAL session_replication_role = replica"))
    orders = sa.select(Order.id).where(Order.organization_id == org_id)
    nurses = sa.select(Nurse.id).where(Nurse.organization_id == org_id)
    staff = sa.select(User.id).where(User.organization_id == org_id)
    owner_ids = {*s.scalars(sa.select(Order.booked_by).where(Order.organization_id == org_id)),
                 *user_ids}
    recipients = {*s.scalars(sa.select(Order.patient_id).where(Order.organization_id == org_id)),
                  *recipient_ids}
    s.execute(sa.delete(DayPlan).where(DayPlan.organization_id == org_id))
    s.execute(sa.delete(Alert).where(sa.or_(Alert.organization_id == org_id,
                                            Alert.order_id.in_(orders))))
    s.execute(sa.delete(Offer).where(Offer.order_id.in_(orders)))
    s.execute(sa.delete(Notification).where(sa.or_(
        Notification.order_id.in_(orders), Notification.user_id.in_(staff),
        Notification.user_id.in_(owner_ids))))
    s.execute(sa.delete(OrderEvent).where(OrderEvent.order_id.in_(orders)))
    s.execute(sa.delete(AuditEntry).where(AuditEntry.organization_id == org_id))
    s.execute(sa.delete(Order).where(Order.organization_id == org_id))
    s.execute(sa.delete(IdempotencyKey).where(IdempotencyKey.user_id.in_(owner_ids)))
    s.execute(sa.delete(Assessment).where(Assessment.patient_id.in_(recipients)))
    s.execute(sa.delete(Address).where(Address.patient_id.in_(recipients)))
    s.execute(sa.delete(CareRecipient).where(CareRecipient.id.in_(recipients)))
    s.execute(sa.delete(Shift).where(Shift.nurse_id.in_(nurses)))
    # Their spatial index rows go with them (ON DELETE CASCADE).
    s.execute(sa.delete(Nurse).where(Nurse.organization_id == org_id))
    s.execute(sa.delete(User).where(sa.or_(User.organization_id == org_id,
                                           User.id.in_(owner_ids))))
    s.execute(sa.delete(ServiceItem).where(ServiceItem.code == item_code))
    s.execute(sa.delete(Organization).where(Organization.id == org_id))
    s.commit()


@contextmanager
def local_server(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """An HTTP server on a free loopback port, answering with ``handler`` in a thread of
    its own while the block runs; yields its base URL (``http://127.0.0.1:port``)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()

"""A homecare site for the production tests and bench/load.py: a PostgreSQL schema of
its own holding the demo city, and an HTTP client that retries like a phone app."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from cryptography.fernet import Fernet

SECRET_KEY = "topology-secret-key-that-is-long-enough-for-hs256"
DATA_KEY = Fernet.generate_key().decode()
# Fast sweeps and takeovers, so a test sees them within seconds.
FAST_JOBS = {
    "HOMECARE_SCHEDULER_HEARTBEAT_SECONDS": "1",
    "HOMECARE_SCHEDULER_STANDBY_POLL_SECONDS": "1",
    "HOMECARE_SCHEDULER_STALE_SECONDS": "5",
    "HOMECARE_OFFER_SWEEP_SECONDS": "1",
    "HOMECARE_RELAY_SECONDS": "1",
    # Many clients log in from 127.0.0.1.
    "HOMECARE_LOGIN_MAX_ATTEMPTS_PER_IP": "100000",
    "HOMECARE_LOGIN_MAX_ATTEMPTS_PER_PHONE": "100000",
    "HOMECARE_PING_MIN_INTERVAL_SECONDS": "0",
}


def schema_url(base: str, schema: str) -> str:
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options={quote(f'-csearch_path={schema}')}"


def create_schema(base_url: str) -> tuple[str, str]:
    """A new schema on ``base_url``'s database: (its name, a URL that uses it)."""
    schema = f"site_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    return schema, schema_url(base_url, schema)


def drop_schema(base_url: str, schema: str) -> None:
    admin = sa.create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


def load_site(url: str, instance: str) -> dict[str, Any]:
    """Migrate and load the demo city; returns the demo's summary."""
    from homecare import create_app
    from homecare.db import db
    from homecare.demo import load_demo
    from homecare.migrations import upgrade

    upgrade(url)
    app = create_app({"database_url": url, "secret_key": SECRET_KEY, "data_key": DATA_KEY,
                      "instance_path": instance, "log_level": "WARNING"})
    with app.app_context():
        summary = load_demo(session=db.session, config=app.config["HOMECARE"])
    app.extensions["homecare.db"]["engine"].dispose()
    return summary


@dataclass(frozen=True)
class Family:
    phone: str
    patient_id: int
    address_id: int


def bookable_families(url: str, limit: int) -> list[Family]:
    """Demo families whose recipient is assessed: their bookings go straight to dispatch."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT DISTINCT ON (u.id) u.phone, r.id, a.id FROM users u "
            "JOIN patients r ON r.owner_id = u.id "
            "JOIN addresses a ON a.patient_id = r.id "
            "JOIN patient_assessments pa ON pa.patient_id = r.id "
            "WHERE u.role = 'patient' AND NOT a.outside_service_area "
            "ORDER BY u.id, r.id, a.id LIMIT :limit"), {"limit": limit}).all()
    engine.dispose()
    return [Family(*row) for row in rows]


def tomorrow_window(timezone: str = "Asia/Shanghai", hour: int = 9,
                    now: datetime | None = None) -> tuple[str, str]:
    """A two-hour window tomorrow (local), inside service hours whatever the time now."""
    zone = ZoneInfo(timezone)
    day = ((now or datetime.now(zone)).astimezone(zone) + timedelta(days=1)).date()
    start = datetime(day.year, day.month, day.day, hour, tzinfo=zone)
    return start.isoformat(), (start + timedelta(hours=2)).isoformat()


class Client:
    """JSON over HTTP with a bearer token."""

    def __init__(self, base: str, token: str | None = None) -> None:
        self.base, self.token = base, token

    def call(self, method: str, path: str, body: Any = None,
             headers: dict[str, str] | None = None, timeout: float = 10.0
             ) -> tuple[int | None, dict[str, str], Any]:
        """(status, headers, JSON body); status None when the connection failed."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        for key, value in (headers or {}).items():
            request.add_header(key, value)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, dict(response.headers), _json(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), _json(exc.read())
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            return None, {}, None

    def login(self, phone: str, password: str) -> Client:
        status, _, body = self.call("POST", "/api/v1/auth/login",
                                    {"phone": phone, "password": password})
        assert status == 200, (status, body)
        return Client(self.base, body["access_token"])

    def book(self, family: Family, window: tuple[str, str], key: str, *,
             deadline_s: float = 90.0) -> tuple[int, int]:
        """Book with ``key``, retrying with the same key like an app would, until the
        service acknowledges (201, or the replayed 201). Returns (order id, attempts)."""
        body = {"patient_id": family.patient_id, "address_id": family.address_id,
                "service_code": "BASIC_VITALS", "window_start": window[0],
                "window_end": window[1]}
        give_up = time.monotonic() + deadline_s
        attempts = 0
        while True:
            attempts += 1
            status, _, answer = self.call("POST", "/api/v1/orders", body,
                                          {"Idempotency-Key": key})
            if status == 201:
                return answer["id"], attempts
            if status is not None and status < 500 and status != 409:
                raise AssertionError(f"booking refused: {status} {answer}")
            if time.monotonic() > give_up:
                raise AssertionError(f"booking {key} not acknowledged: {status} {answer}")
            time.sleep(0.2)


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw.decode(errors="replace")

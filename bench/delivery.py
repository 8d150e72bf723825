"""What delivery beyond the log costs: the ping path of a nurse on her way (the ETA it
now stores), the webhook relay against a local receiver, and a patient's stream poll.

    python bench/delivery.py [--pings 300] [--messages 300] [--database-url URL]

In-process through the Flask test client (no server for the API; the webhook goes to
a real HTTP receiver on 127.0.0.1), on a fresh SQLite file or, given a PostgreSQL URL,
a schema of its own dropped afterwards. The clock is pinned and stepped. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from cryptography.fernet import Fernet  # noqa: E402

from homecare import clock, create_app  # noqa: E402
from homecare.accounts.models import User  # noqa: E402
from homecare.auth import Actor  # noqa: E402
from homecare.config import WebhookTarget  # noqa: E402
from homecare.db import db  # noqa: E402
from homecare.events import service as events  # noqa: E402
from homecare.migrations import upgrade  # noqa: E402
from homecare.notifications.delivery import WebhookSender  # noqa: E402
from homecare.notifications.service import relay_pending  # noqa: E402
from homecare.nurses.models import LocationPing  # noqa: E402
from homecare.patients.models import Address, CareRecipient  # noqa: E402
from tests.factories import (  # noqa: E402
    NotificationFactory,
    NurseFactory,
    OrganizationFactory,
    ShiftFactory,
    auth,
    booked_order,
)

START = datetime(2030, 5, 7, 1, 0, tzinfo=UTC)  # 09:00 in Jining


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pings", type=int, default=300)
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url, drop = _database(args.database_url, tmp)
        try:
            upgrade(url)
            app = create_app({"database_url": url, "secret_key": "b" * 48,
                              "data_key": Fernet.generate_key().decode(),
                              "instance_path": tmp, "log_level": "ERROR",
                              "ping_min_interval_seconds": 0,
                              "access_token_minutes": 24 * 60})
            with app.app_context():
                result = {"database": "postgresql" if args.database_url else "sqlite",
                          **_pings(app, args.pings), **_relay(args.messages)}
            app.extensions["homecare.db"]["engine"].dispose()
        finally:
            drop()
    print(json.dumps(result, indent=2))


def _database(base: str, tmp: str):
    if not base:
        return f"sqlite:///{tmp}/delivery.db", lambda: None
    schema = f"bench_delivery_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options={quote(f'-csearch_path={schema}')}", drop


def _pings(app, pings: int) -> dict:
    """A nurse on shift pings, then the same nurse on her way to a visit 6 km off,
    closing in 20 m a ping (a fix every few seconds at city speed)."""
    org = OrganizationFactory()
    nurse = NurseFactory(organization_id=org.id)
    ShiftFactory(nurse_id=nurse.id, start=START - timedelta(hours=1),
                 end=START + timedelta(hours=12))
    order = booked_order(org, status="assigned", nurse_id=nurse.id,
                         planned_arrival=START + timedelta(hours=1),
                         window_start=START + timedelta(minutes=30))
    owner = db.session.get(User, db.session.get(CareRecipient, order.patient_id).owner_id)
    door = db.session.get(Address, order.address_id)
    with clock.pinned(START):
        headers = auth(db.session.get(User, nurse.user_id))
    db.session.commit()
    client = app.test_client()
    now = [START]

    def ping(metres: float) -> float:
        now[0] += timedelta(seconds=3)
        body = {"lat": door.lat + metres / 111_000, "lng": door.lng, "accuracy_m": 10}
        began = time.perf_counter()
        with clock.pinned(now[0]):
            r = client.post("/api/v1/nurses/me/location", json=body, headers=headers)
        assert r.status_code == 201, r.get_json()
        return (time.perf_counter() - began) * 1000

    engine = app.extensions["homecare.db"]["engine"]
    counted: list[int] = [0]

    def count(*_args) -> None:
        counted[0] += 1

    def statements_of(metres: float) -> int:
        counted[0] = 0
        sa.event.listen(engine, "before_cursor_execute", count)
        ping(metres)
        sa.event.remove(engine, "before_cursor_execute", count)
        return counted[0]

    for _ in range(20):
        ping(6000)  # warm up
    shift_statements = statements_of(6000)
    on_shift = [ping(6000) for _ in range(pings)]
    with clock.pinned(now[0]):
        r = client.post(f"/api/v1/orders/{order.id}/depart", headers=headers)
    assert r.status_code == 200, r.get_json()
    route_statements = statements_of(6000)
    en_route = [ping(6000 - 20 * step) for step in range(pings)]
    etas = db.session.scalar(sa.select(sa.func.count()).select_from(LocationPing).where(
        LocationPing.order_id == order.id, LocationPing.eta_min.is_not(None)))
    db.session.commit()

    actor = Actor(user_id=owner.id, role="patient", organization_id=None)

    def poll(cursor: dict[str, int]) -> tuple[float, list]:
        began = time.perf_counter()
        with db.session.begin():
            sent = events.events_after(db.session, actor, cursor)
        return (time.perf_counter() - began) * 1000, sent

    polls = [poll({"n": 0, "t": 0})[0] for _ in range(50)]
    notes_only = [poll({"n": 0})[0] for _ in range(50)]
    caught_up = [poll({"n": 10**9, "t": 10**9})[0] for _ in range(50)]
    sent = poll({"n": 0, "t": 0})[1]
    return {
        "ping_statements_on_shift": shift_statements,
        "ping_statements_en_route": route_statements,
        "ping_ms_on_shift_p50": round(statistics.median(on_shift), 2),
        "ping_ms_en_route_p50": round(statistics.median(en_route), 2),
        "pings_en_route": pings + 1,
        "eta_events_stored": etas,
        "eta_events_on_replay": sum(1 for e in sent if e.name == "eta"),
        "patient_poll_ms_p50_replaying_all": round(statistics.median(polls), 2),
        "patient_poll_ms_p50_notifications_only": round(statistics.median(notes_only), 2),
        "patient_poll_ms_p50_caught_up": round(statistics.median(caught_up), 2),
    }


class _Receiver(BaseHTTPRequestHandler):
    stall = threading.Event()
    stalling = False

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers["Content-Length"]))
        if _Receiver.stalling:
            _Receiver.stall.wait(10)
            return
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def _relay(messages: int) -> dict:
    """``messages`` for one organization's webhook relayed in batches of 100, then the
    same with the gateway not answering (timeout 1 s)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    target = WebhookTarget(f"http://127.0.0.1:{server.server_address[1]}/push",
                           "bench-secret-0123456789")
    try:
        org = OrganizationFactory()
        order = booked_order(org)
        user_id = db.session.scalar(sa.select(CareRecipient.owner_id)
                                    .where(CareRecipient.id == order.patient_id))
        for _ in range(messages):
            NotificationFactory(user_id=user_id, order_id=order.id, created_at=START,
                                payload={"order_id": order.id, "status": "assigned"})
        db.session.commit()
        sent, began = 0, time.perf_counter()
        while True:
            sender = WebhookSender(targets={str(org.id): target}, timeout=5)
            batch = relay_pending(session=db.session, sender=[sender], now=START)
            if not batch:
                break
            sent += batch
        rate = sent / (time.perf_counter() - began)

        for _ in range(100):
            NotificationFactory(user_id=user_id, order_id=order.id, created_at=START)
        db.session.commit()
        _Receiver.stalling = True
        began = time.perf_counter()
        down = relay_pending(session=db.session, now=START, sender=[
            WebhookSender(targets={str(org.id): target}, timeout=1)])
        dead_run_s = time.perf_counter() - began
        _Receiver.stall.set()
    finally:
        server.shutdown()
        server.server_close()
    return {"webhook_messages": sent, "webhook_messages_per_s": round(rate, 1),
            "dead_gateway_batch_of_100_sent": down,
            "dead_gateway_batch_of_100_s": round(dead_run_s, 2)}


if __name__ == "__main__":
    main()

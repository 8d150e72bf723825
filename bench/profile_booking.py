"""Profile the booking path in-process (cProfile or pyinstrument), and count its SQL statements.

    python bench/profile_booking.py [--bookings 200] [--database-url URL] [--pyinstrument]

A schema of its own on PostgreSQL gets the demo city with its nurses on shift; the
families whose recipient is assessed book through the Flask test client, each booking
with its own Idempotency-Key, so every one is approved at once and offered to nurses
(the dispatch round runs in the request, as under load). No server, no network: the
framework, the services and the database round trips only. Prints the statements of
one booking, the CPU per booking, and the profile (cProfile's top functions by
cumulative CPU time, or pyinstrument's wall-clock tree).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from pyinstrument import Profiler  # noqa: E402

from bench.load import DEFAULT_URL, demo_app  # noqa: E402
from homecare.demo import PASSWORD  # noqa: E402
from tests.production import site  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bookings", type=int, default=200)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--pyinstrument", action="store_true",
                        help="pyinstrument's tree instead of cProfile's table")
    args = parser.parse_args()
    with demo_app(args.database_url) as (app, url):
        profile(app, url, args.bookings, args.pyinstrument)


def profile(app, url: str, bookings: int, use_pyinstrument: bool) -> None:
    client = app.test_client()
    families = []
    for family in site.bookable_families(url, 10):
        token = client.post("/api/v1/auth/login", json={"phone": family.phone,
                                                        "password": PASSWORD}).get_json()
        families.append(({"Authorization": f"Bearer {token['access_token']}"},
                         {"patient_id": family.patient_id, "address_id": family.address_id,
                          "service_code": "BASIC_VITALS"}))
    window_start, window_end = site.tomorrow_window()
    statuses: Counter[str] = Counter()
    count = 0

    def book() -> None:
        nonlocal count
        headers, body = families[count % len(families)]
        count += 1
        response = client.post("/api/v1/orders", headers={
            **headers, "Idempotency-Key": f"profile-{uuid.uuid4().hex}"},
            json={**body, "window_start": window_start, "window_end": window_end})
        assert response.status_code == 201, response.get_json()
        statuses[response.get_json()["status"]] += 1

    for _ in range(20):  # warm: statements compiled, pool filled
        book()
    engine = app.extensions["homecare.db"]["engine"]
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:
        statements.append(" ".join(statement.split())[:110])

    sa.event.listen(engine, "before_cursor_execute", seen)
    book()
    sa.event.remove(engine, "before_cursor_execute", seen)
    print(f"{len(statements)} SQL statements in one booking:")
    for statement in statements:
        print("  ", statement)
    statuses.clear()
    cpu = time.process_time()
    for _ in range(bookings):
        book()
    cpu = time.process_time() - cpu
    print(f"{bookings} bookings ({dict(statuses)}): {cpu / bookings * 1000:.2f} ms CPU each "
          "(no profiler)")
    statuses.clear()
    profiler = (Profiler(interval=0.0005) if use_pyinstrument
                else cProfile.Profile(time.process_time))
    cpu, wall = time.process_time(), time.perf_counter()
    profiler.enable() if not use_pyinstrument else profiler.start()
    for _ in range(bookings):
        book()
    profiler.disable() if not use_pyinstrument else profiler.stop()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"{bookings} bookings ({dict(statuses)}): {cpu / bookings * 1000:.2f} ms CPU and "
          f"{wall / bookings * 1000:.2f} ms wall each (with the profiler on)")
    if use_pyinstrument:
        print(profiler.output_text(unicode=False, color=False))
    else:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).sort_stats("cumulative")
        stats.print_stats(r"homecare/", 60)
        print(out.getvalue())


if __name__ == "__main__":
    main()

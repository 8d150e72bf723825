"""Profile the location-ping path in-process (pyinstrument), and count its SQL statements.

    python bench/profile_ping.py [--pings 500] [--database-url URL] [--cprofile]

A schema of its own on PostgreSQL gets the demo city with its nurses on shift; one
nurse pings through the Flask test client (no server, no network: the framework, the
service and the database round trips only). Prints the statements of one ping, the
CPU per ping, and pyinstrument's wall-clock tree (or with ``--cprofile`` cProfile's top
functions by cumulative CPU time: the database's waits left out).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from pyinstrument import Profiler  # noqa: E402

from bench.load import DEFAULT_URL, demo_app  # noqa: E402
from homecare.demo import NURSE_PHONES, PASSWORD  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pings", type=int, default=500)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--cprofile", action="store_true",
                        help="cProfile's CPU-time table instead of pyinstrument's tree")
    args = parser.parse_args()
    with demo_app(args.database_url, ping_min_interval_seconds=0) as (app, _url):
        profile(app, args.pings, args.cprofile)


def profile(app, pings: int, use_cprofile: bool) -> None:
    client = app.test_client()
    token = client.post("/api/v1/auth/login", json={"phone": NURSE_PHONES[0],
                                                    "password": PASSWORD}).get_json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    body = {"lat": 35.41, "lng": 116.58, "coord_system": "wgs84", "accuracy_m": 8}

    def ping() -> None:
        response = client.post("/api/v1/nurses/me/location", json=body, headers=headers)
        assert response.status_code == 201, response.get_json()

    for _ in range(50):  # warm: statements compiled, pool filled
        ping()
    engine = app.extensions["homecare.db"]["engine"]
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:
        statements.append(" ".join(statement.split())[:110])

    sa.event.listen(engine, "before_cursor_execute", seen)
    ping()
    sa.event.remove(engine, "before_cursor_execute", seen)
    print(f"{len(statements)} SQL statements per ping:")
    for statement in statements:
        print("  ", statement)
    cpu = time.process_time()
    for _ in range(pings):
        ping()
    cpu = time.process_time() - cpu
    print(f"{pings} pings: {cpu / pings * 1000:.2f} ms CPU each (no profiler)")
    profiler = cProfile.Profile(time.process_time) if use_cprofile else Profiler(
        interval=0.0005)
    cpu, wall = time.process_time(), time.perf_counter()
    profiler.enable() if use_cprofile else profiler.start()
    for _ in range(pings):
        ping()
    profiler.disable() if use_cprofile else profiler.stop()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"{pings} pings: {cpu / pings * 1000:.2f} ms CPU and {wall / pings * 1000:.2f} ms "
          "wall each (with the profiler on)")
    if use_cprofile:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(45)
        print(out.getvalue())
    else:
        print(profiler.output_text(unicode=False, color=False))


if __name__ == "__main__":
    main()

"""Load benchmark: the production server (gunicorn + PostgreSQL on loopback) under a
city's traffic, against a bare Flask + SQLAlchemy baseline served the same way.

    python bench/load.py            # full: 60 s baseline, 60 s pings alone, 180 s mixed
    python bench/load.py --short    # CI: 15 s, 15 s, 40 s (under 2 minutes in all)

A schema of its own on PostgreSQL (``--database-url``, default the test database)
gets the migrations and the demo city (40 nurses, put on shift now so their pings
count); ``homecare serve --production`` and ``gunicorn -c python:homecare.serving
bench.baseline_app:app`` run side by side with the same settings. locust (headless,
FastHttpUser, a subprocess on the same machine) then runs three phases:

* ``baseline``: 16 users inserting one row as fast as they can;
* ``ping alone``: 16 nurses pinging as fast as they can (the ping path's ceiling);
* ``mixed``: 30 nurses pinging at 10/s each (300/s), 10 families booking at 5/s
  each (50/s, every booking with its own Idempotency-Key), 4 nurses reading and
  accepting their offers, 2 supervisors reading the dispatch board.

One JSON object goes to stdout: per kind and phase the requests/s, p50/p95/p99 ms
and errors; ``server_errors`` (5xx and dropped connections, all phases);
``ping_to_baseline_ratio``; ``bookings_exactly_once`` (every acknowledged booking
is one order, the one its key's stored response names, and no other order was
made); and whether each target holds. The load generator shares the machine's
cores with the servers, like the wrk measurement the issue quotes: compare the
ratios measured in one run rather than absolute numbers across machines.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from homecare.demo import NURSE_PHONES, PASSWORD, SUPERVISOR_PHONE  # noqa: E402
from tests.production import site  # noqa: E402
from tests.production.servers import Process, app_env, free_port, wait_for  # noqa: E402

DEFAULT_URL = os.environ.get("HOMECARE_BENCH_DATABASE_URL",
                             "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TARGETS = {"ping_to_baseline_ratio_min": 0.5, "mixed_pings_per_s_min": 300,
           "mixed_bookings_per_s_min": 50, "mixed_p99_ms_max": 250, "server_errors_max": 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--short", action="store_true", help="CI mode, under 2 minutes")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--workers", type=int, default=0,
                        help="gunicorn workers (0: homecare/serving.py's default)")
    args = parser.parse_args()
    durations = (15, 15, 40) if args.short else (60, 60, 180)
    with tempfile.TemporaryDirectory(prefix="homecare-load-") as tmp:
        result = run(Path(tmp), args.database_url, durations, args.workers)
    result["mode"] = "short" if args.short else "full"
    print(json.dumps(result, indent=2))


def run(tmp: Path, base_url: str, durations: tuple[int, int, int], workers: int) -> dict:
    from bench.baseline_app import create_table

    schema, url = site.create_schema(base_url)
    processes: list[Process] = []
    try:
        site.load_site(url, str(tmp))
        create_table(url)
        _put_nurses_on_shift(url)
        env = app_env(url, site.SECRET_KEY, site.DATA_KEY, tmp, **site.FAST_JOBS)
        env["PYTHONPATH"] = str(ROOT)
        if workers:
            env["HOMECARE_WEB_WORKERS"] = str(workers)
        api_port, baseline_port = free_port(), free_port()
        processes.append(Process("api", [sys.executable, "-m", "homecare.cli", "serve",
                                         "--production"],
                                 dict(env, HOMECARE_WEB_BIND=f"127.0.0.1:{api_port}"), tmp))
        processes.append(Process("baseline", [sys.executable, "-m", "gunicorn", "-c",
                                              "python:homecare.serving",
                                              "bench.baseline_app:app"],
                                 dict(env, HOMECARE_WEB_BIND=f"127.0.0.1:{baseline_port}"),
                                 tmp))
        api, baseline = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{baseline_port}"
        wait_for(api + "/health", 60)
        wait_for(baseline + "/baseline", 60, status=405)
        plan = _plan(tmp, api, url)
        with sa.create_engine(url).connect() as conn:
            started = conn.scalar(sa.text("SELECT now()"))

        phases = {
            "baseline": _locust(tmp, plan, baseline, "baseline", durations[0],
                                ["BaselineUser"], 16, ping_users=0),
            "ping_alone": _locust(tmp, plan, api, "ping", durations[1], ["PingUser"], 16,
                                  ping_users=16),
            "mixed": _locust(tmp, plan, api, "mixed", durations[2],
                             ["PingUser", "BookingUser", "AcceptUser", "BoardUser"], None),
        }
        errors = (tmp / "errors.txt").read_text().splitlines()
        exactly_once = _bookings_exactly_once(url, tmp / "acks.txt", started)
    finally:
        for process in processes:
            process.stop()
        site.drop_schema(base_url, schema)

    mixed = phases["mixed"]
    ratio = (phases["ping_alone"]["ping"]["rps"] / phases["baseline"]["baseline"]["rps"]
             if phases["baseline"]["baseline"]["rps"] else 0.0)
    mixed_p99 = max((kind["p99_ms"] for kind in mixed.values()), default=0)
    result = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version()},
        "durations_s": dict(zip(("baseline", "ping_alone", "mixed"), durations, strict=True)),
        "phases": phases,
        "server_errors": len(errors),
        "ping_to_baseline_ratio": round(ratio, 3),
        "bookings_exactly_once": exactly_once["ok"],
        "bookings": exactly_once,
        "targets": TARGETS,
    }
    result["targets_met"] = {
        "ping_to_baseline_ratio": ratio >= TARGETS["ping_to_baseline_ratio_min"],
        "mixed_pings_per_s": mixed.get("ping", {}).get("rps", 0)
        >= TARGETS["mixed_pings_per_s_min"] * 0.95,
        "mixed_bookings_per_s": mixed.get("booking", {}).get("rps", 0)
        >= TARGETS["mixed_bookings_per_s_min"] * 0.95,
        "mixed_p99_ms": mixed_p99 < TARGETS["mixed_p99_ms_max"],
        "zero_server_errors": not errors,
    }
    return result


@contextmanager
def demo_app(database_url: str, **overrides) -> Iterator[tuple[object, str]]:
    """The demo city in a schema of its own, nurses on shift, and an app on it (the
    in-process profiles); yields (app, schema url) and drops the schema afterwards."""
    from homecare import create_app

    schema, url = site.create_schema(database_url)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            site.load_site(url, tmp)
            _put_nurses_on_shift(url)
            app = create_app({"database_url": url, "secret_key": site.SECRET_KEY,
                              "data_key": site.DATA_KEY, "instance_path": tmp,
                              "log_level": "WARNING", **overrides})
            try:
                yield app, url
            finally:
                app.extensions["homecare.db"]["engine"].dispose()
    finally:
        site.drop_schema(database_url, schema)


def _put_nurses_on_shift(url: str) -> None:
    """Every demo nurse on shift from now for four hours (pings are kept only on shift)."""
    now = datetime.now(UTC)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(
            'INSERT INTO shifts (nurse_id, start, "end") SELECT n.id, :start, :end FROM nurses n '
            "WHERE NOT EXISTS (SELECT 1 FROM shifts s WHERE s.nurse_id = n.id "
            'AND s.start <= :now AND s."end" > :now)'),
            {"start": now - timedelta(minutes=5), "end": now + timedelta(hours=4), "now": now})
    engine.dispose()


def _plan(tmp: Path, api: str, url: str) -> dict:
    edge = site.Client(api)
    families = site.bookable_families(url, 20)
    return {
        "nurse_tokens": [edge.login(phone, PASSWORD).token for phone in NURSE_PHONES],
        "supervisor_token": edge.login(SUPERVISOR_PHONE, PASSWORD).token,
        "families": [{"token": edge.login(f.phone, PASSWORD).token,
                      "patient_id": f.patient_id, "address_id": f.address_id}
                     for f in families],
        "window": site.tomorrow_window(),
        "acks_file": str(tmp / "acks.txt"), "errors_file": str(tmp / "errors.txt"),
        "ping_users": 30, "ping_rate_per_user": 10.0,
        "booking_users": 10, "booking_rate_per_user": 5.0,
        "accept_users": 4, "accept_rate_per_user": 2.0,
        "board_users": 2, "board_rate_per_user": 1.0,
    }


def _locust(tmp: Path, plan: dict, host: str, phase: str, seconds: int, classes: list[str],
            users: int | None, **overrides) -> dict:
    plan = {**plan, **overrides, "phase": phase}
    if phase != "mixed":
        plan.update(booking_users=0, accept_users=0, board_users=0)
    plan_path = tmp / f"plan-{phase}.json"
    plan_path.write_text(json.dumps(plan))
    users = users or sum(plan[k] for k in ("ping_users", "booking_users", "accept_users",
                                           "board_users"))
    command = [sys.executable, "-m", "locust", "-f", str(ROOT / "bench" / "locustfile.py"),
               "--headless", "-u", str(users), "-r", str(users), "-t", f"{seconds}s",
               "--host", host, "--only-summary", "--json", "--skip-log", "--stop-timeout", "5",
               *classes]
    began = time.monotonic()
    done = subprocess.run(command, env=dict(os.environ, BENCH_PLAN=str(plan_path)),
                          capture_output=True, text=True, timeout=seconds + 120)
    elapsed = time.monotonic() - began
    try:
        stats = json.loads(done.stdout)
    except ValueError:
        raise SystemExit(f"locust failed ({done.returncode}): {done.stderr[-2000:]}") from None
    return {entry["name"]: _summary(entry, min(seconds, elapsed)) for entry in stats}


def _summary(entry: dict, seconds: float) -> dict:
    times = sorted((float(ms), count) for ms, count in entry["response_times"].items())
    total = sum(count for _, count in times)

    def percentile(q: float) -> float:
        seen = 0
        for ms, count in times:
            seen += count
            if seen >= q * total:
                return ms
        return times[-1][0] if times else 0.0

    return {"requests": entry["num_requests"], "failures": entry["num_failures"],
            "rps": round(entry["num_requests"] / seconds, 1),
            "p50_ms": percentile(0.50), "p95_ms": percentile(0.95), "p99_ms": percentile(0.99)}


def _bookings_exactly_once(url: str, acks_path: Path, started: datetime) -> dict:
    acks = dict(line.split() for line in acks_path.read_text().splitlines()) \
        if acks_path.exists() else {}
    acked = {key: int(order_id) for key, order_id in acks.items()}
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        stored = {key: int(order_id) for key, order_id in conn.execute(sa.text(
            "SELECT key, response_body->>'id' FROM idempotency_keys WHERE key LIKE 'bench-%' "
            "AND status_code = 201"))}
        made = list(conn.execute(sa.text(
            "SELECT id FROM orders WHERE created_at >= :started"), {"started": started}
        ).scalars())
    engine.dispose()
    ids = list(acked.values())
    ok = (bool(acked) and len(set(ids)) == len(ids) and sorted(made) == sorted(ids)
          and all(stored.get(key) == order_id for key, order_id in acked.items()))
    return {"ok": ok, "acknowledged": len(acked), "orders_made": len(made)}


if __name__ == "__main__":
    main()

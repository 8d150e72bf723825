"""Load benchmark: the production server (gunicorn + PostgreSQL on loopback) under a
city's traffic, against a bare Flask + SQLAlchemy baseline served the same way.

    python bench/load.py            # full: 45 s baseline, 45 s pings alone, 30 s floor, 180 s mixed
    python bench/load.py --short    # CI: 15 s, 15 s, 10 s, 40 s (under 2 minutes in all)

A schema of its own on PostgreSQL (``--database-url``, default the test database)
gets the migrations and the demo city (40 nurses, put on shift now so their pings
count); ``homecare serve --production`` and ``gunicorn -c python:homecare.serving
bench.baseline_app:app`` run side by side with the same settings. locust (headless,
FastHttpUser, a subprocess on the same machine) then runs four phases:

* ``baseline``: 16 users inserting one row as fast as they can;
* ``ping alone``: 16 nurses pinging as fast as they can (the ping path's ceiling);
* ``floor``: the mixed phase's pings and bookings (30 users at 10/s, 10 at 5/s) sent
  to the baseline server, each as many one-row inserts as homecare's runs SQL
  statements (``baseline_app.PING_STATEMENTS``, ``BOOKING_STATEMENTS``), committed
  as homecare commits them, with no domain work at all: what the server, the driver
  and the database alone allow under the mixed target's traffic on this machine, the
  floor that homecare's code stands on;
* ``mixed``: 30 nurses pinging at 10/s each (300/s), 10 families booking at 5/s
  each (50/s, every booking with its own Idempotency-Key), 4 nurses reading and
  accepting their offers, 2 supervisors reading the dispatch board.

One JSON object goes to stdout: per kind and phase the requests/s, p50/p95/p99 ms
and errors; ``server_errors`` (5xx and dropped connections, all phases);
``ping_to_baseline_ratio``; ``bookings_exactly_once`` (every acknowledged booking
is one order, the one its key's stored response names, and no other order was
made); and whether each target holds. ``cpu``: per phase, its wall time and the CPU
seconds the API, the baseline server, PostgreSQL and locust each used; ``cores``: the
same over the wall time; ``cores_at_mixed_target``: from the CPU seconds per request,
what each side would need at the mixed target's rates. The load generator shares
the machine's cores with the servers, like the wrk measurement the issue quotes:
compare the ratios measured in one run rather than absolute numbers across machines.
``floor`` says whether the bare endpoints meet the mixed targets on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402 - locust's own dependency
import sqlalchemy as sa  # noqa: E402

from bench.baseline_app import BOOKING_STATEMENTS, PING_STATEMENTS, create_table  # noqa: E402
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
    durations = (15, 15, 10, 40) if args.short else (45, 45, 30, 180)
    with tempfile.TemporaryDirectory(prefix="homecare-load-") as tmp:
        result = run(Path(tmp), args.database_url, durations, args.workers)
    result["mode"] = "short" if args.short else "full"
    print(json.dumps(result, indent=2))


def run(tmp: Path, base_url: str, durations: tuple[int, int, int, int], workers: int) -> dict:
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

        servers = {"api": processes[0].pid, "baseline": processes[1].pid}
        measured = {
            "baseline": _locust(tmp, plan, baseline, "baseline", durations[0],
                                ["BaselineUser"], 16, servers, ping_users=0),
            "ping_alone": _locust(tmp, plan, api, "ping", durations[1], ["PingUser"], 16,
                                  servers, ping_users=16),
            "floor": _locust(tmp, plan, baseline, "floor", durations[2],
                             ["ShapedPingUser", "ShapedBookingUser"], None, servers),
            "mixed": _locust(tmp, plan, api, "mixed", durations[3],
                             ["PingUser", "BookingUser", "AcceptUser", "BoardUser"], None,
                             servers),
        }
        phases = {name: kinds for name, (kinds, _) in measured.items()}
        cpu = {name: used for name, (_, used) in measured.items()}
        errors = (tmp / "errors.txt").read_text().splitlines()
        exactly_once = _bookings_exactly_once(url, tmp / "acks.txt", started)
    finally:
        for process in processes:
            process.stop()
        site.drop_schema(base_url, schema)

    mixed = phases["mixed"]
    ratio = (phases["ping_alone"]["ping"]["rps"] / phases["baseline"]["baseline"]["rps"]
             if phases["baseline"]["baseline"]["rps"] else 0.0)
    floor = phases["floor"]
    result = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version()},
        "durations_s": dict(zip(("baseline", "ping_alone", "floor", "mixed"), durations,
                                strict=True)),
        "phases": phases,
        "server_errors": len(errors),
        "ping_to_baseline_ratio": round(ratio, 3),
        "bookings_exactly_once": exactly_once["ok"],
        "bookings": exactly_once,
        "targets": TARGETS,
        "cores": {name: {side: (round(seconds / used["wall_s"], 2)
                                if seconds is not None else None)
                                for side, seconds in used["cpu_s"].items()}
                  for name, used in cpu.items()},
        "cpu": cpu,
        "cores_at_mixed_target": _cores_at_target(phases, cpu),
        "floor": {"pings_per_s": floor.get("ping", {}).get("rps", 0),
                  "bookings_per_s": floor.get("booking", {}).get("rps", 0),
                  "p99_ms": _p99(floor),
                  "meets_mixed_targets": all(_mixed_targets(floor).values())},
    }
    result["targets_met"] = {
        "ping_to_baseline_ratio": ratio >= TARGETS["ping_to_baseline_ratio_min"],
        **_mixed_targets(mixed),
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
        "ping_statements": PING_STATEMENTS, "booking_statements": BOOKING_STATEMENTS,
    }


def _p99(phase: dict) -> float:
    """The phase's worst p99 over its kinds of request."""
    return max((kind["p99_ms"] for kind in phase.values()), default=0)


def _mixed_targets(phase: dict) -> dict[str, bool]:
    """Whether a phase of the mixed traffic (homecare's, or the floor's) held 300 pings/s
    and 50 bookings/s (locust's pacing lands within 5 %) with every kind's p99 under
    250 ms."""
    return {
        "mixed_pings_per_s": phase.get("ping", {}).get("rps", 0)
        >= TARGETS["mixed_pings_per_s_min"] * 0.95,
        "mixed_bookings_per_s": phase.get("booking", {}).get("rps", 0)
        >= TARGETS["mixed_bookings_per_s_min"] * 0.95,
        "mixed_p99_ms": _p99(phase) < TARGETS["mixed_p99_ms_max"],
    }


def _locust(tmp: Path, plan: dict, host: str, phase: str, seconds: int, classes: list[str],
            users: int | None, servers: dict[str, int], **overrides) -> tuple[dict, dict]:
    """One phase: per kind its requests/s and latencies; the CPU seconds each side used
    over the phase's wall time (locust's start and stop included)."""
    plan = {**plan, **overrides, "phase": phase}
    if phase not in ("mixed", "floor"):
        plan.update(booking_users=0)
    if phase != "mixed":
        plan.update(accept_users=0, board_users=0)
    plan_path = tmp / f"plan-{phase}.json"
    plan_path.write_text(json.dumps(plan))
    users = users or sum(plan[k] for k in ("ping_users", "booking_users", "accept_users",
                                           "board_users"))
    command = [sys.executable, "-m", "locust", "-f", str(ROOT / "bench" / "locustfile.py"),
               "--headless", "-u", str(users), "-r", str(users), "-t", f"{seconds}s",
               "--host", host, "--only-summary", "--json", "--skip-log", "--stop-timeout", "5",
               *classes]
    cpu_before, began = _cpu_seconds(servers), time.monotonic()
    done = subprocess.run(command, env=dict(os.environ, BENCH_PLAN=str(plan_path)),
                          capture_output=True, text=True, timeout=seconds + 120)
    elapsed = time.monotonic() - began
    cpu_after = _cpu_seconds(servers)
    try:
        stats = json.loads(done.stdout)
    except ValueError:
        raise SystemExit(f"locust failed ({done.returncode}): {done.stderr[-2000:]}") from None
    used = {side: (round(cpu_after[side] - cpu_before[side], 2)
                   if cpu_after[side] is not None else None) for side in cpu_after}
    return ({entry["name"]: _summary(entry, min(seconds, elapsed)) for entry in stats},
            {"wall_s": round(elapsed, 1), "cpu_s": used})


def _cpu_seconds(servers: dict[str, int]) -> dict[str, float | None]:
    """CPU seconds used so far by each server's process tree (its workers, live and
    replaced), by PostgreSQL's processes (other users of the database count too; None
    when it runs out of sight, in another container or host) and by the load generator
    (this process's ended children: the locust runs)."""
    def tree(pid: int) -> float:
        root = psutil.Process(pid)
        times = root.cpu_times()
        total = times.children_user + times.children_system
        for process in [root, *root.children(recursive=True)]:
            with suppress(psutil.Error):
                times = process.cpu_times()
                total += times.user + times.system
        return total

    postgres = None
    for process in psutil.process_iter(["name"]):
        if process.info["name"] not in ("postgres", "postmaster"):
            continue
        with suppress(psutil.Error):
            times, parent = process.cpu_times(), process.parent()
            postgres = (postgres or 0.0) + times.user + times.system
            if parent is None or parent.name() not in ("postgres", "postmaster"):
                # The postmaster: its ended children are the backends that exited.
                postgres += times.children_user + times.children_system
    locust = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {**{side: tree(pid) for side, pid in servers.items()}, "postgres": postgres,
            "locust": locust.ru_utime + locust.ru_stime}


def _cores_at_target(phases: dict, cpu: dict) -> dict:
    """The cores each side would use at the mixed target's rates, from this run's CPU
    seconds per request: a ping costs in the mixed phase what it cost alone; the rest
    of the mixed phase (the bookings, and the offer lists, accepts and board reads
    beside them) is charged to the bookings. Processes are measured, not requests, so
    the accepts and board reads, whose rates the target does not raise, are scaled
    with the bookings: by their share, the estimate is high."""
    alone = phases["ping_alone"].get("ping", {}).get("requests", 0)
    pings = phases["mixed"].get("ping", {}).get("requests", 0)
    bookings = phases["mixed"].get("booking", {}).get("requests", 0)
    if not alone or not bookings:
        return {}
    estimate = {}
    for side in ("api", "postgres", "locust"):
        alone_s, mixed_s = cpu["ping_alone"]["cpu_s"][side], cpu["mixed"]["cpu_s"][side]
        if alone_s is None or mixed_s is None:
            estimate[side] = None
            continue
        per_ping = alone_s / alone
        # Below zero only if pings cost less paced than flat out: then nothing is left.
        per_booking = max(mixed_s - pings * per_ping, 0.0) / bookings
        estimate[side] = round(TARGETS["mixed_pings_per_s_min"] * per_ping
                               + TARGETS["mixed_bookings_per_s_min"] * per_booking, 2)
    estimate["total"] = round(sum(v for v in estimate.values() if v is not None), 2)
    estimate["machine"] = os.cpu_count()
    return estimate


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

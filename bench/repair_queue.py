"""What the repair queue costs and what its debounce saves, in-process with a controlled clock.

    python bench/repair_queue.py [--changes 200] [--database-url URL]

On a fresh SQLite file (or a PostgreSQL schema of its own with --database-url), one
organization with a planned day: ``changes`` changes arrive 1 s apart (a busy
morning), each asking for a repair as the state machine's hook does, and the jobs
process's turn runs every 3 s with a repair that does nothing (the repair's own time
is ``bench/live_day.py``'s). Prints JSON: the time a change's transaction spends writing
its request before committing (``request_ms``: a new pending row or a merge), the job's
turn with its commits (``claim_ms``: finding, claiming and closing due repairs), and how
many repairs the changes made (``repairs``; every reason kept, ``reasons_kept``)
against one per change without the debounce.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from homecare import create_app  # noqa: E402
from homecare.accounts.models import Organization  # noqa: E402
from homecare.db import db  # noqa: E402
from homecare.migrations import upgrade  # noqa: E402
from homecare.scheduling import repair_queue  # noqa: E402
from homecare.scheduling.models import DayPlan, DayRepair  # noqa: E402

# 09:00 in Shanghai on a day of its own.
START = datetime(2030, 6, 3, 1, 0, tzinfo=UTC)


def _pct(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"p50": round(statistics.median(ordered), 3),
            "p95": round(ordered[max(0, int(len(ordered) * 0.95) - 1)], 3), "n": len(ordered)}


def run(url: str, changes: int) -> dict:
    upgrade(url)
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"database_url": url, "secret_key": "bench-" * 8,
                          "instance_path": tmp, "log_level": "WARNING"})
        config = app.config["HOMECARE"]
        with app.app_context():
            session = db.session
            org = Organization(name="bench", center_lat=35.415, center_lng=116.587,
                               radius_km=30)
            session.add(org)
            session.flush()
            day = START.date()
            session.add(DayPlan(organization_id=org.id, day=day, seed=1, stats={},
                                result={}, created_at=START))
            session.commit()
            request_ms, claim_ms = [], []
            now = START
            for n in range(changes):
                now = START + timedelta(seconds=n)
                repair_queue.request_repair(session, organization_id=org.id, day=day,
                                            now=now, config=config,
                                            reason={"kind": "order_added", "order_id": n})
                began = time.perf_counter()
                # What a change's commit adds: writing its request (the commit's own
                # fsync it pays anyway).
                repair_queue.write_requests(session)
                request_ms.append((time.perf_counter() - began) * 1000)
                session.commit()
                if n % 3 == 2:  # the job's turn
                    began = time.perf_counter()
                    repair_queue.run_due_repairs(session=session, now=now, config=config,
                                                 repair=lambda **_: None)
                    claim_ms.append((time.perf_counter() - began) * 1000)
            repair_queue.run_due_repairs(session=session, now=now + timedelta(minutes=1),
                                         config=config, repair=lambda **_: None)
            repairs = session.scalar(sa.select(sa.func.count()).select_from(DayRepair)
                                     .where(DayRepair.state == "done"))
            reasons = sum(len(r) for r in session.scalars(sa.select(DayRepair.reasons)))
        app.extensions["homecare.db"]["engine"].dispose()
    return {"database": url.split(":")[0], "changes": changes, "change_every_s": 1,
            "job_every_s": 3, "debounce_s": config.repair_debounce_seconds,
            "max_delay_s": config.repair_max_delay_seconds,
            "request_ms": _pct(request_ms), "claim_ms": _pct(claim_ms),
            "repairs": repairs, "reasons_kept": reasons,
            "repairs_without_debounce": changes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    if args.database_url:
        schema = f"bench_rq_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(args.database_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in args.database_url else "?"
        try:
            print(json.dumps(run(f"{args.database_url}{sep}options=-csearch_path%3D{schema}",
                                 args.changes), indent=2))
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
        return
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(run(f"sqlite:///{tmp}/bench.db", args.changes), indent=2))


if __name__ == "__main__":
    main()

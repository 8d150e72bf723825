"""Database outage drill: a throwaway PostgreSQL cluster is stopped for 20 s under load.

Every request in the gap is a 503 problem+json (no 500, no traceback, no HTML), the
service answers 2xx again within 10 s of the database returning, the jobs process
survives and its next sweep succeeds, and nothing acknowledged is lost.
"""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from homecare.demo import NURSE_PHONES, PASSWORD
from tests.production import site
from tests.production.cluster import BIN, Cluster
from tests.production.servers import app_env, free_port, start_api, start_jobs, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.wall_clock,
              pytest.mark.skipif(BIN is None, reason="no PostgreSQL server binaries")]

GAP_S = 20
RECOVER_S = 10


@pytest.fixture
def drill(tmp_path):
    cluster = Cluster()
    processes = []
    try:
        cluster.start()
        url = cluster.url
        site.load_site(url, str(tmp_path))
        env = app_env(url, site.SECRET_KEY, site.DATA_KEY, tmp_path, **site.FAST_JOBS)
        port = free_port()
        api = start_api("api", env, tmp_path, port)
        jobs = start_jobs("jobs", env, tmp_path)
        processes += [api, jobs]
        base = f"http://127.0.0.1:{port}"
        wait_for(base + "/ready", 60, status=200)
        yield {"cluster": cluster, "base": base, "url": url, "api": api, "jobs": jobs}
    finally:
        for process in processes:
            process.stop()
        cluster.destroy()


def test_a_20_second_database_outage_under_load(drill):
    base, cluster = drill["base"], drill["cluster"]
    edge = site.Client(base)
    families = site.bookable_families(drill["url"], 3)
    patients = {f.phone: edge.login(f.phone, PASSWORD) for f in families}
    nurse = edge.login(NURSE_PHONES[0], PASSWORD)
    window = site.tomorrow_window()

    answers: list[tuple[float, str, int | None, str, object]] = []
    acknowledged: dict[str, int] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def note(kind: str, status, headers, body) -> None:
        with lock:
            answers.append((time.monotonic(), kind, status,
                            headers.get("Content-Type", ""), body))

    def read_loop(kind: str, client: site.Client, method: str, path: str) -> None:
        while not stop.is_set():
            status, headers, body = client.call(method, path)
            note(kind, status, headers, body)
            time.sleep(0.05)

    def book_loop(family: site.Family) -> None:
        client = patients[family.phone]
        while not stop.is_set():
            key = f"drill-{uuid.uuid4().hex}"
            body = {"patient_id": family.patient_id, "address_id": family.address_id,
                    "service_code": "BASIC_VITALS", "window_start": window[0],
                    "window_end": window[1]}
            while not stop.is_set():  # the same key until acknowledged, like an app
                status, headers, answer = client.call("POST", "/api/v1/orders", body,
                                                      {"Idempotency-Key": key})
                note("booking", status, headers, answer)
                if status == 201:
                    with lock:
                        acknowledged[key] = answer["id"]
                    break
                time.sleep(0.2)

    def fresh_booking_loop(family: site.Family) -> None:
        # A new key for every attempt: a key whose booking was cut by the outage is
        # held by its lease (60 s) and answers 409 until then, by design.
        client = patients[family.phone]
        while not stop.is_set():
            body = {"patient_id": family.patient_id, "address_id": family.address_id,
                    "service_code": "BASIC_VITALS", "window_start": window[0],
                    "window_end": window[1]}
            status, headers, answer = client.call("POST", "/api/v1/orders", body)
            note("fresh booking", status, headers, answer)
            time.sleep(0.2)

    with ThreadPoolExecutor(4 + len(families)) as pool:
        futures = [pool.submit(read_loop, "offers", nurse, "GET", "/api/v1/offers"),
                   pool.submit(read_loop, "me", nurse, "GET", "/api/v1/me"),
                   pool.submit(read_loop, "ready", edge, "GET", "/ready")]
        futures += [pool.submit(book_loop, f) for f in families]
        futures.append(pool.submit(fresh_booking_loop, families[0]))
        time.sleep(3)
        with lock:
            before_stop = dict(acknowledged)
        cluster.stop()
        down_at = time.monotonic()
        time.sleep(GAP_S)
        up_begin = time.monotonic()
        cluster.start()
        up_at = time.monotonic()
        time.sleep(RECOVER_S + 2)
        stop.set()
        for future in futures:
            future.result(timeout=60)

    assert before_stop, "nothing was booked before the outage"
    # No 500 and no HTML, ever; never a dropped connection (gunicorn stayed up).
    assert [a for a in answers if a[2] is None or a[2] == 500 or a[2] > 503] == []
    gap = [a for a in answers if down_at <= a[0] <= up_begin]
    assert len(gap) > 20
    for _, kind, status, content_type, body in gap:
        assert status == 503, (kind, status, body)
        if kind == "ready":
            assert body["database"] == "unreachable"
        else:
            assert content_type == "application/problem+json", (kind, content_type)
            assert body["code"] == "database_unavailable" and "Traceback" not in str(body)
    # Back within 10 s of the database: every kind of request has a 2xx by then.
    for kind in ("offers", "me", "fresh booking"):
        after = [(round(a[0] - up_at, 1), a[2], isinstance(a[4], dict) and a[4].get("code"))
                 for a in answers if a[1] == kind and a[0] >= up_at]
        first_ok = next((t for t, status, _ in after if status is not None and status < 300),
                        None)
        assert first_ok is not None and first_ok <= RECOVER_S, (kind, after[:30])
    # Retried keys: acknowledged, or held by the lease of a booking the outage cut.
    late = [a for a in answers if a[1] == "booking" and a[0] >= up_at + RECOVER_S]
    assert all(a[2] == 201 or (a[2] == 409 and a[4]["code"] == "idempotency_conflict")
               for a in late), late[:10]

    engine = sa.create_engine(drill["url"])
    try:
        with engine.connect() as conn:
            # Nothing acknowledged is lost, and nothing is there twice.
            ids = list(acknowledged.values())
            found = conn.execute(sa.text("SELECT id FROM orders WHERE id = ANY(:ids)"),
                                 {"ids": ids}).scalars().all()
            assert sorted(found) == sorted(ids)
            stored = dict(conn.execute(sa.text(
                "SELECT key, (response_body->>'id')::int FROM idempotency_keys "
                "WHERE key LIKE 'drill-%' AND status_code = 201")).all())
            assert {k: stored.get(k) for k in acknowledged} == acknowledged
            restarted = conn.scalar(sa.text("SELECT pg_postmaster_start_time()"))
        # The jobs process survived and sweeps again on the restarted database.
        assert drill["jobs"].popen.poll() is None
        deadline = time.monotonic() + 15
        swept = None
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                swept = conn.scalar(sa.text(
                    "SELECT last_success_at FROM job_runs WHERE job_id = 'expire_offers'"))
            if swept is not None and swept > restarted:
                break
            time.sleep(0.5)
        assert swept is not None and swept > restarted, (swept, restarted)
    finally:
        engine.dispose()
    assert drill["api"].popen.poll() is None
    assert "Traceback" not in drill["api"].log() or "database unavailable" in drill["api"].log()

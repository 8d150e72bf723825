"""The users of bench/load.py (run by it: locust -f bench/locustfile.py --headless ...).

BENCH_PLAN names a JSON file written by load.py: tokens, families, the booking window,
the rates, and the files where acknowledged bookings and server errors are written.
Every request is named by its kind (ping, booking, offers, accept, board, baseline).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import uuid

from locust import constant, constant_throughput, task
from locust.contrib.fasthttp import FastHttpUser

PLAN = json.loads(open(os.environ["BENCH_PLAN"]).read())
_acks = open(PLAN["acks_file"], "a", buffering=1)
_errors = open(PLAN["errors_file"], "a", buffering=1)
_nurses = itertools.cycle(PLAN["nurse_tokens"])
_families = itertools.cycle(PLAN["families"])
# Paced phases: the mixed traffic of the targets, and the same traffic against the
# bare baseline endpoints (the floor). The others run each user flat out.
PACED = PLAN["phase"] in ("mixed", "floor")


def _wait(rate_key: str):
    return constant_throughput(PLAN[rate_key]) if PACED else constant(0)


def _check(response, ok: tuple[int, ...]) -> None:
    status = response.status_code
    if status in ok:
        response.success()
    elif status == 0 or status >= 500:
        _errors.write(f"{response.request_meta['name']} {status}\n")
        response.failure(f"server error {status}")
    else:
        response.failure(f"unexpected {status}: {response.text[:200]}")


class _Authed(FastHttpUser):
    abstract = True
    token: str = ""

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class BaselineUser(FastHttpUser):
    wait_time = constant(0)

    @task
    def insert(self) -> None:
        with self.client.post("/baseline", json={"lat": 35.41, "lng": 116.58}, name="baseline",
                              catch_response=True) as r:
            _check(r, (201,))


class _Shaped(FastHttpUser):
    """The floor: the bare endpoint with a ping's or a booking's statements."""

    abstract = True
    name = ""
    body: dict = {}

    @task
    def insert(self) -> None:
        with self.client.post("/baseline/shaped", json={"lat": 35.41, "lng": 116.58,
                                                        **self.body},
                              name=self.name, catch_response=True) as r:
            _check(r, (201,))


class ShapedPingUser(_Shaped):
    wait_time = _wait("ping_rate_per_user")
    fixed_count = PLAN["ping_users"]
    name, body = "ping", {"statements": PLAN["ping_statements"]}


class ShapedBookingUser(_Shaped):
    wait_time = _wait("booking_rate_per_user")
    fixed_count = PLAN["booking_users"]
    name, body = "booking", {"statements": PLAN["booking_statements"], "claim": True}


class PingUser(_Authed):
    wait_time = _wait("ping_rate_per_user")
    fixed_count = PLAN["ping_users"]

    def on_start(self) -> None:
        self.token = next(_nurses)

    @task
    def ping(self) -> None:
        body = {"lat": 35.41 + random.uniform(-0.01, 0.01),
                "lng": 116.58 + random.uniform(-0.01, 0.01),
                "coord_system": "wgs84", "accuracy_m": 8}
        with self.client.post("/api/v1/nurses/me/location", json=body, headers=self.headers(),
                              name="ping", catch_response=True) as r:
            _check(r, (201,))


class BookingUser(_Authed):
    wait_time = _wait("booking_rate_per_user")
    fixed_count = PLAN["booking_users"]

    def on_start(self) -> None:
        self.family = next(_families)
        self.token = self.family["token"]

    @task
    def book(self) -> None:
        key = f"bench-{uuid.uuid4().hex}"
        body = {"patient_id": self.family["patient_id"],
                "address_id": self.family["address_id"], "service_code": "BASIC_VITALS",
                "window_start": PLAN["window"][0], "window_end": PLAN["window"][1]}
        headers = {**self.headers(), "Idempotency-Key": key}
        with self.client.post("/api/v1/orders", json=body, headers=headers, name="booking",
                              catch_response=True) as r:
            _check(r, (201,))
            if r.status_code == 201:
                _acks.write(f"{key} {r.json()['id']}\n")


class AcceptUser(_Authed):
    wait_time = _wait("accept_rate_per_user")
    fixed_count = PLAN["accept_users"]

    def on_start(self) -> None:
        self.token = next(_nurses)

    @task
    def accept(self) -> None:
        with self.client.get("/api/v1/offers", headers=self.headers(), name="offers",
                             catch_response=True) as r:
            _check(r, (200,))
            offers = r.json() if r.status_code == 200 else []
        if isinstance(offers, dict):
            offers = offers.get("items", [])
        if offers:
            with self.client.post(f"/api/v1/offers/{offers[0]['id']}/accept",
                                  headers=self.headers(), name="accept",
                                  catch_response=True) as r:
                # Another nurse was faster, or the visit no longer fits her day.
                _check(r, (200, 409, 422))


class BoardUser(_Authed):
    wait_time = _wait("board_rate_per_user")
    fixed_count = PLAN["board_users"]

    def on_start(self) -> None:
        self.token = PLAN["supervisor_token"]

    @task
    def board(self) -> None:
        with self.client.get("/api/v1/dispatch/board", headers=self.headers(), name="board",
                             catch_response=True) as r:
            _check(r, (200,))

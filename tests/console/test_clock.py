"""The app's clock (create_app(clock=...)): what the server calls now, tokens included."""

from __future__ import annotations

from datetime import datetime, timedelta

from conftest import assert_problem
from tests.console.conftest import PINNED, SUPERVISOR

API = "/api/v1"


def _token(client) -> str:
    r = client.post(f"{API}/auth/login", json=dict(zip(("phone", "password"), SUPERVISOR,
                                                       strict=True)))
    assert r.status_code == 200, r.get_json()
    return r.get_json()["access_token"]


def test_the_board_answers_at_the_pinned_instant(live_app):
    client = live_app.test_client()
    r = client.get(f"{API}/dispatch/board",
                   headers={"Authorization": f"Bearer {_token(client)}"})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert datetime.fromisoformat(body["now"]) == PINNED
    assert body["date"] == PINNED.date().isoformat()


def test_an_access_token_expires_by_the_apps_clock(live_app):
    clock = live_app.config["TEST_CLOCK"]
    client = live_app.test_client()
    headers = {"Authorization": f"Bearer {_token(client)}"}
    lifetime = timedelta(minutes=live_app.config["HOMECARE"].access_token_minutes)
    try:
        clock.now = PINNED + lifetime - timedelta(seconds=1)
        assert client.get(f"{API}/me", headers=headers).status_code == 200
        clock.now = PINNED + lifetime
        assert_problem(client.get(f"{API}/me", headers=headers), 401, "token_invalid")
    finally:
        clock.now = PINNED

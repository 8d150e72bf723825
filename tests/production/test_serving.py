"""The production server: gunicorn with homecare/serving.py's settings, started as the
deploy configs start it, answering protocol errors as problem+json and logging JSON."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from homecare.migrations import upgrade
from tests.production.servers import free_port, wait_for


@pytest.fixture(scope="module")
def server(tmp_path_factory, app_overrides):
    tmp_path = tmp_path_factory.mktemp("serve")
    port = free_port()
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    upgrade(url)
    env = dict(os.environ, HOMECARE_DATABASE_URL=url, HOMECARE_WEB_BIND=f"127.0.0.1:{port}",
               HOMECARE_WEB_WORKERS="1", HOMECARE_WEB_THREADS="2",
               HOMECARE_SECRET_KEY=app_overrides["secret_key"],
               HOMECARE_DATA_KEY=app_overrides["data_key"],
               HOMECARE_INSTANCE_PATH=str(tmp_path))
    log = (tmp_path / "server.log").open("w+")
    proc = subprocess.Popen([sys.executable, "-m", "homecare.cli", "serve", "--production"],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(f"http://127.0.0.1:{port}/health")
        yield port, tmp_path / "server.log"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def _raw(port: int, request: bytes) -> tuple[str, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(request)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    return status, headers, body


def test_an_oversized_header_is_a_problem_json_431(server):
    port, _log = server
    status, headers, body = _raw(port, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: "
                                 + b"a" * 9000 + b"\r\n\r\n")
    assert status.startswith("HTTP/1.1 431")
    assert headers["content-type"] == "application/problem+json"
    problem = json.loads(body)
    assert problem["status"] == 431 and problem["code"] == "request_header_fields_too_large"


def test_a_request_line_too_long_is_a_problem_json_414(server):
    port, _log = server
    status, headers, body = _raw(port, b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status.startswith("HTTP/1.1 414")
    assert headers["content-type"] == "application/problem+json"
    assert json.loads(body)["status"] == 414


def test_the_access_log_is_json_with_the_request_id_and_no_phone_number(server):
    port, log_path = server
    request = urllib.request.Request(f"http://127.0.0.1:{port}/no/13812345678?phone=13912345678",
                                     headers={"X-Request-ID": "trace-abc-123"})
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(request, timeout=10)
    assert answer.value.code == 404
    # The health checks that waited for the server logged lines of their own, and this
    # request's line may reach the file a moment after the answer: wait for it.
    deadline = time.monotonic() + 10
    lines = []
    while time.monotonic() < deadline:
        lines = [entry for entry in (json.loads(line) for line in
                                     log_path.read_text().splitlines()
                                     if line.startswith("{") and '"gunicorn.access"' in line)
                 if entry["path"] != "/health"]
        if lines:
            break
        time.sleep(0.1)
    assert lines, "no access-log line for the request"
    entry = lines[-1]
    assert entry["request_id"] == "trace-abc-123"
    assert entry["status"] == 404 and entry["method"] == "GET"
    assert "13812345678" not in log_path.read_text()
    assert "13912345678" not in log_path.read_text()


def test_each_request_is_logged_once_by_gunicorn_not_again_by_the_app(server):
    port, log_path = server
    request = urllib.request.Request(f"http://127.0.0.1:{port}/health",
                                     headers={"X-Request-ID": "once-only-4711"})
    assert urllib.request.urlopen(request, timeout=10).status == 200
    deadline = time.monotonic() + 10
    mine: list[dict] = []
    while time.monotonic() < deadline and not mine:
        mine = [entry for entry in (json.loads(line) for line in
                                    log_path.read_text().splitlines() if line.startswith("{"))
                if entry.get("request_id") == "once-only-4711"]
        time.sleep(0.1)
    assert [entry["logger"] for entry in mine] == ["gunicorn.access"]

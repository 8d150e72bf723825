"""One POST to another service: a redirect is refused, never followed as a GET."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from homecare import outbound


@pytest.fixture
def redirecting_server():
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            seen.append("POST")
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(302)
            self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self):  # noqa: N802
            seen.append("GET")
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", seen
    server.shutdown()
    server.server_close()


def test_a_redirect_is_refused_not_followed(redirecting_server):
    url, seen = redirecting_server
    with pytest.raises(outbound.PostRefused) as refused:
        outbound.post(outbound.opener(), url, b"x", {}, timeout=2.0, read_refusal=True)
    assert refused.value.status == 302 and refused.value.answer == b""
    assert seen == ["POST"]


def test_a_refused_connection_names_only_its_cause():
    with pytest.raises(outbound.PostUnreachable, match="^ConnectionRefusedError$"):
        outbound.post(outbound.opener(), "http://127.0.0.1:9/?token=secret", b"x", {},
                      timeout=1.0)

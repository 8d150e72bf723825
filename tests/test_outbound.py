"""One POST to another service: a redirect is refused, never followed as a GET."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler

import pytest

from homecare import outbound
from tests.helpers import local_server


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

    with local_server(Handler) as url:
        yield f"{url}/", seen


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

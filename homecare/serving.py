"""The production WSGI server: gunicorn's settings, JSON access log, problem+json errors.

gunicorn reads this module as its configuration (``homecare serve --production`` passes
``-c python:homecare.serving``; ``deploy/gunicorn.conf.py`` re-exports it for a plain
``gunicorn -c deploy/gunicorn.conf.py`` command). Its names are gunicorn settings.

Sizing: a worker is a process with ``threads`` threads (gthread). The work is mostly
waiting on PostgreSQL, so two processes per core, each with a few threads, keep the
cores busy without each worker's connection pool (5 + 10 overflow) outgrowing the
database's ``max_connections``.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from datetime import UTC, datetime

from gunicorn import glogging
from gunicorn import util as gunicorn_util

from homecare.config import load_config
from homecare.logging_setup import redact

_config = load_config()

# Each worker process counts its own requests; prometheus_client's multiprocess
# mode sums them on a scrape (whichever worker answers). It reads this variable
# when the app's metrics are created, which is after this module is loaded.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="homecare-metrics-")

wsgi_app = "homecare.wsgi:app"
bind = [_config.web_bind]
worker_class = "gthread"
workers = _config.web_workers or max(2, 2 * (os.cpu_count() or 1))
threads = _config.web_threads
# A request that has not finished in this time is a stuck worker: gunicorn kills
# and replaces it. Behind nginx (proxy_read_timeout 35 s) the client hears a 503.
timeout = _config.web_timeout_seconds
graceful_timeout = _config.web_timeout_seconds
keepalive = 5
# Build the app once in the master: a broken configuration stops the start at
# once, and workers fork from a loaded app (post_fork below drops its DB pool).
preload_app = True
# HTTP limits (gunicorn's own defaults, stated): a longer request line is a 414,
# more or larger header fields a 431 -- answered as problem+json, see write_problem.
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
# X-Forwarded-* headers are the app's to judge (HOMECARE_TRUSTED_PROXIES, one hop
# behind nginx): gunicorn keeps its default and trusts them from no other host.
accesslog = "-"
errorlog = "-"
# gunicorn 27's control socket has one default path per user: two servers on one
# host (the topology test, two replicas in a pod) would fight over it.
control_socket_disable = True
logger_class = "homecare.serving.JsonAccessLogger"
# The app's own line per request (homecare.request) would repeat the access line.
# Set here, in the master before the app is loaded: the workers inherit it.
logging.getLogger("homecare.request").setLevel(logging.WARNING)


def post_fork(server, worker) -> None:  # noqa: ARG001 - gunicorn's hook signature
    """A forked worker must not share the master's database connections: drop the
    pool it inherited (without closing the master's sockets) so it opens its own."""
    app = getattr(server.app, "callable", None)
    database = getattr(app, "extensions", {}).get("homecare.db")
    if database is not None:
        database["engine"].dispose(close=False)
    gunicorn_util.write_error = write_problem


def child_exit(server, worker) -> None:  # noqa: ARG001 - gunicorn's hook signature
    """A worker that ended (or was replaced) leaves the live gauges' sum."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


class JsonAccessLogger(glogging.Logger):
    """gunicorn's access log as one JSON object a line, like the app's own log.

    The query string is left out and the path is redacted: a phone number in a
    URL (a search, a mistyped path) must not reach the log. The request id is the
    one the app answered with (X-Request-ID), so a line joins the app's lines.
    """

    def access(self, resp, req, environ, request_time) -> None:
        if not self.access_log_enabled:
            return
        headers = dict((name.lower(), value) for name, value in (resp.headers or []))
        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        entry = {
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "level": "INFO",
            "logger": "gunicorn.access",
            "request_id": headers.get("x-request-id", "-"),
            "method": environ.get("REQUEST_METHOD"),
            "path": redact(environ.get("PATH_INFO") or ""),
            "status": int(status) if str(status).isdigit() else status,
            "bytes": getattr(resp, "sent", None),
            "duration_ms": round(request_time.total_seconds() * 1000, 1),
            "remote": environ.get("REMOTE_ADDR", "-"),
        }
        self.access_log.info(json.dumps(entry, ensure_ascii=False))


def write_problem(sock, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's answer to a request it could not parse (oversized header, bad
    request line, ...), as problem+json instead of its HTML page.

    gunicorn has no hook for this page: it calls ``gunicorn.util.write_error``, which
    ``post_fork`` replaces with this function. What gunicorn does not let us shape:
    a client that closes or stalls before sending a request line gets no answer at
    all, and a worker killed on ``timeout`` leaves the socket to nginx (502/504).
    """
    body = json.dumps({
        "type": "about:blank", "title": reason, "status": status_int,
        # gunicorn's message may quote the request; redacted like a log line.
        "detail": redact(mesg) or reason,
        "code": reason.lower().replace(" ", "_"),
    }).encode("utf-8")
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
            f"Content-Type: application/problem+json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1")
    gunicorn_util.write_nonblock(sock, head + body)

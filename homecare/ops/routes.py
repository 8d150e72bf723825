"""Operations endpoints: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

import os

import sqlalchemy as sa
from flask import Flask, Response, jsonify, request, send_from_directory
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

from homecare.api import current_config
from homecare.clock import utcnow
from homecare.db import db, reading
from homecare.ops.models import SchedulerHeartbeat

REQUESTS = Counter("homecare_http_requests_total", "HTTP requests by route and status",
                   ["method", "route", "status"])
LATENCY = Histogram("homecare_http_request_seconds", "HTTP request latency by route",
                    ["method", "route"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))


def observe_request(status: int, seconds: float) -> None:
    # The route template, not the path: ids in paths would explode the series.
    route = str(request.url_rule) if request.url_rule else "unmatched"
    REQUESTS.labels(request.method, route, str(status)).inc()
    LATENCY.labels(request.method, route).observe(seconds)


def health():
    """Liveness: the process answers."""
    return jsonify(status="ok")


def ready():
    """Readiness: 200 only when the database answers and the scheduler beats.

    API.md: "database and scheduler reachable". Without a recent heartbeat no
    offer expires, no alert is raised and no plan is made, so the service is not
    ready even though it answers. Every answer has the same body, so a probe or a
    person sees which part is missing.
    """
    config = current_config()
    body: dict = {"database": "ok", "scheduler": "unknown", "scheduler_heartbeat_age_s": None}
    try:
        with reading():
            beat = db.session.scalar(sa.select(SchedulerHeartbeat.beat_at)
                                     .order_by(SchedulerHeartbeat.beat_at.desc()).limit(1))
            db.session.rollback()
    except sa.exc.SQLAlchemyError:
        body["database"] = "unreachable"
    else:
        if beat is None:
            body["scheduler"] = "missing"
        else:
            age = (utcnow() - beat).total_seconds()
            body.update(scheduler="ok" if age <= config.scheduler_stale_seconds else "stale",
                        scheduler_heartbeat_age_s=round(age, 1))
    fine = body["database"] == "ok" and body["scheduler"] == "ok"
    body["status"] = "ok" if fine else "unavailable"
    return jsonify(body), 200 if fine else 503


def metrics():
    """Prometheus text exposition: this process's HTTP figures (every worker's, when
    gunicorn runs with PROMETHEUS_MULTIPROC_DIR), then the business and job figures
    from the database (homecare/ops/metrics.py), or ``homecare_database_up 0``."""
    from homecare.ops.metrics import business_exposition

    # CONTENT_TYPE_LATEST carries its charset: as the whole header, not a mimetype
    # (Flask would add a second charset to a mimetype).
    return Response(_http_exposition() + business_exposition(current_config()),
                    headers={"Content-Type": CONTENT_TYPE_LATEST})


def _http_exposition() -> bytes:
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return generate_latest()
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return generate_latest(registry)


def docs_asset(filename: str):
    """Swagger UI's scripts and styles for /docs, from the swagger-ui-bundle package
    (Apache-2.0, its licence ships in the package)."""
    from swagger_ui_bundle import swagger_ui_path

    return send_from_directory(str(swagger_ui_path), filename, max_age=86400)


def register_ops(app: Flask) -> None:
    app.add_url_rule("/docs/assets/<path:filename>", "docs_asset", docs_asset)
    app.add_url_rule("/health", "health", health)
    app.add_url_rule("/ready", "ready", ready)
    app.add_url_rule("/metrics", "metrics", metrics)

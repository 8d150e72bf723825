"""homecare: the dispatch backend for home nursing (互联网+护理服务 and 家庭病床)."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Flask, g, request
from flask.sessions import SecureCookieSessionInterface

from homecare.api import Api, BoundedIntConverter, TextConverter
from homecare.config import load_config
from homecare.db import db
from homecare.logging_setup import configure_logging
from homecare.strict_input import document_input

# One line per request. Under gunicorn its JSON access line (homecare/serving.py)
# says the same with the duration and the request id, so serving.py silences this
# logger there: on the busiest routes it was a noticeable part of the CPU.
request_log = logging.getLogger("homecare.request")

API_PREFIX = "/api/v1"


def _blueprints() -> tuple:
    # Imported here, not at module level: importing the package must not pull
    # in every route (the jobs process and the CLI import homecare too).
    from homecare.accounts.routes import blp as accounts
    from homecare.alerts.routes import blp as alerts
    from homecare.audit.routes import blp as audit
    from homecare.catalogue.routes import blp as catalogue
    from homecare.dispatch.routes import blp as dispatch
    from homecare.duty.routes import blp as duty
    from homecare.events.routes import blp as events
    from homecare.family_beds.routes import blp as family_beds
    from homecare.notifications.routes import blp as notifications
    from homecare.nurses.routes import blp as nurses
    from homecare.orders.routes import blp as orders
    from homecare.patients.routes import blp as patients
    from homecare.pricing.routes import blp as pricing

    # One blueprint per resource: the first part of a URL names the file
    # (/orders/... in orders/routes.py, /dispatch/... and /offers in dispatch/routes.py,
    # /audit in audit/routes.py, /duty-roster in duty/routes.py).
    return (accounts, patients, catalogue, nurses, orders, dispatch, alerts, notifications,
            audit, family_beds, pricing, events, duty)


def create_app(overrides: dict[str, Any] | None = None, *,
               clock: Callable[[], datetime] | None = None) -> Flask:
    """Build the application from the environment and ``overrides`` (tests).

    ``clock`` (tests) replaces the wall clock for everything the app does
    (``utcnow``): requests, token lifetimes, services.
    """
    app = Flask(__name__, instance_relative_config=False)
    config = load_config(overrides=overrides, default_instance_path=app.instance_path)
    configure_logging(config.log_level, config.log_format)
    app.config.update(
        HOMECARE=config,
        SECRET_KEY=config.secret_key,
        API_TITLE="homecare",
        API_VERSION="1.0.0",
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        # Served from the installed swagger-ui-bundle package (homecare/ops/routes.py):
        # a hospital intranet, and much of mainland China, cannot reach a public CDN.
        # No validator either: it would send the spec's address to validator.swagger.io.
        OPENAPI_SWAGGER_UI_URL="/docs/assets/",
        OPENAPI_SWAGGER_UI_CONFIG={"validatorUrl": None},
        JSON_SORT_KEYS=False,
        MAX_CONTENT_LENGTH=1 << 20,
        HOMECARE_CLOCK=clock,
    )
    app.json.ensure_ascii = False
    app.session_interface = _NoCookieSessions()
    app.url_map.converters["int"] = BoundedIntConverter
    app.url_map.converters["string"] = app.url_map.converters["default"] = TextConverter
    db.init_app(app)
    if config.trusted_proxies:
        # Behind that many reverse proxies the client is the address the last
        # trusted one saw: per-IP limits and the audit trail use it, not the proxy's.
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=config.trusted_proxies)  # type: ignore[method-assign]
    # One Api per app: its spec is built from this app's routes only.
    api = Api(app, spec_kwargs={"info": {"description": _API_DESCRIPTION}})
    app.extensions["homecare.api"] = api
    document_input(api)
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    for blueprint in _blueprints():
        api.register_blueprint(blueprint, url_prefix=API_PREFIX)

    from homecare import order_hooks
    from homecare.ops.routes import observe_request, register_ops

    order_hooks.register()
    register_ops(app)
    from homecare.console import register_console

    register_console(app)
    _install_request_hooks(app, observe_request)
    return app


class _NoCookieSessions(SecureCookieSessionInterface):
    """No Flask cookie session: the API authenticates by bearer token and nothing reads
    or writes ``flask.session`` (a write raises, as with no secret key). Opening the cookie
    session built a signing serializer on every request, a twentieth of a ping's CPU."""

    def open_session(self, app: Flask, request) -> None:
        return None  # Flask then uses a null session

    def save_session(self, app: Flask, session, response) -> None:
        return None


def _install_request_hooks(app: Flask, observe_request: Callable[[int, float], None]) -> None:
    @app.before_request
    def _start() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _acceptable_request_id(incoming) else uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def _finish(response):
        response.headers["X-Request-ID"] = g.get("request_id", "-")
        observe_request(response.status_code, time.perf_counter() - g.get("started",
                                                                          time.perf_counter()))
        if request_log.isEnabledFor(logging.INFO):
            request_log.info("%s %s %s", request.method, request.url_rule or request.path,
                             response.status_code)
        return response


# A client's X-Request-ID goes into every log line of the request (unredacted),
# so it must be an opaque token: nothing to forge log lines with, and no run of
# 11 digits, which could be a mobile number (or part of an identity number):
# personal data the logs never hold. A refused value is replaced, not an error.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")
_LOOKS_LIKE_PHONE = re.compile(r"\d{11}")


def _acceptable_request_id(value: str) -> bool:
    return (_REQUEST_ID.fullmatch(value) is not None
            and _LOOKS_LIKE_PHONE.search(value) is None)


_API_DESCRIPTION = (
    "Dispatch backend for home nursing in China: Internet+nursing orders (互联网+护理服务) "
    "and family beds (家庭病床). Errors are RFC 9457 application/problem+json with a "
    "stable `code`. Coordinates in: wgs84, gcj02 or bd09; out: WGS-84 plus a gcj02 copy."
)

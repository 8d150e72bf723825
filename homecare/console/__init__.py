"""The supervisor's dispatch console: static files served at /console.

A plain page (HTML, CSS, modern JavaScript; no build step, nothing fetched from
other hosts) built on the public JSON API only: whatever the console shows, any
other client can show too.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Flask, redirect, send_from_directory

STATIC = Path(__file__).parent / "static"

# Everything comes from this service: no CDN, font or tile host.
_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")

blp = Blueprint("console", __name__)


@blp.get("/console")
def index():
    return _send("index.html")


@blp.get("/console/")
def index_slash():
    return redirect("/console", code=308)


@blp.get("/console/<path:asset>")
def asset(asset: str):
    return _send(asset)


def _send(name: str):
    # send_from_directory refuses paths leaving the folder (a 404).
    response = send_from_directory(STATIC, name, max_age=0)
    response.headers["Content-Security-Policy"] = _CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def register_console(app: Flask) -> None:
    app.register_blueprint(blp)

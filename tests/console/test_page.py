"""The console's files: served at /console from the package, nothing from other hosts."""

from __future__ import annotations

import re

import pytest

from homecare.console import STATIC

FILES = ("index.html", "app.js", "app.css")


def test_console_page_is_served_with_a_same_origin_policy(client):
    r = client.get("/console")
    assert r.status_code == 200
    assert r.mimetype == "text/html"
    assert "Content-Security-Policy" in r.headers
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]
    body = r.get_data(as_text=True)
    assert '<script src="/console/app.js"' in body
    assert '<link rel="stylesheet" href="/console/app.css"' in body


@pytest.mark.parametrize(("name", "mimetype"), [("app.js", "text/javascript"),
                                                ("app.css", "text/css")])
def test_console_assets_are_served(client, name, mimetype):
    r = client.get(f"/console/{name}")
    assert r.status_code == 200
    assert r.mimetype == mimetype
    assert r.get_data() == (STATIC / name).read_bytes()


def test_trailing_slash_redirects_to_the_page(client):
    r = client.get("/console/")
    assert r.status_code == 308
    assert r.headers["Location"].endswith("/console")


@pytest.mark.parametrize("path", ["/console/missing.js", "/console/../pyproject.toml",
                                  "/console/%2e%2e/__init__.py", "/console/..%2f__init__.py"])
def test_unknown_or_escaping_asset_is_404(client, path):
    assert client.get(path).status_code == 404


@pytest.mark.parametrize("name", FILES)
def test_nothing_is_loaded_from_another_host(name):
    # No CDN, web font or map tiles: the SVG namespace is the only URL in the files.
    text = (STATIC / name).read_text(encoding="utf-8")
    urls = set(re.findall(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}[^\s\"'`)]*", text))
    assert urls <= {"http://www.w3.org/2000/svg"}, urls

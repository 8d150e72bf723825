"""/docs works offline: every script and style comes from this service."""

from __future__ import annotations

import re


def test_docs_page_references_no_external_host(client):
    page = client.get("/docs").get_data(as_text=True)
    urls = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert urls, "the page loads Swagger UI from somewhere"
    assert all(url.startswith("/") and not url.startswith("//") for url in urls), urls
    assert "http://" not in page and "https://" not in page
    assert '"validatorUrl": null' in page


def test_docs_assets_are_served_from_the_package(client):
    page = client.get("/docs").get_data(as_text=True)
    for url in re.findall(r'(?:src|href)="([^"]+)"', page):
        response = client.get(url)
        assert response.status_code == 200, url
        assert len(response.data) > 1000, url
        response.close()


def test_a_missing_asset_is_a_problem_json_404(client):
    response = client.get("/docs/assets/nope.js")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"

"""The ``homecare`` command: what serve and db upgrade leave in a fresh database."""

from __future__ import annotations

import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask

from homecare.catalogue.service import load_seed_items
from homecare.cli import main


def _fresh_environment(monkeypatch, tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    monkeypatch.setenv("HOMECARE_DATABASE_URL", url)
    monkeypatch.setenv("HOMECARE_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("HOMECARE_LOG_LEVEL", "WARNING")
    monkeypatch.delenv("HOMECARE_ENV", raising=False)
    return url


def _catalogue_codes(url: str) -> set[str]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        codes = set(conn.scalars(sa.text("SELECT code FROM service_items")))
    engine.dispose()
    return codes


def test_serve_on_a_fresh_database_seeds_the_catalogue(monkeypatch, tmp_path):
    # The README: "serve applies migrations first". Without the seed, a fresh
    # database served by it had no items, and every booking was 422 unknown service.
    url = _fresh_environment(monkeypatch, tmp_path)
    served = []
    monkeypatch.setattr(Flask, "run", lambda self, **kwargs: served.append(kwargs))
    result = CliRunner().invoke(main, ["serve", "--port", "8765"])
    assert result.exit_code == 0, result.output
    assert served and served[0]["port"] == 8765
    assert _catalogue_codes(url) == {item["code"] for item in load_seed_items()}


def test_db_upgrade_seeds_the_catalogue_once(monkeypatch, tmp_path):
    url = _fresh_environment(monkeypatch, tmp_path)
    first = CliRunner().invoke(main, ["db", "upgrade"])
    again = CliRunner().invoke(main, ["db", "upgrade"])
    assert first.exit_code == 0 and again.exit_code == 0, first.output + again.output
    assert f"catalogue: {len(load_seed_items())} seed items added" in first.output
    assert "catalogue: 0 seed items added" in again.output
    assert len(_catalogue_codes(url)) == len(load_seed_items())

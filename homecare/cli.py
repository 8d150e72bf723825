"""The ``homecare`` command: serve, jobs, db, create-admin, demo, openapi."""

from __future__ import annotations

import json
import re
import sys
import tempfile
from pathlib import Path

import click

from homecare import create_app


def _app():
    return create_app()


def _migrate(app, revision: str = "head") -> int | None:
    """Apply the migrations up to ``revision``; at head, add the missing catalogue seed
    items, and return how many. ``serve`` and ``db upgrade`` both come here, so a
    fresh database has its catalogue whichever of them ran first (``demo`` seeds
    through ``load_demo``, which reports the count).
    """
    from homecare.catalogue.service import seed_catalogue
    from homecare.clock import utcnow
    from homecare.db import db as database
    from homecare.migrations import upgrade

    upgrade(app.config["HOMECARE"].database_url, revision)
    if revision != "head":
        return None
    # Only missing codes are inserted: an admin's changes to an item survive upgrades.
    with app.app_context():
        return seed_catalogue(session=database.session, now=utcnow())


@click.group()
def main() -> None:
    """homecare: dispatch backend for home nursing. Reads HOMECARE_* variables."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--debug/--no-debug", default=False)
@click.option("--production", is_flag=True,
              help="Run gunicorn with homecare/serving.py's settings (HOMECARE_WEB_*); "
                   "--host/--port are ignored and migrations are not applied: they run "
                   "once per release (homecare db upgrade).")
def serve(host: str, port: int, debug: bool, production: bool) -> None:
    """Run the development server (applies migrations and seeds the catalogue first)."""
    if production:
        import os

        # gunicorn replaces this process: signals from a supervisor reach it directly.
        os.execv(sys.executable, [sys.executable, "-m", "gunicorn",
                                  "-c", "python:homecare.serving"])
    app = _app()
    _migrate(app)
    app.run(host=host, port=port, debug=debug, use_reloader=False, threaded=True)


@main.command()
def jobs() -> None:
    """Run the scheduler process (one active per database; others stand by)."""
    from jobs.__main__ import run

    run(_app())


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply the migrations up to REVISION, then add missing catalogue seed items."""
    added = _migrate(_app(), revision)
    click.echo("database is at " + revision)
    if added is not None:
        click.echo(f"catalogue: {added} seed items added")


@db.command("grant")
@click.option("--app-role", required=True, help="The role the API and jobs connect as.")
def db_grant(app_role: str) -> None:
    """Grant APP_ROLE row access to every table, audit trail append-only (PostgreSQL;
    run as the schema owner after db upgrade; see deploy/db-roles.sql)."""

    from homecare.db import make_engine
    from homecare.ops.roles import grant_app_role

    url = _app().config["HOMECARE"].database_url
    if not url.startswith("postgresql"):
        raise click.ClickException("db grant is for PostgreSQL")
    engine = make_engine(url)  # its options: hide_parameters keeps values out of errors
    with engine.begin() as conn:
        grant_app_role(conn, app_role)
    engine.dispose()
    click.echo(f"granted {app_role} row access; audit_entries append-only")


@db.command("revision")
@click.option("-m", "--message", required=True)
@click.option("--rev-id", default=None)
def db_revision(message: str, rev_id: str | None) -> None:
    """Autogenerate a migration from the models (developers)."""
    from alembic import command

    from homecare.migrations import alembic_config, upgrade

    # Compare against a scratch database at the current head, not a live one.
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'scratch.db'}"
        upgrade(url)
        command.revision(alembic_config(url), message=message, autogenerate=True,
                         rev_id=rev_id)


@main.command("create-admin")
@click.option("--phone", required=True)
@click.option("--password", required=True)
@click.option("--name", default="Administrator", show_default=True)
def create_admin(phone: str, password: str, name: str) -> None:
    """Create the admin account, or reactivate it and reset its password; prints its id."""
    from homecare.accounts.service import PhoneTaken, ensure_admin
    from homecare.db import db as database
    from homecare.schemas import MOBILE_PATTERN

    if not re.fullmatch(MOBILE_PATTERN, phone, re.ASCII):
        raise click.BadParameter("must be a mainland mobile number", param_hint="--phone")
    if len(password) < 8:
        raise click.BadParameter("must be at least 8 characters", param_hint="--password")
    app = _app()
    with app.app_context():
        try:
            user, done = ensure_admin(session=database.session, phone=phone,
                                      password=password, name=name)
        except PhoneTaken as exc:
            raise click.ClickException(exc.detail) from exc
        click.echo(user.id)
        if done == "reset":
            click.echo("an admin with this phone existed: reactivated, password reset, "
                       "earlier tokens revoked", err=True)


@main.command()
def demo() -> None:
    """Load the demo city (Jining): nurses, recipients, catalogue, today's orders."""
    from homecare.db import db as database
    from homecare.demo import load_demo
    from homecare.migrations import upgrade

    app = _app()
    # load_demo seeds the catalogue itself, and reports what it added.
    upgrade(app.config["HOMECARE"].database_url)
    with app.app_context():
        summary = load_demo(session=database.session, config=app.config["HOMECARE"])
    click.echo(json.dumps(summary, ensure_ascii=False))


def openapi_document(app) -> dict:
    """The OpenAPI document the running code describes."""
    return app.extensions["homecare.api"].spec.to_dict()


def render_openapi(app) -> str:
    return json.dumps(openapi_document(app), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


@main.command()
@click.option("--output", default="openapi/openapi.json", show_default=True)
@click.option("--check", is_flag=True, help="Exit 1 if the file differs from the code.")
def openapi(output: str, check: bool) -> None:
    """Write (or check) the generated OpenAPI document."""
    text = render_openapi(_app())
    path = Path(output)
    if check:
        if not path.exists() or path.read_text() != text:
            click.echo(f"{output} is out of date: run homecare openapi", err=True)
            sys.exit(1)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    click.echo(f"wrote {output}")


if __name__ == "__main__":
    main()

"""The ping path's cost, in round trips to the database: the busiest write of the
service stays at one statement for the caller, one UPDATE and one INSERT."""

from __future__ import annotations

import sqlalchemy as sa

from homecare.nurses.models import LocationPing
from tests.factories import ShiftFactory, auth

API = "/api/v1"


def test_a_kept_ping_runs_three_statements(app, client, session, nurse, nurse_user):
    ShiftFactory(nurse_id=nurse.id)
    session.commit()
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:
        if statement.split()[0].upper() in {"SELECT", "UPDATE", "INSERT", "DELETE"}:
            statements.append(statement.split()[0].upper())

    headers = auth(nurse_user)  # issuing her token writes rows of its own: not the ping's
    engine = app.extensions["homecare.db"]["engine"]
    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        r = client.post(f"{API}/nurses/me/location", headers=headers,
                        json={"lat": 35.41, "lng": 116.58})
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
    assert r.status_code == 201, r.get_json()
    # The caller (token check; here the test's session may already hold her user),
    # her profile's compare-and-set that also says she is working, the ping.
    assert statements in (["SELECT", "UPDATE", "INSERT"], ["UPDATE", "INSERT"]), statements
    assert session.scalar(sa.select(sa.func.count()).select_from(LocationPing)) == 1

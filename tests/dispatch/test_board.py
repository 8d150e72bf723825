"""Route tests: the dispatch board, a supervisor's day view of her organization."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from conftest import assert_problem
from homecare.alerts.models import ALERT_KINDS
from homecare.clock import utcnow
from homecare.nurseday.model import local_day
from homecare.orders.states import STATUSES
from tests.factories import AlertFactory, ShiftFactory, auth, booked_order
from tests.helpers import API


def _board(client, user, day=None, **query):
    if day is not None:
        query["date"] = day.isoformat()
    return client.get(f"{API}/dispatch/board", query_string=query, headers=auth(user))


def _ok(client, user, day=None, **query) -> dict:
    r = _board(client, user, day, **query)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


@pytest.fixture
def day(order):
    """The local day of the fixture order (the real clock decides which day it is)."""
    return order.service_date


def _at(order, minutes: int, days: int = 0) -> dict:
    """Window fields ``minutes`` after the fixture order's, booked on its day (or
    ``days`` later, the window moved with it)."""
    start = order.window_start + timedelta(days=days, minutes=minutes)
    return {"window_start": start, "window_end": start + timedelta(hours=2),
            "service_date": order.service_date + timedelta(days=days)}


def _nurse_row(body: dict, nurse) -> dict:
    (row,) = [n for n in body["nurses"] if n["nurse_id"] == nurse.id]
    return row


def test_board_counts_every_status_with_zeros(client, supervisor, order, make_order, day,
                                              nurse):
    make_order(status="submitted", **_at(order, 10))
    make_order(status="assigned", nurse_id=nurse.id, **_at(order, 20))
    make_order(status="cancelled", **_at(order, 30))
    make_order(status="approved", **_at(order, 0, days=2))  # another day

    counts = _ok(client, supervisor, day)["counts"]

    assert set(counts) == set(STATUSES)
    assert counts["approved"] == 1
    assert counts["submitted"] == 1
    assert counts["assigned"] == 1
    assert counts["cancelled"] == 1
    assert all(counts[s] == 0 for s in STATUSES
               if s not in ("approved", "submitted", "assigned", "cancelled"))


def test_board_lists_unassigned_orders_by_window(client, supervisor, order, make_order, day,
                                                 nurse):
    offered = make_order(status="offered", dispatch_round=2, **_at(order, -30))
    submitted = make_order(status="submitted", **_at(order, 15))
    make_order(status="assigned", nurse_id=nurse.id, **_at(order, -60))
    make_order(status="rejected", **_at(order, 5))

    unassigned = _ok(client, supervisor, day)["unassigned"]

    assert [o["id"] for o in unassigned] == [offered.id, order.id, submitted.id]
    first = unassigned[0]
    assert set(first) == {"id", "status", "service_code", "window_start", "window_end",
                          "district", "dispatch_round"}
    assert first["status"] == "offered"
    assert first["dispatch_round"] == 2
    assert first["district"] == "任城区"
    assert first["service_code"] == offered.service_code


def test_board_shows_fresh_ping_position(client, supervisor, make_nurse, day):
    pinged = make_nurse(last_lat=35.41, last_lng=116.58,
                        last_ping_at=utcnow() - timedelta(minutes=2))

    row = _nurse_row(_ok(client, supervisor, day), pinged)

    position = row["position"]
    assert position["lat"] == pytest.approx(35.41)
    assert position["lng"] == pytest.approx(116.58)
    assert set(position["gcj02"]) == {"lat", "lng"}
    assert position["gcj02"]["lat"] != pytest.approx(35.41, abs=1e-6)
    assert position["at"] is not None


def test_board_hides_stale_ping_position(client, supervisor, make_nurse, config, day):
    stale = make_nurse(last_lat=35.41, last_lng=116.58, last_ping_at=utcnow() - timedelta(
        minutes=config.dispatch_ping_max_age_minutes + 5))
    never = make_nurse()

    body = _ok(client, supervisor, day)

    assert _nurse_row(body, stale)["position"] is None
    assert _nurse_row(body, never)["position"] is None


def test_board_lists_only_active_nurses_on_shift(client, supervisor, make_nurse, day, nurse):
    off = make_nurse(shift=False)
    inactive = make_nurse(active=False)
    later = make_nurse(shift=False)
    ShiftFactory(nurse_id=later.id, start=utcnow() + timedelta(days=3),
                 end=utcnow() + timedelta(days=3, hours=8))

    ids = [n["nurse_id"] for n in _ok(client, supervisor, day)["nurses"]]

    assert nurse.id in ids
    assert off.id not in ids and inactive.id not in ids and later.id not in ids


def test_board_counts_nurse_load_held_and_completed(client, supervisor, order, make_order,
                                                    day, nurse, make_nurse):
    make_order(status="assigned", nurse_id=nurse.id, **_at(order, 10))
    make_order(status="in_service", nurse_id=nurse.id, **_at(order, -90))
    make_order(status="completed", nurse_id=nurse.id, **_at(order, -120))
    make_order(status="cancelled", nurse_id=nurse.id, **_at(order, 20))
    make_order(status="assigned", nurse_id=nurse.id, **_at(order, 0, days=2))
    idle = make_nurse(max_visits_per_day=5)

    body = _ok(client, supervisor, day)

    row = _nurse_row(body, nurse)
    assert row["load"] == 3
    assert row["max_visits_per_day"] == nurse.max_visits_per_day
    assert row["name"]
    assert _nurse_row(body, idle)["load"] == 0
    assert _nurse_row(body, idle)["max_visits_per_day"] == 5


def test_board_counts_open_alerts_and_lists_critical(client, session, supervisor, org, order,
                                                     nurse, day):
    late = AlertFactory(organization_id=org.id, kind="late", order_id=order.id,
                        nurse_id=nurse.id)
    AlertFactory(organization_id=org.id, kind="late", status="acknowledged")
    AlertFactory(organization_id=org.id, kind="late", status="resolved")
    sos = AlertFactory(organization_id=org.id, kind="sos", severity="high",
                       nurse_id=nurse.id)
    geofence = AlertFactory(organization_id=org.id, kind="geofence", severity="critical",
                            order_id=order.id, nurse_id=nurse.id)
    AlertFactory(organization_id=org.id, kind="sos", severity="critical", status="resolved")
    session.commit()

    alerts = _ok(client, supervisor, day)["alerts"]

    assert set(alerts["open"]) == set(ALERT_KINDS)
    assert alerts["open"]["late"] == 2
    assert alerts["open"]["sos"] == 1
    assert alerts["open"]["geofence"] == 1
    assert alerts["open"]["overtime"] == 0
    listed = {a["id"]: a for a in alerts["critical"]}
    assert set(listed) == {sos.id, geofence.id}
    assert late.id not in listed
    assert listed[geofence.id]["order_id"] == order.id
    assert listed[geofence.id]["nurse_id"] == nurse.id
    assert listed[sos.id]["kind"] == "sos"
    assert listed[sos.id]["raised_at"]


def test_board_leaves_out_other_organizations(client, session, supervisor, other_org, item,
                                              order, make_nurse, day):
    theirs = booked_order(other_org, status="approved", item=item, **_at(order, 10))
    their_nurse = make_nurse(organization=other_org)
    AlertFactory(organization_id=other_org.id, kind="sos", severity="critical")
    session.commit()

    body = _ok(client, supervisor, day)

    assert [o["id"] for o in body["unassigned"]] == [order.id]
    assert body["counts"]["approved"] == 1
    assert their_nurse.id not in [n["nurse_id"] for n in body["nurses"]]
    assert body["alerts"]["open"]["sos"] == 0
    assert body["alerts"]["critical"] == []
    assert theirs.id not in [o["id"] for o in body["unassigned"]]


def test_board_of_another_organization_for_supervisor_is_404(client, supervisor, other_org,
                                                             day):
    r = _board(client, supervisor, day, organization_id=other_org.id)
    assert_problem(r, 404, "organization_not_found")


def test_board_for_admin_with_organization_id(client, session, admin, other_org, item, order,
                                              day):
    theirs = booked_order(other_org, status="submitted", item=item, **_at(order, 10))
    session.commit()

    body = _ok(client, admin, day, organization_id=other_org.id)

    assert body["organization_id"] == other_org.id
    assert [o["id"] for o in body["unassigned"]] == [theirs.id]


def test_board_for_admin_without_organization_id_is_422(client, admin, day):
    assert_problem(_board(client, admin, day), 422, "organization_required")


def test_board_without_date_is_local_today(client, supervisor, config):
    before = local_day(utcnow(), config.timezone)
    body = _ok(client, supervisor)
    assert body["date"] in {before.isoformat(),
                            local_day(utcnow(), config.timezone).isoformat()}


@pytest.mark.parametrize("value", ["2026-02-30", "tomorrow", "1999-12-31", "9999-12-31"])
def test_board_with_bad_date_is_422(client, supervisor, value):
    r = client.get(f"{API}/dispatch/board", query_string={"date": value},
                   headers=auth(supervisor))
    body = assert_problem(r, 422)
    assert "date" in str(body["errors"])


@pytest.mark.parametrize("who", ["nurse_user", "patient"])
def test_board_for_nurse_or_patient_is_403(client, request, who, day):
    assert_problem(_board(client, request.getfixturevalue(who), day), 403)


def test_board_without_token_is_401(client, day):
    r = client.get(f"{API}/dispatch/board", query_string={"date": day.isoformat()})
    assert_problem(r, 401)


def _queries(client, session, user, day) -> int:
    seen: list[str] = []
    connection = session.connection()

    def count(conn, cursor, statement, *args):
        seen.append(statement)

    sa.event.listen(connection, "before_cursor_execute", count)
    try:
        _ok(client, user, day)
    finally:
        sa.event.remove(connection, "before_cursor_execute", count)
    return len(seen)


def test_board_queries_do_not_grow_with_nurses(client, session, supervisor, order, make_order,
                                               make_nurse, day, nurse):
    make_order(status="assigned", nurse_id=nurse.id, **_at(order, 10))
    few = _queries(client, session, supervisor, day)
    for _ in range(4):
        other = make_nurse(last_lat=35.41, last_lng=116.58, last_ping_at=utcnow())
        make_order(status="assigned", nurse_id=other.id, **_at(order, 10))

    assert _queries(client, session, supervisor, day) == few
    assert 0 < few <= 12

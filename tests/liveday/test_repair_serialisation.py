"""Repairs of one organization and day never run at once: of two claimers only one wins,
in one process or two (PostgreSQL, two connections), and a change arriving during a
repair is repaired after it. Also: overruns, and the repair's own moves queue nothing."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from homecare.db import db
from homecare.orders.models import Order
from homecare.orders.states import transition
from homecare.scheduling import repair_queue
from homecare.scheduling.models import DayRepair, RepairOverrun
from homecare.scheduling.repair_queue import claim_due_repair, request_repair
from jobs import repair_days
from tests.factories import DayPlanFactory, NurseFactory, OrganizationFactory, auth, booked_order
from tests.helpers import API, GUARD_SECONDS, local_time
from tests.liveday.conftest import DAY, NOW

SECOND = timedelta(seconds=1)
DUE = NOW + 5 * SECOND
CANCELLED = {"kind": "order_cancelled", "order_id": 1}


def _queued(app):
    """A committed pending repair of a planned day on ``app``'s database, due at DUE."""
    with app.app_context():
        org = OrganizationFactory()
        DayPlanFactory(organization_id=org.id, day=DAY)
        request_repair(db.session, organization_id=org.id, day=DAY, reason=CANCELLED,
                       now=NOW, config=app.config["HOMECARE"])
        db.session.commit()
        return org.id


def _claim(app):
    with app.app_context():
        row = claim_due_repair(db.session, now=DUE)
        return None if row is None else row.id


def _states(app):
    with app.app_context():
        return list(db.session.execute(sa.select(DayRepair.id, DayRepair.state)
                                       .order_by(DayRepair.id)))


def test_of_two_claimers_only_the_first_wins(scratch_app):
    # SQLite: two sessions (two connections) whose writes take turns.
    _queued(scratch_app)
    won = _claim(scratch_app)
    assert won is not None
    assert _claim(scratch_app) is None
    assert _states(scratch_app) == [(won, "running")]


def test_a_change_during_a_repair_waits_for_it_then_is_repaired(scratch_app):
    org_id = _queued(scratch_app)
    first = _claim(scratch_app)
    with scratch_app.app_context():
        request_repair(db.session, organization_id=org_id, day=DAY, now=DUE,
                       reason={"kind": "no_show", "order_id": 2},
                       config=scratch_app.config["HOMECARE"])
        db.session.commit()
    # A new pending row beside the running one, not claimable while it runs...
    second = [rid for rid, state in _states(scratch_app) if state == "pending"]
    assert len(second) == 1
    with scratch_app.app_context():
        assert claim_due_repair(db.session, now=DUE + 10 * SECOND) is None
        row = db.session.get(DayRepair, first)
        row.state = "done"
        db.session.commit()
        # ... and claimed once the first is done.
        assert claim_due_repair(db.session, now=DUE + 10 * SECOND).id == second[0]


def test_a_repair_whose_process_died_is_retried_after_its_lease(scratch_app):
    _queued(scratch_app)
    crashed = _claim(scratch_app)
    late = DUE + repair_queue.LEASE + SECOND
    with scratch_app.app_context():
        counts = repair_queue.run_due_repairs(session=db.session, now=late,
                                              config=scratch_app.config["HOMECARE"],
                                              repair=lambda **_: None)
    # Counted as a failed attempt, due again after the retry delay.
    assert counts == {"retry": 1}
    with scratch_app.app_context():
        row = db.session.get(DayRepair, crashed)
        assert (row.state, row.attempts) == ("pending", 1)
        assert row.due_at == late + 10 * SECOND


@pytest.mark.postgres
def test_a_claimer_skips_the_row_another_connection_is_claiming(scratch_app):
    _queued(scratch_app)
    with scratch_app.app_context():
        other = db.session
        # The other claimer mid-claim: the row locked, its UPDATE not committed yet.
        (locked,) = other.scalars(sa.select(DayRepair.id).with_for_update())
        with scratch_app.app_context():
            db.session.execute(sa.text("SET lock_timeout = '5s'"))
            # Not blocked behind the lock (SKIP LOCKED), and not won either.
            assert claim_due_repair(db.session, now=DUE) is None
        assert claim_due_repair(other, now=DUE).id == locked
        assert _claim(scratch_app) is None
    assert _states(scratch_app) == [(locked, "running")]


@pytest.mark.postgres
def test_two_claimers_at_the_same_instant_one_wins(scratch_app):
    _queued(scratch_app)
    start = threading.Barrier(2, timeout=GUARD_SECONDS)
    won: list[int | None] = []

    def claimer():
        with scratch_app.app_context():
            db.session.execute(sa.text("SET lock_timeout = '5s'"))
            db.session.commit()
            start.wait()
            row = claim_due_repair(db.session, now=DUE)
            won.append(None if row is None else row.id)

    threads = [threading.Thread(target=claimer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(GUARD_SECONDS)
    assert sorted(won, key=lambda w: w is None)[1:] == [None]
    assert [w for w in won if w is not None] == [rid for rid, _ in _states(scratch_app)]


def test_a_change_through_the_api_while_the_repair_runs_is_repaired_next(
        app, client, session, org, supervisor, committed_visit, monkeypatch, pin_clock):
    cancelled, later = committed_visit("assigned"), committed_visit("assigned")
    DayPlanFactory(organization_id=org.id, day=DAY)
    session.commit()
    headers = auth(supervisor)
    r = client.post(f"{API}/orders/{cancelled.id}/cancel", headers=headers,
                    json={"reason": "family called"})
    assert r.status_code == 200
    seen = []

    def repair_while_the_supervisor_unassigns(**kwargs):
        seen.append(kwargs["reasons"])
        if len(seen) == 1:
            pin_clock(DUE)
            # A web request of its own (a thread: a context of its own, as in a web
            # worker), not inside the job's context.
            answers = []
            request = threading.Thread(target=lambda: answers.append(client.post(
                f"{API}/orders/{later.id}/unassign", headers=headers,
                json={"reason": "another nurse is closer"}).status_code))
            request.start()
            request.join(GUARD_SECONDS)
            assert answers == [200]
        return None

    monkeypatch.setattr(repair_queue, "repair_day", repair_while_the_supervisor_unassigns)
    assert repair_days.run(app, DUE) == {"no_plan": 1}  # the second is not due yet
    assert repair_days.run(app, DUE + 5 * SECOND) == {"no_plan": 1}
    assert [[r["kind"] for r in reasons] for reasons in seen] == [["order_cancelled"],
                                                                  ["unassigned"]]


def test_the_moves_a_repair_makes_queue_no_repair(app, session, org, committed_visit,
                                                  monkeypatch):
    order = committed_visit("assigned")
    DayPlanFactory(organization_id=org.id, day=DAY)
    session.commit()
    request_repair(session, organization_id=org.id, day=DAY, reason=CANCELLED, now=NOW,
                   config=app.config["HOMECARE"])
    session.commit()

    def repair_that_drops_the_order(*, session, now, **_):
        transition(session, session.get(Order, order.id), "approved", actor=None, now=now,
                   reason="no room", nurse_id=None, planned_arrival=None)
        session.commit()

    monkeypatch.setattr(repair_queue, "repair_day", repair_that_drops_the_order)
    assert repair_days.run(app, DUE) == {"no_plan": 1}
    session.expire_all()
    assert session.scalars(sa.select(DayRepair.state)).all() == ["done"]


def test_a_visit_running_over_asks_for_one_repair(app, session, org, nurse, committed_visit):
    # In service since 09:00 for a 60 min visit: its planned end is 10:00.
    order = committed_visit("in_service", planned_arrival=NOW, checked_in_at=NOW)
    DayPlanFactory(organization_id=org.id, day=DAY)
    session.commit()
    assert repair_days.run(app, local_time(DAY, 10, 15)) == {}  # 15 min over: not yet
    assert repair_days.run(app, local_time(DAY, 10, 16)) == {"overruns": 1}
    assert "overruns" not in repair_days.run(app, local_time(DAY, 10, 17))  # noted once
    session.expire_all()
    (repair,) = session.scalars(sa.select(DayRepair)).all()
    assert repair.reasons == [{"kind": "overrun", "order_id": order.id, "nurse_id": nurse.id}]
    assert session.get(RepairOverrun, order.id) is not None


@pytest.mark.postgres
def test_two_changes_committing_at_once_merge_into_one_repair(scratch_app):
    config = scratch_app.config["HOMECARE"]
    with scratch_app.app_context():
        org = OrganizationFactory()
        DayPlanFactory(organization_id=org.id, day=DAY)
        db.session.commit()
        org_id = org.id
    second = {"kind": "no_show", "order_id": 2}
    done = threading.Event()

    def other_request():
        with scratch_app.app_context():
            db.session.execute(sa.text("SET lock_timeout = '20s'"))
            request_repair(db.session, organization_id=org_id, day=DAY, reason=second,
                           now=NOW + SECOND, config=config)
            db.session.commit()
        done.set()

    with scratch_app.app_context():
        request_repair(db.session, organization_id=org_id, day=DAY, reason=CANCELLED,
                       now=NOW, config=config)
        # Written as a commit would, not committed yet: the other insert waits on it.
        repair_queue.write_requests(db.session)
        thread = threading.Thread(target=other_request)
        thread.start()
        _wait_for_a_lock_wait(db.engine)
        db.session.commit()
    thread.join(GUARD_SECONDS)
    assert done.is_set()
    with scratch_app.app_context():
        (row,) = db.session.scalars(sa.select(DayRepair)).all()
        assert row.state == "pending" and row.reasons == [CANCELLED, second]
        assert row.due_at == NOW + 6 * SECOND


def _wait_for_a_lock_wait(engine):
    """Until another connection waits on a lock over day_repairs (the unique index)."""
    deadline = threading.Event()
    timer = threading.Timer(GUARD_SECONDS, deadline.set)
    timer.start()
    try:
        with engine.connect() as conn:
            while not deadline.is_set():
                waiting = conn.execute(sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND query ILIKE '%day_repairs%' AND pid <> pg_backend_pid()")).scalar()
                conn.commit()
                if waiting:
                    return
                deadline.wait(0.05)
        raise AssertionError("the other insert never waited")
    finally:
        timer.cancel()


@pytest.mark.postgres
def test_a_change_holds_no_lock_on_the_queue_until_it_commits(scratch_app):
    # Its order locks come first, the queue's row last: another change of the same day
    # (which may hold a lock this one needs next) never waits on it in a cycle.
    config = scratch_app.config["HOMECARE"]
    with scratch_app.app_context():
        org = OrganizationFactory()
        nurse = NurseFactory(organization_id=org.id)
        order = booked_order(org, status="assigned", nurse_id=nurse.id,
                             window_start=local_time(DAY, 11), window_end=local_time(DAY, 13))
        DayPlanFactory(organization_id=org.id, day=DAY)
        db.session.commit()
        org_id, order_id, nurse_id = org.id, order.id, nurse.id
    with scratch_app.app_context():
        mine = db.session
        transition(mine, mine.get(Order, order_id), "approved", actor=None, now=NOW,
                   reason="nurse taken off", nurse_id=None, planned_arrival=None)
        with scratch_app.app_context():
            db.session.execute(sa.text("SET lock_timeout = '2s'"))
            request_repair(db.session, organization_id=org_id, day=DAY, now=NOW,
                           reason={"kind": "no_show", "order_id": 2}, config=config)
            db.session.commit()  # neither waits nor fails
        mine.commit()
    with scratch_app.app_context():
        (row,) = db.session.scalars(sa.select(DayRepair)).all()
        assert row.reasons == [{"kind": "no_show", "order_id": 2},
                               {"kind": "unassigned", "order_id": order_id,
                                "nurse_id": nurse_id}]

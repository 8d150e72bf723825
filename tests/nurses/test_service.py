"""Service tests for nurses: the gate, availability windows, pings and trace retention."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from homecare.audit.models import AuditEntry
from homecare.auth import Actor
from homecare.nurses import availability, service
from homecare.nurses.models import LocationPing, Nurse, Shift
from tests.factories import NurseFactory, ShiftFactory, booked_order

T0 = datetime(2025, 6, 2, 0, 0, tzinfo=UTC)  # 08:00 in Jining


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def _windows(*pairs):
    return [{"start": h(a), "end": h(b)} for a, b in pairs]


def _stored(session, nurse):
    return [(s.start, s.end) for s in session.scalars(
        sa.select(Shift).where(Shift.nurse_id == nurse.id).order_by(Shift.start))]


# --- the gate -----------------------------------------------------------------------------

def test_qualification_problems_empty_for_qualified_nurse(config, nurse):
    assert service.qualification_problems(nurse, config) == []


def test_qualification_problems_follow_configured_gate(config, org):
    nurse = NurseFactory(organization_id=org.id, title="supervisor_nurse", years_experience=6)
    stricter = replace(config, min_years_experience=8, min_title="associate_chief_nurse")
    assert service.qualification_problems(nurse, stricter) == [
        "years_experience >= 8", "title >= associate_chief_nurse"]


def test_qualification_gate_boundary_is_inclusive(config, org):
    nurse = NurseFactory(organization_id=org.id, title="senior_nurse",
                         years_experience=config.min_years_experience)
    assert service.qualification_problems(nurse, config) == []


def test_activation_is_audited(session, config, supervisor, org):
    nurse = NurseFactory(organization_id=org.id, active=False)
    actor = Actor(user_id=supervisor.id, role="supervisor", organization_id=org.id)
    service.update_nurse(session=session, actor=actor, nurse_id=nurse.id,
                         changes={"active": True}, now=T0, config=config)
    entry = session.scalar(sa.select(AuditEntry).where(AuditEntry.object_id == nurse.id))
    assert entry.action == "nurse.activated" and entry.actor_id == supervisor.id


# --- windows -----------------------------------------------------------------------------

def test_merge_windows_joins_touching_and_overlapping():
    assert availability.merge_windows([(h(3), h(4)), (h(0), h(1)), (h(1), h(2)),
                                       (h(3.5), h(5))]) == [(h(0), h(2)), (h(3), h(5))]


def test_replace_shifts_closes_running_window_left_out(session, nurse):
    ShiftFactory(nurse_id=nurse.id, start=h(0), end=h(4))
    result = availability.replace_shifts(session=session, nurse=nurse,
                                         windows=_windows((6, 8)), now=h(2))
    assert [(s.start, s.end) for s in result] == [(h(6), h(8))]
    assert _stored(session, nurse) == [(h(0), h(2)), (h(6), h(8))]


def test_replace_shifts_extends_running_window_resent_with_its_start(session, nurse):
    ShiftFactory(nurse_id=nurse.id, start=h(0), end=h(4))
    availability.replace_shifts(session=session, nurse=nurse, windows=_windows((0, 6)), now=h(2))
    assert _stored(session, nurse) == [(h(0), h(6))]


def test_replace_shifts_continuing_from_now_merges_with_running_window(session, nurse):
    ShiftFactory(nurse_id=nurse.id, start=h(0), end=h(4))
    availability.replace_shifts(session=session, nurse=nurse, windows=_windows((2, 5)), now=h(2))
    assert _stored(session, nurse) == [(h(0), h(5))]


def test_replace_shifts_never_touches_ended_windows(session, nurse):
    ShiftFactory(nurse_id=nurse.id, start=h(-5), end=h(-3))
    availability.replace_shifts(session=session, nurse=nurse, windows=[], now=h(0))
    assert _stored(session, nurse) == [(h(-5), h(-3))]


def test_replace_shifts_refuses_past_start_other_than_running(session, nurse):
    ShiftFactory(nurse_id=nurse.id, start=h(0), end=h(4))
    with pytest.raises(availability.ShiftInPast) as exc:
        availability.replace_shifts(session=session, nurse=nurse, windows=_windows((1, 6)),
                                    now=h(2))
    assert exc.value.extensions["index"] == 0
    assert _stored(session, nurse) == [(h(0), h(4))]


def test_shifts_covering_returns_overlaps_for_every_nurse_asked(session, org, nurse):
    idle = NurseFactory(organization_id=org.id)
    ShiftFactory(nurse_id=nurse.id, start=h(0), end=h(2))
    ShiftFactory(nurse_id=nurse.id, start=h(5), end=h(7))
    ShiftFactory(nurse_id=nurse.id, start=h(9), end=h(10))
    got = service.shifts_covering(session=session, nurse_ids=[nurse.id, idle.id], start=h(1),
                                  end=h(9))
    assert got == {nurse.id: [(h(0), h(2)), (h(5), h(7))], idle.id: []}


def test_is_on_shift_end_is_exclusive(session, nurse):
    ShiftFactory(nurse_id=nurse.id, start=h(0), end=h(2))
    assert service.is_on_shift(session=session, nurse_id=nurse.id, at=h(0))
    assert not service.is_on_shift(session=session, nurse_id=nurse.id, at=h(2))


# --- pings -----------------------------------------------------------------------------------

def _ping(session, nurse, now, recorded_at=None):
    return availability.store_ping(session=session, nurse=nurse, lat=35.41, lng=116.58,
                                   accuracy_m=5.0, recorded_at=recorded_at, now=now,
                                   min_interval_seconds=5)


def test_ping_interval_is_enforced_by_received_time(session, nurse):
    ShiftFactory(nurse_id=nurse.id, start=h(0), end=h(4))
    _ping(session, nurse, h(1))
    with pytest.raises(availability.PingRateLimited) as exc:
        _ping(session, nurse, h(1) + timedelta(seconds=4))
    assert exc.value.headers["Retry-After"] == "1"
    ping, reason = _ping(session, nurse, h(1) + timedelta(seconds=5))
    assert reason == "shift" and ping.received_at == h(1) + timedelta(seconds=5)


def test_ping_fix_time_in_the_future_is_taken_as_received_time(session, nurse):
    ShiftFactory(nurse_id=nurse.id, start=h(0), end=h(4))
    ping, _ = _ping(session, nurse, h(1), recorded_at=h(3))
    assert ping.recorded_at == h(1)


def test_ping_while_in_service_outside_shift_is_on_the_order(session, org, nurse):
    order = booked_order(org, status="in_service", nurse_id=nurse.id)
    ping, reason = _ping(session, nurse, h(20))
    assert (reason, ping.order_id) == ("order", order.id)


def test_ping_off_duty_raises_not_tracking(session, nurse):
    with pytest.raises(availability.NotTracking):
        _ping(session, nurse, h(1))


# --- retention ---------------------------------------------------------------------------------

def test_purge_deletes_only_traces_older_than_retention(session, nurse):
    session.add_all([
        LocationPing(nurse_id=nurse.id, lat=35.4, lng=116.5, recorded_at=h(-24 * 31),
                     received_at=h(-24 * 31)),
        LocationPing(nurse_id=nurse.id, lat=35.4, lng=116.5, recorded_at=h(-24 * 29),
                     received_at=h(-24 * 29))])
    session.flush()
    assert service.purge_location_traces(session=session, now=T0, retention_days=30) == 1
    assert [p.recorded_at for p in session.scalars(sa.select(LocationPing))] == [h(-24 * 29)]
    assert service.purge_location_traces(session=session, now=T0, retention_days=30) == 0


def test_purge_forgets_last_positions_older_than_retention(session, org):
    stale = NurseFactory(organization_id=org.id, last_lat=35.4, last_lng=116.5,
                         last_ping_at=h(-24 * 40))
    fresh = NurseFactory(organization_id=org.id, last_lat=35.4, last_lng=116.5,
                         last_ping_at=h(-1))
    service.purge_location_traces(session=session, now=T0, retention_days=30)
    session.expire_all()
    assert session.get(Nurse, stale.id).last_lat is None
    assert session.get(Nurse, fresh.id).last_lat == 35.4


@pytest.mark.postgres
def test_concurrent_pings_keep_exactly_one(app):
    """Two pings racing past the rate limit: the compare-and-set lets one through."""
    import threading

    from sqlalchemy.orm import Session

    from homecare.accounts.models import Organization, User
    from tests.factories import PASSWORD

    engine = app.extensions["homecare.db"]["engine"]
    with Session(engine) as s:
        org = Organization(name="并发测试医院", center_lat=35.415, center_lng=116.587, radius_km=30)
        s.add(org)
        s.flush()
        user = User(phone="19900000001", password_hash=PASSWORD, name="并发", role="nurse",
                    organization_id=org.id)
        s.add(user)
        s.flush()
        nurse = Nurse(user_id=user.id, organization_id=org.id, license_no="CONC000001",
                      title="senior_nurse", years_experience=8, skills=[], home_lat=35.4,
                      home_lng=116.5, active=True)
        s.add(nurse)
        s.flush()
        s.add(Shift(nurse_id=nurse.id, start=h(0), end=h(4)))
        s.commit()
        ids = (org.id, user.id, nurse.id)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def ping() -> None:
        with Session(engine) as s:
            mine = s.get(Nurse, ids[2])
            barrier.wait()
            try:
                _ping(s, mine, h(1))
                outcomes.append("kept")
            except availability.PingRateLimited:
                outcomes.append("limited")

    try:
        threads = [threading.Thread(target=ping) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes) == ["kept", "limited"]
        with Session(engine) as s:
            assert s.scalar(sa.select(sa.func.count()).select_from(LocationPing).where(
                LocationPing.nurse_id == ids[2])) == 1
    finally:
        with Session(engine) as s:
            s.execute(sa.delete(LocationPing).where(LocationPing.nurse_id == ids[2]))
            s.execute(sa.delete(Shift).where(Shift.nurse_id == ids[2]))
            s.execute(sa.delete(Nurse).where(Nurse.id == ids[2]))
            s.execute(sa.delete(User).where(User.id == ids[1]))
            s.execute(sa.delete(Organization).where(Organization.id == ids[0]))
            s.commit()


# --- a call that fails leaves nothing behind (@atomic) -------------------------------------

def test_update_nurse_failing_after_its_changes_leaves_the_profile_as_it_was(
        session, config, supervisor, org, nurse, monkeypatch):
    session.commit()
    actor = Actor(user_id=supervisor.id, role="supervisor", organization_id=org.id)

    def audit_down(*args, **kwargs):
        raise RuntimeError("audit trail unavailable")

    # The trail is written after the fields are set: the failure comes mid-change.
    monkeypatch.setattr(service, "record", audit_down)
    with pytest.raises(RuntimeError):
        service.update_nurse(session=session, actor=actor, nurse_id=nurse.id,
                             changes={"service_radius_km": 3, "skills": ["injection"]},
                             now=T0, config=config)
    session.commit()  # a caller that goes on with the session commits nothing of it
    session.expire_all()
    assert (nurse.service_radius_km, nurse.skills) != (3, ["injection"])


def test_replace_shifts_failing_after_the_delete_keeps_the_published_windows(
        session, nurse, monkeypatch):
    ShiftFactory(nurse_id=nurse.id, start=h(0), end=h(4))
    ShiftFactory(nurse_id=nurse.id, start=h(6), end=h(8))
    session.commit()

    def listing_down(**kwargs):
        raise RuntimeError("listing failed")

    monkeypatch.setattr(availability, "list_shifts", listing_down)
    with pytest.raises(RuntimeError):
        availability.replace_shifts(session=session, nurse=nurse, windows=_windows((9, 10)),
                                    now=h(2))
    session.commit()
    assert _stored(session, nurse) == [(h(0), h(4)), (h(6), h(8))]

"""``atomic``: a refused call leaves nothing of its own behind and keeps the caller's
uncommitted work; ``atomic_in_steps`` refuses to start over uncommitted work."""

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from homecare.accounts.models import Organization
from homecare.auth import Actor
from homecare.db import atomic, atomic_in_steps
from homecare.nurses import service as nurses
from homecare.nurses.models import Shift
from homecare.nurses.service import NurseNotQualified
from homecare.scheduling.service import DayInPast, plan_day
from tests.factories import NurseFactory, ShiftFactory

NOW = datetime(2025, 6, 2, 0, 0, tzinfo=UTC)


def _org(name: str) -> Organization:
    return Organization(name=name, center_lat=35.415, center_lng=116.587, radius_km=30.0)


def _names(session):
    return set(session.scalars(sa.select(Organization.name)))


def test_atomic_refused_call_rolls_back_its_own_flush_and_keeps_the_callers(session):
    session.add(_org("the caller's"))
    session.flush()

    @atomic
    def refuse(*, session):
        session.add(_org("the call's"))
        session.flush()
        raise ValueError("refused")

    with pytest.raises(ValueError):
        refuse(session=session)
    assert {"the caller's"} <= _names(session) and "the call's" not in _names(session)


def test_atomic_call_that_fails_after_committing_rolls_back_what_it_wrote_since(session):
    @atomic
    def commit_then_fail(*, session):
        session.add(_org("committed"))
        session.commit()
        session.add(_org("after the commit"))
        session.flush()
        raise ValueError("refused")

    with pytest.raises(ValueError):
        commit_then_fail(session=session)
    names = _names(session)
    assert "committed" in names and "after the commit" not in names


def test_atomic_step_that_returns_without_committing_joins_the_callers_transaction(session):
    @atomic
    def step(*, session):
        session.add(_org("a step's"))

    step(session=session)
    session.rollback()
    assert "a step's" not in _names(session)


def test_update_nurse_refused_keeps_the_callers_uncommitted_shift(session, config, supervisor,
                                                                  org):
    nurse = NurseFactory(organization_id=org.id, active=False, years_experience=0)
    session.commit()
    ShiftFactory(nurse_id=nurse.id, start=NOW, end=NOW.replace(hour=4))
    actor = Actor(user_id=supervisor.id, role="supervisor", organization_id=org.id)
    with pytest.raises(NurseNotQualified):
        nurses.update_nurse(session=session, actor=actor, nurse_id=nurse.id,
                            changes={"active": True}, now=NOW, config=config)
    assert session.scalar(sa.select(sa.func.count()).select_from(Shift).where(
        Shift.nurse_id == nurse.id)) == 1


def test_plan_day_refuses_to_start_over_uncommitted_changes(session, org, config):
    @atomic_in_steps
    def two_steps(*, session):
        session.commit()

    session.add(_org("not committed"))
    with pytest.raises(RuntimeError, match="committed first"):
        two_steps(session=session)
    with pytest.raises(RuntimeError, match="committed first"):
        plan_day(session=session, actor=None, day=NOW.date(), now=NOW, config=config,
                 organization_id=org.id)


def test_plan_day_refused_keeps_the_callers_flushed_work(session, org, config):
    session.add(_org("flushed, not committed"))
    session.flush()
    with pytest.raises(DayInPast):
        plan_day(session=session, actor=None, day=NOW.date() - timedelta(days=2), now=NOW,
                 config=config, organization_id=org.id)
    assert "flushed, not committed" in _names(session)

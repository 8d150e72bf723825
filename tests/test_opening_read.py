"""``opening_read``: the first ``atomic`` call in a transaction that has only read takes
no savepoint, and still leaves nothing behind when refused; ``transaction_set`` lives
for one transaction."""

import pytest
import sqlalchemy as sa

from homecare.accounts.models import Organization
from homecare.db import atomic, opening_read, transaction_set, undo_call


def _org(name: str) -> Organization:
    return Organization(name=name, center_lat=35.415, center_lng=116.587, radius_km=30.0)


def _names(session):
    return set(session.scalars(sa.select(Organization.name)))


@pytest.fixture
def statements(session):
    seen: list[str] = []
    engine = session.get_bind().engine

    def record(_conn, _cursor, statement, *_args):
        seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    yield seen
    sa.event.remove(engine, "before_cursor_execute", record)


@atomic
def _refuse(*, session):
    session.add(_org("the call's"))
    session.flush()
    raise ValueError("refused")


def test_first_call_after_an_opening_read_takes_no_savepoint_and_its_refusal_leaves_nothing(
        session, statements):
    session.remove()
    opening_read(session).execute(sa.select(1))
    statements.clear()
    with pytest.raises(ValueError):
        _refuse(session=session)
    assert not [s for s in statements if s.upper().startswith("SAVEPOINT")]
    assert "the call's" not in _names(session)


def test_a_later_call_takes_its_savepoint_and_keeps_the_first_calls_work(session):
    session.remove()
    opening_read(session).execute(sa.select(1))

    @atomic
    def step(*, session):
        session.add(_org("the first call's"))
        session.flush()

    step(session=session)
    with pytest.raises(ValueError):
        _refuse(session=session)
    names = _names(session)
    assert "the first call's" in names and "the call's" not in names


def test_undo_call_without_a_savepoint_undoes_the_call_and_keeps_what_it_writes_after(session):
    session.remove()
    opening_read(session).execute(sa.select(1))

    @atomic
    def count_and_refuse(*, session):
        session.add(_org("undone"))
        session.flush()
        undo_call(session)
        session.add(_org("counted"))
        session.commit()
        raise ValueError("refused")

    with pytest.raises(ValueError):
        count_and_refuse(session=session)
    names = _names(session)
    assert "counted" in names and "undone" not in names


def test_transaction_set_starts_empty_in_the_next_transaction(session):
    session.execute(sa.select(1))
    transaction_set(session, "test.key").add(1)
    assert transaction_set(session, "test.key") == {1}
    session.commit()
    session.execute(sa.select(1))
    assert transaction_set(session, "test.key") == set()


@pytest.mark.parametrize("write", ["flush", "statement"])
def test_a_write_after_the_opening_read_gives_the_next_call_its_savepoint(session, write):
    session.remove()
    opening_read(session).execute(sa.select(1))
    if write == "flush":
        session.add(_org("the caller's"))
        session.flush()
    else:
        session.execute(sa.insert(Organization).values(
            name="the caller's", center_lat=35.415, center_lng=116.587, radius_km=30.0))
    with pytest.raises(ValueError):
        _refuse(session=session)
    names = _names(session)
    assert "the caller's" in names and "the call's" not in names

"""The pool tests a connection that sat idle before handing it out (a database restart
or a firewall may have killed it); a busy one goes out untested, and if it died in
use, that one request fails and the pool reconnects."""

from __future__ import annotations

import importlib
import time

import pytest
import sqlalchemy as sa

from homecare.db import db, make_engine

# The module itself: the package's ``homecare.db`` attribute is the Database object.
db_module = importlib.import_module("homecare.db")



@pytest.fixture
def engine_and_killer(database_url):
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    admin = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")

    def kill_pooled_connection() -> int:
        with engine.connect() as conn:
            pid = conn.scalar(sa.text("SELECT pg_backend_pid()"))
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            deadline = time.monotonic() + 10
            while conn.scalar(sa.text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"),
                              {"pid": pid}) and time.monotonic() < deadline:
                time.sleep(0.05)
        return pid

    yield engine, kill_pooled_connection
    engine.dispose()
    admin.dispose()


@pytest.mark.postgres
def test_an_idle_connection_that_died_is_replaced_before_use(engine_and_killer, monkeypatch):
    engine, kill_pooled_connection = engine_and_killer
    dead = kill_pooled_connection()
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_SECONDS", 0.0)
    with engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT pg_backend_pid()")) != dead


@pytest.mark.postgres
def test_a_busy_connection_that_died_fails_once_then_the_pool_reconnects(engine_and_killer,
                                                                        monkeypatch):
    engine, kill_pooled_connection = engine_and_killer
    dead = kill_pooled_connection()
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_SECONDS", 3600.0)
    with pytest.raises(sa.exc.OperationalError), engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
    with engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT pg_backend_pid()")) != dead


def test_a_database_lost_before_the_closing_rollback_does_not_fail_the_request(app,
                                                                              monkeypatch):
    """The request has its answer, then the connection dies before the session's
    closing rollback: leaving the context must not raise (under gunicorn that would
    replace the answer with a 500), and the broken session is dropped."""
    closed = []

    def close_on_a_lost_connection(self):
        closed.append(self)
        raise sa.exc.OperationalError("ROLLBACK", {}, Exception("connection lost"))

    with app.app_context():
        db.session.execute(sa.text("SELECT 1"))
        broken = db.session()
        monkeypatch.setattr(sa.orm.Session, "close", close_on_a_lost_connection)
    monkeypatch.undo()
    assert closed == [broken]
    with app.app_context():
        assert db.session() is not broken
    broken.close()

"""The leader lock: one holder per database, released when its process dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from homecare import create_app
from jobs.leader import AdvisoryLock, FileLock, leadership_for, lock_key
from tests.helpers import eventually

# A guard against a hung test, never an assertion about speed.
GUARD_SECONDS = 30


def test_lock_key_differs_per_schema_and_is_stable():
    assert lock_key("homecare", "public") == lock_key("homecare", "public")
    assert lock_key("homecare", "public") != lock_key("homecare", "test_1")
    assert -(2 ** 63) <= lock_key("homecare", "public") < 2 ** 63


def test_file_lock_has_one_holder_until_released(tmp_path):
    first, second = FileLock(tmp_path / "db.lock"), FileLock(tmp_path / "db.lock")
    assert first.try_acquire() is True
    assert second.try_acquire() is False
    first.release()
    assert second.try_acquire() is True
    assert first.still_held() is False and second.still_held() is True
    second.release()


def test_file_lock_is_freed_when_its_process_is_killed(tmp_path):
    path = tmp_path / "db.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path; from jobs.leader import FileLock; "
         f"assert FileLock(Path({str(path)!r})).try_acquire(); print('held', flush=True); "
         "time.sleep(120)"],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2])
    try:
        assert holder.stdout.readline().strip() == "held"
        mine = FileLock(path)
        assert mine.try_acquire() is False
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(GUARD_SECONDS)
        assert eventually(mine.try_acquire)
        mine.release()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_leadership_for_sqlite_locks_a_file_beside_the_database(app_overrides, tmp_path):
    app = create_app({**app_overrides, "database_url": f"sqlite:///{tmp_path / 'x.db'}"})
    lock = leadership_for(app)
    assert isinstance(lock, FileLock)
    assert lock.path == (tmp_path / "x.db.scheduler.lock").resolve()


@pytest.mark.postgres
def test_advisory_lock_has_one_holder_until_released(app_overrides):
    url = app_overrides["database_url"]
    first, second = AdvisoryLock(url), AdvisoryLock(url)
    try:
        assert first.try_acquire() is True
        assert second.try_acquire() is False
        assert first.still_held() is True
        first.release()
        assert second.try_acquire() is True
    finally:
        first.release()
        second.release()


@pytest.mark.postgres
def test_advisory_locks_of_two_schemas_do_not_collide(app_overrides, scratch_url):
    mine, theirs = AdvisoryLock(app_overrides["database_url"]), AdvisoryLock(scratch_url)
    try:
        assert mine.try_acquire() and theirs.try_acquire()
        assert mine.key != theirs.key
    finally:
        mine.release()
        theirs.release()


@pytest.mark.postgres
def test_leadership_for_postgresql_is_an_advisory_lock(app):
    assert isinstance(leadership_for(app), AdvisoryLock)


def test_file_lock_whose_file_was_deleted_is_no_longer_held(tmp_path):
    lock = FileLock(tmp_path / "db.lock")
    assert lock.try_acquire()
    (tmp_path / "db.lock").unlink()
    assert lock.still_held() is False
    lock.release()


@pytest.mark.postgres
def test_advisory_lock_engine_keeps_parameters_out_of_errors(app_overrides):
    lock = AdvisoryLock(app_overrides["database_url"])
    assert lock._engine.hide_parameters is True

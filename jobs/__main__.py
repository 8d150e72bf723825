"""Start the scheduler process: stand by until this process holds the lock, then run the jobs."""

from __future__ import annotations

import logging
import signal
import threading
import time
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask

from homecare.clock import utcnow
from homecare.notifications.delivery import channels_for
from jobs.leader import Leadership, Process, leadership_for
from jobs.schedule import JOBS, add_jobs

log = logging.getLogger("jobs")


def run(app: Flask, *, stop: threading.Event | None = None,
        leadership: Leadership | None = None) -> None:
    """Run the jobs process until SIGTERM/SIGINT (or ``stop`` is set).

    Only one scheduler runs per database: this process waits as a standby,
    trying the lock every ``scheduler_standby_poll_seconds``, and leads once it
    has it. A leader that loses the lock (its database connection dropped)
    stops its scheduler and stands by again.
    """
    config = app.config["HOMECARE"]
    # Build the delivery channels once now: one that cannot be built (an SMS provider
    # nobody registered) stops the process at start, not every relay run later, which
    # would hold back every other channel's messages too.
    channels_for(config)
    stop = stop or threading.Event()
    # APScheduler logs every run at INFO (the heartbeat every few seconds); the jobs
    # log their own counts, and failures still come through at ERROR.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    process = Process(leadership=leadership or leadership_for(app))
    log.info("scheduler %s starting", process.holder)
    standing_by = False
    while not stop.is_set():
        try:
            leading = process.leadership.try_acquire()
        except Exception:
            # The database is down: keep trying, as a standby would.
            log.exception("scheduler %s could not try the lock", process.holder)
            leading = False
        if not leading:
            if not standing_by:
                log.info("scheduler %s standing by: another scheduler holds the lock",
                         process.holder)
                standing_by = True
            stop.wait(config.scheduler_standby_poll_seconds)
            continue
        standing_by = False
        try:
            _lead(app, process, stop)
        finally:
            process.leadership.release()
    log.info("scheduler %s stopped", process.holder)


def _lead(app: Flask, process: Process, stop: threading.Event) -> None:
    config = app.config["HOMECARE"]
    process.lost.clear()
    process.started_at = utcnow()
    scheduler = BlockingScheduler(timezone=ZoneInfo(config.timezone),
                                  executors={"default": ThreadPoolExecutor(len(JOBS))})
    add_jobs(scheduler, app, process, process.started_at)
    log.info("scheduler %s leading: %s", process.holder, ", ".join(job.id for job in JOBS))

    def watch() -> None:
        while not (stop.wait(0.5) or process.lost.is_set()):
            pass
        # Told to stop before start() got going: wait for it, or it would never end.
        while not scheduler.running:
            time.sleep(0.05)
        # Waits for running jobs: a sweep half done is finished, not cut off.
        scheduler.shutdown(wait=True)

    watcher = threading.Thread(target=watch, name="scheduler-watch", daemon=True)
    watcher.start()
    scheduler.start()
    watcher.join()


if __name__ == "__main__":
    from homecare import create_app

    run(create_app())

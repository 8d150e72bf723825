"""A live server with the demo city at a pinned instant, and headless Chromium driving it.

The server runs in a thread (werkzeug, threaded, a free port) on a database of its
own (a SQLite file, or a PostgreSQL schema of its own), because the browser's
requests must see committed data: the per-test rolled-back session of the other
tests cannot serve them. Its clock is pinned (``create_app(clock=...)``), so the
demo's day, the board and every token live at the same fixed instant whatever
the time of day the tests run.

Chromium is Debian's ``chromium`` with ``chromedriver`` (``.ci/run`` installs them).
Outside CI the browser tests skip when they are missing; in CI (``CI`` set) they fail.
"""

from __future__ import annotations

import os
import shutil
import threading
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from cryptography.fernet import Fernet
from werkzeug.serving import make_server

from conftest import database_of_its_own
from homecare import create_app
from homecare.db import db
from homecare.demo import PASSWORD, SUPERVISOR_PHONE, load_demo
from homecare.migrations import upgrade

CHROMIUM = os.environ.get("HOMECARE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("HOMECARE_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "console"
VIEWPORT = (1366, 768)
# A Tuesday morning in Jining: the demo books the day's visits from 09:00 on.
PINNED = datetime(2026, 3, 10, 7, 30, tzinfo=ZoneInfo("Asia/Shanghai"))


class PinnedClock:
    """The server's ``now``: fixed unless a test moves it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="session")
def live_app(tmp_path_factory):
    with database_of_its_own(tmp_path_factory, "console") as database_url:
        upgrade(database_url)
        clock = PinnedClock(PINNED)
        app = create_app({
            "database_url": database_url,
            "secret_key": "console-test-secret-key-long-enough-for-hs256",
            "data_key": Fernet.generate_key().decode(),
            "instance_path": str(tmp_path_factory.mktemp("console-instance")),
            "log_level": "WARNING",
            "login_max_attempts_per_ip": 1000,
        }, clock=clock)
        app.config["TEST_CLOCK"] = clock
        with app.app_context():
            load_demo(session=db.session, config=app.config["HOMECARE"], now=clock())
            db.session.remove()
        yield app
        app.extensions["homecare.db"]["engine"].dispose()


@pytest.fixture(scope="session")
def live_server(live_app):
    server = make_server("127.0.0.1", 0, live_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="console-live-server",
                              daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


def _browser_missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (os.path.exists(path) or shutil.which(path)):
            return f"{path} is missing (apt-get install chromium chromium-driver)"
    return None


@pytest.fixture(scope="session")
def browser():
    missing = _browser_missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests must run in CI: {missing}")
        pytest.skip(missing)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--lang=zh-CN", f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}",
                "--autoplay-policy=no-user-gesture-required"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    # The page itself (not the window with its frame) is 1366x768, a laptop's screen.
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": VIEWPORT[0], "height": VIEWPORT[1], "deviceScaleFactor": 1, "mobile": False})
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture
def page(browser, live_server, request):
    """The console, signed out, in Chinese; a screenshot of it is saved after the test."""
    browser.get(f"{live_server}/console")
    browser.execute_script("sessionStorage.clear(); localStorage.clear();")
    browser.get(f"{live_server}/console")
    yield browser
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / f"{request.node.name}.png"))
    errors = [entry for entry in browser.get_log("browser")
              if entry["level"] == "SEVERE" and "/api/v1/" not in entry["message"]]
    assert not errors, errors  # a script error on the page fails the test


SUPERVISOR = (SUPERVISOR_PHONE, PASSWORD)

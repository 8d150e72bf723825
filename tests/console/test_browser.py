"""The dispatch console in headless Chromium against a live server with the demo city.

Each test signs in as the demo supervisor and works the page as she would; what the
page shows is checked against the API's own answers. A screenshot of every test's
last state is saved under artifacts/console/.
"""

from __future__ import annotations

import time

import pytest

from homecare.demo import PASSWORD
from tests.console.conftest import SUPERVISOR

pytestmark = pytest.mark.browser

API = "/api/v1"


def _wait(driver, condition, timeout: float = 10):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1,
                         ignored_exceptions=(StaleElementReferenceException,)).until(condition)


def _css(driver, selector: str):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def _one(driver, selector: str):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, selector)


def _attrs(driver, selector: str, attribute: str) -> list[str]:
    """One attribute of every element matching ``selector``, read in one go (the page
    re-renders what changed while polling, which would make held elements stale)."""
    return driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])]"
        ".map(e => e.getAttribute(arguments[1]))",
        selector, attribute)


def _ids(driver, selector: str, attribute: str) -> list[int]:
    return [int(v) for v in _attrs(driver, selector, attribute)]


class Api:
    """The live app's API, called from the test (same database as the browser's server)."""

    def __init__(self, app) -> None:
        self.client = app.test_client()
        self.token = self.login(*SUPERVISOR)

    def login(self, phone: str, password: str) -> str:
        r = self.client.post(f"{API}/auth/login", json={"phone": phone, "password": password})
        assert r.status_code == 200, r.get_json()
        return r.get_json()["access_token"]

    def call(self, method: str, path: str, token: str | None = None, **kwargs):
        r = self.client.open(f"{API}{path}", method=method, **kwargs,
                             headers={"Authorization": f"Bearer {token or self.token}"})
        assert r.status_code < 300, (path, r.status_code, r.get_json())
        return r.get_json()

    def board(self) -> dict:
        return self.call("GET", "/dispatch/board")

    def order_with_candidates(self, skip: set[int] = frozenset()) -> tuple[dict, list]:
        for order in self.board()["unassigned"]:
            if order["id"] in skip:
                continue
            candidates = self.call("GET", f"/orders/{order['id']}/candidates?page_size=100")
            if candidates:
                return order, candidates
        raise AssertionError("no unassigned order of the demo day has a candidate")


@pytest.fixture
def api(live_app):
    return Api(live_app)


def _sign_in(page, phone: str = SUPERVISOR[0], password: str = SUPERVISOR[1]) -> None:
    _wait(page, lambda d: _one(d, "#phone").is_displayed())
    _one(page, "#phone").send_keys(phone)
    _one(page, "#password").send_keys(password)
    _one(page, "#login-btn").click()


@pytest.fixture
def board(page, api):
    """Signed in, the board drawn."""
    _sign_in(page)
    _wait(page, lambda d: _css(d, "#queue .queue-item") and _css(d, "#map .order-dot"))
    return page


def test_wrong_password_is_refused_then_sign_in_shows_the_board(page, api):
    _sign_in(page, password="not-the-password")
    _wait(page, lambda d: _one(d, "#login-error").text)
    assert "登录失败" in _one(page, "#login-error").text
    assert not _one(page, "#app").is_displayed()

    _one(page, "#phone").clear()
    _one(page, "#password").clear()
    _sign_in(page, password=PASSWORD)
    _wait(page, lambda d: _css(d, "#queue .queue-item") and _css(d, "#map .order-dot"))
    board = api.board()
    assert _one(page, "#day").get_attribute("value") == board["date"] == "2026-03-10"
    shown = _ids(page, "#queue .queue-item", "data-order-id")
    assert sorted(shown) == sorted(o["id"] for o in board["unassigned"])
    for status, count in board["counts"].items():
        assert _one(page, f'#counts [data-status="{status}"] b').text == str(count)
    orders = api.call("GET", f"/orders?date={board['date']}&page_size=100")
    assert len(_css(page, "#map .order-dot")) == len(orders)
    assert len(_css(page, "#map .nurse-mark")) == len(board["nurses"])
    assert len(_css(page, "#nurses li")) == len(board["nurses"])
    assert _one(page, "#who").text == api.call("GET", "/me")["name"]


def test_open_an_order_and_its_candidates(board, api):
    order, candidates = api.order_with_candidates()
    _one(board, f'#queue .queue-item[data-order-id="{order["id"]}"]').click()
    _wait(board, lambda d: _css(d, "#detail-cands .candidate"))
    title = _one(board, "#detail-title")
    assert title.get_attribute("data-order-id") == str(order["id"])
    detail = api.call("GET", f"/orders/{order['id']}")
    assert detail["recipient"]["name"] in _one(board, "#detail-body").text
    assert detail["recipient"]["phone"] in _one(board, "#detail-body").text  # masked as sent
    rows = _ids(board, "#detail-cands .candidate", "data-nurse-id")
    assert rows == [c["nurse_id"] for c in candidates]
    # The first row shows her distance, travel time and score with its parts.
    first = _one(board, "#detail-cands .candidate").text
    assert f"{candidates[0]['distance_km']:.1f} km" in first
    assert f"{candidates[0]['score']:.2f}" in first
    assert "路程" in first and "均衡" in first
    # An excluded nurse: the rule that excludes her, as the API explains it.
    listed = set(rows)
    others = [n for n in api.call("GET", "/nurses?page_size=100")
              if n["id"] not in listed and n["active"]]
    from selenium.webdriver.support.ui import Select

    Select(_one(board, "#explain-nurse")).select_by_value(str(others[0]["id"]))
    (explained,) = api.call("GET", f"/orders/{order['id']}/candidates?explain={others[0]['id']}")
    _wait(board, lambda d: explained["excluded_by"] in _one(d, "#explain-out").text)


def test_assign_an_unassigned_order_and_it_leaves_the_queue(board, api):
    order, candidates = api.order_with_candidates()
    row = f'#queue .queue-item[data-order-id="{order["id"]}"]'
    _one(board, f"{row} .show-cands").click()
    button = f'{row} .assign[data-nurse-id="{candidates[0]["nurse_id"]}"]'
    _wait(board, lambda d: _css(d, button))
    _one(board, button).click()
    _wait(board, lambda d: not _css(d, row))
    after = api.call("GET", f"/orders/{order['id']}")
    assert (after["status"], after["nurse_id"]) == ("assigned", candidates[0]["nurse_id"])
    assert order["id"] not in [o["id"] for o in api.board()["unassigned"]]
    dot = _one(board, f'#map .order-dot[data-order-id="{order["id"]}"]')
    assert "已指派" in dot.find_element("css selector", "title").get_attribute("textContent")


def test_an_sos_appears_within_five_seconds_on_top_and_is_acknowledged(board, api):
    order, candidates = api.order_with_candidates()
    nurse_id = candidates[0]["nurse_id"]
    api.call("POST", f"/orders/{order['id']}/assign", json={"nurse_id": nurse_id})
    nurse_phone = api.call("GET", f"/nurses/{nurse_id}")["phone"]
    nurse_token = api.login(nurse_phone, PASSWORD)
    assert board.execute_script("return document.body.dataset.sosBeeps || '0'") == "0"

    sos = api.call("POST", f"/orders/{order['id']}/sos", token=nurse_token,
                   json={"note": "家属情绪激动"})
    raised = time.monotonic()
    item = f'#alerts .alert-item[data-alert-id="{sos["id"]}"]'
    _wait(board, lambda d: _css(d, item), timeout=5)
    assert time.monotonic() - raised < 5
    first = _css(board, "#alerts .alert-item")[0]
    assert first.get_attribute("data-alert-id") == str(sos["id"])  # SOS on top
    assert first.get_attribute("data-kind") == "sos"
    assert _one(board, "#sos-banner").is_displayed()
    assert first.value_of_css_property("background-color") == "rgba(253, 232, 231, 1)"
    assert int(board.execute_script("return document.body.dataset.sosBeeps")) >= 1

    _one(board, f"{item} .ack").click()
    _wait(board, lambda d: _one(d, item).get_attribute("data-status") == "acknowledged")
    assert api.call("GET", f"/alerts/{sos['id']}")["status"] == "acknowledged"
    assert not _css(board, "#sos-banner")  # no open SOS left, the banner is gone


def test_approve_at_the_assessment_gate_then_cancel_with_a_reason(board, api):
    submitted = [o for o in api.board()["unassigned"] if o["status"] == "submitted"]
    order_id = submitted[0]["id"]
    board.execute_script("arguments[0].click()", _one(
        board, f'#queue .queue-item[data-order-id="{order_id}"]'))
    _wait(board, lambda d: _css(d, "#approve-btn"))
    _one(board, "#approve-btn").click()
    _wait(board, lambda d: not _css(d, "#approve-btn") and _css(d, "#cancel-btn"))
    assert api.call("GET", f"/orders/{order_id}")["status"] in ("approved", "offered")

    _one(board, "#action-reason").send_keys("家属改约")
    _one(board, "#cancel-btn").click()
    _wait(board, lambda d: not _css(d, "#cancel-btn"))
    assert api.call("GET", f"/orders/{order_id}")["status"] == "cancelled"
    events = api.call("GET", f"/orders/{order_id}/events")
    assert (events[-1]["to_status"], events[-1]["reason"]) == ("cancelled", "家属改约")
    _wait(board, lambda d: "家属改约" in _one(d, "#detail-body").text)
    _one(board, "#detail-close").click()
    _wait(board, lambda d: not _css(d, f'#queue .queue-item[data-order-id="{order_id}"]'))


def test_plan_the_day_shows_each_nurses_route(board, api):
    _one(board, "#plan-btn").click()
    _wait(board, lambda d: _css(d, "#plan .route"), timeout=60)
    plan = api.call("GET", f"/dispatch/plan?date={api.board()['date']}")
    routes = [r for r in plan["routes"] if r["stops"]]
    assert _ids(board, "#plan .route", "data-nurse-id") == [r["nurse_id"] for r in routes]
    assert routes[0]["nurse_name"] in _one(board, "#plan .route").text
    assert len(_css(board, "#plan div.route:nth-of-type(1) li")) == len(routes[0]["stops"])
    # A route line per nurse on the map, each in a colour of its own (a palette of 12).
    strokes = _attrs(board, "#map .route-line", "stroke")
    assert len(strokes) == len(routes)
    assert len(set(strokes)) == min(len(routes), 12)
    unplanned = _ids(board, ".unplanned li", "data-order-id")
    assert unplanned == [u["order_id"] for u in plan["unplanned"]]


def test_switch_to_english_and_it_stays(board):
    assert _one(board, ".topbar .brand").text == "居家护理调度台"
    _one(board, "#lang-btn").click()
    _wait(board, lambda d: _one(d, ".topbar .brand").text == "Homecare dispatch console")
    assert _one(board, "#plan-btn").text == "Plan the day"
    assert _one(board, '#counts [data-status="submitted"] span').text == "submitted"
    assert board.execute_script("return document.documentElement.lang") == "en"
    board.refresh()
    _wait(board, lambda d: _css(d, "#queue .queue-item"))
    assert _one(board, "#queue-count").find_element("xpath", "..").text.startswith(
        "Waiting for a nurse")


def test_an_expired_access_token_is_refreshed_silently(board):
    board.execute_script("sessionStorage.setItem('homecare.access', 'expired.token.value')")
    _wait(board, lambda d: d.execute_script(
        "return sessionStorage.getItem('homecare.access')") != "expired.token.value")
    _wait(board, lambda d: "ok" in _one(d, "#live").get_attribute("class"))
    assert _one(board, "#app").is_displayed()
    assert not _one(board, "#login").is_displayed()


def test_family_beds_with_their_visits_and_closing_one(board, api):
    _one(board, "#tab-beds").click()
    _wait(board, lambda d: _css(d, "#beds-body tr.bed"))
    beds = api.call("GET", "/family-beds?status=open")
    assert _ids(board, "#beds-body tr.bed", "data-bed-id") == [b["id"] for b in beds]
    rows = _css(board, "#beds-body tr.bed")
    detail = api.call("GET", f"/family-beds/{beds[0]['id']}")
    statuses = [v["status"] for v in detail["visits"]]
    planned = sum(s in ("submitted", "approved", "offered", "assigned", "en_route",
                        "in_service") for s in statuses)
    assert rows[0].find_element("css selector", ".planned").text == str(planned)
    assert rows[0].find_element("css selector", ".done").text == str(statuses.count("completed"))

    # Open one: a recipient without an open bed, her first address, a plan line.
    from selenium.webdriver.support.ui import Select

    taken = {b["patient_id"] for b in beds}
    patient = next(p for p in api.call("GET", "/patients?page_size=100") if p["id"] not in taken)
    _one(board, "#bed-new-btn").click()
    option = f'#bed-form select[name=patient_id] option[value="{patient["id"]}"]'
    _wait(board, lambda d: _css(d, option))
    Select(_one(board, "#bed-form select[name=patient_id]")).select_by_value(str(patient["id"]))
    _wait(board, lambda d: _css(d, "#bed-form select[name=address_id] option"))
    _one(board, "#bed-form input[name=diagnosis]").send_keys("糖尿病足，伤口换药")
    board.execute_script("document.querySelector('#bed-form input[name=end_date]').value = "
                         "'2026-03-30'")
    Select(_one(board, "#bed-form select[name=service_code]")).select_by_value("WO_DRESSING")
    _one(board, "#bed-form button[type=submit]").click()
    _wait(board, lambda d: len(_css(d, "#beds-body tr.bed")) == len(beds) + 1)
    (opened,) = [b for b in api.call("GET", "/family-beds?status=open")
                 if b["patient_id"] == patient["id"]]
    assert (opened["diagnosis"], opened["plan"][0]["weekdays"]) == ("糖尿病足，伤口换药", [1, 3, 5])

    bed = opened["id"]
    _one(board, f'.close-bed[data-bed-id="{bed}"]').click()
    Select(_one(board, f"#close-{bed} .close-reason")).select_by_value("transferred")
    _one(board, f"#close-{bed} .close-summary").send_keys("转门诊随访")
    _one(board, f'.close-submit[data-bed-id="{bed}"]').click()
    _wait(board, lambda d: not _css(d, f'tr.bed[data-bed-id="{bed}"]'))
    closed = api.call("GET", f"/family-beds/{bed}")
    assert (closed["status"], closed["close_reason"]) == ("closed", "transferred")


def test_sign_out(board):
    _one(board, "#logout-btn").click()
    _wait(board, lambda d: _one(d, "#login").is_displayed())
    assert not _one(board, "#app").is_displayed()
    assert board.execute_script("return sessionStorage.getItem('homecare.refresh')") is None

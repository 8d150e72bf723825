"""The webhook channel against a real HTTP receiver on 127.0.0.1: signed delivery, retries
with the same message id after a 500 or a timeout, deduplication by that id, and the
configuration that names each organization's gateway."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler

import pytest

from homecare.config import ConfigError, WebhookTarget, load_config
from homecare.notifications import service
from homecare.notifications.delivery import InMemorySender, WebhookSender
from homecare.notifications.models import Notification
from jobs import relay_notifications
from tests.factories import NotificationFactory
from tests.helpers import local_server

NOW = datetime(2030, 5, 7, 2, 0, tzinfo=UTC)
SECRET = "s3cret-for-org-one-0123456789"
# Only the receiver's answer is awaited this long; nothing is timed.
STALL_GUARD_S = 10


class Receiver:
    """A push gateway: records each request, answers from ``answers`` (204 when empty;
    ``"stall"`` takes the message, then says nothing until released), and keeps the
    messages it processed by id, as a receiver that deduplicates does."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.answers: list[int | str] = []
        self.processed: dict[str, dict] = {}
        self.release = threading.Event()
        self.url = ""

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers["Content-Length"]))
        self.requests.append((dict(handler.headers), body))
        answer = self.answers.pop(0) if self.answers else 204
        if answer == "stall":
            self.processed.setdefault(handler.headers["X-Homecare-Message-Id"],
                                      json.loads(body))
            self.release.wait(STALL_GUARD_S)
            return
        if 200 <= answer < 300:
            self.processed.setdefault(handler.headers["X-Homecare-Message-Id"],
                                      json.loads(body))
        handler.send_response(answer)
        if answer in (301, 302, 303, 307):
            handler.send_header("Location", self.url + "/moved")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    def ids(self) -> list[str]:
        return [headers["X-Homecare-Message-Id"] for headers, _ in self.requests]


@pytest.fixture
def receiver():
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            try:
                receiver.handle(self)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the sender gave up on a stalled answer

        def do_GET(self):  # noqa: N802 (where a followed redirect would land)
            receiver.requests.append((dict(self.headers), b""))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    with local_server(Handler) as url:
        receiver.url = f"{url}/homecare"
        yield receiver
        receiver.release.set()


@pytest.fixture
def webhook(receiver, org, pin_clock):
    """The webhook channel for one relay run, ``org`` posting to the receiver."""
    pin_clock(NOW)

    def make(timeout: float = 2.0, targets=None):
        return WebhookSender(targets=targets or {str(org.id): WebhookTarget(receiver.url,
                                                                           SECRET)},
                             timeout=timeout)

    return make


def _verified(headers: dict[str, str], body: bytes, secret: str = SECRET) -> bool:
    # What a gateway does, written from the README's description, not from our code.
    expected = hmac.new(secret.encode(), headers["X-Homecare-Timestamp"].encode() + b"."
                        + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers["X-Homecare-Signature"], "sha256=" + expected)


def _relay(session, channels, at=NOW):
    return service.relay_pending(session=session, sender=channels, now=at)


def test_a_message_is_posted_to_its_organizations_webhook_signed(session, receiver, webhook,
                                                                 order, owner):
    note = NotificationFactory(user_id=owner.id, kind="nurse_assigned", order_id=order.id,
                               payload={"nurse_name": "王护士", "order_id": order.id})
    assert _relay(session, [webhook()]) == 1
    ((headers, body),) = receiver.requests
    assert _verified(headers, body)
    assert headers["X-Homecare-Message-Id"] == str(note.id)
    assert int(headers["X-Homecare-Timestamp"]) == int(NOW.timestamp())
    assert headers["Content-Type"].startswith("application/json")
    sent = json.loads(body)
    assert sent == {"id": note.id, "kind": "nurse_assigned", "user_id": owner.id,
                    "order_id": order.id, "urgent": False,
                    "payload": {"nurse_name": "王护士", "order_id": order.id},
                    "created_at": note.created_at.isoformat()}
    # Signed with another organization's secret, it would not verify.
    assert not _verified(headers, body, secret="another-organizations-secret")
    row = session.get(Notification, note.id, populate_existing=True)
    assert (row.sent_at, row.delivered_via) == (NOW, "webhook")


def test_a_500_is_retried_later_with_the_same_message_id(session, receiver, webhook, order,
                                                        owner):
    note = NotificationFactory(user_id=owner.id, order_id=order.id)
    receiver.answers = [500]
    assert _relay(session, [webhook()]) == 0
    row = session.get(Notification, note.id, populate_existing=True)
    assert row.sent_at is None and row.next_attempt_at == NOW + timedelta(
        seconds=service.RETRY_FIRST_S)
    assert row.last_error == f"webhook of organization {order.organization_id}: answered 500"
    later = NOW + timedelta(seconds=service.RETRY_FIRST_S)
    assert _relay(session, [webhook()], at=later) == 1
    assert receiver.ids() == [str(note.id), str(note.id)]
    first, second = (body for _, body in receiver.requests)
    assert first == second and all(_verified(h, b) for h, b in receiver.requests)


def test_a_timeout_is_retried_and_the_receiver_dedupes_by_id(session, receiver, webhook,
                                                            order, owner):
    note = NotificationFactory(user_id=owner.id, order_id=order.id)
    receiver.answers = ["stall"]  # takes the message, then never answers in time
    assert _relay(session, [webhook(timeout=0.2)]) == 0
    row = session.get(Notification, note.id, populate_existing=True)
    assert row.sent_at is None and "TimeoutError" in row.last_error
    receiver.release.set()
    later = NOW + timedelta(seconds=service.RETRY_FIRST_S)
    assert _relay(session, [webhook(timeout=0.2)], at=later) == 1
    # It saw the message twice; keyed by the id, it keeps it once.
    assert receiver.ids() == [str(note.id), str(note.id)]
    assert list(receiver.processed) == [str(note.id)]


def test_a_redirect_is_a_failure_not_a_delivery(session, receiver, webhook, order, owner):
    # urllib would follow it as a GET without the body, and count the 200 at the end.
    note = NotificationFactory(user_id=owner.id, order_id=order.id)
    receiver.answers = [302]
    assert _relay(session, [webhook()]) == 0
    assert receiver.ids() == [str(note.id)]
    assert session.get(Notification, note.id, populate_existing=True).last_error.endswith(
        "answered 302")


def test_an_unreachable_gateway_fails_the_rest_of_the_run_at_once(session, receiver, webhook,
                                                                 order, owner):
    notes = [NotificationFactory(user_id=owner.id, order_id=order.id) for _ in range(3)]
    receiver.answers = ["stall"]
    assert _relay(session, [webhook(timeout=0.2)]) == 0
    assert receiver.ids() == [str(notes[0].id)]  # one timeout, not three
    receiver.release.set()
    later = NOW + timedelta(seconds=service.RETRY_FIRST_S)
    assert _relay(session, [webhook()], at=later) == 3


def test_an_organization_without_a_webhook_is_not_posted_unless_there_is_a_default(
        session, receiver, webhook, org, other_org, owner):
    theirs = NotificationFactory(user_id=owner.id, order_id=None)
    assert _relay(session, [webhook()]) == 1  # a patient's account-wide message: no org
    assert receiver.requests == [] and theirs.sent_at == NOW
    catch_all = NotificationFactory(user_id=owner.id)
    assert _relay(session, [webhook(targets={"*": WebhookTarget(receiver.url, SECRET)})]) == 1
    assert receiver.ids() == [str(catch_all.id)]


def test_a_retry_repeats_only_the_channel_that_failed(session, receiver, webhook, order,
                                                     owner):
    note = NotificationFactory(user_id=owner.id, order_id=order.id)
    log = InMemorySender()
    receiver.answers = [503]
    assert _relay(session, [log, webhook()]) == 0
    assert session.get(Notification, note.id, populate_existing=True).delivered_via == "memory"
    later = NOW + timedelta(seconds=service.RETRY_FIRST_S)
    assert _relay(session, [log, webhook()], at=later) == 1
    assert [m.id for m in log.sent] == [note.id]  # not again
    assert session.get(Notification, note.id, populate_existing=True).delivered_via == (
        "memory,webhook")


def test_the_relay_job_posts_by_the_configured_channels(app, session, receiver, order, owner,
                                                        monkeypatch, pin_clock):
    pin_clock(NOW)
    hooks = json.dumps({str(order.organization_id): {"url": receiver.url, "secret": SECRET}})
    monkeypatch.setitem(app.config, "HOMECARE", replace(
        app.config["HOMECARE"], notify_channels=["log", "webhook"], webhooks=hooks))
    note = NotificationFactory(user_id=owner.id, order_id=order.id)
    assert relay_notifications.run(app, NOW) == 1
    assert receiver.ids() == [str(note.id)] and _verified(*receiver.requests[0])


# ---------------------------------------------------------------- configuration


def _config(tmp_path, **environ):
    env = {"HOMECARE_INSTANCE_PATH": str(tmp_path), **environ}
    return load_config(env)


def test_the_default_channel_is_the_log_with_nothing_to_set_up(tmp_path):
    assert _config(tmp_path).notify_channels == ["log"]


@pytest.mark.parametrize(("webhooks", "message"), [
    ("{not json", "not JSON"),
    ('["https://a.example"]', "JSON object"),
    ('{"one": {"url": "https://a.example", "secret": "0123456789abcdef"}}', "organization"),
    ('{"1": {"url": "ftp://a.example", "secret": "0123456789abcdef"}}', "http(s)"),
    ('{"1": {"url": "https://a.example", "secret": "short"}}', "16"),
    ('{"1": {"url": "https://a.example"}}', "secret"),
])
def test_a_malformed_webhooks_setting_stops_the_start_without_quoting_it(tmp_path, webhooks,
                                                                         message):
    with pytest.raises(ConfigError, match="HOMECARE_WEBHOOKS") as raised:
        _config(tmp_path, HOMECARE_NOTIFY_CHANNELS="webhook", HOMECARE_WEBHOOKS=webhooks)
    assert message in str(raised.value)
    assert "0123456789abcdef" not in str(raised.value) and "short" not in str(raised.value)


def test_webhook_channel_without_any_webhook_stops_the_start(tmp_path):
    with pytest.raises(ConfigError, match="HOMECARE_WEBHOOKS"):
        _config(tmp_path, HOMECARE_NOTIFY_CHANNELS="log,webhook")


def test_an_unknown_channel_stops_the_start(tmp_path):
    with pytest.raises(ConfigError, match="HOMECARE_NOTIFY_CHANNELS.*pigeon"):
        _config(tmp_path, HOMECARE_NOTIFY_CHANNELS="log,pigeon")


def test_production_posts_only_to_https(tmp_path):
    with pytest.raises(ConfigError, match="https"):
        _config(tmp_path, HOMECARE_ENV="production", HOMECARE_DATABASE_URL="postgresql://x/y",
                HOMECARE_SECRET_KEY="k" * 64, HOMECARE_DATA_KEY="d",
                HOMECARE_NOTIFY_CHANNELS="webhook",
                HOMECARE_WEBHOOKS='{"1": {"url": "http://push.example", '
                                  '"secret": "0123456789abcdef"}}')


def test_the_secrets_are_not_in_the_configs_repr(tmp_path):
    config = _config(tmp_path, HOMECARE_NOTIFY_CHANNELS="webhook",
                     HOMECARE_WEBHOOKS='{"1": {"url": "https://push.example", '
                                       '"secret": "0123456789abcdef-kept"}}')
    assert "0123456789abcdef-kept" not in repr(config)
    assert "0123456789abcdef-kept" not in repr(WebhookTarget("https://x", "0123456789abcdef"
                                                             "-kept"))

"""Delivery channels for the outbox: the Sender interface, the logging sender, the
organization's webhook (a push gateway), SMS for urgent pages, and a fake.

The relay (``service.relay_pending``) sends each message once by every configured
channel (``channels_for``, HOMECARE_NOTIFY_CHANNELS) and records which took it, so
a retry after one channel failed repeats only that channel: a supervisor's phone
gets an SOS by SMS once, however long her hospital's push gateway is down.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from homecare import outbound
from homecare.accounts.sms import SmsGatewayError, SmsGatewayUnreachable, SmsProvider, provider_for
from homecare.clock import utcnow
from homecare.config import Config, WebhookTarget, webhook_targets

if TYPE_CHECKING:
    from homecare.notifications.models import Notification

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Message:
    """What a channel delivers. ``id`` is stable across retries: receivers drop repeats.

    Beside the notification itself, the relay looks up what routing needs: the
    organization whose gateway carries it (the order's, else the addressee's), the
    addressee's role and, while her account is active, her phone (for SMS only),
    and the channels that already took it on an earlier try.
    """

    id: int
    user_id: int
    kind: str
    urgent: bool
    order_id: int | None
    payload: dict[str, Any]
    created_at: datetime
    organization_id: int | None = None
    role: str | None = None
    phone: str | None = field(default=None, repr=False)
    delivered_via: frozenset[str] = frozenset()
    sms: bool = False
    # A texted page whose addressee can no longer be texted, and nobody else texted
    # for it can be reached: the phones it goes to instead (``service._routing``).
    fallback_phones: tuple[str, ...] = field(default=(), repr=False)

    @classmethod
    def of(cls, notification: Notification, **routing: Any) -> Message:
        return cls(id=notification.id, user_id=notification.user_id, kind=notification.kind,
                   urgent=notification.urgent, sms=notification.sms,
                   order_id=notification.order_id,
                   payload=dict(notification.payload or {}), created_at=notification.created_at,
                   **routing)


class Sender(Protocol):
    """A delivery channel (app push, SMS gateway). ``send`` raises when delivery failed;
    a message the channel has nothing to do with (no gateway for its organization,
    not urgent enough for SMS) returns at once: that channel is done with it.
    ``name`` is what the outbox records once the channel took a message."""

    name: str

    def send(self, message: Message) -> None: ...


class DeliveryFailed(RuntimeError):
    """A channel could not deliver a message; the relay retries it later. The text is
    kept as the row's ``last_error``: it names the channel and why, never a URL,
    phone or secret."""


class LoggingSender:
    """Writes one log line per message: the default channel, needing no set-up.

    Only ids and the kind are logged: payloads may hold free text (a cancellation
    reason) that could contain a phone number or health details.
    """

    name = "log"

    def send(self, message: Message) -> None:
        log.info("notification id=%s user=%s kind=%s order=%s urgent=%s", message.id,
                 message.user_id, message.kind, message.order_id, message.urgent)


@dataclass
class InMemorySender:
    """Records what was sent (tests). Ids in ``fail_ids`` raise, as a broken channel would."""

    sent: list[Message] = field(default_factory=list)
    fail_ids: set[int] = field(default_factory=set)
    name: str = "memory"

    def send(self, message: Message) -> None:
        if message.id in self.fail_ids:
            raise DeliveryFailed(f"{self.name}: refused notification {message.id}")
        self.sent.append(message)


# The webhook's wire format (README "Delivery: the webhook"). A receiver recomputes
# the signature over exactly the bytes it received, prefixed by the timestamp header,
# so re-encoding the JSON on either side cannot break it.
MESSAGE_ID_HEADER = "X-Homecare-Message-Id"
TIMESTAMP_HEADER = "X-Homecare-Timestamp"
SIGNATURE_HEADER = "X-Homecare-Signature"


def webhook_body(message: Message) -> bytes:
    """The JSON a webhook receives: the message, and nothing of the routing."""
    return json.dumps({
        "id": message.id, "kind": message.kind, "user_id": message.user_id,
        "order_id": message.order_id, "urgent": message.urgent, "payload": message.payload,
        "created_at": message.created_at.isoformat()},
        ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=`` and the hex HMAC-SHA256, keyed by the secret, of ``timestamp.body``."""
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body,
                      hashlib.sha256).hexdigest()
    return "sha256=" + digest


@dataclass
class WebhookSender:
    """POSTs each message, signed, to its organization's webhook (else the ``*`` one).

    The stdlib's urllib, not an HTTP library: one signed POST with a timeout is all
    this needs and no HTTP client is among the service's dependencies. ``timeout``
    bounds the connect and every read. A non-2xx answer, a redirect, a timeout or a
    refused connection raises ``DeliveryFailed`` and the outbox retries the message
    (same id) later. Built for one relay run: once a gateway cannot be reached, the
    rest of the run's messages for it fail at once rather than each waiting out the
    timeout ahead of an SOS.
    """

    targets: dict[str, WebhookTarget]
    timeout: float
    clock: Callable[[], datetime] = utcnow
    name: ClassVar[str] = "webhook"

    def __post_init__(self) -> None:
        self._opener = outbound.opener()
        self._unreachable: set[str] = set()

    def send(self, message: Message) -> None:
        key = str(message.organization_id)
        target = self.targets.get(key) or self.targets.get("*")
        if target is None:
            return  # this organization has no push gateway
        where = f"webhook of organization {message.organization_id}"
        if target.url in self._unreachable:
            raise DeliveryFailed(f"{where}: unreachable earlier in this run")
        body = webhook_body(message)
        timestamp = str(int(self.clock().timestamp()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "homecare-webhook/1",
            MESSAGE_ID_HEADER: str(message.id),
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: webhook_signature(target.secret, timestamp, body)}
        try:
            # Its answer means nothing to us beyond 2xx.
            outbound.post(self._opener, target.url, body, headers, timeout=self.timeout)
        except outbound.PostRefused as exc:
            raise DeliveryFailed(f"{where}: answered {exc.status}") from None
        except outbound.PostUnreachable as exc:
            self._unreachable.add(target.url)
            raise DeliveryFailed(f"{where}: {exc}") from None


# How long one relay run may spend texting: no send starts after it, and the one
# in flight is bounded by HOMECARE_SMS_TIMEOUT_SECONDS (at most 30), so the run ends
# well inside the claim's lease (``service.CLAIM_LEASE_S``, 120 s) and no other
# relay takes its rows over and texts them a second time.
SMS_RUN_BUDGET_S = 30.0


@dataclass
class SmsAlertSender:
    """Urgent pages to a supervisor (an SOS, a cancellation after departure) also go
    to her phone, through the SMS provider that sends verification codes.

    Which pages are texted was decided when each was written (the message's
    ``sms``): those to the supervisors on duty at that moment, or to every active
    supervisor when nobody was (``duty.service.texted_supervisors``); the others
    still reach the app. Others' messages and non-urgent ones are not this
    channel's. The text is a template (the kind) filled with ids only. A page whose
    supervisor was deactivated since goes to the message's ``fallback_phones``
    (a retry after one of them failed texts them all again: twice beats never).

    Built for one relay run, like ``WebhookSender``: once the gateway timed out or
    could not be reached, the rest of the run's texts fail at once (retried on a
    later run) rather than each waiting out the timeout while the SOSes behind them
    wait; and after ``budget_s`` of texting no further text starts this run.
    """

    provider: SmsProvider
    budget_s: float = SMS_RUN_BUDGET_S
    # monotonic, not the service clock: this bounds how long the run takes.
    monotonic: Callable[[], float] = time.monotonic
    name: ClassVar[str] = "sms"

    def __post_init__(self) -> None:
        self._unreachable = False
        self._deadline: float | None = None

    def send(self, message: Message) -> None:
        if not (message.urgent and message.sms and message.role == "supervisor"):
            return
        phones = (message.phone,) if message.phone else message.fallback_phones
        if not phones:
            return
        if self._unreachable:
            raise DeliveryFailed("sms: unreachable earlier in this run")
        if self._deadline is None:
            self._deadline = self.monotonic() + self.budget_s
        elif self.monotonic() >= self._deadline:
            raise DeliveryFailed("sms: out of time in this run")
        params = {"order_id": str(message.order_id or ""),
                  "alert": str(message.payload.get("kind") or ""),
                  "severity": str(message.payload.get("severity") or "")}
        try:
            for phone in phones:
                self.provider.send_alert(phone=phone, kind=message.kind, params=params)
        except SmsGatewayUnreachable as exc:
            self._unreachable = True
            raise DeliveryFailed(f"sms: {exc}") from None
        except SmsGatewayError as exc:  # its text names the cause, never a phone or key
            raise DeliveryFailed(f"sms: {exc}") from None
        except OSError as exc:  # another provider's timeout or refused connection
            self._unreachable = True
            raise DeliveryFailed(f"sms: {type(exc).__name__}") from None
        except Exception as exc:  # whatever else a provider raises: retry later
            raise DeliveryFailed(f"sms: {type(exc).__name__}") from None


def channels_for(config: Config, *, sms_provider: SmsProvider | None = None) -> list[Sender]:
    """The channels HOMECARE_NOTIFY_CHANNELS names, in its order, built for one relay run.

    :raises SmsUnavailable: ``sms`` is configured but no SMS provider is.
    """
    channels: list[Sender] = []
    for name in config.notify_channels:
        if name == "log":
            channels.append(LoggingSender())
        elif name == "webhook":
            channels.append(WebhookSender(targets=webhook_targets(config),
                                          timeout=config.webhook_timeout_seconds))
        elif name == "sms":
            channels.append(SmsAlertSender(sms_provider or provider_for(config)))
    return channels

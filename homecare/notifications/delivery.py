"""Delivery channels for the outbox: the Sender interface, a logging sender and a fake."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from homecare.notifications.models import Notification

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Message:
    """What a channel delivers. ``id`` is stable across retries: receivers drop repeats."""

    id: int
    user_id: int
    kind: str
    urgent: bool
    order_id: int | None
    payload: dict[str, Any]
    created_at: datetime

    @classmethod
    def of(cls, notification: Notification) -> Message:
        return cls(id=notification.id, user_id=notification.user_id, kind=notification.kind,
                   urgent=notification.urgent, order_id=notification.order_id,
                   payload=dict(notification.payload or {}), created_at=notification.created_at)


class Sender(Protocol):
    """A delivery channel (app push, SMS gateway). ``send`` raises when delivery failed."""

    def send(self, message: Message) -> None: ...


class LoggingSender:
    """Writes one log line per message: the channel until a push or SMS gateway is wired in.

    Only ids and the kind are logged: payloads may hold free text (a cancellation
    reason) that could contain a phone number or health details.
    """

    def send(self, message: Message) -> None:
        log.info("notification id=%s user=%s kind=%s order=%s urgent=%s", message.id,
                 message.user_id, message.kind, message.order_id, message.urgent)


@dataclass
class InMemorySender:
    """Records what was sent (tests). Ids in ``fail_ids`` raise, as a broken channel would."""

    sent: list[Message] = field(default_factory=list)
    fail_ids: set[int] = field(default_factory=set)

    def send(self, message: Message) -> None:
        if message.id in self.fail_ids:
            raise DeliveryFailed(f"channel refused notification {message.id}")
        self.sent.append(message)


class DeliveryFailed(RuntimeError):
    """A channel could not deliver a message; the relay retries it later."""

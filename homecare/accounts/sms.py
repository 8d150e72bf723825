"""SMS verification codes: sent through a provider, kept as keyed digests, limited.

A code proves the phone on registration and on a password reset. ``request_code``
answers the same whether or not the phone has an account (202), so it tells a
stranger nothing; limits: one code a minute and ``sms_max_per_phone_per_day`` a
day per phone, ``sms_max_per_ip_per_hour`` per address. A code is valid for
``sms_code_minutes`` and dies after ``MAX_WRONG_TRIES`` wrong tries.

Providers: ``log`` (development: one log line ``sms_code_sent`` with the masked
phone and the code, so a local user and an end-to-end test can read it). A real
gateway is one class with ``send_code`` and ``send_alert`` registered in
``PROVIDERS``: an Aliyun SMS adapter calls dysmsapi ``SendSms`` (template with
``${code}``), a Tencent Cloud one ``sms.SendSms``; the provider's credentials come
from its own ``HOMECARE_SMS_*`` settings. In production with no provider
configured, codes cannot be sent (503 ``sms_unavailable``).

The same provider carries urgent alerts (an SOS) to supervisors' phones:
``send_alert`` with a ``kind`` that picks the gateway's pre-approved template
(mainland gateways send templates only) and short ``params`` to fill it; the
notifications relay calls it (``notifications.delivery.SmsAlertSender``).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from homecare.accounts.models import SmsCode
from homecare.accounts.throttle import lock_keys, seconds_until_allowed
from homecare.config import Config
from homecare.db import atomic
from homecare.errors import Problem, TooManyRequests, ValidationProblem
from homecare.schemas import mask_phone

log = logging.getLogger(__name__)

PURPOSES = ("register", "reset_password")
MAX_WRONG_TRIES = 5
MIN_INTERVAL = timedelta(seconds=60)


class SmsProvider(Protocol):
    """An SMS gateway. Each method raises when the gateway refused the message."""

    def send_code(self, *, phone: str, code: str, purpose: str) -> None: ...

    def send_alert(self, *, phone: str, kind: str, params: dict[str, str]) -> None:
        """An urgent alert: ``kind`` picks the template, ``params`` fill it (ids and
        short codes only, never free text: that may hold health details)."""
        ...


class LogSmsProvider:
    """Development: the code goes to the log (event ``sms_code_sent``), not to a phone."""

    def send_code(self, *, phone: str, code: str, purpose: str) -> None:
        log.info("sms_code_sent phone=%s purpose=%s code=%s", mask_phone(phone), purpose, code,
                 extra={"event": "sms_code_sent", "sms_code": code})

    def send_alert(self, *, phone: str, kind: str, params: dict[str, str]) -> None:
        log.info("sms_alert_sent phone=%s kind=%s params=%s", mask_phone(phone), kind,
                 " ".join(f"{k}={v}" for k, v in sorted(params.items())),
                 extra={"event": "sms_alert_sent"})


@dataclass
class InMemorySmsProvider:
    """Records what would have been sent (tests); ``fail`` makes every send raise."""

    codes: list[tuple[str, str, str]] = field(default_factory=list)
    alerts: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    fail: bool = False

    def send_code(self, *, phone: str, code: str, purpose: str) -> None:
        self._check()
        self.codes.append((phone, code, purpose))

    def send_alert(self, *, phone: str, kind: str, params: dict[str, str]) -> None:
        self._check()
        self.alerts.append((phone, kind, dict(params)))

    def _check(self) -> None:
        if self.fail:
            raise SmsGatewayError("the gateway refused the message")


class SmsGatewayError(RuntimeError):
    """The SMS gateway did not accept a message."""


# Register Aliyun / Tencent Cloud adapters here (see the module docstring).
PROVIDERS: dict[str, type] = {"log": LogSmsProvider}


class SmsUnavailable(Problem):
    status, code, title = 503, "sms_unavailable", "SMS codes cannot be sent"


class SmsRateLimited(TooManyRequests):
    code, title = "sms_rate_limited", "Too many verification codes requested"


class SmsCodeInvalid(ValidationProblem):
    code, title = "sms_code_invalid", "The verification code is wrong or expired"


def provider_for(config: Config) -> SmsProvider:
    """The configured provider. :raises SmsUnavailable: none is configured."""
    cls = PROVIDERS.get(config.sms_provider)
    if cls is None:
        raise SmsUnavailable(f"no SMS provider {config.sms_provider!r} is configured")
    return cls()


def _digest(secret_key: str, kind: str, value: str) -> str:
    # Keyed: a copy of the table does not give back phones (or codes, 10^6 of them).
    return hmac.new(secret_key.encode(), f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


@atomic
def request_code(*, session: Session, config: Config, phone: str, purpose: str,
                 ip: str | None, now: datetime, provider: SmsProvider) -> None:
    """Send a 6-digit code to ``phone`` for ``purpose`` (whether or not it has an account).

    :raises SmsRateLimited: (429, Retry-After) a phone or address limit is reached.
    """
    phone_key = _digest(config.secret_key, "phone", phone)
    ip_key = _digest(config.secret_key, "ip", ip or "unknown")
    lock_keys(session, ["sms:" + phone_key, "sms:" + ip_key])
    day, hour = timedelta(days=1), timedelta(hours=1)
    sent = list(session.scalars(sa.select(SmsCode.created_at).where(
        SmsCode.phone_key == phone_key, SmsCode.created_at > now - day)))
    from_ip = list(session.scalars(sa.select(SmsCode.created_at).where(
        SmsCode.ip_key == ip_key, SmsCode.created_at > now - hour)))
    waits = [w for w in (
        seconds_until_allowed(sorted(t for t in sent if t > now - MIN_INTERVAL), 1, now=now,
                              window=MIN_INTERVAL),
        seconds_until_allowed(sorted(sent), config.sms_max_per_phone_per_day, now=now,
                              window=day),
        seconds_until_allowed(sorted(from_ip), config.sms_max_per_ip_per_hour, now=now,
                              window=hour)) if w is not None]
    if waits:
        retry = max(waits)
        raise SmsRateLimited(f"try again in {retry} seconds",
                             headers={"Retry-After": str(retry)}, retry_after=retry)
    code = f"{secrets.randbelow(10**6):06d}"
    session.add(SmsCode(phone_key=phone_key, ip_key=ip_key, purpose=purpose,
                        code_hash=_digest(config.secret_key, "code:" + phone_key, code),
                        created_at=now,
                        expires_at=now + timedelta(minutes=config.sms_code_minutes)))
    session.commit()
    provider.send_code(phone=phone, code=code, purpose=purpose)


@atomic
def consume_code(*, session: Session, config: Config, phone: str, purpose: str, code: str,
                 now: datetime) -> None:
    """Check the latest code sent to ``phone`` for ``purpose`` and use it up (no commit
    on success; a wrong try is committed, so it counts even though the request fails).

    :raises SmsCodeInvalid: (422) no live code, a wrong one, or too many wrong tries.
    """
    phone_key = _digest(config.secret_key, "phone", phone)
    lock_keys(session, ["sms:" + phone_key])
    row = session.scalar(sa.select(SmsCode).where(
        SmsCode.phone_key == phone_key, SmsCode.purpose == purpose)
        .order_by(SmsCode.created_at.desc(), SmsCode.id.desc()).limit(1))
    if (row is None or row.used_at is not None or row.expires_at <= now
            or row.attempts >= MAX_WRONG_TRIES):
        raise SmsCodeInvalid("request a new code", errors={"sms_code": ["no valid code"]})
    expected = _digest(config.secret_key, "code:" + phone_key, code)
    if not hmac.compare_digest(expected, row.code_hash):
        row.attempts += 1
        left = MAX_WRONG_TRIES - row.attempts
        session.commit()
        raise SmsCodeInvalid(f"wrong code; {left} tries left" if left else "request a new code",
                             errors={"sms_code": ["wrong code"]})
    row.used_at = now

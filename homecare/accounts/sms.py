"""SMS verification codes: sent through a provider, kept as keyed digests, limited.

A code proves the phone on registration and on a password reset. ``request_code``
answers the same whether or not the phone has an account (202), so it tells a
stranger nothing; limits: one code a minute and ``sms_max_per_phone_per_day`` a
day per phone, ``sms_max_per_ip_per_hour`` per address. A code is valid for
``sms_code_minutes`` and dies after ``MAX_WRONG_TRIES`` wrong tries.

Providers: ``log`` (development: one log line ``sms_code_sent`` with the masked
phone and the code, so a local user and an end-to-end test can read it) and
``aliyun`` (Alibaba Cloud SMS, ``AliyunSmsProvider``: dysmsapi ``SendSms`` with a
template per message kind; its settings are ``HOMECARE_SMS_ALIYUN_*``). Another
gateway (Tencent Cloud ``sms.SendSms``) is one more class with ``send_code`` and
``send_alert`` registered in ``PROVIDERS``. In production with no provider
configured, or when the gateway does not take a code, codes cannot be sent (503
``sms_unavailable``).

The same provider carries urgent alerts (an SOS) to supervisors' phones:
``send_alert`` with a ``kind`` that picks the gateway's pre-approved template
(mainland gateways send templates only) and short ``params`` to fill it; the
notifications relay calls it (``notifications.delivery.SmsAlertSender``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from homecare import outbound
from homecare.accounts.models import SmsCode
from homecare.accounts.throttle import lock_keys, seconds_until_allowed
from homecare.clock import utcnow
from homecare.config import Config, sms_templates
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
    """The SMS gateway did not accept a message. The text names why (the gateway's
    error code, an HTTP status, a timeout), never a phone number or a key."""


class SmsGatewayUnreachable(SmsGatewayError):
    """The gateway could not be reached or did not answer in time: the next message
    would most likely wait as long, so a relay run stops texting until its next run."""


def aliyun_percent_encode(value: str) -> str:
    """Alibaba Cloud's RPC encoding: UTF-8, every byte but A-Z a-z 0-9 - _ . ~ as %XX
    (upper-case hex), so a space is %20 (not +), ``*`` is %2A and ``~`` stays."""
    return urllib.parse.quote(value, safe="-_.~")


def aliyun_signature(method: str, params: dict[str, str], secret: str) -> str:
    """Signature version 1.0: Base64(HMAC-SHA1(secret + "&", StringToSign)), where
    StringToSign is ``METHOD&%2F&`` and the encoded, sorted, encoded-again query."""
    canonical = "&".join(f"{aliyun_percent_encode(k)}={aliyun_percent_encode(v)}"
                         for k, v in sorted(params.items()))
    to_sign = "&".join((method, aliyun_percent_encode("/"), aliyun_percent_encode(canonical)))
    digest = hmac.new((secret + "&").encode("utf-8"), to_sign.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(digest.digest()).decode("ascii")


@dataclass
class AliyunSmsProvider:
    """Alibaba Cloud SMS: one ``SendSms`` call (API version 2017-05-25) per message.

    Signed by hand (RPC signature version 1.0, ``aliyun_signature``) over the stdlib's
    urllib, not with Alibaba's SDK: ``alibabacloud-dysmsapi20170525`` brings 29
    packages (aiohttp, requests, its own credentials chain and another APScheduler
    pin) for one signed POST, and its endpoint is a host name, while this takes a
    full URL a test can point at a local receiver. The form goes in a POST body,
    so a phone number never sits in a URL (a proxy's access log).

    A non-``OK`` ``Code`` in the answer, an HTTP error, a redirect, a timeout or a
    refused connection raises ``SmsGatewayError`` naming only the cause: the outbox
    retries a page, a code request answers 503. SendSms is not idempotent: a
    timeout after the gateway took a page may text it twice on the retry, which an
    SOS can afford and silence cannot. Logs carry the kind, template and Aliyun's
    request id, never the phone or the key.
    """

    access_key_id: str = field(repr=False)
    access_key_secret: str = field(repr=False)
    sign_name: str
    templates: dict[str, str]
    endpoint: str = "https://dysmsapi.aliyuncs.com/"
    region: str = "cn-hangzhou"
    timeout: float = 5.0
    clock: Callable[[], datetime] = utcnow

    @classmethod
    def from_config(cls, config: Config) -> AliyunSmsProvider:
        # Stripped as the startup check strips them: a key pasted with a newline
        # (a mounted secret file) would otherwise sign every request wrongly.
        return cls(access_key_id=config.sms_aliyun_access_key_id.strip(),
                   access_key_secret=config.sms_aliyun_access_key_secret.strip(),
                   sign_name=config.sms_aliyun_sign_name.strip(),
                   templates=sms_templates(config), endpoint=config.sms_aliyun_endpoint,
                   region=config.sms_aliyun_region.strip(), timeout=config.sms_timeout_seconds)

    def __post_init__(self) -> None:
        self._opener = outbound.opener()

    def send_code(self, *, phone: str, code: str, purpose: str) -> None:
        template = self.templates.get(purpose) or self.templates["code"]
        self._send(phone, template, {"code": code}, kind=purpose)

    def send_alert(self, *, phone: str, kind: str, params: dict[str, str]) -> None:
        template = self.templates.get(kind) or self.templates["alert"]
        # Aliyun takes string values only (isv.INVALID_JSON_PARAM otherwise), and an
        # empty one would leave a gap in the text ("订单 的告警"): a dash reads better.
        values = {key: str(value) or "-" for key, value in params.items()}
        self._send(phone, template, values, kind=kind)

    def signed_form(self, phone: str, template: str, values: dict[str, str]) -> dict[str, str]:
        """Every parameter of one SendSms request, the signature included."""
        params = {
            "AccessKeyId": self.access_key_id, "Action": "SendSms", "Format": "JSON",
            "RegionId": self.region, "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": uuid.uuid4().hex, "SignatureVersion": "1.0",
            "Timestamp": self.clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": "2017-05-25", "PhoneNumbers": phone, "SignName": self.sign_name,
            "TemplateCode": template,
            "TemplateParam": json.dumps(values, ensure_ascii=False, separators=(",", ":"))}
        params["Signature"] = aliyun_signature("POST", params, self.access_key_secret)
        return params

    def _send(self, phone: str, template: str, values: dict[str, str], *, kind: str) -> None:
        form = self.signed_form(phone, template, values)
        body = "&".join(f"{aliyun_percent_encode(k)}={aliyun_percent_encode(v)}"
                        for k, v in form.items()).encode("ascii")
        headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
                   "Accept": "application/json", "User-Agent": "homecare-sms/1"}
        try:
            answer = outbound.post(self._opener, self.endpoint, body, headers,
                                   timeout=self.timeout, read_refusal=True)
        except outbound.PostRefused as exc:
            if exc.answer is None:
                # The error answer stalled or broke off: as slow as no answer.
                raise SmsGatewayUnreachable(f"aliyun answered {exc.status}") from None
            # Aliyun answers a refused signature or key with 4xx and a JSON Code.
            code = _answer_code(exc.answer)
            raise SmsGatewayError(f"aliyun answered {exc.status}"
                                  + (f" {code}" if code else "")) from None
        except outbound.PostUnreachable as exc:
            raise SmsGatewayUnreachable(f"aliyun unreachable: {exc}") from None
        code = _answer_code(answer)
        if code != "OK":
            raise SmsGatewayError(f"aliyun refused: {code or 'no Code in the answer'}")
        log.info("sms_sent provider=aliyun kind=%s template=%s request_id=%s", kind, template,
                 _answer_field(answer, "RequestId"), extra={"event": "sms_sent"})


def _answer_field(answer: bytes, name: str) -> str | None:
    try:
        value = json.loads(answer).get(name)
    except (ValueError, AttributeError):
        return None
    # Only a short token: the gateway's Message may quote what was sent.
    return value[:80] if isinstance(value, str) and value.isprintable() else None


def _answer_code(answer: bytes) -> str | None:
    return _answer_field(answer, "Code")


PROVIDERS: dict[str, Callable[[Config], SmsProvider]] = {
    "log": lambda config: LogSmsProvider(),
    "aliyun": AliyunSmsProvider.from_config,
}


class SmsUnavailable(Problem):
    status, code, title = 503, "sms_unavailable", "SMS codes cannot be sent"


class SmsRateLimited(TooManyRequests):
    code, title = "sms_rate_limited", "Too many verification codes requested"


class SmsCodeInvalid(ValidationProblem):
    code, title = "sms_code_invalid", "The verification code is wrong or expired"


def provider_for(config: Config) -> SmsProvider:
    """The configured provider. :raises SmsUnavailable: none is configured."""
    make = PROVIDERS.get(config.sms_provider)
    if make is None:
        raise SmsUnavailable(f"no SMS provider {config.sms_provider!r} is configured")
    return make(config)


def _digest(secret_key: str, kind: str, value: str) -> str:
    # Keyed: a copy of the table does not give back phones (or codes, 10^6 of them).
    return hmac.new(secret_key.encode(), f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


@atomic
def request_code(*, session: Session, config: Config, phone: str, purpose: str,
                 ip: str | None, now: datetime, provider: SmsProvider) -> None:
    """Send a 6-digit code to ``phone`` for ``purpose`` (whether or not it has an account).

    :raises SmsRateLimited: (429, Retry-After) a phone or address limit is reached.
    :raises SmsUnavailable: (503, Retry-After) the gateway did not take the code.
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
    try:
        provider.send_code(phone=phone, code=code, purpose=purpose)
    except Exception as exc:
        # The code stays counted (one a minute): a gateway that is down is not
        # hammered by clients retrying at once. Whatever a provider raises is the
        # gateway not taking the code (503), never a 500; an SmsGatewayError's text
        # names the cause without a phone or key, any other only by its type.
        cause = exc if isinstance(exc, SmsGatewayError) else type(exc).__name__
        log.warning("sms code not sent: %s", cause)
        raise SmsUnavailable("the SMS gateway did not take the code; try again later",
                             headers={"Retry-After": str(int(MIN_INTERVAL.total_seconds()))},
                             ) from None


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

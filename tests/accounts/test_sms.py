"""SMS verification codes on a clock the test sets: validity, daily limit, provider."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from homecare.accounts import sms
from homecare.config import ConfigError, load_config

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
PHONE = "13712349999"


class Outbox:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def send_code(self, *, phone: str, code: str, purpose: str) -> None:
        self.sent.append(code)


def _send(session, config, outbox, now, phone=PHONE, ip="10.0.0.1"):
    sms.request_code(session=session, config=config, phone=phone, purpose="register",
                     ip=ip, now=now, provider=outbox)
    return outbox.sent[-1]


def _use(session, config, code, now):
    sms.consume_code(session=session, config=config, phone=PHONE, purpose="register",
                     code=code, now=now)


def test_code_is_valid_for_its_minutes_only(session, config):
    outbox = Outbox()
    code = _send(session, config, outbox, T0)
    with pytest.raises(sms.SmsCodeInvalid):
        _use(session, config, code, T0 + timedelta(minutes=config.sms_code_minutes))
    code = _send(session, config, outbox, T0 + timedelta(minutes=10))
    _use(session, config, code, T0 + timedelta(minutes=14, seconds=59))


def test_one_code_a_minute_and_a_daily_limit_per_phone(session, config):
    outbox = Outbox()
    config = replace(config, sms_max_per_ip_per_hour=1000)
    _send(session, config, outbox, T0)
    with pytest.raises(sms.SmsRateLimited) as limited:
        _send(session, config, outbox, T0 + timedelta(seconds=59))
    assert limited.value.extensions["retry_after"] == 1
    for n in range(1, config.sms_max_per_phone_per_day):
        _send(session, config, outbox, T0 + timedelta(minutes=n))
    with pytest.raises(sms.SmsRateLimited) as limited:
        _send(session, config, outbox, T0 + timedelta(hours=20))
    assert limited.value.extensions["retry_after"] == 4 * 3600
    _send(session, config, outbox, T0 + timedelta(days=1, seconds=1))


def test_log_provider_is_refused_in_production():
    with pytest.raises(ConfigError, match="HOMECARE_SMS_PROVIDER"):
        load_config(environ={"HOMECARE_ENV": "production", "HOMECARE_DATABASE_URL": "x",
                             "HOMECARE_SECRET_KEY": "s", "HOMECARE_DATA_KEY": "k",
                             "HOMECARE_SMS_PROVIDER": "log"})


def test_production_without_a_provider_cannot_send_codes():
    config = load_config(environ={"HOMECARE_ENV": "production", "HOMECARE_DATABASE_URL": "x",
                                  "HOMECARE_SECRET_KEY": "s", "HOMECARE_DATA_KEY": "k"})
    with pytest.raises(sms.SmsUnavailable):
        sms.provider_for(config)


def test_log_provider_is_the_development_default(tmp_path):
    config = load_config(environ={"HOMECARE_INSTANCE_PATH": str(tmp_path)})
    assert isinstance(sms.provider_for(config), sms.LogSmsProvider)

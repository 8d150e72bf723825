"""Alibaba Cloud SMS (HOMECARE_SMS_PROVIDER=aliyun) against a local gateway that checks
the documented signature: verification codes through the HTTP API, gateway errors,
and the settings the service refuses to start without."""

from __future__ import annotations

import json
import logging
from dataclasses import replace

import pytest

from homecare.accounts import sms
from homecare.alerts.models import ALERT_KINDS
from homecare.config import SMS_PROVIDERS, SMS_TEMPLATE_KINDS, ConfigError, load_config
from homecare.notifications.service import ORDER_EVENT_RULES
from tests.fixtures.aliyun import ACCESS_KEY_ID, ACCESS_KEY_SECRET, SIGN_NAME, TEMPLATES
from tests.helpers import API, NOW

PHONE = "13912345678"


def _provider(gateway, **kwargs):
    return sms.AliyunSmsProvider(access_key_id=ACCESS_KEY_ID,
                                 access_key_secret=ACCESS_KEY_SECRET, sign_name=SIGN_NAME,
                                 templates={"code": "SMS_1", "alert": "SMS_2"},
                                 endpoint=gateway.url, **kwargs)


def test_the_signature_is_the_published_example():
    # Alibaba Cloud's documented RPC example (DescribeRegions, secret "testsecret").
    params = {"AccessKeyId": "testid", "Action": "DescribeRegions", "Format": "XML",
              "SignatureMethod": "HMAC-SHA1",
              "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
              "SignatureVersion": "1.0", "Timestamp": "2016-02-23T12:46:24Z",
              "Version": "2014-05-26"}
    assert sms.aliyun_signature("GET", params, "testsecret") == "OLeaidS1JvxuMvnyHOwuJ+uX5qY="


def test_percent_encoding_follows_the_rpc_rules():
    assert sms.aliyun_percent_encode("a b*c~d/e+f=济") == "a%20b%2Ac~d%2Fe%2Bf%3D%E6%B5%8E"


def test_a_code_requested_through_the_api_reaches_aliyun_signed(aliyun_app, client,
                                                                aliyun_gateway):
    r = client.post(f"{API}/auth/sms-code", json={"phone": PHONE, "purpose": "register"})
    assert r.status_code == 202, r.get_json()
    (form,) = aliyun_gateway.sent()
    code = json.loads(form["TemplateParam"])["code"]
    assert len(code) == 6 and code.isdigit()
    assert {k: form[k] for k in ("Action", "Version", "Format", "SignatureMethod",
                                 "SignatureVersion", "AccessKeyId", "RegionId", "PhoneNumbers",
                                 "SignName", "TemplateCode", "Timestamp")} == {
        "Action": "SendSms", "Version": "2017-05-25", "Format": "JSON",
        "SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0",
        "AccessKeyId": ACCESS_KEY_ID, "RegionId": "cn-hangzhou", "PhoneNumbers": PHONE,
        "SignName": SIGN_NAME, "TemplateCode": "SMS_100000001",
        "Timestamp": NOW.strftime("%Y-%m-%dT%H:%M:%SZ")}
    # The code that reached the phone is the one the service accepts.
    r = client.post(f"{API}/auth/register", json={"phone": PHONE, "sms_code": code,
                                                   "password": "correct-horse-9",
                                                   "name": "王芳"})
    assert r.status_code == 201, r.get_json()


def test_a_purpose_with_its_own_template_uses_it(aliyun_app, client, aliyun_gateway):
    client.post(f"{API}/auth/sms-code", json={"phone": PHONE, "purpose": "reset_password"})
    assert [f["TemplateCode"] for f in aliyun_gateway.sent()] == ["SMS_100000002"]


def test_a_code_the_gateway_refuses_is_503(aliyun_app, client, aliyun_gateway):
    aliyun_gateway.answers.append("isv.BUSINESS_LIMIT_CONTROL")
    r = client.post(f"{API}/auth/sms-code", json={"phone": PHONE, "purpose": "register"})
    assert r.status_code == 503, r.get_json()
    assert r.mimetype == "application/problem+json"
    assert r.get_json()["code"] == "sms_unavailable" and r.headers["Retry-After"] == "60"


def test_the_log_names_neither_the_phone_nor_the_secret(aliyun_app, client, aliyun_gateway,
                                                        caplog):
    with caplog.at_level(logging.DEBUG):
        client.post(f"{API}/auth/sms-code", json={"phone": PHONE, "purpose": "register"})
        aliyun_gateway.answers.append(503)
        with pytest.raises(sms.SmsGatewayError):
            _provider(aliyun_gateway).send_alert(phone=PHONE, kind="alert_sos", params={})
    assert "sms_sent provider=aliyun kind=register" in caplog.text
    assert PHONE not in caplog.text and ACCESS_KEY_SECRET not in caplog.text


@pytest.mark.parametrize(("answer", "error"), [
    ("isv.AMOUNT_NOT_ENOUGH", "aliyun refused: isv.AMOUNT_NOT_ENOUGH"),
    (500, "aliyun answered 500 ServiceUnavailable"),
])
def test_a_gateway_refusal_is_an_sms_gateway_error(aliyun_gateway, answer, error):
    aliyun_gateway.answers.append(answer)
    with pytest.raises(sms.SmsGatewayError, match=f"^{error}$"):
        _provider(aliyun_gateway).send_alert(phone=PHONE, kind="alert_sos",
                                             params={"order_id": "7"})


def test_a_wrong_secret_is_an_sms_gateway_error(aliyun_gateway):
    provider = replace(_provider(aliyun_gateway), access_key_secret="not-the-secret")
    with pytest.raises(sms.SmsGatewayError, match="400 SignatureDoesNotMatch"):
        provider.send_code(phone=PHONE, code="123456", purpose="register")


def test_a_gateway_that_does_not_answer_in_time_is_an_sms_gateway_error(aliyun_gateway):
    aliyun_gateway.answers.append("stall")
    with pytest.raises(sms.SmsGatewayError, match="unreachable: TimeoutError"):
        _provider(aliyun_gateway, timeout=0.2).send_code(phone=PHONE, code="123456",
                                                         purpose="register")


def test_a_gateway_that_is_down_is_an_sms_gateway_error():
    provider = sms.AliyunSmsProvider(access_key_id="id", access_key_secret="s", sign_name="x",
                                     templates={"code": "SMS_1", "alert": "SMS_2"},
                                     endpoint="http://127.0.0.1:9/", timeout=1.0)
    with pytest.raises(sms.SmsGatewayError, match="unreachable: ConnectionRefusedError"):
        provider.send_code(phone=PHONE, code="123456", purpose="register")


def test_alert_values_are_strings_and_never_empty(aliyun_gateway):
    _provider(aliyun_gateway).send_alert(phone=PHONE, kind="order_cancelled_after_departure",
                                         params={"order_id": "42", "alert": "",
                                                 "severity": ""})
    (form,) = aliyun_gateway.sent()
    assert form["TemplateCode"] == "SMS_2"
    assert json.loads(form["TemplateParam"]) == {"order_id": "42", "alert": "-",
                                                 "severity": "-"}


_ALIYUN = {"HOMECARE_SMS_PROVIDER": "aliyun",
           "HOMECARE_SMS_ALIYUN_ACCESS_KEY_ID": ACCESS_KEY_ID,
           "HOMECARE_SMS_ALIYUN_ACCESS_KEY_SECRET": ACCESS_KEY_SECRET,
           "HOMECARE_SMS_ALIYUN_SIGN_NAME": SIGN_NAME,
           "HOMECARE_SMS_ALIYUN_TEMPLATES": ",".join(TEMPLATES)}


def test_aliyun_settings_build_the_provider(tmp_path):
    config = load_config(environ={**_ALIYUN, "HOMECARE_INSTANCE_PATH": str(tmp_path)})
    provider = sms.provider_for(config)
    assert isinstance(provider, sms.AliyunSmsProvider)
    assert provider.templates["alert_sos"] == "SMS_200000002"
    assert provider.endpoint == "https://dysmsapi.aliyuncs.com/"
    assert ACCESS_KEY_SECRET not in repr(config) and ACCESS_KEY_SECRET not in repr(provider)


@pytest.mark.parametrize(("unset", "named"), [
    ("HOMECARE_SMS_ALIYUN_ACCESS_KEY_ID", "HOMECARE_SMS_ALIYUN_ACCESS_KEY_ID"),
    ("HOMECARE_SMS_ALIYUN_ACCESS_KEY_SECRET", "HOMECARE_SMS_ALIYUN_ACCESS_KEY_SECRET"),
    ("HOMECARE_SMS_ALIYUN_SIGN_NAME", "HOMECARE_SMS_ALIYUN_SIGN_NAME"),
    ("HOMECARE_SMS_ALIYUN_TEMPLATES", "code=..."),
])
def test_aliyun_without_a_setting_stops_the_start(tmp_path, unset, named):
    environ = {k: v for k, v in _ALIYUN.items() if k != unset}
    with pytest.raises(ConfigError, match=named):
        load_config(environ={**environ, "HOMECARE_INSTANCE_PATH": str(tmp_path)})


def test_aliyun_without_an_alert_template_stops_the_start(tmp_path):
    environ = {**_ALIYUN, "HOMECARE_SMS_ALIYUN_TEMPLATES": "code=SMS_1"}
    with pytest.raises(ConfigError, match="alert=..."):
        load_config(environ={**environ, "HOMECARE_INSTANCE_PATH": str(tmp_path)})


def test_a_malformed_template_entry_stops_the_start(tmp_path):
    environ = {**_ALIYUN, "HOMECARE_SMS_ALIYUN_TEMPLATES": "code=SMS_1,alert"}
    with pytest.raises(ConfigError, match="kind=TemplateCode"):
        load_config(environ={**environ, "HOMECARE_INSTANCE_PATH": str(tmp_path)})


def test_production_sends_to_aliyun_over_https_only():
    environ = {**_ALIYUN, "HOMECARE_ENV": "production", "HOMECARE_DATABASE_URL": "x",
               "HOMECARE_SECRET_KEY": "s", "HOMECARE_DATA_KEY": "k",
               "HOMECARE_SMS_ALIYUN_ENDPOINT": "http://dysmsapi.aliyuncs.com/"}
    with pytest.raises(ConfigError, match="https"):
        load_config(environ=environ)


def test_an_error_answer_whose_body_stalls_is_an_sms_gateway_error(aliyun_gateway):
    aliyun_gateway.answers.append("stall_error_body")
    with pytest.raises(sms.SmsGatewayError, match="^aliyun answered 500$"):
        _provider(aliyun_gateway, timeout=0.2).send_code(phone=PHONE, code="123456",
                                                         purpose="register")


def test_a_code_whose_error_answer_stalls_is_503(aliyun_app, client, aliyun_gateway):
    aliyun_gateway.answers.append("stall_error_body")
    r = client.post(f"{API}/auth/sms-code", json={"phone": PHONE, "purpose": "register"})
    assert r.status_code == 503, r.get_json()
    assert r.get_json()["code"] == "sms_unavailable"


def test_a_code_a_provider_fails_on_in_any_way_is_503(app, client, monkeypatch):
    class Broken:
        def send_code(self, **kwargs):
            raise ValueError("a provider bug")

        def send_alert(self, **kwargs):
            raise ValueError("a provider bug")

    monkeypatch.setitem(sms.PROVIDERS, app.config["HOMECARE"].sms_provider,
                        lambda config: Broken())
    r = client.post(f"{API}/auth/sms-code", json={"phone": PHONE, "purpose": "register"})
    assert r.status_code == 503, r.get_json()
    assert r.get_json()["code"] == "sms_unavailable"


@pytest.mark.parametrize("name", ["Aliyun", "aliyn", "tencent"])
def test_an_unknown_provider_stops_the_start(tmp_path, name):
    environ = {**_ALIYUN, "HOMECARE_SMS_PROVIDER": name}
    with pytest.raises(ConfigError, match=f"HOMECARE_SMS_PROVIDER: unknown '{name}'"):
        load_config(environ={**environ, "HOMECARE_INSTANCE_PATH": str(tmp_path)})


def test_every_provider_the_config_accepts_is_one_there_is():
    assert set(SMS_PROVIDERS) == set(sms.PROVIDERS)


@pytest.mark.parametrize("timeout", ["nan", "inf", "-inf", "0", "-1", "30.5", "1e9"])
def test_an_sms_timeout_that_is_not_a_few_seconds_stops_the_start(tmp_path, timeout):
    environ = {**_ALIYUN, "HOMECARE_SMS_TIMEOUT_SECONDS": timeout}
    with pytest.raises(ConfigError, match="HOMECARE_SMS_TIMEOUT_SECONDS"):
        load_config(environ={**environ, "HOMECARE_INSTANCE_PATH": str(tmp_path)})


def test_an_sms_timeout_of_thirty_seconds_is_taken(tmp_path):
    environ = {**_ALIYUN, "HOMECARE_SMS_TIMEOUT_SECONDS": "30"}
    config = load_config(environ={**environ, "HOMECARE_INSTANCE_PATH": str(tmp_path)})
    assert config.sms_timeout_seconds == 30.0


@pytest.mark.parametrize("endpoint", ["dysmsapi.aliyuncs.com", "ftp://dysmsapi.aliyuncs.com/",
                                      "https://"])
def test_an_endpoint_that_is_not_an_http_url_stops_the_start(tmp_path, endpoint):
    environ = {**_ALIYUN, "HOMECARE_SMS_ALIYUN_ENDPOINT": endpoint}
    with pytest.raises(ConfigError, match="HOMECARE_SMS_ALIYUN_ENDPOINT must be http"):
        load_config(environ={**environ, "HOMECARE_INSTANCE_PATH": str(tmp_path)})


def test_a_key_set_with_surrounding_whitespace_still_signs(tmp_path, aliyun_gateway):
    environ = {**_ALIYUN, "HOMECARE_SMS_ALIYUN_ACCESS_KEY_ID": f" {ACCESS_KEY_ID}\n",
               "HOMECARE_SMS_ALIYUN_ACCESS_KEY_SECRET": f"{ACCESS_KEY_SECRET}\n",
               "HOMECARE_SMS_ALIYUN_ENDPOINT": aliyun_gateway.url}
    config = load_config(environ={**environ, "HOMECARE_INSTANCE_PATH": str(tmp_path)})
    sms.provider_for(config).send_code(phone=PHONE, code="123456", purpose="register")
    (form,) = aliyun_gateway.sent()
    assert form["AccessKeyId"] == ACCESS_KEY_ID


def test_a_template_for_no_message_kind_stops_the_start(tmp_path):
    environ = {**_ALIYUN, "HOMECARE_SMS_ALIYUN_TEMPLATES": ",".join(
        [*TEMPLATES, "alert_sso=SMS_300000001"])}
    with pytest.raises(ConfigError, match="no message kind alert_sso"):
        load_config(environ={**environ, "HOMECARE_INSTANCE_PATH": str(tmp_path)})


def test_the_template_kinds_are_every_kind_that_is_texted():
    texted_events = {rule.kind for rule in ORDER_EVENT_RULES
                     if rule.urgent and rule.audience == "supervisors"}
    assert SMS_TEMPLATE_KINDS == {"code", "alert", *sms.PURPOSES, *texted_events,
                                  *(f"alert_{kind}" for kind in ALERT_KINDS)}

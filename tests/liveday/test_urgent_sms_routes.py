"""Urgent pages by SMS: an SOS raised through the API reaches the supervisors' phones
through the SMS provider once the relay runs, once however often another channel
fails; what is not urgent, or not for a supervisor, is not texted. With a duty
roster only the supervisors on duty are texted (everyone when nobody is), and every
supervisor still gets the message in the app."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import timedelta

import sqlalchemy as sa

from homecare.accounts.sms import InMemorySmsProvider
from homecare.notifications import service
from homecare.notifications.delivery import DeliveryFailed, SmsAlertSender, channels_for
from homecare.notifications.models import Notification
from homecare.schemas import mask_phone
from jobs import relay_notifications
from tests.factories import DutySpanFactory, UserFactory, auth
from tests.helpers import API


class GatewayDown:
    """The push gateway, down for as long as the test runs."""

    name = "webhook"

    def send(self, message):
        raise DeliveryFailed("webhook of organization 1: answered 503")


def _sos(client, order, nurse_user):
    r = client.post(f"{API}/orders/{order.id}/sos", headers=auth(nurse_user),
                    json={"note": "patient aggressive"})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def _relay(app, channels, at):
    return relay_notifications.run(app, at, sender=channels)


def test_an_sos_reaches_the_supervisors_phone_after_the_relay_runs(
        app, client, session, committed_visit, nurse_user, supervisor, org, other_org, now):
    order = committed_visit("in_service", checked_in_at=now)
    UserFactory(role="supervisor", organization_id=org.id, active=False)
    UserFactory(role="supervisor", organization_id=other_org.id)
    session.commit()
    sms = InMemorySmsProvider()
    alert = _sos(client, order, nurse_user)
    assert sms.alerts == []  # in the outbox, not sent from the request
    _relay(app, [SmsAlertSender(sms)], now)
    assert sms.alerts == [(supervisor.phone, "alert_sos", {
        "order_id": str(order.id), "alert": "sos", "severity": "critical"})]
    assert alert["supervisors_paged"] == 1
    # The nurse's note is free text: it stays out of the SMS.
    assert "aggressive" not in repr(sms.alerts)


def test_a_non_urgent_notification_is_not_texted(app, client, session, committed_visit,
                                                 supervisor, now):
    order = committed_visit("assigned")
    r = client.post(f"{API}/orders/{order.id}/no-show", headers=auth(supervisor),
                    json={"reason": "not at home"})
    assert r.status_code == 200, r.get_json()
    sms = InMemorySmsProvider()
    assert _relay(app, [SmsAlertSender(sms)], now) >= 1  # the family's visit_no_show
    assert sms.alerts == []
    kinds = session.scalars(sa.select(Notification.kind).where(
        Notification.order_id == order.id, Notification.sent_at.is_not(None))).all()
    assert "visit_no_show" in kinds


def test_an_urgent_message_to_a_nurse_is_not_texted(app, client, session, committed_visit,
                                                    nurse_user, supervisor, now):
    # Cancelled after she set off: urgent for her, but SMS is for supervisors' pages.
    order = committed_visit("en_route", departed_at=now)
    r = client.post(f"{API}/orders/{order.id}/cancel", headers=auth(supervisor),
                    json={"reason": "family called: patient in hospital"})
    assert r.status_code == 200, r.get_json()
    assert session.scalar(sa.select(Notification.urgent).where(
        Notification.user_id == nurse_user.id, Notification.order_id == order.id))
    sms = InMemorySmsProvider()
    _relay(app, [SmsAlertSender(sms)], now)
    assert supervisor.phone not in [phone for phone, _, _ in sms.alerts]
    assert nurse_user.phone not in [phone for phone, _, _ in sms.alerts]


def test_an_sos_is_texted_once_however_long_the_push_gateway_is_down(
        app, client, committed_visit, nurse_user, supervisor, now):
    order = committed_visit("in_service", checked_in_at=now)
    sms = InMemorySmsProvider()
    _sos(client, order, nurse_user)
    at = now
    for _ in range(5):  # the relay keeps retrying the webhook
        assert _relay(app, [SmsAlertSender(sms), GatewayDown()], at) == 0
        at += timedelta(seconds=service.URGENT_RETRY_CAP_S)
    assert [phone for phone, _, _ in sms.alerts] == [supervisor.phone]


def test_an_sos_the_sms_gateway_refused_is_texted_when_it_is_back(
        app, client, session, committed_visit, nurse_user, supervisor, now):
    order = committed_visit("in_service", checked_in_at=now)
    sms = InMemorySmsProvider(fail=True)
    _sos(client, order, nurse_user)
    assert _relay(app, [SmsAlertSender(sms)], now) == 0
    error = session.scalar(sa.select(Notification.last_error).where(
        Notification.user_id == supervisor.id))
    assert error == "sms: the gateway refused the message"
    sms.fail = False
    _relay(app, [SmsAlertSender(sms)], now + timedelta(seconds=service.RETRY_FIRST_S))
    assert [phone for phone, _, _ in sms.alerts] == [supervisor.phone]


def test_the_configured_log_provider_logs_a_masked_phone(app, client, committed_visit,
                                                         nurse_user, supervisor, now,
                                                         monkeypatch, caplog):
    monkeypatch.setitem(app.config, "HOMECARE", replace(
        app.config["HOMECARE"], notify_channels=["log", "sms"], sms_provider="log"))
    order = committed_visit("in_service", checked_in_at=now)
    _sos(client, order, nurse_user)
    assert [c.name for c in channels_for(app.config["HOMECARE"])] == ["log", "sms"]
    with caplog.at_level(logging.INFO, logger="homecare.accounts.sms"):
        relay_notifications.run(app, now)
    assert "sms_alert_sent" in caplog.text and mask_phone(supervisor.phone) in caplog.text
    assert supervisor.phone not in caplog.text


# ---------------------------------------------------------------- the duty roster


def _told(session, user_id, kind="alert_sos"):
    return session.scalars(sa.select(Notification).where(
        Notification.user_id == user_id, Notification.kind == kind)).all()


def test_an_sos_texts_only_the_supervisor_on_duty(app, client, session, committed_visit,
                                                 nurse_user, supervisor, org, now):
    on_duty = UserFactory(role="supervisor", organization_id=org.id)
    DutySpanFactory(organization_id=org.id, user_id=on_duty.id, start=now - timedelta(hours=1),
                    end=now + timedelta(hours=7))
    order = committed_visit("in_service", checked_in_at=now)
    sms = InMemorySmsProvider()
    alert = _sos(client, order, nurse_user)
    _relay(app, [SmsAlertSender(sms)], now)
    assert [phone for phone, _, _ in sms.alerts] == [on_duty.phone]
    # Off duty: no SMS, but the alert is in her app as before, and as urgent.
    assert [n.urgent for n in _told(session, supervisor.id)] == [True]
    assert alert["supervisors_paged"] == 2


def test_an_sos_with_nobody_on_duty_texts_every_active_supervisor(
        app, client, session, committed_visit, nurse_user, supervisor, org, now):
    colleague = UserFactory(role="supervisor", organization_id=org.id)
    # Her duty starts later: nobody is on duty when the nurse presses SOS.
    DutySpanFactory(organization_id=org.id, user_id=colleague.id,
                    start=now + timedelta(hours=2), end=now + timedelta(hours=10))
    order = committed_visit("in_service", checked_in_at=now)
    sms = InMemorySmsProvider()
    _sos(client, order, nurse_user)
    _relay(app, [SmsAlertSender(sms)], now)
    assert sorted(phone for phone, _, _ in sms.alerts) == sorted(
        [supervisor.phone, colleague.phone])


def test_a_cancellation_after_departure_texts_only_the_supervisor_on_duty(
        app, client, session, committed_visit, supervisor, org, now):
    on_duty = UserFactory(role="supervisor", organization_id=org.id)
    off_duty = UserFactory(role="supervisor", organization_id=org.id)
    DutySpanFactory(organization_id=org.id, user_id=on_duty.id, start=now - timedelta(hours=1),
                    end=now + timedelta(hours=7))
    order = committed_visit("en_route", departed_at=now)
    r = client.post(f"{API}/orders/{order.id}/cancel", headers=auth(supervisor),
                    json={"reason": "family called: patient in hospital"})
    assert r.status_code == 200, r.get_json()
    sms = InMemorySmsProvider()
    _relay(app, [SmsAlertSender(sms)], now)
    assert [phone for phone, _, _ in sms.alerts] == [on_duty.phone]
    assert _told(session, off_duty.id, "order_cancelled_after_departure")


# ---------------------------------------------------------------- Alibaba Cloud SMS


def test_an_sos_reaches_aliyun_through_the_relay(aliyun_app, client, session, committed_visit,
                                                 nurse_user, supervisor, org, aliyun_gateway,
                                                 now):
    off_duty = UserFactory(role="supervisor", organization_id=org.id)
    DutySpanFactory(organization_id=org.id, user_id=supervisor.id,
                    start=now - timedelta(hours=1), end=now + timedelta(hours=7))
    order = committed_visit("in_service", checked_in_at=now)
    _sos(client, order, nurse_user)
    relay_notifications.run(aliyun_app, now)
    (form,) = aliyun_gateway.sent()
    assert (form["Action"], form["PhoneNumbers"], form["TemplateCode"]) == (
        "SendSms", supervisor.phone, "SMS_200000002")
    assert json.loads(form["TemplateParam"]) == {"order_id": str(order.id), "alert": "sos",
                                                 "severity": "critical"}
    assert off_duty.phone not in [f["PhoneNumbers"] for f, _ in aliyun_gateway.requests]
    assert session.scalar(sa.select(sa.func.count()).select_from(Notification).where(
        Notification.user_id == off_duty.id, Notification.kind == "alert_sos")) == 1


def test_an_sos_aliyun_refused_is_retried_until_it_takes_it(aliyun_app, client, session,
                                                            committed_visit, nurse_user,
                                                            supervisor, aliyun_gateway, now):
    order = committed_visit("in_service", checked_in_at=now)
    _sos(client, order, nurse_user)
    aliyun_gateway.answers.append("isp.SYSTEM_ERROR")
    relay_notifications.run(aliyun_app, now)
    note = session.scalar(sa.select(Notification).where(Notification.user_id == supervisor.id)
                          .execution_options(populate_existing=True))
    assert note.sent_at is None and note.last_error == "sms: aliyun refused: isp.SYSTEM_ERROR"
    relay_notifications.run(aliyun_app, now + timedelta(seconds=service.RETRY_FIRST_S))
    assert [f["PhoneNumbers"] for f in aliyun_gateway.sent()] == [supervisor.phone] * 2
    session.refresh(note)
    assert note.sent_at is not None


def test_after_aliyun_timed_out_the_runs_other_texts_wait_for_the_next_run(
        aliyun_app, client, session, committed_visit, nurse_user, supervisor, org,
        aliyun_gateway, now):
    colleague = UserFactory(role="supervisor", organization_id=org.id)
    session.commit()
    order = committed_visit("in_service", checked_in_at=now)
    _sos(client, order, nurse_user)  # nobody on duty: both are texted
    aliyun_gateway.answers.append("stall")
    aliyun_app.config["HOMECARE"] = replace(aliyun_app.config["HOMECARE"],
                                            sms_timeout_seconds=0.2)
    relay_notifications.run(aliyun_app, now)
    assert len(aliyun_gateway.requests) == 1  # the second page did not wait its turn
    errors = session.scalars(sa.select(Notification.last_error).where(
        Notification.user_id.in_([supervisor.id, colleague.id]))
        .execution_options(populate_existing=True)).all()
    assert sorted(errors) == ["sms: aliyun unreachable: TimeoutError",
                              "sms: unreachable earlier in this run"]
    relay_notifications.run(aliyun_app, now + timedelta(seconds=service.RETRY_FIRST_S))
    assert sorted(f["PhoneNumbers"] for f in aliyun_gateway.sent()[-2:]) == sorted(
        [supervisor.phone, colleague.phone])


def test_an_sos_whose_supervisor_was_deactivated_before_the_relay_texts_the_others(
        app, client, session, committed_visit, nurse_user, supervisor, org, now):
    off_duty = UserFactory(role="supervisor", organization_id=org.id)
    DutySpanFactory(organization_id=org.id, user_id=supervisor.id,
                    start=now - timedelta(hours=1), end=now + timedelta(hours=7))
    order = committed_visit("in_service", checked_in_at=now)
    _sos(client, order, nurse_user)  # texts only the supervisor on duty
    supervisor.active = False
    session.commit()
    sms = InMemorySmsProvider()
    _relay(app, [SmsAlertSender(sms)], now)
    assert [phone for phone, _, _ in sms.alerts] == [off_duty.phone]


def test_an_sos_whose_supervisor_was_deactivated_texts_nobody_twice_when_another_was_texted(
        app, client, session, committed_visit, nurse_user, supervisor, org, now):
    colleague = UserFactory(role="supervisor", organization_id=org.id)
    session.commit()
    order = committed_visit("in_service", checked_in_at=now)
    _sos(client, order, nurse_user)  # nobody on duty: both are texted
    supervisor.active = False
    session.commit()
    sms = InMemorySmsProvider()
    _relay(app, [SmsAlertSender(sms)], now)
    assert [phone for phone, _, _ in sms.alerts] == [colleague.phone]

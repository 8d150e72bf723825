"""The SMS channel within one relay run: a gateway that cannot be reached, or a run
that has texted for long enough, leaves the rest of the run's pages for the next run."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from homecare.accounts.sms import SmsGatewayError, SmsGatewayUnreachable
from homecare.config import SMS_TIMEOUT_MAX_S
from homecare.notifications.delivery import (
    SMS_RUN_BUDGET_S,
    DeliveryFailed,
    Message,
    SmsAlertSender,
)
from homecare.notifications.service import CLAIM_LEASE_S
from tests.helpers import NOW


def _page(n: int) -> Message:
    return Message(id=n, user_id=1, kind="alert_sos", urgent=True, order_id=7, payload={},
                   created_at=NOW, role="supervisor", phone=f"1390000000{n}", sms=True)


@dataclass
class Gateway:
    """Raises ``errors`` in turn (None: takes the text); records the phones it was given."""

    errors: list[Exception | None] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)

    def send_code(self, **kwargs) -> None:
        raise AssertionError("not a code")

    def send_alert(self, *, phone: str, kind: str, params: dict[str, str]) -> None:
        self.phones.append(phone)
        error = self.errors.pop(0) if self.errors else None
        if error is not None:
            raise error


@pytest.mark.parametrize("error", [SmsGatewayUnreachable("aliyun unreachable: TimeoutError"),
                                   TimeoutError(), ConnectionRefusedError()])
def test_after_the_gateway_timed_out_the_runs_other_texts_fail_at_once(error):
    gateway = Gateway(errors=[error])
    sender = SmsAlertSender(gateway)
    for n in (1, 2, 3):
        with pytest.raises(DeliveryFailed):
            sender.send(_page(n))
    assert gateway.phones == ["13900000001"]
    # The next run (a new sender) tries again.
    SmsAlertSender(gateway).send(_page(2))
    assert gateway.phones[-1] == "13900000002"


def test_a_refusal_does_not_stop_the_runs_other_texts():
    gateway = Gateway(errors=[SmsGatewayError("aliyun refused: isv.MOBILE_NUMBER_ILLEGAL")])
    sender = SmsAlertSender(gateway)
    with pytest.raises(DeliveryFailed):
        sender.send(_page(1))
    sender.send(_page(2))
    assert gateway.phones == ["13900000001", "13900000002"]


def test_no_text_starts_once_the_runs_budget_is_spent():
    ticks = iter([0.0, 10.0, 29.0, 30.0, 31.0])
    gateway = Gateway()
    sender = SmsAlertSender(gateway, budget_s=30.0, monotonic=lambda: next(ticks))
    for n in (1, 2, 3):
        sender.send(_page(n))
    for n in (4, 5):
        with pytest.raises(DeliveryFailed, match="out of time"):
            sender.send(_page(n))
    assert len(gateway.phones) == 3


def test_the_runs_budget_ends_well_inside_the_claims_lease():
    assert SMS_RUN_BUDGET_S + SMS_TIMEOUT_MAX_S <= CLAIM_LEASE_S / 2

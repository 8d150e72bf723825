"""A database error never puts SQL parameters (personal data) into the log."""

from __future__ import annotations

import logging

import sqlalchemy as sa

from conftest import assert_problem
from homecare.logging_setup import JsonFormatter, _ContextFilter
from homecare.patients.models import CareRecipient
from tests.factories import auth
from tests.factories.patients import recipient_body
from tests.helpers import API


class _Unbindable:
    pass


def _failing_insert(_mapper, _connection, recipient):
    # A value no driver can bind: the INSERT fails in the driver, on both databases,
    # with the personal data bound beside it as parameters.
    recipient.gender = _Unbindable()


def test_database_error_on_a_write_logs_no_personal_data(client, patient, caplog):
    body = recipient_body(name="欧阳秀英", conditions=["阿尔茨海默病"], allergies=["磺胺类"])
    sa.event.listen(CareRecipient, "before_insert", _failing_insert)
    try:
        with caplog.at_level(logging.INFO):
            r = client.post(f"{API}/patients", headers=auth(patient), json=body)
    finally:
        sa.event.remove(CareRecipient, "before_insert", _failing_insert)
    assert_problem(r, 500, "internal_error")
    formatter = JsonFormatter()
    logged = caplog.text + "".join(formatter.format(rec) for rec in caplog.records)
    assert "database error ProgrammingError" in logged
    for secret in ("欧阳秀英", "阿尔茨海默病", "磺胺类", body["birth_date"], body["id_number"],
                   body["id_number"][-6:], "gAAAA", "parameters:"):
        assert secret not in logged, secret


def test_a_database_error_logged_elsewhere_is_scrubbed_by_the_handler_filter():
    error = sa.exc.IntegrityError("INSERT INTO users (phone) VALUES (?)", ("13912340009",),
                                  Exception("UNIQUE failed: Key (phone)=(13912340009)"))
    record = logging.LogRecord("apscheduler", logging.ERROR, __file__, 1, "job failed", None,
                               (IntegrityError := type(error), error, None))
    assert IntegrityError is sa.exc.IntegrityError
    _ContextFilter().filter(record)
    text = JsonFormatter().format(record)
    assert "13912340009" not in text and "INSERT INTO users" in text

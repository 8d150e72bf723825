"""Structured logs: one JSON object a line, with the request id, and no personal numbers."""

from __future__ import annotations

import json
import logging
import re
import sys
import traceback
from datetime import UTC, datetime

from flask import g, has_request_context

# Mainland mobiles and resident identity numbers are personal information
# (PIPL): whatever a message contains, they never reach the log.
_ID_NUMBER = re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)")
_MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")


def redact(text: str) -> str:
    text = _ID_NUMBER.sub("[id_number]", text)
    return _MOBILE.sub("[phone]", text)


def database_error_text(exc: BaseException) -> str | None:
    """What may be logged of a database error: its class, SQLSTATE, constraint and
    statement, and where it was raised; never its message or parameters.

    The DBAPI's message carries values (PostgreSQL's ``DETAIL: Key (phone)=(...)``,
    ``Failing row contains (...)``), and SQLAlchemy's text the bound parameters:
    a password hash, a recipient's name, birth date, conditions, identity number.
    None for any other exception.
    """
    from sqlalchemy.exc import DBAPIError

    if not isinstance(exc, DBAPIError):
        return None
    orig = exc.orig
    diag = getattr(orig, "diag", None)
    facts = [type(orig).__name__, f"sqlstate={getattr(orig, 'sqlstate', None) or '-'}"]
    if getattr(diag, "constraint_name", None):
        facts.append(f"constraint={diag.constraint_name}")
    frames = "".join(traceback.format_tb(exc.__traceback__))
    return (f"database error {' '.join(facts)} in: {' '.join((exc.statement or '').split())}"
            f"\nTraceback (values withheld):\n{frames}")


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            scrubbed = database_error_text(record.exc_info[1])
            if scrubbed is not None:  # e.g. a job's exception logged by the scheduler
                record.msg, record.args = f"{record.getMessage()}: {scrubbed}", None
                record.exc_info = record.exc_text = None
        record.request_id = (getattr(g, "request_id", None) if has_request_context()
                             else None) or getattr(record, "request_id", None) or "-"
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "msg": redact(record.getMessage()),
        }
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure_logging(level: str, fmt: str) -> None:
    """Install one handler on the root logger (idempotent: the factory may run often)."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, "_homecare", False)), None)
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler._homecare = True  # type: ignore[attr-defined]
        handler.addFilter(_ContextFilter())
        root.addHandler(handler)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.setLevel(level.upper())
    # werkzeug's access log repeats the path, which may carry a phone number.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

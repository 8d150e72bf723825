"""The notifications outbox: written with the event, relayed by the jobs process."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from homecare.clock import utcnow
from homecare.db import Base


class Notification(Base):
    """A message a person must hear about. Delivery is at least once; the id lets
    receivers drop duplicates."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(40))
    urgent: Mapped[bool] = mapped_column(default=False)
    # An urgent page that also goes to her phone by SMS: decided when the page is
    # written (``duty.service.texted_supervisors``: the supervisors on duty then, or
    # all of them when nobody is), so a relay retrying later texts the same people.
    # The server default is true for a writer that does not know the column (an old
    # pod during a rolling deploy): its SOS is texted rather than to nobody.
    sms: Mapped[bool] = mapped_column(default=False, server_default=sa.true())
    order_id: Mapped[int | None] = mapped_column(sa.ForeignKey("orders.id"))
    payload: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    # When the relay may try next; None is at once. It is also the claim's lease: a
    # relay pushes it forward before it sends, so a second relay (a stand-by taking
    # over) leaves the row alone meanwhile, and takes it back if the first one died.
    next_attempt_at: Mapped[datetime | None]
    # Dead letter: a non-urgent message the relay gave up on. The row is kept, so
    # what was never delivered stays visible; urgent rows are never given up.
    failed_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(sa.String(200))
    # The channels that took it, comma-separated (``log,sms``): a retry after one
    # channel failed repeats only the others, so nobody's phone gets an SMS twice.
    delivered_via: Mapped[str] = mapped_column(sa.String(100), default="", server_default="")
    read_at: Mapped[datetime | None]

"""Family beds (家庭病床) risk control: visits that did not happen, the end date kept.

A visit of an episode that ends ``no_show``, is cancelled by the service (a
supervisor, not the family, and not the episode itself changing its plan or
closing), or is missed (``expired``: its window passed with no nurse) raises a
``family_bed_risk`` alert on the episode, at once, in the transaction of the
transition (``after_visit_transition``, an after-transition hook registered in
``homecare.order_hooks``). A missed visit whose previous visit of the episode (by
window, leaving out those the family or the episode cancelled) was missed too is
the second in a row: its alert is ``critical`` and pages the supervisors urgently.

The end date is kept by the nightly job (``keep_end_dates``): an open episode past
its end date is closed as ``expired``; one ending within
``family_bed_end_alert_days`` days raises a ``family_bed_ending`` alert so that the
supervisor extends it (PATCH ``end_date``) or closes it with a summary. The cause
names the end date, so an extended episode is warned again before its new end.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from homecare.alerts.service import page_supervisors, raise_alert
from homecare.config import Config
from homecare.db import atomic
from homecare.family_beds.episode import ending_cause
from homecare.family_beds.models import FamilyBed, FamilyBedVisit
from homecare.orders.models import Order, OrderEvent

# What a visit that did not happen is called on the alert, by how it ended.
_RISKS = {"no_show": "no-show", "expired": "missed (its window passed with no nurse)",
          "cancelled": "cancelled by the service"}


def risk_cause(order_id: int) -> str:
    return f"family_bed_risk:order:{order_id}"


# ---------------------------------------------------------------- the transition hook


def after_visit_transition(session: Session, order: Order, event: OrderEvent,
                           now: datetime) -> None:
    """Raise the episode's risk alert when a generated visit did not happen (no commit).

    Called by the order state machine after every transition; returns at once for
    orders that are not a family bed's visits.
    """
    if order.family_bed_id is None or event.to_status not in _RISKS:
        return
    # Columns, not the entity: ``withdraw_visits`` marks the row with an UPDATE that
    # an entity already in the session would not show.
    visit = session.execute(sa.select(FamilyBedVisit.id, FamilyBedVisit.withdrawn)
                            .where(FamilyBedVisit.order_id == order.id)).first()
    if visit is None or visit.withdrawn is not None:
        return
    if event.to_status == "cancelled" and order.cancellation_rule != "by_service":
        # The family's own cancellation (or a supervisor's at its request) is its
        # choice, not a risk: the rule pricing recorded says who cancelled.
        return
    second = event.to_status == "expired" and _previous_missed(session, order)
    severity = "critical" if second else "warning" if event.to_status == "expired" else "high"
    detail = (f"visit {order.id} on {order.service_date.isoformat()} "
              f"{_RISKS[event.to_status]}")
    if second:
        detail += "; the second missed visit in a row"
    if event.reason:
        detail += f": {event.reason}"
    alert = raise_alert(session, kind="family_bed_risk", cause=risk_cause(order.id),
                        organization_id=order.organization_id, now=now, order_id=order.id,
                        nurse_id=order.nurse_id, family_bed_id=order.family_bed_id,
                        severity=severity, detail=detail[:500])
    if alert is not None and second:
        page_supervisors(session, alert=alert, now=now, urgent=True)


def _previous_missed(session: Session, order: Order) -> bool:
    """Whether the episode's visit before this one (by window) was missed too."""
    previous = session.execute(
        sa.select(Order.status).join(FamilyBedVisit, FamilyBedVisit.order_id == Order.id)
        .where(Order.family_bed_id == order.family_bed_id, Order.id != order.id,
               Order.window_start <= order.window_start, FamilyBedVisit.withdrawn.is_(None),
               # What the family cancelled was never due: it breaks no run of misses.
               sa.or_(Order.cancellation_rule.is_(None),
                      Order.cancellation_rule == "by_service"))
        .order_by(Order.window_start.desc(), Order.id.desc()).limit(1)).first()
    return previous is not None and previous.status == "expired"


# ---------------------------------------------------------------- the nightly job


@atomic
def keep_end_dates(*, session: Session, now: datetime, config: Config) -> dict[str, int]:
    """Close open episodes past their end date (``expired``) and warn before an end
    (the nightly job); commits. Idempotent: a closed episode is not seen again, and
    an end date is warned about once (the alert's cause names it). Each episode on
    its own (``family_beds.service.each_open_bed``).
    """
    from homecare.family_beds.service import close, each_open_bed

    zone = ZoneInfo(config.timezone)
    today = now.astimezone(zone).date()
    warn_until = today + timedelta(days=config.family_bed_end_alert_days)

    def keep(bed: FamilyBed) -> Counter[str]:
        counts: Counter[str] = Counter()
        if bed.end_date < today:
            close(session, bed, reason="expired", actor=None, now=now,
                  summary=f"closed by the service: the end date {bed.end_date.isoformat()} "
                          "passed")
            counts["family_beds_expired"] += 1
            return counts
        days = (bed.end_date - today).days
        alert = raise_alert(
            session, kind="family_bed_ending", cause=ending_cause(bed.id, bed.end_date),
            organization_id=bed.organization_id, now=now, family_bed_id=bed.id,
            severity="warning",
            detail=f"family bed {bed.id} ends on {bed.end_date.isoformat()} (in {days} "
                   "days): extend it or close it with a summary")
        if alert is not None:
            page_supervisors(session, alert=alert, now=now, urgent=False)
            counts["family_bed_ending_raised"] += 1
        return counts

    counts = each_open_bed(session, [FamilyBed.end_date <= warn_until], keep,
                           doing="kept to its end date")
    session.commit()
    return dict(counts)

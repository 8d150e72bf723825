"""Repairing a planned day: the plan changes only where it must, with reasons."""

from __future__ import annotations

import sqlalchemy as sa

from homecare.scheduling.models import DayPlan
from homecare.scheduling.repair import repair_day
from tests.scheduling.helpers import DAY, MORNING, place


def test_repair_without_a_stored_plan_answers_none_and_writes_nothing(
        session, org, config, make_nurse, make_order):
    make_nurse()
    order = make_order()
    session.commit()
    reasons = [{"kind": "order_added", "order_id": order.id}]
    assert repair_day(session=session, organization_id=org.id, day=DAY, now=MORNING,
                      config=config, reasons=reasons) is None
    assert session.scalar(sa.select(sa.func.count()).select_from(DayPlan)) == 0
    session.refresh(order)
    assert order.status == "approved" and order.nurse_id is None


def test_repair_records_a_repair_plan_listing_the_added_order(
        session, org, config, make_nurse, make_order, run_plan):
    nurse = make_nurse()
    make_order(window=(9, 10))
    session.commit()
    run_plan()
    new = make_order(window=(14, 15), where=place(1, 1))
    session.commit()
    repaired = repair_day(session=session, organization_id=org.id, day=DAY, now=MORNING,
                          config=config, reasons=[{"kind": "order_added", "order_id": new.id}])
    assert repaired.result["kind"] == "repair"
    assert repaired.result["diff"]["added"] == [
        {"order_id": new.id, "to_nurse_id": nurse.id,
         "new_arrival": repaired.result["diff"]["added"][0]["new_arrival"],
         "reason": "order_added"}]
    assert repaired.result["diff"]["moved"] == []

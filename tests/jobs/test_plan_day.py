"""The morning planning job: plans the local day of the clock for every organization."""

from __future__ import annotations

from datetime import UTC, datetime

from jobs import plan_day


def test_plan_day_plans_the_local_date_of_now(app, session, org):
    # 16:30 UTC on the 6th is 00:30 on the 7th in Shanghai.
    result = plan_day.run(app, datetime(2030, 5, 6, 16, 30, tzinfo=UTC))
    assert result["date"] == "2030-05-07"
    assert result["organizations"] >= 1 and result["failed"] == []

"""The live-day benchmark's quick mode runs end to end on a tiny day (no timings checked)."""

from __future__ import annotations

from bench import live_day

FIGURES = {"events", "repair_ms", "churn_visits", "moved_inside_freeze", "windows_missed",
           "travel_vs_scratch_pct"}


def test_quick_live_day_reports_every_figure_and_moves_nothing_inside_the_freeze():
    report = live_day.quick(n_nurses=6, n_visits=30)

    assert FIGURES <= set(report["overall"])
    assert set(report["overall"]["repair_ms"]) >= {"p50", "p95"}
    assert set(report["by_kind"]) == set(live_day.KINDS)
    assert report["overall"]["events"] >= 5
    assert report["overall"]["moved_inside_freeze"] == 0
    assert report["day"]["completed"] > 0
    day = report["day"]
    # Distinct visits moved by choice: no more than the moves counted, each visit once.
    assert day["families_told_twice"] <= day["visits_moved_by_choice"] \
        <= report["overall"]["churn_visits"]

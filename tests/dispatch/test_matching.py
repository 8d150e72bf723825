"""Candidate search: the spatial index, the score and its parts, and where she sets off from."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from homecare.clock import utcnow
from homecare.dispatch.matching import list_candidates
from homecare.dispatch.nearby import load_job, nearby_nurses
from homecare.dispatch.spatial import sync_spatial_index
from homecare.nurses.models import Nurse
from homecare.patients.models import Address
from tests.factories import ShiftFactory
from tests.scheduling.helpers import local, place

# A fixed clock for tests that must not depend on the time of day: 2030-03-04 in
# Jining; ``local(h)`` is h hours after its local midnight.
_MORNING = local(6)


def _ids(found):
    return [c.nurse_id for c in found]


def _search(session, order, config, **kwargs):
    return list_candidates(session=session, order=order, now=utcnow(), config=config, **kwargs)


def test_list_candidates_returns_qualified_nurse_with_score_parts(session, order, nurse, config):
    found = _search(session, order, config)
    assert _ids(found) == [nurse.id]
    c = found[0]
    assert c.eligible and c.excluded_by is None
    assert 0.5 < c.distance_km < 2.0
    assert c.eta_min > 0
    assert set(c.score_parts) == {"travel", "continuity", "balance", "rating"}
    assert 0 <= c.score <= 1


def test_list_candidates_agree_with_each_explanation(session, order, make_nurse, config):
    nurses = [make_nurse(), make_nurse(skills=["injection"]), make_nurse(home_lat=35.6),
              make_nurse(shift=False), make_nurse(title="nurse"), make_nurse(home_lat=35.43)]
    listed = set(_ids(_search(session, order, config)))
    explained = {n.id for n in nurses
                 if _search(session, order, config, explain_nurse_id=n.id)[0].eligible}
    assert listed == explained == {nurses[0].id, nurses[5].id}


def test_explain_unknown_nurse_is_empty(session, order, config):
    assert _search(session, order, config, explain_nurse_id=999999) == []


# ---------------------------------------------------------------- the spatial index


def _nearby(session, order, config):
    return {row.id for row in nearby_nurses(session, load_job(session, order), config)}


def test_nearby_nurses_leave_out_discs_that_do_not_reach(session, order, make_nurse, config):
    near = make_nurse(home_lat=35.45, service_radius_km=10.0)  # about 4.5 km away
    far = make_nurse(home_lat=35.60, service_radius_km=10.0)  # about 21 km away
    found = _nearby(session, order, config)
    assert near.id in found and far.id not in found


def test_moving_a_nurse_moves_her_in_the_index(session, order, nurse, config):
    nurse.home_lat = 35.70
    session.commit()
    assert nurse.id not in _nearby(session, order, config)
    nurse.home_lat = 35.415
    session.commit()
    assert nurse.id in _nearby(session, order, config)


def test_widening_her_radius_reindexes_her(session, order, make_nurse, config):
    nurse = make_nurse(home_lat=35.55, service_radius_km=5.0)  # about 15.5 km away
    assert nurse.id not in _nearby(session, order, config)
    nurse.service_radius_km = 20.0
    session.commit()
    assert nurse.id in _nearby(session, order, config)


def test_sync_spatial_index_repairs_a_bulk_update(session, order, nurse, config):
    session.execute(sa.update(Nurse).where(Nurse.id == nurse.id).values(home_lat=35.70))
    session.commit()
    assert nurse.id in _nearby(session, order, config)  # stale: the hooks did not run
    assert sync_spatial_index(session=session) == 1
    assert nurse.id not in _nearby(session, order, config)
    assert sync_spatial_index(session=session) == 0


# ---------------------------------------------------------------- the score


def test_score_weights_decide_the_ranking(session, order, make_nurse, config):
    close = make_nurse(home_lat=35.4101, rating_sum=3, rating_count=1)
    liked = make_nurse(home_lat=35.45, rating_sum=100, rating_count=20)
    travel_only = replace(config, score_weight_travel=1, score_weight_continuity=0,
                          score_weight_balance=0, score_weight_rating=0)
    rating_only = replace(travel_only, score_weight_travel=0, score_weight_rating=1)
    assert _ids(_search(session, order, travel_only)) == [close.id, liked.id]
    assert _ids(_search(session, order, rating_only)) == [liked.id, close.id]


def test_rating_is_shrunk_towards_three_stars(session, order, make_nurse, config):
    new = make_nurse()
    once = make_nurse(home_lat=35.4151, rating_sum=5, rating_count=1)
    parts = {c.nurse_id: c.score_parts["rating"] for c in _search(session, order, config)}
    assert parts[new.id] == 0.5
    assert parts[once.id] == pytest.approx(((5 + 15) / 6 - 1) / 4, abs=1e-4)


def test_balance_falls_with_her_visits_that_day(session, order, make_order, make_nurse, config):
    nurse = make_nurse(max_visits_per_day=4)
    make_order("completed", nurse_id=nurse.id, window_start=order.window_start,
               window_end=order.window_end)
    (c,) = _search(session, order, config)
    assert (c.visits_that_day, c.score_parts["balance"]) == (1, 0.75)


def test_score_with_all_weights_zero_is_refused(session, order, nurse, config):
    zero = replace(config, score_weight_travel=0, score_weight_continuity=0,
                   score_weight_balance=0, score_weight_rating=0)
    with pytest.raises(ValueError):
        _search(session, order, zero)


# ---------------------------------------------------------------- where she sets off from


def test_stale_ping_is_not_her_position(session, order, make_nurse, config):
    nurse = make_nurse(home_lat=35.45)
    nurse.last_lat, nurse.last_lng = 35.4101, 116.5801
    nurse.last_ping_at = utcnow() - timedelta(minutes=config.dispatch_ping_max_age_minutes + 1)
    session.commit()
    (c,) = _search(session, order, config)
    assert c.start_from == "home" and c.distance_km > 4


def test_ping_before_her_shift_began_is_not_her_position(session, order, make_nurse, config):
    nurse = make_nurse(home_lat=35.45, shift=False)
    ShiftFactory(nurse_id=nurse.id, start=utcnow() + timedelta(minutes=30),
                 end=utcnow() + timedelta(hours=6))
    nurse.last_lat, nurse.last_lng, nurse.last_ping_at = 35.4101, 116.5801, utcnow()
    session.commit()
    (c,) = _search(session, order, config)
    assert c.start_from == "home"


def test_visit_under_way_is_where_she_sets_off(session, order, make_order, make_nurse, config):
    nurse = make_nurse(home_lat=35.45)
    make_order("in_service", nurse_id=nurse.id, window_start=utcnow() - timedelta(minutes=20),
               window_end=utcnow() + timedelta(minutes=20), checked_in_at=utcnow())
    (c,) = _search(session, order, config)
    assert c.start_from == "previous_visit" and c.distance_km < 1
    assert c.planned_arrival >= utcnow() + timedelta(minutes=29)


def test_missed_visit_does_not_block_her_day(session, order, make_order, nurse, config):
    make_order("assigned", nurse_id=nurse.id, window_start=utcnow() - timedelta(minutes=50),
               window_end=utcnow() - timedelta(minutes=20))
    assert _ids(_search(session, order, config)) == [nurse.id]


def test_back_to_back_shifts_count_as_one_stretch(session, make_order, make_nurse, config):
    order = make_order(window_start=local(10), window_end=local(10 + 10 / 60))
    nurse = make_nurse(shift=False)
    # Begun by 10:10 and 30 minutes long, the visit straddles the hand-over at 10:15:
    # neither shift alone holds it. (A fixed clock: with the wall clock, the
    # hand-over fell after midnight for a run started 21:45-22:00.)
    ShiftFactory(nurse_id=nurse.id, start=local(8), end=local(10.25))
    ShiftFactory(nurse_id=nurse.id, start=local(10.25), end=local(13))
    session.commit()
    found = list_candidates(session=session, order=order, now=_MORNING, config=config)
    assert _ids(found) == [nurse.id]


def test_back_to_back_shifts_across_midnight_count_as_one_stretch(session, make_order,
                                                                  make_nurse, config):
    nurse = make_nurse(shift=False)
    ShiftFactory(nurse_id=nurse.id, start=local(20), end=local(24))
    ShiftFactory(nurse_id=nurse.id, start=local(24), end=local(28))
    # 23:48-23:54 and 30 minutes long: it ends after midnight, in the next day's shift.
    order = make_order(window_start=local(23.8), window_end=local(23.9))
    session.commit()
    (c,) = list_candidates(session=session, order=order, now=local(20), config=config,
                           explain_nurse_id=nurse.id)
    assert c.eligible, c


def _move(session, order, north_km: float) -> None:
    """Put the order's address ``north_km`` north of the centre of Jining."""
    address = session.get(Address, order.address_id)
    address.lat, address.lng = place(north_km=north_km)
    session.commit()


def test_stretch_over_with_an_accepted_visit_still_open_is_no_shift(session, make_order,
                                                                    make_nurse, config):
    nurse = make_nurse(shift=False)
    ShiftFactory(nurse_id=nurse.id, start=local(8), end=local(12))
    make_order("assigned", nurse_id=nurse.id, window_start=local(11), window_end=local(13))
    order = make_order(window_start=local(10), window_end=local(14))
    # 12:12: her shift is over, her accepted visit's window is still open.
    (c,) = list_candidates(session=session, order=order, now=local(12.2), config=config,
                           explain_nurse_id=nurse.id)
    assert c.excluded_by == "shift"


def test_visit_she_is_running_late_for_does_not_block_her_afternoon(session, make_order,
                                                                    make_nurse, config):
    nurse = make_nurse(shift=False)
    ShiftFactory(nurse_id=nurse.id, start=local(8), end=local(18))
    late = make_order("assigned", nurse_id=nurse.id, window_start=local(9),
                      window_end=local(9.5))
    _move(session, late, north_km=15)  # about 47 minutes away
    later = make_order(window_start=local(15), window_end=local(16))
    (c,) = list_candidates(session=session, order=later, now=local(9.3), config=config,
                           explain_nurse_id=nurse.id)
    assert c.eligible, c


def test_en_route_nurse_is_free_only_after_travelling_to_her_visit(session, make_order,
                                                                   make_nurse, config):
    nurse = make_nurse(shift=False)
    ShiftFactory(nurse_id=nurse.id, start=local(8), end=local(18))
    heading = make_order("en_route", nurse_id=nurse.id, window_start=local(9),
                         window_end=local(10), departed_at=local(9))
    _move(session, heading, north_km=12)  # about 37 minutes from her home
    # At the same address, 09:36-09:48: she is at the door about 09:37 and busy
    # there until about 10:07, so she cannot begin this one in its window.
    order = make_order(window_start=local(9.6), window_end=local(9.8))
    _move(session, order, north_km=12)
    (c,) = list_candidates(session=session, order=order, now=local(9), config=config,
                           explain_nurse_id=nurse.id)
    assert not c.eligible, c


def test_last_visit_done_is_where_she_sets_off_without_a_fresh_ping(session, make_order,
                                                                    make_nurse, config):
    nurse = make_nurse(shift=False)
    ShiftFactory(nurse_id=nurse.id, start=local(8), end=local(18))
    done = make_order("completed", nurse_id=nurse.id, window_start=local(9),
                      window_end=local(10), checked_in_at=local(9.2),
                      checked_out_at=local(9.7))
    _move(session, done, north_km=10)
    order = make_order(window_start=local(11), window_end=local(12))
    _move(session, order, north_km=10)
    (c,) = list_candidates(session=session, order=order, now=local(10), config=config,
                           explain_nurse_id=nurse.id)
    assert c.start_from == "previous_visit" and c.distance_km < 0.1


# ---------------------------------------------------------------- across midnight
# A night shift runs past midnight: her visit booked for the evening still holds
# her after 00:00, although the next order is booked for the next local day.
_NIGHT = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # 23:00 in Jining


def _night_nurse(make_nurse):
    nurse = make_nurse(shift=False)
    ShiftFactory(nurse_id=nurse.id, start=_NIGHT - timedelta(hours=1),
                 end=_NIGHT + timedelta(hours=5))
    return nurse


def test_visit_before_midnight_blocks_an_overlapping_one_after(session, make_order,
                                                               make_nurse, config):
    nurse = _night_nurse(make_nurse)
    evening = make_order("assigned", nurse_id=nurse.id,
                         window_start=_NIGHT + timedelta(minutes=50),
                         window_end=_NIGHT + timedelta(minutes=55))
    after = make_order(window_start=_NIGHT + timedelta(hours=1),
                       window_end=_NIGHT + timedelta(hours=1, minutes=5))
    assert evening.service_date != after.service_date
    (c,) = list_candidates(session=session, order=after, now=_NIGHT, config=config,
                           explain_nurse_id=nurse.id)
    assert c.excluded_by == "schedule_conflict"


def test_visit_before_midnight_is_where_she_sets_off_after(session, make_order, make_nurse,
                                                           config):
    nurse = _night_nurse(make_nurse)
    make_order("in_service", nurse_id=nurse.id, window_start=_NIGHT + timedelta(minutes=30),
               window_end=_NIGHT + timedelta(minutes=50),
               checked_in_at=_NIGHT + timedelta(minutes=40))
    after = make_order(window_start=_NIGHT + timedelta(hours=2),
                       window_end=_NIGHT + timedelta(hours=3))
    (c,) = list_candidates(session=session, order=after, now=_NIGHT + timedelta(minutes=50),
                           config=config)
    assert c.start_from == "previous_visit"
    # The evening visit is not the new day's: it does not count towards her cap.
    assert c.visits_that_day == 0

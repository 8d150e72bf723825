"""The time checks behind matching and the grid of the spatial index, without a database."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from homecare.dispatch import fitting
from homecare.dispatch.models import cell_of, coverage_cells
from homecare.geo import GeodesicTravel, Point, geodesic_km
from homecare.scheduling import planner

TRAVEL = GeodesicTravel(detour_factor=1.3, speed_kmh=25)
H = 3600
ADDRESS = Point(35.41, 116.58)

offsets = st.floats(min_value=-0.15, max_value=0.15, allow_nan=False)


def _target(start: int, width: int, minutes: int) -> planner.Visit:
    return planner.Visit(id=("order", 1), place=ADDRESS, window_start=start,
                         window_end=start + width, service_s=minutes * 60)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(offsets, offsets, st.integers(0, 6 * H), st.integers(H, 12 * H)),
                min_size=1, max_size=30),
       st.integers(0, 8 * H), st.integers(0, 3 * H), st.sampled_from([30, 45, 60, 90]))
def test_fits_without_route_equal_best_insertion(starts, opens, width, minutes):
    target = _target(opens, width, minutes)
    jobs = [fitting.Job(k, Point(35.41 + dlat, 116.58 + dlng),
                        fitting.Start(Point(35.41 + dlat, 116.58 + dlng), depart, "home"),
                        depart + length, [])
            for k, (dlat, dlng, depart, length) in enumerate(starts)]
    # The batched one-leg case and best_insertion itself must agree on every job.
    assert fitting._without_route(jobs, target, TRAVEL) == fitting._with_route(jobs, target,
                                                                               TRAVEL)


def test_fits_route_blocks_an_overlapping_visit():
    home = Point(35.42, 116.59)
    held = planner.Visit(id=7, place=Point(35.43, 116.60), window_start=10 * H,
                         window_end=10 * H + 600, service_s=H)
    job = fitting.Job(1, home, fitting.Start(home, 8 * H, "home"), 18 * H, [held])
    clash = _target(10 * H, 600, 30)
    later = _target(12 * H, H, 30)
    assert fitting.fits([job], clash, TRAVEL) == [None]
    fit = fitting.fits([job], later, TRAVEL)[0]
    assert fit.start_from == "previous_visit" and fit.start >= 12 * H


def test_fits_travel_home_after_the_last_visit_is_free():
    home = Point(35.50, 116.58)  # about 10 km north of the address
    job = fitting.Job(1, home, fitting.Start(home, 8 * H, "home"), 11 * H, [])
    # The visit ends exactly when her shift does; getting home is her own time.
    fit = fitting.fits([job], _target(10 * H + 30 * 60, 0, 30), TRAVEL)[0]
    assert fit is not None and fit.start + 30 * 60 == 11 * H


@settings(max_examples=200, deadline=None)
@given(offsets, offsets, st.floats(min_value=1.0, max_value=30.0),
       st.floats(min_value=0, max_value=2 * math.pi), st.floats(min_value=0, max_value=1))
def test_coverage_cells_hold_every_point_within_the_radius(dlat, dlng, radius, bearing, share):
    home = Point(35.41 + dlat, 116.58 + dlng)
    # A point at ``share`` of the radius in any direction (flat-earth step, then
    # measured exactly, so only points truly inside count).
    km = radius * share
    point = Point(home.lat + km * math.cos(bearing) / 111.0,
                  home.lng + km * math.sin(bearing) / (111.0 * math.cos(math.radians(home.lat))))
    if geodesic_km(home, point) <= radius:
        assert cell_of(point.lat, point.lng) in coverage_cells(home, radius)


def test_coverage_cells_leave_out_far_cells():
    home = Point(35.41, 116.58)
    cells = coverage_cells(home, 5.0)
    assert cell_of(35.41, 116.58) in cells
    assert cell_of(35.41 + 0.2, 116.58) not in cells
    assert 4 <= len(cells) <= 16


def test_fits_leave_out_a_visit_she_can_no_longer_reach_in_its_window():
    home = Point(35.42, 116.59)
    far = Point(35.42 + 15 / 111, 116.59)  # about 15 km north: 47 minutes away
    late = planner.Visit(id=7, place=far, window_start=9 * H, window_end=9 * H + 1800,
                         service_s=1800)
    # 09:18: she cannot begin by 09:30 any more; that must not block her afternoon.
    job = fitting.Job(1, home, fitting.Start(home, 9 * H + 18 * 60, "home"), 18 * H, [late])
    fit = fitting.fits([job], _target(15 * H, H, 30), TRAVEL)[0]
    assert fit is not None and fit.start_from == "home"

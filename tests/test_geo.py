"""Tests for homecare.geo: datum conversions, distances, bounding boxes and the travel model."""

import math
import time

import numpy as np
import pytest
from geopy.distance import geodesic
from hypothesis import given, settings
from hypothesis import strategies as st

from homecare.geo import (
    COORD_SYSTEMS,
    GeodesicTravel,
    Point,
    TravelModel,
    bd09_to_gcj02,
    bounding_box,
    from_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    geodesic_km,
    to_wgs84,
    wgs84_to_gcj02,
    within_km,
)

JINING = Point(35.41, 116.59)


def metres(a, b) -> float:
    return geodesic((a[0], a[1]), (b[0], b[1])).m


# Keep a margin from the out_of_china box edges: GCJ-02 is discontinuous there
# (the offset of a few hundred metres switches off), so a round trip across the
# edge is not meaningful.
china_lat = st.floats(min_value=1.0, max_value=55.6)
china_lng = st.floats(min_value=72.2, max_value=137.6)
china_points = st.builds(Point, china_lat, china_lng)


# --- reference values ---------------------------------------------------------
# The (116.404, 39.915) fixtures are the ones published with wandergis/coordtransform
# and reproduced by several independent ports (PHP, Rust, Presto), so they check our
# formula against other people's code rather than against itself.


def test_wgs84_to_gcj02_tiananmen():
    got = wgs84_to_gcj02(39.908692, 116.397477)
    assert got.lat == pytest.approx(39.910093, abs=1e-5)
    assert got.lng == pytest.approx(116.403722, abs=1e-5)


def test_wgs84_to_gcj02_published_fixture():
    got = wgs84_to_gcj02(39.915, 116.404)
    assert got.lat == pytest.approx(39.91640428150164, abs=1e-9)
    assert got.lng == pytest.approx(116.41024449916938, abs=1e-9)


def test_gcj02_to_wgs84_tiananmen():
    got = gcj02_to_wgs84(39.910093, 116.403722)
    # The reference GCJ value is rounded to 1e-6 deg (~0.1 m per digit), hence 0.5 m.
    assert metres(got, (39.908692, 116.397477)) < 0.5


def test_gcj02_to_wgs84_beats_one_step_approximation():
    # The one-step inverse from the fixture gives (39.91359571849836, 116.39775550083061),
    # which is ~1 m away from the true WGS-84 point; the iterated inverse must do better.
    got = gcj02_to_wgs84(39.91640428150164, 116.41024449916938)
    assert metres(got, (39.915, 116.404)) < 0.01
    one_step = (39.91359571849836, 116.39775550083061)
    assert metres(one_step, (39.915, 116.404)) > 0.5


def test_gcj02_to_bd09_published_fixture():
    got = gcj02_to_bd09(39.915, 116.404)
    assert got.lat == pytest.approx(39.92133699351021, abs=1e-9)
    assert got.lng == pytest.approx(116.41036949371029, abs=1e-9)


def test_bd09_to_gcj02_published_fixture():
    got = bd09_to_gcj02(39.915, 116.404)
    assert got.lat == pytest.approx(39.90865673957631, abs=1e-9)
    assert got.lng == pytest.approx(116.39762729119315, abs=1e-9)


def test_results_are_points():
    assert isinstance(wgs84_to_gcj02(35.41, 116.59), Point)
    assert isinstance(to_wgs84(35.41, 116.59, "bd09"), Point)


# --- round trips ----------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(china_points)
def test_gcj02_wgs84_gcj02_round_trip(p):
    back = wgs84_to_gcj02(*gcj02_to_wgs84(p.lat, p.lng))
    assert metres(back, p) < 0.5


@settings(max_examples=300, deadline=None)
@given(china_points)
def test_wgs84_gcj02_wgs84_round_trip(p):
    back = gcj02_to_wgs84(*wgs84_to_gcj02(p.lat, p.lng))
    assert metres(back, p) < 0.5


@settings(max_examples=300, deadline=None)
@given(china_points)
def test_gcj_shift_is_real_inside_china(p):
    # Guards against the conversion silently becoming the identity.
    shift = metres(wgs84_to_gcj02(p.lat, p.lng), p)
    assert 1.0 < shift < 2000.0


@settings(max_examples=300, deadline=None)
@given(china_points)
def test_bd09_round_trip(p):
    back = bd09_to_gcj02(*gcj02_to_bd09(p.lat, p.lng))
    assert metres(back, p) < 0.5


@settings(max_examples=200, deadline=None)
@given(china_points, st.sampled_from(COORD_SYSTEMS))
def test_to_from_wgs84_round_trip(p, system):
    converted = from_wgs84(p, system)
    assert metres(to_wgs84(converted.lat, converted.lng, system), p) < 0.5


def test_to_wgs84_dispatches_to_the_right_conversion():
    lat, lng = 39.915, 116.404
    assert to_wgs84(lat, lng, "wgs84") == Point(lat, lng)
    assert to_wgs84(lat, lng, "gcj02") == gcj02_to_wgs84(lat, lng)
    assert to_wgs84(lat, lng, "bd09") == gcj02_to_wgs84(*bd09_to_gcj02(lat, lng))
    p = Point(lat, lng)
    assert from_wgs84(p, "wgs84") == p
    assert from_wgs84(p, "gcj02") == wgs84_to_gcj02(lat, lng)
    assert from_wgs84(p, "bd09") == gcj02_to_bd09(*wgs84_to_gcj02(lat, lng))


# --- outside China ------------------------------------------------------------------


@pytest.mark.parametrize(
    "lat,lng",
    [
        (51.5074, -0.1278),  # London
        (40.7128, -74.0060),  # New York
        (-33.8688, 151.2093),  # Sydney
        (0.5, 110.0),  # south of the box
        (60.0, 100.0),  # north of the box
        (30.0, 140.0),  # east of the box
        (40.0, 70.0),  # west of the box
    ],
)
def test_no_gcj_shift_outside_china(lat, lng):
    assert wgs84_to_gcj02(lat, lng) == Point(lat, lng)
    assert gcj02_to_wgs84(lat, lng) == Point(lat, lng)
    assert to_wgs84(lat, lng, "gcj02") == Point(lat, lng)
    assert from_wgs84(Point(lat, lng), "gcj02") == Point(lat, lng)


# --- errors -------------------------------------------------------------------------


@pytest.mark.parametrize("system", ["WGS84", "gcj-02", "bd-09", "", "utm"])
def test_unknown_coord_system_raises(system):
    with pytest.raises(ValueError, match="coordinate system"):
        to_wgs84(35.41, 116.59, system)
    with pytest.raises(ValueError, match="coordinate system"):
        from_wgs84(JINING, system)


def test_non_finite_coordinates_raise():
    with pytest.raises(ValueError):
        wgs84_to_gcj02(math.nan, 116.0)
    with pytest.raises(ValueError):
        to_wgs84(35.0, math.inf, "wgs84")


# --- distances and bounding boxes ----------------------------------------------------


def test_geodesic_km_known_distance():
    # Jining to Qufu centre, checked against geopy directly plus a sanity range.
    qufu = Point(35.5810, 116.9860)
    d = geodesic_km(JINING, qufu)
    assert d == pytest.approx(geodesic((35.41, 116.59), (35.5810, 116.9860)).km)
    assert 35 < d < 45
    assert geodesic_km(JINING, JINING) == 0


def test_within_km():
    east = geodesic(kilometers=5).destination((JINING.lat, JINING.lng), 90)
    p = Point(east.latitude, east.longitude)
    assert within_km(JINING, p, 5.001)
    assert not within_km(JINING, p, 4.999)


@settings(max_examples=500, deadline=None)
@given(
    lat=st.floats(min_value=-55.0, max_value=55.0),
    lng=st.floats(min_value=-170.0, max_value=170.0),
    radius_km=st.floats(min_value=0.01, max_value=300.0),
    bearing=st.floats(min_value=0.0, max_value=360.0),
    fraction=st.floats(min_value=0.0, max_value=1.0),
)
def test_bounding_box_covers_points_within_radius(lat, lng, radius_km, bearing, fraction):
    center = Point(lat, lng)
    dest = geodesic(kilometers=radius_km * fraction).destination((lat, lng), bearing)
    min_lat, max_lat, min_lng, max_lng = bounding_box(center, radius_km)
    assert min_lat <= dest.latitude <= max_lat
    assert min_lng <= dest.longitude <= max_lng


@pytest.mark.parametrize("lat", [0.0, 20.0, 35.41, 45.0, 55.0])
@pytest.mark.parametrize("bearing", [0.0, 90.0, 180.0, 270.0])
def test_bounding_box_covers_extreme_points(lat, bearing):
    # The cardinal points at exactly the radius touch the box; the spherical
    # "r / 111.32 km per degree" shortcut fails this at the equator.
    center = Point(lat, 116.59)
    radius_km = 100.0
    dest = geodesic(kilometers=radius_km).destination((lat, 116.59), bearing)
    min_lat, max_lat, min_lng, max_lng = bounding_box(center, radius_km)
    assert min_lat <= dest.latitude <= max_lat
    assert min_lng <= dest.longitude <= max_lng


@pytest.mark.parametrize("lat", [0.0, 30.0, 55.0, -55.0])
@pytest.mark.parametrize("radius_km", [1.0, 300.0, 1500.0])
def test_bounding_box_covers_whole_circle(lat, radius_km):
    # On a wide circle at high latitude the easternmost point lies poleward of the
    # centre, so a box sized with cos(centre latitude) would miss it.
    box = bounding_box(Point(lat, 116.59), radius_km)
    for bearing in np.arange(0.0, 360.0, 0.5):
        dest = geodesic(kilometers=radius_km).destination((lat, 116.59), bearing)
        assert box[0] <= dest.latitude <= box[1], bearing
        assert box[2] <= dest.longitude <= box[3], bearing


@pytest.mark.parametrize("lat", [0.0, 35.41, 55.0])
def test_bounding_box_is_reasonably_tight(lat):
    # An over-wide box would still be "correct" but useless as a SQL prefilter.
    center = Point(lat, 116.59)
    radius_km = 50.0
    min_lat, max_lat, min_lng, max_lng = bounding_box(center, radius_km)
    north = geodesic(kilometers=radius_km).destination((lat, 116.59), 0).latitude
    east = geodesic(kilometers=radius_km).destination((lat, 116.59), 90).longitude
    assert max_lat - lat <= (north - lat) * 1.02
    assert max_lng - 116.59 <= (east - 116.59) * 1.05
    assert lat - min_lat == pytest.approx(max_lat - lat)
    assert 116.59 - min_lng == pytest.approx(max_lng - 116.59)


def test_bounding_box_zero_radius_and_invalid():
    box = bounding_box(JINING, 0.0)
    assert box[0] <= JINING.lat <= box[1]
    assert box[2] <= JINING.lng <= box[3]
    with pytest.raises(ValueError):
        bounding_box(JINING, -1.0)


# --- travel model -------------------------------------------------------------------


def jining_points(n: int, seed: int = 7) -> list[Point]:
    rng = np.random.default_rng(seed)
    lats = rng.uniform(JINING.lat - 0.25, JINING.lat + 0.25, n)
    lngs = rng.uniform(JINING.lng - 0.25, JINING.lng + 0.25, n)
    return [Point(float(a), float(b)) for a, b in zip(lats, lngs, strict=True)]


def test_geodesic_travel_is_a_travel_model():
    model: TravelModel = GeodesicTravel()
    assert model.distance_m(JINING, JINING) == 0


def test_geodesic_travel_distance_applies_detour_factor():
    a, b = jining_points(2, seed=1)
    plain = geodesic((a.lat, a.lng), (b.lat, b.lng)).m
    assert GeodesicTravel(detour_factor=1.0).distance_m(a, b) == round(plain)
    assert GeodesicTravel(detour_factor=1.3).distance_m(a, b) == round(plain * 1.3)
    assert isinstance(GeodesicTravel().distance_m(a, b), int)


@pytest.mark.parametrize("speed_kmh", [25.0, 18.0, 40.0, 7.3])
def test_duration_is_distance_over_speed_rounded_up(speed_kmh):
    model = GeodesicTravel(speed_kmh=speed_kmh)
    speed_mps = speed_kmh / 3.6
    for a, b in zip(jining_points(20, seed=2), jining_points(20, seed=3), strict=True):
        d = model.distance_m(a, b)
        t = model.duration_s(a, b)
        assert isinstance(t, int)
        assert t * speed_mps >= d - 1e-6
        assert (t - 1) * speed_mps < d


def test_duration_for_exact_multiple_is_not_rounded_up():
    # 25 km/h is 1000 m per 144 s: a 1000 m hop must take exactly 144 s, not 145.
    model = GeodesicTravel(detour_factor=1.0, speed_kmh=25.0)
    a = JINING
    north = geodesic(meters=1000).destination((a.lat, a.lng), 0)
    b = Point(north.latitude, north.longitude)
    assert model.distance_m(a, b) == 1000
    assert model.duration_s(a, b) == 144


def test_one_metre_per_second_gives_seconds_equal_to_metres():
    # 3.6 km/h is exactly 1 m/s, but 143 * 3.6 / 3.6 is 143.00000000000003 in floats:
    # a naive ceil would charge 144 s for a 143 m hop.
    model = GeodesicTravel(detour_factor=1.0, speed_kmh=3.6)
    north = geodesic(meters=143).destination((JINING.lat, JINING.lng), 0)
    b = Point(north.latitude, north.longitude)
    assert model.distance_m(JINING, b) == 143
    assert model.duration_s(JINING, b) == 143
    dist, dur = model.matrices(jining_points(40) + [JINING, b])
    assert dist[-2, -1] == 143
    assert np.array_equal(dur, dist)


def test_geodesic_travel_rejects_bad_parameters():
    with pytest.raises(ValueError):
        GeodesicTravel(speed_kmh=0)
    with pytest.raises(ValueError):
        GeodesicTravel(detour_factor=0.5)


def test_matrices_shape_diagonal_symmetry_and_dtype():
    pts = jining_points(60)
    dist, dur = GeodesicTravel().matrices(pts)
    for m in (dist, dur):
        assert m.shape == (60, 60)
        assert m.dtype == np.int64
        assert np.all(np.diag(m) == 0)
        assert np.array_equal(m, m.T)
    off_diag = ~np.eye(60, dtype=bool)
    assert np.all(dist[off_diag] > 0)


def test_matrices_agree_with_geopy_on_jining_points():
    pts = jining_points(40)
    model = GeodesicTravel(detour_factor=1.3, speed_kmh=25.0)
    dist, dur = model.matrices(pts)
    for i, a in enumerate(pts):
        for j, b in enumerate(pts):
            if i == j:
                continue
            expected = geodesic((a.lat, a.lng), (b.lat, b.lng)).m * 1.3
            # +1 m allows for rounding to whole metres on very short hops.
            assert abs(dist[i, j] - expected) <= 0.005 * expected + 1, (i, j)
            assert abs(dur[i, j] - model.duration_s(a, b)) <= 0.005 * dur[i, j] + 1, (i, j)


def test_matrix_durations_follow_matrix_distances():
    model = GeodesicTravel(speed_kmh=18.0)
    dist, dur = model.matrices(jining_points(30))
    speed_mps = 18.0 / 3.6
    assert np.all(dur * speed_mps >= dist - 1e-6)
    assert np.all((dur - 1) * speed_mps < dist)


def test_matrices_handle_duplicates_and_empty_input():
    model = GeodesicTravel()
    dist, dur = model.matrices([JINING, JINING, Point(35.5, 116.7)])
    assert dist[0, 1] == dist[1, 0] == 0
    assert dur[0, 1] == 0
    assert dist[0, 2] == dist[1, 2] > 0
    d0, t0 = model.matrices([])
    assert d0.shape == t0.shape == (0, 0)


def test_matrices_fast_enough_for_a_planner():
    pts = jining_points(500)
    start = time.perf_counter()
    dist, dur = GeodesicTravel().matrices(pts)
    elapsed = time.perf_counter() - start
    assert dist.shape == dur.shape == (500, 500)
    # Typically ~0.05 s; geopy pairwise would take tens of seconds. The bound is
    # loose so a busy CI machine does not make this flaky.
    assert elapsed < 3.0

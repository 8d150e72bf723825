"""Coordinates, Chinese map datums, distances and the travel model used for dispatch."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple, Protocol

import numpy as np
from geopy.distance import geodesic

if TYPE_CHECKING:
    from homecare.config import Config

__all__ = [
    "COORD_SYSTEMS",
    "GeodesicTravel",
    "Point",
    "TravelModel",
    "bd09_to_gcj02",
    "bounding_box",
    "from_wgs84",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "geodesic_km",
    "haversine_km",
    "to_wgs84",
    "travel_model",
    "wgs84_to_gcj02",
    "within_km",
    "within_radius",
]


class Point(NamedTuple):
    """A latitude/longitude pair in degrees; WGS-84 unless a function says otherwise."""

    lat: float
    lng: float


COORD_SYSTEMS = ("wgs84", "gcj02", "bd09")

# GCJ-02 is defined on the Krasovsky 1940 ellipsoid, not WGS-84; these are the
# constants every published implementation uses, so our output matches the apps'.
_KRASOVSKY_A = 6378245.0
_KRASOVSKY_EE = 0.00669342162296594323
_BD_X_PI = math.pi * 3000.0 / 180.0

# WGS-84, in km, for the bounding box and the vectorised distance.
_WGS84_A_KM = 6378.137
_WGS84_F = 1 / 298.257223563
_WGS84_E2 = _WGS84_F * (2 - _WGS84_F)
# The meridian radius of curvature is smallest at the equator, so it bounds how
# fast latitude can change per km anywhere.
_WGS84_MIN_MERIDIAN_KM = _WGS84_A_KM * (1 - _WGS84_E2)

# 1e-9 deg is ~0.1 mm: far below what any caller can observe, and the fixed-point
# iteration contracts by ~1e-2 per step, so reaching it costs only a few rounds.
_GCJ_INVERSE_TOL_DEG = 1e-9
_GCJ_INVERSE_MAX_ITER = 30


def _out_of_china(lat: float, lng: float) -> bool:
    # The obfuscation is only applied inside this box; outside it GCJ-02 is WGS-84.
    return not (72.004 <= lng <= 137.8347 and 0.8293 <= lat <= 55.8271)


def _gcj_offset_lat(x: float, y: float) -> float:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _gcj_offset_lng(x: float, y: float) -> float:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def _gcj_delta(lat: float, lng: float) -> tuple[float, float]:
    dlat = _gcj_offset_lat(lng - 105.0, lat - 35.0)
    dlng = _gcj_offset_lng(lng - 105.0, lat - 35.0)
    radlat = lat / 180.0 * math.pi
    magic = 1 - _KRASOVSKY_EE * math.sin(radlat) ** 2
    sqrtmagic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_KRASOVSKY_A * (1 - _KRASOVSKY_EE)) / (magic * sqrtmagic) * math.pi)
    dlng = (dlng * 180.0) / (_KRASOVSKY_A / sqrtmagic * math.cos(radlat) * math.pi)
    return dlat, dlng


def _check_finite(lat: float, lng: float) -> None:
    if not (math.isfinite(lat) and math.isfinite(lng)):
        raise ValueError(f"coordinates must be finite, got ({lat!r}, {lng!r})")


def wgs84_to_gcj02(lat: float, lng: float) -> Point:
    """Convert WGS-84 to GCJ-02 (the datum of Amap/Tencent maps); the result Point is GCJ-02."""
    _check_finite(lat, lng)
    if _out_of_china(lat, lng):
        return Point(lat, lng)
    dlat, dlng = _gcj_delta(lat, lng)
    return Point(lat + dlat, lng + dlng)


def gcj02_to_wgs84(lat: float, lng: float) -> Point:
    """Convert GCJ-02 to WGS-84, accurate to well under 0.5 m inside mainland China.

    GCJ-02 has no closed-form inverse. The common one-step approximation (subtract
    the offset evaluated at the GCJ point) is off by up to a few metres, which is
    enough to put a patient on the wrong side of a road, so we iterate the
    forward transform to a fixed point instead.
    """
    _check_finite(lat, lng)
    if _out_of_china(lat, lng):
        return Point(lat, lng)
    w_lat, w_lng = lat, lng
    for _ in range(_GCJ_INVERSE_MAX_ITER):
        g_lat, g_lng = wgs84_to_gcj02(w_lat, w_lng)
        err_lat, err_lng = g_lat - lat, g_lng - lng
        if abs(err_lat) < _GCJ_INVERSE_TOL_DEG and abs(err_lng) < _GCJ_INVERSE_TOL_DEG:
            break
        w_lat -= err_lat
        w_lng -= err_lng
    return Point(w_lat, w_lng)


def gcj02_to_bd09(lat: float, lng: float) -> Point:
    """Convert GCJ-02 to BD-09 (Baidu maps); the result Point is BD-09."""
    _check_finite(lat, lng)
    z = math.hypot(lng, lat) + 0.00002 * math.sin(lat * _BD_X_PI)
    theta = math.atan2(lat, lng) + 0.000003 * math.cos(lng * _BD_X_PI)
    return Point(z * math.sin(theta) + 0.006, z * math.cos(theta) + 0.0065)


def bd09_to_gcj02(lat: float, lng: float) -> Point:
    """Convert BD-09 (Baidu maps) to GCJ-02; the result Point is GCJ-02."""
    _check_finite(lat, lng)
    x = lng - 0.0065
    y = lat - 0.006
    z = math.hypot(x, y) - 0.00002 * math.sin(y * _BD_X_PI)
    theta = math.atan2(y, x) - 0.000003 * math.cos(x * _BD_X_PI)
    return Point(z * math.sin(theta), z * math.cos(theta))


def _check_system(coord_system: str) -> None:
    if coord_system not in COORD_SYSTEMS:
        raise ValueError(
            f"unknown coordinate system {coord_system!r}; expected one of {COORD_SYSTEMS}"
        )


def to_wgs84(lat: float, lng: float, coord_system: str) -> Point:
    """Convert a coordinate given in ``coord_system`` (one of COORD_SYSTEMS) to WGS-84."""
    _check_system(coord_system)
    if coord_system == "gcj02":
        return gcj02_to_wgs84(lat, lng)
    if coord_system == "bd09":
        return gcj02_to_wgs84(*bd09_to_gcj02(lat, lng))
    _check_finite(lat, lng)
    return Point(lat, lng)


def from_wgs84(point: Point, coord_system: str) -> Point:
    """Convert a WGS-84 point to ``coord_system`` (one of COORD_SYSTEMS)."""
    _check_system(coord_system)
    if coord_system == "gcj02":
        return wgs84_to_gcj02(point.lat, point.lng)
    if coord_system == "bd09":
        return gcj02_to_bd09(*wgs84_to_gcj02(point.lat, point.lng))
    _check_finite(point.lat, point.lng)
    return Point(point.lat, point.lng)


def geodesic_km(a: Point, b: Point) -> float:
    """Geodesic distance in km between two WGS-84 points, on the WGS-84 ellipsoid."""
    return geodesic((a.lat, a.lng), (b.lat, b.lng)).km


def within_km(center: Point, p: Point, radius_km: float) -> bool:
    """Whether ``p`` lies within ``radius_km`` geodesic km of ``center`` (boundary included).

    The one radius test: dispatch's ``service_radius`` rule and the planner's
    ``near:`` skill both come here (through ``within_radius``).
    """
    return geodesic_km(p, center) <= radius_km


# Haversine on the mean sphere is within 0.6% of the WGS-84 geodesic, so only
# distances within 1% of a radius need geopy's exact (and much slower) geodesic.
MEAN_EARTH_KM = 6371.0088
_EDGE = 0.01


def haversine_km(a: Point, b: Point) -> float:
    """Great-circle km on the mean sphere: fast, within 0.6% of ``geodesic_km``."""
    lat0, lat1 = math.radians(a.lat), math.radians(b.lat)
    hav = (math.sin((lat1 - lat0) / 2) ** 2
           + math.cos(lat0) * math.cos(lat1) * math.sin(math.radians(b.lng - a.lng) / 2) ** 2)
    return 2 * MEAN_EARTH_KM * math.asin(min(1.0, math.sqrt(hav)))


def within_radius(center: Point, places: Sequence[Point], radii_km: Sequence[float],
                  exact: bool = False) -> tuple[list[float], list[bool]]:
    """Per place, its great-circle km from ``center`` and whether it lies within its
    radius by ``within_km`` (geodesic, boundary included).

    ``exact`` computes the geodesic for every place (the naive reference);
    otherwise the haversine figure settles all but the places within 1% of their
    radius. Both decide alike: the haversine error (under 0.6%) is inside that band.
    """
    if not places:
        return [], []
    lat = np.radians(np.fromiter((p.lat for p in places), float, len(places)))
    lng = np.radians(np.fromiter((p.lng for p in places), float, len(places)))
    lim = np.asarray(radii_km, dtype=float)
    lat0, lng0 = math.radians(center.lat), math.radians(center.lng)
    hav = (np.sin((lat - lat0) / 2) ** 2
           + math.cos(lat0) * np.cos(lat) * np.sin((lng - lng0) / 2) ** 2)
    approx = 2 * MEAN_EARTH_KM * np.arcsin(np.sqrt(np.clip(hav, 0.0, 1.0)))
    if exact:
        return approx.tolist(), [within_km(center, p, r) for p, r in
                                 zip(places, lim.tolist(), strict=True)]
    inside = (approx <= lim * (1 - _EDGE)).tolist()
    for i in np.flatnonzero(~np.asarray(inside) & (approx <= lim * (1 + _EDGE))).tolist():
        inside[i] = within_km(center, places[i], float(lim[i]))
    return approx.tolist(), inside


def bounding_box(center: Point, radius_km: float) -> tuple[float, float, float, float]:
    """A (min_lat, max_lat, min_lng, max_lng) box containing every point within ``radius_km``.

    Meant as a cheap prefilter on indexed lat/lng columns, so it may over-cover
    but never under-cover. If the box would reach a pole or cross the
    antimeridian, the longitude range is widened to the full -180..180.
    """
    if not (math.isfinite(radius_km) and radius_km >= 0):
        raise ValueError(f"radius_km must be a finite non-negative number, got {radius_km!r}")
    # Every point on the shortest path to a point within r is itself within r, so
    # the whole path stays in the latitude band below; bounding the path's
    # d(lat)/ds and d(lng)/ds inside that band bounds the endpoint. Using the
    # smallest radii of curvature (meridian at the equator; parallel radius
    # N*cos >= a*cos at the band's poleward edge) makes both bounds rigorous,
    # unlike the usual spherical "r / 111 km" rule, which under-covers by ~0.7%.
    # The 1e-9 deg (~0.1 mm) pad absorbs float rounding.
    dlat = math.degrees(radius_km / _WGS84_MIN_MERIDIAN_KM) + 1e-9
    min_lat = max(center.lat - dlat, -90.0)
    max_lat = min(center.lat + dlat, 90.0)
    poleward = max(abs(min_lat), abs(max_lat))
    if poleward >= 90.0:
        return min_lat, max_lat, -180.0, 180.0
    dlng = math.degrees(radius_km / (_WGS84_A_KM * math.cos(math.radians(poleward)))) + 1e-9
    min_lng = center.lng - dlng
    max_lng = center.lng + dlng
    if min_lng < -180.0 or max_lng > 180.0:
        return min_lat, max_lat, -180.0, 180.0
    return min_lat, max_lat, min_lng, max_lng


class TravelModel(Protocol):
    """How far and how long a nurse travels between two WGS-84 points.

    The single seam for a road-network provider: everything that needs travel
    distances or times goes through this interface.
    """

    def distance_m(self, a: Point, b: Point) -> int:
        """Road distance in whole metres."""
        ...

    def duration_s(self, a: Point, b: Point) -> int:
        """Travel time in whole seconds."""
        ...

    def matrices(self, points: Sequence[Point]) -> tuple[np.ndarray, np.ndarray]:
        """(distance_m, duration_s) as int64 n x n matrices, row = origin, column = destination."""
        ...


def _lambert_m(lat: np.ndarray, lng: np.ndarray) -> np.ndarray:
    """Pairwise ellipsoidal distances in metres by Lambert's formula (n x n, float)."""
    # Reduced latitudes put the sphere-to-ellipsoid correction into a first-order term
    # in the flattening, which is what makes this ~1000x better than plain haversine.
    beta = np.arctan((1 - _WGS84_F) * np.tan(np.radians(lat)))
    lam = np.radians(lng)
    b1, b2 = beta[:, None], beta[None, :]
    hav = (
        np.sin((b2 - b1) / 2) ** 2
        + np.cos(b1) * np.cos(b2) * np.sin((lam[None, :] - lam[:, None]) / 2) ** 2
    )
    sigma = 2 * np.arcsin(np.sqrt(np.clip(hav, 0.0, 1.0)))
    p = (b1 + b2) / 2
    q = (b2 - b1) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        x = (sigma - np.sin(sigma)) * np.sin(p) ** 2 * np.cos(q) ** 2 / np.cos(sigma / 2) ** 2
        y = (sigma + np.sin(sigma)) * np.cos(p) ** 2 * np.sin(q) ** 2 / np.sin(sigma / 2) ** 2
        d = _WGS84_A_KM * 1000.0 * (sigma - _WGS84_F / 2 * (x + y))
    # Coincident points give 0/0 above; their distance is exactly zero.
    return np.where(sigma > 0, d, 0.0)


class GeodesicTravel:
    """Travel model from straight-line geodesic distance, a detour factor and a flat speed.

    Road distance = geodesic distance * detour_factor; duration = road distance /
    speed, rounded up to whole seconds (from the whole-metre distance, so the two
    figures a planner sees are always consistent with each other).
    """

    def __init__(self, detour_factor: float = 1.3, speed_kmh: float = 25.0) -> None:
        if not (math.isfinite(detour_factor) and detour_factor >= 1.0):
            raise ValueError(f"detour_factor must be >= 1, got {detour_factor!r}")
        if not (math.isfinite(speed_kmh) and speed_kmh > 0):
            raise ValueError(f"speed_kmh must be > 0, got {speed_kmh!r}")
        self.detour_factor = float(detour_factor)
        self.speed_kmh = float(speed_kmh)

    def __repr__(self) -> str:
        return f"GeodesicTravel(detour_factor={self.detour_factor}, speed_kmh={self.speed_kmh})"

    def _seconds(self, metres: float) -> int:
        # The epsilon stops float noise (e.g. 3600.0000000000005) from charging an
        # extra second for a distance that is an exact multiple of the speed.
        return math.ceil(metres * 3.6 / self.speed_kmh - 1e-9)

    def distance_m(self, a: Point, b: Point) -> int:
        """Road distance in whole metres, from geopy's geodesic."""
        return round(geodesic_km(a, b) * 1000.0 * self.detour_factor)

    def duration_s(self, a: Point, b: Point) -> int:
        """Travel time in whole seconds, rounded up."""
        return max(0, self._seconds(self.distance_m(a, b)))

    def matrices(self, points: Sequence[Point]) -> tuple[np.ndarray, np.ndarray]:
        """(distance_m, duration_s) int64 n x n matrices; symmetric with a zero diagonal.

        A planner asks for ~500 points, i.e. 250k pairs, and geopy's geodesic
        (Karney's iterative algorithm in pure Python) takes many seconds for that.
        So the matrix uses Lambert's closed-form ellipsoidal formula, vectorised:
        at city scale it agrees with the true geodesic to well under 0.5% (in
        practice to within metres), far below the uncertainty of the detour
        factor itself, which is the dominant error of this model.
        """
        arr = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        n = arr.shape[0]
        if n == 0:
            empty = np.zeros((0, 0), dtype=np.int64)
            return empty, empty.copy()
        if not np.all(np.isfinite(arr)):
            raise ValueError("points must have finite coordinates")
        metres = _lambert_m(arr[:, 0], arr[:, 1]) * self.detour_factor
        # Mirror the upper triangle so symmetry and the zero diagonal hold exactly,
        # not merely up to float rounding.
        upper = np.triu(np.rint(metres), k=1)
        dist = (upper + upper.T).astype(np.int64)
        dur = np.ceil(dist * 3.6 / self.speed_kmh - 1e-9)
        dur = np.maximum(dur, 0).astype(np.int64)
        return dist, dur


def eta_minutes(model: TravelModel, at: Point, to: Point) -> float:
    """Minutes from ``at`` to ``to`` by ``model``, to a tenth: what a family is shown."""
    return round(model.duration_s(at, to) / 60, 1)


def travel_model(config: Config) -> TravelModel:
    """The travel model every caller uses, built from the configuration.

    The one place to plug in a road-network provider (AMap, Tencent): return
    another ``TravelModel`` here and dispatch and planning both follow.
    """
    return GeodesicTravel(detour_factor=config.travel_detour_factor,
                          speed_kmh=config.travel_speed_kmh)

"""Benchmark candidate search on a synthetic Jining: the spatial index against a naive scan.

    python bench/match.py [--sizes 1000,10000,100000] [--orders 200] [--seed 11]

For each size a synthetic Jining prefecture (about 110 x 110 km) is written to
an SQLite file in a temporary folder through the real migrations: 42
institutions in nine county towns; nurses living mostly in the towns (some in
the countryside) with mixed titles, skills, service radii of 5-15 km, daily
caps, ratings and fresh pings; about a third of them on shift that day, mostly
for a morning, an afternoon or an evening, with 0-3 visits already accepted;
orders at addresses spread the same way, with 1-2 h windows between 09:00 and
19:00 for items that need different skills and titles. The spatial index is
built by the service that repairs it (``sync_spatial_index``).

Each order's candidates are then searched twice, in one read transaction,
after one untimed pass (a running server has its statements compiled and its
pages cached):

* ``fast``: ``dispatch.matching.list_candidates``, exactly what
  ``GET /orders/{id}/candidates`` and the offer rounds run: one indexed lookup
  of the address's grid cell, then every hard filter and the score.
* ``naive``: every nurse read from the database and geopy's geodesic computed to
  each (the issue's baseline), then the same hard filters and score.

Both must give the same ranked list (checked for every order searched both
ways). The naive scan is slow, so it runs on the first ``--naive`` orders per
size; the ratios compare the two on those same orders. How long a search takes
depends mostly on how many nurses pass the cheap filters and need the time
checks, so the JSON gives the candidate counts too. One JSON object goes to
stdout: p50/p99/mean milliseconds of both, the ratios, and whether the targets
hold (10,000 nurses: fast p99 under 10 ms and at least 20x faster).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import sqlalchemy as sa
from cryptography.fernet import Fernet

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from homecare import create_app  # noqa: E402
from homecare.accounts.models import Organization, User  # noqa: E402
from homecare.catalogue.models import ServiceItem  # noqa: E402
from homecare.db import db, reading  # noqa: E402
from homecare.dispatch.matching import evaluate, list_candidates  # noqa: E402
from homecare.dispatch.models import NurseCell  # noqa: E402
from homecare.dispatch.nearby import load_job, nurse_rows, radius_km  # noqa: E402
from homecare.dispatch.spatial import sync_spatial_index  # noqa: E402
from homecare.geo import Point, geodesic_km  # noqa: E402
from homecare.migrations import upgrade  # noqa: E402
from homecare.nurses.models import Nurse, Shift  # noqa: E402
from homecare.orders.models import Order  # noqa: E402
from homecare.patients.models import Address, CareRecipient  # noqa: E402

ZONE = ZoneInfo("Asia/Shanghai")
DAY = date(2025, 3, 18)
NOW = datetime(2025, 3, 18, 8, 0, tzinfo=ZONE).astimezone(UTC)
# Every nurse's licence and insurance cover the benchmark's visits (rule credentials).
CREDENTIALS_UNTIL = date(2099, 12, 31)
KM_PER_DEG_LAT = 111.0

# County towns of Jining prefecture (WGS-84), the share of people living there,
# the spread of the town in km and how many institutions there run
# Internet+nursing: hospitals and community health centres, about one per
# 200,000 people (Shandong reported 800-odd institutions offering it across its
# 16 prefectures), 42 in all. The rest of the people live in the countryside.
TOWNS = (
    ("任城区", 35.414, 116.595, 0.24, 6.0, 12),
    ("兖州区", 35.552, 116.784, 0.10, 4.0, 4),
    ("曲阜市", 35.581, 116.986, 0.09, 4.0, 4),
    ("邹城市", 35.405, 116.973, 0.12, 5.0, 6),
    ("嘉祥县", 35.408, 116.342, 0.07, 3.5, 3),
    ("汶上县", 35.732, 116.489, 0.07, 3.5, 3),
    ("金乡县", 35.067, 116.311, 0.08, 3.5, 4),
    ("鱼台县", 35.012, 116.650, 0.05, 3.0, 3),
    ("梁山县", 35.802, 116.096, 0.06, 3.0, 3),
)
# Organization ids per town, in order.
ORGS = [[] for _ in TOWNS]
for _k, _town in enumerate(TOWNS):
    for _j in range(_town[5]):
        ORGS[_k].append(sum(t[5] for t in TOWNS[:_k]) + _j + 1)
RURAL_SHARE = 0.12
# The prefecture's extent for country addresses: about 110 km each way.
LAT_RANGE = (34.90, 35.90)
LNG_RANGE = (115.95, 117.15)

TITLES = ("nurse", "senior_nurse", "supervisor_nurse", "associate_chief_nurse", "chief_nurse")
TITLE_SHARE = (0.12, 0.45, 0.28, 0.10, 0.05)
# Everyone holds the basic skills; each specialism with this probability.
BASIC = ("vital_signs", "blood_sampling", "injection", "glucose_monitoring")
SPECIAL = {"urinary_catheter": 0.40, "picc_maintenance": 0.15, "wound_care": 0.25,
           "ostomy_care": 0.12, "postnatal_care": 0.18, "newborn_care": 0.18,
           "moxibustion": 0.20, "rehabilitation": 0.25, "pressure_injury": 0.30}
# (code, skills, minimum title, minutes, price in fen, share of orders)
ITEMS = (
    ("BM_BLOOD", ["blood_sampling"], "senior_nurse", 30, 9000, 0.30),
    ("BM_INJECT", ["injection"], "senior_nurse", 30, 8000, 0.15),
    ("TB_CATHETER", ["urinary_catheter"], "senior_nurse", 45, 16000, 0.12),
    ("TB_PICC", ["picc_maintenance"], "supervisor_nurse", 60, 20000, 0.08),
    ("WO_WOUND", ["wound_care"], "senior_nurse", 45, 15000, 0.10),
    ("MI_POSTNATAL", ["postnatal_care", "newborn_care"], "senior_nurse", 60, 18000, 0.08),
    ("TCM_MOXA", ["moxibustion"], "senior_nurse", 45, 12000, 0.07),
    ("EL_PRESSURE", ["pressure_injury"], "senior_nurse", 45, 13000, 0.10),
)
# Share of nurses who published a shift for the day (most do this off duty).
ON_DUTY_SHARE = 0.35


def _places(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` homes or addresses: (lat, lng, town index; -1 for the countryside)."""
    weights = np.array([t[3] for t in TOWNS])
    weights = weights / weights.sum() * (1 - RURAL_SHARE)
    town = rng.choice(len(TOWNS) + 1, size=n, p=[*weights, RURAL_SHARE])
    lat = rng.uniform(*LAT_RANGE, n)
    lng = rng.uniform(*LNG_RANGE, n)
    for k, (_name, tlat, tlng, _w, sigma, _orgs) in enumerate(TOWNS):
        mask = town == k
        lat[mask] = tlat + rng.normal(0, sigma / KM_PER_DEG_LAT, mask.sum())
        lng[mask] = tlng + rng.normal(0, sigma / (KM_PER_DEG_LAT * np.cos(np.radians(tlat))),
                                      mask.sum())
    town[town == len(TOWNS)] = -1
    return lat, lng, town


def _organizations(rng: np.random.Generator, lat: np.ndarray, lng: np.ndarray) -> np.ndarray:
    """An institution of the nearest town for each place (nurses work there, families
    book there), chosen at random among the town's institutions."""
    tl = np.array([[t[1], t[2]] for t in TOWNS])
    dy = (lat[:, None] - tl[None, :, 0]) * KM_PER_DEG_LAT
    dx = (lng[:, None] - tl[None, :, 1]) * KM_PER_DEG_LAT * np.cos(np.radians(35.4))
    town = np.argmin(dx * dx + dy * dy, axis=1)
    return np.array([ORGS[t][rng.integers(len(ORGS[t]))] for t in town])


def _local(hours: float) -> datetime:
    return (datetime(DAY.year, DAY.month, DAY.day, tzinfo=ZONE)
            + timedelta(minutes=round(hours * 60))).astimezone(UTC)


def build_city(engine: sa.Engine, n_nurses: int, n_orders: int, seed: int) -> dict:
    """Write the synthetic city; returns what was made."""
    rng = np.random.default_rng(seed)
    made = {"nurses": n_nurses, "organizations": sum(len(o) for o in ORGS)}
    with engine.begin() as conn:
        conn.execute(sa.insert(Organization), [
            {"id": org, "name": f"{name}第{j + 1}医院", "center_lat": lat, "center_lng": lng,
             "radius_km": 30.0}
            for (name, lat, lng, *_), orgs in zip(TOWNS, ORGS, strict=True)
            for j, org in enumerate(orgs)])
        conn.execute(sa.insert(ServiceItem), [
            {"code": code, "name_zh": code, "name_en": code, "category": "basic",
             "duration_min": minutes, "required_skills": skills, "min_title": title,
             "price_fen": price, "requires_assessment": False, "procedures": [],
             "active": True} for code, skills, title, minutes, price, _share in ITEMS])

        # Nurses: homes where people live; the organization of their town.
        lat, lng, _town = _places(rng, n_nurses)
        org = _organizations(rng, lat, lng)
        ids = np.arange(1, n_nurses + 1)
        conn.execute(sa.insert(User), [
            {"id": int(i), "phone": f"139{i:08d}", "password_hash": "-", "name": f"护士{i}",
             "role": "nurse", "organization_id": int(o), "active": True}
            for i, o in zip(ids, org, strict=True)])
        titles = rng.choice(len(TITLES), size=n_nurses, p=TITLE_SHARE)
        years = rng.integers(2, 31, n_nurses)
        radius = rng.uniform(5.0, 15.0, n_nurses).round(1)
        cap = rng.integers(4, 9, n_nurses)
        reviews = rng.integers(0, 40, n_nurses)
        stars = rng.uniform(3.5, 5.0, n_nurses)
        on_duty = rng.random(n_nurses) < ON_DUTY_SHARE
        pinged = on_duty & (rng.random(n_nurses) < 0.5)
        nurses = []
        for k in range(n_nurses):
            skills = [*BASIC, *(s for s, p in SPECIAL.items() if rng.random() < p)]
            ping = bool(pinged[k])
            nurses.append({
                "id": int(ids[k]), "user_id": int(ids[k]), "organization_id": int(org[k]),
                "license_no": f"L{ids[k]:09d}", "title": TITLES[titles[k]],
                "license_valid_until": CREDENTIALS_UNTIL, "insurance_no": f"P{ids[k]:09d}",
                "insurer": "PICC", "insurance_valid_until": CREDENTIALS_UNTIL,
                "years_experience": int(years[k]), "skills": skills,
                "home_lat": float(lat[k]), "home_lng": float(lng[k]),
                "service_radius_km": float(radius[k]), "max_visits_per_day": int(cap[k]),
                "active": bool(rng.random() < 0.95),
                "rating_sum": int(round(reviews[k] * stars[k])), "rating_count": int(reviews[k]),
                "last_lat": float(lat[k] + rng.normal(0, 0.01)) if ping else None,
                "last_lng": float(lng[k] + rng.normal(0, 0.01)) if ping else None,
                "last_ping_at": NOW - timedelta(minutes=int(rng.integers(0, 10)))
                if ping else None})
        conn.execute(sa.insert(Nurse), nurses)

        # Irregular hours (DOMAIN.md: many work off duty): a morning, an afternoon or
        # an evening, and for a fifth of them a whole day.
        shifts, held = [], []
        for k in np.flatnonzero(on_duty):
            kind = rng.choice(4, p=[0.2, 0.25, 0.3, 0.25])
            first, length = (((7.5, 9.5), (7, 9)), ((7.0, 9.0), (3, 5)),
                             ((12.5, 15.0), (3, 6)), ((16.5, 18.0), (2.5, 4)))[kind]
            begin = round(rng.uniform(*first) * 4) / 4
            end = min(begin + round(rng.uniform(*length) * 4) / 4, 21.0)
            shifts.append({"nurse_id": int(ids[k]), "start": _local(begin), "end": _local(end)})
            # Visits she has accepted already, spaced through her shift near home.
            slots = int(rng.integers(0, 4))
            for s in range(slots):
                at = begin + (s + 0.5) * (end - begin) / slots
                held.append((int(ids[k]), int(org[k]), at,
                             float(lat[k] + rng.normal(0, 0.03)),
                             float(lng[k] + rng.normal(0, 0.03))))
        conn.execute(sa.insert(Shift), shifts)
        made.update(shifts=len(shifts), held_visits=len(held))

        # Orders to dispatch, at addresses where people live, and the held visits.
        olat, olng, _ = _places(rng, n_orders)
        oorg = _organizations(rng, olat, olng)
        owners = n_orders + len(held)
        first_owner = n_nurses + 1
        conn.execute(sa.insert(User), [
            {"id": first_owner + k, "phone": f"138{k:08d}", "password_hash": "-",
             "name": f"家属{k}", "role": "patient", "organization_id": None, "active": True}
            for k in range(owners)])
        conn.execute(sa.insert(CareRecipient), [
            {"id": k + 1, "owner_id": first_owner + k, "name": f"患者{k}", "gender": "female",
             "birth_date": date(1945, 1, 1), "id_number_enc": "-", "id_number_hash": f"{k:064d}",
             "eligibility": "elderly_disabled", "consent": True, "conditions": [],
             "allergies": []} for k in range(owners)])
        places = [(float(a), float(b), int(o)) for a, b, o in zip(olat, olng, oorg, strict=True)]
        places += [(h[3], h[4], h[1]) for h in held]
        conn.execute(sa.insert(Address), [
            {"id": k + 1, "patient_id": k + 1, "label": "家", "text": "-", "district": "-",
             "lat": a, "lng": b, "organization_id": o} for k, (a, b, o) in enumerate(places)])
        shares = np.array([i[5] for i in ITEMS])
        picks = rng.choice(len(ITEMS), size=owners, p=shares / shares.sum())
        orders = []
        for k in range(owners):
            code, _skills, _title, minutes, price, _ = ITEMS[picks[k]]
            if k < n_orders:
                opens = round(rng.uniform(9.0, 18.0) * 4) / 4
                width = float(rng.choice([1.0, 2.0]))
                window = (_local(opens), _local(min(opens + width, 20.0)))
                status, nurse_id, organization = "approved", None, places[k][2]
            else:
                nurse_id, organization, at = held[k - n_orders][:3]
                window = (_local(at - 0.5), _local(at + 0.5))
                status = "assigned"
            orders.append({
                "id": k + 1, "organization_id": organization, "patient_id": k + 1,
                "address_id": k + 1, "booked_by": first_owner + k, "service_code": code,
                "duration_min": minutes, "price_fen": price, "window_start": window[0],
                "window_end": window[1], "service_date": DAY, "status": status,
                "nurse_id": nurse_id, "planned_arrival": None, "dispatch_round": 0,
                "version": 1, "created_at": NOW, "updated_at": NOW})
        conn.execute(sa.insert(Order), orders)
    return made


def naive_candidates(session, order: Order, config) -> list:
    """Every nurse read, geopy's geodesic to each, then the same rules (the
    organization is one of them, checked like the others)."""
    job = load_job(session, order)
    rows = nurse_rows(session, ())
    near = [r for r in rows
            if geodesic_km(Point(r.home_lat, r.home_lng), job.place) <= radius_km(r, config)]
    found = evaluate(session, job, near, now=NOW, config=config, exact_radius=True)
    return [c for c in found if c.eligible]


def _ms(samples: list[float]) -> dict:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, max(0, int(np.ceil(0.99 * len(ordered))) - 1))]
    return {"p50": round(statistics.median(ordered), 3), "p99": round(p99, 3),
            "mean": round(statistics.fmean(ordered), 3), "n": len(ordered)}


def run_size(n_nurses: int, n_orders: int, n_naive: int, seed: int) -> dict:
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'city.db'}"
        upgrade(url)
        app = create_app({"database_url": url, "secret_key": "bench-" * 8,
                          "data_key": Fernet.generate_key().decode(), "instance_path": tmp,
                          "log_level": "WARNING"})
        config = app.config["HOMECARE"]
        with app.app_context():
            made = build_city(db.engine, n_nurses, n_orders, seed)
            indexed = sync_spatial_index(session=db.session)
            cells = db.session.scalar(sa.select(sa.func.count()).select_from(NurseCell))
            db.session.remove()
            build_s = time.perf_counter() - began
            fast_ms, naive_ms, fast_on_naive, sizes, same = [], [], [], [], True
            with reading():
                session = db.session
                session.execute(sa.text("ANALYZE"))
                orders = session.scalars(sa.select(Order).where(Order.status == "approved")
                                         .order_by(Order.id)).all()
                # One untimed pass first: a running server has its statements
                # compiled and the database pages cached.
                for order in orders:
                    list_candidates(session=session, order=order, now=NOW, config=config)
                for k, order in enumerate(orders):
                    t0 = time.perf_counter()
                    fast = list_candidates(session=session, order=order, now=NOW,
                                           config=config)
                    fast_ms.append((time.perf_counter() - t0) * 1000)
                    sizes.append(len(fast))
                    if k < n_naive:
                        t0 = time.perf_counter()
                        naive = naive_candidates(session, order, config)
                        naive_ms.append((time.perf_counter() - t0) * 1000)
                        fast_on_naive.append(fast_ms[-1])
                        same = same and ([(c.nurse_id, c.score) for c in fast]
                                         == [(c.nurse_id, c.score) for c in naive])
            db.session.remove()
        app.extensions["homecare.db"]["engine"].dispose()
    fast, naive, fast_sub = _ms(fast_ms), _ms(naive_ms), _ms(fast_on_naive)
    return {
        **made, "indexed_nurses": indexed, "index_cells": cells,
        "orders_searched": len(fast_ms), "candidates_mean": round(statistics.fmean(sizes), 1),
        "candidates_p99": int(np.percentile(sizes, 99)), "candidates_max": max(sizes),
        "fast_ms": fast, "naive_ms": naive, "fast_ms_on_naive_orders": fast_sub,
        "ratio_p50": round(naive["p50"] / fast_sub["p50"], 1),
        "ratio_p99": round(naive["p99"] / fast_sub["p99"], 1),
        "same_result": same, "build_s": round(build_s, 1),
        "total_s": round(time.perf_counter() - began, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000",
                        help="comma-separated nurse counts")
    parser.add_argument("--orders", type=int, default=200, help="orders searched per size")
    parser.add_argument("--naive", default="50,15,3",
                        help="orders also searched naively, per size (the scan is slow)")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    naive = [int(s) for s in args.naive.split(",")]
    naive += [naive[-1]] * (len(sizes) - len(naive))
    began = time.perf_counter()
    results = [run_size(n, args.orders, min(k, args.orders), args.seed)
               for n, k in zip(sizes, naive, strict=False)]
    at_10k = next((r for r in results if r["nurses"] == 10_000), None)
    targets = {"p99_ms_under": 10.0, "min_ratio": 20.0, "at_nurses": 10_000}
    if at_10k is not None:
        targets["met"] = bool(at_10k["fast_ms"]["p99"] < 10.0 and at_10k["ratio_p50"] >= 20
                              and at_10k["ratio_p99"] >= 20 and at_10k["same_result"])
    print(json.dumps({"benchmark": "candidate search", "seed": args.seed,
                      "day": DAY.isoformat(), "now": NOW.isoformat(), "sizes": results,
                      "targets": targets, "all_same_result": all(r["same_result"]
                                                                 for r in results),
                      "total_s": round(time.perf_counter() - began, 1)},
                     ensure_ascii=False, indent=2))
    return 0 if all(r["same_result"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())

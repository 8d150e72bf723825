"""Candidate search: which nurses may take an order (hard filters) and how they rank (score).

Hard filters, checked in this order; the first one a nurse breaks is the rule
``?explain=`` names (``Candidate.excluded_by``):

``organization``         she works for another organization
``current_nurse``        she already holds this order
``not_active``           her profile or her account is not active
``credentials``          her practising licence or liability insurance does not cover
                         the visit's date (``nurses.credentials``)
``experience``           fewer years than the Internet+nursing gate (``min_years_experience``)
``qualification_title``  title below the Internet+nursing gate (``min_title``)
``item_title``           title below the service item's ``min_title``
``skills``               lacks a skill the item requires
``service_radius``       the address is farther from her home (geodesic) than her
                         service radius (capped at ``max_service_radius_km``)
``window_closed``        the window has passed: nobody can start in it any more
``shift``                no shift of hers lets her travel there, arrive inside the
                         window and finish the visit before the shift ends
``daily_cap``            she already holds ``max_visits_per_day`` visits that day
``schedule_conflict``    the visit does not fit between her accepted visits still to
                         come without breaking one of their windows (travel from the
                         previous stop and to the next included)

``not_active`` to ``skills`` are the qualification gate, written once in
``nurses.gate`` and shared with the planner.

The search reads only the nurses whose service disc touches the address's grid
cell (``dispatch.nearby``); an explanation reads the one nurse asked about. The
time rules place the visit into each stretch of her shifts (back-to-back shifts
merge, also across midnight) with the planner's insertion check
(``scheduling.insertion.best_insertion``) against her accepted visits still to
come; with none in the stretch one leg decides (``dispatch.fitting``). An
accepted visit she can no longer begin inside its window (she is running late;
the ``late`` and no-show alerts deal with it) is left out of that route, so it
does not block the rest of her stretch.

She sets off no earlier than the stretch's start or now, and not at all from a
stretch that is over or that the visit she is on outlasts. She sets off from
the visit she is on once it is done; en route, that is after the travel there
from her fresh ping, else from her last visit done in the stretch, else from
home (as the planner counts it). Otherwise, once the stretch has begun, from her latest ping
if it is fresh (``dispatch_ping_max_age_minutes``), else from her last visit
done in the stretch; else from home. Travel home after her last visit is her own
time: a shift must cover the visits, as a nurse's published availability means
"when I can be with patients".

Score, in [0, 1], higher is better; every part is in [0, 1] and the weights
are settings (``score_weight_*``), normalised by their sum::

    score = (w_travel * travel + w_continuity * continuity
             + w_balance * balance + w_rating * rating) / (sum of the weights)

``travel``      1 - min(eta, H) / H: ``eta`` the travel time from where she will
                be just before the visit (previous visit of the day, home, or
                her fresh ping) to the address, ``H`` = ``score_travel_horizon_minutes``
``continuity``  1 if she has visited this care recipient before (an order of the
                recipient she holds or completed), else 0: the same nurse for a
                family bed's recurring visits and for returning patients
``balance``     1 - (her visits that day) / (her daily cap): spreads the load
``rating``      her mean review, shrunk towards 3 stars by 5 virtual reviews
                so one review does not decide, mapped from 1-5 stars to 0-1

Ties go to the shorter travel, then the lower nurse id, so a ranking is stable.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from homecare.config import Config
from homecare.db import in_fixed
from homecare.dispatch import fitting
from homecare.dispatch.models import Offer
from homecare.dispatch.nearby import (
    Job,
    load_job,
    nearby_nurses,
    nurse_rows,
    radius_km,
    within_radius,
)
from homecare.geo import Point, TravelModel, travel_model
from homecare.nurseday import load as day_loader
from homecare.nurseday import model as day_model
from homecare.nurses import gate
from homecare.nurses.models import Nurse
from homecare.orders.models import Order
from homecare.orders.states import DAY_LOAD, HOLDS_NURSE, untouched
from homecare.scheduling import planner

# Shrinkage of the rating towards the middle of the scale (see the module docstring).
_RATING_PRIOR_MEAN = 3.0
_RATING_PRIOR_COUNT = 5
RULES = ("organization", "current_nurse", "not_active", "credentials", "experience",
         "qualification_title", "item_title", "skills", "service_radius", "window_closed",
         "shift", "daily_cap", "schedule_conflict")


@dataclass
class Candidate:
    """One nurse's standing for an order: eligible and ranked, or excluded by a rule."""

    nurse_id: int
    name: str | None
    eligible: bool
    excluded_by: str | None = None
    reason: str | None = None
    home_distance_km: float | None = None
    distance_km: float | None = None
    eta_min: float | None = None
    score: float | None = None
    score_parts: dict[str, float] | None = None
    planned_arrival: datetime | None = None
    start_from: str | None = None
    visits_that_day: int | None = None
    offer_status: str | None = None
    # Her account, whom an offer notifies (not shown: no schema field names it).
    user_id: int | None = None


# ---------------------------------------------------------------- the rules


def _static_rule(row: Any, job: Job, config: Config) -> tuple[str, str] | None:
    """The first static rule ``row`` breaks, as (rule, reason), or None."""
    if row.organization_id != job.organization_id:
        return "organization", "she works for another organization"
    if job.nurse_id == row.id and job.status in HOLDS_NURSE:
        return "current_nurse", "she already holds this order"
    return gate.refusal(row, config, day=job.service_date, account_active=row.user_active,
                        min_title=job.min_title, required_skills=job.required_skills,
                        service_code=job.service_code)


# ---------------------------------------------------------------- the search


def _weights(config: Config) -> dict[str, float]:
    weights = {"travel": config.score_weight_travel,
               "continuity": config.score_weight_continuity,
               "balance": config.score_weight_balance, "rating": config.score_weight_rating}
    if any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
        raise ValueError("score weights must be non-negative and not all zero")
    return weights


def _score(eta_min: float, continuity: bool, load: int, cap: int, row: Any, config: Config,
           weights: dict[str, float]) -> tuple[float, dict[str, float]]:
    horizon = max(config.score_travel_horizon_minutes, 1)
    mean = ((row.rating_sum + _RATING_PRIOR_MEAN * _RATING_PRIOR_COUNT)
            / (row.rating_count + _RATING_PRIOR_COUNT))
    parts = {
        "travel": round(1.0 - min(eta_min, horizon) / horizon, 4),
        "continuity": 1.0 if continuity else 0.0,
        "balance": round(1.0 - min(load, cap) / cap, 4) if cap > 0 else 0.0,
        "rating": round(min(max((mean - 1.0) / 4.0, 0.0), 1.0), 4),
    }
    total = sum(weights[k] * parts[k] for k in parts) / sum(weights.values())
    return round(total, 4), parts


def evaluate(session: Session, job: Job, rows: Sequence[Any], *, now: datetime,
             config: Config, travel: TravelModel | None = None,
             exact_radius: bool = False) -> list[Candidate]:
    """Apply every hard filter to ``rows`` and score the nurses who pass.

    Returns one Candidate per row (excluded ones name their rule), eligible ones
    ranked best first ahead of the excluded. The filters run as steps in the
    documented order; cheap rules first, and each database read covers only the
    nurses still standing.
    """
    travel = travel or travel_model(config)
    out: list[Candidate] = []
    standing = _static_step(rows, job, config, exact_radius, out)
    standing = _window_step(standing, job, now, out)
    if not standing:
        return out
    days = _days(session, standing, job, now, config, travel)
    eligible = _time_steps(standing, days, travel, out)
    return _rank(session, eligible, job, config) + out


# ---------------------------------------------------------------- the steps


def _excluded(row: Any, rule: str, reason: str, **facts: Any) -> Candidate:
    return Candidate(row.id, row.name, False, excluded_by=rule, reason=reason, **facts)


def _static_step(rows: Sequence[Any], job: Job, config: Config, exact_radius: bool,
                 out: list[Candidate]) -> list[tuple[Any, float]]:
    """``organization`` to ``skills``, then ``service_radius``: the nurses standing, with
    their km from home to the address."""
    static = [(row, _static_rule(row, job, config)) for row in rows]
    passed = [row for row, broken in static if broken is None]
    km, inside = within_radius(passed, job, config, exact_radius)
    distances = {row.id: (d, ok) for row, d, ok in zip(passed, km, inside, strict=True)}
    standing: list[tuple[Any, float]] = []
    for row, broken in static:
        if broken is None and not distances[row.id][1]:
            broken = ("service_radius", f"the address is {distances[row.id][0]:.1f} km from "
                      f"her home; her service radius is {radius_km(row, config):g} km")
        if broken is not None:
            out.append(_excluded(row, *broken))
        else:
            standing.append((row, distances[row.id][0]))
    return standing


def _window_step(standing: list[tuple[Any, float]], job: Job, now: datetime,
                 out: list[Candidate]) -> list[tuple[Any, float]]:
    """``window_closed``: once the window has passed, nobody can start in it."""
    if now <= job.window_end:
        return standing
    out.extend(_excluded(row, "window_closed",
                         "the window has closed; nobody can start in it now",
                         home_distance_km=round(km, 3)) for row, km in standing)
    return []


@dataclass
class _Day:
    """One standing nurse's day as the time rules see it."""

    row: Any
    km: float
    home: Point
    held: list[day_model.Held]
    # The stretches of her shifts able to hold the visit, with where she sets off.
    starts: list[tuple[day_model.Stretch, day_model.Start]]

    def jobs(self, with_route: bool) -> list[fitting.Job]:
        # One job per stretch of her shifts able to hold the visit at all.
        return [fitting.Job(self.row.id, self.home, start, stretch[1],
                            day_model.route_of(stretch, self.held, start.depart)
                            if with_route else [])
                for stretch, start in self.starts]


def _days(session: Session, standing: list[tuple[Any, float]], job: Job, now: datetime,
          config: Config, travel: TravelModel) -> tuple[planner.Visit, list[_Day]]:
    """Read the standing nurses' days and work out where each sets off in each stretch
    able to hold the visit; the legs still ahead of nurses en route come from one
    batch of travel."""
    ids = [row.id for row, _km in standing]
    shifts = day_loader.stretches(session, ids, job.service_date, config)
    held = day_loader.held_visits(session, ids, job.service_date, shifts, config,
                                exclude_order_id=job.order_id)
    target = day_model.visit(("order", job.order_id), job.place, job.window_start,
                             job.window_end, job.duration_min)
    now_s = day_model.secs_up(now)
    fresh = timedelta(minutes=config.dispatch_ping_max_age_minutes)
    places: dict[int, tuple[Point, Point | None]] = {}
    covering: dict[int, list[day_model.Stretch]] = {}
    pending: list[day_model.Leg] = []
    for row, _km in standing:
        ping = day_model.fresh_ping(row.last_lat, row.last_lng, row.last_ping_at, now, fresh)
        places[row.id] = (Point(row.home_lat, row.home_lng), ping)
        covering[row.id] = [s for s in shifts.get(row.id, []) if day_model.may_cover(s, target)]
        for stretch in covering[row.id]:
            leg = day_model.heading(*places[row.id], stretch, held.get(row.id, []), now_s)
            if leg is not None:
                pending.append(leg)
    ahead = day_model.leg_times(pending, travel)
    days = []
    for row, km in standing:
        mine = held.get(row.id, [])
        starts = []
        for stretch in covering[row.id]:
            start = day_model.start_of(*places[row.id], stretch, mine, now_s, ahead)
            # Over, or the visit she is on runs past its end: she cannot start from it.
            if start.depart < stretch[1]:
                starts.append((stretch, start))
        days.append(_Day(row, km, places[row.id][0], mine, starts))
    return target, days


def _best(asked: list[fitting.Job], target: planner.Visit,
          travel: TravelModel) -> dict[int, fitting.Fit]:
    """Of each nurse's stretches, the fit with the shortest leg there."""
    found: dict[int, fitting.Fit] = {}
    for item, fit in zip(asked, fitting.fits(asked, target, travel), strict=True):
        if fit is not None and (item.nurse_id not in found
                                or fit.leg_s < found[item.nurse_id].leg_s):
            found[item.nurse_id] = fit
    return found


def _time_steps(standing: list[tuple[Any, float]],
                days: tuple[planner.Visit, list[_Day]], travel: TravelModel,
                out: list[Candidate]) -> list[tuple[Any, float, fitting.Fit, int]]:
    """``shift``, ``daily_cap``, ``schedule_conflict``: the visit placed into her day."""
    target, mine = days
    at_cap = {d.row.id for d in mine if day_model.at_cap(d.held, d.row.max_visits_per_day)}
    # With her accepted visits, one check decides; nurses at their cap are checked
    # without them, only to tell "shift" (which comes first) from "daily_cap".
    first = [item for d in mine for item in d.jobs(d.row.id not in at_cap)]
    fits = _best(first, target, travel)
    routed = {item.nurse_id for item in first if item.route}
    # A failed check with her route does not say which rule failed; ask again
    # without it, for those nurses only.
    retry = _best([item for d in mine if d.row.id not in fits and d.row.id in routed
                   for item in d.jobs(False)], target, travel)

    eligible: list[tuple[Any, float, fitting.Fit, int]] = []
    for d in mine:
        row = d.row
        load = day_model.day_load(d.held)
        base = {"home_distance_km": round(d.km, 3)}
        if row.id not in fits and row.id not in retry:
            out.append(_excluded(row, "shift", "no shift of hers lets her arrive within the "
                                 "window and finish the visit", **base))
        elif row.id in at_cap:
            out.append(_excluded(row, "daily_cap", f"already {load} visits that day; her cap "
                                 f"is {row.max_visits_per_day}", visits_that_day=load, **base))
        elif row.id not in fits:
            out.append(_excluded(row, "schedule_conflict", "the visit does not fit between her "
                                 "accepted visits without breaking a window",
                                 visits_that_day=load, **base))
        else:
            eligible.append((row, round(d.km, 3), fits[row.id], load))
    return eligible


def _rank(session: Session, eligible: list[tuple[Any, float, fitting.Fit, int]], job: Job,
          config: Config) -> list[Candidate]:
    """Score the eligible nurses, best first."""
    served = _served_before(session, [row.id for row, *_ in eligible], job)
    offers = ({} if untouched(session, job.order_id) else
              dict(session.connection().execute(_offers_stmt(), {"order": job.order_id}).all()))
    weights = _weights(config)
    ranked = []
    for row, km, fit, load in eligible:
        eta = fit.leg_s / 60.0
        score, parts = _score(eta, row.id in served, load, row.max_visits_per_day, row, config,
                              weights)
        ranked.append(Candidate(
            row.id, row.name, True, home_distance_km=km, distance_km=round(fit.leg_m / 1000, 3),
            eta_min=round(eta, 1), score=score, score_parts=parts,
            planned_arrival=day_model.at(fit.start), start_from=fit.start_from,
            visits_that_day=load,
            offer_status=offers.get(row.id), user_id=row.user_id))
    ranked.sort(key=lambda c: (-c.score, c.eta_min, c.nurse_id))
    return ranked


@functools.cache
def _offers_stmt() -> sa.Select:
    return sa.select(Offer.nurse_id, Offer.status).where(Offer.order_id == sa.bindparam("order"))


@functools.cache
def _served_stmt() -> sa.Select:
    return (sa.select(Order.nurse_id).distinct()
            .where(Order.patient_id == sa.bindparam("patient"),
                   Order.nurse_id.in_(sa.bindparam("ids", expanding=True)),
                   in_fixed(Order.status, DAY_LOAD), Order.id != sa.bindparam("order")))


def _served_before(session: Session, nurse_ids: Sequence[int], job: Job) -> set[int]:
    if not nurse_ids:
        return set()
    return set(session.connection().scalars(_served_stmt(), {"patient": job.patient_id,
                                                "ids": list(nurse_ids),
                                                "order": job.order_id}))


def list_candidates(*, session: Session, order: Order, now: datetime, config: Config,
                    explain_nurse_id: int | None = None) -> list[Candidate]:
    """The eligible nurses for ``order``, best first; or, with ``explain_nurse_id``,
    that one nurse's standing (eligible and scored, or the rule that excludes her).

    The search reads only the nurses the spatial index places near the address.
    An explanation reads the nurse directly, so it also covers nurses the index
    would never return (another district, another organization). Returns an empty
    list for an unknown ``explain_nurse_id``.
    """
    job = load_job(session, order)
    if explain_nurse_id is not None:
        rows = nurse_rows(session, (Nurse.id == explain_nurse_id,))
        return evaluate(session, job, rows, now=now, config=config, exact_radius=True)
    found = evaluate(session, job, nearby_nurses(session, job, config), now=now, config=config)
    return [c for c in found if c.eligible]


def check_nurse(session: Session, order: Order, nurse_id: int, *, now: datetime,
                config: Config) -> Candidate | None:
    """One nurse's standing for ``order`` (every rule), or None if she does not exist."""
    found = list_candidates(session=session, order=order, now=now, config=config,
                            explain_nurse_id=nurse_id)
    return found[0] if found else None

"""The qualification gate: whether a nurse may be sent to a visit at all, in one place.

Its rules, in the order dispatch checks them (the first one broken is the rule
``?explain=`` names):

``not_active``           her profile or her account is not active
``credentials``          her practising licence or liability insurance does not cover
                         the visit's date (``nurses.credentials``)
``experience``           fewer years than the Internet+nursing gate (``min_years_experience``)
``qualification_title``  title below the Internet+nursing gate (``min_title``)
``item_title``           title below the service item's ``min_title``
``skills``               lacks a skill the item requires

``refusal`` applies them to one nurse: dispatch's matching for an order, the
planner for the day (without an item: the item's part travels to the solver as
pseudo-skills, ``capabilities`` and ``demands``, whose inclusion is the same
rule), and the profile's activation (``qualification_problems``, the rules of the
profile alone, ``PROFILE_RULES``, each defined once for both). ``where`` and
``where_params`` are the SQL form of the rules a query can check cheaply
(activity, experience, titles), so dispatch's spatial pre-filter narrows by the
same definition; ``tests/nurses/test_gate.py`` proves the two forms agree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa

from homecare.accounts.models import User
from homecare.catalogue.models import TITLES, title_rank
from homecare.config import Config
from homecare.nurses import credentials
from homecare.nurses.models import Nurse

RULES = ("not_active", "credentials", "experience", "qualification_title", "item_title",
         "skills")


def rank_of(title: str | None) -> int:
    """A title's rank; an unknown title ranks lowest."""
    return title_rank(title) if title in TITLES else 0


@dataclass(frozen=True)
class ProfileRule:
    """A gate rule of the profile alone (no visit, no day): one check, told two ways,
    as ``refusal``'s reason for a visit and as the requirement a profile must meet
    to be active (``qualification_problems``)."""

    name: str
    broken: Callable[[Any, Config], bool]
    reason: Callable[[Any, Config], str]
    requirement: Callable[[Config], str]


# In ``RULES`` order; ``refusal`` and ``qualification_problems`` both apply these.
PROFILE_RULES = (
    ProfileRule(
        "experience",
        broken=lambda row, config: row.years_experience < config.min_years_experience,
        reason=lambda row, config: (f"{row.years_experience} years of clinical experience; "
                                    f"Internet+nursing needs {config.min_years_experience}"),
        requirement=lambda config: f"years_experience >= {config.min_years_experience}"),
    ProfileRule(
        "qualification_title",
        broken=lambda row, config: rank_of(row.title) < title_rank(config.min_title),
        reason=lambda row, config: (f"title {row.title} is below the Internet+nursing "
                                    f"minimum {config.min_title}"),
        requirement=lambda config: f"title >= {config.min_title}"),
)


def refusal(row: Any, config: Config, *, day: date, account_active: bool,
            min_title: str | None = None, required_skills: frozenset[str] = frozenset(),
            service_code: str | None = None) -> tuple[str, str] | None:
    """The first gate rule ``row`` (a nurse, or a row with her columns) breaks for a visit
    on ``day`` needing ``min_title`` and ``required_skills``, as (rule, reason); None
    if she passes. ``account_active``: her user account's flag."""
    if not (row.active and account_active):
        return "not_active", "her nurse profile or her account is not active"
    lapsed = credentials.lapse(row, day)
    if lapsed is not None:
        return credentials.RULE, lapsed
    for rule in PROFILE_RULES:
        if rule.broken(row, config):
            return rule.name, rule.reason(row, config)
    if min_title is not None and rank_of(row.title) < rank_of(min_title):
        return "item_title", (f"title {row.title} is below {service_code}'s minimum "
                              f"{min_title}")
    missing = required_skills.difference(row.skills or ())
    if missing:
        return "skills", "lacks required skills: " + ", ".join(sorted(missing))
    return None


def qualification_problems(nurse: Any, config: Config) -> list[str]:
    """The gate rules of the profile itself (``PROFILE_RULES``: experience, title)
    ``nurse`` fails, as the requirements unmet; empty: she may be active for dispatch.

    Pilot rules: at least ``config.min_years_experience`` years of clinical
    experience and the title ``config.min_title`` (护师) or higher. Dispatch and
    the planner re-check them (``refusal``) because the settings may change. Not
    her credentials: whether they cover a visit depends on its day, so dispatch
    checks them per visit and activation does not.
    """
    return [rule.requirement(config) for rule in PROFILE_RULES if rule.broken(nurse, config)]


# ---------------------------------------------------------------- the solver's form

def capabilities(row: Any) -> frozenset[str]:
    """Her skills and a ``title:`` pseudo-skill for every title up to hers."""
    titles = TITLES[:rank_of(row.title) + 1]
    return frozenset({*(row.skills or ()), *(f"title:{t}" for t in titles)})


def demands(min_title: str, required_skills: Iterable[str] | None) -> frozenset[str]:
    """What an item needs, as ``capabilities`` must hold it: its skills and its title."""
    return frozenset({*(required_skills or ()), f"title:{min_title}"})


# ---------------------------------------------------------------- the SQL form

def where() -> tuple[sa.ColumnElement[bool], ...]:
    """The gate's cheap rules as SQL over ``Nurse`` joined to her ``User``, with bind
    parameters ``gate_years`` and ``gate_titles`` (``where_params``). It narrows only:
    credentials and skills are left to ``refusal``."""
    return (Nurse.active.is_(True), User.active.is_(True),
            Nurse.years_experience >= sa.bindparam("gate_years"),
            Nurse.title.in_(sa.bindparam("gate_titles", expanding=True)))


def where_params(config: Config, min_title: str | None = None) -> dict[str, Any]:
    """The values of ``where``'s parameters for the settings and an item's ``min_title``."""
    floor = max(title_rank(config.min_title), rank_of(min_title))
    return {"gate_years": config.min_years_experience, "gate_titles": list(TITLES[floor:])}

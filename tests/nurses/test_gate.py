"""The qualification gate: its SQL form narrows exactly as its Python form decides, the
planner's pseudo-skills hold exactly when the item's part of it passes, and the
profile's activation (``qualification_problems``) fails exactly the rules dispatch
refuses on."""

from dataclasses import replace
from datetime import date
from itertools import product
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from homecare.accounts.models import User
from homecare.catalogue.models import TITLES
from homecare.nurses import gate
from homecare.nurses.models import Nurse
from tests.factories import NurseFactory, UserFactory

DAY = date(2025, 6, 2)
CHEAP = {"not_active", "experience", "qualification_title", "item_title"}


@pytest.mark.parametrize("min_title, years", [("senior_nurse", 5), ("nurse", 0),
                                               ("supervisor_nurse", 8)])
def test_sql_prefilter_keeps_exactly_the_nurses_the_python_rules_pass(session, org, config,
                                                                     min_title, years):
    config = replace(config, min_title=min_title, min_years_experience=years)
    nurses = {}
    for active, account, experience, title in product(
            (True, False), (True, False), (0, 4, 5, 8, 12), TITLES):
        user = UserFactory(role="nurse", organization_id=org.id, active=account)
        nurses[NurseFactory(organization_id=org.id, user_id=user.id, active=active,
                            years_experience=experience, title=title).id] = account
    for item_title in (None, *TITLES):
        kept = set(session.scalars(
            sa.select(Nurse.id).join(User, User.id == Nurse.user_id)
            .where(Nurse.organization_id == org.id, *gate.where()),
            gate.where_params(config, item_title)))
        for nurse_id, account in nurses.items():
            broken = gate.refusal(session.get(Nurse, nurse_id), config, day=DAY,
                                  account_active=account, min_title=item_title)
            assert (nurse_id in kept) == (broken is None or broken[0] not in CHEAP), (
                nurse_id, item_title, broken)
    assert kept, "the table has nurses the gate lets through"


@pytest.mark.parametrize("title, item_title", list(product(TITLES, TITLES)))
def test_planner_skills_hold_exactly_when_the_items_part_of_the_gate_passes(config, title,
                                                                             item_title):
    config = replace(config, min_title="nurse", min_years_experience=0)
    for held, needed in [((), ()), (("injection",), ("injection",)),
                         (("injection",), ("injection", "wound_care")),
                         (("vital_signs", "wound_care"), ("wound_care",))]:
        nurse = SimpleNamespace(active=True, title=title, years_experience=0,
                                skills=list(held), license_no="L1",
                                license_valid_until=DAY, insurance_no="P1",
                                insurance_valid_until=DAY)
        broken = gate.refusal(nurse, config, day=DAY, account_active=True,
                              min_title=item_title, required_skills=frozenset(needed))
        holds = gate.demands(item_title, needed) <= gate.capabilities(nurse)
        assert holds == (broken is None), (title, item_title, held, needed, broken)


def _qualified(**changes) -> SimpleNamespace:
    """A nurse every rule of the gate lets through on ``DAY``, then ``changes``."""
    return SimpleNamespace(**{"active": True, "title": TITLES[-1], "years_experience": 30,
                              "skills": [], "license_no": "L1", "license_valid_until": DAY,
                              "insurance_no": "P1", "insurance_valid_until": DAY, **changes})


# For each rule of the profile alone, a nurse breaking only it (under ``_strict``).
BREAKING = {"experience": {"years_experience": 4}, "qualification_title": {"title": "nurse"}}


def _strict(config):
    return replace(config, min_title="senior_nurse", min_years_experience=5)


def test_every_profile_rule_is_a_gate_rule_with_a_case_here():
    names = [rule.name for rule in gate.PROFILE_RULES]
    assert names == [r for r in gate.RULES if r in names] and set(names) == set(BREAKING)


@pytest.mark.parametrize("rule", gate.PROFILE_RULES, ids=lambda rule: rule.name)
def test_activation_and_dispatch_agree_on_each_profile_rule(config, rule):
    config = _strict(config)
    nurse = _qualified(**BREAKING[rule.name])
    assert gate.refusal(nurse, config, day=DAY, account_active=True)[0] == rule.name
    assert gate.qualification_problems(nurse, config) == [rule.requirement(config)]


@pytest.mark.parametrize("min_title, years", [("senior_nurse", 5), ("nurse", 0),
                                               ("supervisor_nurse", 8)])
def test_activation_passes_exactly_the_profiles_dispatch_passes(config, min_title, years):
    config = replace(config, min_title=min_title, min_years_experience=years)
    for experience, title in product((0, 4, 5, 8, 12), TITLES):
        nurse = _qualified(years_experience=experience, title=title)
        broken = gate.refusal(nurse, config, day=DAY, account_active=True)
        unmet = gate.qualification_problems(nurse, config)
        requirements = {rule.name: rule.requirement(config) for rule in gate.PROFILE_RULES}
        assert (broken is None) == (unmet == []), (experience, title, broken, unmet)
        if broken is not None:
            assert unmet[0] == requirements[broken[0]], (experience, title, broken, unmet)

"""The qualification gate: its SQL form narrows exactly as its Python form decides, and
the planner's pseudo-skills hold exactly when the item's part of it passes."""

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

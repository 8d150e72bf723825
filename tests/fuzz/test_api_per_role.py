"""Schemathesis over the WSGI app, in process, once per role, on seeded data.

Every operation of the generated document gets positive and negative examples
(a fixed seed, a bounded count), and every built-in check: no 500, status codes,
content types, headers and bodies as documented, negative data rejected.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.factories import (
    AddressFactory,
    CareRecipientFactory,
    NurseFactory,
    OrganizationFactory,
    ServiceItemFactory,
    UserFactory,
    auth,
    booked_order,
)

EXAMPLES = 6


@pytest.fixture(scope="session")
def api_schema(app):
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    # Unknown query parameters are ignored by design (cache busters, old clients), not
    # an error: negative data is not made by adding some.
    schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
                                    max_examples=EXAMPLES, deterministic=True, database="none",
                                    allow_extra_parameters=False)
    return schema


@pytest.fixture
def seeded(session):
    """One organization with a person of each role, a recipient with an address, an order."""
    org = OrganizationFactory()
    nurse = NurseFactory(organization_id=org.id)
    patient = UserFactory(role="patient")
    recipient = CareRecipientFactory(owner_id=patient.id, assessed_by=org.id)
    AddressFactory(patient_id=recipient.id, organization_id=org.id)
    ServiceItemFactory()
    booked_order(org)
    return {"anonymous": None, "patient": patient,
            "nurse": session.get(type(patient), nurse.user_id),
            "supervisor": UserFactory(role="supervisor", organization_id=org.id),
            "admin": UserFactory(role="admin")}


FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
def documented_valid_data_is_well_formed(ctx, response, case):
    """Positive data acceptance, for an API with rules a JSON Schema cannot state: a
    request the document calls valid may be refused with a 422 (a window in the past,
    a wrong SMS code, systolic without diastolic, an identity number whose birth date
    is not birth_date), never as malformed (400)."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return None
    if response.status_code == 400:
        raise AssertionError(f"schema-valid data refused: {response.status_code} "
                             f"{response.text[:500]}")
    return None


# Replaced by the check above (the built-in expects no 422 for valid data at all).
EXCLUDED = [positive_data_acceptance]
ROLES = ("anonymous", "patient", "nurse", "supervisor", "admin")


def _fuzz(schema, user) -> list[str]:
    """Every operation, positive then negative examples; the failures, described."""
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @FUZZ
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case):
                # A fresh token for every call: a case that changes her own password
                # (and so revokes her tokens) does not lock the rest of the run out.
                case.call_and_validate(headers=auth(user) if user else {},
                                       excluded_checks=EXCLUDED,
                                       additional_checks=[documented_valid_data_is_well_formed])

            try:
                run()
            except Unsatisfiable:
                pass  # no negative example exists (every path value is a valid code)
            except BaseException as exc:  # noqa: BLE001 - collected, reported together
                if isinstance(exc, KeyboardInterrupt):
                    raise
                failures.append(f"{operation.label} [{mode.value}]: {exc}"[:3000])
    return failures


@pytest.mark.parametrize("role", ROLES)
def test_api_conforms_for(role, api_schema, seeded):
    failures = _fuzz(api_schema, seeded[role])
    assert not failures, f"{len(failures)} failing operations:\n" + "\n\n".join(failures)

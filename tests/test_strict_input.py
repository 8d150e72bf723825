"""Input that can never crash the service or slip through (homecare/strict_input.py,
the pattern fields of homecare/schemas.py), through the real HTTP API."""

from __future__ import annotations

import importlib
import pkgutil
from datetime import timedelta

import jwt
import marshmallow as ma
import pytest
from hypothesis import HealthCheck, find, settings
from hypothesis import strategies as st

import homecare
from conftest import assert_problem
from homecare.clock import utcnow
from homecare.schemas import FullMatch
from tests.factories import UserFactory, auth
from tests.helpers import API

# The digit 3 in scripts whose digits \d matched: full-width, Arabic-Indic, Devanagari.
NON_ASCII_THREES = ("\uff13", "\u0663", "\u0969")


@pytest.mark.parametrize("phone", ["13912340009\n", "13912340009\r\n", " 13912340009"])
def test_login_with_phone_plus_whitespace_is_422(client, phone):
    r = client.post(f"{API}/auth/login", json={"phone": phone, "password": "whatever-1"})
    assert "phone" in assert_problem(r, 422, "validation_failed")["errors"]


@pytest.mark.parametrize("three", NON_ASCII_THREES)
def test_login_with_non_ascii_digits_is_422(client, three):
    r = client.post(f"{API}/auth/login",
                    json={"phone": f"1{three}912340013", "password": "whatever-1"})
    assert "phone" in assert_problem(r, 422, "validation_failed")["errors"]


def _request_schemas() -> list[type[ma.Schema]]:
    for module in pkgutil.walk_packages(homecare.__path__, "homecare."):
        if module.name.endswith("schemas"):
            importlib.import_module(module.name)
    found, todo = [], list(ma.Schema.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.startswith("homecare."):
            found.append(cls)
    return found


def _pattern_fields() -> list[tuple[str, ma.fields.Field, FullMatch]]:
    """Every load field checked by a pattern, with its pattern, in every schema."""
    fields = []
    for cls in _request_schemas():
        for name, field in cls().load_fields.items():
            inner = field.inner if isinstance(field, ma.fields.List) else field
            for check in inner.validators:
                if isinstance(check, ma.validate.Regexp):
                    fields.append((f"{cls.__name__}.{name}", inner, check))
            pattern = inner.metadata.get("pattern")
            if pattern and not any(isinstance(v, ma.validate.Regexp) for v in inner.validators):
                fields.append((f"{cls.__name__}.{name}", inner, None))
    return fields


def _valid_example(field: ma.fields.Field, check: FullMatch | None) -> str:
    example = field.metadata.get("example")
    if isinstance(example, str):
        return example
    # A value the pattern accepts, with a digit in it when the pattern allows one.
    regex = check.regex if check else field.metadata["pattern"]
    strategy = st.from_regex(regex, fullmatch=True, alphabet=st.characters(codec="ascii"))
    try:
        return find(strategy, lambda s: any(c.isdigit() for c in s),
                    settings=settings(database=None, max_examples=500,
                                      suppress_health_check=list(HealthCheck)))
    except Exception:  # noqa: BLE001 - a pattern without digits
        return find(strategy, lambda s: True, settings=settings(database=None))


def test_every_pattern_field_matches_the_whole_value_in_ascii(app):
    fields = _pattern_fields()
    names = {name for name, _, _ in fields}
    # The walk sees the pattern fields we know of (so it cannot pass by finding none).
    assert {"RegisterSchema.phone", "NurseCreateSchema.license_no",
            "ServiceItemSchema.code", "RecipientCreateSchema.id_number",
            "PlanLineSchema.window_start"} <= names, names
    for name, field, check in fields:
        assert check is None or isinstance(check, FullMatch), f"{name}: use FullMatch/Pattern"
        value = _valid_example(field, check)
        field.deserialize(value)  # the example itself is accepted
        for bad in (value + "\n", value + "\r\n", "\n" + value):
            with pytest.raises(ma.ValidationError):
                field.deserialize(bad)
                pytest.fail(f"{name} accepted {bad!r}")
        digit = next((c for c in value if c in "0123456789"), None)
        if digit is None:
            continue
        for three in NON_ASCII_THREES:
            other = chr(ord(three) - 3 + int(digit))
            with pytest.raises(ma.ValidationError):
                field.deserialize(value.replace(digit, other, 1))
                pytest.fail(f"{name} accepted non-ASCII digits")


HUGE = "1" * 5000


@pytest.mark.parametrize("path", ["/auth/login", "/auth/register", "/orders"])
def test_body_with_a_huge_integer_is_400_problem(client, patient, path):
    body = '{"phone": "13812345678", "password": "x", "n": ' + HUGE + '}'
    r = client.post(API + path, data=body, content_type="application/json",
                    headers={**auth(patient), "Idempotency-Key": "huge-integer-1"})
    assert_problem(r, 400)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_body_with_a_non_json_constant_is_400_problem(client, literal):
    r = client.post(f"{API}/auth/login", data='{"phone": ' + literal + '}',
                    content_type="application/json")
    assert_problem(r, 400)


@pytest.mark.parametrize("sub", ["99999999999", "0", "-1", "1e3", "2147483648", HUGE])
def test_token_with_subject_out_of_range_is_401(client, app, sub):
    now = utcnow()
    token = jwt.encode({"sub": sub, "role": "admin", "typ": "access",
                        "iat": int(now.timestamp()),
                        "exp": int((now + timedelta(minutes=5)).timestamp())},
                       app.config["HOMECARE"].secret_key, algorithm="HS256")
    r = client.get(f"{API}/me", headers={"Authorization": "Bearer " + token})
    assert_problem(r, 401, "token_invalid")


def test_organization_with_string_coordinates_is_422(client, admin):
    r = client.post(f"{API}/organizations", headers=auth(admin), json={
        "name": "济宁市中医院", "center": {"lat": "35.4", "lng": "116.5"}, "radius_km": 20})
    errors = assert_problem(r, 422, "validation_failed")["errors"]
    assert set(errors["center"]) == {"lat", "lng"}


def test_number_sent_as_string_is_422(client, admin):
    r = client.post(f"{API}/organizations", headers=auth(admin), json={
        "name": "济宁市中医院", "center": {"lat": 35.4, "lng": 116.5}, "radius_km": "20"})
    assert "radius_km" in assert_problem(r, 422)["errors"]


@pytest.mark.parametrize("value", [0, 1, "false", "no", None])
def test_boolean_sent_as_anything_but_a_json_boolean_is_422(client, admin, supervisor, value):
    r = client.patch(f"{API}/users/{supervisor.id}", headers=auth(admin),
                     json={"active": value})
    assert "active" in assert_problem(r, 422, "validation_failed")["errors"]


def test_consent_yes_is_422(client, patient):
    r = client.post(f"{API}/patients", headers=auth(patient), json={
        "name": "王秀英", "gender": "female", "birth_date": "1949-12-31",
        "id_number": "11010519491231002X", "consent": "yes"})
    assert "consent" in assert_problem(r, 422)["errors"]


def test_patch_without_a_body_is_422(client, admin, supervisor):
    r = client.patch(f"{API}/users/{supervisor.id}", headers=auth(admin))
    assert_problem(r, 422, "validation_failed")
    r = client.patch(f"{API}/users/{supervisor.id}", headers=auth(admin), data="",
                     content_type="application/json")
    assert r.status_code in (400, 422) and r.mimetype == "application/problem+json"


def test_true_json_types_are_accepted(client, admin):
    nurse = UserFactory(role="nurse", organization_id=None)
    r = client.patch(f"{API}/users/{nurse.id}", headers=auth(admin), json={"active": True})
    assert r.status_code == 200, r.get_json()


def test_spec_documents_what_is_enforced(client):
    spec = client.get("/openapi.json").get_json()
    header = spec["components"]["headers"]["PAGINATION"]
    assert header["schema"] == {"type": "string"} and '"total"' in header["description"]
    schemas = spec["components"]["schemas"]
    assert schemas["NurseCreate"]["properties"]["service_radius_km"]["maximum"] == 30
    assert schemas["Register"]["properties"]["name"]["pattern"] == r"^[^\u0000]*$"
    assert "2000-01-01" in schemas["FamilyBedCreate"]["properties"]["start_date"]["description"]
    nurses = spec["paths"][f"{API}/nurses"]["get"]["parameters"]
    radius = next(p for p in nurses if p["name"] == "radius_km")["schema"]
    assert radius.get("exclusiveMinimum") == 0 and "minimum" not in radius


def test_integral_float_for_an_integer_field_is_the_integer(client, admin):
    # JSON has one number type; JSON Schema's integer includes 20.0.
    r = client.post(f"{API}/organizations", headers=auth(admin), json={
        "name": "济宁市中医院", "center": {"lat": 35.4, "lng": 116.5}, "radius_km": 20})
    org_id = r.get_json()["id"]
    r = client.post(f"{API}/users", headers=auth(admin), json={
        "phone": "13712340011", "password": "s3cret-pass", "name": "张护士长",
        "role": "supervisor", "organization_id": float(org_id)})
    assert r.status_code == 201, r.get_json()
    r = client.post(f"{API}/users", headers=auth(admin), json={
        "phone": "13712340012", "password": "s3cret-pass", "name": "张护士长",
        "role": "supervisor", "organization_id": org_id + 0.5})
    assert "organization_id" in assert_problem(r, 422)["errors"]

"""Route tests for the service catalogue and the skill vocabulary."""

from conftest import assert_problem
from homecare.catalogue.models import CATEGORIES, SKILLS
from tests.catalogue.conftest import item_body
from tests.factories import ServiceItemFactory, auth
from tests.helpers import API


def test_list_services_is_public_and_paginated(client, seeded):
    r = client.get(f"{API}/services?page_size=100")
    assert r.status_code == 200
    items = r.get_json()
    assert len(items) == seeded >= 24
    assert {i["category"] for i in items} == set(CATEGORIES)
    first = items[0]
    for field in ("code", "name_zh", "name_en", "category", "duration_min", "required_skills",
                  "min_title", "price_fen", "requires_assessment"):
        assert field in first
    assert "X-Pagination" in r.headers


def test_list_services_filters_by_category(client, seeded):
    items = client.get(f"{API}/services?category=tcm").get_json()
    assert items and {i["category"] for i in items} == {"tcm"}


def test_list_services_with_unknown_category_is_422(client):
    body = assert_problem(client.get(f"{API}/services?category=massage"), 422)
    assert "category" in body["errors"]


def test_list_services_hides_retired_items_unless_asked(client):
    live = ServiceItemFactory()
    retired = ServiceItemFactory(active=False)
    codes = {i["code"] for i in client.get(f"{API}/services?page_size=100").get_json()}
    assert live.code in codes and retired.code not in codes
    codes = {i["code"] for i in client.get(f"{API}/services?active=false").get_json()}
    assert codes == {retired.code}


def test_get_service_is_public(client, seeded):
    r = client.get(f"{API}/services/TUBE_PICC")
    assert r.status_code == 200
    assert r.get_json()["required_skills"] == ["picc_maintenance"]


def test_get_missing_service_is_404(client):
    body = assert_problem(client.get(f"{API}/services/NOPE"), 404, "service_item_not_found")
    assert body["service_code"] == "NOPE"


def test_get_service_with_nul_in_the_code_matches_no_route(client):
    # Public and unauthenticated: PostgreSQL refuses NUL in a text comparison (a 500).
    assert_problem(client.get(f"{API}/services/A%00B"), 404, "not_found")


def test_create_service_with_nul_in_a_name_is_422(client, admin):
    r = client.post(f"{API}/services", json=item_body(name_zh="心电\x00图"), headers=auth(admin))
    assert assert_problem(r, 422)["errors"] == {"name_zh": ["must not contain NUL characters"]}


def test_admin_creates_service_item(client, admin):
    r = client.post(f"{API}/services", json=item_body(), headers=auth(admin))
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["code"] == "BASIC_ECG" and r.get_json()["active"] is True
    assert client.get(f"{API}/services/BASIC_ECG").get_json()["price_fen"] == 15000


def test_create_service_with_taken_code_is_409(client, admin):
    item = ServiceItemFactory()
    assert_problem(client.post(f"{API}/services", json=item_body(code=item.code),
                               headers=auth(admin)), 409, "service_code_taken")


def test_create_service_with_unknown_skill_is_422(client, admin):
    body = assert_problem(client.post(f"{API}/services", headers=auth(admin),
                                      json=item_body(required_skills=["massage"])), 422)
    assert "required_skills" in body["errors"]


def test_create_service_with_unknown_title_is_422(client, admin):
    body = assert_problem(client.post(f"{API}/services", headers=auth(admin),
                                      json=item_body(min_title="doctor")), 422)
    assert "min_title" in body["errors"]


def test_create_service_with_negative_price_is_422(client, admin):
    body = assert_problem(client.post(f"{API}/services", headers=auth(admin),
                                      json=item_body(price_fen=-1)), 422)
    assert "price_fen" in body["errors"]


def test_create_service_with_lower_case_code_is_422(client, admin):
    body = assert_problem(client.post(f"{API}/services", headers=auth(admin),
                                      json=item_body(code="basic_ecg")), 422)
    assert "code" in body["errors"]


def test_create_service_by_supervisor_is_403(client, supervisor):
    assert_problem(client.post(f"{API}/services", json=item_body(), headers=auth(supervisor)),
                   403)


def test_create_service_without_token_is_401(client):
    assert_problem(client.post(f"{API}/services", json=item_body()), 401)


def test_admin_changes_price_and_retires_item(client, admin):
    item = ServiceItemFactory(price_fen=9000)
    r = client.patch(f"{API}/services/{item.code}", headers=auth(admin),
                     json={"price_fen": 9900, "active": False})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["price_fen"] == 9900 and r.get_json()["active"] is False


def test_patch_service_code_is_422(client, admin):
    item = ServiceItemFactory()
    body = assert_problem(client.patch(f"{API}/services/{item.code}", headers=auth(admin),
                                       json={"code": "OTHER"}), 422)
    assert body["errors"]["code"] == ["Unknown field."]


def test_patch_missing_service_is_404(client, admin):
    assert_problem(client.patch(f"{API}/services/NOPE", headers=auth(admin),
                                json={"price_fen": 1}), 404, "service_item_not_found")


def test_patch_service_by_patient_is_403(client, patient):
    item = ServiceItemFactory()
    assert_problem(client.patch(f"{API}/services/{item.code}", headers=auth(patient),
                                json={"price_fen": 1}), 403)


def test_list_skills_is_public_with_chinese_labels(client):
    r = client.get(f"{API}/skills?page_size=100")
    assert r.status_code == 200
    skills = r.get_json()
    assert [s["code"] for s in skills] == list(SKILLS)
    assert {"code": "picc_maintenance", "name_zh": "PICC维护",
            "name_en": "PICC line maintenance"} in skills

"""Route tests for care recipients and addresses: consent, masking per role, coordinates."""

from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from geopy.distance import geodesic

from conftest import assert_problem
from homecare.audit.models import AuditEntry
from homecare.clock import utcnow
from homecare.patients.identity import make_id_number
from tests.factories import OrganizationFactory, UserFactory, auth, booked_order
from tests.helpers import API
from tests.patients.conftest import JINING, recipient_body


def metres(a, b) -> float:
    return geodesic((a[0], a[1]), (b[0], b[1])).m


def _audits(session, action, object_id):
    return list(session.scalars(sa.select(AuditEntry).where(
        AuditEntry.action == action, AuditEntry.object_id == object_id)))


# --- create -------------------------------------------------------------------------

def test_create_recipient_returns_201_with_full_numbers_for_owner(client, patient):
    body = recipient_body()
    r = client.post(f"{API}/patients", json=body, headers=auth(patient))
    assert r.status_code == 201, r.get_json()
    got = r.get_json()
    assert got["id_number"] == body["id_number"] and got["phone"] == body["phone"]
    assert got["masked"] is False and got["owner_id"] == patient.id
    assert got["consent"] is True and got["consent_at"]
    assert got["emergency_contact"]["phone"] == "13953798765"


def test_create_recipient_accepts_lower_case_x_check_character(client, patient):
    r = client.post(f"{API}/patients", headers=auth(patient), json=recipient_body(
        birth_date="1949-12-31", id_number="11010519491231002x"))
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["id_number"] == "11010519491231002X"


def test_create_recipient_with_wrong_check_digit_is_422_naming_id_number(client, patient):
    body = recipient_body()
    last = body["id_number"][-1]
    body["id_number"] = body["id_number"][:-1] + ("1" if last != "1" else "2")
    body_out = assert_problem(client.post(f"{API}/patients", json=body, headers=auth(patient)),
                              422, "validation_failed")
    assert "check digit" in " ".join(body_out["errors"]["id_number"])


def test_create_recipient_with_impossible_birth_date_in_number_is_422(client, patient):
    first17 = "37081119460230042"  # 30 February
    from homecare.patients.identity import check_character

    body = recipient_body(id_number=first17 + check_character(first17))
    body_out = assert_problem(client.post(f"{API}/patients", json=body, headers=auth(patient)),
                              422, "validation_failed")
    assert "birth date" in " ".join(body_out["errors"]["id_number"])


def test_create_recipient_whose_number_disagrees_with_birth_date_is_422(client, patient):
    body = recipient_body(birth_date="1950-01-01")
    body_out = assert_problem(client.post(f"{API}/patients", json=body, headers=auth(patient)),
                              422, "validation_failed")
    assert "id_number" in body_out["errors"]


def test_create_recipient_without_consent_is_422(client, patient):
    body_out = assert_problem(client.post(f"{API}/patients", json=recipient_body(consent=False),
                                          headers=auth(patient)), 422, "validation_failed")
    assert "consent" in body_out["errors"]


def test_create_recipient_with_consent_missing_is_422(client, patient):
    body = recipient_body()
    del body["consent"]
    body_out = assert_problem(client.post(f"{API}/patients", json=body, headers=auth(patient)),
                              422, "validation_failed")
    assert "consent" in body_out["errors"]


def test_create_child_without_guardian_consent_is_422(client, patient):
    born = utcnow().date() - timedelta(days=365 * 6)
    body_out = assert_problem(client.post(
        f"{API}/patients", headers=auth(patient),
        json=recipient_body(born=born, eligibility="maternal_infant")),
        422, "guardian_consent_required")
    assert body_out["field"] == "guardian_consent"


def test_create_child_with_guardian_consent_is_201(client, patient):
    born = utcnow().date() - timedelta(days=365 * 6)
    r = client.post(f"{API}/patients", headers=auth(patient), json=recipient_body(
        born=born, eligibility="maternal_infant", guardian_consent=True))
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["guardian_consent"] is True and r.get_json()["age"] in (5, 6)


def test_create_same_person_twice_is_409(client, patient):
    assert client.post(f"{API}/patients", json=recipient_body(),
                       headers=auth(patient)).status_code == 201
    body = assert_problem(client.post(f"{API}/patients", json=recipient_body(name="王 秀英"),
                                      headers=auth(patient)), 409, "patient_exists")
    assert body["patient_id"]


def test_create_same_person_by_two_children_is_allowed(client, patient):
    brother = UserFactory(role="patient")
    assert client.post(f"{API}/patients", json=recipient_body(),
                       headers=auth(patient)).status_code == 201
    assert client.post(f"{API}/patients", json=recipient_body(),
                       headers=auth(brother)).status_code == 201


def test_create_recipient_with_landline_is_422(client, patient):
    body_out = assert_problem(client.post(f"{API}/patients", headers=auth(patient),
                                          json=recipient_body(phone="05372345678")), 422)
    assert "phone" in body_out["errors"]


def test_create_recipient_with_unknown_eligibility_is_422(client, patient):
    body_out = assert_problem(client.post(f"{API}/patients", headers=auth(patient),
                                          json=recipient_body(eligibility="vip")), 422)
    assert "eligibility" in body_out["errors"]


def test_create_recipient_with_unknown_field_is_422(client, patient):
    body_out = assert_problem(client.post(f"{API}/patients", headers=auth(patient),
                                          json=recipient_body(assessed_at="2025-01-01")), 422)
    assert body_out["errors"]["assessed_at"] == ["Unknown field."]


def test_create_recipient_by_supervisor_is_403(client, supervisor):
    assert_problem(client.post(f"{API}/patients", json=recipient_body(),
                               headers=auth(supervisor)), 403, "forbidden")


def test_create_recipient_without_token_is_401(client):
    assert_problem(client.post(f"{API}/patients", json=recipient_body()), 401)


# --- read: masking per role -------------------------------------------------------

def test_list_recipients_owner_sees_only_her_own_in_full(client, patient, recipient,
                                                         make_recipient):
    make_recipient(UserFactory(role="patient"), sequence=7)
    r = client.get(f"{API}/patients", headers=auth(patient))
    assert r.status_code == 200
    items = r.get_json()
    assert [i["id"] for i in items] == [recipient.id]
    assert items[0]["id_number"].startswith("370811") and "*" not in items[0]["id_number"]
    assert "X-Pagination" in r.headers


def test_list_recipients_supervisor_sees_served_ones_masked(client, supervisor, recipient,
                                                            home_in_org):
    r = client.get(f"{API}/patients", headers=auth(supervisor))
    items = r.get_json()
    assert [i["id"] for i in items] == [recipient.id]
    assert items[0]["id_number"] == "370***********" + items[0]["id_number"][-4:]
    assert items[0]["phone"] == "138****2345"
    assert items[0]["emergency_contact"]["phone"] == "139****8765"
    assert items[0]["masked"] is True
    assert items[0]["addresses"][0]["organization_id"] == home_in_org.organization_id


def test_list_recipients_supervisor_does_not_see_unserved_ones(client, supervisor, recipient):
    assert client.get(f"{API}/patients", headers=auth(supervisor)).get_json() == []


def test_list_recipients_by_supervisor_is_audited(client, session, supervisor, recipient,
                                                  home_in_org):
    client.get(f"{API}/patients", headers=auth(supervisor))
    [entry] = _audits(session, "patient.read", recipient.id)
    assert entry.actor_id == supervisor.id and entry.detail == {"part": "list"}


def test_get_recipient_owner_sees_full_numbers(client, patient, recipient, home_in_org):
    r = client.get(f"{API}/patients/{recipient.id}", headers=auth(patient))
    got = r.get_json()
    assert r.status_code == 200 and got["masked"] is False
    assert got["phone"] == "13853712345" and "*" not in got["id_number"]
    assert got["addresses"][0]["id"] == home_in_org.id


def test_get_recipient_supervisor_sees_masked_numbers_and_read_is_audited(
        client, session, supervisor, recipient, home_in_org):
    r = client.get(f"{API}/patients/{recipient.id}", headers=auth(supervisor))
    got = r.get_json()
    assert r.status_code == 200
    assert got["id_number"] == "370***********" + got["id_number"][-4:]
    assert got["phone"] == "138****2345" and got["name"] == "王秀英"
    assert len(_audits(session, "patient.read", recipient.id)) == 1


def test_get_recipient_owner_read_is_not_audited(client, session, patient, recipient):
    client.get(f"{API}/patients/{recipient.id}", headers=auth(patient))
    assert _audits(session, "patient.read", recipient.id) == []


def test_get_recipient_served_through_an_order_is_visible_to_supervisor(
        client, org, supervisor):
    order = booked_order(org)
    r = client.get(f"{API}/patients/{order.patient_id}", headers=auth(supervisor))
    assert r.status_code == 200
    assert r.get_json()["masked"] is True


def test_get_recipient_of_another_account_is_404(client, recipient):
    stranger = UserFactory(role="patient")
    assert_problem(client.get(f"{API}/patients/{recipient.id}", headers=auth(stranger)),
                   404, "patient_not_found")


def test_get_recipient_by_supervisor_of_other_org_is_404(client, other_org, recipient,
                                                         home_in_org):
    other = UserFactory(role="supervisor", organization_id=other_org.id)
    assert_problem(client.get(f"{API}/patients/{recipient.id}", headers=auth(other)),
                   404, "patient_not_found")


def test_get_recipient_by_admin_is_masked(client, admin, recipient):
    got = client.get(f"{API}/patients/{recipient.id}", headers=auth(admin)).get_json()
    assert got["masked"] is True and got["phone"] == "138****2345"


def test_get_recipient_by_nurse_is_403(client, org, recipient):
    nurse = UserFactory(role="nurse", organization_id=org.id)
    assert_problem(client.get(f"{API}/patients/{recipient.id}", headers=auth(nurse)), 403)


def test_get_missing_recipient_is_404(client, patient):
    assert_problem(client.get(f"{API}/patients/999999", headers=auth(patient)), 404,
                   "patient_not_found")


# --- update -------------------------------------------------------------------------

def test_patch_recipient_owner_changes_phone_and_contact(client, patient, recipient):
    r = client.patch(f"{API}/patients/{recipient.id}", headers=auth(patient), json={
        "phone": "15012345678", "emergency_contact": {"name": "李强", "phone": "15112345678"}})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["phone"] == "15012345678"
    assert r.get_json()["emergency_contact"]["name"] == "李强"


def test_patch_recipient_supervisor_changes_conditions_and_is_audited(
        client, session, supervisor, recipient, home_in_org):
    r = client.patch(f"{API}/patients/{recipient.id}", headers=auth(supervisor),
                     json={"conditions": ["脑梗后遗症"], "mobility": "wheelchair"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["conditions"] == ["脑梗后遗症"] and r.get_json()["masked"] is True
    [entry] = _audits(session, "patient.updated", recipient.id)
    assert entry.detail == {"fields": ["conditions", "mobility"]}


def test_patch_recipient_supervisor_changing_phone_is_403(client, supervisor, recipient,
                                                          home_in_org):
    body = assert_problem(client.patch(f"{API}/patients/{recipient.id}",
                                       headers=auth(supervisor), json={"phone": "15012345678"}),
                          403, "field_not_allowed")
    assert body["fields"] == ["phone"]


def test_patch_recipient_id_number_without_birth_date_is_422(client, patient, recipient):
    new = make_id_number("370811", date(1946, 5, 17), 99)
    body = assert_problem(client.patch(f"{API}/patients/{recipient.id}", headers=auth(patient),
                                       json={"id_number": new}), 422, "validation_failed")
    assert "birth_date" in body["errors"]


def test_patch_recipient_id_number_with_birth_date_is_200(client, patient, recipient):
    born = date(1947, 1, 2)
    new = make_id_number("370811", born, 99)
    r = client.patch(f"{API}/patients/{recipient.id}", headers=auth(patient),
                     json={"id_number": new, "birth_date": born.isoformat()})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["id_number"] == new


def test_patch_recipient_to_number_of_another_recipient_is_409(client, patient, recipient,
                                                               make_recipient):
    make_recipient(patient, sequence=77, name="李建国")
    new = make_id_number("370811", date(1946, 5, 17), 77)
    assert_problem(client.patch(f"{API}/patients/{recipient.id}", headers=auth(patient),
                                json={"id_number": new, "birth_date": "1946-05-17"}),
                   409, "patient_exists")


def test_patch_recipient_of_another_account_is_404(client, recipient):
    stranger = UserFactory(role="patient")
    assert_problem(client.patch(f"{API}/patients/{recipient.id}", headers=auth(stranger),
                                json={"phone": "15012345678"}), 404, "patient_not_found")


def test_patch_child_dropping_guardian_consent_is_422(client, patient, make_recipient):
    child = make_recipient(patient, born=utcnow().date() - timedelta(days=365 * 3),
                           guardian_consent=True, eligibility="maternal_infant")
    assert_problem(client.patch(f"{API}/patients/{child.id}", headers=auth(patient),
                                json={"guardian_consent": False}),
                   422, "guardian_consent_required")


# --- addresses and coordinates ----------------------------------------------------------

def _add(client, user, recipient, **place):
    return client.post(f"{API}/patients/{recipient.id}/addresses", headers=auth(user),
                       json={"label": "家", "text": "济宁市任城区", **place})


def test_add_address_in_area_gets_the_serving_organization(client, org, patient, recipient):
    r = _add(client, patient, recipient, **JINING)
    assert r.status_code == 201, r.get_json()
    got = r.get_json()
    assert got["organization_id"] == org.id and got["outside_service_area"] is False
    assert (got["lat"], got["lng"]) == (JINING["lat"], JINING["lng"])


def test_add_address_in_gcj02_is_stored_as_wgs84(client, patient, recipient):
    # Tiananmen: WGS-84 (39.908692, 116.397477) shows on AMap as (39.910093, 116.403722).
    r = _add(client, patient, recipient, lat=39.910093, lng=116.403722, coord_system="gcj02")
    got = r.get_json()
    assert metres((got["lat"], got["lng"]), (39.908692, 116.397477)) < 0.5
    assert metres((got["gcj02"]["lat"], got["gcj02"]["lng"]), (39.910093, 116.403722)) < 0.05


def test_add_address_in_wgs84_returns_known_gcj02_copy(client, patient, recipient):
    got = _add(client, patient, recipient, lat=39.908692, lng=116.397477).get_json()
    assert got["gcj02"]["lat"] == pytest.approx(39.910093, abs=1e-5)
    assert got["gcj02"]["lng"] == pytest.approx(116.403722, abs=1e-5)


def test_add_address_in_bd09_is_stored_as_wgs84(client, patient, recipient):
    # Published pair: GCJ-02 (39.915, 116.404) is BD-09 (39.92133699, 116.41036949), and
    # GCJ-02 (39.91640428, 116.41024450) is WGS-84 (39.915, 116.404).
    r = _add(client, patient, recipient, lat=39.92133699351021, lng=116.41036949371029,
             coord_system="bd09")
    got = r.get_json()
    assert metres((got["gcj02"]["lat"], got["gcj02"]["lng"]), (39.915, 116.404)) < 0.5
    wgs_of_gcj = _add(client, patient, recipient, lat=39.91640428150164,
                      lng=116.41024449916938, coord_system="gcj02").get_json()
    assert metres((wgs_of_gcj["lat"], wgs_of_gcj["lng"]), (39.915, 116.404)) < 0.05


def test_add_address_outside_every_area_is_accepted_and_flagged(client, patient, recipient):
    r = _add(client, patient, recipient, lat=31.2304, lng=121.4737)  # Shanghai
    assert r.status_code == 201
    assert r.get_json()["outside_service_area"] is True
    assert r.get_json()["organization_id"] is None


def test_add_address_where_areas_overlap_goes_to_the_nearest_centre(client, org, patient,
                                                                    recipient):
    near = OrganizationFactory(center_lat=35.56, center_lng=116.59, radius_km=30)
    got = _add(client, patient, recipient, lat=35.55, lng=116.59).get_json()
    assert got["organization_id"] == near.id
    got = _add(client, patient, recipient, lat=35.42, lng=116.59).get_json()
    assert got["organization_id"] == org.id


def test_add_address_with_unknown_coord_system_is_422(client, patient, recipient):
    body = assert_problem(_add(client, patient, recipient, coord_system="cgcs2000", **JINING),
                          422, "validation_failed")
    assert "coord_system" in body["errors"]


def test_add_address_with_latitude_out_of_range_is_422(client, patient, recipient):
    body = assert_problem(_add(client, patient, recipient, lat=95, lng=116.5), 422)
    assert "lat" in body["errors"]


def test_add_address_in_bd09_off_the_globe_once_converted_is_422(client, patient,
                                                                 recipient):
    # In range as given, but BD-09 -> WGS-84 moves it ~0.006 deg: lat -90.0055 is no
    # place on Earth, and stored it made every later distance to it a 500.
    r = _add(client, patient, recipient, lat=-90, lng=-180, coord_system="bd09")
    body = assert_problem(r, 422, "validation_failed")
    assert set(body["errors"]) == {"lat", "lng"}
    assert "WGS-84" in body["errors"]["lat"][0]


def test_add_address_in_gcj02_at_the_edge_of_the_range_is_accepted(client, patient,
                                                                   recipient):
    # Outside China GCJ-02 is WGS-84 itself: the edge of the range stays on it.
    r = _add(client, patient, recipient, lat=-90, lng=180, coord_system="gcj02")
    assert r.status_code == 201, r.get_json()
    assert (r.get_json()["lat"], r.get_json()["lng"]) == (-90, 180)


def test_add_address_with_nul_in_text_is_422(client, patient, recipient):
    # PostgreSQL text cannot hold NUL: refused at the edge, not a 500 at the insert.
    r = client.post(f"{API}/patients/{recipient.id}/addresses", headers=auth(patient),
                    json={"label": "家", "text": "古槐路\u00001号", **JINING})
    assert assert_problem(r, 422)["errors"] == {"text": ["must not contain NUL characters"]}


def test_add_address_to_another_accounts_recipient_is_404(client, recipient):
    stranger = UserFactory(role="patient")
    assert_problem(_add(client, stranger, recipient, **JINING), 404, "patient_not_found")


def test_add_address_by_supervisor_is_403(client, supervisor, recipient, home_in_org):
    assert_problem(_add(client, supervisor, recipient, **JINING), 403)


def test_get_recipient_shows_staff_only_their_own_organizations_assessment(
        client, session, org, other_org, supervisor, patient, recipient, home_in_org):
    from homecare.patients.service import mark_assessed

    now = utcnow()
    mark_assessed(session, patient_id=recipient.id, organization_id=org.id, now=now)
    mark_assessed(session, patient_id=recipient.id, organization_id=other_org.id, now=now)
    session.commit()
    staff = client.get(f"{API}/patients/{recipient.id}", headers=auth(supervisor)).get_json()
    owner = client.get(f"{API}/patients/{recipient.id}", headers=auth(patient)).get_json()
    assert [a["organization_id"] for a in staff["assessments"]] == [org.id]
    assert sorted(a["organization_id"] for a in owner["assessments"]) == sorted(
        [org.id, other_org.id])


def test_list_addresses_supervisor_of_serving_org(client, supervisor, recipient, home_in_org):
    r = client.get(f"{API}/patients/{recipient.id}/addresses", headers=auth(supervisor))
    assert r.status_code == 200
    [address] = r.get_json()
    assert address["id"] == home_in_org.id and set(address["gcj02"]) == {"lat", "lng"}


def test_list_addresses_of_unserved_recipient_by_supervisor_is_404(client, supervisor,
                                                                   recipient):
    assert_problem(client.get(f"{API}/patients/{recipient.id}/addresses",
                              headers=auth(supervisor)), 404, "patient_not_found")


def test_list_recipients_page_far_past_the_end_is_empty(client, patient, recipient):
    r = client.get(f"{API}/patients?page=99999999999999999999", headers=auth(patient))
    assert r.status_code == 200 and r.get_json() == []


def test_get_recipient_with_id_beyond_integer_range_is_404(client, patient):
    assert_problem(client.get(f"{API}/patients/99999999999999999999", headers=auth(patient)),
                   404)

"""The app factory, the error model, the operations endpoints and the spec."""

import json
from pathlib import Path

import pytest

from conftest import assert_problem
from homecare import create_app
from homecare.cli import render_openapi

ROOT = Path(__file__).resolve().parent.parent


def test_create_app_with_overrides_uses_them(app_overrides):
    app = create_app({**app_overrides, "offer_fanout": 7})
    assert app.config["HOMECARE"].offer_fanout == 7
    assert app.config["HOMECARE"].database_url == app_overrides["database_url"]


def test_create_app_without_overrides_uses_embedded_default(tmp_path, monkeypatch):
    monkeypatch.setenv("HOMECARE_INSTANCE_PATH", str(tmp_path))
    for name in ("HOMECARE_DATABASE_URL", "HOMECARE_SECRET_KEY", "HOMECARE_DATA_KEY",
                 "HOMECARE_ENV"):
        monkeypatch.delenv(name, raising=False)
    config = create_app().config["HOMECARE"]
    assert config.database_url == f"sqlite:///{tmp_path / 'homecare.db'}"
    assert (tmp_path / "secret_key").exists()
    # The generated secret is kept: a second start signs tokens the same way.
    assert create_app().config["HOMECARE"].secret_key == config.secret_key


def test_production_without_database_fails_loudly(monkeypatch):
    import pytest

    from homecare.config import ConfigError

    monkeypatch.setenv("HOMECARE_ENV", "production")
    monkeypatch.delenv("HOMECARE_DATABASE_URL", raising=False)
    with pytest.raises(ConfigError, match="HOMECARE_DATABASE_URL"):
        create_app()


def test_bad_config_value_names_the_variable(monkeypatch):
    import pytest

    from homecare.config import ConfigError

    monkeypatch.setenv("HOMECARE_OFFER_FANOUT", "three")
    with pytest.raises(ConfigError, match="HOMECARE_OFFER_FANOUT"):
        create_app()


@pytest.mark.parametrize("variable", [
    "HOMECARE_SERVICE_HOURS_START", "HOMECARE_SERVICE_HOURS_END", "HOMECARE_PLANNING_TIME",
    "HOMECARE_PURGE_TIME", "HOMECARE_FAMILY_BED_GENERATION_TIME"])
@pytest.mark.parametrize("value", ["7am", "7:00", "24:00", "07:60", "0700", ""])
def test_malformed_time_of_day_fails_at_startup_naming_the_variable(monkeypatch, variable,
                                                                     value):
    from homecare.config import ConfigError

    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=variable):
        create_app()


def test_service_hours_ending_before_they_start_fail_at_startup(app_overrides):
    from homecare.config import ConfigError

    with pytest.raises(ConfigError, match="HOMECARE_SERVICE_HOURS_START"):
        create_app({**app_overrides, "service_hours_start": "21:00",
                    "service_hours_end": "07:00"})


def test_unknown_route_is_404_problem(client):
    assert_problem(client.get("/api/v1/no-such-thing"), 404, "not_found")


def test_wrong_method_is_405_problem(client):
    r = client.delete("/api/v1/auth/login")
    assert_problem(r, 405, "method_not_allowed")
    assert "POST" in r.headers["Allow"]


def test_unexpected_error_is_500_problem_that_leaks_nothing(app_overrides, caplog):
    def boom():
        raise RuntimeError("secret internals 13812345678")

    app = create_app(app_overrides)
    app.add_url_rule("/boom-test", "boom_test", boom)
    with app.test_request_context():
        r = app.test_client().get("/boom-test")
    body = assert_problem(r, 500, "internal_error")
    assert "secret" not in json.dumps(body)
    assert any("unhandled error" in rec.getMessage() for rec in caplog.records)


def test_request_id_is_echoed_and_generated(client):
    r = client.get("/health", headers={"X-Request-ID": "abc-1234"})
    assert r.headers["X-Request-ID"] == "abc-1234"
    assert len(client.get("/health").headers["X-Request-ID"]) == 32


@pytest.mark.parametrize("incoming", [
    "7f1c1d1e-0b2a-4c1e-9d3f-5a6b7c8d9e0f", "trace.2026_12_01-a", "a" * 64])
def test_request_id_of_the_client_is_kept_when_an_opaque_token(client, incoming):
    assert client.get("/health", headers={"X-Request-ID": incoming}
                      ).headers["X-Request-ID"] == incoming


@pytest.mark.parametrize("incoming", [
    "13812345678",            # a mobile number: it would sit unredacted in every log line
    "req-13812345678-x",      # one inside a token
    "05371234567",            # any 11 digits
    "short",                  # under 8
    "a" * 65,                 # over 64
    "has space 123",
    "id=1;drop",
])
def test_request_id_of_the_client_is_replaced_when_not_an_opaque_token(client, incoming):
    got = client.get("/health", headers={"X-Request-ID": incoming}).headers["X-Request-ID"]
    assert got != incoming and len(got) == 32


def test_logs_never_contain_phone_or_id_numbers():
    import logging

    from homecare.logging_setup import JsonFormatter

    record = logging.LogRecord("x", logging.INFO, __file__, 1,
                               "login 13812345678 id 11010519491231002X", None, None)
    text = JsonFormatter().format(record)
    assert "13812345678" not in text and "11010519491231002X" not in text
    assert "[phone]" in text and "[id_number]" in text


def test_health_ready_metrics(client):
    assert client.get("/health").get_json() == {"status": "ok"}
    # No scheduler beats in the test database: not ready (tests/ops covers each case).
    ready = client.get("/ready")
    assert ready.status_code == 503
    assert (ready.get_json()["database"], ready.get_json()["scheduler"]) == ("ok", "missing")
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert b"homecare_http_requests_total" in metrics.data


def test_openapi_served_and_docs_page(client):
    spec = client.get("/openapi.json").get_json()
    assert "/api/v1/orders" in spec["paths"] or "/api/v1/auth/login" in spec["paths"]
    assert client.get("/docs").status_code == 200


def test_checked_in_openapi_matches_the_code(app):
    checked_in = (ROOT / "openapi" / "openapi.json").read_text()
    assert checked_in == render_openapi(app), "run `homecare openapi` and commit the result"


def test_spec_documents_errors_as_problem_json(app):
    spec = json.loads(render_openapi(app))
    content = spec["components"]["responses"]["NOT_FOUND"]["content"]
    assert list(content) == ["application/problem+json"]
    login = spec["paths"]["/api/v1/auth/login"]["post"]["responses"]
    assert "429" in login and "401" in login


def test_id_beyond_database_integer_range_is_404(client, admin):
    from tests.factories import auth

    r = client.get("/api/v1/organizations/99999999999999999999", headers=auth(admin))
    assert_problem(r, 404, "not_found")


def test_page_far_past_the_end_is_empty_not_500(client, admin, org):
    from tests.factories import auth

    r = client.get("/api/v1/organizations?page=99999999999999999999", headers=auth(admin))
    assert r.status_code == 200 and r.get_json() == []


def test_every_setting_is_documented_in_readme_and_deploy_example():
    from dataclasses import fields

    from homecare.config import Config

    readme = (ROOT / "README.md").read_text()
    example = (ROOT / "deploy" / "homecare.env.example").read_text()
    for f in fields(Config):
        variable = "HOMECARE_" + f.name.upper()
        assert f"`{variable}`" in readme, variable
        assert f"\n{variable}=" in example, variable


def test_spec_admits_what_the_service_really_sends(app):
    # Found by schemathesis: problem extension members (order_id, ...) and masked
    # phone numbers in responses must not contradict the documented schemas.
    schemas = json.loads(render_openapi(app))["components"]["schemas"]
    assert schemas["Problem"]["additionalProperties"] is True
    contact = schemas["EmergencyContactOut"]["properties"]["phone"]
    assert "pattern" not in contact


@pytest.mark.parametrize(("variable", "value"), [
    ("HOMECARE_REPAIR_FREEZE_MINUTES", "-5"), ("HOMECARE_REPAIR_MOVE_COST_MINUTES", "-1"),
    ("HOMECARE_REPAIR_MOVE_COST_FADE_MINUTES", "-1"),
    ("HOMECARE_REPAIR_MOVE_COST_FAR_MINUTES", "25"),
    ("HOMECARE_REPAIR_SECONDS", "0"), ("HOMECARE_REPAIR_MAX_ATTEMPTS", "0")])
def test_a_repair_setting_out_of_range_fails_loudly(monkeypatch, variable, value):
    from homecare.config import ConfigError

    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=variable):
        create_app()

"""Configuration read from HOMECARE_* environment variables, with typed parsing."""

from __future__ import annotations

import json
import logging
import math
import os
import re
import secrets
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

log = logging.getLogger(__name__)


class ConfigError(RuntimeError):
    """The environment does not describe a runnable service."""


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {raw!r}")


def _list(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]


@dataclass(frozen=True)
class Config:
    """Every setting of the service; the README lists each one with its variable.

    Field names map to variables by upper-casing and prefixing ``HOMECARE_``
    (``database_url`` is ``HOMECARE_DATABASE_URL``). Defaults are the trade's usual
    values from DOMAIN.md where a city or hospital may differ.
    """

    env: str = "development"
    database_url: str = ""
    secret_key: str = ""
    data_key: str = ""
    instance_path: str = ""
    log_level: str = "INFO"
    log_format: str = "json"
    timezone: str = "Asia/Shanghai"

    access_token_minutes: int = 15
    refresh_token_days: int = 30
    login_max_attempts_per_phone: int = 5
    login_max_attempts_per_ip: int = 20
    login_window_seconds: int = 300
    # Reverse proxies in front of the service whose X-Forwarded-For is trusted: the
    # client address (per-IP limits, the audit trail) is taken that many hops back.
    trusted_proxies: int = 0

    # SMS verification codes: the provider (``log`` writes the code to the log, for
    # development only; refused in production), validity, and the per-IP budgets
    # (per phone: one a minute and SMS_MAX_PER_PHONE_PER_DAY a day; 5 wrong tries).
    sms_provider: str = ""
    sms_code_minutes: int = 5
    sms_max_per_phone_per_day: int = 10
    sms_max_per_ip_per_hour: int = 20
    # HOMECARE_SMS_PROVIDER=aliyun: Alibaba Cloud SMS (dysmsapi SendSms). The RAM
    # user's AccessKey pair (the secret kept out of repr: never in a log line), the
    # approved signature (签名), and the approved template per message kind, as
    # kind=TemplateCode pairs: ``code`` (verification codes, a template with ${code};
    # ``register`` or ``reset_password`` override it per purpose) and ``alert`` (urgent
    # pages, ${order_id} ${alert} ${severity}; ``alert_sos`` etc. override it per kind).
    sms_aliyun_access_key_id: str = field(default="", repr=False)
    sms_aliyun_access_key_secret: str = field(default="", repr=False)
    sms_aliyun_sign_name: str = ""
    sms_aliyun_templates: list[str] = field(default_factory=list)
    sms_aliyun_endpoint: str = "https://dysmsapi.aliyuncs.com/"
    sms_aliyun_region: str = "cn-hangzhou"
    # Connecting and each read wait at most this long; then the message failed (the
    # outbox retries a page; a code request answers 503). Aliyun advises 1 s or more.
    sms_timeout_seconds: float = 5.0

    # Where the outbox's notifications go (jobs/relay_notifications.py), in this order:
    # ``log`` (one line each, the default: nothing to set up), ``webhook`` (an
    # HMAC-signed POST to the organization's push gateway, per WEBHOOKS) and ``sms``
    # (urgent messages to supervisors, an SOS, by the SMS provider above).
    notify_channels: list[str] = field(default_factory=lambda: ["log"])
    # JSON: organization id (or "*" for any other) -> {"url": ..., "secret": ...}.
    # Kept out of repr: the secrets must never reach a log line.
    webhooks: str = field(default="", repr=False)
    # Each of connecting and every read waits at most this long; then the try failed.
    webhook_timeout_seconds: float = 5.0

    # Internet+nursing gate (国家卫健委 pilot rules): experience and title.
    min_years_experience: int = 5
    min_title: str = "senior_nurse"

    booking_horizon_days: int = 14
    service_hours_start: str = "07:00"
    service_hours_end: str = "21:00"
    idempotency_ttl_hours: int = 24

    travel_detour_factor: float = 1.3
    travel_speed_kmh: float = 25.0
    max_service_radius_km: float = 30.0

    offer_fanout: int = 3
    offer_minutes_same_day: int = 5
    offer_minutes_later: int = 30
    offer_max_rounds: int = 3
    # Offers stop (and the supervisor is alerted) once less than this is left
    # before the window closes: a nurse found later could not get there in time.
    offer_window_risk_minutes: int = 45
    # A ping this recent is where a nurse who is free right now is (else: home).
    dispatch_ping_max_age_minutes: int = 15
    # Candidate ranking (homecare/dispatch/matching.py): the weights of the score's
    # parts, normalised by their sum, and the travel time that scores zero.
    score_weight_travel: float = 0.4
    score_weight_continuity: float = 0.25
    score_weight_balance: float = 0.2
    score_weight_rating: float = 0.15
    score_travel_horizon_minutes: int = 60

    geofence_m: int = 200
    # How long before the window opens a nurse may set off: tracking starts at
    # departure, and an electronic visit record two days before its visit is false.
    depart_lead_minutes: int = 180
    # A nurse may hand an accepted visit back (POST /orders/{id}/unassign) until this
    # long before its window opens; later only a supervisor takes it off her.
    handback_lead_minutes: int = 120
    # GET /events/stream: a stream closes after this long (the client reconnects with
    # Last-Event-ID), so it holds a server thread for a bounded time; the outbox and
    # events tables are read every events_poll_seconds.
    events_stream_seconds: float = 25.0
    events_poll_seconds: float = 2.0
    late_after_minutes: int = 15
    no_show_after_minutes: int = 30
    overtime_grace_minutes: int = 30
    ping_min_interval_seconds: int = 5
    trace_retention_days: int = 30

    planning_time: str = "06:00"
    # A cap, not a budget: VROOM's level-5 search alone takes 15-40 s on a 420-visit
    # day on 2 vCPUs (60-100 s when the cores are shared), and a capped search is cut
    # short, so a rerun may differ. 120 s lets such a day finish on its own.
    planning_seconds: float = 120.0
    planning_seed: int = 1
    # The solver stops after this many iterations (planning_seconds only caps
    # the worst case), so the same day always gives the same plan.
    planning_iterations: int = 8000
    # Repairing a planned day after a change (scheduling.repair): visits planned to
    # begin within this many minutes keep their nurse and time (she may be on her
    # way; the family was told). Moving a visit due just after that to another nurse
    # costs as much as ``repair_move_cost_minutes`` of travel (two visits' travel on a
    # city day: a new face at the door within the hour and a nurse re-reading her day
    # on the way are worth more than a short detour); the cost falls linearly to
    # ``repair_move_cost_far_minutes`` for visits ``repair_move_cost_fade_minutes`` or
    # more beyond the freeze, whose family hears of the new nurse hours ahead and
    # whose nurse has not prepared yet (repair_plan.move_costs; bench/live_day.py
    # measured the choice). The improvement search stops after this many seconds.
    repair_freeze_minutes: int = 60
    repair_move_cost_minutes: int = 20
    repair_move_cost_far_minutes: int = 0
    repair_move_cost_fade_minutes: int = 120
    repair_seconds: float = 1.0

    # The door check: wrong visit codes a visit accepts before the code is locked
    # (the family then confirms the nurse in the app; a check-in without it is flagged).
    visit_code_max_attempts: int = 5
    # Supervisors are alerted this many days before a licence or insurance expires,
    # by a nightly check at this local time.
    credential_alert_days: int = 30
    credential_check_time: str = "03:00"

    family_bed_max_days: int = 90
    family_bed_horizon_days: int = 7
    # The supervisor is alerted this many days before an episode's end date.
    family_bed_end_alert_days: int = 3

    # Repairing a planned day as it changes (scheduling/repair_queue.py): changes within
    # REPAIR_DEBOUNCE_SECONDS of each other make one repair, but a steady trickle of
    # changes is repaired REPAIR_MAX_DELAY_SECONDS after its first at the latest. A
    # visit in service this long past its planned end asks for a repair (once). The
    # jobs process looks for due repairs every REPAIR_SWEEP_SECONDS; a failing one is
    # retried after REPAIR_RETRY_SECONDS, doubling, and given up (an alert) after
    # REPAIR_MAX_ATTEMPTS.
    repair_debounce_seconds: int = 5
    repair_max_delay_seconds: int = 30
    repair_overrun_minutes: int = 15
    repair_sweep_seconds: int = 3
    repair_retry_seconds: int = 10
    repair_max_attempts: int = 5

    scheduler_heartbeat_seconds: int = 10
    scheduler_stale_seconds: int = 60
    # A standby scheduler tries to take the lock this often: the takeover delay
    # after the active one dies is at most this (plus one heartbeat).
    scheduler_standby_poll_seconds: int = 5
    # How often the jobs process sweeps offer deadlines, alerts and the outbox,
    # and at what local time the nightly purges run.
    offer_sweep_seconds: int = 10
    alert_sweep_seconds: int = 60
    relay_seconds: int = 10
    purge_time: str = "02:30"
    # Local time of the nightly family-bed visit generation: before the morning
    # plan, so the day's new visits are in it.
    family_bed_generation_time: str = "01:00"

    # The production server (gunicorn, homecare/serving.py): where it listens, its
    # worker processes (0: two per core), threads per worker, and the seconds after
    # which a stuck request's worker is replaced.
    web_bind: str = "127.0.0.1:8000"
    web_workers: int = 0
    web_threads: int = 4
    web_timeout_seconds: int = 30

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


# Local times of day, written HH:MM. Read when a booking is checked or the jobs
# are scheduled, long after startup: a malformed one must stop the start, naming
# the variable, not fail every booking with a 500.
_TIMES_OF_DAY = ("service_hours_start", "service_hours_end", "planning_time", "purge_time",
                 "family_bed_generation_time", "credential_check_time")
_HH_MM = re.compile(r"([01]\d|2[0-3]):[0-5]\d")


CHANNELS = ("log", "webhook", "sms")


@dataclass(frozen=True)
class WebhookTarget:
    """Where one organization's notifications are posted, and the key that signs them."""

    url: str
    secret: str = field(repr=False)


def _check_http_url(config: Config, url: str, where: str) -> None:
    """An http(s) URL with something after the scheme; https only in production,
    where what we post names patients or phones. ``where`` names the setting; the
    URL is never quoted (a token may sit in its query)."""
    scheme, _, rest = url.partition("://")
    if scheme.lower() not in ("http", "https") or not rest:
        raise ConfigError(f"{where} must be http(s)")
    if config.is_production and scheme.lower() != "https":
        raise ConfigError(f"{where}: production sends only to https URLs")


def webhook_targets(config: Config) -> dict[str, WebhookTarget]:
    """HOMECARE_WEBHOOKS parsed: organization id (as text) or ``*`` -> its target.

    :raises ConfigError: not a JSON object of {"url": http(s) URL, "secret": 16+
        characters}, or (in production) a URL that is not https.
    """
    if not config.webhooks.strip():
        return {}
    try:
        raw = json.loads(config.webhooks)
    except ValueError as exc:
        raise ConfigError(f"HOMECARE_WEBHOOKS is not JSON: {exc.msg} at {exc.pos}") from None
    if not isinstance(raw, dict):
        raise ConfigError("HOMECARE_WEBHOOKS must be a JSON object keyed by organization id")
    targets = {}
    for key, value in raw.items():
        # Never quote the value: it holds the secret.
        where = f"HOMECARE_WEBHOOKS[{key!r}]"
        if key != "*" and not (key.isdigit() and int(key) > 0):
            raise ConfigError(f"{where}: keys are organization ids or \"*\"")
        if not isinstance(value, dict) or set(value) != {"url", "secret"} or not all(
                isinstance(v, str) for v in value.values()):
            raise ConfigError(f'{where}: must be {{"url": "...", "secret": "..."}}')
        url, secret = value["url"], value["secret"]
        # The body names patients' orders and care: never in clear text in production.
        _check_http_url(config, url, f"{where}: the url")
        if len(secret) < 16:
            raise ConfigError(f"{where}: the secret needs at least 16 characters")
        targets[str(int(key)) if key != "*" else "*"] = WebhookTarget(url=url, secret=secret)
    return targets


# The template kinds an Aliyun set-up must name: without them a code or an SOS
# would fail at the moment it is needed, not at startup.
SMS_TEMPLATE_FALLBACKS = ("code", "alert")
# Every kind a template may be named for: the fallbacks, the codes' purposes
# (``accounts.sms.PURPOSES``), the alerts' pages (``alert_`` + ``alerts.models.
# ALERT_KINDS``) and the order events texted to supervisors; a test holds this list
# to those. A misspelt kind (alert_sso) would otherwise be kept silently and the
# SOS sent with the general alert template.
SMS_TEMPLATE_KINDS = frozenset({
    *SMS_TEMPLATE_FALLBACKS, "register", "reset_password",
    *(f"alert_{kind}" for kind in (
        "sos", "late", "no_show", "overtime", "geofence", "unassigned",
        "credential_expiring", "door_unverified", "family_bed_ending", "family_bed_risk",
        "nurse_unavailable", "repair_failed")),
    "order_cancelled_after_departure"})


def sms_templates(config: Config) -> dict[str, str]:
    """HOMECARE_SMS_ALIYUN_TEMPLATES parsed: message kind -> template code.

    :raises ConfigError: an entry is not ``kind=TemplateCode``, names a kind there is
        no message of (``SMS_TEMPLATE_KINDS``), or names a kind twice.
    """
    templates: dict[str, str] = {}
    for entry in config.sms_aliyun_templates:
        kind, sep, code = (part.strip() for part in entry.partition("="))
        if not sep or not re.fullmatch(r"[a-z_]{1,40}", kind) or not re.fullmatch(
                r"[A-Za-z0-9_]{1,40}", code):
            raise ConfigError(f"HOMECARE_SMS_ALIYUN_TEMPLATES: {entry!r} is not "
                              "kind=TemplateCode (e.g. code=SMS_123456)")
        if kind not in SMS_TEMPLATE_KINDS:
            raise ConfigError(f"HOMECARE_SMS_ALIYUN_TEMPLATES: no message kind {kind}; "
                              f"choose from {', '.join(sorted(SMS_TEMPLATE_KINDS))}")
        if kind in templates:
            raise ConfigError(f"HOMECARE_SMS_ALIYUN_TEMPLATES names {kind} twice")
        templates[kind] = code
    return templates


# Names of the SMS providers (``accounts.sms.PROVIDERS``, which a test holds to
# this list): an unknown name would start cleanly and then stall every relay run.
SMS_PROVIDERS = ("log", "aliyun")
# A text waits at most this long for the gateway: the relay's run budget
# (``notifications.delivery.SMS_RUN_BUDGET_S``) and a code request count on it.
SMS_TIMEOUT_MAX_S = 30.0


def _check_sms(config: Config) -> None:
    timeout = config.sms_timeout_seconds
    if not (math.isfinite(timeout) and 0 < timeout <= SMS_TIMEOUT_MAX_S):
        raise ConfigError("HOMECARE_SMS_TIMEOUT_SECONDS must be more than 0 and at most "
                          f"{SMS_TIMEOUT_MAX_S:g}")
    if config.sms_provider and config.sms_provider not in SMS_PROVIDERS:
        raise ConfigError(f"HOMECARE_SMS_PROVIDER: unknown {config.sms_provider!r}; "
                          f"choose from {', '.join(SMS_PROVIDERS)}")
    if config.sms_provider != "aliyun":
        return
    missing = ["HOMECARE_" + name.upper() for name in (
        "sms_aliyun_access_key_id", "sms_aliyun_access_key_secret", "sms_aliyun_sign_name",
        "sms_aliyun_region") if not getattr(config, name).strip()]
    templates = sms_templates(config)
    missing += [f"HOMECARE_SMS_ALIYUN_TEMPLATES {kind}=..." for kind in SMS_TEMPLATE_FALLBACKS
                if kind not in templates]
    if missing:
        raise ConfigError("HOMECARE_SMS_PROVIDER=aliyun needs " + ", ".join(missing))
    # The request carries the phone number and the AccessKey's signature.
    _check_http_url(config, config.sms_aliyun_endpoint, "HOMECARE_SMS_ALIYUN_ENDPOINT")


def _check_channels(config: Config) -> None:
    if not config.notify_channels:
        raise ConfigError("HOMECARE_NOTIFY_CHANNELS names no channel: notifications would "
                          "be marked sent and reach nobody (the default is log)")
    unknown = [c for c in config.notify_channels if c not in CHANNELS]
    if unknown:
        raise ConfigError(f"HOMECARE_NOTIFY_CHANNELS: unknown {', '.join(unknown)}; "
                          f"choose from {', '.join(CHANNELS)}")
    if len(set(config.notify_channels)) != len(config.notify_channels):
        raise ConfigError("HOMECARE_NOTIFY_CHANNELS names a channel twice")
    targets = webhook_targets(config)
    if "webhook" in config.notify_channels and not targets:
        raise ConfigError("HOMECARE_NOTIFY_CHANNELS has webhook but HOMECARE_WEBHOOKS "
                          "names no organization")
    if "sms" in config.notify_channels and config.is_production and not config.sms_provider:
        raise ConfigError("HOMECARE_NOTIFY_CHANNELS has sms but no HOMECARE_SMS_PROVIDER "
                          "is set")
    if config.webhook_timeout_seconds <= 0:
        raise ConfigError("HOMECARE_WEBHOOK_TIMEOUT_SECONDS must be more than 0")


def _check_repairs(config: Config) -> None:
    # A negative horizon or move cost would turn the repair's promises around (move
    # what the family was told, reward moving visits); no time at all would never
    # improve a route.
    for name in ("repair_freeze_minutes", "repair_move_cost_minutes",
                 "repair_move_cost_far_minutes", "repair_move_cost_fade_minutes",
                 "repair_debounce_seconds", "repair_overrun_minutes"):
        if getattr(config, name) < 0:
            raise ConfigError(f"HOMECARE_{name.upper()} must be 0 or more")
    if config.repair_move_cost_far_minutes > config.repair_move_cost_minutes:
        # A move hours ahead costing more than one due soon would keep the far routes
        # and shuffle the near ones: the opposite of what the families need.
        raise ConfigError(f"HOMECARE_REPAIR_MOVE_COST_FAR_MINUTES "
                          f"({config.repair_move_cost_far_minutes}) must be at most "
                          f"HOMECARE_REPAIR_MOVE_COST_MINUTES "
                          f"({config.repair_move_cost_minutes})")
    for name in ("repair_seconds", "repair_sweep_seconds", "repair_retry_seconds",
                 "repair_max_attempts", "repair_max_delay_seconds"):
        if getattr(config, name) <= 0:
            raise ConfigError(f"HOMECARE_{name.upper()} must be more than 0")


def _check_times_of_day(config: Config) -> None:
    for name in _TIMES_OF_DAY:
        value = getattr(config, name)
        if not isinstance(value, str) or not _HH_MM.fullmatch(value):
            raise ConfigError(f"HOMECARE_{name.upper()}: {value!r} is not a local time of "
                              "day HH:MM (00:00-23:59)")
    # Same-width HH:MM strings order as the times do.
    if config.service_hours_start >= config.service_hours_end:
        raise ConfigError("HOMECARE_SERVICE_HOURS_START must be before "
                          f"HOMECARE_SERVICE_HOURS_END, got {config.service_hours_start}-"
                          f"{config.service_hours_end}")


def _parse(kind: type | str, raw: str) -> Any:
    name = kind if isinstance(kind, str) else kind.__name__
    if name == "bool":
        return _bool(raw)
    if name == "int":
        return int(raw)
    if name == "float":
        return float(raw)
    if name.startswith("list"):
        return _list(raw)
    return raw


def load_config(environ: dict[str, str] | None = None, overrides: dict[str, Any] | None = None,
                default_instance_path: str | None = None) -> Config:
    """Build the Config from the environment, then ``overrides`` (used by tests).

    With nothing set this is the embedded default: an SQLite file and generated
    secrets kept in the instance folder, so a fresh clone runs with no set-up.
    In production the database and secrets must be given, and startup fails loudly.
    """
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for f in fields(Config):
        raw = environ.get("HOMECARE_" + f.name.upper())
        if raw is None:
            continue
        try:
            values[f.name] = _parse(f.type, raw)
        except ValueError as exc:
            raise ConfigError(f"HOMECARE_{f.name.upper()}: {exc}") from exc
    values.update(overrides or {})
    config = Config(**values)
    _check_times_of_day(config)
    _check_channels(config)
    _check_sms(config)
    _check_repairs(config)

    instance = Path(config.instance_path or default_instance_path or "instance").resolve()
    config = replace(config, instance_path=str(instance))
    if config.trusted_proxies < 0:
        raise ConfigError("HOMECARE_TRUSTED_PROXIES must be 0 or more")
    if config.is_production:
        missing = [name for name in ("database_url", "secret_key", "data_key")
                   if not getattr(config, name)]
        if missing:
            raise ConfigError("production needs " + ", ".join(
                "HOMECARE_" + m.upper() for m in missing))
        if config.sms_provider == "log":
            raise ConfigError("HOMECARE_SMS_PROVIDER=log writes codes to the log: "
                              "development only, refused in production")
        return config
    if not config.sms_provider:
        config = replace(config, sms_provider="log")

    if not config.database_url:
        instance.mkdir(parents=True, exist_ok=True)
        config = replace(config, database_url=f"sqlite:///{instance / 'homecare.db'}")
    if not config.secret_key:
        config = replace(config, secret_key=_kept_secret(instance / "secret_key",
                                                         lambda: secrets.token_urlsafe(48)))
    if not config.data_key:
        config = replace(config, data_key=_kept_secret(
            instance / "data_key", lambda: Fernet.generate_key().decode()))
    return config


def _kept_secret(path: Path, make) -> str:
    """A development secret generated once and kept, so tokens survive restarts."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = make()
    path.write_text(value)
    path.chmod(0o600)
    log.warning("generated a development secret in %s; set HOMECARE_* secrets in production",
                path)
    return value

"""The one typed settings object, read from CALLCENTER_* environment variables."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from config.hours import BusinessHours, HoursError, parse_holidays, parse_hours

PREFIX = "CALLCENTER_"
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INSTANCE = ROOT / "instance"
DEFAULT_MENUS = ROOT / "ivr_menus" / "definitions"
DEFAULT_QUEUES = ROOT / "config" / "queues.toml"
DEFAULT_SCORECARDS = ROOT / "config" / "scorecards"
DEFAULT_PERMISSIONS = ROOT / "config" / "permissions.toml"
DEFAULT_RETURN_POLICY = ROOT / "config" / "return_policy.toml"
DEFAULT_SLA_POLICY = ROOT / "config" / "sla.toml"
DEFAULT_WORK_ORDER_RULES = ROOT / "config" / "work_orders.toml"
LOCAL_ACCOUNT_SID = "AC" + "0" * 31 + "1"
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")


class SettingsError(ValueError):
    """A setting that is missing or invalid; the message names the environment variable."""


def _setting(env: str, help: str, *, secret: bool = False, default: Any = None) -> Any:  # noqa: A002
    return field(default=default, repr=not secret, metadata={"env": PREFIX + env, "help": help})


@dataclass(frozen=True)
class Settings:
    """Everything configurable. Tests build it directly; processes use `Settings.from_env`."""

    instance_path: Path = _setting(
        "INSTANCE_PATH",
        "Folder for the SQLite file, embedded Redis and local secrets",
        default=DEFAULT_INSTANCE,
    )
    database_url: str = _setting("DATABASE_URL", "SQLAlchemy URL of the database", default="")
    redis_url: str = _setting(
        "REDIS_URL",
        "Redis URL; empty uses the embedded Redis `callcenter run` serves in the instance",
        default="",
    )
    redis_prefix: str = _setting(
        "REDIS_PREFIX", "Prefix of the router's Redis keys (waiting list, agents)", default="cc:"
    )
    twilio_account_sid: str = _setting(
        "TWILIO_ACCOUNT_SID", "Twilio account SID; empty uses the local phone network", default=""
    )
    twilio_auth_token: str = _setting(
        "TWILIO_AUTH_TOKEN", "Twilio auth token (signs webhooks)", secret=True, default=""
    )
    twilio_api_key: str = _setting(
        "TWILIO_API_KEY", "Twilio API key SID (SK...) for REST calls and access tokens", default=""
    )
    twilio_api_secret: str = _setting(
        "TWILIO_API_SECRET", "Secret of that API key", secret=True, default=""
    )
    phone_network_url: str = _setting(
        "PHONE_NETWORK_URL",
        "Base URL of the local phone network (embedded telephony)",
        default="http://127.0.0.1:5001",
    )
    public_base_url: str = _setting(
        "PUBLIC_BASE_URL",
        "URL at which Twilio reaches this app; webhook signatures are checked against it",
        default="http://127.0.0.1:5000",
    )
    hotline_number: str = _setting(
        "HOTLINE_NUMBER",
        "The hotline's number in E.164 (caller ID of outbound calls)",
        default="+864008001234",
    )
    default_country_code: str = _setting(
        "DEFAULT_COUNTRY_CODE", "Country calling code for numbers without one", default="86"
    )
    timezone: str = _setting("TIMEZONE", "The centre's IANA time zone", default="Asia/Shanghai")
    business_hours: str = _setting(
        "BUSINESS_HOURS",
        "Opening hours, e.g. 'mon-fri 08:30-21:00; sat-sun 09:00-18:00'",
        default="mon-sun 08:00-22:00",
    )
    holidays: str = _setting(
        "HOLIDAYS",
        "Closed days: dates and ranges, e.g. '2026-01-01, 2026-02-16..2026-02-22'",
        default="",
    )
    menus_path: Path = _setting(
        "MENUS_PATH", "Folder (or file) of IVR menu definitions (TOML)", default=DEFAULT_MENUS
    )
    queues_path: Path = _setting(
        "QUEUES_PATH", "File of inbound queue definitions (TOML)", default=DEFAULT_QUEUES
    )
    permissions_path: Path = _setting(
        "PERMISSIONS_PATH",
        "File of posts and permissions (TOML): who may read or do what",
        default=DEFAULT_PERMISSIONS,
    )
    scorecards_path: Path = _setting(
        "SCORECARDS_PATH", "Folder of QC scorecards (TOML)", default=DEFAULT_SCORECARDS
    )
    fallback_queue: str = _setting(
        "FALLBACK_QUEUE", "Queue a caller is sent to when something goes wrong", default="general"
    )
    secret_key: str = _setting(
        "SECRET_KEY",
        "Signs console sessions and links; empty keeps one under the instance folder",
        secret=True,
        default="",
    )
    proxy_count: int = _setting(
        "PROXY_COUNT", "Number of reverse proxies in front of the app (X-Forwarded-*)", default=0
    )
    log_level: str = _setting("LOG_LEVEL", "Python log level", default="INFO")
    log_format: str = _setting(
        "LOG_FORMAT",
        "text: one readable line per event; json: one JSON object per line, with call_sid, "
        "job_id and agent wherever they are known",
        default="text",
    )
    metrics_token: str = _setting(
        "METRICS_TOKEN",
        "Bearer token a scraper sends to GET /metrics; empty: /metrics answers only requests "
        "made directly from this machine (loopback, no X-Forwarded-For)",
        secret=True,
        default="",
    )
    desk_token_ttl_s: int = _setting(
        "DESK_TOKEN_TTL_S",
        "Lifetime in seconds (60-3600) of the agent desk's Twilio Voice access token; "
        "the page renews it before it expires",
        default=600,
    )
    desk_voice_sdk_url: str = _setting(
        "DESK_VOICE_SDK_URL",
        "Twilio Voice JS SDK 2.x script the agent desk loads with real Twilio: "
        "an https URL, or a path on this site for a copy you serve",
        default="https://cdn.jsdelivr.net/npm/@twilio/voice-sdk@2.18.0/dist/twilio.min.js",
    )
    # --- floor supervisor: wallboard, alerts, support groups, monitoring ---
    supervisor_alert_wait_s: int = _setting(
        "SUPERVISOR_ALERT_WAIT_S", "Alert when a caller has waited longer than this", default=120
    )
    supervisor_alert_vip_wait_s: int = _setting(
        "SUPERVISOR_ALERT_VIP_WAIT_S",
        "Alert when a VIP caller has waited longer than this",
        default=10,
    )
    supervisor_alert_away_min: int = _setting(
        "SUPERVISOR_ALERT_AWAY_MIN",
        "Alert when an agent has been on break (any reason, 'missed' included) this many minutes",
        default=15,
    )
    supervisor_alert_sl_min_calls: int = _setting(
        "SUPERVISOR_ALERT_SL_MIN_CALLS",
        "Alert when a queue's service level over the last 30 minutes is below its target, "
        "once at least this many calls were answered or abandoned there",
        default=5,
    )
    supervisor_support_groups: str = _setting(
        "SUPERVISOR_SUPPORT_GROUPS",
        "Temporary support groups a supervisor can pull into a queue: 'name=selector; …', "
        "selector post:<post>, team:<team> or comma-separated logins",
        default="backoffice=post:back_office; middleoffice=post:middle_office",
    )
    supervisor_support_level: int = _setting(
        "SUPERVISOR_SUPPORT_LEVEL",
        "Skill level (1-5) a pulled support agent gets in the queue's skills",
        default=1,
    )
    supervisor_auto_support_group: str = _setting(
        "SUPERVISOR_AUTO_SUPPORT_GROUP",
        "Support group pulled by itself into a queue when a wait or service-level alert is "
        "raised there, and released when it clears; empty: only by hand",
        default="",
    )
    supervisor_monitor_visible: int = _setting(
        "SUPERVISOR_MONITOR_VISIBLE",
        "1: the agent's desk shows when a supervisor listens, whispers or barges; 0: it does not",
        default=1,
    )
    wallboard_refresh_ms: int = _setting(
        "WALLBOARD_REFRESH_MS",
        "How often the wallboard's figures are pushed (100-60000 ms)",
        default=1000,
    )
    wallboard_stream_s: int = _setting(
        "WALLBOARD_STREAM_S",
        "Lifetime of one wallboard event stream; the browser reconnects (10-3600 s)",
        default=300,
    )
    wallboard_history_every_s: int = _setting(
        "WALLBOARD_HISTORY_EVERY_S",
        "Seconds between two samples of the wallboard chart (kept for 8 hours)",
        default=30,
    )
    # --- middle office: review rules, the outbound engine, the order system ---
    review_amount_fen: int = _setting(
        "REVIEW_AMOUNT_FEN",
        "Orders above this amount (in fen, 1/100 CNY) are reviewed by the middle office",
        default=200_000,
    )
    review_duplicate_window_s: int = _setting(
        "REVIEW_DUPLICATE_WINDOW_S",
        "Two orders of one customer with the same items and address within this many seconds "
        "are duplicates",
        default=1800,
    )
    review_burst_count: int = _setting(
        "REVIEW_BURST_COUNT",
        "This many orders (or more) from one account within REVIEW_BURST_WINDOW_S are reviewed",
        default=4,
    )
    review_burst_window_s: int = _setting(
        "REVIEW_BURST_WINDOW_S", "Window in seconds of the many-orders rule", default=3600
    )
    calling_hours: str = _setting(
        "CALLING_HOURS",
        "When outbound calls may reach customers, in each customer's own time zone "
        "(HOLIDAYS apply too)",
        default="mon-sun 09:00-21:00",
    )
    calling_timezones: str = _setting(
        "CALLING_TIMEZONES",
        "Customer time zone by calling code, e.g. '86=Asia/Shanghai,1=America/New_York'; "
        "other numbers use TIMEZONE",
        default="86=Asia/Shanghai,852=Asia/Hong_Kong,853=Asia/Macau,886=Asia/Taipei",
    )
    outbound_cps: int = _setting(
        "OUTBOUND_CPS",
        "Outbound calls per second the account may create (Twilio queues the excess silently)",
        default=1,
    )
    outbound_max_attempts: int = _setting(
        "OUTBOUND_MAX_ATTEMPTS", "Calls made for one outbound task before it fails", default=4
    )
    outbound_backoff_s: str = _setting(
        "OUTBOUND_BACKOFF_S",
        "Waits in seconds before the 2nd, 3rd, … attempt of an unanswered outbound task",
        default="900,3600,14400",
    )
    outbound_ring_timeout_s: int = _setting(
        "OUTBOUND_RING_TIMEOUT_S", "Seconds an outbound call to a customer rings", default=30
    )
    outbound_machine_detection: bool = _setting(
        "OUTBOUND_MACHINE_DETECTION",
        "true: automated outbound calls (RMA notices) ask Twilio to detect answering machines, "
        "which get a short message instead of the menu",
        default=True,
    )
    order_api_token: str = _setting(
        "ORDER_API_TOKEN",
        "Bearer token the order system sends to /api/orders; empty refuses every request",
        secret=True,
        default="",
    )
    order_webhook_url: str = _setting(
        "ORDER_WEBHOOK_URL",
        "Where review decisions are POSTed (signed); empty: use `middle-office export`",
        default="",
    )
    order_webhook_secret: str = _setting(
        "ORDER_WEBHOOK_SECRET",
        "HMAC-SHA256 key of the decision webhook's X-Callcenter-Signature",
        secret=True,
        default="",
    )
    rma_api_token: str = _setting(
        "RMA_API_TOKEN",
        "Bearer token the order system and the warehouse send to /api/rmas and /api/catalogue; "
        "empty refuses every request",
        secret=True,
        default="",
    )
    finance_api_token: str = _setting(
        "FINANCE_API_TOKEN",
        "Bearer token finance sends to confirm refunds (POST /api/rmas/<number>/refunded); "
        "empty refuses every request",
        secret=True,
        default="",
    )
    logistics_api_token: str = _setting(
        "LOGISTICS_API_TOKEN",
        "Bearer token logistics sends to confirm shipments (POST /api/rmas/<number>/shipped); "
        "empty refuses every request",
        secret=True,
        default="",
    )
    finance_webhook_url: str = _setting(
        "FINANCE_WEBHOOK_URL",
        "Where approved refunds are POSTed (signed); empty: use `rma export finance`",
        default="",
    )
    finance_webhook_secret: str = _setting(
        "FINANCE_WEBHOOK_SECRET",
        "HMAC-SHA256 key of the finance webhook's X-Callcenter-Signature",
        secret=True,
        default="",
    )
    logistics_webhook_url: str = _setting(
        "LOGISTICS_WEBHOOK_URL",
        "Where approved exchanges are POSTed (signed); empty: use `rma export logistics`",
        default="",
    )
    logistics_webhook_secret: str = _setting(
        "LOGISTICS_WEBHOOK_SECRET",
        "HMAC-SHA256 key of the logistics webhook's X-Callcenter-Signature",
        secret=True,
        default="",
    )
    rma_review_deadline_s: int = _setting(
        "RMA_REVIEW_DEADLINE_S",
        "Seconds a return or exchange may wait for review once inspected, before it is late",
        default=86400,
    )
    return_policy_path: Path = _setting(
        "RETURN_POLICY_PATH",
        "The return policy (TOML): windows per category, non-returnable categories",
        default=DEFAULT_RETURN_POLICY,
    )
    sla_policy_path: Path = _setting(
        "SLA_POLICY_PATH",
        "The work orders' SLA policies (TOML): first feedback and resolution targets per "
        "category and priority, business or all hours, warning share",
        default=DEFAULT_SLA_POLICY,
    )
    work_order_rules_path: Path = _setting(
        "WORK_ORDER_RULES_PATH",
        "Work order categories, departments and keyword rules (TOML)",
        default=DEFAULT_WORK_ORDER_RULES,
    )
    recordings_retention_days: int = _setting(
        "RECORDINGS_RETENTION_DAYS",
        "Days a stored call recording is kept before `callcenter recordings purge` deletes it "
        "(recordings under legal hold are kept)",
        default=365,
    )
    calls_retention_days: int = _setting(
        "CALLS_RETENTION_DAYS",
        "Days a call record keeps who called (numbers, customer link, callback number, notes) "
        "before the cron's calls-retention duty strips them; times and figures are kept",
        default=730,
    )
    voicemails_retention_days: int = _setting(
        "VOICEMAILS_RETENTION_DAYS",
        "Days a voicemail's audio link is kept before the calls-retention duty purges it",
        default=90,
    )
    recordings_delete_from_twilio: bool = _setting(
        "RECORDINGS_DELETE_FROM_TWILIO",
        "true: delete each recording from Twilio once its copy is stored and verified",
        default=False,
    )
    max_call_s: int = _setting(
        "MAX_CALL_S",
        "Seconds a call may plausibly last: an agent on a call, or a caller's call in progress, "
        "for longer is checked with Twilio's REST API by the reconciliation duty",
        default=3 * 3600,
    )
    reconcile_grace_s: int = _setting(
        "RECONCILE_GRACE_S",
        "Seconds a status callback may be late before the reconciliation duty asks Twilio for "
        "the call's real status (a ring past its timeout, an agent left after the caller ended)",
        default=20,
    )
    reconcile_recordings_hours: int = _setting(
        "RECONCILE_RECORDINGS_HOURS",
        "Hours back the reconciliation duty looks for connected calls whose recording "
        "callback was lost, to fetch their recordings from Twilio's list",
        default=6,
    )

    @property
    def uses_local_network(self) -> bool:
        return not self.twilio_account_sid

    @property
    def account_sid(self) -> str:
        return self.twilio_account_sid or LOCAL_ACCOUNT_SID

    @cached_property  # read once: every webhook checks a signature with it
    def signing_token(self) -> str:
        """The secret that signs webhooks: the auth token, or the local network's token."""
        return self.twilio_auth_token or local_secret(self.instance_path, "phone-network.token")

    def webhook_endpoint(self, target: str) -> tuple[str, str] | None:
        """(URL, secret) of a webhook target (`core.webhooks.TARGETS`); None: export by CSV."""
        prefix = "order" if target == "order_system" else target
        url = getattr(self, f"{prefix}_webhook_url", "")
        return (url, getattr(self, f"{prefix}_webhook_secret")) if url else None

    @property
    def hours(self) -> BusinessHours:
        return BusinessHours(
            parse_hours(self.business_hours), parse_holidays(self.holidays), ZoneInfo(self.timezone)
        )

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.instance_path / 'callcenter.db'}"

    @cached_property
    def effective_secret_key(self) -> str:
        return self.secret_key or local_secret(self.instance_path, "secret.key")

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: Any) -> Settings:
        """Read every CALLCENTER_* variable, validate, and raise SettingsError naming a bad one."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(f.metadata["env"])
            if raw is None or raw == "":
                continue
            if f.type in ("Path", Path):
                values[f.name] = Path(raw).expanduser()
            elif f.type in ("bool", bool):
                if raw.strip().lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise SettingsError(f"{f.metadata['env']}: {raw!r} is not true or false")
                values[f.name] = raw.strip().lower() in ("true", "1", "yes")
            elif f.type in ("int", int):
                try:
                    values[f.name] = int(raw)
                except ValueError:
                    raise SettingsError(
                        f"{f.metadata['env']}: {raw!r} is not a whole number"
                    ) from None
            else:
                values[f.name] = raw.strip()
        values.update(overrides)
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Check every value; raise SettingsError naming the first bad variable."""

        def bad(name: str, reason: str) -> SettingsError:
            return SettingsError(f"{PREFIX}{name}: {reason}")

        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise bad("TIMEZONE", f"{self.timezone!r} is not an IANA time zone") from None
        try:
            parse_hours(self.business_hours)
        except HoursError as exc:
            raise bad("BUSINESS_HOURS", str(exc)) from None
        try:
            parse_holidays(self.holidays)
        except HoursError as exc:
            raise bad("HOLIDAYS", str(exc)) from None
        if not _E164.match(self.hotline_number):
            raise bad("HOTLINE_NUMBER", f"{self.hotline_number!r} is not an E.164 number")
        if not self.default_country_code.isdigit() or len(self.default_country_code) > 3:
            raise bad("DEFAULT_COUNTRY_CODE", f"{self.default_country_code!r} is not 1-3 digits")
        for name, url in (
            ("PUBLIC_BASE_URL", self.public_base_url),
            ("PHONE_NETWORK_URL", self.phone_network_url),
        ):
            if not re.match(r"^https?://[^/\s]+(/\S*)?$", url):
                raise bad(name, f"{url!r} is not an http(s) URL")
        if self.twilio_account_sid:
            if not _ACCOUNT_SID.match(self.twilio_account_sid):
                raise bad("TWILIO_ACCOUNT_SID", "expected AC followed by 32 hex digits")
            if not self.twilio_auth_token:
                raise bad("TWILIO_AUTH_TOKEN", "required when TWILIO_ACCOUNT_SID is set")
        if self.twilio_api_key and not self.twilio_api_secret:
            raise bad("TWILIO_API_SECRET", "required when TWILIO_API_KEY is set")
        if not self.menus_path.exists():
            raise bad("MENUS_PATH", f"{self.menus_path} does not exist")
        if self.queues_path != DEFAULT_QUEUES and not self.queues_path.is_file():
            raise bad("QUEUES_PATH", f"{self.queues_path} is not a file")
        if self.permissions_path != DEFAULT_PERMISSIONS and not self.permissions_path.is_file():
            raise bad("PERMISSIONS_PATH", f"{self.permissions_path} is not a file")
        if self.scorecards_path != DEFAULT_SCORECARDS and not self.scorecards_path.exists():
            raise bad("SCORECARDS_PATH", f"{self.scorecards_path} does not exist")
        if self.recordings_retention_days < 1:
            raise bad("RECORDINGS_RETENTION_DAYS", "must be at least 1 day")
        if self.calls_retention_days < 1:
            raise bad("CALLS_RETENTION_DAYS", "must be at least 1 day")
        if self.voicemails_retention_days < 1:
            raise bad("VOICEMAILS_RETENTION_DAYS", "must be at least 1 day")
        if self.proxy_count < 0:
            raise bad("PROXY_COUNT", "must not be negative")
        if not 60 <= self.desk_token_ttl_s <= 3600:
            raise bad("DESK_TOKEN_TTL_S", "must be 60-3600 seconds")
        if not re.match(r"^(https://[^/\s]+)?/\S+$", self.desk_voice_sdk_url):
            raise bad(
                "DESK_VOICE_SDK_URL", f"{self.desk_voice_sdk_url!r} is not an https URL or a path"
            )
        self._validate_middle_office(bad)
        for name, value, low, high in (
            ("SUPERVISOR_ALERT_WAIT_S", self.supervisor_alert_wait_s, 1, 86400),
            ("SUPERVISOR_ALERT_VIP_WAIT_S", self.supervisor_alert_vip_wait_s, 1, 86400),
            ("SUPERVISOR_ALERT_AWAY_MIN", self.supervisor_alert_away_min, 1, 1440),
            ("SUPERVISOR_ALERT_SL_MIN_CALLS", self.supervisor_alert_sl_min_calls, 1, 100000),
            ("SUPERVISOR_SUPPORT_LEVEL", self.supervisor_support_level, 1, 5),
            ("SUPERVISOR_MONITOR_VISIBLE", self.supervisor_monitor_visible, 0, 1),
            ("WALLBOARD_REFRESH_MS", self.wallboard_refresh_ms, 100, 60000),
            ("WALLBOARD_STREAM_S", self.wallboard_stream_s, 10, 3600),
            ("WALLBOARD_HISTORY_EVERY_S", self.wallboard_history_every_s, 1, 3600),
        ):
            if not low <= value <= high:
                raise bad(name, f"must be {low}-{high}")
        if self.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise bad("LOG_LEVEL", f"{self.log_level!r} is not a log level")
        if self.log_format not in ("text", "json"):
            raise bad("LOG_FORMAT", f"{self.log_format!r} is not text or json")
        if self.database_url and not re.match(r"^[a-z0-9+]+://", self.database_url):
            raise bad("DATABASE_URL", f"{self.database_url!r} is not a database URL")
        if self.redis_url and not re.match(r"^(redis|rediss|unix)://", self.redis_url):
            raise bad(
                "REDIS_URL", f"{self.redis_url!r} is not a redis://, rediss:// or unix:// URL"
            )

    def _validate_middle_office(self, bad: Any) -> None:
        try:
            parse_hours(self.calling_hours)
        except HoursError as exc:
            raise bad("CALLING_HOURS", str(exc)) from None
        for item in filter(None, (p.strip() for p in self.calling_timezones.split(","))):
            code, _, zone = item.partition("=")
            try:
                ZoneInfo(zone.strip())
            except (ZoneInfoNotFoundError, ValueError):
                raise bad("CALLING_TIMEZONES", f"{item!r}: expected CODE=Area/City") from None
            if not code.strip().isdigit():
                raise bad("CALLING_TIMEZONES", f"{item!r}: {code!r} is not a calling code")
        backoff = [p.strip() for p in self.outbound_backoff_s.split(",") if p.strip()]
        if not backoff or not all(p.isdigit() for p in backoff):
            raise bad("OUTBOUND_BACKOFF_S", "expected seconds separated by commas")
        for name, value in (
            ("OUTBOUND_CPS", self.outbound_cps),
            ("OUTBOUND_MAX_ATTEMPTS", self.outbound_max_attempts),
            ("OUTBOUND_RING_TIMEOUT_S", self.outbound_ring_timeout_s),
            ("MAX_CALL_S", self.max_call_s),
            ("RECONCILE_GRACE_S", self.reconcile_grace_s),
            ("RECONCILE_RECORDINGS_HOURS", self.reconcile_recordings_hours),
            ("REVIEW_BURST_COUNT", self.review_burst_count),
        ):
            if value < 1:
                raise bad(name, "must be at least 1")
        if self.rma_review_deadline_s < 1:
            raise bad("RMA_REVIEW_DEADLINE_S", "must be at least 1")
        for target in ("order", "finance", "logistics"):
            url = getattr(self, f"{target}_webhook_url")
            name = f"{target.upper()}_WEBHOOK_URL"
            if url and not re.match(r"^https?://[^/\s]+(/\S*)?$", url):
                raise bad(name, f"{url!r} is not an http(s) URL")
            if url and not getattr(self, f"{target}_webhook_secret"):
                raise bad(f"{target.upper()}_WEBHOOK_SECRET", f"required when {name} is set")


def local_secret(instance_path: Path, name: str) -> str:
    """A random secret kept in the instance folder, created on first use (embedded stack only)."""
    path = instance_path / name
    if not path.exists():
        instance_path.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{secrets.token_hex(4)}.tmp")
        tmp.write_text(secrets.token_hex(32))
        tmp.chmod(0o600)
        try:
            os.link(tmp, path)  # atomic: a concurrent process keeps whichever file won
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip()


def settings_table() -> list[tuple[str, str, str]]:
    """(variable, default, meaning) of every setting: the README table, `callcenter settings`."""
    rows = []
    for f in fields(Settings):
        default = f.default
        if isinstance(default, Path):
            default = (
                str(default.relative_to(ROOT)) if default.is_relative_to(ROOT) else str(default)
            )
        rows.append(
            (f.metadata["env"], str(default) if default != "" else "(empty)", f.metadata["help"])
        )
    return rows

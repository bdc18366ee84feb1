"""Service configuration: a TOML file plus ``CTI_*`` environment variables, validated at start.

Environment variables override the file. ``CTI_DATABASE_URL``, ``CTI_REDIS_URL``, ``CTI_HOST``,
``CTI_PORT``, ``CTI_LOG_LEVEL`` and ``CTI_LOG_FORMAT`` are the short forms; any key can be set as
``CTI_<SECTION>__<KEY>`` (e.g. ``CTI_PHONE__DEFAULT_REGION=RU``).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from crmlite.domain.errors import InvalidInput
from crmlite.domain.office_hours import BadHours, OfficeHours, SlaClock, read_office_hours
from crmlite.domain.token_scopes import parse_networks
from cti.calls.config import CallModelConfig

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./cti.db"


class ConfigError(Exception):
    """The configuration is invalid; the message names every bad key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    # Origins allowed to open the websocket and post forms; empty means "same host as the request".
    allowed_origins: tuple[str, ...] = ()
    session_ttl_hours: int = Field(12, ge=1)
    secure_cookies: bool = False
    # Reverse proxies (addresses or CIDR networks) whose X-Forwarded-For names the client, for
    # tokens bound to addresses. Empty: the header is ignored (anyone can write it).
    trusted_proxies: tuple[str, ...] = ()

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        try:
            return parse_networks(value, "trusted_proxies")
        except InvalidInput as err:
            raise ValueError(err.message) from err


class DatabaseSettings(_Section):
    url: str = DEFAULT_DATABASE_URL
    pool_size: int = Field(10, ge=1)
    echo: bool = False


class RedisSettings(_Section):
    url: str | None = None


class PhoneSettings(_Section):
    default_region: str = "RU"
    # Internal short numbers (extensions) are kept apart from customer numbers.
    extension_pattern: str = r"^\d{2,5}$"

    @field_validator("default_region")
    @classmethod
    def _region_upper(cls, value: str) -> str:
        if len(value) != 2 or not value.isalpha():
            raise ValueError("must be a two-letter region code such as RU or CN")
        return value.upper()


class LoggingSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["json", "console"] = "json"


class PbxSettings(_Section):
    """One Asterisk PBX reached over AMI."""

    name: str = "pbx"
    host: str = "127.0.0.1"
    port: int = Field(5038, ge=1, le=65535)
    username: str
    secret: SecretStr
    tls: bool = False
    # A separate, write-capable account for Originate (click-to-call); falls back to the main one.
    originate_username: str | None = None
    originate_secret: SecretStr | None = None
    trunk_endpoints: tuple[str, ...] = ("trunk",)
    # Trunks to the company's other offices: calls over them are internal (no contact, no deal).
    office_trunks: tuple[str, ...] = ()
    # The office's own numbers (DIDs, main line), any form: a call from or to a number of any
    # configured PBX is a colleague's, even over the public network: no contact, no deal.
    dids: tuple[str, ...] = ()
    # This office's hours for the call-back SLA (docs/MULTI_PBX.md): a time zone alone keeps the
    # [callbacks] days in this zone; days given here replace them (and the holidays with them).
    timezone: str | None = None
    hours: dict[str, tuple[str, ...]] = {}
    holidays: tuple[str, ...] = ()
    inbound_contexts: tuple[str, ...] = ("from-trunk",)
    internal_contexts: tuple[str, ...] = ("from-internal",)
    originate_context: str = "from-internal"
    server_side_filter: bool = True
    # Drop filtered_events on arrival, before parsing, whatever the PBX sends (see docs/AMI.md).
    client_side_filter: bool = True
    ping_interval_s: float = Field(10.0, gt=0)
    ping_timeout_s: float = Field(5.0, gt=0)
    action_timeout_s: float = Field(10.0, gt=0)
    reconnect_min_s: float = Field(0.5, gt=0)
    reconnect_max_s: float = Field(30.0, gt=0)
    # Events queued between the socket and the call model, most as their wire text (~0.5 KB):
    # 60,000 hold about as much memory as 10,000 parsed ones did, 15 s of a 100-call/s overload.
    event_queue_size: int = Field(60_000, ge=100)
    # AMI adapter details (see docs/AMI.md).
    tls_ca_file: str | None = None  # CA bundle to verify the PBX's certificate (TLS only)
    connect_timeout_s: float = Field(10.0, gt=0)
    max_message_bytes: int = Field(256 * 1024, ge=4096)
    # Events the product never reads, dropped by Asterisk when server_side_filter is on.
    filtered_events: tuple[str, ...] = (
        "VarSet",
        "Newexten",
        "RTCPSent",
        "RTCPReceived",
        "Cdr",
        "CEL",
        "DeviceStateChange",
        "SuccessfulAuth",
    )
    # SequenceNumber (manager.conf debug=on) is global to the PBX: only trust gaps when this account
    # reads every class and no filter is set.
    resync_on_sequence_gap: bool = False
    queue_status_on_resync: bool = True

    def call_model(self, extension_pattern: str) -> CallModelConfig:
        """The call model's view of this PBX's dial plan."""
        return CallModelConfig(
            trunk_endpoints=self.trunk_endpoints,
            office_trunk_endpoints=self.office_trunks,
            inbound_contexts=self.inbound_contexts,
            internal_contexts=self.internal_contexts,
            extension_pattern=extension_pattern,
        )


class SimulatorSettings(_Section):
    """The built-in PBX simulator, used by the demo when no real PBX is configured."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(5039, ge=0, le=65535)
    calls_per_minute: float = Field(4.0, ge=0)
    # Numbers the generated calls come from half the time (e.g. known contacts, for the demo).
    known_callers: tuple[str, ...] = ()
    # Several offices: one simulated PBX per name, on consecutive ports from ``port``, each with
    # the same extension plan (101, 102, ...) and its name as Asterisk's systemname.
    offices: tuple[str, ...] = ()


class PopsSettings(_Section):
    """Screen pops: per-socket limits, heartbeats, caller lookups, live-card lifetime."""

    queue_size: int = Field(256, ge=8)
    send_deadline_s: float = Field(5.0, gt=0)
    heartbeat_s: float = Field(25.0, gt=0)
    auth_timeout_s: float = Field(5.0, gt=0)
    lookup_timeout_s: float = Field(5.0, gt=0)
    live_ttl_s: float = Field(4 * 3600.0, gt=0)
    redis_prefix: str = "cti:pops"


class CallbackSettings(_Section):
    """The call-back SLA: a missed call nobody called back in time is escalated to the heads."""

    sla_minutes: int = Field(15, ge=1)
    check_interval_s: float = Field(60.0, gt=0)
    enabled: bool = True
    # Office hours the SLA runs in (``mon-fri = ["09:00-18:00"]``); none: round the clock.
    timezone: str = "UTC"
    hours: dict[str, tuple[str, ...]] = {}
    holidays: tuple[str, ...] = ()


class RulesSettings(_Section):
    """Call-to-deal rules (config/rules.example.toml); a set saved through the API wins."""

    file: str | None = None
    # Where the PBX's recordings are served: a bare file name (``<uniqueid>.wav``) is appended.
    recording_base_url: str | None = None
    # Call events kept while the database is unreachable (the oldest goes first when full).
    retry_queue_size: int = Field(10_000, ge=1)


class PoolSettings(_Section):
    """The public pool: contacts nobody works go back to the team, and who may take them."""

    enabled: bool = True
    # A contact whose owner has done nothing with it for this long returns to the pool.
    idle_days: int = Field(30, ge=1)
    # How many contacts one seller may hold; a claim over it is refused.
    max_held: int = Field(200, ge=1)
    # The seller a contact came back from may not claim it again for this long.
    reclaim_cooldown_days: int = Field(7, ge=0)
    # Who gets the pop and the Unsorted deal when a pool contact calls.
    ring: Literal["previous_owner", "queue", "head"] = "previous_owner"
    check_interval_s: float = Field(3600.0, gt=0)


class RobotSettings(_Section):
    """Stage robots: entry robots act as deals move; this pass sweeps and runs the stuck ones."""

    enabled: bool = True
    # The scheduled pass: the stuck robots, and entry robots a stopped instance left undone.
    check_interval_s: float = Field(300.0, gt=0)
    # How often the stage history is read for moves made elsewhere (entry robots' latency).
    follow_interval_s: float = Field(1.0, gt=0)


class ScoringSettings(_Section):
    """Lead scoring: how often changes are rescored, the nightly pass, when a model may learn."""

    enabled: bool = True
    # Seconds between two looks for what changed (calls, notes, stage moves, deal edits).
    sweep_interval_s: float = Field(5.0, gt=0)
    # The hour (UTC) of the nightly pass: every score again (recency) and a new training.
    nightly_hour_utc: int = Field(3, ge=0, le=23)
    # Closed deals the learned score needs before it is tried (each side).
    min_won: int = Field(50, ge=10)
    min_lost: int = Field(50, ge=10)


class LeaseSettings(_Section):
    """The AMI consumer's lease (PostgreSQL): how fast a standby takes over a frozen consumer.

    A standby takes over at most ``deadline_s + renew_interval_s`` after the consumer's last
    renewal; the consumer stops acting ``safety_margin_s`` before its lease runs out.
    """

    deadline_s: float = Field(8.0, gt=0)
    renew_interval_s: float = Field(2.0, gt=0)
    safety_margin_s: float = Field(1.0, ge=0)
    # A standby keeps an AMI link of its own and replays the recent calls' CRM work on takeover
    # (cti.witness): the calls of the takeover's gap are not lost.
    witness: bool = True
    witness_window_s: float = Field(30.0, gt=0)

    @model_validator(mode="after")
    def _renewals_fit_in_the_deadline(self) -> LeaseSettings:
        if self.renew_interval_s >= self.deadline_s - self.safety_margin_s:
            raise ValueError(
                "renew_interval_s must be shorter than deadline_s - safety_margin_s "
                "(a healthy consumer would lose its lease between two renewals)"
            )
        return self


class I18nSettings(_Section):
    """The install's language for text the product writes (deal and task titles, pipelines)."""

    default_locale: Literal["en", "ru", "zh-CN", "fa"] = "en"


class WebhookSettings(_Section):
    url: str
    secret: SecretStr
    events: tuple[str, ...] = ("*",)


class Settings(_Section):
    server: ServerSettings = ServerSettings()
    database: DatabaseSettings = DatabaseSettings()
    redis: RedisSettings = RedisSettings()
    phone: PhoneSettings = PhoneSettings()
    logging: LoggingSettings = LoggingSettings()
    pbx: tuple[PbxSettings, ...] = ()
    simulator: SimulatorSettings = SimulatorSettings()
    pops: PopsSettings = PopsSettings()
    rules: RulesSettings = RulesSettings()
    callbacks: CallbackSettings = CallbackSettings()
    lease: LeaseSettings = LeaseSettings()
    pool: PoolSettings = PoolSettings()
    robots: RobotSettings = RobotSettings()
    scoring: ScoringSettings = ScoringSettings()
    i18n: I18nSettings = I18nSettings()
    webhooks: tuple[WebhookSettings, ...] = ()

    @model_validator(mode="after")
    def _one_name_per_pbx(self) -> Settings:
        # Identities, rules, leases and reports name a PBX: two with one name would be one office.
        names = [p.name for p in self.pbx] or list(self.simulator.offices)
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"[[pbx]] names must differ: {', '.join(twice)} given twice")
        return self

    @model_validator(mode="after")
    def _readable_hours(self) -> Settings:
        try:
            sla_clock(self)
        except BadHours as err:
            raise ValueError(f"office hours: {err}") from err
        return self


_SHORT_ENV = {
    "CTI_DATABASE_URL": ("database", "url"),
    "CTI_REDIS_URL": ("redis", "url"),
    "CTI_HOST": ("server", "host"),
    "CTI_PORT": ("server", "port"),
    "CTI_LOG_LEVEL": ("logging", "level"),
    "CTI_LOG_FORMAT": ("logging", "format"),
}


def load_settings(
    path: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read the TOML file (``CTI_CONFIG`` when no path is given) and apply the environment."""
    env = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    config_path = path or env.get("CTI_CONFIG")
    if config_path:
        file = Path(config_path)
        try:
            raw = tomllib.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError as err:
            raise ConfigError(f"configuration file not found: {file}") from err
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"{file}: not valid TOML: {err}") from err
    _apply_environment(raw, env)
    try:
        return Settings.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(_describe(err, config_path)) from err


def _apply_environment(raw: dict[str, Any], env: Mapping[str, str]) -> None:
    for name, value in env.items():
        if name in _SHORT_ENV:
            section, key = _SHORT_ENV[name]
        elif name.startswith("CTI_") and "__" in name:
            section, _, key = name[4:].lower().partition("__")
        else:
            continue
        target = raw.setdefault(section, {})
        if not isinstance(target, dict):
            raise ConfigError(f"{name}: [{section}] is not a table in the configuration file")
        target[key] = value


def _describe(err: ValidationError, source: str | Path | None) -> str:
    where = f" in {source}" if source else ""
    lines = [f"invalid configuration{where}:"]
    for problem in err.errors():
        key = ".".join(str(part) for part in problem["loc"])
        lines.append(f"  {key}: {problem['msg']}")
    return "\n".join(lines)


def pbx_names(settings: Settings) -> tuple[str, ...]:
    """The configured PBXs' names (the simulated offices' when the simulator stands in)."""
    if settings.pbx:
        return tuple(p.name for p in settings.pbx)
    if settings.simulator.enabled:
        return settings.simulator.offices
    return ()


def sla_clock(settings: Settings) -> SlaClock:
    """The hours each office's call-back SLA runs in; raises BadHours naming the bad part."""
    wide = settings.callbacks
    default = read_office_hours(wide.timezone, wide.hours, wide.holidays) if wide.hours else None
    per_pbx: dict[str, OfficeHours] = {}
    for pbx in settings.pbx:
        if pbx.hours:
            zone = pbx.timezone or wide.timezone
            per_pbx[pbx.name] = read_office_hours(zone, pbx.hours, pbx.holidays)
        elif pbx.timezone is not None:
            if not wide.hours:
                raise BadHours(f"[[pbx]] {pbx.name}: a timezone needs hours here or in [callbacks]")
            per_pbx[pbx.name] = read_office_hours(
                pbx.timezone, wide.hours, pbx.holidays or wide.holidays
            )
    return SlaClock(default=default, per_pbx=per_pbx)

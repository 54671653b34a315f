"""Configuration from environment variables (see DESIGN.md, "Configuration").

One place reads the environment. A bad value stops the program with one line that names the
variable and what is wrong with it (`ConfigError`).
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from core.emissions import GWP_SETS

DEFAULT_DATABASE_URL = "sqlite:///var/carbontrack.db"
DEFAULT_TOPIC_PREFIX = "carbontrack/v1"
DEFAULT_DATA_DIR = "var/"
DEFAULT_TZ = "Africa/Nairobi"
MQTT_SCHEMES = ("mqtt", "mqtts", "tcp", "ssl")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
SMTP_SCHEMES = ("smtp", "smtps", "smtp+starttls")
DEFAULT_MAIL_FROM = "Carbon Track <carbontrack@localhost>"
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8050"
MIN_SECRET_KEY_CHARS = 32  # a guessable key lets anyone forge a session cookie
MAX_PROXY_HOPS = 5
# Server quality checks of the listener (docs/qaqc.md "Quality flags" gives each reason).
# Flat line: this many consecutive readings with exactly the same CO2 (or velocity) value. A node
# publishes interval means of many samples at 0.1 ppm / 0.001 m/s (docs/firmware.md), so a live
# sensor's noise never repeats a mean five times running; a stuck one repeats it exactly.
DEFAULT_QA_FLATLINE_SAMPLES = 5
# Spike: CO2 changing faster than this between consecutive readings (ppm per second). 1,000 ppm/s
# is 60,000 ppm (6 %vol, ~30 % of wood's CO2max 19.8 %, domain.md §1.5) within a 60 s interval;
# a boiler trip purges 12 %vol over minutes (~700 ppm/s), an electrical glitch jumps at once.
DEFAULT_QA_SPIKE_CO2_PPM_PER_S = 1000.0
# Low velocity: below 3 m/s the pitot's Δp in hot flue gas (~4 Pa at 0.63 kg/m³, C_p 0.84) is
# within 5 % of the SDP810's ±0.2 Pa zero band (docs/firmware.md), i.e. > 2.5 % velocity error;
# typical stacks run 5–15 m/s (domain.md §1.5), so a running boiler stays above it.
DEFAULT_QA_MIN_VELOCITY_M_S = 3.0


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class MqttUrl:
    """A parsed broker URL: mqtt://user:pass@host:1883 or mqtts://… (TLS)."""

    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    protocol: str | None = None  # "5", "3.1.1" or "auto" from ?protocol=…; None = auto


@dataclass(frozen=True)
class Config:
    """Everything the processes read from the environment."""

    database_url: str = field(default=DEFAULT_DATABASE_URL, repr=False)  # in repr with its password hidden
    mqtt_url: MqttUrl | None = None  # None = start the embedded broker
    topic_prefix: str = DEFAULT_TOPIC_PREFIX
    secret_key: str = field(default="", repr=False)
    data_dir: Path = Path(DEFAULT_DATA_DIR)
    tz_name: str = DEFAULT_TZ
    embedded: bool = True
    listener_id: str = "1"  # part of the listener's stable MQTT client id (one per listener process)
    mqtt_shared: bool = False  # listeners use a shared subscription and split the load
    log_level: str = "INFO"
    smtp_url: str | None = field(default=None, repr=False)  # smtp://, smtps:// or smtp+starttls://; None = no email
    mail_from: str = DEFAULT_MAIL_FROM
    public_url: str = DEFAULT_PUBLIC_URL  # how nodes reach the web app (OTA image downloads)
    gwp_set: str = "AR5"  # GWP-100 set of the reports: AR4, AR5 or AR6 (core.emissions.GWP_SETS)
    behind_tls: bool = False  # CARBONTRACK_BEHIND_TLS: users reach the app over https (cookies are Secure)
    proxy_hops: int = 0  # CARBONTRACK_PROXY_HOPS: reverse proxies in front whose X-Forwarded-* are trusted
    # CARBONTRACK_TRUSTED_PROXIES: the addresses/networks those proxies connect from; X-Forwarded-*
    # from any other peer is ignored (a client reaching a web host directly cannot pick its address).
    trusted_proxies: tuple[str, ...] = ("127.0.0.1/32", "::1/128")
    storage: str = "auto"  # CARBONTRACK_STORAGE: auto, local, database or s3://bucket/prefix (core.storage)
    s3_endpoint_url: str | None = None  # CARBONTRACK_S3_ENDPOINT_URL: a non-AWS S3 endpoint (MinIO, Ceph)
    redis_url: str | None = field(default=None, repr=False)  # CARBONTRACK_REDIS_URL: Celery background callbacks
    qa_flatline_samples: int = DEFAULT_QA_FLATLINE_SAMPLES  # CARBONTRACK_QA_FLATLINE_SAMPLES (0 = off)
    qa_spike_co2_ppm_per_s: float = DEFAULT_QA_SPIKE_CO2_PPM_PER_S  # CARBONTRACK_QA_SPIKE_CO2_PPM_PER_S (0 = off)
    qa_min_velocity_m_s: float = DEFAULT_QA_MIN_VELOCITY_M_S  # CARBONTRACK_QA_MIN_VELOCITY_M_S (0 = off)

    def __repr__(self) -> str:
        """The config as a log line can show it: the database password is hidden (issue 18)."""
        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if f.repr)
        return f"Config(database_url={redact_url(self.database_url)!r}, {shown})"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.tz_name)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def reports_dir(self) -> Path:
        return self.data_dir / "reports"


_USERINFO_PASSWORD = re.compile(r"(://[^:/@]*):[^@/]*@")


def redact_url(value: str) -> str:
    """Hide the password of a URL (`scheme://user:***@host`) so errors can be printed safely."""
    return _USERINFO_PASSWORD.sub(r"\1:***@", value)


def parse_mqtt_url(value: str) -> MqttUrl:
    """Parse CARBONTRACK_MQTT_URL; raise ConfigError naming the variable on a bad value."""
    shown = redact_url(value)
    try:
        parts = urlsplit(value)
    except ValueError as exc:  # e.g. an unbalanced '[' in the host
        raise ConfigError(f"CARBONTRACK_MQTT_URL: not a URL: {shown!r}") from exc
    if parts.scheme not in MQTT_SCHEMES:
        raise ConfigError(
            f"CARBONTRACK_MQTT_URL: scheme must be mqtt:// or mqtts://, got {shown!r}"
        )
    if not parts.hostname:
        raise ConfigError(f"CARBONTRACK_MQTT_URL: no host in {shown!r}")
    tls = parts.scheme in ("mqtts", "ssl")
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError as exc:
        raise ConfigError(f"CARBONTRACK_MQTT_URL: bad port in {shown!r}") from exc
    return MqttUrl(parts.hostname, port, parts.username, parts.password, tls, _parse_protocol(parts.query))


def _parse_protocol(query: str) -> str | None:
    values = parse_qs(query).get("protocol")
    if not values:
        return None
    value = values[-1].strip().lower().removeprefix("mqtt").removeprefix("v")
    aliases = {"5": "5", "5.0": "5", "3.1.1": "3.1.1", "311": "3.1.1", "4": "3.1.1", "auto": "auto"}
    if value not in aliases:
        raise ConfigError(f"CARBONTRACK_MQTT_URL: protocol must be 5, 3.1.1 or auto, got {values[-1]!r}")
    return aliases[value]


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = (env.get(name) or "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{name}: expected 1/0, true/false, yes/no or on/off, got {value!r}")


def _check_database_url(value: str) -> str:
    try:
        url = make_url(value)
    except (ArgumentError, ValueError) as exc:  # ValueError: a non-numeric port
        raise ConfigError(f"CARBONTRACK_DATABASE_URL: not a database URL: {redact_url(value)!r}") from exc
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(
            f"CARBONTRACK_DATABASE_URL: only sqlite and postgresql are supported, got {url.drivername!r}"
        )
    return value


def _check_tz(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"CARBONTRACK_TZ: unknown time zone {value!r}") from exc
    return value


def _check_networks(value: str) -> tuple[str, ...]:
    nets = []
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        try:
            nets.append(str(ipaddress.ip_network(part, strict=False)))
        except ValueError as exc:
            raise ConfigError(f"CARBONTRACK_TRUSTED_PROXIES: not an address or network: {part!r}") from exc
    return tuple(nets)


def _check_storage(value: str) -> str:
    value = value.strip() or "auto"
    if value in ("auto", "local", "database"):
        return value
    if value.startswith("s3://") and value.removeprefix("s3://").split("/")[0]:
        return value
    raise ConfigError(f"CARBONTRACK_STORAGE: auto, local, database or s3://bucket/prefix, got {value!r}")


def _number(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    text = (env.get(name) or "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:  # also rejects NaN
        raise ConfigError(f"{name}: a number from {low:g} to {high:g}, got {text!r}")
    return value


def load_config(env: Mapping[str, str] | None = None, *, require_secret: bool = True) -> Config:
    """Read the CARBONTRACK_* variables; raise ConfigError on the first bad one.

    Processes that serve no web sessions (listener, simulator) pass `require_secret=False`.
    """
    env = os.environ if env is None else env
    database_url = _check_database_url(env.get("CARBONTRACK_DATABASE_URL") or DEFAULT_DATABASE_URL)
    raw_mqtt = env.get("CARBONTRACK_MQTT_URL") or ""
    mqtt_url = parse_mqtt_url(raw_mqtt) if raw_mqtt else None
    prefix = (env.get("CARBONTRACK_TOPIC_PREFIX") or DEFAULT_TOPIC_PREFIX).strip("/")
    if not prefix or any(c in prefix for c in "+#"):
        raise ConfigError(f"CARBONTRACK_TOPIC_PREFIX: must be a topic path without wildcards, got {prefix!r}")
    tz_name = _check_tz((env.get("CARBONTRACK_TZ") or DEFAULT_TZ).strip())
    data_dir = Path(env.get("CARBONTRACK_DATA_DIR") or DEFAULT_DATA_DIR)
    # The embedded default is the all-local demo: SQLite file and in-process broker.
    embedded = database_url.startswith("sqlite") and mqtt_url is None
    secret = env.get("CARBONTRACK_SECRET_KEY") or ""
    if not secret:
        if not embedded and require_secret:
            raise ConfigError(
                "CARBONTRACK_SECRET_KEY: required when not running the embedded default "
                "(set it to a long random string)"
            )
        secret = secrets.token_hex(32)  # random per run: sessions end when the process ends
    elif require_secret and len(secret) < MIN_SECRET_KEY_CHARS:
        raise ConfigError(
            f"CARBONTRACK_SECRET_KEY: at least {MIN_SECRET_KEY_CHARS} characters, got {len(secret)} "
            "(generate one with: python -c 'import secrets; print(secrets.token_hex(32))')"
        )
    hops_text = (env.get("CARBONTRACK_PROXY_HOPS") or "0").strip()
    if not hops_text.isdigit() or int(hops_text) > MAX_PROXY_HOPS:
        raise ConfigError(f"CARBONTRACK_PROXY_HOPS: a whole number from 0 to {MAX_PROXY_HOPS}, got {hops_text!r}")
    log_level = (env.get("CARBONTRACK_LOG_LEVEL") or "INFO").strip().upper()
    if log_level not in LOG_LEVELS:
        raise ConfigError(f"CARBONTRACK_LOG_LEVEL: one of {', '.join(LOG_LEVELS)}, got {log_level!r}")
    smtp_url = (env.get("CARBONTRACK_SMTP_URL") or "").strip() or None
    if smtp_url is not None:
        parts = urlsplit(smtp_url)
        if parts.scheme not in SMTP_SCHEMES or not parts.hostname:
            raise ConfigError(f"CARBONTRACK_SMTP_URL: smtp://host:port, smtps:// or smtp+starttls://, "
                              f"got {redact_url(smtp_url)!r}")
    public_url = (env.get("CARBONTRACK_PUBLIC_URL") or DEFAULT_PUBLIC_URL).strip().rstrip("/")
    if urlsplit(public_url).scheme not in ("http", "https") or not urlsplit(public_url).hostname:
        raise ConfigError(f"CARBONTRACK_PUBLIC_URL: an http(s):// URL, got {public_url!r}")
    gwp_set = (env.get("CARBONTRACK_GWP_SET") or "AR5").strip().upper()
    if gwp_set not in GWP_SETS:
        raise ConfigError(f"CARBONTRACK_GWP_SET: one of {', '.join(GWP_SETS)}, got {gwp_set!r}")
    flatline = _number(env, "CARBONTRACK_QA_FLATLINE_SAMPLES", DEFAULT_QA_FLATLINE_SAMPLES, 0, 1000)
    if flatline != int(flatline) or flatline == 1:
        raise ConfigError(f"CARBONTRACK_QA_FLATLINE_SAMPLES: a whole number, 0 (off) or at least 2, got {flatline:g}")
    return Config(
        qa_flatline_samples=int(flatline),
        qa_spike_co2_ppm_per_s=_number(env, "CARBONTRACK_QA_SPIKE_CO2_PPM_PER_S", DEFAULT_QA_SPIKE_CO2_PPM_PER_S,
                                       0.0, 1e6),
        qa_min_velocity_m_s=_number(env, "CARBONTRACK_QA_MIN_VELOCITY_M_S", DEFAULT_QA_MIN_VELOCITY_M_S, 0.0, 40.0),
        smtp_url=smtp_url,
        mail_from=(env.get("CARBONTRACK_MAIL_FROM") or DEFAULT_MAIL_FROM).strip(),
        public_url=public_url,
        gwp_set=gwp_set,
        listener_id=(env.get("CARBONTRACK_LISTENER_ID") or "1").strip(),
        mqtt_shared=_flag(env, "CARBONTRACK_MQTT_SHARED"),
        log_level=log_level,
        database_url=database_url,
        mqtt_url=mqtt_url,
        topic_prefix=prefix,
        secret_key=secret,
        data_dir=data_dir,
        tz_name=tz_name,
        embedded=embedded,
        behind_tls=_flag(env, "CARBONTRACK_BEHIND_TLS"),
        proxy_hops=int(hops_text),
        trusted_proxies=_check_networks(env.get("CARBONTRACK_TRUSTED_PROXIES") or "127.0.0.1,::1"),
        storage=_check_storage(env.get("CARBONTRACK_STORAGE") or "auto"),
        s3_endpoint_url=(env.get("CARBONTRACK_S3_ENDPOINT_URL") or "").strip() or None,
        redis_url=_check_redis_url(env.get("CARBONTRACK_REDIS_URL") or ""),
    )


def _check_redis_url(value: str) -> str | None:
    value = value.strip()
    if not value:
        return None
    if urlsplit(value).scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(f"CARBONTRACK_REDIS_URL: redis://host:6379/0 or rediss://…, got {redact_url(value)!r}")
    return value

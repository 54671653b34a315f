"""Configuration from environment variables (see DESIGN.md, "Configuration").

One place reads the environment. A bad value stops the program with one line that names the
variable and what is wrong with it (`ConfigError`).
"""

from __future__ import annotations

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
    return Config(
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
    )

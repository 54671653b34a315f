"""Configuration: defaults, each bad value -> ConfigError naming the variable, and the CLI's one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.config import DEFAULT_DATABASE_URL, ConfigError, load_config, parse_mqtt_url, redact_url

PROD = {"CARBONTRACK_SECRET_KEY": "s3cret-" + "x" * 25}  # so that only the variable under test can fail


def test_defaults_are_the_embedded_demo() -> None:
    cfg = load_config({})
    assert cfg.database_url == DEFAULT_DATABASE_URL == "sqlite:///var/carbontrack.db"
    assert cfg.mqtt_url is None and cfg.embedded
    assert cfg.topic_prefix == "carbontrack/v1"
    assert cfg.tz_name == "Africa/Nairobi"
    assert cfg.data_dir == Path("var/")
    assert len(cfg.secret_key) == 64


def test_embedded_secret_is_random_per_run() -> None:
    assert load_config({}).secret_key != load_config({}).secret_key


def test_production_values_are_read() -> None:
    cfg = load_config({
        "CARBONTRACK_DATABASE_URL": "postgresql+psycopg2://ct:pw@db.example:5432/carbontrack",
        "CARBONTRACK_MQTT_URL": "mqtts://listener:pw@broker.example",
        "CARBONTRACK_TOPIC_PREFIX": "/ktda/v1/",
        "CARBONTRACK_SECRET_KEY": "long-random-" + "r" * 20,
        "CARBONTRACK_DATA_DIR": "/srv/ct",
        "CARBONTRACK_TZ": "UTC",
    })
    assert not cfg.embedded and not cfg.is_sqlite
    assert cfg.mqtt_url is not None
    assert (cfg.mqtt_url.host, cfg.mqtt_url.port, cfg.mqtt_url.tls) == ("broker.example", 8883, True)
    assert cfg.mqtt_url.username == "listener"
    assert cfg.topic_prefix == "ktda/v1"
    assert cfg.secret_key == "long-random-" + "r" * 20
    assert cfg.reports_dir == Path("/srv/ct/reports")
    assert str(cfg.tz) == "UTC"


def test_plain_mqtt_url_defaults_to_1883() -> None:
    url = parse_mqtt_url("mqtt://127.0.0.1")
    assert (url.port, url.tls, url.username) == (1883, False, None)


@pytest.mark.parametrize(
    "variable, value",
    [
        ("CARBONTRACK_DATABASE_URL", "not a url"),
        ("CARBONTRACK_DATABASE_URL", "postgresql://ct:pw@db:port/x"),
        ("CARBONTRACK_DATABASE_URL", "mysql://ct@db/x"),
        ("CARBONTRACK_DATABASE_URL", "oracle+cx_oracle://ct@db/x"),
        ("CARBONTRACK_MQTT_URL", "http://broker"),
        ("CARBONTRACK_MQTT_URL", "mqtt://"),
        ("CARBONTRACK_MQTT_URL", "mqtt://broker:abc"),
        ("CARBONTRACK_MQTT_URL", "mqtt://broker:99999"),
        ("CARBONTRACK_MQTT_URL", "broker:1883"),
        ("CARBONTRACK_TZ", "Africa/Atlantis"),
        ("CARBONTRACK_TZ", "../../etc/passwd"),
        ("CARBONTRACK_TOPIC_PREFIX", "carbontrack/+"),
        ("CARBONTRACK_TOPIC_PREFIX", "#"),
        ("CARBONTRACK_MQTT_URL", "mqtt://broker?protocol=7"),
        ("CARBONTRACK_MQTT_SHARED", "maybe"),
        ("CARBONTRACK_LOG_LEVEL", "LOUD"),
    ],
)
def test_bad_value_names_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_config({**PROD, variable: value})
    assert str(exc.value).startswith(f"{variable}:")
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize(
    "env",
    [
        {"CARBONTRACK_DATABASE_URL": "postgresql+psycopg2://postgres@127.0.0.1/ct"},
        {"CARBONTRACK_MQTT_URL": "mqtt://127.0.0.1:1883"},
    ],
)
def test_secret_key_required_outside_the_embedded_default(env: dict) -> None:
    with pytest.raises(ConfigError, match="^CARBONTRACK_SECRET_KEY:"):
        load_config(env)


def test_listener_settings_are_read() -> None:
    cfg = load_config({**PROD, "CARBONTRACK_MQTT_URL": "mqtt://b:1883?protocol=3.1.1",
                       "CARBONTRACK_LISTENER_ID": "2", "CARBONTRACK_MQTT_SHARED": "yes",
                       "CARBONTRACK_LOG_LEVEL": "debug"})
    assert (cfg.mqtt_url.protocol, cfg.listener_id, cfg.mqtt_shared, cfg.log_level) == ("3.1.1", "2", True, "DEBUG")


def test_secret_not_required_for_processes_without_web_sessions() -> None:
    cfg = load_config({"CARBONTRACK_MQTT_URL": "mqtt://127.0.0.1:1883"}, require_secret=False)
    assert cfg.mqtt_url.host == "127.0.0.1"


def test_errors_do_not_print_passwords() -> None:
    for variable, value in (("CARBONTRACK_DATABASE_URL", "postgresql://ct:hunter2@db:port/x"),
                            ("CARBONTRACK_MQTT_URL", "mqtt://node:hunter2@broker:abc")):
        with pytest.raises(ConfigError) as exc:
            load_config({**PROD, variable: value})
        assert "hunter2" not in str(exc.value)
    assert redact_url("mqtt://u:p@h:1883") == "mqtt://u:***@h:1883"
    assert redact_url("sqlite:///var/x.db") == "sqlite:///var/x.db"


@pytest.mark.parametrize(
    "variable, value",
    [("CARBONTRACK_DATABASE_URL", "nonsense"), ("CARBONTRACK_TZ", "Mars/Olympus_Mons"),
     ("CARBONTRACK_MQTT_URL", "ftp://x")],
)
def test_cli_exits_with_one_line_on_stderr(variable: str, value: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARBONTRACK_")}
    env.update({variable: value, "CARBONTRACK_DATA_DIR": str(tmp_path)})
    proc = subprocess.run([sys.executable, "-m", "carbontrack.cli", "init-db"], env=env, capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert variable in lines[0]
    assert not list(tmp_path.glob("*.db"))  # nothing was created

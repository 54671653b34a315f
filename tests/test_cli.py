"""The `carbontrack` command line: init-db, create-user, help, the console script."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from carbontrack import cli
from core.inventory.factors import SEED_FACTORS


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """A CARBONTRACK_* environment pointing at a fresh SQLite file; return its URL."""
    for name in ("CARBONTRACK_MQTT_URL", "CARBONTRACK_SECRET_KEY", "CARBONTRACK_TZ", "CARBONTRACK_TOPIC_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    url = f"sqlite:///{tmp_path / 'ct.db'}"
    monkeypatch.setenv("CARBONTRACK_DATABASE_URL", url)
    monkeypatch.setenv("CARBONTRACK_DATA_DIR", str(tmp_path / "data"))
    return url


def test_init_db_creates_schema_and_seeds_factors(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["init-db"]) == 0
    out = capsys.readouterr().out
    assert "schema at head" in out and f"{len(SEED_FACTORS)} emission factors seeded" in out
    engine = sa.create_engine(env)
    with engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM emission_factor")) == len(SEED_FACTORS)
        assert conn.scalar(sa.text("SELECT count(*) FROM factory")) == 0  # no demo without --demo
    engine.dispose()
    assert cli.main(["init-db"]) == 0  # idempotent
    assert "0 emission factors seeded" in capsys.readouterr().out


def test_create_user(env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["init-db"]) == 0
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "a-long-password")
    assert cli.main(["create-user", "grace", "--role", "hq"]) == 0
    assert "created hq grace" in capsys.readouterr().out
    # A factory manager needs a factory that exists; the error is one line, exit code 1.
    assert cli.main(["create-user", "ann", "--role", "factory_manager", "--factory", "XXX"]) == 1
    assert "unknown factory" in capsys.readouterr().err
    assert cli.main(["create-user", "grace", "--role", "hq"]) == 1
    assert "exists already" in capsys.readouterr().err


def test_help_lists_every_process() -> None:
    text = cli.build_parser().format_help()
    for command in ("init-db", "run", "listen", "simulate", "scheduler", "report", "create-user"):
        assert command in text
    args = cli.build_parser().parse_args(["init-db", "--demo"])
    assert args.demo is True


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "carbontrack"
    if not script.exists():
        pytest.skip("package not installed with pip install -e . (run make test)")
    proc = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert "init-db" in proc.stdout

"""Shared fixtures: fresh databases (SQLite and PostgreSQL), the Mosquitto broker, Chromium.

Tests that need PostgreSQL, Mosquitto or Chromium use them when present and skip with a one-line
reason when absent — except when CARBONTRACK_REQUIRE_SERVICES=1 (CI), where absence fails.
"""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.db import make_engine, make_session_factory, upgrade_to_head

REQUIRE_SERVICES = os.environ.get("CARBONTRACK_REQUIRE_SERVICES") == "1"
PG_ADMIN_URL = os.environ.get("CARBONTRACK_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
MQTT_HOST = os.environ.get("CARBONTRACK_TEST_MQTT_HOST", "127.0.0.1")
MQTT_PORT = int(os.environ.get("CARBONTRACK_TEST_MQTT_PORT", "1883"))
CHROMIUM = "/usr/bin/chromium"
# The awkward-dates CI run (issue 16): CARBONTRACK_TEST_NOW moves the clock (time-machine, ticking)
# for the whole session; CARBONTRACK_TEST_SUBSET=dates keeps only the date-sensitive modules.
TEST_NOW = os.environ.get("CARBONTRACK_TEST_NOW") or ""
DATE_SENSITIVE_MODULES = ("test_web_browser", "test_web_callbacks", "test_entry", "test_queries", "test_timeutil",
                          "test_inventory", "test_scheduler", "test_reports_page")
GOLDEN_DIR = Path(__file__).parent / "golden"


def require_or_skip(available: bool, what: str) -> None:
    """Skip (locally) or fail (CI) when a service is missing."""
    if available:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"{what} is required (CARBONTRACK_REQUIRE_SERVICES=1) but not available")
    pytest.skip(f"{what} not available")


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _pg_available() -> bool:
    try:
        engine = sa.create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 2})
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:
        return False


# Migrated templates, made once per test session (the first test that asks). Running every Alembic
# migration for each test's fresh database cost about 1 s on PostgreSQL and 0.4 s on SQLite; a
# copy of a migrated template costs 0.1 s and 1 ms, and is the same database.
_TEMPLATES: dict[str, str] = {}


def _pg_template() -> str:
    """The name of this session's migrated PostgreSQL template database."""
    if "pg" not in _TEMPLATES:
        name = f"ct_tmpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        upgrade_to_head(sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False))
        _TEMPLATES["pg"] = name
    return _TEMPLATES["pg"]


def migrated_sqlite(path: Path) -> str:
    """Put a migrated SQLite database at `path` (a copy of this session's template); return its URL."""
    if "sqlite" not in _TEMPLATES:
        import tempfile

        template = Path(tempfile.mkdtemp(prefix="ct_tmpl_")) / "template.db"
        upgrade_to_head(f"sqlite:///{template}")
        import sqlite3

        with sqlite3.connect(template) as conn:  # fold the WAL into the file: the copy is the whole database
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        _TEMPLATES["sqlite"] = str(template)
    shutil.copyfile(_TEMPLATES["sqlite"], path)
    return f"sqlite:///{path}"


def create_pg_database(prefix: str = "ct_test", migrated: bool = False) -> str:
    """Create a PostgreSQL database and return its URL: empty, or `migrated` to head (from the template)."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    template = f' TEMPLATE "{_pg_template()}"' if migrated else ""
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"{template}'))
    admin.dispose()
    return sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(url: str) -> None:
    """Drop the database at `url`, closing whatever still holds it."""
    name = sa.engine.make_url(url).database
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def pg_available() -> bool:
    return _pg_available()


@pytest.fixture
def pg_url(pg_available: bool) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database, dropped afterwards."""
    require_or_skip(pg_available, "PostgreSQL")
    url = create_pg_database(migrated=True)
    try:
        yield url
    finally:
        drop_pg_database(url)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh, migrated SQLite database file."""
    return migrated_sqlite(tmp_path / "carbontrack.db")


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest) -> str:
    """Run the test once on SQLite and once on PostgreSQL."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def Session(engine: sa.Engine):  # noqa: N802 - a factory, named like the class it makes
    return make_session_factory(engine)


@pytest.fixture(scope="session")
def mosquitto() -> tuple[str, int]:
    """(host, port) of the Mosquitto broker; use a unique topic prefix per test."""
    require_or_skip(_port_open(MQTT_HOST, MQTT_PORT), f"Mosquitto on {MQTT_HOST}:{MQTT_PORT}")
    return MQTT_HOST, MQTT_PORT


@pytest.fixture
def topic_prefix() -> str:
    """A topic root no other test uses."""
    return f"cttest/{uuid.uuid4().hex[:8]}"


def browser_available() -> bool:
    return Path(CHROMIUM).exists() and shutil.which("chromedriver") is not None


_travel = None


def pytest_configure(config: pytest.Config) -> None:
    """Start the whole session at CARBONTRACK_TEST_NOW (ISO 8601 with offset) when it is set."""
    global _travel
    if TEST_NOW:
        from datetime import datetime

        import time_machine

        _travel = time_machine.travel(datetime.fromisoformat(TEST_NOW), tick=True)
        _travel.start()


@pytest.fixture(autouse=True)
def _awkward_moment():  # noqa: ANN202
    """Start every test at CARBONTRACK_TEST_NOW, not only the session: a test late in a run at
    31 Dec 23:59 would otherwise begin after midnight and test an ordinary day instead."""
    if not TEST_NOW:
        yield
        return
    from datetime import datetime

    import time_machine

    with time_machine.travel(datetime.fromisoformat(TEST_NOW), tick=True):
        yield


def pytest_unconfigure(config: pytest.Config) -> None:
    if _travel is not None:
        _travel.stop()
    if "pg" in _TEMPLATES:
        drop_pg_database(sa.engine.make_url(PG_ADMIN_URL).set(database=_TEMPLATES.pop("pg")).render_as_string(
            hide_password=False))
    if "sqlite" in _TEMPLATES:
        shutil.rmtree(Path(_TEMPLATES.pop("sqlite")).parent, ignore_errors=True)


def pytest_report_header(config: pytest.Config) -> str | None:
    return f"clock moved to {TEST_NOW} (CARBONTRACK_TEST_NOW)" if TEST_NOW else None


@pytest.fixture
def at_fixture_now():
    """Run the test with the clock at web_helpers.NOW (ticking): for tests whose data and dates are fixed there."""
    import time_machine
    from web_helpers import NOW

    with time_machine.travel(NOW, tick=True):
        yield NOW


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep only date-sensitive modules under CARBONTRACK_TEST_SUBSET=dates (dates-server: without the
    browser tests); browser tests skip without Chromium."""
    subset = os.environ.get("CARBONTRACK_TEST_SUBSET")
    if subset in ("dates", "dates-server"):
        keep = [i for i in items if i.path.name.startswith(DATE_SENSITIVE_MODULES)
                and i.get_closest_marker("clock_independent") is None]
        if subset == "dates-server":  # the same without the browser tests (Makefile: test-dates)
            keep = [i for i in keep if "dash_duo" not in getattr(i, "fixturenames", ())
                    and i.get_closest_marker("browser") is None]
        config.hook.pytest_deselected(items=[i for i in items if i not in keep])
        items[:] = keep
    if browser_available() or REQUIRE_SERVICES:  # in CI a missing browser makes these tests fail
        return
    for item in items:
        if "dash_duo" in getattr(item, "fixturenames", ()) or item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.skip(reason="Chromium/chromedriver not installed"))


def pytest_setup_options():
    """Selenium options for dash_duo: Debian's headless Chromium with no network chatter."""
    from selenium.webdriver.chrome.options import Options

    options = Options()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
    ):
        options.add_argument(flag)
    return options

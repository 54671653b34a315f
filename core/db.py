"""Engine and session factory; schema upgrades through Alembic.

SQLite (embedded default) is tuned for several threads writing at once: WAL journal, a busy
timeout instead of instant "database is locked" errors, and foreign keys switched on.
PostgreSQL uses a connection pool with pre-ping so a restarted server is survived.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 30_000  # writers wait up to 30 s for the lock; a batch commit takes ms
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def make_engine(url: str, **kwargs) -> Engine:
    """Create an engine for `url` with the settings this project relies on."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # noqa: ANN001
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", 5)
        kwargs.setdefault("max_overflow", 10)
        kwargs.setdefault("pool_pre_ping", True)
    return sa.create_engine(url, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Return a session factory; callers open sessions with `with factory() as s:`."""
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str):
    """Alembic Config pointing at this project's migrations and `url`."""
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig(str(MIGRATIONS_DIR / "alembic.ini"))
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade_to_head(url: str) -> None:
    """Run all Alembic migrations up to head on the database at `url`."""
    from alembic import command

    command.upgrade(alembic_config(url), "head")


def open_database(database_url: str) -> tuple[Engine, sessionmaker[Session]]:
    """Engine and session factory for `database_url` (the usual start of every process)."""
    engine = make_engine(database_url)
    return engine, make_session_factory(engine)

"""Create or upgrade the database, seed the factor library, optionally load the demo data."""

from __future__ import annotations

import getpass
import logging
import sys
import time

import sqlalchemy as sa

from core.accounts.users import UserError, create_user
from core.config import Config
from core.db import open_database, upgrade_to_head
from core.inventory.factors import seed_factors


def init_database(cfg: Config, demo: bool = False) -> str:
    """Upgrade the schema to head and seed factors (and demo data); return a one-line summary."""
    started = time.perf_counter()
    # Alembic announces each of its plugins at INFO on every run; only the migrations matter.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade_to_head(cfg.database_url)
    engine, Session = open_database(cfg.database_url)
    try:
        with Session() as s:
            added = seed_factors(s)
            s.commit()
        summary = f"schema at head; {added} emission factors seeded"
        if demo:
            from carbontrack.demo import load_demo

            summary += "; " + load_demo(Session, tz=cfg.tz)
            # Planner statistics for the tables just filled (a million rollup rows): without them
            # PostgreSQL plans the first pages' queries blind until autovacuum runs (if it runs).
            with engine.connect() as conn:
                conn.execute(sa.text("ANALYZE"))
                conn.commit()
    finally:
        engine.dispose()
    return f"{summary} ({time.perf_counter() - started:.1f} s)"


def create_user_cli(cfg: Config, username: str, role: str, factory: str | None) -> int:
    """Create a user, asking for the password on the terminal."""
    password = getpass.getpass(f"password for {username}: ")
    engine, Session = open_database(cfg.database_url)
    try:
        with Session() as s:
            create_user(s, username, password, role, factory)
            s.commit()
    except UserError as exc:
        print(f"carbontrack: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(f"created {role} {username}")
    return 0

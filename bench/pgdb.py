"""Throw-away PostgreSQL databases for the benchmarks (created empty, dropped with FORCE)."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

DEFAULT_ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


def create_database(admin_url: str = DEFAULT_ADMIN_URL, prefix: str = "ct_bench") -> str:
    """Create an empty database next to `admin_url`'s and return its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str, admin_url: str = DEFAULT_ADMIN_URL) -> None:
    """Drop the database at `url`, closing whatever still holds it."""
    name = sa.engine.make_url(url).database
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()

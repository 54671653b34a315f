"""Alembic: one head; upgrade from empty on SQLite and PostgreSQL; the result matches the models."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from conftest import create_pg_database, drop_pg_database, require_or_skip

from core.db import alembic_config, make_engine, upgrade_to_head
from core.measurement.retention import alembic_include_name
from core.models import Base


@pytest.fixture(params=["sqlite", "postgres"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty (not migrated) database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    require_or_skip(request.getfixturevalue("pg_available"), "PostgreSQL")
    url = create_pg_database("ct_migr")
    try:
        yield url
    finally:
        drop_pg_database(url)


def _diff(url: str) -> list:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": False,
                                                        "include_name": alembic_include_name})
            return compare_metadata(ctx, Base.metadata)
    finally:
        engine.dispose()


def test_single_head() -> None:
    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    assert len(heads) == 1, f"several migration heads: {heads}; merge them"


def test_upgrade_from_empty_matches_models(empty_url: str) -> None:
    upgrade_to_head(empty_url)
    assert _diff(empty_url) == []
    engine = make_engine(empty_url)
    with engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
        version = conn.scalar(sa.text("SELECT version_num FROM alembic_version"))
    engine.dispose()
    assert set(Base.metadata.tables) <= tables
    assert version == ScriptDirectory.from_config(alembic_config(empty_url)).get_current_head()


def test_upgrade_is_idempotent_and_downgrade_round_trips(empty_url: str) -> None:
    upgrade_to_head(empty_url)
    upgrade_to_head(empty_url)  # a second init-db is a no-op
    cfg = alembic_config(empty_url)
    command.downgrade(cfg, "base")
    engine = make_engine(empty_url)
    with engine.connect() as conn:
        left = set(sa.inspect(conn).get_table_names()) - {"alembic_version"}
    engine.dispose()
    assert left == set()
    upgrade_to_head(empty_url)
    assert _diff(empty_url) == []


def test_reading_is_unique_per_device_and_timestamp_and_indexed_by_time(empty_url: str) -> None:
    upgrade_to_head(empty_url)
    engine = make_engine(empty_url)
    with engine.connect() as conn:
        insp = sa.inspect(conn)
        uniques = [tuple(u["column_names"]) for u in insp.get_unique_constraints("reading")]
        indexes = [tuple(i["column_names"]) for i in insp.get_indexes("reading")]
    engine.dispose()
    assert ("device_id", "ts") in uniques
    assert ("factory_id", "ts") in indexes  # 0011: ix_reading_ts became (factory_id, ts)

"""Time `carbontrack init-db --demo` on a fresh SQLite file (and PostgreSQL database if reachable).

Usage: .venv/bin/python bench/bench_init_db.py [--pg URL_OF_ADMIN_DB] [--sqlite-only]
Prints one line per backend: seconds, rows written per table, database size.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from carbontrack.bootstrap import init_database  # noqa: E402
from core.config import load_config  # noqa: E402

TABLES = ("factory", "device", "rollup_device_hourly", "rollup_factory_hourly", "rollup_device_daily",
          "rollup_factory_daily", "reading", "monthly_submission", "energy_entry", "app_user")
DEFAULT_PG = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


def _counts(url: str) -> dict[str, int]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        counts = {t: conn.scalar(sa.text(f"SELECT count(*) FROM {t}")) for t in TABLES}
        if url.startswith("postgresql"):
            counts["db_bytes"] = conn.scalar(sa.text("SELECT pg_database_size(current_database())"))
    engine.dispose()
    return counts


def bench(url: str, data_dir: Path) -> tuple[float, str, dict[str, int]]:
    """Run init-db --demo once on `url`; return (seconds, summary, row counts)."""
    env = {"CARBONTRACK_DATABASE_URL": url, "CARBONTRACK_DATA_DIR": str(data_dir),
           "CARBONTRACK_SECRET_KEY": "bench-" + "x" * 26}
    cfg = load_config(env)
    started = time.perf_counter()
    summary = init_database(cfg, demo=True)
    return time.perf_counter() - started, summary, _counts(url)


def main() -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default=os.environ.get("CARBONTRACK_TEST_PG_URL", DEFAULT_PG))
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "carbontrack.db"
        seconds, summary, counts = bench(f"sqlite:///{db}", Path(tmp))
        print(f"sqlite: {seconds:.1f} s, file {db.stat().st_size / 1e6:.0f} MB, {counts}")
        print(f"  {summary}")
    if args.sqlite_only:
        return 0
    name = f"ct_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(args.pg, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        print(f"postgresql: not reachable ({exc.orig}); skipped")
        return 0
    url = sa.engine.make_url(args.pg).set(database=name).render_as_string(hide_password=False)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            seconds, summary, counts = bench(url, Path(tmp))
        print(f"postgresql: {seconds:.1f} s, {counts}")
        print(f"  {summary}")
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())

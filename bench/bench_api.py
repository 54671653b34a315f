"""Benchmark: REST API response times on PostgreSQL with the 13-month demo data (issue 15).

Creates a fresh PostgreSQL database, loads the demo, fills one factory's raw readings to a whole
local day (the demo keeps 6 h of raw readings; older copies of that window are shifted back by
whole 6-hour steps), builds the app and times, through the whole WSGI stack with a real bearer
token (token check, last-use bookkeeping, validation, query, JSON):
- a factory-month inventory (`/factories/{id}/inventories?first=M&last=M`), cold (inventory cache
  emptied before every call) and warm;
- the network's inventories for a month (`/inventories?month=M`, 67 factories), cold and warm;
- a day of one factory's readings (`/factories/{id}/readings`, one page of up to 5000) and as CSV.
Prints a Markdown table; the database is dropped afterwards.

    .venv/bin/python bench/bench_api.py [--admin-url postgresql+psycopg2://postgres@127.0.0.1:5432/postgres] [--runs 50]
Target (issue 15): p95 <= 200 ms for a factory-month inventory and a day of readings.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import create_app  # noqa: E402
from bench.pgdb import DEFAULT_ADMIN_URL, create_database, drop_database  # noqa: E402
from carbontrack.bootstrap import init_database  # noqa: E402
from core.accounts.tokens import create_token  # noqa: E402
from core.config import Config  # noqa: E402
from core.db import open_database  # noqa: E402
from core.insights.queries import INVENTORY_CACHE  # noqa: E402
from core.models import Device, Factory, Reading, User  # noqa: E402
from core.timeutil import DEFAULT_TZ, add_months, local_date, local_day_bounds_utc, month_start, utcnow  # noqa: E402

P95_TARGET_MS = 200.0


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def _fill_day(Session, factory_id: int) -> int:  # noqa: ANN001, N803
    """Copy the factory's live window back in 6-hour steps so yesterday (local) has a full day; return its count."""
    with Session() as s:
        cols = [c.name for c in Reading.__table__.columns if c.name not in ("id", "ts")]
        col_list = ", ".join(cols)
        for k in range(1, 9):
            s.execute(sa.text(
                f"INSERT INTO reading ({col_list}, ts) SELECT {col_list}, ts - make_interval(hours => :h) "  # noqa: S608
                "FROM reading WHERE factory_id = :f AND ts > now() - interval '6 hours' ON CONFLICT DO NOTHING"),
                {"h": 6 * k, "f": factory_id})
        s.commit()
        s.execute(sa.text("ANALYZE reading"))
        s.commit()
    return 0


def _time(call: Callable[[], object], runs: int, before: Callable[[], None] | None = None) -> list[float]:
    out = []
    for _ in range(runs):
        if before is not None:
            before()
        t0 = time.perf_counter()
        call()
        out.append((time.perf_counter() - t0) * 1000.0)
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--admin-url", default=os.environ.get("CARBONTRACK_TEST_PG_URL", DEFAULT_ADMIN_URL))
    p.add_argument("--runs", type=int, default=50)
    args = p.parse_args(argv)
    url = create_database(args.admin_url, prefix="ct_bench_api")
    tmp = Path(tempfile.mkdtemp(prefix="ct_bench_api_"))
    try:
        cfg = Config(database_url=url, secret_key="bench-" + "x" * 26, data_dir=tmp, embedded=False)
        t0 = time.perf_counter()
        print(init_database(cfg, demo=True), file=sys.stderr)
        load_s = time.perf_counter() - t0
        engine, Session = open_database(url)  # noqa: N806
        with Session() as s:
            factory = s.scalar(sa.select(Factory).where(Factory.code == "KGW")) or s.scalar(
                sa.select(Factory).order_by(Factory.id))
            fid = factory.id
            n_dev = s.scalar(sa.select(sa.func.count()).select_from(Device).where(Device.factory_id == fid))
            admin = s.scalar(sa.select(User).where(User.role == "admin"))
            _, token = create_token(s, admin, "bench")
            s.commit()
        _fill_day(Session, fid)
        now = utcnow()
        today = local_date(now, DEFAULT_TZ)
        day = today - timedelta(days=1)
        start, end = local_day_bounds_utc(day, DEFAULT_TZ)
        month = add_months(month_start(today), -1)
        with Session() as s:
            n_day = s.scalar(sa.select(sa.func.count()).select_from(Reading).where(
                Reading.factory_id == fid, Reading.ts >= start, Reading.ts < end))
            n_all = s.scalar(sa.select(sa.func.count()).select_from(Reading))
        app = create_app(cfg, Session)
        client = app.server.test_client()
        headers = {"Authorization": f"Bearer {token}"}

        def getter(path: str) -> Callable[[], object]:
            def call() -> object:
                resp = client.get(path, headers=headers)
                assert resp.status_code == 200, (path, resp.status_code, resp.get_data(as_text=True)[:300])
                return resp
            return call

        q_day = f"start={quote(start.isoformat())}&end={quote(end.isoformat())}&page_size=5000"
        cases = [
            (f"factory-month inventory, cold (`/factories/{fid}/inventories?first={month:%Y-%m}&last={month:%Y-%m}`)",
             getter(f"/api/v1/factories/{fid}/inventories?first={month:%Y-%m}&last={month:%Y-%m}"), INVENTORY_CACHE.clear),
            ("factory-month inventory, warm", getter(f"/api/v1/factories/{fid}/inventories?first={month:%Y-%m}&last={month:%Y-%m}"), None),
            (f"network month, 67 factories, cold (`/inventories?month={month:%Y-%m}`)",
             getter(f"/api/v1/inventories?month={month:%Y-%m}"), INVENTORY_CACHE.clear),
            ("network month, warm", getter(f"/api/v1/inventories?month={month:%Y-%m}"), None),
            (f"a day of readings, JSON (`/factories/{fid}/readings`, {n_day} rows)", getter(f"/api/v1/factories/{fid}/readings?{q_day}"), None),
            (f"a day of readings, CSV ({n_day} rows)", getter(f"/api/v1/factories/{fid}/readings.csv?{q_day}"), None),
        ]
        for _, call, before in cases:  # warm-up: imports, first connections
            if before:
                before()
            call()
        print(f"Machine: {platform.node()} ({os.cpu_count()} cores), Python {platform.python_version()}; "
              f"demo load {load_s:.0f} s; {n_all:,} raw readings in the database; factory {factory.code} "
              f"({n_dev} nodes), day {day}, month {month:%Y-%m}; {args.runs} runs each\n")
        print("| request | median | p95 | target |")
        print("|---|---|---|---|")
        worst = 0.0
        for label, call, before in cases:
            times = _time(call, args.runs, before)
            p95 = _p95(times)
            target = "≤ 200 ms" if "factory-month" in label or "readings, JSON" in label else ""
            if target:
                worst = max(worst, p95)
            print(f"| {label} | {statistics.median(times):.0f} ms | {p95:.0f} ms | {target} |")
        print(f"\nworst p95 against the 200 ms target: {worst:.0f} ms ({'met' if worst <= P95_TARGET_MS else 'NOT met'})")
        engine.dispose()
        return 0 if worst <= P95_TARGET_MS else 1
    finally:
        drop_database(url, args.admin_url)


if __name__ == "__main__":
    sys.exit(main())

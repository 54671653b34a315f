"""Benchmark: all 67 factory workbooks + the network workbook for one month, from PostgreSQL with the demo data.

Creates a fresh PostgreSQL database, loads the demo (`carbontrack.bootstrap.init_database(..., demo=True)`),
then times `core.reporting.reports.generate_reports` for last month (the scheduler's job), reports the data
size, the split between gathering data and writing workbooks, and drops the database.

    .venv/bin/python bench/bench_reports.py [--admin-url postgresql+psycopg2://postgres@127.0.0.1:5432/postgres]
                                            [--runs 3] [--keep]
Target (issue 5): under 60 s on a 2-core machine. Then (issue 14) the annual reports of the last 12
complete months' calendar year: the network workbook alone and all 67 factories + network, and the
quarter of last month; target under 60 s for the annual network report.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.pgdb import DEFAULT_ADMIN_URL, create_database, drop_database  # noqa: E402
from carbontrack.bootstrap import init_database  # noqa: E402
from core.config import Config  # noqa: E402
from core.db import open_database  # noqa: E402
from core.models import DeviceDaily, EnergyEntry, Factory, FactoryDaily, MonthlySubmission  # noqa: E402
from core.reporting.month_data import collect_month  # noqa: E402
from core.reporting.reports import generate_reports  # noqa: E402
from core.timeutil import add_months, local_date, previous_month, utcnow  # noqa: E402

TARGET_S = 60.0


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--admin-url", default=os.environ.get("CARBONTRACK_TEST_PG_URL", DEFAULT_ADMIN_URL))
    p.add_argument("--runs", type=int, default=3, help="timed generations of the whole month")
    p.add_argument("--keep", action="store_true", help="keep the database and files")
    args = p.parse_args(argv)

    url = create_database(args.admin_url, "ct_bench_reports")
    tmp = Path(tempfile.mkdtemp(prefix="ct_bench_reports_"))
    cfg = Config(database_url=url, data_dir=tmp, secret_key="bench", embedded=False)
    try:
        t0 = time.perf_counter()
        print("loading demo data:", init_database(cfg, demo=True), flush=True)
        load_s = time.perf_counter() - t0
        engine, Session = open_database(url)
        month = previous_month(local_date(utcnow(), cfg.tz))
        with Session() as s:
            next_month = add_months(month, 1)
            sizes = {
                "factories": s.scalar(sa.select(sa.func.count()).select_from(Factory)),
                "factory_daily_rows_total": s.scalar(sa.select(sa.func.count()).select_from(FactoryDaily)),
                "device_daily_rows_month": s.scalar(sa.select(sa.func.count()).select_from(DeviceDaily)
                                                    .where(DeviceDaily.day >= month, DeviceDaily.day < next_month)),
                "submissions_month": s.scalar(sa.select(sa.func.count()).select_from(MonthlySubmission)
                                              .where(MonthlySubmission.month == month)),
                "energy_entries_total": s.scalar(sa.select(sa.func.count()).select_from(EnergyEntry)),
            }
        print("data:", sizes, flush=True)

        t = time.perf_counter()
        with Session() as s:
            collect_month(s, month, tz=cfg.tz)
        collect_s = time.perf_counter() - t

        timings = []
        for run in range(args.runs):
            t = time.perf_counter()
            result = generate_reports(Session, cfg, month, requested_by="bench")
            elapsed = time.perf_counter() - t
            timings.append(elapsed)
            size = sum(Path(r.path).stat().st_size for r in result.reports if r.path)
            print(f"run {run + 1}: {len(result.reports)} workbooks ({len(result.failed)} failed) in {elapsed:.2f} s, "
                  f"{size / 1e6:.1f} MB", flush=True)
            if result.failed:
                print("failures:", [(r.scope_key, r.error) for r in result.failed[:5]])
                return 1
        period_timings = {}
        year = date(month.year, 1, 1)
        quarter = date(month.year, (month.month - 1) // 3 * 3 + 1, 1)
        for label, kwargs in (("annual network workbook", dict(month=year, factory_codes=[], network=True,
                                                                period="year")),
                              ("annual: 67 factories + network", dict(month=year, period="year")),
                              ("quarter: 67 factories + network", dict(month=quarter, period="quarter"))):
            times = []
            for _ in range(args.runs):
                t = time.perf_counter()
                result = generate_reports(Session, cfg, requested_by="bench", **kwargs)
                times.append(time.perf_counter() - t)
                if result.failed:
                    print("failures:", [(r.scope_key, r.error) for r in result.failed[:5]])
                    return 1
            period_timings[label] = (min(times), statistics.median(times), len(result.reports))
            print(f"{label}: {len(result.reports)} workbooks, best {min(times):.2f} s, "
                  f"median {statistics.median(times):.2f} s", flush=True)
        engine.dispose()
        best, median = min(timings), statistics.median(timings)
        print(f"\nmonth {month:%Y-%m}: 67 factory workbooks + network")
        print(f"  generate_reports: best {best:.2f} s, median {median:.2f} s over {args.runs} runs "
              f"(target < {TARGET_S:.0f} s)")
        print(f"  of which gathering data (collect_month, cold-ish): {collect_s:.2f} s")
        print(f"  demo load: {load_s:.1f} s; machine: {os.cpu_count()} cores, {platform.platform()}, "
              f"Python {platform.python_version()}")
        for label, (b, m, n) in period_timings.items():
            print(f"  {label} ({year.year if 'annual' in label else quarter}): {n} workbooks, best {b:.2f} s, "
                  f"median {m:.2f} s (target < {TARGET_S:.0f} s)")
        annual_ok = period_timings["annual network workbook"][1] < TARGET_S
        return 0 if median < TARGET_S and annual_ok else 1
    finally:
        if not args.keep:
            drop_database(url, args.admin_url)
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept database {url} and files in {tmp}")


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: one alert-job run (all rules, notifications) over the 67-factory demo on PostgreSQL.

Creates a fresh PostgreSQL database, loads the demo (`carbontrack.bootstrap.init_database(..., demo=True)`),
gives every factory a CO2 mass-flow threshold and every user a phone number (SMS through the logging
sender), then times `core.alerts.jobs.run_alert_job`: the first run (alerts fire, notifications are
planned and sent) and steady-state runs (nothing changes), one per minute as the scheduler does.

    .venv/bin/python bench/bench_alerts.py [--admin-url …] [--runs 5] [--keep]
Target (issue 13): a run takes well under its one-minute period; aim < 5 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.pgdb import DEFAULT_ADMIN_URL, create_database, drop_database  # noqa: E402
from carbontrack.bootstrap import init_database  # noqa: E402
from core.alerts.jobs import run_alert_job  # noqa: E402
from core.alerts.notify import LoggingSmsSender, Senders  # noqa: E402
from core.config import Config  # noqa: E402
from core.db import open_database  # noqa: E402
from core.models import (  # noqa: E402
    Alert,
    AlertNotification,
    Device,
    DeviceHourly,
    Factory,
    FactoryAlertSetting,
    Reading,
    User,
    UserContact,
)
from core.timeutil import utcnow  # noqa: E402

TARGET_S = 5.0


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--admin-url", default=os.environ.get("CARBONTRACK_TEST_PG_URL", DEFAULT_ADMIN_URL))
    p.add_argument("--runs", type=int, default=5, help="steady-state runs after the first")
    p.add_argument("--keep", action="store_true", help="keep the database")
    args = p.parse_args(argv)

    url = create_database(args.admin_url, "ct_bench_alerts")
    tmp = Path(tempfile.mkdtemp(prefix="ct_bench_alerts_"))
    cfg = Config(database_url=url, data_dir=tmp, secret_key="bench", embedded=False)
    try:
        t0 = time.perf_counter()
        print("loading demo data:", init_database(cfg, demo=True), flush=True)
        load_s = time.perf_counter() - t0
        engine, Session = open_database(url)
        with Session() as s:
            for fid in s.scalars(sa.select(Factory.id)):
                s.add(FactoryAlertSetting(factory_id=fid, co2_kg_s_max=0.2, co2_minutes=15))
            for i, uid in enumerate(s.scalars(sa.select(User.id))):
                s.add(UserContact(user_id=uid, phone=f"+2547{i:08d}"))
            s.commit()
            sizes = {
                "factories": s.scalar(sa.select(sa.func.count()).select_from(Factory)),
                "devices": s.scalar(sa.select(sa.func.count()).select_from(Device)),
                "users": s.scalar(sa.select(sa.func.count()).select_from(User)),
                "readings": s.scalar(sa.select(sa.func.count()).select_from(Reading)),
                "device_hourly_rows": s.scalar(sa.select(sa.func.count()).select_from(DeviceHourly)),
            }
        print("data:", sizes, flush=True)
        sms = LoggingSmsSender()
        senders = Senders(sms=sms)
        now = utcnow()
        t = time.perf_counter()
        first = run_alert_job(Session, cfg, senders, now)
        first_s = time.perf_counter() - t
        with Session() as s:
            n_alerts = s.scalar(sa.select(sa.func.count()).select_from(Alert))
            by_rule = dict(s.execute(sa.select(Alert.rule, sa.func.count()).group_by(Alert.rule)).all())
            n_notes = s.scalar(sa.select(sa.func.count()).select_from(AlertNotification))
        print(f"first run: {first} in {first_s:.2f} s; {n_alerts} alerts {by_rule}; {n_notes} notifications, "
              f"{len(sms.sent)} SMS", flush=True)
        timings = []
        for run in range(args.runs):
            t = time.perf_counter()
            out = run_alert_job(Session, cfg, senders, now + timedelta(minutes=run + 1))
            timings.append(time.perf_counter() - t)
            print(f"run {run + 2}: {out.status}, fired {out.fired}, resolved {out.resolved}, sent {out.sent} "
                  f"in {timings[-1]:.2f} s", flush=True)
        engine.dispose()
        median = statistics.median(timings)
        print(f"\nalert job: first run {first_s:.2f} s, steady state best {min(timings):.2f} s, median {median:.2f} s "
              f"over {args.runs} runs (target < {TARGET_S:.0f} s)")
        print(f"  demo load: {load_s:.1f} s; machine: {os.cpu_count()} cores, {platform.platform()}, "
              f"Python {platform.python_version()}")
        return 0 if max(first_s, median) < TARGET_S else 1
    finally:
        if not args.keep:
            drop_database(url, args.admin_url)
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

"""Scheduler: the right month across the Nairobi month boundary, one report from two schedulers, retries."""

from __future__ import annotations

import multiprocessing
import threading
import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from reports_helpers import MONTH, config_for, seed_known_month

import core.reporting.reports as reports
import core.reporting.scheduler as scheduler
from core.models import JobRun, Report
from core.reporting.scheduler import (
    FINAL_RUN,
    FIRST_RUN,
    MAX_ATTEMPTS,
    cron_trigger,
    due_month,
    months_to_run,
    report_month_for,
    retry_after,
    run_monthly_job,
    start_scheduler,
)

EAT = ZoneInfo("Africa/Nairobi")
# A run on 1 Nov 2026 02:00 EAT (31 Oct 23:00 UTC) or later reports October, the month of the test data.
RUN_AT = datetime(2026, 11, 1, 1, 0, tzinfo=UTC)  # 04:00 EAT on the 1st


@pytest.mark.parametrize("now, month", [
    (datetime(2026, 11, 30, 21, 30, tzinfo=UTC), date(2026, 11, 1)),  # Dec 1 00:30 EAT
    (datetime(2026, 11, 30, 20, 59, tzinfo=UTC), date(2026, 10, 1)),  # still Nov 30, 23:59 EAT
    (datetime(2026, 12, 31, 21, 0, tzinfo=UTC), date(2026, 12, 1)),  # Jan 1 2027 00:00 EAT: year boundary
])
def test_report_month_is_the_previous_local_month(now, month):
    assert report_month_for(now, EAT) == month


def test_cron_fires_on_the_first_at_0200_nairobi_and_reports_the_month_before():
    trigger = cron_trigger(EAT)
    fire = trigger.get_next_fire_time(None, datetime(2026, 11, 30, 20, 0, tzinfo=UTC))
    assert fire.astimezone(UTC) == datetime(2026, 11, 30, 23, 0, tzinfo=UTC)  # 1 Dec 02:00 EAT
    assert report_month_for(fire, EAT) == date(2026, 11, 1)
    assert due_month(fire, EAT) == date(2026, 11, 1)
    # One minute before the run, the newest due month is still October.
    assert due_month(fire - timedelta(minutes=1), EAT) == date(2026, 10, 1)


def _job_runs(Session, job="monthly_workbooks"):
    with Session() as s:
        return s.scalars(sa.select(JobRun).where(JobRun.job == job)).all()


def test_two_schedulers_produce_one_report(Session, db_url, tmp_path):
    seed_known_month(Session)
    cfg = config_for(db_url, tmp_path)
    barrier = threading.Barrier(2)
    outcomes = []

    def tick():
        barrier.wait()
        outcomes.append(run_monthly_job(Session, cfg, now=RUN_AT))

    threads = [threading.Thread(target=tick) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(o.status for o in outcomes) == ["done", "skipped"]
    assert all(o.period == "2026-10" for o in outcomes)
    with Session() as s:
        rows = s.execute(sa.select(Report.scope_key, Report.version, Report.status)).all()
    assert sorted(rows) == [("KGW", 1, "done"), ("NETWORK", 1, "done"), ("NOD", 1, "done"), ("TST", 1, "done")]
    (run,) = _job_runs(Session)
    assert (run.job, run.period, run.status, run.attempts) == ("monthly_workbooks", "2026-10", "done", 1)
    # A later tick (catch-up check) does nothing.
    assert run_monthly_job(Session, cfg, now=RUN_AT + timedelta(hours=5)).status == "skipped"


def _process_tick(db_url: str, data_dir: str, queue) -> None:  # runs in a child process
    from pathlib import Path

    from core.config import Config
    from core.db import open_database

    engine, Session = open_database(db_url)
    cfg = Config(database_url=db_url, data_dir=Path(data_dir), secret_key="test")
    queue.put(run_monthly_job(Session, cfg, now=RUN_AT).status)
    engine.dispose()


def test_two_scheduler_processes_on_postgres_produce_one_report(pg_url, tmp_path):
    from core.db import open_database

    engine, Session = open_database(pg_url)
    seed_known_month(Session)
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_process_tick, args=(pg_url, str(tmp_path / "data"), queue)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert sorted(queue.get(timeout=5) for _ in procs) == ["done", "skipped"]
    with Session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Report)) == 4
        assert s.scalar(sa.select(sa.func.max(Report.version))) == 1
    engine.dispose()


def test_a_failed_run_is_recorded_and_retried_with_backoff(Session, db_url, tmp_path, monkeypatch):
    seed_known_month(Session)
    cfg = config_for(db_url, tmp_path)

    def broken(*args, **kwargs):
        raise ConnectionError("database went away")

    monkeypatch.setattr(scheduler, "generate_reports", broken)
    out = run_monthly_job(Session, cfg, now=RUN_AT)
    assert (out.status, out.attempts) == ("failed", 1)
    (run,) = _job_runs(Session)
    assert run.status == "failed" and run.error == "ConnectionError: database went away"
    # Before the backoff has passed, nobody retries.
    assert run_monthly_job(Session, cfg, now=RUN_AT + retry_after(1) - timedelta(seconds=1)).status == "skipped"
    monkeypatch.setattr(scheduler, "generate_reports", reports.generate_reports)
    later = run.finished_at + retry_after(1) + timedelta(seconds=1)
    out = run_monthly_job(Session, cfg, now=later, month=MONTH)
    assert (out.status, out.attempts) == ("done", 2)
    (run,) = _job_runs(Session)
    assert (run.status, run.attempts, run.error) == ("done", 2, None)


def test_retries_stop_after_max_attempts(Session, db_url, tmp_path, monkeypatch):
    seed_known_month(Session)
    cfg = config_for(db_url, tmp_path)
    monkeypatch.setattr(scheduler, "generate_reports", lambda *a, **k: 1 / 0)
    now = RUN_AT
    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert run_monthly_job(Session, cfg, now=now, month=MONTH).attempts == attempt
        now = datetime.now(UTC) + retry_after(attempt) + timedelta(seconds=1)
    assert run_monthly_job(Session, cfg, now=now + timedelta(days=1), month=MONTH).status == "skipped"
    (run,) = _job_runs(Session)
    assert (run.status, run.attempts) == ("failed", MAX_ATTEMPTS)
    assert run.error.startswith("ZeroDivisionError")


def test_start_scheduler_catches_up_at_start_and_shuts_down(sqlite_url, tmp_path):
    from core.db import open_database

    engine, Session = open_database(sqlite_url)
    seed_known_month(Session)
    cfg = config_for(sqlite_url, tmp_path)
    sched = start_scheduler(cfg, Session, clock=lambda: RUN_AT)
    try:
        assert sched.get_job("monthly_workbooks").trigger.fields[2].expressions[0].first == 1  # day=1
        assert sched.get_job("monthly_workbooks_final").trigger.fields[2].expressions[0].first == 11  # day after the 10th
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            runs = _job_runs(Session)
            if runs and runs[0].status != "running":
                break
            time.sleep(0.1)
        (run,) = _job_runs(Session)
        assert (run.period, run.status) == ("2026-10", "done")
    finally:
        sched.shutdown()
        engine.dispose()


def test_carbontrack_scheduler_catches_up_and_stops_on_sigterm(sqlite_url, tmp_path):
    import os
    import signal
    import subprocess
    import sys

    from core.db import open_database

    engine, Session = open_database(sqlite_url)
    seed_known_month(Session)
    env = dict(os.environ, CARBONTRACK_DATABASE_URL=sqlite_url, CARBONTRACK_DATA_DIR=str(tmp_path / "data"))
    env.pop("CARBONTRACK_MQTT_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "carbontrack.cli", "scheduler"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(r.status == "done" for r in _job_runs(Session)):
            time.sleep(0.2)
        (run,) = _job_runs(Session)  # the start-up catch-up ran for the due month
        assert run.status == "done"
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        engine.dispose()
    assert proc.returncode == 0, out
    assert "stopping" in out


def test_final_run_after_the_deadline_makes_a_new_version_once(Session, db_url, tmp_path):
    seed_known_month(Session)
    cfg = config_for(db_url, tmp_path)
    assert run_monthly_job(Session, cfg, now=RUN_AT).status == "done"  # 1 Nov: version 1
    with Session() as s:  # the files record the wall clock; date them to the run on 1 Nov
        s.execute(sa.update(Report).values(generated_at=RUN_AT))
        s.commit()
    # 11 Nov 02:00 EAT = 10 Nov 23:00 UTC: the day after the 10 Nov deadline, October again.
    final_at = datetime(2026, 11, 10, 23, 30, tzinfo=UTC)
    assert due_month(final_at, EAT, FINAL_RUN.day) == date(2026, 10, 1)
    assert due_month(final_at - timedelta(hours=1), EAT, FINAL_RUN.day) == date(2026, 9, 1)
    out = run_monthly_job(Session, cfg, now=final_at, job=FINAL_RUN)
    assert (out.status, out.period) == ("done", "2026-10")
    with Session() as s:
        rows = s.execute(sa.select(Report.scope_key, Report.version).where(Report.status == "done")).all()
    assert sorted(rows) == sorted((k, v) for k in ("KGW", "NETWORK", "NOD", "TST") for v in (1, 2))
    # The final run happens once per month, whatever the number of schedulers or ticks.
    assert run_monthly_job(Session, cfg, now=final_at + timedelta(hours=1), job=FINAL_RUN).status == "skipped"


def test_final_run_keeps_workbooks_made_after_the_deadline(Session, db_url, tmp_path):
    seed_known_month(Session)
    cfg = config_for(db_url, tmp_path)
    late_first = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)  # the first run only now (catch-up after downtime)
    assert run_monthly_job(Session, cfg, now=late_first, month=MONTH).status == "done"
    assert run_monthly_job(Session, cfg, now=late_first, month=MONTH, job=FINAL_RUN).status == "done"
    with Session() as s:
        versions = set(s.scalars(sa.select(Report.version)))
    assert versions == {1}


def test_catch_up_covers_every_month_since_the_last_done_run(Session, db_url, tmp_path):
    seed_known_month(Session)
    with Session() as s:
        assert months_to_run(Session, FIRST_RUN, RUN_AT, EAT) == [date(2026, 10, 1)]  # new installation
        s.add(JobRun(job=FIRST_RUN.name, period="2026-07", status="done", attempts=1))
        s.commit()
    # Down since the August run: September and October are owed on 1 Nov.
    assert months_to_run(Session, FIRST_RUN, RUN_AT, EAT) == [date(2026, 8, 1), date(2026, 9, 1), date(2026, 10, 1)]
    scheduler._safe_tick(Session, config_for(db_url, tmp_path), lambda: RUN_AT, (FIRST_RUN,))
    periods = sorted(r.period for r in _job_runs(Session) if r.status == "done")
    assert periods == ["2026-07", "2026-08", "2026-09", "2026-10"]
    assert months_to_run(Session, FIRST_RUN, RUN_AT, EAT) == []  # nothing more owed: a done month is not claimed again


# --- quarterly and annual runs (issue 14, deliverable 2) ---------------------------------------

@pytest.mark.parametrize("job, now, period", [
    # Q4 2026's run is on 11 Jan 2027 02:00 EAT (10 Jan 23:00 UTC): the day after December's deadline.
    (scheduler.QUARTER_RUN, datetime(2027, 1, 10, 23, 0, tzinfo=UTC), "2026-Q4"),
    (scheduler.QUARTER_RUN, datetime(2027, 1, 10, 22, 59, tzinfo=UTC), "2026-Q3"),
    (scheduler.QUARTER_RUN, datetime(2026, 11, 28, 12, 0, tzinfo=UTC), "2026-Q3"),
    (scheduler.YEAR_RUN, datetime(2027, 1, 10, 23, 0, tzinfo=UTC), "2026"),
    (scheduler.YEAR_RUN, datetime(2027, 1, 10, 22, 59, tzinfo=UTC), "2025"),
])
def test_quarter_and_year_are_due_the_day_after_their_last_months_deadline(job, now, period):
    assert scheduler.due_period(now, EAT, job).label == period


def test_quarter_and_year_crons_fire_after_the_period_on_the_11th():
    q = cron_trigger(EAT, scheduler.QUARTER_RUN.day, "quarter")
    fire = q.get_next_fire_time(None, datetime(2026, 11, 1, tzinfo=UTC))
    assert fire.astimezone(UTC) == datetime(2027, 1, 10, 23, 0, tzinfo=UTC)  # 11 Jan 2027 02:00 EAT
    y = cron_trigger(EAT, scheduler.YEAR_RUN.day, "year")
    fire = y.get_next_fire_time(None, datetime(2027, 1, 11, tzinfo=UTC))
    assert fire.astimezone(UTC) == datetime(2028, 1, 10, 23, 0, tzinfo=UTC)


def test_quarterly_run_makes_the_quarter_once_and_catches_up(Session, db_url, tmp_path):
    seed_known_month(Session)  # October 2026 data
    cfg = config_for(db_url, tmp_path)
    now = datetime(2027, 1, 11, 6, 0, tzinfo=UTC)
    first = run_monthly_job(Session, cfg, now=now, job=scheduler.QUARTER_RUN)
    again = run_monthly_job(Session, cfg, now=now, job=scheduler.QUARTER_RUN)
    assert (first.status, first.period, again.status) == ("done", "2026-Q4", "skipped")
    with Session() as s:
        rows = s.execute(sa.select(Report.scope_key, Report.period, Report.month, Report.version, Report.status)).all()
    assert sorted(rows) == [(code, "quarter", date(2026, 10, 1), 1, "done") for code in ("KGW", "NETWORK", "NOD", "TST")]
    # Down for two quarters: the check owes both, oldest first.
    later = datetime(2027, 7, 12, tzinfo=UTC)
    assert months_to_run(Session, scheduler.QUARTER_RUN, later, EAT) == [date(2027, 1, 1), date(2027, 4, 1)]
    assert months_to_run(Session, scheduler.YEAR_RUN, later, EAT) == [date(2026, 1, 1)]  # new: the due year only

"""The report scheduler: last month's workbooks on the 1st at 02:00 Nairobi time, exactly once;
last quarter's and last year's after the last month's submission deadline.

- A `CronTrigger(day=1, hour=2, minute=0, timezone=cfg.tz)` job produces the previous local
  month's workbooks for every factory and the network.
- A second run the day after the submission deadline (core.inventory.monthly.SUBMISSION_DUE_DAY + 1, 02:00)
  makes a new version of every workbook of that month made before the deadline, so the reports
  that count include the data factories submitted during the first days of the month.
- After a CBAM quarter (Jan-Mar, ...) and after a calendar year, on the day after the last month's
  submission deadline (the 11th of January, April, July, October at 02:00), the period's
  quarterly and annual workbooks (`core.reporting.period_workbook`), once the monthly data is in.
- A check every few minutes (and once at start) runs the same job for the month that is due:
  it catches up after downtime and retries a failed run with backoff (MAX_ATTEMPTS in all).
- Exactly one effective runner: a run first claims a `JobRun` row, unique on (job, period).
  Inserting it is the lock, with INSERT … ON CONFLICT DO NOTHING (no IntegrityError, so no
  PostgreSQL ERROR line, when another process has or had it), and only for a period not yet
  done: a done period is never claimed again. A failed or stale run is re-taken with a
  compare-and-set UPDATE, so two schedulers never both take it. The claim's `owner` is its token:
  the outcome is written only `WHERE owner = <token> AND status = 'running'`, so a run whose
  claim expired and was re-taken cannot overwrite the new owner's outcome.
- A claim is a lease of STALE_RUN: a "running" run older than that belongs to a dead process and
  is retried, or marked failed when that was its last attempt (never "running" forever).
  Inside a run, workbooks that are already done are skipped (`only_missing`), so a retry never
  produces a report twice.
Failures keep their reason in `JobRun.error` and on each failed `Report` row; HQ sees both on the
Reports page.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

import sqlalchemy as sa
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from core.config import Config
from core.inventory.monthly import SUBMISSION_DUE_DAY, due_datetime
from core.models import JobRun
from core.reporting.periods import PERIOD_MONTH, PERIOD_QUARTER, PERIOD_YEAR, Period, parse_period, period_of
from core.reporting.reports import generate_reports
from core.timeutil import add_months, iter_months, local_date, previous_month, utcnow

log = logging.getLogger(__name__)

JOB_NAME = "monthly_workbooks"
RUN_DAY, RUN_HOUR, RUN_MINUTE = 1, 2, 0  # 02:00 local on the 1st: the month's last readings are in
MAX_ATTEMPTS = 4  # first run + 3 retries
RETRY_BASE = timedelta(minutes=5)  # backoff after attempt n: 5 min x 4^(n-1) -> 5, 20, 80 min
CHECK_EVERY = timedelta(minutes=5)  # catch-up / retry check
MAX_CATCH_UP_MONTHS = 12  # a scheduler down for longer than a year needs a person, not a backlog
STALE_RUN = timedelta(hours=3)  # a "running" claim this old belongs to a dead process
MISFIRE_GRACE_S = 6 * 3600  # a cron fire missed by < 6 h (busy or paused) still runs; later, the check catches up

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class MonthlyJob:
    """A monthly run of last month's workbooks: its name (the JobRun lock key) and its day."""

    name: str
    day: int
    after_deadline: bool  # regenerate workbooks made before the month's submission deadline
    period: str = PERIOD_MONTH  # month, quarter or year: what one run reports on
    max_catch_up: int = 12


FIRST_RUN = MonthlyJob(JOB_NAME, RUN_DAY, after_deadline=False)
FINAL_RUN = MonthlyJob(f"{JOB_NAME}_final", SUBMISSION_DUE_DAY + 1, after_deadline=True)
# A quarter's or a year's report waits for its last month's data: the day after that month's deadline.
QUARTER_RUN = MonthlyJob("quarterly_workbooks", SUBMISSION_DUE_DAY + 1, after_deadline=True, period=PERIOD_QUARTER,
                         max_catch_up=4)
YEAR_RUN = MonthlyJob("annual_workbooks", SUBMISSION_DUE_DAY + 1, after_deadline=True, period=PERIOD_YEAR,
                      max_catch_up=2)
JOBS = (FIRST_RUN, FINAL_RUN, QUARTER_RUN, YEAR_RUN)


@dataclass(frozen=True)
class RunOutcome:
    """What one scheduler tick did for a period: done, failed or skipped (someone else has it)."""

    status: str
    period: str
    attempts: int = 0
    detail: str = ""


def report_month_for(now: datetime, tz: tzinfo) -> date:
    """The month a run at `now` reports on: the local month before the one `now` falls in."""
    return previous_month(local_date(now, tz))


def scheduled_run_at(month_of_run: date, tz: tzinfo, day: int = RUN_DAY) -> datetime:
    """The local instant of the scheduled run in the month `month_of_run` (`day`, 02:00)."""
    return datetime(month_of_run.year, month_of_run.month, day, RUN_HOUR, RUN_MINUTE, tzinfo=tz)


def due_month(now: datetime, tz: tzinfo, day: int = RUN_DAY) -> date:
    """The newest month whose scheduled run (on `day`) has passed at `now` (what catch-up makes sure of)."""
    local = now.astimezone(tz)
    this_month = local.date().replace(day=1)
    if local >= scheduled_run_at(this_month, tz, day):
        return add_months(this_month, -1)
    return add_months(this_month, -2)


def cron_trigger(tz: tzinfo, day: int = RUN_DAY, period: str = PERIOD_MONTH) -> CronTrigger:
    """The job's trigger: `day` (the 1st by default), 02:00 local, every month / after each quarter / in January."""
    months = {PERIOD_MONTH: "*", PERIOD_QUARTER: "1,4,7,10", PERIOD_YEAR: "1"}[period]
    return CronTrigger(month=months, day=day, hour=RUN_HOUR, minute=RUN_MINUTE, timezone=tz)


def due_period(now: datetime, tz: tzinfo, job: MonthlyJob) -> Period:
    """The newest period of the job's kind whose run (on `job.day` of the month after it ends) has passed."""
    if job.period == PERIOD_MONTH:
        return Period(PERIOD_MONTH, due_month(now, tz, job.day))
    local = now.astimezone(tz)
    current = period_of(job.period, local.date())
    previous = Period(job.period, add_months(current.start, -len(current.months)))
    if local >= scheduled_run_at(current.start, tz, job.day):
        return previous
    return Period(job.period, add_months(previous.start, -len(previous.months)))


def retry_after(attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th failed attempt before the next."""
    return RETRY_BASE * (4 ** max(0, attempts - 1))


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _insert_claim(s: Session, job: str, period: str, owner: str, now: datetime) -> bool:
    """INSERT the claim unless (job, period) exists; True if this process inserted it."""
    values = {"job": job, "period": period, "status": "running", "owner": owner, "attempts": 1, "started_at": now}
    dialect = s.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        stmt = insert(JobRun).values(**values).on_conflict_do_nothing(index_elements=["job", "period"])
        return bool(s.execute(stmt).rowcount)
    try:  # other databases: the unique key still decides, at the cost of an error line
        with s.begin_nested():
            s.add(JobRun(**values))
        return True
    except IntegrityError:
        return False


def claim_run(session_factory: sessionmaker[Session], period: str, now: datetime, owner: str,
              job: str = JOB_NAME) -> JobRun | None:
    """Take the (job, period) run for this process, or return None if another has or had it (or it is done)."""
    with session_factory() as s:
        run = s.scalars(sa.select(JobRun).where(JobRun.job == job, JobRun.period == period)).one_or_none()
        if run is None:
            inserted = _insert_claim(s, job, period, owner, now)
            s.commit()
            run = s.scalars(sa.select(JobRun).where(JobRun.job == job, JobRun.period == period)).one_or_none()
            if inserted:
                return run
            if run is None:
                return None
        if run.status == "done":
            return None
        retry = (run.status == "failed" and run.attempts < MAX_ATTEMPTS
                 and (run.finished_at or run.started_at) + retry_after(run.attempts) <= now)
        expired = run.status == "running" and run.started_at < now - STALE_RUN
        if expired and run.attempts >= MAX_ATTEMPTS:
            # The process running the last attempt died: record it as failed for HQ, once.
            s.execute(
                sa.update(JobRun)
                .where(JobRun.id == run.id, JobRun.status == "running", JobRun.owner == run.owner)
                .values(status="failed", finished_at=now,
                        error=f"attempt {run.attempts} of {MAX_ATTEMPTS} stopped without an outcome "
                              f"(its process ended; lease of {STALE_RUN} expired); no retries left")
                .execution_options(synchronize_session=False))
            s.commit()
            return None
        if not (retry or expired):
            return None
        taken = s.execute(
            sa.update(JobRun)
            .where(JobRun.id == run.id, JobRun.status == run.status, JobRun.attempts == run.attempts)
            .values(status="running", owner=owner, attempts=run.attempts + 1, started_at=now, finished_at=None)
            .execution_options(synchronize_session=False)
        ).rowcount
        s.commit()
        if not taken:
            return None
        s.refresh(run)
        return run


def run_monthly_job(session_factory: sessionmaker[Session], cfg: Config, now: datetime | None = None,
                    month: date | None = None, job: MonthlyJob = FIRST_RUN) -> RunOutcome:
    """Produce the due month's workbooks if no other scheduler has; record the outcome on the JobRun."""
    now = now or utcnow()
    month = month or due_period(now, cfg.tz, job).start
    the_period = Period(job.period, month)
    period = the_period.label
    run = claim_run(session_factory, period, now, _owner(), job.name)
    if run is None:
        return RunOutcome("skipped", period)
    log.info("scheduler: producing %s workbooks (attempt %d)", period, run.attempts)
    error = None
    try:
        fresh_after = due_datetime(the_period.last_month, cfg.tz) if job.after_deadline else None
        result = generate_reports(session_factory, cfg, month, requested_by="scheduler", only_missing=True, now=now,
                                  fresh_after=fresh_after, period=job.period)
        if result.failed:
            details = "; ".join(f"{r.scope_key}: {r.error}" for r in result.failed[:10])
            error = f"{len(result.failed)} of {len(result.reports)} workbooks failed: {details}"
        detail = f"{len(result.reports)} workbooks"
    except Exception as exc:  # recorded and retried, never lost in a thread
        log.exception("scheduler: %s run failed", period)
        error = f"{type(exc).__name__}: {exc}"
        detail = ""
    with session_factory() as s:
        # Only the claim's owner records the outcome: if our lease expired and another process
        # re-took the run, its outcome stands.
        recorded = s.execute(sa.update(JobRun).where(
            JobRun.id == run.id, JobRun.owner == run.owner, JobRun.status == "running").values(
            status="failed" if error else "done", error=error[:4000] if error else None, finished_at=utcnow())
            .execution_options(synchronize_session=False)).rowcount
        s.commit()
    if not recorded:
        log.warning("scheduler: %s attempt %d finished after its claim was taken over; outcome not recorded",
                    period, run.attempts)
        return RunOutcome("skipped", period, run.attempts, "claim taken over by another process")
    if error:
        retry = "will retry" if run.attempts < MAX_ATTEMPTS else "no retries left"
        log.error("scheduler: %s attempt %d failed (%s): %s", period, run.attempts, retry, error)
        return RunOutcome("failed", period, run.attempts, error)
    log.info("scheduler: %s done (%s)", period, detail)
    return RunOutcome("done", period, run.attempts, detail)


def months_to_run(session_factory: sessionmaker[Session], job: MonthlyJob, now: datetime, tz: tzinfo) -> list[date]:
    """Months the job still owes at `now`: every month since its last done run, up to the due month.

    A scheduler that was down across several month boundaries catches up on each (at most
    MAX_CATCH_UP_MONTHS); a new installation starts with the due month only.
    """
    due = due_period(now, tz, job)
    with session_factory() as s:
        last = s.scalar(sa.select(sa.func.max(JobRun.period)).where(JobRun.job == job.name, JobRun.status == "done"))
    if last is None:
        return [due.start]
    # A done period is never asked for again (it was, every CHECK_EVERY, and each claim failed
    # with an IntegrityError: ~576 PostgreSQL ERROR lines a day).
    if job.period == PERIOD_MONTH:
        first = add_months(date(int(last[:4]), int(last[5:7]), 1), 1)
        months = list(iter_months(first, due.start)) if first <= due.start else []
        return months[-min(job.max_catch_up, MAX_CATCH_UP_MONTHS):]
    periods = []
    p = parse_period(last).next()
    while p <= due:
        periods.append(p.start)
        p = p.next()
    return periods[-job.max_catch_up:]


def _safe_tick(session_factory: sessionmaker[Session], cfg: Config, clock: Clock,
               jobs: tuple[MonthlyJob, ...] = JOBS) -> None:
    for job in jobs:
        try:
            now = clock()
            for month in months_to_run(session_factory, job, now, cfg.tz):
                run_monthly_job(session_factory, cfg, now=now, month=month, job=job)
        except Exception:  # a database outage must not kill the scheduler thread
            log.exception("scheduler: %s tick failed", job.name)


def start_scheduler(cfg: Config, session_factory: sessionmaker[Session], clock: Clock | None = None,
                    check_every: timedelta = CHECK_EVERY) -> BackgroundScheduler:
    """Start the background scheduler (monthly cron + catch-up/retry check, run once now); call `.shutdown()`."""
    clock = clock or utcnow
    sched = BackgroundScheduler(timezone=cfg.tz, job_defaults={"coalesce": True, "max_instances": 1,
                                                                "misfire_grace_time": MISFIRE_GRACE_S})
    args = (session_factory, cfg, clock)
    for job in JOBS:
        sched.add_job(_safe_tick, cron_trigger(cfg.tz, job.day, job.period), args=(*args, (job,)), id=job.name,
                      name=f"{job.period} workbooks, day {job.day}")
    # next_run_time is on APScheduler's own clock (the wall clock), not `clock`: "run once now" must
    # mean now for APScheduler even when tests move the business clock to another date.
    sched.add_job(_safe_tick, IntervalTrigger(seconds=check_every.total_seconds(), timezone=cfg.tz), args=args,
                  id=f"{JOB_NAME}_check", name="catch-up and retry", next_run_time=datetime.now(cfg.tz))
    sched.start()
    log.info("scheduler started: monthly workbooks on days %s at %02d:%02d %s",
             " and ".join(str(j.day) for j in JOBS), RUN_HOUR, RUN_MINUTE, cfg.tz)
    return sched


def run_scheduler_forever(cfg: Config) -> int:
    """`carbontrack scheduler`: run until SIGTERM or Ctrl-C, then stop cleanly."""
    from core.db import open_database

    engine, session_factory = open_database(cfg.database_url)
    stop = threading.Event()

    def _stop(signum, _frame) -> None:  # noqa: ANN001
        log.info("scheduler: signal %d, stopping", signum)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _stop)
    sched = start_scheduler(cfg, session_factory)
    try:
        while not stop.wait(3600):
            pass
    finally:
        sched.shutdown(wait=True)
        engine.dispose()
    return 0

"""The alert job: every minute, evaluate the rules and send what is owed — exactly once across schedulers.

Each run first claims a `JobRun` row for (`alert_rules`, the UTC minute), as the report
scheduler does for its months (core.reporting.scheduler.claim_run): inserting it is the lock, so
of two scheduler processes ticking in the same minute one evaluates and the other skips. The
notification rows carry their own unique key and compare-and-set claim (core.alerts.notify),
so even runs in different minutes never send a message twice. Claims older than a few days are
deleted as the job goes.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.orm import Session, sessionmaker

from core.alerts import notify, state
from core.config import Config
from core.models import JobRun
from core.reporting.scheduler import claim_run
from core.timeutil import utcnow

log = logging.getLogger(__name__)
JOB_NAME = "alert_rules"
EVERY = timedelta(minutes=1)
KEEP_CLAIMS = timedelta(days=3)


@dataclass(frozen=True)
class AlertRunOutcome:
    """What one alert tick did."""

    status: str  # done / skipped / failed
    period: str
    fired: int = 0
    resolved: int = 0
    sent: int = 0


def senders_from_config(cfg: Config, sms: notify.SmsSender | None = None) -> notify.Senders:
    """The mailer from CARBONTRACK_SMTP_URL (if set) and an SMS sender (logging by default)."""
    mailer = notify.SmtpMailer(cfg.smtp_url, cfg.mail_from) if cfg.smtp_url else None
    return notify.Senders(mailer=mailer, sms=sms or notify.LoggingSmsSender(), public_url=cfg.public_url)


def run_alert_job(session_factory: sessionmaker[Session], cfg: Config, senders: notify.Senders,
                  now: datetime | None = None, owner: str | None = None) -> AlertRunOutcome:
    """Claim this minute's run; if ours, evaluate rules, plan and deliver notifications."""
    import os
    import socket
    import uuid

    now = now or utcnow()
    period = f"{now:%Y-%m-%dT%H:%M}"
    owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    run = claim_run(session_factory, period, now, owner, JOB_NAME)
    if run is None:
        return AlertRunOutcome("skipped", period)
    error = None
    fired = resolved = sent = 0
    try:
        with session_factory() as s:
            ev = state.evaluate(s, now, cfg.tz)
            fired, resolved = len(ev.fired), len(ev.resolved)
            notify.plan(s, now, cfg.tz)
            sent = notify.deliver(s, senders, now, cfg.tz)
            s.execute(sa.delete(JobRun).where(JobRun.job == JOB_NAME, JobRun.started_at < now - KEEP_CLAIMS))
            s.commit()
    except Exception as exc:  # logged and recorded; the next minute tries again
        log.exception("alerts: run %s failed", period)
        error = f"{type(exc).__name__}: {exc}"[:4000]
    with session_factory() as s:
        s.execute(sa.update(JobRun).where(JobRun.id == run.id).values(
            status="failed" if error else "done", error=error, finished_at=utcnow()))
        s.commit()
    return AlertRunOutcome("failed" if error else "done", period, fired, resolved, sent)


def start_alert_scheduler(cfg: Config, session_factory: sessionmaker[Session],
                          senders: notify.Senders | None = None, every: timedelta = EVERY,
                          clock: Callable[[], datetime] | None = None) -> BackgroundScheduler:
    """Start the background job that runs `run_alert_job` every minute (and once now); call `.shutdown()`."""
    senders = senders or senders_from_config(cfg)
    clock = clock or utcnow

    def _tick() -> None:
        try:
            run_alert_job(session_factory, cfg, senders, clock())
        except Exception:  # a database outage must not kill the scheduler thread
            log.exception("alerts: tick failed")

    sched = BackgroundScheduler(timezone=cfg.tz, job_defaults={"coalesce": True, "max_instances": 1})
    sched.add_job(_tick, IntervalTrigger(seconds=every.total_seconds(), timezone=cfg.tz), id=JOB_NAME,
                  name="alert rules and notifications", next_run_time=datetime.now(cfg.tz))
    sched.start()
    log.info("alert scheduler started: rules every %s", every)
    return sched


@contextlib.contextmanager
def alert_scheduler_running(cfg: Config) -> Iterator[BackgroundScheduler]:
    """Run the alert scheduler (its own engine) for the duration of the block (`carbontrack scheduler`)."""
    from core.db import open_database

    engine, session_factory = open_database(cfg.database_url)
    sched = start_alert_scheduler(cfg, session_factory)
    try:
        yield sched
    finally:
        sched.shutdown(wait=True)
        engine.dispose()

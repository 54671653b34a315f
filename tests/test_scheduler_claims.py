"""Scheduler claims (issue 18): a done period is never claimed again (no IntegrityError), the
outcome is written only by the claim's owner, and a run killed on its last attempt is failed
when its lease expires instead of staying "running" forever. SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from reports_helpers import config_for

import core.reporting.scheduler as scheduler
from core.models import JobRun
from core.reporting.scheduler import FIRST_RUN, MAX_ATTEMPTS, STALE_RUN, claim_run, run_monthly_job

EAT = ZoneInfo("Africa/Nairobi")
RUN_AT = datetime(2026, 11, 1, 1, 0, tzinfo=UTC)  # 04:00 EAT on 1 Nov: October is due
PERIOD = "2026-10"


@pytest.fixture
def db_errors(engine):
    """Every error the database raised through this engine (an IntegrityError is one)."""
    seen: list[str] = []

    @sa.event.listens_for(engine, "handle_error")
    def _record(ctx) -> None:  # noqa: ANN001
        seen.append(type(ctx.original_exception).__name__)

    yield seen
    sa.event.remove(engine, "handle_error", _record)


def _run(Session):  # noqa: ANN001, ANN202, N803
    with Session() as s:
        return s.scalars(sa.select(JobRun).where(JobRun.job == FIRST_RUN.name, JobRun.period == PERIOD)).one()


def test_a_done_period_is_not_claimed_again_and_raises_no_database_error(Session, db_url, tmp_path, db_errors,
                                                                          monkeypatch):
    with Session() as s:
        s.add(JobRun(job=FIRST_RUN.name, period=PERIOD, status="done", owner="old", attempts=1,
                     started_at=RUN_AT, finished_at=RUN_AT))
        s.commit()
    monkeypatch.setattr(scheduler, "generate_reports", lambda *a, **k: pytest.fail("a done month ran again"))
    cfg = config_for(db_url, tmp_path)
    for minutes in (0, 5, 10):  # the catch-up check every 5 minutes
        scheduler._safe_tick(Session, cfg, lambda m=minutes: RUN_AT + timedelta(minutes=m), (FIRST_RUN,))
    assert claim_run(Session, PERIOD, RUN_AT, "me", FIRST_RUN.name) is None
    assert run_monthly_job(Session, cfg, now=RUN_AT, job=FIRST_RUN).status == "skipped"
    assert db_errors == []
    assert _run(Session).status == "done"


def test_a_claim_on_a_free_period_inserts_once_without_errors(Session, db_errors):
    first = claim_run(Session, PERIOD, RUN_AT, "a", FIRST_RUN.name)
    second = claim_run(Session, PERIOD, RUN_AT, "b", FIRST_RUN.name)
    assert first is not None and first.owner == "a" and second is None
    assert db_errors == []


def test_the_outcome_is_recorded_only_by_the_claims_owner(Session, db_url, tmp_path, monkeypatch):
    """A run outlives its lease; another scheduler re-takes it; the first one's late outcome is dropped."""
    cfg = config_for(db_url, tmp_path)
    taken_over = {}

    def slow_then_fails(*args, **kwargs):
        # While this run works, its lease expires and another process takes the period.
        taken_over["run"] = claim_run(Session, PERIOD, RUN_AT + STALE_RUN + timedelta(minutes=1), "other",
                                      FIRST_RUN.name)
        raise ConnectionError("database went away")

    monkeypatch.setattr(scheduler, "generate_reports", slow_then_fails)
    out = run_monthly_job(Session, cfg, now=RUN_AT, job=FIRST_RUN)
    assert taken_over["run"] is not None and taken_over["run"].attempts == 2
    assert out.status == "skipped"
    run = _run(Session)
    assert (run.status, run.owner, run.attempts, run.error) == ("running", "other", 2, None)


def test_a_run_killed_on_its_last_attempt_is_failed_when_its_lease_expires(Session):
    started = RUN_AT - STALE_RUN - timedelta(minutes=1)
    with Session() as s:
        s.add(JobRun(job=FIRST_RUN.name, period=PERIOD, status="running", owner="dead:1:abc", attempts=MAX_ATTEMPTS,
                     started_at=started))
        s.commit()
    assert claim_run(Session, PERIOD, RUN_AT - timedelta(hours=1), "me", FIRST_RUN.name) is None  # lease still on
    assert _run(Session).status == "running"
    assert claim_run(Session, PERIOD, RUN_AT, "me", FIRST_RUN.name) is None
    run = _run(Session)
    assert run.status == "failed" and run.attempts == MAX_ATTEMPTS
    assert "lease" in run.error and "no retries left" in run.error
    assert claim_run(Session, PERIOD, RUN_AT + timedelta(days=1), "me", FIRST_RUN.name) is None  # stays failed


def test_a_run_killed_before_its_last_attempt_is_retried_after_its_lease(Session):
    with Session() as s:
        s.add(JobRun(job=FIRST_RUN.name, period=PERIOD, status="running", owner="dead:1:abc", attempts=1,
                     started_at=RUN_AT - STALE_RUN - timedelta(minutes=1)))
        s.commit()
    run = claim_run(Session, PERIOD, RUN_AT, "me", FIRST_RUN.name)
    assert run is not None and (run.owner, run.attempts, run.status) == ("me", 2, "running")

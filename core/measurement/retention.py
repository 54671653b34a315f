"""Retention of the tables that grow forever, and the monthly partitions of `reading`.

Contract: retention never changes a total. Rollups (hourly and daily, device and factory) are
never pruned, so every chart, report and leaderboard reads the same numbers before and after;
only raw rows go. After `prune_raw_readings` the instant before which raw readings are gone is
stored in `retention_horizon` ("reading"), and `rebuild_rollups` never rebuilds a day that raw
data no longer fully explains.

PostgreSQL: `reading` is range-partitioned by *local* month on `ts` (migration
0011_reading_partitions): a partition's bounds are local midnights in CARBONTRACK_TZ, so dropping
whole partitions drops whole local days and months, the units rollups and reports use. A default
partition catches any reading whose month has no partition yet, so ingest never fails for lack
of one; `ensure_partitions` creates the months ahead (and moves rows the default partition holds
for them). It runs with `carbontrack partitions` and `carbontrack retention`: run either daily.
SQLite: nothing is partitioned; retention deletes rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.audit import record_audit
from core.models import AuditLog, ListenerStat, Reading, RejectedMessage, RetentionHorizon
from core.timeutil import DEFAULT_TZ, add_months, local_month_bounds_utc, utcnow

PARTITION_PREFIX = "reading_p"
DEFAULT_PARTITION = "reading_default"
_PARTITION_RE = re.compile(r"^reading_p\d{4}_\d{2}$")
_BOUND_RE = re.compile(r"FROM \('([^']+)'\) TO \('([^']+)'\)")
# Months of partitions kept ready after the current one.
AHEAD_MONTHS = 3
# Rows deleted per statement where rows are deleted (SQLite, leftovers): short transactions.
DELETE_CHUNK = 50_000
# Defaults of `carbontrack retention` (docs/operations.md "Retention and partitions").
REJECTED_KEEP_DAYS = 90  # long enough to investigate a node's bad payloads, then gone
LISTENER_STAT_KEEP_DAYS = 7  # rows of listeners that stopped reporting


def is_partition_name(name: str | None) -> bool:
    """Whether `name` is one of `reading`'s partitions (not part of the model)."""
    return bool(name) and (name == DEFAULT_PARTITION or bool(_PARTITION_RE.match(name)))


def alembic_include_name(name: str | None, type_: str, parent_names: dict) -> bool:
    """Alembic `include_name` hook: leave the partitions of `reading` out of autogenerate."""
    return not (type_ == "table" and is_partition_name(name))


def partition_name(month: date) -> str:
    """The partition of the local month starting on `month`."""
    return f"{PARTITION_PREFIX}{month:%Y_%m}"


def _naive(dt: datetime) -> datetime:
    return dt if dt.tzinfo is None else dt.astimezone(UTC).replace(tzinfo=None)


def _month_bounds(month: date, tz: tzinfo) -> tuple[datetime, datetime]:
    lo, hi = local_month_bounds_utc(month, tz)
    return _naive(lo), _naive(hi)


def _local_month(dt: datetime, tz: tzinfo) -> date:
    return _naive(dt).replace(tzinfo=UTC).astimezone(tz).date().replace(day=1)


@dataclass(frozen=True)
class Partition:
    name: str
    lo: datetime  # naive UTC, inclusive
    hi: datetime  # naive UTC, exclusive


def reading_is_partitioned(session: Session) -> bool:
    """Whether `reading` is a partitioned table (PostgreSQL after migration 0011)."""
    if session.get_bind().dialect.name != "postgresql":
        return False
    return bool(session.scalar(sa.text("SELECT relkind = 'p' FROM pg_class WHERE oid = 'reading'::regclass")))


def list_partitions(session: Session) -> list[Partition]:
    """The monthly partitions of `reading` with their bounds, oldest first (not the default one)."""
    rows = session.execute(sa.text(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'reading'::regclass"
    )).all()
    out = []
    for name, bound in rows:
        m = _BOUND_RE.search(bound or "")
        if m:
            out.append(Partition(name, datetime.fromisoformat(m.group(1)), datetime.fromisoformat(m.group(2))))
    return sorted(out, key=lambda p: p.lo)


def ensure_partitions(session: Session, ahead_months: int = AHEAD_MONTHS, now: datetime | None = None,
                      tz: tzinfo = DEFAULT_TZ) -> list[str]:
    """Create the partitions of the current local month and `ahead_months` after it; return the new ones.

    A month whose readings already sit in the default partition gets its partition built from
    them (copied, deleted from the default, attached). No-op on a non-partitioned table. The
    caller commits.
    """
    if not reading_is_partitioned(session):
        return []
    now = _naive(now or utcnow())
    existing = {p.name for p in list_partitions(session)}
    created = []
    # A writer waits while the parent is locked for the DDL: never queue behind a long one.
    session.execute(sa.text("SET LOCAL lock_timeout = '10s'"))
    month = _local_month(now, tz)
    for i in range(ahead_months + 1):
        m = add_months(month, i)
        name = partition_name(m)
        if name in existing:
            continue
        lo, hi = _month_bounds(m, tz)
        bounds = f"FROM ('{lo:%Y-%m-%d %H:%M:%S}') TO ('{hi:%Y-%m-%d %H:%M:%S}')"
        params = {"lo": lo, "hi": hi}
        waiting = session.scalar(
            sa.text(f"SELECT count(*) FROM {DEFAULT_PARTITION} WHERE ts >= :lo AND ts < :hi"), params)
        if waiting:
            session.execute(sa.text(f"CREATE TABLE {name} (LIKE reading INCLUDING DEFAULTS INCLUDING STORAGE)"))
            session.execute(sa.text(
                f"WITH moved AS (DELETE FROM {DEFAULT_PARTITION} WHERE ts >= :lo AND ts < :hi RETURNING *) "
                f"INSERT INTO {name} SELECT * FROM moved"), params)
            session.execute(sa.text(f"ALTER TABLE reading ATTACH PARTITION {name} FOR VALUES {bounds}"))
        else:
            session.execute(sa.text(f"CREATE TABLE {name} PARTITION OF reading FOR VALUES {bounds}"))
        created.append(name)
    return created


def raw_cut(keep_raw_months: int, now: datetime | None = None, tz: tzinfo = DEFAULT_TZ) -> datetime:
    """The instant (naive UTC) before which raw readings go when keeping `keep_raw_months` local months.

    The current month counts: 1 keeps only this month, 13 this month and the 12 before it.
    """
    if keep_raw_months < 1:
        raise ValueError("keep at least one month of raw readings")
    first_kept = add_months(_local_month(now or utcnow(), tz), -(keep_raw_months - 1))
    return _month_bounds(first_kept, tz)[0]


def set_horizon(session: Session, data: str, kept_from: datetime) -> None:
    """Record that `data` holds no rows before `kept_from` any more (the horizon only moves forward)."""
    kept_from = _naive(kept_from)
    row = session.get(RetentionHorizon, data)
    if row is None:
        session.add(RetentionHorizon(data=data, kept_from=kept_from, updated_at=utcnow()))
    elif _naive(row.kept_from) < kept_from:
        row.kept_from = kept_from
        row.updated_at = utcnow()


def _delete_before(session: Session, table: sa.Table, column: sa.Column, cut: datetime) -> int:
    """Delete rows with column < cut in chunks of DELETE_CHUNK (by primary key); return how many."""
    pk = next(iter(table.primary_key.columns))
    total = 0
    while True:
        ids = sa.select(pk).where(column < cut).limit(DELETE_CHUNK).scalar_subquery()
        n = session.execute(sa.delete(table).where(pk.in_(ids))).rowcount or 0
        total += n
        if n < DELETE_CHUNK:
            return total


def prune_raw_readings(session: Session, cut: datetime) -> tuple[list[str], int]:
    """Drop raw readings before `cut`: whole partitions on PostgreSQL, rows otherwise; return (partitions, rows).

    Rollups are not touched. The caller commits.
    """
    cut = _naive(cut)
    dropped: list[str] = []
    if reading_is_partitioned(session):
        session.execute(sa.text("SET LOCAL lock_timeout = '10s'"))
        for p in list_partitions(session):
            if p.hi <= cut:
                session.execute(sa.text(f"DROP TABLE {p.name}"))
                dropped.append(p.name)
        # Late readings of dropped months in the default partition, or a cut inside a partition.
        rows = session.execute(sa.text("DELETE FROM reading WHERE ts < :cut"), {"cut": cut}).rowcount or 0
    else:
        rows = _delete_before(session, Reading.__table__, Reading.__table__.c.ts, cut)
    set_horizon(session, "reading", cut)
    return dropped, rows


@dataclass
class RetentionPolicy:
    """What `apply_retention` keeps; None keeps everything of that kind."""

    keep_raw_months: int | None = None
    rejected_days: int | None = REJECTED_KEEP_DAYS
    audit_days: int | None = None  # the audit trail is kept unless asked
    listener_stat_days: int | None = LISTENER_STAT_KEEP_DAYS
    ahead_months: int = AHEAD_MONTHS


@dataclass
class RetentionResult:
    partitions_created: list[str] = field(default_factory=list)
    partitions_dropped: list[str] = field(default_factory=list)
    readings_deleted: int = 0
    raw_kept_from: datetime | None = None
    rejected_deleted: int = 0
    audit_deleted: int = 0
    listener_stats_deleted: int = 0

    def summary(self) -> str:
        """One line per kind, for the command's output."""
        lines = []
        if self.partitions_created:
            lines.append(f"partitions created: {', '.join(self.partitions_created)}")
        if self.raw_kept_from is not None:
            lines.append(f"raw readings before {self.raw_kept_from:%Y-%m-%d %H:%M} UTC dropped: "
                         f"{len(self.partitions_dropped)} partition(s) {', '.join(self.partitions_dropped)}"
                         f"{' ' if self.partitions_dropped else ''}and {self.readings_deleted:,} row(s); rollups kept")
        lines.append(f"rejected messages deleted: {self.rejected_deleted:,}")
        lines.append(f"audit rows deleted: {self.audit_deleted:,}")
        lines.append(f"listener stat rows deleted: {self.listener_stats_deleted:,}")
        return "\n".join(lines)


def apply_retention(session: Session, policy: RetentionPolicy, now: datetime | None = None,
                    tz: tzinfo = DEFAULT_TZ) -> RetentionResult:
    """Create partitions ahead and prune every table as `policy` says. The caller commits."""
    now = _naive(now or utcnow())
    result = RetentionResult()
    result.partitions_created = ensure_partitions(session, policy.ahead_months, now, tz)
    if policy.keep_raw_months is not None:
        cut = raw_cut(policy.keep_raw_months, now, tz)
        result.partitions_dropped, result.readings_deleted = prune_raw_readings(session, cut)
        result.raw_kept_from = cut
    if policy.rejected_days is not None:
        cut = now - timedelta(days=policy.rejected_days)
        t = RejectedMessage.__table__
        result.rejected_deleted = _delete_before(session, t, t.c.received_at, cut)
        set_horizon(session, "rejected_message", cut)
    if policy.listener_stat_days is not None:
        # A running listener rewrites its row every few seconds: an old row is a stopped process.
        cut = now - timedelta(days=policy.listener_stat_days)
        result.listener_stats_deleted = session.execute(
            sa.delete(ListenerStat).where(ListenerStat.updated_at < cut)).rowcount or 0
    if policy.audit_days is not None:
        cut = now - timedelta(days=policy.audit_days)
        t = AuditLog.__table__
        result.audit_deleted = _delete_before(session, t, t.c.at, cut)
        set_horizon(session, "audit_log", cut)
        # The pruning itself stays on the record.
        record_audit(session, None, "delete", "audit_log", username="carbontrack retention",
                     detail=f"retention: {result.audit_deleted} audit row(s) before {cut:%Y-%m-%d %H:%M} UTC deleted")
    return result

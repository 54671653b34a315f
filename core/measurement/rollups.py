"""Hourly and daily rollups of stack readings: incremental upserts and a rebuild from raw.

Every rollup column is additive, so a batch of newly stored readings is aggregated in Python
and added to the existing rows with one upsert per table (`x = x + excluded.x`, max for the
maximum). Only readings that were actually inserted are added (the caller deduplicates first),
so duplicates never count twice and late readings land in their own hour and local day.
`rebuild_rollups` rebuilds the same rows from the raw readings, per (device or factory, local
day); the two agree exactly up to floating-point summation order (tested).

Column meanings (all tables):
- n_readings: stored readings, valid or not; n_valid: valid ones;
- covered_s = Σ over valid readings of the seconds each covers (`reading_coverage_s`: the
  reading's own interval, capped by the gap to the device's next reading and by 3,600 s), split
  at hour boundaries, so an hour never has more than 3,600 s and a day more than 86,400 s;
- co2_kg = Σ valid co2_kg_s × covered seconds (the same split);
- sum_co2_kg_s, sum_co2_ppm, sum_flue_temp_c, sum_velocity_m_s: sums over *valid* readings
  (mean = sum / n_valid); max_co2_kg_s: maximum over valid readings (NULL if none).
An hour is the UTC hour start (naive UTC in the database); a day is the local day in the
configured time zone (CARBONTRACK_TZ).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core.models import (
    QUALITY_VALID,
    Device,
    DeviceDaily,
    DeviceHourly,
    FactoryDaily,
    FactoryHourly,
    Reading,
    RetentionHorizon,
    UTCDateTime,
)
from core.timeutil import DEFAULT_TZ, local_day_bounds_utc

SUM_COLUMNS = (
    "n_readings",
    "n_valid",
    "covered_s",
    "co2_kg",
    "sum_co2_kg_s",
    "sum_co2_ppm",
    "sum_flue_temp_c",
    "sum_velocity_m_s",
)
ROLLUP_MODELS = (DeviceHourly, DeviceDaily, FactoryHourly, FactoryDaily)
# Rows per upsert statement: keeps each statement's parameter list well under SQLite's limit.
UPSERT_CHUNK = 500
# Readings fetched per round trip while rebuilding.
RECOMPUTE_FETCH = 20_000
# No reading covers more than an hour of stack flow, whatever its interval (contract v1.1).
MAX_COVERAGE_S = 3600.0
_HOUR = timedelta(hours=1)


def reading_coverage_s(valid: bool, interval_s: float, gap_to_next_s: float | None) -> float:
    """Seconds of stack flow one reading covers: its interval, capped by the gap to the next reading and 3,600 s."""
    if not valid:
        return 0.0
    cover = min(interval_s, MAX_COVERAGE_S)
    if gap_to_next_s is not None and gap_to_next_s < cover:
        cover = max(gap_to_next_s, 0.0)
    return cover


def _naive_utc(dt: datetime) -> datetime:
    return dt if dt.tzinfo is None else dt.astimezone(UTC).replace(tzinfo=None)


def _new_agg() -> list:
    # n_readings, n_valid, covered_s, co2_kg, sum_co2_kg_s, sum_ppm, sum_temp, sum_vel, max_co2_kg_s
    return [0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, None]


class RollupAccumulator:
    """Aggregates readings into the four rollup tables' rows, in memory, for one upsert."""

    def __init__(self, tz: tzinfo = DEFAULT_TZ) -> None:
        self.tz = tz
        self.device_hourly: dict[tuple[str, datetime], list] = {}
        self.device_daily: dict[tuple[str, date], list] = {}
        self.factory_hourly: dict[tuple[int, datetime], list] = {}
        self.factory_daily: dict[tuple[int, date], list] = {}
        # The factory of a device row: that of the first reading added to it (rows are keyed by
        # device; a device moved between factories within an hour or day keeps the earlier one).
        self._dh_factory: dict[tuple[str, datetime], int] = {}
        self._dd_factory: dict[tuple[str, date], int] = {}
        self._day_of_hour: dict[datetime, date] = {}
        # Whole-hour UTC offsets (Africa/Nairobi): every instant of a UTC hour is on one local day.
        self._hour_aligned = all(
            (datetime(2026, m, 1, tzinfo=UTC).astimezone(tz).utcoffset() or timedelta()) % timedelta(hours=1)
            == timedelta()
            for m in (1, 7)
        )

    def __bool__(self) -> bool:
        return bool(self.device_hourly or self.device_daily)

    def _local_day(self, ts: datetime, hour: datetime) -> date:
        if not self._hour_aligned:
            return ts.replace(tzinfo=UTC).astimezone(self.tz).date()
        day = self._day_of_hour.get(hour)
        if day is None:
            day = hour.replace(tzinfo=UTC).astimezone(self.tz).date()
            self._day_of_hour[hour] = day
        return day

    def add(
        self,
        device_id: str,
        factory_id: int,
        ts: datetime,
        quality: int,
        co2_kg_s: float | None,
        co2_ppm: float,
        flue_temp_c: float,
        velocity_m_s: float,
        covered_s: float,
    ) -> None:
        """Add one stored reading (ts naive or aware UTC) covering `covered_s` seconds from ts."""
        ts = _naive_utc(ts)
        hour = ts.replace(minute=0, second=0, microsecond=0)
        valid = quality == QUALITY_VALID and co2_kg_s is not None
        # Coverage within this reading's hour here; the part past the hour's end (rare) below.
        in_hour = min(covered_s, (hour + _HOUR - ts).total_seconds()) if valid else 0.0
        for table, key in self._targets(device_id, factory_id, ts, hour):
            agg = table.get(key)
            if agg is None:
                agg = table[key] = _new_agg()
            agg[0] += 1
            if valid:
                agg[1] += 1
                agg[2] += in_hour
                agg[3] += in_hour * co2_kg_s
                agg[4] += co2_kg_s
                agg[5] += co2_ppm
                agg[6] += flue_temp_c
                agg[7] += velocity_m_s
                if agg[8] is None or co2_kg_s > agg[8]:
                    agg[8] = co2_kg_s
        if valid and covered_s > in_hour:
            self.add_coverage(device_id, factory_id, hour + _HOUR, covered_s - in_hour, co2_kg_s)

    def _targets(self, device_id: str, factory_id: int, ts: datetime, hour: datetime) -> list[tuple[dict, tuple]]:
        day = self._local_day(ts, hour)
        self._dh_factory.setdefault((device_id, hour), factory_id)
        self._dd_factory.setdefault((device_id, day), factory_id)
        return [
            (self.device_hourly, (device_id, hour)),
            (self.factory_hourly, (factory_id, hour)),
            (self.device_daily, (device_id, day)),
            (self.factory_daily, (factory_id, day)),
        ]

    def add_coverage(self, device_id: str, factory_id: int, ts: datetime, seconds: float, co2_kg_s: float) -> None:
        """Add `seconds` of coverage from ts (negative: take it back), split at hour boundaries, and its CO2."""
        ts = _naive_utc(ts)
        sign = 1.0 if seconds >= 0 else -1.0
        left = abs(seconds)
        start = ts
        while left > 0:
            hour = start.replace(minute=0, second=0, microsecond=0)
            piece = min(left, (hour + _HOUR - start).total_seconds())
            for table, key in self._targets(device_id, factory_id, start, hour):
                agg = table.get(key)
                if agg is None:
                    agg = table[key] = _new_agg()
                agg[2] += sign * piece
                agg[3] += sign * piece * co2_kg_s
            left -= piece
            start = hour + _HOUR

    def add_rows(self, rows: Iterable[dict]) -> None:
        """Add reading rows (dicts with the `reading` column names, covered_s set)."""
        for r in rows:
            self.add(
                r["device_id"],
                r["factory_id"],
                r["ts"],
                r["quality"],
                r["co2_kg_s"],
                r["co2_ppm"],
                r["flue_temp_c"],
                r["velocity_m_s"],
                r["covered_s"] or 0.0,
            )

    def keep_only(self, hour_lo: datetime | None, hour_hi: datetime | None, day_lo: date | None, day_hi: date | None) -> None:
        """Drop accumulated rows outside the hour window [lo, hi) and the day window [lo, hi]."""
        for table in (self.device_hourly, self.factory_hourly):
            for key in [k for k in table if (hour_lo is not None and k[1] < hour_lo) or (hour_hi is not None and k[1] >= hour_hi)]:
                del table[key]
        for table in (self.device_daily, self.factory_daily):
            for key in [k for k in table if (day_lo is not None and k[1] < day_lo) or (day_hi is not None and k[1] > day_hi)]:
                del table[key]

    def _rows(self) -> list[tuple[type, list[dict]]]:
        def values(agg: list) -> dict:
            return dict(zip((*SUM_COLUMNS, "max_co2_kg_s"), agg, strict=True))

        # Sorted keys: concurrent listeners lock rows in the same order, so they cannot deadlock.
        out = [
            (
                DeviceHourly,
                [
                    {"device_id": d, "hour": h, "factory_id": self._dh_factory[(d, h)], **values(a)}
                    for (d, h), a in sorted(self.device_hourly.items())
                ],
            ),
            (
                DeviceDaily,
                [
                    {"device_id": d, "day": day, "factory_id": self._dd_factory[(d, day)], **values(a)}
                    for (d, day), a in sorted(self.device_daily.items())
                ],
            ),
            (FactoryHourly, [{"factory_id": f, "hour": h, **values(a)} for (f, h), a in sorted(self.factory_hourly.items())]),
            (FactoryDaily, [{"factory_id": f, "day": day, **values(a)} for (f, day), a in sorted(self.factory_daily.items())]),
        ]
        return out

    def upsert(self, session: Session) -> int:
        """Add the accumulated sums to the rollup tables; return the number of rows touched."""
        touched = 0
        for model, rows in self._rows():
            if rows:
                upsert_rollup_rows(session, model, rows)
                touched += len(rows)
        return touched


def _dialect_insert(session: Session):
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert
    if name == "sqlite":
        return sqlite.insert
    raise NotImplementedError(f"rollup upserts support postgresql and sqlite, not {name}")


def dbapi_cursor(session: Session):  # noqa: ANN201
    """A DB-API cursor on the session's connection (same transaction), for bulk fast paths."""
    return session.connection().connection.dbapi_connection.cursor()


def _upsert_pg(session: Session, model: type, rows: Sequence[dict]) -> None:
    # psycopg2 execute_values: one multi-row statement instead of one round trip per row.
    from psycopg2.extras import execute_values

    table = model.__table__
    keys = [c.name for c in table.primary_key.columns]
    cols = [c.name for c in table.columns]
    sets = [f"{c} = {table.name}.{c} + EXCLUDED.{c}" for c in SUM_COLUMNS]
    sets.append(
        f"max_co2_kg_s = CASE WHEN EXCLUDED.max_co2_kg_s IS NULL THEN {table.name}.max_co2_kg_s "
        f"WHEN {table.name}.max_co2_kg_s IS NULL OR EXCLUDED.max_co2_kg_s > {table.name}.max_co2_kg_s "
        f"THEN EXCLUDED.max_co2_kg_s ELSE {table.name}.max_co2_kg_s END"
    )
    sql = (
        f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES %s "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {', '.join(sets)}"
    )
    cur = dbapi_cursor(session)
    for i in range(0, len(rows), UPSERT_CHUNK):
        chunk = [tuple(_pg_value(r[c]) for c in cols) for r in rows[i : i + UPSERT_CHUNK]]
        execute_values(cur, sql, chunk, page_size=len(chunk))
    cur.close()


def _pg_value(value: object) -> object:
    # Rollup hours are stored as naive UTC (core.models.UTCDateTime).
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def upsert_rollup_rows(session: Session, model: type, rows: Sequence[dict]) -> None:
    """Insert rollup rows, adding to the sums (and taking the max) where the key exists."""
    if session.get_bind().dialect.name == "postgresql":
        _upsert_pg(session, model, rows)
        return
    table = model.__table__
    insert = _dialect_insert(session)
    stmt = insert(table)
    ex = stmt.excluded
    col = table.c
    set_ = {name: col[name] + ex[name] for name in SUM_COLUMNS}
    set_["max_co2_kg_s"] = sa.case(
        (ex.max_co2_kg_s.is_(None), col.max_co2_kg_s),
        (col.max_co2_kg_s.is_(None), ex.max_co2_kg_s),
        (ex.max_co2_kg_s > col.max_co2_kg_s, ex.max_co2_kg_s),
        else_=col.max_co2_kg_s,
    )
    keys = [c.name for c in table.primary_key.columns]
    stmt = stmt.on_conflict_do_update(index_elements=keys, set_=set_)
    for i in range(0, len(rows), UPSERT_CHUNK):
        session.execute(stmt, list(rows[i : i + UPSERT_CHUNK]))


@dataclass
class RebuildResult:
    """What a rollup rebuild did."""

    readings: int = 0  # raw readings inside the rebuilt days
    device_days: int = 0  # (device, local day) pairs rebuilt
    factory_days: int = 0  # (factory, local day) pairs rebuilt
    rows_deleted: int = 0
    rows_written: int = 0
    kept_before: date | None = None  # days before this one were left alone (raw horizon)
    coverage_fixed: int = 0  # readings whose stored covered_s disagreed with the rule (rewritten)


def raw_horizon(session: Session) -> datetime | None:
    """The instant before which raw readings were dropped by retention (naive UTC), or None."""
    value = session.scalar(sa.select(RetentionHorizon.kept_from).where(RetentionHorizon.data == "reading"))
    return None if value is None else _naive_utc(value)


def first_rebuildable_day(horizon: datetime | None, tz: tzinfo = DEFAULT_TZ) -> date | None:
    """The first local day whose rollups can be rebuilt from what retention left, or None (all).

    A reading covers up to an hour after its timestamp (MAX_COVERAGE_S), so a dropped reading may
    hold seconds of the first hour after the horizon: a day is rebuildable only if it starts at
    least an hour after the horizon.
    """
    if horizon is None:
        return None
    safe = horizon + timedelta(seconds=MAX_COVERAGE_S)
    day = safe.replace(tzinfo=UTC).astimezone(tz).date()
    if _naive_utc(local_day_bounds_utc(day, tz)[0]) < safe:
        day += timedelta(days=1)
    return day


def _day_runs(days: Iterable[date]) -> list[tuple[date, date]]:
    """Contiguous runs [first, last] of a set of days."""
    runs: list[tuple[date, date]] = []
    for d in sorted(set(days)):
        if runs and runs[-1][1] + timedelta(days=1) == d:
            runs[-1] = (runs[-1][0], d)
        else:
            runs.append((d, d))
    return runs


def rebuild_rollups(
    session: Session,
    *,
    factory_ids: Iterable[int] | None = None,
    device_ids: Iterable[str] | None = None,
    day_from: date | None = None,
    day_to: date | None = None,
    tz: tzinfo = DEFAULT_TZ,
) -> RebuildResult:
    """Rebuild device and factory rollups of the local days [day_from, day_to] from raw readings.

    Each reading counts under the factory stored on it (the device's assignment at the reading's
    time) with its own interval (`interval_s`; NULL on rows stored before contract v1.1: the
    registry's, as ingest used) and the coverage rule of ingest (`reading_coverage_s`, the gap to
    the device's next reading, split at hours). The unit rebuilt is an (entity, local day): only
    the days that raw readings contribute to are deleted and recomputed (all their hours), so a
    day whose readings retention dropped, or rollups loaded without raw data, keep their rows; days
    before `first_rebuildable_day(raw_horizon)` are never touched.

    Scope: `device_ids` rebuilds those devices' rows and the rows of the factories their readings
    are stored under; `factory_ids` rebuilds those factories' rows and the rows of the devices
    with readings stored under them; both: exactly those; neither: everything. The caller commits.
    """
    result = RebuildResult()
    safe_day = first_rebuildable_day(raw_horizon(session), tz)
    if safe_day is not None and (day_from is None or day_from < safe_day):
        day_from = safe_day
        result.kept_before = safe_day
    if day_from is not None and day_to is not None and day_to < day_from:
        return result
    # Whole local days, an hour more on each side: a reading in the hour before spills coverage
    # into the first day, and the reading after a reading decides how much that one covers.
    day_lo = _naive_utc(local_day_bounds_utc(day_from, tz)[0]) if day_from is not None else None
    day_hi = _naive_utc(local_day_bounds_utc(day_to, tz)[1]) if day_to is not None else None
    read_lo = day_lo - _HOUR if day_lo is not None else None
    read_hi = day_hi + _HOUR if day_hi is not None else None

    def in_range(q):  # noqa: ANN001, ANN202
        if read_lo is not None:
            q = q.where(Reading.ts >= read_lo)
        if read_hi is not None:
            q = q.where(Reading.ts < read_hi)
        return q

    devs = None if device_ids is None else set(device_ids)
    facs = None if factory_ids is None else set(factory_ids)
    if devs is not None and facs is None:
        facs = set(session.scalars(in_range(sa.select(Reading.factory_id).distinct().where(Reading.device_id.in_(sorted(devs))))))
    if facs is not None and devs is None:
        devs = set(session.scalars(in_range(sa.select(Reading.device_id).distinct().where(Reading.factory_id.in_(sorted(facs))))))
    read_devs: set[str] | None = None
    if devs is not None:
        # Factory rows need every device that stored readings under them (coverage needs each
        # such device's whole timeline, whatever factory its neighbouring readings belong to).
        read_devs = set(devs)
        if facs:
            q = in_range(sa.select(Reading.device_id).distinct().where(Reading.factory_id.in_(sorted(facs))))
            read_devs |= set(session.scalars(q))
        if not read_devs:
            return result

    intervals = {d: float(i or 60.0) for d, i in session.execute(sa.select(Device.id, Device.sample_interval_s))}
    q = sa.select(
        Reading.device_id,
        Reading.factory_id,
        Reading.ts,
        Reading.quality,
        Reading.co2_kg_s,
        Reading.co2_ppm,
        Reading.flue_temp_c,
        Reading.velocity_m_s,
        Reading.interval_s,
        Reading.covered_s,
    )
    if read_devs is not None:
        q = q.where(Reading.device_id.in_(sorted(read_devs)))
    q = in_range(q).order_by(Reading.device_id, Reading.ts)
    acc = RollupAccumulator(tz)
    fixes: list[dict] = []
    prev = None

    def add(row, gap_s: float | None) -> None:  # noqa: ANN001
        valid = row.quality == QUALITY_VALID and row.co2_kg_s is not None
        interval = row.interval_s if row.interval_s is not None else intervals.get(row.device_id, 60.0)
        cover = reading_coverage_s(valid, interval, gap_s)
        ts = _naive_utc(row.ts)
        acc.add(row.device_id, row.factory_id, ts, row.quality, row.co2_kg_s, row.co2_ppm, row.flue_temp_c,
                row.velocity_m_s, cover)
        inside = (day_lo is None or ts >= day_lo) and (day_hi is None or ts < day_hi)
        if inside:
            result.readings += 1
            # The last reading read has no next one here: its stored value may know a closer one.
            if row.covered_s is not None and row.interval_s is not None and gap_s is not None and row.covered_s != cover:
                fixes.append({"p_id": row.device_id, "p_ts": ts, "p_cov": cover})

    for row in session.execute(q.execution_options(yield_per=RECOMPUTE_FETCH)):
        if prev is not None:
            same = row.device_id == prev.device_id
            add(prev, (_naive_utc(row.ts) - _naive_utc(prev.ts)).total_seconds() if same else None)
        prev = row
    if prev is not None:
        add(prev, None)

    # Keep the (entity, day) rows in scope and inside the window; their days are what is rebuilt.
    def keep_day(day: date) -> bool:
        return (day_from is None or day >= day_from) and (day_to is None or day <= day_to)

    def hour_day(hour: datetime) -> date:
        return hour.replace(tzinfo=UTC).astimezone(tz).date()

    acc.device_daily = {k: v for k, v in acc.device_daily.items() if (devs is None or k[0] in devs) and keep_day(k[1])}
    acc.factory_daily = {k: v for k, v in acc.factory_daily.items() if (facs is None or k[0] in facs) and keep_day(k[1])}
    acc.device_hourly = {k: v for k, v in acc.device_hourly.items() if (k[0], hour_day(k[1])) in acc.device_daily}
    acc.factory_hourly = {k: v for k, v in acc.factory_hourly.items() if (k[0], hour_day(k[1])) in acc.factory_daily}
    result.device_days = len(acc.device_daily)
    result.factory_days = len(acc.factory_daily)

    for (hourly, daily, key), days in (
        ((DeviceHourly, DeviceDaily, "device_id"), acc.device_daily),
        ((FactoryHourly, FactoryDaily, "factory_id"), acc.factory_daily),
    ):
        by_owner: dict[object, list[date]] = {}
        for owner, day in days:
            by_owner.setdefault(owner, []).append(day)
        for owner, owner_days in sorted(by_owner.items()):
            for first, last in _day_runs(owner_days):
                lo = _naive_utc(local_day_bounds_utc(first, tz)[0])
                hi = _naive_utc(local_day_bounds_utc(last, tz)[1])
                col = getattr(hourly, key)
                res = session.execute(sa.delete(hourly).where(col == owner, hourly.hour >= lo, hourly.hour < hi))
                result.rows_deleted += res.rowcount or 0
                col = getattr(daily, key)
                res = session.execute(sa.delete(daily).where(col == owner, daily.day >= first, daily.day <= last))
                result.rows_deleted += res.rowcount or 0
    result.rows_written = acc.upsert(session)
    if fixes:
        t = Reading.__table__.c
        session.execute(
            sa.update(Reading.__table__)
            .where(t.device_id == sa.bindparam("p_id"), t.ts == sa.bindparam("p_ts", type_=UTCDateTime()))
            .values(covered_s=sa.bindparam("p_cov", type_=sa.Float)),
            fixes,
        )
        result.coverage_fixed = len(fixes)
    return result


def recompute_rollups(
    session: Session,
    device_ids: Iterable[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    tz: tzinfo = DEFAULT_TZ,
) -> int:
    """Rebuild the rollups of some devices over the local days a UTC window touches; return readings read.

    `rebuild_rollups` with the window widened to whole local days (kept for callers in UTC). The
    caller commits.
    """
    day_from = _naive_utc(start).replace(tzinfo=UTC).astimezone(tz).date() if start is not None else None
    day_to = None
    if end is not None:
        day_to = (_naive_utc(end) - timedelta(microseconds=1)).replace(tzinfo=UTC).astimezone(tz).date()
    return rebuild_rollups(session, device_ids=device_ids, day_from=day_from, day_to=day_to, tz=tz).readings

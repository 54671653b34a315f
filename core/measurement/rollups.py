"""Hourly and daily rollups of stack readings: incremental upserts and a rebuild from raw.

Every rollup column is additive, so a batch of newly stored readings is aggregated in Python
and added to the existing rows with one upsert per table (`x = x + excluded.x`, max for the
maximum). Only readings that were actually inserted are added (the caller deduplicates first),
so duplicates never count twice and late readings land in their own hour and local day.
`recompute_rollups` rebuilds the same rows from the raw readings; the two agree exactly up to
floating-point summation order (tested).

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
        self.device_factory: dict[str, int] = {}
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
        self.device_factory[device_id] = factory_id
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
        return [
            (self.device_hourly, (device_id, hour)),
            (self.factory_hourly, (factory_id, hour)),
            (self.device_daily, (device_id, day)),
            (self.factory_daily, (factory_id, day)),
        ]

    def add_coverage(self, device_id: str, factory_id: int, ts: datetime, seconds: float, co2_kg_s: float) -> None:
        """Add `seconds` of coverage from ts (negative: take it back), split at hour boundaries, and its CO2."""
        ts = _naive_utc(ts)
        self.device_factory[device_id] = factory_id
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
                    {"device_id": d, "hour": h, "factory_id": self.device_factory[d], **values(a)}
                    for (d, h), a in sorted(self.device_hourly.items())
                ],
            ),
            (
                DeviceDaily,
                [
                    {"device_id": d, "day": day, "factory_id": self.device_factory[d], **values(a)}
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


def recompute_rollups(
    session: Session,
    device_ids: Iterable[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    tz: tzinfo = DEFAULT_TZ,
) -> int:
    """Rebuild the rollups from raw readings for some devices and a UTC window; return readings read.

    The window is widened to whole local days (and whole hours), and the device set to every
    device of the factories involved, because factory rows sum all of a factory's devices.
    Without arguments everything is rebuilt. The caller commits.
    """
    dev_q = sa.select(Device.id, Device.factory_id, Device.sample_interval_s)
    all_devices = session.execute(dev_q).all()
    if device_ids is not None:
        wanted = set(device_ids)
        factories = {f for d, f, _ in all_devices if d in wanted}
        devices = [(d, f, i) for d, f, i in all_devices if f in factories]
    else:
        devices = list(all_devices)
        factories = {f for _, f, _ in devices}
    if not devices:
        return 0
    intervals = {d: float(i) for d, _, i in devices}
    dev_list = sorted(intervals)
    fac_list = sorted(factories)

    hour_lo = hour_hi = day_lo = day_hi = None  # hour window [lo, hi), day window [lo, hi] (dates)
    read_lo = read_hi = None
    if start is not None:
        start = _naive_utc(start)
        day_lo = start.replace(tzinfo=UTC).astimezone(tz).date()
        d_start = _naive_utc(local_day_bounds_utc(day_lo, tz)[0])
        hour_lo = d_start.replace(minute=0, second=0, microsecond=0)
        read_lo = min(hour_lo, d_start)
    if end is not None:
        end = _naive_utc(end)
        day_hi = (end - timedelta(microseconds=1)).replace(tzinfo=UTC).astimezone(tz).date()
        d_end = _naive_utc(local_day_bounds_utc(day_hi, tz)[1])
        hour_hi = d_end.replace(minute=0, second=0, microsecond=0)
        if hour_hi < d_end:
            hour_hi += timedelta(hours=1)
        read_hi = max(hour_hi, d_end)

    # Delete the rows being rebuilt.
    for model, key, ids in (
        (DeviceHourly, "device_id", dev_list),
        (FactoryHourly, "factory_id", fac_list),
        (DeviceDaily, "device_id", dev_list),
        (FactoryDaily, "factory_id", fac_list),
    ):
        stmt = sa.delete(model).where(getattr(model, key).in_(ids))
        if model in (DeviceHourly, FactoryHourly):
            if hour_lo is not None:
                stmt = stmt.where(model.hour >= hour_lo)
            if hour_hi is not None:
                stmt = stmt.where(model.hour < hour_hi)
        else:
            if day_lo is not None:
                stmt = stmt.where(model.day >= day_lo)
            if day_hi is not None:
                stmt = stmt.where(model.day <= day_hi)
        session.execute(stmt)

    # Read an hour more on each side: a reading just before the window spills coverage into it,
    # and the reading just after a reading decides how much that one covers.
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
    ).where(Reading.device_id.in_(dev_list))
    if read_lo is not None:
        q = q.where(Reading.ts >= read_lo - _HOUR)
    if read_hi is not None:
        q = q.where(Reading.ts < read_hi + _HOUR)
    q = q.order_by(Reading.device_id, Reading.ts)
    n = 0
    acc = RollupAccumulator(tz)
    prev = None
    for row in session.execute(q.execution_options(yield_per=RECOMPUTE_FETCH)):
        if prev is not None:
            gap = (_naive_utc(row.ts) - _naive_utc(prev.ts)).total_seconds() if row.device_id == prev.device_id else None
            n += _add_recomputed(acc, prev, gap, intervals, read_lo, read_hi)
        prev = row
    if prev is not None:
        n += _add_recomputed(acc, prev, None, intervals, read_lo, read_hi)
    acc.keep_only(hour_lo, hour_hi, day_lo, day_hi)
    acc.upsert(session)
    return n


def _add_recomputed(acc: RollupAccumulator, row, gap_s: float | None, intervals: dict[str, float], lo, hi) -> int:  # noqa: ANN001
    valid = row.quality == QUALITY_VALID and row.co2_kg_s is not None
    interval = row.interval_s if row.interval_s is not None else intervals[row.device_id]
    acc.add(
        row.device_id,
        row.factory_id,
        row.ts,
        row.quality,
        row.co2_kg_s,
        row.co2_ppm,
        row.flue_temp_c,
        row.velocity_m_s,
        reading_coverage_s(valid, interval, gap_s),
    )
    ts = _naive_utc(row.ts)
    return int((lo is None or ts >= lo) and (hi is None or ts < hi))

"""Which nodes were expected to measure when, and how much of that time they delivered valid data.

Two figures rest on the device lifecycle (`device_assignment`, written by core.fleet.lifecycle):

- **Expected sensor-seconds**: a node counts only for the seconds it was assigned to a stack
  within the period (commissioned_at ≤ t < retired_at). Registering a node today therefore never
  changes yesterday's coverage, and a node replaced mid-month counts for its part of the month.
  A device without any assignment row (inserted directly, e.g. by old demo data, never through
  the registry) keeps the behaviour from before assignments: while active, it counts for all
  time. Migration 0007 gives every existing device a row, so in a migrated database this applies
  only to rows inserted behind the registry's back.

- **Percent monitor data availability** (40 CFR 75.32: hours of quality-assured monitor data ÷
  unit operating hours × 100). Carbon Track's definition, per node and summed per factory:
  valid hours ÷ assigned operating hours over the period, where
    * an *assigned hour* is an hour the node was assigned to a stack (assigned seconds / 3,600).
      Part 75 divides by the hours the unit operated; boiler operating hours are not recorded
      here, so an hour with the boiler off and the node silent counts as unavailable
      (conservative: availability is never overstated);
    * but an hour the node *positively measured the stack not running* — it has readings and
      every one of them failed only the low-velocity check (QA_LOW_VELOCITY: the flow is below the
      anemometer's minimum), the same rule that gives such an hour a `non_operating` 0 kg row in
      core.measurement.substitution — is not an operating hour, and is left out of the
      denominator (`non_operating_hours`, reported beside it);
    * a *valid hour* is a device-hour whose valid readings cover at least VALID_HOUR_MIN_S. Part
      75 (§75.10(d)(1)) asks for one valid data point in each 15-minute quadrant of the hour; the
      rollups keep covered seconds per hour, not quadrants, so 45 covered minutes (three
      quadrants' worth) stands in for it. Readings flagged invalid or out of control (failed
      calibration, core.measurement.calibration) cover nothing, so they never make an hour valid.
  A factory's availability is Σ its nodes' valid hours ÷ Σ their assigned hours; the fleet's is
  the same sums over every factory (a ratio of sums, never a mean of shares).

Reads rollup tables and the small assignment table only. May import the core kernel.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.models import READING_OTHER_INVALID, Device, DeviceAssignment, DeviceHourly, Reading
from core.timeutil import DEFAULT_TZ, local_day_bounds_utc

SECONDS_PER_HOUR = 3600.0
# A device-hour is valid when valid readings cover at least this much of it (see the module doc:
# the seconds-based stand-in for Part 75's "one valid point in each 15-minute quadrant").
VALID_HOUR_MIN_S = 2700.0


@dataclass(frozen=True)
class Assignment:
    """A node on a stack over [start, end); None = unbounded (a device without lifecycle rows)."""

    device_id: str
    factory_id: int
    stack_id: int
    start: datetime | None
    end: datetime | None

    def seconds_within(self, lo: datetime, hi: datetime) -> float:
        """Seconds of [lo, hi) this assignment covers."""
        a = lo if self.start is None else max(lo, self.start)
        b = hi if self.end is None else min(hi, self.end)
        return max(0.0, (b - a).total_seconds())


def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt


def assignments(session: Session, factory_ids: Iterable[int] | None = None,
                device_ids: Iterable[str] | None = None) -> list[Assignment]:
    """Assignment intervals of the given factories or devices (None: all), oldest first per device."""
    q = sa.select(DeviceAssignment.device_id, DeviceAssignment.factory_id, DeviceAssignment.stack_id,
                  DeviceAssignment.commissioned_at, DeviceAssignment.retired_at)
    dq = sa.select(Device.id, Device.factory_id, Device.stack_id).where(Device.active.is_(True))
    if factory_ids is not None:
        fids = list(factory_ids)
        q = q.where(DeviceAssignment.factory_id.in_(fids))
        dq = dq.where(Device.factory_id.in_(fids))
    if device_ids is not None:
        dids = list(device_ids)
        q = q.where(DeviceAssignment.device_id.in_(dids))
        dq = dq.where(Device.id.in_(dids))
    out = [Assignment(d, f, s, _utc(a), None if r is None else _utc(r))
           for d, f, s, a, r in session.execute(q.order_by(DeviceAssignment.device_id, DeviceAssignment.commissioned_at))]
    # Devices with no assignment row at all: counted as before lifecycles existed (module doc).
    with_rows = set(session.scalars(sa.select(DeviceAssignment.device_id).distinct()))
    for d, f, s in session.execute(dq):
        if d not in with_rows:
            out.append(Assignment(d, f, s, None, None))
    return out


def assigned_seconds(intervals: Iterable[Assignment], lo: datetime, hi: datetime,
                     by: str = "factory") -> dict:
    """Expected sensor-seconds over [lo, hi) per factory, or per device (`by="device"`: a device
    moved between factories counts both parts)."""
    out: dict = defaultdict(float)
    for a in intervals:
        out[a.factory_id if by == "factory" else a.device_id] += a.seconds_within(lo, hi)
    return dict(out)


def expected_seconds(session: Session, factory_ids: Sequence[int], lo: datetime, hi: datetime,
                     now: datetime | None = None) -> dict[int, float]:
    """Expected sensor-seconds per factory over [lo, min(hi, now))."""
    if now is not None:
        hi = min(hi, now)
    if not factory_ids or hi <= lo:
        return {}
    return assigned_seconds(assignments(session, factory_ids), lo, hi)


def expected_seconds_by_day(intervals: Sequence[Assignment], days: Iterable[date], now: datetime,
                            tz: tzinfo = DEFAULT_TZ) -> dict[tuple[int, date], float]:
    """Expected sensor-seconds per (factory, local day), up to `now`."""
    out: dict[tuple[int, date], float] = {}
    for day in days:
        lo, hi = local_day_bounds_utc(day, tz)
        hi = min(hi, now)
        if hi <= lo:
            continue
        for fid, s in assigned_seconds(intervals, lo, hi).items():
            out[(fid, day)] = s
    return out


@dataclass(frozen=True)
class Availability:
    """Percent monitor data availability as Carbon Track defines it (module doc; 40 CFR 75.32)."""

    valid_hours: float
    assigned_hours: float  # assigned operating hours: the denominator (non-operating hours left out)
    non_operating_hours: float = 0.0  # assigned hours the node measured the stack not running

    @property
    def share(self) -> float | None:
        """Valid hours ÷ assigned operating hours (0..1); None when the node or factory was never assigned."""
        if self.assigned_hours <= 0:
            return None
        return min(1.0, self.valid_hours / self.assigned_hours)

    def __add__(self, other: Availability) -> Availability:
        return Availability(self.valid_hours + other.valid_hours, self.assigned_hours + other.assigned_hours,
                            self.non_operating_hours + other.non_operating_hours)


NO_AVAILABILITY = Availability(0.0, 0.0)


def _valid_hours(session: Session, lo: datetime, hi: datetime, *, device_ids: Sequence[str] | None = None,
                 factory_ids: Sequence[int] | None = None) -> dict[tuple[str, int], int]:
    """Valid device-hours per (device, factory) among the hours starting in [lo, hi)."""
    q = (
        sa.select(DeviceHourly.device_id, DeviceHourly.factory_id, sa.func.count())
        .where(DeviceHourly.hour >= lo, DeviceHourly.hour < hi, DeviceHourly.covered_s >= VALID_HOUR_MIN_S)
        .group_by(DeviceHourly.device_id, DeviceHourly.factory_id)
    )
    if device_ids is not None:
        q = q.where(DeviceHourly.device_id.in_(list(device_ids)))
    if factory_ids is not None:
        q = q.where(DeviceHourly.factory_id.in_(list(factory_ids)))
    return {(d, f): int(n) for d, f, n in session.execute(q)}


def non_operating_hours(session: Session, lo: datetime, hi: datetime, *, device_ids: Sequence[str] | None = None,
                        factory_ids: Sequence[int] | None = None) -> dict[tuple[str, int], set[datetime]]:
    """Hours in [lo, hi) per (device, factory) whose every reading failed only the low-velocity check.

    Candidates come from the hourly rollups (readings, none valid); the raw readings are read only
    for the invalid ones that are not purely low-velocity, which rule a candidate out (the same
    rule as core.measurement.substitution's `non_operating` hours).
    """
    q = (sa.select(DeviceHourly.device_id, DeviceHourly.factory_id, DeviceHourly.hour)
         .where(DeviceHourly.hour >= lo, DeviceHourly.hour < hi, DeviceHourly.n_readings > 0,
                DeviceHourly.n_valid == 0))
    if device_ids is not None:
        q = q.where(DeviceHourly.device_id.in_(list(device_ids)))
    if factory_ids is not None:
        q = q.where(DeviceHourly.factory_id.in_(list(factory_ids)))
    cand: dict[tuple[str, int], set[datetime]] = defaultdict(set)
    for d, f, h in session.execute(q):
        cand[(d, f)].add(_utc(h))
    if not cand:
        return {}
    first = min(min(hs) for hs in cand.values())
    last = max(max(hs) for hs in cand.values()) + timedelta(hours=1)
    t = Reading.__table__.c
    other: dict[str, set[datetime]] = defaultdict(set)
    # The condition as literal SQL, exactly the partial index's (ix_reading_other_invalid), so both
    # PostgreSQL and SQLite read only that small index.
    for d, ts in session.execute(
        sa.select(t.device_id, t.ts).where(
            t.device_id.in_(sorted({d for d, _ in cand})), t.ts >= first, t.ts < last, sa.text(READING_OTHER_INVALID))
    ):
        other[d].add(hour_floor(_utc(ts)))
    out = {k: hs - other.get(k[0], set()) for k, hs in cand.items()}
    return {k: hs for k, hs in out.items() if hs}


def _idle_seconds(idle: dict[tuple[str, int], set[datetime]], intervals: Sequence[Assignment],
                  by: str) -> dict:
    """Assigned seconds of the non-operating hours, per device (`by`="device") or per factory."""
    out: dict = defaultdict(float)
    per_device: dict[str, list[Assignment]] = defaultdict(list)
    for a in intervals:
        per_device[a.device_id].append(a)
    one_hour = timedelta(hours=1)
    for (d, f), hours in idle.items():
        for h in hours:
            for a in per_device.get(d, []):
                if by == "factory" and a.factory_id != f:
                    continue
                sec = a.seconds_within(h, h + one_hour)
                if sec:
                    out[d if by == "device" else f] += sec
    return dict(out)


def device_availability(session: Session, device_ids: Sequence[str], lo: datetime, hi: datetime,
                        now: datetime | None = None) -> dict[str, Availability]:
    """Availability per device over [lo, min(hi, now))."""
    if now is not None:
        hi = min(hi, now)
    if not device_ids or hi <= lo:
        return {d: NO_AVAILABILITY for d in device_ids}
    intervals = assignments(session, device_ids=device_ids)
    assigned = assigned_seconds(intervals, lo, hi, by="device")
    idle = _idle_seconds(non_operating_hours(session, lo, hi, device_ids=device_ids), intervals, "device")
    valid: dict[str, int] = defaultdict(int)
    for (d, _), n in _valid_hours(session, lo, hi, device_ids=device_ids).items():
        valid[d] += n
    return {d: Availability(float(valid.get(d, 0)), (assigned.get(d, 0.0) - idle.get(d, 0.0)) / SECONDS_PER_HOUR,
                            idle.get(d, 0.0) / SECONDS_PER_HOUR) for d in device_ids}


def factory_availability(session: Session, factory_ids: Sequence[int], lo: datetime, hi: datetime,
                         now: datetime | None = None) -> dict[int, Availability]:
    """Availability per factory over [lo, min(hi, now)): Σ valid node-hours ÷ Σ assigned node-hours."""
    if now is not None:
        hi = min(hi, now)
    if not factory_ids or hi <= lo:
        return {f: NO_AVAILABILITY for f in factory_ids}
    intervals = assignments(session, factory_ids)
    assigned = assigned_seconds(intervals, lo, hi)
    idle = _idle_seconds(non_operating_hours(session, lo, hi, factory_ids=factory_ids), intervals, "factory")
    valid: dict[int, int] = defaultdict(int)
    for (_, f), n in _valid_hours(session, lo, hi, factory_ids=factory_ids).items():
        valid[f] += n
    return {f: Availability(float(valid.get(f, 0)), (assigned.get(f, 0.0) - idle.get(f, 0.0)) / SECONDS_PER_HOUR,
                            idle.get(f, 0.0) / SECONDS_PER_HOUR) for f in factory_ids}


def total_availability(values: Iterable[Availability]) -> Availability:
    """Sum availabilities (fleet-wide figure: a ratio of sums)."""
    out = NO_AVAILABILITY
    for v in values:
        out = out + v
    return out


def hour_floor(dt: datetime) -> datetime:
    """The start of dt's UTC hour."""
    return dt.replace(minute=0, second=0, microsecond=0)


def days_window(last: date, n_days: int, now: datetime, tz: tzinfo = DEFAULT_TZ) -> tuple[datetime, datetime]:
    """UTC bounds of the `n_days` local days ending with `last`, cut at `now`."""
    lo, _ = local_day_bounds_utc(last - timedelta(days=n_days - 1), tz)
    _, hi = local_day_bounds_utc(last, tz)
    return lo, min(hi, now)

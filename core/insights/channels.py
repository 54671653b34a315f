"""Raw sensor channels for a factory manager (issue 17): CO2 ppm, flue °C and velocity m/s per node
over a chosen range, downsampled on the server to at most `max_points` points per trace.

How a node's range is read depends on how many readings it holds there:
- up to `max_points`: every reading as stored (`mode="raw"`);
- up to RAW_BUCKET_LIMIT: the readings streamed once and reduced to the minimum and the maximum
  of each time bucket (`"minmax"`: spikes survive, a line never hides an outlier);
- more: hourly rollup means (`"hourly"`, Σ ÷ n of valid readings per UTC hour), or daily ones
  (`"daily"`) when even the hours are more than `max_points`.
Readings whose quality is not QUALITY_VALID (out of range, flagged by the node or by the server's
checks) are returned apart, so the page can draw them distinctly; in the rollup modes the hours
(days) that held flagged readings are returned with their count instead.
The factory scope is checked first (`core.access.require_factory`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.access import UserLike, require_factory
from core.models import QUALITY_VALID, Device, DeviceDaily, DeviceHourly, Reading
from core.timeutil import DEFAULT_TZ

MAX_POINTS = 2000  # per trace: what a browser draws smoothly, and more than a chart's pixel width
RAW_BUCKET_LIMIT = 200_000  # readings per node streamed for min/max buckets (≈ 140 days at 60 s)
CHANNELS = ("co2_ppm", "flue_temp_c", "velocity_m_s")


@dataclass
class Series:
    """One node's points: times and the three channels, valid and flagged apart."""

    device_id: str
    mode: str  # raw | minmax | hourly | daily
    n_readings: int  # stored readings in the range, valid or not
    ts: list[datetime] = field(default_factory=list)
    values: dict[str, list[float | None]] = field(default_factory=lambda: {c: [] for c in CHANNELS})
    flagged_ts: list[datetime] = field(default_factory=list)
    flagged_values: dict[str, list[float | None]] = field(default_factory=lambda: {c: [] for c in CHANNELS})
    flagged_count: list[int] = field(default_factory=list)  # rollup modes: flagged readings in the bucket
    n_flagged: int = 0


def _factory_device_ids(session: Session, factory_id: int, start: datetime, end: datetime) -> dict[str, int]:
    """Readings per device of the factory in [start, end) (the (factory_id, ts) index)."""
    return dict(session.execute(
        sa.select(Reading.device_id, sa.func.count())
        .where(Reading.factory_id == factory_id, Reading.ts >= start, Reading.ts < end)
        .group_by(Reading.device_id)).all())


def _raw(session: Session, device_id: str, start: datetime, end: datetime):  # noqa: ANN202
    return session.execute(
        sa.select(Reading.ts, Reading.co2_ppm, Reading.flue_temp_c, Reading.velocity_m_s, Reading.quality)
        .where(Reading.device_id == device_id, Reading.ts >= start, Reading.ts < end)
        .order_by(Reading.ts).execution_options(yield_per=5000))


def _every_nth(items: list, limit: int) -> list:
    if len(items) <= limit:
        return items
    step = len(items) / limit
    return [items[int(i * step)] for i in range(limit)]


def _raw_series(session: Session, device_id: str, n: int, start: datetime, end: datetime, max_points: int) -> Series:
    s = Series(device_id, "raw", n)
    flagged = []
    for ts, ppm, temp, vel, quality in _raw(session, device_id, start, end):
        if quality == QUALITY_VALID:
            s.ts.append(ts)
            for c, v in zip(CHANNELS, (ppm, temp, vel), strict=True):
                s.values[c].append(v)
        else:
            flagged.append((ts, ppm, temp, vel))
    _set_flagged(s, flagged, max_points)
    return s


def _set_flagged(s: Series, flagged: list[tuple], max_points: int) -> None:
    s.n_flagged = len(flagged)
    for ts, *vals in _every_nth(flagged, max_points):
        s.flagged_ts.append(ts)
        for c, v in zip(CHANNELS, vals, strict=True):
            s.flagged_values[c].append(v)


def _minmax_series(session: Session, device_id: str, n: int, start: datetime, end: datetime,
                   max_points: int) -> Series:
    """Each bucket's minimum and maximum per channel, in time order within the bucket (2 points a bucket)."""
    s = Series(device_id, "minmax", n)
    width = max(1.0, (end - start).total_seconds() / max(1, max_points // 2))
    buckets: dict[int, dict[str, list]] = {}
    flagged = []
    for ts, ppm, temp, vel, quality in _raw(session, device_id, start, end):
        if quality != QUALITY_VALID:
            flagged.append((ts, ppm, temp, vel))
            continue
        b = int((ts - start).total_seconds() // width)
        cur = buckets.get(b)
        if cur is None:
            buckets[b] = {c: [(v, ts), (v, ts)] for c, v in zip(CHANNELS, (ppm, temp, vel), strict=True)}
            continue
        for c, v in zip(CHANNELS, (ppm, temp, vel), strict=True):
            lo, hi = cur[c]
            if v is not None and (lo[0] is None or v < lo[0]):
                cur[c][0] = (v, ts)
            if v is not None and (hi[0] is None or v > hi[0]):
                cur[c][1] = (v, ts)
    # One time axis for the three channels: the bucket's start and its middle, so each trace has
    # exactly two points per bucket (min first, max second), whatever instants they came from.
    for b in sorted(buckets):
        t0 = start + timedelta(seconds=b * width)
        s.ts += [t0, t0 + timedelta(seconds=width / 2)]
        for c in CHANNELS:
            (lo, lo_ts), (hi, hi_ts) = buckets[b][c]
            s.values[c] += [lo, hi] if lo_ts <= hi_ts else [hi, lo]
    _set_flagged(s, flagged, max_points)
    return s


def _rollup_series(session: Session, device_id: str, n: int, start: datetime, end: datetime, daily: bool) -> Series:
    table = DeviceDaily if daily else DeviceHourly
    key = table.day if daily else table.hour
    if daily:
        lo, hi = start.astimezone(DEFAULT_TZ).date(), (end - timedelta(microseconds=1)).astimezone(DEFAULT_TZ).date()
    else:
        lo, hi = start, end - timedelta(microseconds=1)
    s = Series(device_id, "daily" if daily else "hourly", n)
    for at, nr, nv, ppm, temp, vel in session.execute(
            sa.select(key, table.n_readings, table.n_valid, table.sum_co2_ppm, table.sum_flue_temp_c,
                      table.sum_velocity_m_s)
            .where(table.device_id == device_id, key >= lo, key <= hi).order_by(key)):
        mean = [None if not nv else v / nv for v in (ppm, temp, vel)]
        # An hour is drawn at its start; a local day at its local noon.
        t = at if isinstance(at, datetime) else datetime(at.year, at.month, at.day, 12, tzinfo=DEFAULT_TZ)
        s.ts.append(t)
        for c, v in zip(CHANNELS, mean, strict=True):
            s.values[c].append(v)
        if nr > nv:
            s.flagged_ts.append(t)
            s.flagged_count.append(nr - nv)
            s.n_flagged += nr - nv
            for c, v in zip(CHANNELS, mean, strict=True):
                s.flagged_values[c].append(v)
    return s


def raw_channels(session: Session, user: UserLike | None, factory_id: int, start: datetime, end: datetime,
                 max_points: int = MAX_POINTS) -> list[Series]:
    """Return one Series per node of the factory that has readings in [start, end), by node id.

    Raises core.access.AccessDenied for a factory `user` may not read.
    """
    require_factory(user, factory_id)
    counts = _factory_device_ids(session, factory_id, start, end)
    known = set(session.scalars(sa.select(Device.id).where(Device.id.in_(list(counts))))) if counts else set()
    out = []
    hours = (end - start).total_seconds() / 3600
    for device_id in sorted(d for d in counts if d in known):
        n = counts[device_id]
        if n <= max_points:
            out.append(_raw_series(session, device_id, n, start, end, max_points))
        elif n <= RAW_BUCKET_LIMIT:
            out.append(_minmax_series(session, device_id, n, start, end, max_points))
        else:
            out.append(_rollup_series(session, device_id, n, start, end, daily=hours > max_points))
    return out


def flagged_by_device(series: list[Series]) -> dict[str, int]:
    """Flagged readings per node (what the page says beside the chart)."""
    out: dict[str, int] = defaultdict(int)
    for s in series:
        out[s.device_id] += s.n_flagged
    return dict(out)

"""Dashboard queries: every one scoped by the user's allowed factories (core.access).

Dashboards read the rollup tables and core.inventory.monthly; raw readings are read only for the live
window (the last hour of one factory's devices, through the (device_id, ts) index), so the cost
of a page does not grow with the reading table.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.access import AccessDenied, UserLike, allowed_factory_ids, require_factory
from core.fleet.health import STATUS_OFFLINE, offline_timeout_s
from core.inventory.factors import FactorSet
from core.inventory.monthly import (
    MonthlyInventory,
    Totals,
    active_device_counts,
    coverage_share,
    due_datetime,
    monthly_inventory,
    totals,
)
from core.measurement.availability import (
    Availability,
    assigned_seconds,
    assignments,
    days_window,
    device_availability,
    expected_seconds,
    expected_seconds_by_day,
    factory_availability,
    total_availability,
)
from core.measurement.calibration import CalibrationStatus, calibration_status
from core.models import (
    QUALITY_VALID,
    ROLE_ADMIN,
    ROLE_AUDITOR,
    ROLE_HQ,
    STATUS_APPROVED,
    STATUS_DRAFT,
    STATUS_SUBMITTED,
    AuditLog,
    Device,
    DeviceAssignment,
    DeviceDaily,
    DeviceHourly,
    EnergyEntry,
    Factory,
    FactoryDaily,
    LabNcv,
    ListenerStat,
    MonthlySubmission,
    Reading,
    Stack,
    SubstituteHour,
)
from core.timeutil import (
    DEFAULT_TZ,
    add_months,
    iter_months,
    local_date,
    local_day_bounds_utc,
    month_start,
    utcnow,
)

LIVE_WINDOW = timedelta(hours=1)  # raw readings shown at full resolution
LIVE_HOURS = 24  # hourly rollups shown on the live page
UPTIME_THRESHOLD = 0.5  # success metric: share of factories with sensor uptime at or above this
UPTIME_DAYS = 30


# ---------------------------------------------------------------------------------------------
# Monthly inventories, reused while nothing they depend on changed

INVENTORY_CACHE_MAX = 2048  # (month, factory set) entries kept per process


class InventoryCache:
    """Closed months' inventories per (month, factory set), each with the fingerprint it was built from.

    A closed month's inventory depends only on its submissions and entries, its daily rollups,
    the factories' targets and devices, and the factor set; a cheap grouped query fingerprints
    those, so a hit is exact, never stale. The current month is always computed afresh.
    """

    def __init__(self, max_entries: int = INVENTORY_CACHE_MAX) -> None:
        self.max_entries = max_entries
        self._entries: dict[tuple, tuple[tuple, list[MonthlyInventory]]] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple, fingerprint: tuple) -> list[MonthlyInventory] | None:
        """Return the cached inventories for `key` if built from the same `fingerprint`."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] == fingerprint:
                self.hits += 1
                return entry[1]
            self.misses += 1
            return None

    def put(self, key: tuple, fingerprint: tuple, value: list[MonthlyInventory]) -> None:
        """Remember `value` for `key`."""
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[key] = (fingerprint, value)

    def clear(self) -> None:
        """Forget everything (tests)."""
        with self._lock:
            self._entries.clear()


INVENTORY_CACHE = InventoryCache()


def _month_fingerprints(session: Session, months: Sequence[date], fids: Sequence[int]) -> dict[date, tuple]:
    """Per month: submissions, entries and daily rollups summarised (counts, version sums, sums).

    Every committed edit of a month's figures or status raises its submission's version
    (MonthlySubmission.version, checked and incremented by the database row's UPDATE), so
    (count, sum of versions) changes on every commit, whatever the clocks of the hosts and in
    whatever order edits were flushed; Python-side `updated_at` did not (issue 18). Energy
    entries have their own version (+1 per UPDATE, even one made outside core.inventory.entry);
    their count, id sum and version sum catch additions, removals and edits.
    """
    out: dict[date, list] = {m: [None, None, 0, 0.0, 0.0] for m in months}
    if not months:
        return {}
    for month, n, versions, ids in session.execute(
        sa.select(MonthlySubmission.month, sa.func.count(MonthlySubmission.id), sa.func.sum(MonthlySubmission.version),
                  sa.func.sum(MonthlySubmission.id))
        .where(MonthlySubmission.month.in_(months), MonthlySubmission.factory_id.in_(fids))
        .group_by(MonthlySubmission.month)
    ):
        out[month][0] = (n, int(versions or 0), int(ids or 0))
    for month, n, ids, versions in session.execute(
        sa.select(MonthlySubmission.month, sa.func.count(EnergyEntry.id), sa.func.sum(EnergyEntry.id),
                  sa.func.sum(EnergyEntry.version))
        .join(EnergyEntry, EnergyEntry.submission_id == MonthlySubmission.id)
        .where(MonthlySubmission.month.in_(months), MonthlySubmission.factory_id.in_(fids))
        .group_by(MonthlySubmission.month)
    ):
        out[month][1] = (n, int(ids or 0), int(versions or 0))
    first, last = min(months), add_months(max(months), 1) - timedelta(days=1)
    for day, n, co2, covered in session.execute(
        sa.select(FactoryDaily.day, sa.func.sum(FactoryDaily.n_readings), sa.func.sum(FactoryDaily.co2_kg),
                  sa.func.sum(FactoryDaily.covered_s))
        .where(FactoryDaily.day >= first, FactoryDaily.day <= last, FactoryDaily.factory_id.in_(fids))
        .group_by(FactoryDaily.day)
    ):
        acc = out.get(month_start(day))
        if acc is not None:
            acc[2] += int(n or 0)
            acc[3] += float(co2 or 0.0)
            acc[4] += float(covered or 0.0)
    return {m: (v[0], v[1], v[2], round(v[3], 1), round(v[4], 1)) for m, v in out.items()}


def _static_fingerprint(session: Session, fids: Sequence[int], factors: FactorSet, gwp: str, tz: tzinfo) -> tuple:
    factories = tuple(session.execute(
        sa.select(Factory.id, Factory.code, Factory.name, Factory.region, Factory.target_kg_co2e_per_kg,
                  Factory.firewood_density_kg_m3).where(Factory.id.in_(fids)).order_by(Factory.id)
    ).all())
    devices = tuple(sorted(active_device_counts(session, fids).items()))
    # Expected coverage follows the nodes' assignments: any lifecycle change invalidates.
    lifecycle = tuple(session.execute(
        sa.select(DeviceAssignment.id, DeviceAssignment.device_id, DeviceAssignment.factory_id,
                  DeviceAssignment.commissioned_at, DeviceAssignment.retired_at)
        .where(DeviceAssignment.factory_id.in_(fids)).order_by(DeviceAssignment.id)
    ).all())
    # A closed month also changes when its missing hours are substituted (report generation) or a
    # lab NCV is recorded or withdrawn: both feed monthly_inventory.
    substitutes = tuple(session.execute(
        sa.select(sa.func.count(), sa.func.sum(SubstituteHour.co2_kg), sa.func.max(SubstituteHour.computed_at))
        .where(SubstituteHour.factory_id.in_(fids))
    ).one())
    lab_ncvs = tuple(session.execute(
        sa.select(LabNcv.id, LabNcv.withdrawn_at).where(LabNcv.factory_id.in_(fids)).order_by(LabNcv.id)
    ).all())
    return (factories, devices, lifecycle, substitutes, lab_ncvs, tuple(sorted(factors.versions.items())),
            factors.grid_code, gwp, str(tz))


def cached_monthly_inventory(
    session: Session,
    months: Sequence[date],
    factors: FactorSet,
    factory_ids: Sequence[int],
    gwp: str = "AR5",
    tz: tzinfo = DEFAULT_TZ,
    now: datetime | None = None,
    cache: InventoryCache = INVENTORY_CACHE,
) -> list[MonthlyInventory]:
    """core.inventory.monthly.monthly_inventory with closed months reused from `cache` while unchanged."""
    now = now or utcnow()
    fids = tuple(sorted(set(factory_ids)))
    months = sorted({month_start(m) for m in months})
    if not fids or not months:
        return []
    closed = [m for m in months if local_day_bounds_utc(add_months(m, 1), tz)[0] <= now]
    fps = _month_fingerprints(session, closed, fids)
    static = _static_fingerprint(session, fids, factors, gwp, tz) if closed else ()
    db = str(session.get_bind().url)  # one process may serve (or test) more than one database
    result: list[MonthlyInventory] = []
    todo = [m for m in months if m not in closed]
    for m in closed:
        hit = cache.get((db, m, fids), (fps[m], static))
        if hit is None:
            todo.append(m)
        else:
            result.extend(hit)
    if todo:
        fresh = monthly_inventory(session, todo, factors, fids, gwp=gwp, tz=tz, now=now)
        by_month: dict[date, list[MonthlyInventory]] = defaultdict(list)
        for inv in fresh:
            by_month[inv.month].append(inv)
        for m in todo:
            if m in fps:
                cache.put((db, m, fids), (fps[m], static), by_month.get(m, []))
        result.extend(fresh)
    result.sort(key=lambda i: (i.factory_code, i.month))
    return result


# ---------------------------------------------------------------------------------------------
# Factory live page


@dataclass
class NodeStatus:
    """One sensor node as the health views show it."""

    device_id: str
    factory_id: int
    factory_code: str
    stack_name: str
    status: str
    online: bool
    last_seen_at: datetime | None
    rssi_dbm: int | None
    firmware: str | None
    buffered: int | None
    coverage_24h: float | None = None
    coverage_30d: float | None = None
    # Percent monitor data availability over UPTIME_DAYS (core.measurement.availability, 40 CFR 75.32).
    availability_30d: float | None = None
    valid_hours_30d: float = 0.0
    assigned_hours_30d: float = 0.0
    calibration: CalibrationStatus | None = None


@dataclass
class LiveSnapshot:
    """What the live page shows for one factory."""

    factory_id: int
    factory_code: str
    factory_name: str
    now: datetime
    nodes: list[NodeStatus]
    latest: dict[str, dict]  # device_id -> last reading (valid or not)
    recent: dict[str, list[dict]]  # device_id -> readings of the last hour, oldest first
    hourly: dict[str, list[dict]]  # device_id -> hourly means of the last 24 h
    today_co2_kg: float
    today_covered_s: float
    today: date


def is_online(last_seen_at: datetime | None, status: str | None, sample_interval_s: float | None,
              now: datetime) -> bool:
    """Whether a node counts as online: the listener's rule (docs/payload.md), applied at read time.

    Offline when its last will (`offline` status) arrived, or when nothing arrived for
    `offline_timeout_s(sample_interval_s)` — 3 sample intervals, at least 5 minutes. That timeout
    is core.fleet.health.offline_timeout_s, the one source of truth, so the web never disagrees
    with the listener's offline sweep (and does not wait for it).
    """
    if status == STATUS_OFFLINE or last_seen_at is None:
        return False
    return (now - last_seen_at).total_seconds() <= offline_timeout_s(sample_interval_s)


def _reading_dict(r) -> dict:
    return {
        "ts": r.ts, "co2_kg_s": r.co2_kg_s, "co2_ppm": r.co2_ppm, "flue_temp_c": r.flue_temp_c,
        "velocity_m_s": r.velocity_m_s, "valid": r.quality == QUALITY_VALID,
    }


def _factory_devices(session: Session, factory_id: int) -> list[tuple[Device, str, str]]:
    rows = session.execute(
        sa.select(Device, Stack.name, Factory.code)
        .join(Stack, Stack.id == Device.stack_id)
        .join(Factory, Factory.id == Device.factory_id)
        .where(Device.factory_id == factory_id, Device.active.is_(True))
        .order_by(Device.id)
    ).all()
    return [(d, stack_name, code) for d, stack_name, code in rows]


def live_readings_since(session: Session, user: UserLike | None, factory_id: int, since: datetime | None,
                        now: datetime | None = None, after_id: int | None = None) -> dict[str, list[dict]]:
    """Readings of the factory's devices stored after `since`, never older than LIVE_WINDOW before `now`.

    `since` may come from the browser (the live page's state), so it is clamped here: an early
    value reads at most the live window, not the whole reading table. None means the whole
    window; a naive value is taken as UTC. With `after_id` (the highest reading id the page has),
    a reading stored since then counts as new even when its `ts` is older than `since`: a node's
    buffered readings arrive late, and the live tick skipped them (issue 18). Each reading then
    carries its "id" so the caller can move its watermark.
    """
    require_factory(user, factory_id)
    now = now or utcnow()
    floor = now - LIVE_WINDOW
    if since is None:
        since = floor
    elif since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    since = max(since, floor)
    device_ids = list(session.scalars(
        sa.select(Device.id).where(Device.factory_id == factory_id, Device.active.is_(True)).order_by(Device.id)
    ))
    out: dict[str, list[dict]] = {d: [] for d in device_ids}
    if not device_ids:
        return out
    newer = Reading.ts > since if after_id is None else sa.or_(Reading.ts > since, Reading.id > after_id)
    rows = session.execute(
        sa.select(Reading.device_id, Reading.ts, Reading.co2_kg_s, Reading.co2_ppm, Reading.flue_temp_c,
                  Reading.velocity_m_s, Reading.quality, Reading.id)
        .where(Reading.device_id.in_(device_ids), Reading.ts > floor, newer)
        .order_by(Reading.ts)
    )
    for r in rows:
        out[r.device_id].append(_reading_dict(r) if after_id is None else dict(_reading_dict(r), id=r.id))
    return out


def reading_watermark(session: Session) -> int:
    """The highest reading id stored now (the live page's starting watermark; one primary-key lookup)."""
    return int(session.scalar(sa.select(sa.func.max(Reading.id))) or 0)


def _latest_reading(session: Session, device_id: str) -> dict | None:
    """The device's newest reading, however old (one indexed (device_id, ts) lookup)."""
    r = session.execute(
        sa.select(Reading.device_id, Reading.ts, Reading.co2_kg_s, Reading.co2_ppm, Reading.flue_temp_c,
                  Reading.velocity_m_s, Reading.quality)
        .where(Reading.device_id == device_id).order_by(Reading.ts.desc()).limit(1)
    ).first()
    return None if r is None else _reading_dict(r)


def live_snapshot(session: Session, user: UserLike | None, factory_id: int, now: datetime | None = None,
                  tz: tzinfo = DEFAULT_TZ, with_recent: bool = True) -> LiveSnapshot:
    """Return current values, the last hour, the last 24 h hourly and today's CO2 for one factory.

    With `with_recent=False` (the live page's tick, which gets new readings on its own) the last
    hour is not read: `recent` is empty per device and `latest` comes from one newest-first lookup
    per device.
    """
    require_factory(user, factory_id)
    now = now or utcnow()
    factory = session.get(Factory, factory_id)
    if factory is None:
        raise AccessDenied("no such factory")
    devices = _factory_devices(session, factory_id)
    device_ids = [d.id for d, _, _ in devices]
    nodes = [
        NodeStatus(d.id, factory_id, code, stack_name, d.status,
                   is_online(d.last_seen_at, d.status, d.sample_interval_s, now), d.last_seen_at,
                   d.rssi_dbm, d.firmware, d.buffered)
        for d, stack_name, code in devices
    ]
    if with_recent:
        recent = live_readings_since(session, user, factory_id, None, now)
    else:
        recent = {d: [] for d in device_ids}
    latest: dict[str, dict] = {}
    for dev_id, series in recent.items():
        if series:
            latest[dev_id] = series[-1]
    for dev_id in device_ids:  # quiet nodes (or no hour read): the last reading, however old
        if dev_id not in latest and (r := _latest_reading(session, dev_id)) is not None:
            latest[dev_id] = r
    hourly: dict[str, list[dict]] = {d: [] for d in device_ids}
    if device_ids:
        start_hour = (now - timedelta(hours=LIVE_HOURS)).replace(minute=0, second=0, microsecond=0)
        rows = session.execute(
            sa.select(DeviceHourly.device_id, DeviceHourly.hour, DeviceHourly.n_valid, DeviceHourly.co2_kg,
                      DeviceHourly.sum_co2_kg_s, DeviceHourly.covered_s)
            .where(DeviceHourly.device_id.in_(device_ids), DeviceHourly.hour >= start_hour)
            .order_by(DeviceHourly.hour)
        )
        for r in rows:
            mean = r.sum_co2_kg_s / r.n_valid if r.n_valid else None
            hourly[r.device_id].append({"hour": r.hour, "co2_kg_s": mean, "co2_kg": r.co2_kg,
                                        "covered_s": r.covered_s})
    today = local_date(now, tz)
    row = session.execute(
        sa.select(FactoryDaily.co2_kg, FactoryDaily.covered_s).where(
            FactoryDaily.factory_id == factory_id, FactoryDaily.day == today)
    ).first()
    return LiveSnapshot(
        factory_id, factory.code, factory.name, now, nodes, latest, recent, hourly,
        float(row.co2_kg) if row else 0.0, float(row.covered_s) if row else 0.0, today,
    )


# ---------------------------------------------------------------------------------------------
# Factory history


@dataclass
class DailyPoint:
    day: date
    co2_kg: float | None  # None = no data that day (a gap, not a zero)
    coverage: float | None
    n_valid: int


def daily_history(session: Session, user: UserLike | None, factory_id: int, first: date, last: date,
                  now: datetime | None = None, tz: tzinfo = DEFAULT_TZ) -> list[DailyPoint]:
    """Return one point per local day in [first, last]; days without data are gaps (None)."""
    require_factory(user, factory_id)
    now = now or utcnow()
    intervals = assignments(session, [factory_id])
    n_days = (last - first).days + 1
    expected_by_day = expected_seconds_by_day(intervals, (first + timedelta(days=i) for i in range(max(0, n_days))),
                                              now, tz)
    rows = {
        r.day: r
        for r in session.execute(
            sa.select(FactoryDaily.day, FactoryDaily.co2_kg, FactoryDaily.covered_s, FactoryDaily.n_valid).where(
                FactoryDaily.factory_id == factory_id, FactoryDaily.day >= first, FactoryDaily.day <= last)
        )
    }
    out = []
    day = first
    today = local_date(now, tz)
    while day <= last:
        r = rows.get(day)
        # Sensor-seconds expected that day: each node only while it was assigned (issue 12).
        expected = expected_by_day.get((factory_id, day), 0.0)
        if r is None or not r.n_valid:
            out.append(DailyPoint(day, None, 0.0 if expected > 0 and day <= today else None, 0))
        else:
            cov = min(1.0, r.covered_s / expected) if expected > 0 else None
            out.append(DailyPoint(day, float(r.co2_kg), cov, int(r.n_valid)))
        day += timedelta(days=1)
    return out


def monthly_history(session: Session, user: UserLike | None, factory_id: int, months: Sequence[date],
                    factors: FactorSet, tz: tzinfo = DEFAULT_TZ, now: datetime | None = None,
                    gwp: str = "AR5") -> list[MonthlyInventory]:
    """Return the factory's monthly inventories (the same numbers the reports use, same GWP set)."""
    require_factory(user, factory_id)
    return monthly_inventory(session, months, factors, [factory_id], gwp=gwp, tz=tz, now=now)


# ---------------------------------------------------------------------------------------------
# Free month ranges (Overview and Leaderboard, issue 17)

MAX_RANGE_MONTHS = 36  # a chosen range is cut to its last 36 months (three years of monthly inventories)


def month_range(first: date | None, last: date | None, today: date) -> list[date] | None:
    """Return the months from `first` to `last` (inclusive), or None when no range is chosen.

    A missing end is filled from the other; the ends are swapped when reversed; months after the
    current one are dropped; at most MAX_RANGE_MONTHS months, the newest kept. An empty result
    (a range wholly in the future) is the current month alone.
    """
    if first is None and last is None:
        return None
    first = month_start(first or last)  # type: ignore[arg-type]
    last = month_start(last or first)
    if last < first:
        first, last = last, first
    last = min(last, month_start(today))
    months = list(iter_months(first, last)) if first <= last else [month_start(today)]
    return months[-MAX_RANGE_MONTHS:]


# ---------------------------------------------------------------------------------------------
# HQ overview


@dataclass
class Overview:
    """Network figures for HQ."""

    today: date
    mtd: Totals
    ytd: Totals  # approved months only: HQ's network figures never include unapproved data
    mtd_measured_co2_kg: float
    n_factories: int
    last_month: date
    submitted_on_time_share: float | None
    target_met_share: float | None
    n_with_target_result: int
    uptime: dict[int, float | None]  # factory id -> data availability (40 CFR 75.32) over UPTIME_DAYS
    uptime_ok_share: float | None
    nodes_online: int
    nodes_total: int
    trend: list[tuple[date, Totals]]  # last 13 months
    by_region: dict[int, Totals]  # year to date
    factories: list[dict]  # for the map: id, code, name, region, lat, lon, intensity, target_met (approved), status
    ytd_pending: Totals | None = None  # year to date, months submitted and awaiting approval (not in `ytd`)
    n_target_pending: int = 0  # last month: factories with a target result awaiting approval
    fleet_availability: float | None = None  # all allowed nodes: Σ valid hours ÷ Σ assigned hours, 30 days
    fleet_valid_hours: float = 0.0
    fleet_assigned_hours: float = 0.0
    range_months: list[date] | None = None  # a chosen month range: `ytd`, `by_region` and `trend` cover it


def sensor_uptime(session: Session, factory_ids: Sequence[int], first: date, last: date, now: datetime,
                  tz: tzinfo = DEFAULT_TZ) -> dict[int, float | None]:
    """Share of expected sensor-seconds covered by valid data per factory over [first, last] days.

    Expected seconds count each node only while it was assigned (core.measurement.availability).
    """
    if not factory_ids:
        return {}
    covered = dict(
        session.execute(
            sa.select(FactoryDaily.factory_id, sa.func.sum(FactoryDaily.covered_s))
            .where(FactoryDaily.factory_id.in_(factory_ids), FactoryDaily.day >= first, FactoryDaily.day <= last)
            .group_by(FactoryDaily.factory_id)
        ).all()
    )
    start, _ = local_day_bounds_utc(first, tz)
    _, end = local_day_bounds_utc(last, tz)
    expected_by_factory = expected_seconds(session, factory_ids, start, end, now)
    out: dict[int, float | None] = {}
    for fid in factory_ids:
        expected = expected_by_factory.get(fid, 0.0)
        out[fid] = None if expected <= 0 else min(1.0, float(covered.get(fid) or 0.0) / expected)
    return out


APPROVED_ONLY = (STATUS_APPROVED,)


def _share(flags: list[bool]) -> float | None:
    return None if not flags else sum(flags) / len(flags)


def hq_overview(session: Session, user: UserLike | None, factors: FactorSet, now: datetime | None = None,
                tz: tzinfo = DEFAULT_TZ, gwp: str = "AR5", first: date | None = None,
                last: date | None = None) -> Overview:
    """Month-to-date and year-to-date totals, success metrics, trend, regions, map data.

    `gwp` is the configured GWP-100 set (CARBONTRACK_GWP_SET), the same the workbooks use. With a
    month range (`first`, `last`; see `month_range`) the "year to date" totals, the regions and the
    trend cover those months instead; month to date and last month's figures stay as they are.
    """
    now = now or utcnow()
    ids = allowed_factory_ids(session, user)
    today = local_date(now, tz)
    this_month = month_start(today)
    last_month = add_months(this_month, -1)
    chosen = month_range(first, last, today)
    if chosen is None:
        trend_months = [add_months(this_month, -i) for i in range(12, -1, -1)]
        year_months = [m for m in trend_months if m.year == today.year]
    else:
        trend_months = year_months = chosen
    wanted = sorted(set(trend_months) | {this_month, last_month})
    inv = cached_monthly_inventory(session, wanted, factors, ids, gwp=gwp, tz=tz, now=now) if ids else []
    by_month: dict[date, list[MonthlyInventory]] = defaultdict(list)
    for i in inv:
        by_month[i.month].append(i)
    mtd = totals(by_month.get(this_month, []))
    year_invs = [i for m in year_months for i in by_month.get(m, [])]
    # Approved and submitted are kept apart (issue 16): the network figures, trend, regions and
    # target share count approved months; months awaiting approval are counted beside them.
    ytd = totals(year_invs, APPROVED_ONLY)
    ytd_pending = totals(year_invs, (STATUS_SUBMITTED,))
    last = by_month.get(last_month, [])
    on_time = _share([i.submitted_on_time for i in last])
    target_flags = [i.target_met for i in last if i.target_met is not None and i.submission_status == STATUS_APPROVED]
    n_target_pending = sum(1 for i in last if i.target_met is not None and i.submission_status == STATUS_SUBMITTED)
    by_region_lists: dict[int, list[MonthlyInventory]] = defaultdict(list)
    for m in year_months:
        for i in by_month.get(m, []):
            by_region_lists[i.region].append(i)
    # The "sensor uptime ≥ 50 %" success metric is Part 75 percent monitor data availability
    # (core.measurement.availability) per factory over the last 30 days, with the fleet's beside it.
    lo30, hi30 = days_window(today, UPTIME_DAYS, now, tz)
    avail = factory_availability(session, ids, lo30, hi30, now)
    uptime = {fid: a.share for fid, a in avail.items()}
    uptime_ok = None if not ids else sum(1 for u in uptime.values() if u is not None and u >= UPTIME_THRESHOLD) / len(ids)
    fleet = total_availability(avail.values())
    dev_rows = session.execute(
        sa.select(Device.last_seen_at, Device.status, Device.sample_interval_s)
        .where(Device.factory_id.in_(ids), Device.active.is_(True))
    ).all() if ids else []
    nodes_online = sum(1 for seen, status, interval in dev_rows if is_online(seen, status, interval, now))
    last_by_factory = {i.factory_id: i for i in last}
    factories = []
    if ids:
        for f in session.scalars(sa.select(Factory).where(Factory.id.in_(ids)).order_by(Factory.code)):
            li = last_by_factory.get(f.id)
            factories.append({
                "id": f.id, "code": f.code, "name": f.name, "region": f.region, "county": f.county,
                "lat": f.latitude, "lon": f.longitude,
                "intensity": li.intensity_kg_per_kg if li else None,
                "target": f.target_kg_co2e_per_kg,
                "target_met": li.target_met if li and li.submission_status == STATUS_APPROVED else None,
                "status": li.submission_status if li else "missing",
                "uptime": uptime.get(f.id),
            })
    return Overview(
        today=today, mtd=mtd, ytd=ytd, mtd_measured_co2_kg=mtd.measured_co2_kg, n_factories=len(ids),
        last_month=last_month, submitted_on_time_share=on_time, target_met_share=_share(target_flags),
        n_with_target_result=len(target_flags), uptime=uptime, uptime_ok_share=uptime_ok,
        nodes_online=nodes_online, nodes_total=len(dev_rows),
        trend=[(m, totals(by_month.get(m, []), APPROVED_ONLY)) for m in trend_months],
        by_region={r: totals(lst, APPROVED_ONLY) for r, lst in sorted(by_region_lists.items())},
        factories=factories, ytd_pending=ytd_pending, n_target_pending=n_target_pending,
        fleet_availability=fleet.share, fleet_valid_hours=fleet.valid_hours, fleet_assigned_hours=fleet.assigned_hours,
        range_months=chosen,
    )


# ---------------------------------------------------------------------------------------------
# Leaderboard

PERIODS = {
    "latest": "Latest approved month",
    "last_month": "Last month",
    "ytd": "Year to date",
    "last_12": "Last 12 months",
}
METRICS = {
    "intensity": "Intensity (kg CO2e/kg made tea)",
    "emissions": "Emissions (t CO2e)",
    "change": "Change vs same period last year (%)",
}


def period_months(period: str, today: date) -> list[date]:
    """Return the months a leaderboard period covers (complete months, plus this month for YTD)."""
    this_month = month_start(today)
    if period == "last_month":
        return [add_months(this_month, -1)]
    if period == "ytd":
        return [date(today.year, m, 1) for m in range(1, today.month + 1)]
    if period == "last_12":
        return [add_months(this_month, -i) for i in range(12, 0, -1)]
    raise ValueError(f"unknown period {period!r}; periods: {', '.join(PERIODS)}")


def latest_approved_month(session: Session, factory_ids: Sequence[int]) -> date | None:
    """Return the newest month with an approved submission among `factory_ids`, or None."""
    if not factory_ids:
        return None
    return session.scalar(sa.select(sa.func.max(MonthlySubmission.month)).where(
        MonthlySubmission.factory_id.in_(factory_ids), MonthlySubmission.status == STATUS_APPROVED))


@dataclass(frozen=True)
class MonthProgress:
    """Where a month's submissions stand: what a pending message says ("0 of 67 submitted, due 10 Dec")."""

    month: date
    n_factories: int
    n_submitted: int  # submitted or approved
    n_approved: int
    n_draft: int
    due_at: datetime


def month_progress(session: Session, user: UserLike | None, month: date, tz: tzinfo = DEFAULT_TZ) -> MonthProgress:
    """Count the allowed factories' submissions for `month` by status."""
    ids = allowed_factory_ids(session, user)
    counts: dict[str, int] = defaultdict(int)
    if ids:
        for status, n in session.execute(
            sa.select(MonthlySubmission.status, sa.func.count())
            .where(MonthlySubmission.factory_id.in_(ids), MonthlySubmission.month == month_start(month))
            .group_by(MonthlySubmission.status)
        ):
            counts[status] = n
    return MonthProgress(month_start(month), len(ids), counts[STATUS_SUBMITTED] + counts[STATUS_APPROVED],
                         counts[STATUS_APPROVED], counts[STATUS_DRAFT], due_datetime(month_start(month), tz))


@dataclass
class LeaderRow:
    rank: int
    factory_id: int
    code: str
    name: str
    region: int
    total_kg: float | None
    made_tea_kg: float | None
    intensity: float | None
    target: float | None
    target_met: bool | None
    prior_total_kg: float | None  # over the compared months only
    change_pct: float | None
    months_reported: int
    months: int = field(default=0)
    months_compared: int = 0  # months with data both now and a year earlier
    months_pending: int = 0  # submitted, awaiting HQ approval: not in the figures unless asked for
    months_draft: int = 0  # drafts: never in the figures


def leaderboard(session: Session, user: UserLike | None, factors: FactorSet, period: str = "last_month",
                region: int | None = None, metric: str = "intensity", now: datetime | None = None,
                tz: tzinfo = DEFAULT_TZ, include_submitted: bool = False, gwp: str = "AR5",
                first: date | None = None, last: date | None = None) -> list[LeaderRow]:
    """Return all allowed factories ranked by `metric` (ascending: lower is better); missing data last.

    Only approved months count (one unchecked submission must not move a factory from 16th to
    67th); `include_submitted` adds months awaiting approval. Each row says how many are pending.
    A month range (`first`, `last`; see `month_range`) replaces `period`.
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; metrics: {', '.join(METRICS)}")
    now = now or utcnow()
    ids = allowed_factory_ids(session, user)
    if region is not None and ids:
        ids = list(session.scalars(sa.select(Factory.id).where(Factory.id.in_(ids), Factory.region == region)))
    if not ids:
        return []
    chosen = month_range(first, last, local_date(now, tz))
    if chosen is not None:
        months = chosen
    elif period == "latest":
        months = [latest_approved_month(session, ids) or add_months(month_start(local_date(now, tz)), -1)]
    else:
        months = period_months(period, local_date(now, tz))
    prior = [add_months(m, -12) for m in months]
    inv = cached_monthly_inventory(session, months + prior, factors, ids, gwp=gwp, tz=tz, now=now)
    cur: dict[int, list[MonthlyInventory]] = defaultdict(list)
    old: dict[int, list[MonthlyInventory]] = defaultdict(list)
    meta: dict[int, MonthlyInventory] = {}
    month_set = set(months)
    counted = {STATUS_APPROVED, STATUS_SUBMITTED} if include_submitted else {STATUS_APPROVED}
    pending: dict[int, int] = defaultdict(int)
    drafts: dict[int, int] = defaultdict(int)
    for i in inv:
        meta.setdefault(i.factory_id, i)
        if i.month in month_set:
            pending[i.factory_id] += i.submission_status == STATUS_SUBMITTED
            drafts[i.factory_id] += i.submission_status == STATUS_DRAFT
        if i.submission_status not in counted:
            continue
        (cur if i.month in month_set else old)[i.factory_id].append(i)
    rows = []
    for fid, first in meta.items():
        t = totals(cur.get(fid, []))
        total = t.total_kg if t.n else None
        intensity = t.intensity_kg_per_kg if t.n else None
        target = first.target_kg_co2e_per_kg
        # Compare like with like: only months reported both now and a year earlier, so a year with
        # fewer months of data never looks like a fall in emissions.
        prior_by_month = {i.month: i for i in old.get(fid, []) if i.has_energy_data}
        pairs = [(i, prior_by_month[add_months(i.month, -12)]) for i in cur.get(fid, [])
                 if i.has_energy_data and add_months(i.month, -12) in prior_by_month]
        change = prior_total = None
        if pairs:
            now_kg = totals(c for c, _ in pairs).total_kg
            prior_total = totals(p for _, p in pairs).total_kg
            change = (now_kg - prior_total) / prior_total * 100.0 if prior_total > 0 else None
        rows.append(LeaderRow(
            0, fid, first.factory_code, first.factory_name, first.region, total, t.made_tea_kg if t.n else None,
            intensity, target, None if intensity is None or target is None else intensity <= target,
            prior_total, change, t.n, len(months), len(pairs), pending[fid], drafts[fid],
        ))
    key_attr = {"intensity": "intensity", "emissions": "total_kg", "change": "change_pct"}[metric]
    rows.sort(key=lambda r: (getattr(r, key_attr) is None, getattr(r, key_attr) or 0.0, r.code))
    for n, r in enumerate(rows, 1):
        r.rank = n
    return rows


# ---------------------------------------------------------------------------------------------
# Node health


def _covered_s_by_device(session: Session, table, since, device_ids: Sequence[str]) -> dict[str, float]:  # noqa: ANN001
    """Valid sensor-seconds per device in a rollup table (hourly or daily) from a lower bound on."""
    if not device_ids:
        return {}
    return dict(
        session.execute(
            sa.select(table.device_id, sa.func.sum(table.covered_s))
            .where(table.device_id.in_(device_ids), since)
            .group_by(table.device_id)
        ).all()
    )


def node_health(session: Session, user: UserLike | None, now: datetime | None = None, tz: tzinfo = DEFAULT_TZ,
                factory_id: int | None = None) -> list[NodeStatus]:
    """Return every allowed node with status, signal, firmware, buffer, coverage over 24 h and 30 days,
    data availability over 30 days and its calibration state."""
    now = now or utcnow()
    ids = allowed_factory_ids(session, user)
    if factory_id is not None:
        require_factory(user, factory_id)
        ids = [factory_id] if factory_id in ids else []
    if not ids:
        return []
    rows = session.execute(
        sa.select(Device, Stack.name, Factory.code)
        .join(Stack, Stack.id == Device.stack_id)
        .join(Factory, Factory.id == Device.factory_id)
        .where(Device.factory_id.in_(ids), Device.active.is_(True))
        .order_by(Factory.code, Device.id)
    ).all()
    device_ids = [d.id for d, _, _ in rows]
    since_hour = (now - timedelta(hours=24)).replace(minute=0, second=0, microsecond=0)
    cov24 = _covered_s_by_device(session, DeviceHourly, DeviceHourly.hour >= since_hour, device_ids)
    today = local_date(now, tz)
    first = today - timedelta(days=UPTIME_DAYS - 1)
    cov30 = _covered_s_by_device(session, DeviceDaily, DeviceDaily.day >= first, device_ids)
    start30, _ = local_day_bounds_utc(first, tz)
    # Expected seconds: only while each node was assigned (a node commissioned yesterday is not
    # 3 % covered over 30 days, it is judged on the day it has existed).
    intervals = assignments(session, device_ids=device_ids)
    exp24 = assigned_seconds(intervals, since_hour, now, by="device")
    exp30 = assigned_seconds(intervals, start30, now, by="device")
    avail30 = device_availability(session, device_ids, start30, now, now)
    cal = calibration_status(session, device_ids, now)
    out = []
    for d, stack_name, code in rows:
        out.append(NodeStatus(
            d.id, d.factory_id, code, stack_name, d.status,
            is_online(d.last_seen_at, d.status, d.sample_interval_s, now), d.last_seen_at,
            d.rssi_dbm, d.firmware, d.buffered,
            coverage_share(float(cov24.get(d.id) or 0.0), exp24.get(d.id, 0.0)),
            coverage_share(float(cov30.get(d.id) or 0.0), exp30.get(d.id, 0.0)),
            avail30[d.id].share, avail30[d.id].valid_hours, avail30[d.id].assigned_hours, cal.get(d.id),
        ))
    return out


def factory_availability_30d(session: Session, user: UserLike | None, now: datetime | None = None,
                             tz: tzinfo = DEFAULT_TZ, factory_id: int | None = None) -> dict[int, Availability]:
    """Percent monitor data availability per allowed factory over the last UPTIME_DAYS local days."""
    now = now or utcnow()
    ids = allowed_factory_ids(session, user)
    if factory_id is not None:
        require_factory(user, factory_id)
        ids = [factory_id] if factory_id in ids else []
    lo, hi = days_window(local_date(now, tz), UPTIME_DAYS, now, tz)
    return factory_availability(session, ids, lo, hi, now)


@dataclass
class ListenerHealth:
    instance: str
    updated_at: datetime
    started_at: datetime
    counters: dict
    fresh: bool
    # reporting (row updated in the last 2 minutes), silent (stale: gone or stuck, up to a day),
    # stopped (said so when it stopped, or stale for more than a day; `carbontrack retention`
    # deletes such rows after a week).
    state: str = "reporting"


# A listener silent for longer than this is shown as stopped, not as a live problem.
LISTENER_STOPPED_AFTER = timedelta(days=1)


def listener_health(session: Session, user: UserLike | None, now: datetime | None = None) -> list[ListenerHealth]:
    """Return the listener processes' latest counters: HQ, admins and auditors only.

    The counters are network-wide (every factory's messages, rejections, broker state), so a
    factory manager, who sees one factory, gets none (issue 18: they did, by having a factory).
    """
    if user is None or not getattr(user, "active", False) or user.role not in (ROLE_HQ, ROLE_ADMIN, ROLE_AUDITOR):
        return []
    now = now or utcnow()
    out = []
    for r in session.scalars(sa.select(ListenerStat).order_by(ListenerStat.instance)):
        try:
            counters = json.loads(r.counters or "{}")
        except ValueError:
            counters = {"error": "unreadable counters"}
        age = now - r.updated_at
        fresh = age <= timedelta(minutes=2)
        if isinstance(counters, dict) and counters.get("stopped"):
            state = "stopped"
        else:
            state = "reporting" if fresh else "silent" if age <= LISTENER_STOPPED_AFTER else "stopped"
        out.append(ListenerHealth(r.instance, r.updated_at, r.started_at, counters, fresh and state != "stopped", state))
    # Running ones first: a page of stopped processes must not hide the live listener.
    out.sort(key=lambda li: (li.state == "stopped", li.instance))
    return out


# ---------------------------------------------------------------------------------------------
# Audit log


def audit_entries(session: Session, user: UserLike | None, limit: int = 500, factory_id: int | None = None,
                  action: str | None = None, text: str | None = None, offset: int = 0) -> list[AuditLog]:
    """Newest audit rows for admins and auditors; others get AccessDenied.

    `offset` skips that many of the newest matching rows (the audit grid's server-side paging).
    """
    if user is None or not user.active or user.role not in ("admin", "auditor"):
        raise AccessDenied("only admins and auditors read the audit log")
    q = sa.select(AuditLog).order_by(AuditLog.at.desc(), AuditLog.id.desc()).limit(max(1, min(limit if isinstance(limit, int) else 500, 5000)))
    if isinstance(offset, int) and not isinstance(offset, bool) and offset > 0:
        q = q.offset(min(offset, 10**9))
    if factory_id is not None:
        q = q.where(AuditLog.factory_id == factory_id)
    if isinstance(action, str) and action:
        q = q.where(AuditLog.action == action[:40])
    if isinstance(text, str) and text.strip():
        like = f"%{text.strip()[:80]}%"
        q = q.where(sa.or_(AuditLog.username.ilike(like), AuditLog.entity.ilike(like), AuditLog.field.ilike(like),
                           AuditLog.detail.ilike(like), AuditLog.entity_id.ilike(like)))
    return list(session.scalars(q))

"""Labelled substitute values for device-hours without valid data (docs/qaqc.md "Substitution").

Part 75 style (40 CFR 75.33(b)(1), the tier for a monitor with at least 95 % data availability),
applied to each device's hourly CO2 mass (kg per hour):

- An hour is *measured* when its rollup has valid coverage (`covered_s > 0`); its hourly value is
  the hour's mean mass flow times one hour, `co2_kg × 3600 / covered_s`.
- An hour is *non-operating* when it has readings but every one failed only the low-velocity
  check (QA_LOW_VELOCITY): the stack is not running; it gets a 0 kg row (method `non_operating`).
- Every other hour the device was expected to measure is *missing*. A missing-data period is a
  run of consecutive missing hours; HB is the last measured hour before it, HA the first after it.
  - ≤ 24 h (75.33(b)(1)(i)): each hour gets the average of HB and HA (`hb_ha_avg`).
  - > 24 h (75.33(b)(1)(ii)): each hour gets the greater of (A) the 90th percentile of the
    measured hourly values of the look-back period — the 720 measured hours before the gap
    (nearest-rank percentile: the value at rank ⌈0.9·n⌉ of the n values sorted ascending; fewer
    than 720 when the device has fewer) — and (B) the HB/HA average (`p90_lookback` or
    `hb_ha_avg_long`, whichever was used).
  - Only HB or only HA exists (a device's first gap, or a gap still open at the end): that
    hour's value (`one_side`), or for a gap > 24 h the greater of it and the percentile.
  - Neither and no look-back: no substitute (the hours are reported as missing, not as zero).
- Expected hours: while the device is assigned to a stack (device_assignment), from the hour of
  its commissioning to its retirement (or now), counted for the assignment's factory. A device
  with no assignment rows (a database from before lifecycles) is expected from the hour of its
  first stored reading; an active one until now, an inactive one until its last reading.

Substitutes are stored in `substitute_hour`, apart from the measured rollups, and never count as
coverage. `substitute_period` recomputes a closed period idempotently (delete, then insert).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.models import (
    QA_LOW_VELOCITY,
    QUALITY_VALID,
    SUBST_HB_HA,
    SUBST_HB_HA_LONG,
    SUBST_NON_OPERATING,
    SUBST_ONE_SIDE,
    SUBST_P90,
    Device,
    DeviceHourly,
    Reading,
    SubstituteHour,
)
from core.timeutil import DEFAULT_TZ, local_date, utcnow

# 40 CFR 75.33(b)(1)(i): a missing-data period of at most 24 hours uses the HB/HA average.
SHORT_GAP_H = 24
# 40 CFR 75.33(b)(1)(ii)(A): the 90th percentile of the 720 quality-assured monitor operating hours before.
LOOKBACK_H = 720
PERCENTILE = 90
METHOD_TEXT = {
    SUBST_HB_HA: "average of the hour before and after (40 CFR 75.33(b)(1)(i), gap ≤ 24 h)",
    SUBST_P90: "90th percentile of the 720 measured hours before (40 CFR 75.33(b)(1)(ii)(A), gap > 24 h)",
    SUBST_HB_HA_LONG: "average of the hour before and after, above the 90th percentile (75.33(b)(1)(ii)(B))",
    SUBST_ONE_SIDE: "the only neighbouring measured hour (gap at the start or end of the data)",
    SUBST_NON_OPERATING: "stack not running (velocity below the sensor minimum): 0 kg",
}
_HOUR = timedelta(hours=1)
# Hours looked at beyond each end of the period, so a gap crossing the boundary is measured whole.
_EDGE_H = SHORT_GAP_H + 1


def _naive(dt: datetime) -> datetime:
    return dt if dt.tzinfo is None else dt.astimezone(UTC).replace(tzinfo=None)


def _floor_hour(dt: datetime) -> datetime:
    return dt.replace(minute=0, second=0, microsecond=0)


def percentile_nearest_rank(values: list[float], pct: float) -> float:
    """The nearest-rank percentile: the value at rank ⌈pct/100 · n⌉ of the sorted values."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[rank - 1]


def hourly_value_kg(co2_kg: float, covered_s: float) -> float:
    """A measured hour's value: its mean mass flow over the covered seconds times one hour."""
    return co2_kg * 3600.0 / covered_s


@dataclass
class SubstitutionResult:
    """What one run of `substitute_period` stored."""

    devices: int = 0
    hours: int = 0  # substituted hours (non-operating ones not included)
    co2_kg: float = 0.0
    non_operating_hours: int = 0
    unsubstituted_hours: int = 0  # missing hours without any value to substitute from
    by_method: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Span:
    """Hours [lo, hi) (naive UTC, clipped to the period asked for) a device was expected to measure on
    one stack, and the whole assignment's hours [bound_lo, bound_hi) (None: open) — HB, HA and the
    look-back come from that stack only, never from the device's time on another stack."""

    lo: datetime
    hi: datetime
    factory_id: int
    stack_id: int | None = None
    bound_lo: datetime | None = None
    bound_hi: datetime | None = None


def _ceil_hour(dt: datetime) -> datetime:
    floor = _floor_hour(dt)
    return floor if floor == dt else floor + _HOUR


def expected_spans(session: Session, devices: list[Device], start: datetime, end: datetime,
                   now: datetime) -> dict[str, list[Span]]:
    """The hours within [start, end) each device was expected to measure, by its assignments.

    A device is expected to measure while it is assigned to a stack (device_assignment, issue 12):
    from the hour of its commissioning to its retirement (or now), for the assignment's factory. A
    device with no assignment rows (a database from before lifecycles) is expected from the hour of
    its first stored reading to now, or to its last reading when it is inactive.
    """
    if not devices:
        return {}
    from core.measurement.availability import assignments

    by_id = {d.id: d for d in devices}
    cap = _floor_hour(_naive(now))
    t = Reading.__table__.c
    bounds = {d: (lo, hi) for d, lo, hi in session.execute(
        sa.select(t.device_id, sa.func.min(t.ts), sa.func.max(t.ts))
        .where(t.device_id.in_(list(by_id))).group_by(t.device_id))}
    out: dict[str, list[Span]] = defaultdict(list)
    for a in assignments(session, device_ids=list(by_id)):
        d = by_id.get(a.device_id)
        if d is None:
            continue
        if a.start is None:  # no lifecycle rows: from the first reading, HB/HA from its whole history
            if d.id not in bounds:
                continue
            first, last = (_naive(x) for x in bounds[d.id])
            lo = _floor_hour(first)
            hi = cap if d.active else _floor_hour(last) + _HOUR
            bound_lo = bound_hi = None
        else:
            lo = bound_lo = _floor_hour(_naive(a.start))
            bound_hi = None if a.end is None else _ceil_hour(_naive(a.end))
            hi = cap if bound_hi is None else min(cap, bound_hi)
        spans = out[d.id]
        if spans and spans[-1].stack_id == a.stack_id and spans[-1].bound_hi is not None and lo <= spans[-1].bound_hi:
            # Re-commissioned on the same stack without a break: one span.
            prev = spans.pop()
            lo, bound_lo = prev.bound_lo or lo, prev.bound_lo
        clipped_lo, clipped_hi = max(start, lo), min(end, hi)
        if clipped_lo >= clipped_hi:
            continue
        spans.append(Span(clipped_lo, clipped_hi, a.factory_id, a.stack_id, bound_lo, bound_hi))
    return dict(out)


def _measured_hours(session: Session, device_id: str, lo: datetime, hi: datetime) -> tuple[dict, set]:
    """({hour: value} of measured hours, {hours with readings but no valid data}) in [lo, hi)."""
    measured, invalid = {}, set()
    for hour, co2_kg, covered_s, n_readings in session.execute(
        sa.select(DeviceHourly.hour, DeviceHourly.co2_kg, DeviceHourly.covered_s, DeviceHourly.n_readings)
        .where(DeviceHourly.device_id == device_id, DeviceHourly.hour >= lo, DeviceHourly.hour < hi)
    ):
        hour = _naive(hour)
        if covered_s and covered_s > 0:
            measured[hour] = hourly_value_kg(co2_kg or 0.0, covered_s)
        elif n_readings:
            invalid.add(hour)
    return measured, invalid


def _non_operating(session: Session, device_id: str, hours: set[datetime]) -> set[datetime]:
    """Of `hours` (readings, none valid), those whose every reading failed only the low-velocity check."""
    if not hours:
        return set()
    t = Reading.__table__.c
    lo, hi = min(hours), max(hours) + _HOUR
    other = {
        _floor_hour(_naive(ts)) for (ts,) in session.execute(
            sa.select(t.ts).where(
                t.device_id == device_id, t.ts >= lo, t.ts < hi, t.quality != QUALITY_VALID,
                sa.or_(t.server_flags.is_(None), t.server_flags != QA_LOW_VELOCITY),
            )
        )
    }
    return hours - other


def _neighbour(session: Session, device_id: str, hour: datetime, before: bool,
               span: Span | None = None) -> tuple[datetime, float] | None:
    """The last measured hour before `hour` (or the first at/after it) with its value, within the span's stack."""
    h = DeviceHourly
    q = sa.select(h.hour, h.co2_kg, h.covered_s).where(h.device_id == device_id, h.covered_s > 0)
    q = _within(q, span)
    q = q.where(h.hour < hour).order_by(h.hour.desc()) if before else q.where(h.hour >= hour).order_by(h.hour)
    row = session.execute(q.limit(1)).first()
    return None if row is None else (_naive(row.hour), hourly_value_kg(row.co2_kg or 0.0, row.covered_s))


def _within(q, span: Span | None):  # noqa: ANN001, ANN202
    """Limit an hourly query to the span's assignment (its stack)."""
    if span is not None and span.bound_lo is not None:
        q = q.where(DeviceHourly.hour >= span.bound_lo)
    if span is not None and span.bound_hi is not None:
        q = q.where(DeviceHourly.hour < span.bound_hi)
    return q


def _side(session: Session, device_id: str, hour: datetime, measured: dict[datetime, float],
          before: bool, span: Span | None = None) -> tuple[datetime, float] | None:
    """HB (before=True, `hour` = the hour before the gap) or HA (`hour` = the hour after it)."""
    if hour in measured:
        return hour, measured[hour]
    return _neighbour(session, device_id, hour + _HOUR if before else hour, before, span)


def _lookback(session: Session, device_id: str, before: datetime, span: Span | None = None) -> list[float]:
    h = DeviceHourly
    return [hourly_value_kg(c or 0.0, s) for c, s in session.execute(
        _within(sa.select(h.co2_kg, h.covered_s), span).where(h.device_id == device_id, h.covered_s > 0, h.hour < before)
        .order_by(h.hour.desc()).limit(LOOKBACK_H)
    )]


def _fmt(hour: datetime) -> str:
    return f"{hour:%Y-%m-%dT%H}Z"


def substitute_value(gap_hours: int, hb: tuple[datetime, float] | None, ha: tuple[datetime, float] | None,
                     lookback: list[float] | None) -> tuple[float, str, str] | None:
    """(kg per hour, method, basis) for a missing-data period of `gap_hours` (module docstring rule)."""
    sides = [x for x in (hb, ha) if x is not None]
    basis_parts = [f"{name} {_fmt(h)}={v:.3f} kg" for name, x in (("HB", hb), ("HA", ha)) if x is not None
                   for h, v in [x]]
    avg = sum(v for _, v in sides) / len(sides) if sides else None
    side_method = SUBST_HB_HA if len(sides) == 2 else SUBST_ONE_SIDE
    if gap_hours <= SHORT_GAP_H:
        if avg is None:
            return None
        return avg, side_method, "; ".join(basis_parts)
    p90 = percentile_nearest_rank(lookback, PERCENTILE) if lookback else None
    if p90 is None and avg is None:
        return None
    p_text = f"p{PERCENTILE} of {len(lookback or [])} measured hours before the gap" + (
        f"={p90:.3f} kg" if p90 is not None else "")
    basis = "; ".join([p_text, *basis_parts])
    if avg is not None and (p90 is None or avg > p90):
        return avg, (SUBST_HB_HA_LONG if len(sides) == 2 else SUBST_ONE_SIDE), basis
    return p90, SUBST_P90, basis


def substitute_period(session: Session, start: datetime, end: datetime, factory_ids: Iterable[int] | None = None,
                      now: datetime | None = None) -> SubstitutionResult:
    """Recompute the substitute hours of [start, end) (UTC, whole hours) for the factories' devices.

    Idempotent: the period's rows of these devices are deleted and written again. The caller commits.
    """
    start, end = _floor_hour(_naive(start)), _floor_hour(_naive(end))
    now = now or utcnow()
    q = sa.select(Device).order_by(Device.id)
    if factory_ids is not None:
        q = q.where(Device.factory_id.in_(list(factory_ids)))
    devices = list(session.scalars(q))
    result = SubstitutionResult()
    if not devices:
        return result
    ids = [d.id for d in devices]
    s = SubstituteHour.__table__.c
    session.execute(sa.delete(SubstituteHour.__table__).where(s.device_id.in_(ids), s.hour >= start, s.hour < end))
    # Spans over the period plus its edges, so a gap crossing a boundary is measured whole.
    spans = expected_spans(session, devices, start - _EDGE_H * _HOUR, end + _EDGE_H * _HOUR, now)
    computed_at = _naive(now)
    cap = _floor_hour(computed_at)
    rows: list[dict] = []
    for d in devices:
        if d.id not in spans:
            continue
        result.devices += 1
        for span in spans[d.id]:
            _substitute_span(session, d.id, span, start, end, cap, computed_at, rows, result)
    if rows:
        session.execute(sa.insert(SubstituteHour.__table__), rows)
    return result


def _substitute_span(session: Session, device_id: str, span: Span, start: datetime, end: datetime, cap: datetime,
                     computed_at: datetime, rows: list[dict], result: SubstitutionResult) -> None:
    """Add the substitute rows of one expected span's hours within [start, end) to `rows`."""
    lo, hi = span.lo, span.hi
    measured, invalid = _measured_hours(session, device_id, lo, hi)
    idle = _non_operating(session, device_id, invalid)
    hour, runs, run_start = lo, [], None
    while hour < hi:
        missing = hour not in measured and hour not in idle
        if missing and run_start is None:
            run_start = hour
        elif not missing and run_start is not None:
            runs.append((run_start, hour))
            run_start = None
        if hour in idle and start <= hour < end:
            rows.append(dict(device_id=device_id, hour=hour, factory_id=span.factory_id, co2_kg=0.0,
                             method=SUBST_NON_OPERATING, gap_hours=1, basis="every reading below the velocity "
                             "minimum", computed_at=computed_at))
            result.non_operating_hours += 1
        hour += _HOUR
    if run_start is not None:
        runs.append((run_start, hi))
    for g0, g1 in runs:
        if g1 <= start or g0 >= end:
            continue
        hb = _side(session, device_id, g0 - _HOUR, measured, before=True, span=span)
        ha = _side(session, device_id, g1, measured, before=False, span=span)
        if ha is not None and ha[0] >= cap:
            ha = None  # the hour after is not over yet
        # The whole gap: where the run meets the span's edge, it reaches to HB / HA.
        gap_lo = hb[0] + _HOUR if g0 == lo and hb is not None else g0
        gap_hi = ha[0] if g1 == hi and ha is not None else g1
        gap_hours = int((gap_hi - gap_lo) / _HOUR)
        lookback = _lookback(session, device_id, gap_lo, span) if gap_hours > SHORT_GAP_H else None
        picked = substitute_value(gap_hours, hb, ha, lookback)
        for h in _hours(max(g0, start), min(g1, end)):
            if picked is None:
                result.unsubstituted_hours += 1
                continue
            value, method, basis = picked
            rows.append(dict(device_id=device_id, hour=h, factory_id=span.factory_id, co2_kg=value, method=method,
                             gap_hours=gap_hours, basis=basis[:2000], computed_at=computed_at))
            result.hours += 1
            result.co2_kg += value
            result.by_method[method] = result.by_method.get(method, 0) + 1


def _hours(lo: datetime, hi: datetime) -> Iterable[datetime]:
    h = lo
    while h < hi:
        yield h
        h += _HOUR


@dataclass
class SubstitutedTotals:
    """Substituted CO2 of a factory over some hours, with the methods used."""

    co2_kg: float = 0.0
    hours: int = 0
    non_operating_hours: int = 0
    methods: dict[str, int] = field(default_factory=dict)

    def add(self, co2_kg: float, method: str) -> None:
        if method == SUBST_NON_OPERATING:
            self.non_operating_hours += 1
            return
        self.co2_kg += co2_kg
        self.hours += 1
        self.methods[method] = self.methods.get(method, 0) + 1

    @property
    def method_text(self) -> str:
        """The methods used with their hours, e.g. "hb_ha_avg 3 h (average of …)"."""
        return "; ".join(f"{m} {n} h: {METHOD_TEXT[m]}" for m, n in sorted(self.methods.items()))


def substituted_by_local_day(session: Session, factory_ids: Iterable[int], first: date, last: date,
                             tz: tzinfo = DEFAULT_TZ, by_month: bool = False) -> dict[tuple[int, date], SubstitutedTotals]:
    """Substitutes per (factory, local day) for the local days [first, last]; callers scope the factories.

    `by_month` sums them per (factory, local month) instead (keyed by the month's first day).
    """
    from core.timeutil import local_day_bounds_utc, month_start

    lo, _ = local_day_bounds_utc(first, tz)
    _, hi = local_day_bounds_utc(last, tz)
    s = SubstituteHour
    out: dict[tuple[int, date], SubstitutedTotals] = defaultdict(SubstitutedTotals)
    for fid, hour, co2_kg, method in session.execute(
        sa.select(s.factory_id, s.hour, s.co2_kg, s.method)
        .where(s.factory_id.in_(list(factory_ids)), s.hour >= _naive(lo), s.hour < _naive(hi))
    ):
        day = local_date(hour, tz)
        out[(fid, month_start(day) if by_month else day)].add(co2_kg, method)
    return dict(out)

"""Calibration log and drift control of the nodes' CO2 analysers (`calibration_check`).

A zero or span check feeds a certified reference gas to the analyser and compares its reading:
calibration error = |measured − expected| / span × 100 %, and a check **fails** above
CAL_ERROR_LIMIT_PCT = 2.5 % of span — the daily calibration error limit for CO2 monitors in
40 CFR Part 75 Appendix A §3.1 (and the out-of-control rule of Appendix B §2.1.4).

Out of control: when a check fails, the readings from the time of the last passed check of the
same kind (zero or span; none ever: from the node's first reading) until the next passed check
of that kind are stored with quality QUALITY_OUT_OF_CONTROL: kept, shown, but excluded from valid
coverage, data availability and totals; the rollups of the affected hours and days are rebuilt
from the raw readings. A later passing check marks back only the readings after that pass: the
readings of the out-of-control period stay out of control. `apply_control_state` does this for
one device and is idempotent (it recomputes the marks from the whole log), so it can run after
every new check, by the portal and by the listener when a node reports an automatic check or
its cached control state changes. Only VALID ↔ OUT_OF_CONTROL transitions are made: a reading
already invalid for another reason keeps its quality and reason.

Overdue: a node with no passed check in `overdue_days` (default CAL_OVERDUE_DAYS) shows as
overdue on node health.

May import the core kernel and core.measurement.rollups.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.access import AccessDenied, UserLike
from core.audit import record_audit
from core.measurement.rollups import reading_coverage_s, recompute_rollups
from core.models import (
    CAL_KINDS,
    CAL_SOURCE_NODE,
    CAL_SOURCE_PORTAL,
    QUALITY_OUT_OF_CONTROL,
    QUALITY_VALID,
    CalibrationCheck,
    Device,
    Reading,
)
from core.timeutil import DEFAULT_TZ, as_utc, utcnow
from core.validation import FieldError, choice, local_datetime, number_in, text

# 40 CFR Part 75 Appendix A §3.1: a CO2 monitor's calibration error may not exceed 2.5 % of span.
CAL_ERROR_LIMIT_PCT = 2.5
# A node without a passed check for this many days shows as overdue. Part 75 asks for a daily
# check of a permanent CEMS; these nodes are checked by hand on site visits, so the default is
# one check per reporting month (every reported month then has at least one passed check in or
# just before it). The calibration alerts (core.alerts.rules) use the same rule.
CAL_OVERDUE_DAYS = 31
OUT_OF_CONTROL_REASON = "calibration out of control"
# Input ranges: the node's analyser reads 0–200,000 ppm (docs/payload.md); a reference gas or
# span above 1,000,000 ppm (100 %) is a typing error.
PPM_RANGE = (0.0, 1_000_000.0)
CERTIFICATE_MAX_CHARS = 80
NOTE_MAX_CHARS = 300
CAN_RECORD = ("hq", "admin")


class CalibrationError(ValueError):
    """A check cannot be recorded as given; `field` names the form field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def calibration_error_pct(measured: float, expected: float, span: float) -> float:
    """|measured − expected| / span × 100 (40 CFR 75 App. A §3.1)."""
    if span <= 0:
        raise ValueError("span must be positive")
    return abs(measured - expected) / span * 100.0


def check_passes(error_pct: float, limit_pct: float = CAL_ERROR_LIMIT_PCT) -> bool:
    """Whether a calibration error is within the limit (≤ 2.5 % of span passes)."""
    return error_pct <= limit_pct


Interval = tuple[datetime | None, datetime | None]  # [start, end); None = unbounded


def control_intervals(checks: Iterable[CalibrationCheck]) -> list[Interval]:
    """Out-of-control intervals from a device's checks (module doc), per kind, merged."""
    by_kind: dict[str, list[CalibrationCheck]] = defaultdict(list)
    for c in checks:
        by_kind[c.kind].append(c)
    out: list[Interval] = []
    for kind_checks in by_kind.values():
        kind_checks.sort(key=lambda c: (as_utc(c.checked_at), c.id or 0))
        last_pass: datetime | None = None
        start: datetime | None = None
        failing = False
        for c in kind_checks:
            t = as_utc(c.checked_at)
            if c.passed:
                if failing:
                    out.append((start, t))
                    failing = False
                last_pass = t
            elif not failing:
                failing = True
                start = last_pass
        if failing:
            out.append((start, None))
    return _merge(out)


def _merge(intervals: list[Interval]) -> list[Interval]:
    lo = datetime.min.replace(tzinfo=UTC)
    items = sorted(intervals, key=lambda iv: iv[0] or lo)
    merged: list[Interval] = []
    for s, e in items:
        if merged:
            ps, pe = merged[-1]
            if pe is None or (s or lo) <= pe:
                merged[-1] = (ps, None if pe is None or e is None else max(pe, e))
                continue
        merged.append((s, e))
    return merged


def in_intervals(ts: datetime, intervals: Sequence[Interval]) -> bool:
    """Whether `ts` (aware) lies in one of the intervals."""
    return any((s is None or ts >= s) and (e is None or ts < e) for s, e in intervals)


def device_checks(session: Session, device_id: str) -> list[CalibrationCheck]:
    """The device's checks, oldest first."""
    return list(session.scalars(
        sa.select(CalibrationCheck).where(CalibrationCheck.device_id == device_id)
        .order_by(CalibrationCheck.checked_at, CalibrationCheck.id)
    ))


def control_state(session: Session, device_ids: Iterable[str] | None = None) -> dict[str, list[Interval]]:
    """Out-of-control intervals per device that has any (the listener caches this with its registry)."""
    q = sa.select(CalibrationCheck)
    if device_ids is not None:
        q = q.where(CalibrationCheck.device_id.in_(list(device_ids)))
    # Only devices with a failed check can have an interval.
    failed = sa.select(CalibrationCheck.device_id).where(CalibrationCheck.passed.is_(False)).distinct()
    by_device: dict[str, list[CalibrationCheck]] = defaultdict(list)
    for c in session.scalars(q.where(CalibrationCheck.device_id.in_(failed))):
        by_device[c.device_id].append(c)
    out = {d: control_intervals(cs) for d, cs in by_device.items()}
    return {d: iv for d, iv in out.items() if iv}


def _interval_clause(intervals: Sequence[Interval]):  # noqa: ANN202
    parts = []
    for s, e in intervals:
        conds = []
        if s is not None:
            conds.append(Reading.ts >= s)
        if e is not None:
            conds.append(Reading.ts < e)
        parts.append(sa.and_(*conds) if conds else sa.true())
    return sa.or_(*parts) if parts else sa.false()


def apply_control_state(session: Session, device_id: str, tz: tzinfo = DEFAULT_TZ) -> int:
    """Mark the device's readings in or out of control from its whole log; rebuild affected rollups.

    Returns the number of readings whose quality changed. Idempotent; the caller commits.
    """
    intervals = control_intervals(device_checks(session, device_id))
    inside = _interval_clause(intervals)
    to_ooc = sa.and_(Reading.device_id == device_id, Reading.quality == QUALITY_VALID, inside)
    to_valid = sa.and_(Reading.device_id == device_id, Reading.quality == QUALITY_OUT_OF_CONTROL, sa.not_(inside))
    lo = hi = None
    for cond in (to_ooc, to_valid):
        a, b = session.execute(sa.select(sa.func.min(Reading.ts), sa.func.max(Reading.ts)).where(cond)).one()
        if a is not None:
            lo = a if lo is None else min(lo, a)
            hi = b if hi is None else max(hi, b)
    if lo is None:
        return 0
    back_ids = set(session.scalars(sa.select(Reading.id).where(to_valid)))
    # An out-of-control reading covers nothing (covered_s = 0, as the writer stores invalid ones).
    n = session.execute(sa.update(Reading).where(to_ooc).values(
        quality=QUALITY_OUT_OF_CONTROL, quality_reason=OUT_OF_CONTROL_REASON, covered_s=0.0).execution_options(
        synchronize_session=False)).rowcount
    if back_ids:
        n += _mark_valid_again(session, device_id, back_ids)
    # The readings' hours and days: coverage and CO2 from the raw readings again.
    recompute_rollups(session, [device_id], as_utc(lo), as_utc(hi) + timedelta(seconds=1), tz)
    return n


def _mark_valid_again(session: Session, device_id: str, ids: set[int]) -> int:
    """Mark readings valid again with the seconds they cover (their interval, capped by the next reading's gap)."""
    default_s = float(session.scalar(sa.select(Device.sample_interval_s).where(Device.id == device_id)) or 60.0)
    rows = session.execute(
        sa.select(Reading.id, Reading.ts, Reading.interval_s).where(Reading.device_id == device_id)
        .where(Reading.ts >= sa.select(sa.func.min(Reading.ts)).where(Reading.id.in_(ids)).scalar_subquery())
        .order_by(Reading.ts)
    ).all()
    updates = []
    for i, (rid, ts, interval_s) in enumerate(rows):
        if rid not in ids:
            continue
        gap = (rows[i + 1][1] - ts).total_seconds() if i + 1 < len(rows) else None
        covered = reading_coverage_s(True, float(interval_s or default_s), gap)
        updates.append({"rid": rid, "covered": covered})
    stmt = (sa.update(Reading.__table__).where(Reading.__table__.c.id == sa.bindparam("rid"))
            .values(quality=QUALITY_VALID, quality_reason=None, covered_s=sa.bindparam("covered")))
    session.execute(stmt, updates)
    return len(updates)


def mark_rows(rows: Iterable[dict], state: dict[str, list[Interval]]) -> int:
    """Mark valid reading rows (dicts, ts aware or naive UTC) that fall in an out-of-control interval.

    The listener calls this before it stores a batch, with its cached `control_state`.
    """
    n = 0
    for r in rows:
        iv = state.get(r["device_id"])
        if iv and r["quality"] == QUALITY_VALID and in_intervals(as_utc(r["ts"]), iv):
            r["quality"] = QUALITY_OUT_OF_CONTROL
            r["quality_reason"] = OUT_OF_CONTROL_REASON
            n += 1
    return n


def _number(value: object, field: str, *, lo_open: bool = False, required: bool = True) -> float | None:
    try:
        return number_in(value, field, *PPM_RANGE, "ppm", lo_open=lo_open, required=required)
    except FieldError as exc:
        raise CalibrationError(exc.field, exc.message) from exc


def record_check(session: Session, user: UserLike | None, device_id: object, kind: object, reference_ppm: object,
                 measured_ppm: object, span_ppm: object, *, expected_ppm: object = None, certificate: object = None,
                 checked_at: object = None, note: object = None, analyser: str = "co2",
                 source: str = CAL_SOURCE_PORTAL, tz: tzinfo = DEFAULT_TZ) -> CalibrationCheck:
    """Validate, store and audit one check (HQ or admin in the portal), then apply the drift rule.

    `expected_ppm` defaults to the reference gas value; `checked_at` is a local "YYYY-MM-DD HH:MM"
    or an aware datetime (default now). The caller commits.
    """
    if source == CAL_SOURCE_PORTAL and (user is None or not user.active or user.role not in CAN_RECORD):
        raise AccessDenied("only HQ and admins record calibration checks")
    device = session.get(Device, device_id) if isinstance(device_id, str) else None
    if device is None:
        raise CalibrationError("device", "Node: no such node.")
    try:
        kind = choice(kind, "Kind", CAL_KINDS)
        cert = text(certificate, "Certificate", CERTIFICATE_MAX_CHARS)
        why = text(note, "Note", NOTE_MAX_CHARS)
        if isinstance(checked_at, datetime):
            when = as_utc(checked_at)
        else:
            when = local_datetime(checked_at, "Checked at", tz) or utcnow()
    except FieldError as exc:
        raise CalibrationError(exc.field, exc.message) from exc
    ref = _number(reference_ppm, "Reference gas")
    meas = _number(measured_ppm, "Measured")
    span = _number(span_ppm, "Span", lo_open=True)
    exp = _number(expected_ppm, "Expected", required=False)
    exp = ref if exp is None else exp
    if when > utcnow() + timedelta(minutes=5):
        raise CalibrationError("Checked at", "Checked at: the time cannot lie in the future.")
    err = calibration_error_pct(meas, exp, span)
    passed = check_passes(err)
    row = CalibrationCheck(
        device_id=device.id, analyser=analyser, checked_at=when, kind=kind, reference_ppm=ref, certificate=cert,
        measured_ppm=meas, expected_ppm=exp, span_ppm=span, error_pct=err, passed=passed,
        recorded_by=getattr(user, "username", None) if user is not None else device.id, source=source, note=why,
    )
    session.add(row)
    session.flush()
    changed = apply_control_state(session, device.id, tz)
    record_audit(session, user, "create", "calibration_check", entity_id=f"{device.id} #{row.id}",
                 factory_id=device.factory_id, field=kind, new_value="pass" if passed else "fail",
                 detail=(f"{source}: measured {meas:g} ppm, expected {exp:g} ppm, span {span:g} ppm, error {err:.2f} % "
                         f"(limit {CAL_ERROR_LIMIT_PCT} %); certificate {cert or '-'}; {changed} reading(s) re-marked")[:2000])
    return row


def record_node_check(session: Session, device_id: str, kind: str, reference_ppm: float, measured_ppm: float,
                      span_ppm: float, checked_at: datetime, certificate: str | None = None,
                      tz: tzinfo = DEFAULT_TZ) -> CalibrationCheck:
    """Store an automatic check the node reported on `<prefix>/<factory>/<device>/cal`."""
    return record_check(session, None, device_id, kind, reference_ppm, measured_ppm, span_ppm,
                        certificate=certificate, checked_at=checked_at, source=CAL_SOURCE_NODE, tz=tz)


@dataclass(frozen=True)
class CalibrationStatus:
    """What node health shows about a node's calibration."""

    last_check_at: datetime | None
    last_passed_at: datetime | None
    last_error_pct: float | None
    out_of_control: bool
    overdue: bool


def calibration_status(session: Session, device_ids: Sequence[str], now: datetime | None = None,
                       overdue_days: int = CAL_OVERDUE_DAYS) -> dict[str, CalibrationStatus]:
    """Per device: last check, last pass, whether out of control now and whether a check is overdue."""
    now = now or utcnow()
    if not device_ids:
        return {}
    by_device: dict[str, list[CalibrationCheck]] = defaultdict(list)
    for c in session.scalars(sa.select(CalibrationCheck).where(CalibrationCheck.device_id.in_(list(device_ids)))
                             .order_by(CalibrationCheck.checked_at, CalibrationCheck.id)):
        by_device[c.device_id].append(c)
    out = {}
    for d in device_ids:
        checks = by_device.get(d, [])
        last = checks[-1] if checks else None
        passed = [c for c in checks if c.passed]
        last_pass = as_utc(passed[-1].checked_at) if passed else None
        ooc = in_intervals(now, control_intervals(checks))
        overdue = last_pass is None or now - last_pass > timedelta(days=overdue_days)
        out[d] = CalibrationStatus(as_utc(last.checked_at) if last else None, last_pass,
                                   last.error_pct if last else None, ooc, overdue)
    return out

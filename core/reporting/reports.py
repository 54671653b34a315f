"""Generate, store and trace the monthly compliance workbooks; the `carbontrack report` command.

A report is one version of one (kind, scope, month): kind `factory` (scope = factory code) or
`network` (scope = NETWORK). Each generation claims a new `Report` row (version n+1) before it
writes, stores the file under `<reports_dir>/<YYYY-MM>/` and in shared storage (core.storage, key
`reports/<YYYY-MM>/<file>`, so every web host can serve it), and records the path, SHA-256, factor
versions, GWP set and generation time. Older versions and their files are never touched.

The data for all workbooks of a run is gathered once (`core.reporting.month_data.collect_month`), so a
whole month (67 factories + network) costs about a dozen queries.

Reproducible (issue 18): each version records its basis (`ReportBasis`: factor, stack and site
parameter versions, lab NCVs). A new version of a period that already has one reuses the latest
done version's basis, so its figures repeat whatever factors or stacks changed since; only
`restate=True` (with a reason; `carbontrack report --restate "reason"`) takes the versions in force
for the period now, and the workbook lists what changed (old against new), why and who asked.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from core.access import AccessDenied, UserLike, can_read_factory
from core.config import Config
from core.measurement.substitution import substitute_period
from core.models import (
    ROLE_ADMIN,
    ROLE_AUDITOR,
    ROLE_HQ,
    EmissionFactor,
    Factory,
    FactorySiteVersion,
    JobRun,
    LabNcv,
    Report,
    ReportBasis,
    StackVersion,
)
from core.reporting.factory_workbook import build_factory_workbook
from core.reporting.month_data import Basis, Restatement, collect_month
from core.reporting.network_workbook import build_network_workbook
from core.reporting.period_data import collect_period
from core.reporting.period_workbook import build_factory_period_workbook, build_network_period_workbook
from core.reporting.periods import PERIOD_MONTH, Period, parse_period, period_of
from core.storage import BlobStore, open_store, publish, read_with_fallback
from core.timeutil import (
    DEFAULT_TZ,
    add_months,
    local_date,
    local_day_bounds_utc,
    local_month_bounds_utc,
    month_start,
    parse_month,
    utcnow,
)

log = logging.getLogger(__name__)

KIND_FACTORY = "factory"
KIND_NETWORK = "network"
NETWORK_SCOPE = "NETWORK"
STATUS_PENDING = "pending"
STATUS_RUNNING = "running"
STATUS_DONE = "done"
STATUS_FAILED = "failed"
DEFAULT_GWP = "AR5"
# A report row left "running" this long (its process died) may be taken over by a retry.
STALE_RUNNING = timedelta(hours=2)
CLAIM_RETRIES = 5  # concurrent claimers may pick the same version; the unique key makes one retry

Progress = Callable[[int, int, str], None]


class ReportError(ValueError):
    """A report cannot be made as asked (bad month, unknown factory); the message says why."""


@dataclass(frozen=True)
class Target:
    """One workbook to produce: a factory's or the network's."""

    kind: str
    scope_key: str
    factory_id: int | None


@dataclass
class GenerationResult:
    """What a generation run produced: the report rows (done or failed) in the order made."""

    month: date
    reports: list[Report] = field(default_factory=list)

    @property
    def failed(self) -> list[Report]:
        return [r for r in self.reports if r.status == STATUS_FAILED]

    @property
    def ok(self) -> bool:
        return not self.failed


def sha256_file(path: Path | str) -> str:
    """SHA-256 of a file's bytes, hex."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


def report_filename(scope_key: str, month: date, version: int, period: str = PERIOD_MONTH) -> str:
    """The file name of one report version (scope sanitised for the file system)."""
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", scope_key) or "X"
    return f"carbontrack_{safe}_{Period(period, month).label}_v{version}.xlsx"


def period_bounds_utc(period: Period, tz: tzinfo = DEFAULT_TZ) -> tuple[datetime, datetime]:
    """The UTC instants at which the period starts and ends (local midnight)."""
    start, _ = local_month_bounds_utc(period.start, tz)
    end, _ = local_day_bounds_utc(add_months(period.start, len(period.months)), tz)
    return start, end


def resolve_targets(session: Session, factory_codes: Sequence[str] | None, network: bool) -> list[Target]:
    """The workbooks to make: the named factories (None = all) and optionally the network."""
    q = sa.select(Factory.id, Factory.code).order_by(Factory.code)
    if factory_codes is not None:
        wanted = {c.strip().upper() for c in factory_codes}
        rows = [(fid, code) for fid, code in session.execute(q) if code.upper() in wanted]
        unknown = wanted - {code.upper() for _, code in rows}
        if unknown:
            raise ReportError(f"unknown factory code: {', '.join(sorted(unknown))}")
    else:
        rows = list(session.execute(q))
    targets = [Target(KIND_FACTORY, code, fid) for fid, code in rows]
    if network:
        targets.append(Target(KIND_NETWORK, NETWORK_SCOPE, None))
    return targets


def _latest_rows(session: Session, month: date, targets: Sequence[Target],
                 period: str = PERIOD_MONTH) -> dict[tuple[str, str], Report]:
    latest: dict[tuple[str, str], Report] = {}
    kinds = {t.kind for t in targets}
    for r in session.scalars(
        sa.select(Report).where(Report.month == month, Report.period == period, Report.kind.in_(kinds))
        .order_by(Report.version)
    ):
        latest[(r.kind, r.scope_key)] = r
    return latest


def claim_reports(
    session_factory: sessionmaker[Session],
    month: date,
    targets: Sequence[Target],
    requested_by: str,
    only_missing: bool = False,
    now: datetime | None = None,
    tz: tzinfo = DEFAULT_TZ,
    fresh_after: datetime | None = None,
    period: str = PERIOD_MONTH,
) -> list[int]:
    """Create (or, for retries, re-take) the report rows to produce; return their ids.

    Without `only_missing` every target gets a new version. With it (the scheduler), a target
    whose latest version is done and was made after the month ended, or is running now, is
    skipped; a done version made during the month (partial, on demand) gets a new version; a
    failed (or stale) one is retried in place with attempts + 1, taken with a compare-and-set so
    two schedulers never both take it. `fresh_after` moves the "complete" line from the month's
    end to a later instant (the submission deadline, for the scheduler's final run). `period`
    (month, quarter, year) and `month` (its first day) name the period.
    """
    _, month_end = period_bounds_utc(Period(period, month), tz)
    if fresh_after is not None:
        month_end = max(month_end, fresh_after)
    for attempt in range(CLAIM_RETRIES):
        now_ = now or utcnow()
        with session_factory() as s:
            latest = _latest_rows(s, month, targets, period)
            new_rows: list[Report] = []
            reused: list[int] = []
            for t in targets:
                prev = latest.get((t.kind, t.scope_key))
                if only_missing and prev is not None and prev.status == STATUS_DONE:
                    if prev.generated_at is not None and prev.generated_at >= month_end:
                        continue  # a complete month is already there
                    # else: made while the month was running (partial): fall through to a new version
                elif only_missing and prev is not None:
                    stale = prev.status in (STATUS_RUNNING, STATUS_PENDING) and prev.created_at < now_ - STALE_RUNNING
                    if prev.status != STATUS_FAILED and not stale:
                        continue
                    taken = s.execute(
                        sa.update(Report)
                        .where(Report.id == prev.id, Report.status == prev.status, Report.attempts == prev.attempts)
                        .values(status=STATUS_RUNNING, attempts=prev.attempts + 1, error=None, created_at=now_,
                                requested_by=requested_by)
                        .execution_options(synchronize_session=False)
                    ).rowcount
                    if taken:
                        reused.append(prev.id)
                    continue
                row = Report(kind=t.kind, factory_id=t.factory_id, scope_key=t.scope_key, month=month, period=period,
                             version=(prev.version + 1) if prev else 1, status=STATUS_RUNNING, attempts=1,
                             requested_by=requested_by, created_at=now_)
                s.add(row)
                new_rows.append(row)
            try:
                s.commit()
            except IntegrityError:
                s.rollback()
                log.info("report version taken by a concurrent run; retrying claim (%d)", attempt + 1)
                continue
            ids = reused + [r.id for r in new_rows]
            order = {(t.kind, t.scope_key): i for i, t in enumerate(targets)}
            rows = {r.id: (r.kind, r.scope_key) for r in s.scalars(sa.select(Report).where(Report.id.in_(ids)))}
            return sorted(ids, key=lambda i: order.get(rows[i], 0))
    raise ReportError("could not claim report versions: too many concurrent generations")


RESTATEMENT_REASON_MAX_CHARS = 1000


def previous_basis(session: Session, row: Report, tz: tzinfo = DEFAULT_TZ) -> tuple[Report | None, Basis | None]:
    """The latest done earlier version of `row`'s workbook made after its period ended, and its basis.

    A version made while the period was running (partial) is not repeated: the first complete
    version uses what is in force. A version made before bases were recorded gives its factor
    versions only (stack and site parameters then follow the versions in force).
    """
    _, period_end = period_bounds_utc(Period(row.period, row.month), tz)
    prev = session.scalars(
        sa.select(Report).where(Report.kind == row.kind, Report.scope_key == row.scope_key,
                                Report.period == row.period, Report.month == row.month,
                                Report.version < row.version, Report.status == STATUS_DONE,
                                Report.generated_at >= period_end)
        .order_by(Report.version.desc()).limit(1)
    ).first()
    if prev is None:
        return None, None
    rb = session.get(ReportBasis, prev.id)
    if rb is not None:
        return prev, Basis.from_json(rb.factor_versions, rb.stack_versions, rb.site_versions, rb.lab_ncv_ids)
    if prev.factor_versions:
        return prev, Basis({k: int(v) for k, v in json.loads(prev.factor_versions).items()}, {}, {})
    return prev, None


def factory_basis(session: Session, data, factory_id: int | None) -> Basis:  # noqa: ANN001 - Month/PeriodData
    """The part of a run's basis that concerns one factory: its stacks, its site, its lab NCVs."""
    full: Basis = data.basis
    stacks = {st.params.stack_id for fm in data.factories if fm.factory_id == factory_id
              for st in getattr(fm, "stacks", []) if getattr(st, "params", None) is not None}
    labs = set(session.scalars(sa.select(LabNcv.id).where(LabNcv.id.in_(list(full.lab_ncv_ids)),
                                                          LabNcv.factory_id == factory_id))) if full.lab_ncv_ids else set()
    return Basis(dict(full.factor_versions), {k: v for k, v in full.stack_versions.items() if k in stacks},
                 {k: v for k, v in full.site_versions.items() if k == factory_id}, tuple(sorted(labs)))


def _factor_text(row: EmissionFactor | None, code: str, version: int | None) -> str:
    if row is None:
        return "not used" if version is None else f"{code} v{version}"
    values = [f"{name} {getattr(row, col):g}" for name, col in (
        ("NCV MJ/kg", "ncv_mj_per_kg"), ("CO2 kg/TJ", "co2_kg_per_tj"), ("CH4 kg/TJ", "ch4_kg_per_tj"),
        ("N2O kg/TJ", "n2o_kg_per_tj"), ("kg CO2/kWh", "kg_co2_per_kwh")) if getattr(row, col) is not None]
    start = f"from {row.valid_from:%Y-%m-%d}" if row.valid_from else "from always"
    why = f"; {row.change_reason}" if row.change_reason else ""
    return f"{code} v{row.version} ({', '.join(values)}; {start}{why})"


def basis_changes(session: Session, old: Basis, new: Basis) -> list[tuple[str, str, str]]:
    """What differs between two bases, as (what, old, new) lines a person can read."""
    changes: list[tuple[str, str, str]] = []
    codes = sorted(set(old.factor_versions) | set(new.factor_versions))
    wanted = [(c, v) for c in codes for v in (old.factor_versions.get(c), new.factor_versions.get(c)) if v is not None]
    rows = {(r.code, r.version): r for r in session.scalars(
        sa.select(EmissionFactor).where(EmissionFactor.code.in_(codes)))} if wanted else {}
    for c in codes:
        a, b = old.factor_versions.get(c), new.factor_versions.get(c)
        if a != b:
            changes.append((f"emission factor {c}", _factor_text(rows.get((c, a)), c, a),
                            _factor_text(rows.get((c, b)), c, b)))
    sids = sorted(set(old.stack_versions) | set(new.stack_versions))
    srows = {(r.stack_id, r.version): r for r in session.scalars(
        sa.select(StackVersion).where(StackVersion.stack_id.in_(sids)))} if sids else {}

    def stack_text(sid: int, v: int | None) -> str:
        if v == 0:  # recorded before the first change: the baseline kept at that change
            v = min((ver for s_id, ver in srows if s_id == sid), default=0)
        r = srows.get((sid, v))
        if r is None:
            return "not recorded" if v is None else f"version {v}"
        start = f"from {r.valid_from:%Y-%m-%d}" if r.valid_from else "from always"
        why = f"; {r.reason}" if r.reason else ""
        return (f"v{r.version}: diameter {r.diameter_m:g} m, moisture {r.moisture_fraction:g}, "
                f"{'dry' if r.dry_basis else 'wet'} analyser, profile factor {r.velocity_profile_factor:g} "
                f"({start}{why})")

    for sid in sids:
        a, b = old.stack_versions.get(sid), new.stack_versions.get(sid)
        if a is not None and a != b and stack_text(sid, a) != stack_text(sid, b):  # 0 = the baseline
            changes.append((f"stack {sid} parameters", stack_text(sid, a), stack_text(sid, b)))
    fids = sorted(set(old.site_versions) | set(new.site_versions))
    sites = {(r.factory_id, r.version): r for r in session.scalars(
        sa.select(FactorySiteVersion).where(FactorySiteVersion.factory_id.in_(fids)))} if fids else {}

    def site_text(fid: int, v: int | None) -> str:
        if v == 0:
            v = min((ver for f_id, ver in sites if f_id == fid), default=0)
        r = sites.get((fid, v))
        if r is None:
            return "registered altitude" if v == 0 else f"version {v}"
        start = f"from {r.valid_from:%Y-%m-%d}" if r.valid_from else "from always"
        return f"v{r.version}: altitude {r.altitude_m:g} m ({start}{'; ' + r.reason if r.reason else ''})"

    for fid in fids:
        a, b = old.site_versions.get(fid), new.site_versions.get(fid)
        if a is not None and a != b and site_text(fid, a) != site_text(fid, b):  # 0 = the baseline
            changes.append(("site altitude (barometric pressure)", site_text(fid, a), site_text(fid, b)))
    if set(old.lab_ncv_ids) != set(new.lab_ncv_ids):
        ids = sorted(set(old.lab_ncv_ids) | set(new.lab_ncv_ids))
        labs = {r.id: r for r in session.scalars(sa.select(LabNcv).where(LabNcv.id.in_(ids)))}

        def lab_text(lab_ids: tuple[int, ...]) -> str:
            return "; ".join(f"{labs[i].source} {labs[i].ncv_mj_per_kg:g} MJ/kg ({labs[i].basis}), "
                             f"{labs[i].lab} {labs[i].certificate_ref}" for i in sorted(lab_ids) if i in labs) or "none"

        changes.append(("laboratory NCVs of fuel lots", lab_text(old.lab_ncv_ids), lab_text(new.lab_ncv_ids)))
    return changes


def _write_workbook(wb, directory: Path, filename: str) -> Path:  # noqa: ANN001
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / filename
    tmp = directory / f".{filename}.{os.getpid()}.tmp"
    wb.save(tmp)
    os.replace(tmp, final)  # a reader never sees a half-written file
    return final


def _mark_failed(session_factory: sessionmaker[Session], report_ids: Sequence[int], error: str) -> None:
    with session_factory() as s:
        s.execute(sa.update(Report).where(Report.id.in_(list(report_ids)))
                  .values(status=STATUS_FAILED, error=error[:4000]).execution_options(synchronize_session=False))
        s.commit()


def generate_reports(
    session_factory: sessionmaker[Session],
    cfg: Config,
    month: date,
    factory_codes: Sequence[str] | None = None,
    network: bool | None = None,
    requested_by: str = "cli",
    only_missing: bool = False,
    progress: Progress | None = None,
    now: datetime | None = None,
    gwp: str | None = None,
    fresh_after: datetime | None = None,
    period: str = PERIOD_MONTH,
    restate: bool = False,
    restatement_reason: str | None = None,
) -> GenerationResult:
    """Produce the period's workbooks (all factories + network by default) and record each as a Report.

    `period` is month (default), quarter or year; `month` is any day in it. A failure of one
    workbook is recorded on its row (status failed, error) and the others go on. A workbook that
    has an earlier done version repeats that version's basis (factor, stack, site versions, lab
    NCVs) unless `restate` (which needs `restatement_reason`): then it uses what is in force for
    the period now and says what changed, why and who asked (`requested_by`).
    """
    if restate:
        restatement_reason = (restatement_reason or "").strip()
        if not restatement_reason:
            raise ReportError("a restatement needs a reason (what changed and why)")
        if len(restatement_reason) > RESTATEMENT_REASON_MAX_CHARS:
            raise ReportError(f"the restatement reason is limited to {RESTATEMENT_REASON_MAX_CHARS} characters")
    month = period_of(period, month).start
    gwp = gwp or cfg.gwp_set  # the configured GWP set (CARBONTRACK_GWP_SET), shown in every workbook
    if network is None:
        network = factory_codes is None
    result = GenerationResult(month)
    with session_factory() as s:
        targets = resolve_targets(s, factory_codes, network)
    ids = claim_reports(session_factory, month, targets, requested_by, only_missing, now, cfg.tz, fresh_after,
                        period)
    if not ids:
        return result
    with session_factory() as s:
        rows = {r.id: r for r in s.scalars(sa.select(Report).where(Report.id.in_(ids)))}
        previous = {rid: previous_basis(s, rows[rid], cfg.tz) for rid in ids}
    # Labelled substitutes for the period's hours without valid data first (idempotent), so the
    # workbooks state measured + substituted (core.measurement.substitution).
    everyone = any(rows[i].kind == KIND_NETWORK for i in ids)
    try:
        with session_factory() as s:
            start_utc, end_utc = period_bounds_utc(Period(period, month), cfg.tz)
            substitute_period(s, start_utc, end_utc, None if everyone else [rows[i].factory_id for i in ids], now=now)
            s.commit()
    except Exception as exc:  # the whole run fails: every claimed row says why
        log.exception("substituting missing hours for %s failed", Period(period, month).label)
        _mark_failed(session_factory, ids, f"substituting missing hours failed: {type(exc).__name__}: {exc}")
        with session_factory() as s:
            result.reports = list(s.scalars(sa.select(Report).where(Report.id.in_(ids)).order_by(Report.id)))
        return result
    # Workbooks share one data collection per basis. Factory bases name only their own factory's
    # stacks, site and lab NCVs, so those with the same factor versions merge into one group (normally
    # one group for every factory); the network's basis covers all factories and gets its own.
    groups: dict[str, list[int]] = {}
    pins: dict[str, Basis | None] = {}
    for rid in ids:
        pinned = None if restate else previous[rid][1]
        if pinned is None:
            key = "in force"
        elif rows[rid].kind == KIND_NETWORK:
            key = "network " + json.dumps(pinned.to_json(), sort_keys=True)
        else:
            key = "factories " + json.dumps(dict(sorted(pinned.factor_versions.items())))
        merged = pins.get(key)
        if pinned is not None and merged is not None:
            pinned = Basis(merged.factor_versions, merged.stack_versions | pinned.stack_versions,
                           merged.site_versions | pinned.site_versions,
                           tuple(sorted(set(merged.lab_ncv_ids) | set(pinned.lab_ncv_ids))))
        pins[key] = pinned
        groups.setdefault(key, []).append(rid)
    datasets: dict[int, object] = {}
    for key, group in groups.items():
        pinned = pins[key]
        need_all = any(rows[i].kind == KIND_NETWORK for i in group)
        factory_ids = None if need_all else [rows[i].factory_id for i in group]
        try:
            with session_factory() as s:
                if period == PERIOD_MONTH:
                    data = collect_month(s, month, factory_ids, gwp=gwp, tz=cfg.tz, now=now, basis=pinned)
                else:
                    data = collect_period(s, Period(period, month), factory_ids, gwp=gwp, tz=cfg.tz, now=now,
                                          basis=pinned)
        except Exception as exc:  # the group's run fails: every claimed row says why
            log.exception("collecting data for %s failed", Period(period, month).label)
            _mark_failed(session_factory, group, f"collecting data failed: {type(exc).__name__}: {exc}")
            continue
        for rid in group:
            datasets[rid] = data
    label = Period(period, month).label
    directory = cfg.reports_dir.resolve() / label
    store = open_store(cfg, session_factory)
    total = len(ids)
    for done, rid in enumerate(ids, start=1):
        row = rows[rid]
        data = datasets.get(rid)
        if data is None:
            with session_factory() as s:
                result.reports.append(s.get(Report, rid))
            continue
        by_factory = {fm.factory_id: fm for fm in data.factories}
        factor_versions = json.dumps(dict(sorted(data.factors.versions.items())))
        prev_row, prev_basis = previous[rid]
        data.restatement = None
        data.reproduces_version = None
        with session_factory() as s:
            basis = data.basis if row.kind == KIND_NETWORK else factory_basis(s, data, row.factory_id)
            changes = (basis_changes(s, prev_basis or Basis({}, {}, {}), basis)
                       if restate and prev_row is not None else [])
        basis_row = dict(basis.to_json(), restated=False, previous_report_id=prev_row.id if prev_row else None)
        if restate and prev_row is not None:
            data.restatement = Restatement(prev_row.version, restatement_reason, requested_by, changes)
            basis_row.update(restated=True, restatement_reason=restatement_reason, restated_by=requested_by,
                             changes=json.dumps(changes))
        elif prev_row is not None and prev_basis is not None:
            data.reproduces_version = prev_row.version
        generated_at = now or utcnow()
        try:
            if row.kind == KIND_NETWORK:
                wb = (build_network_workbook(data, row.version, generated_at) if period == PERIOD_MONTH
                      else build_network_period_workbook(data, row.version, generated_at))
            else:
                fm = by_factory.get(row.factory_id)
                if fm is None:
                    raise ReportError(f"factory {row.scope_key} has no data row")
                wb = (build_factory_workbook(fm, data, row.version, generated_at) if period == PERIOD_MONTH
                      else build_factory_period_workbook(fm, data, row.version, generated_at))
            path = _write_workbook(wb, directory, report_filename(row.scope_key, month, row.version, period))
            publish(store, f"reports/{label}/{path.name}", path)  # shared storage: every web host serves it
            values = dict(status=STATUS_DONE, path=str(path), sha256=sha256_file(path), factor_versions=factor_versions,
                          gwp_set=gwp, generated_at=generated_at, error=None)
        except Exception as exc:
            log.exception("report %s %s v%d failed", row.scope_key, label, row.version)
            values = dict(status=STATUS_FAILED, error=f"{type(exc).__name__}: {exc}"[:4000], factor_versions=factor_versions,
                          gwp_set=gwp)
        with session_factory() as s:
            rep = s.get(Report, rid)
            for k, v in values.items():
                setattr(rep, k, v)
            if values["status"] == STATUS_DONE:
                s.merge(ReportBasis(report_id=rid, **basis_row))
            s.commit()
            result.reports.append(rep)
        if progress is not None:
            progress(done, total, f"{row.scope_key} v{row.version} {values['status']}")
    return result


def visible_reports(session: Session, user: UserLike | None, month: date | None = None,
                    limit: int = 500, *, offset: int = 0, scope_key: str | None = None, period: str | None = None,
                    year: int | None = None, status: str | None = None) -> list[Report]:
    """Reports `user` may see, newest first: a factory manager only their factory's, HQ/admin/auditor all.

    `offset` skips that many of the newest matching rows (the reports grid's server-side paging);
    `scope_key` (a factory code or NETWORK), `period` (month/quarter/year), `year` (of the period's
    start) and `status` narrow the rows.
    """
    if user is None or not getattr(user, "active", False):
        return []
    # Newest first: a freshly generated version tops the list, then by month and workbook (the id
    # last, so that pages of the same ordering never overlap or skip a row).
    q = sa.select(Report).order_by(Report.created_at.desc(), Report.month.desc(), Report.kind.desc(),
                                   Report.scope_key, Report.version.desc(), Report.id.desc())
    if month is not None:
        q = q.where(Report.month == month_start(month))
    if scope_key:
        q = q.where(Report.scope_key == scope_key)
    if period:
        q = q.where(Report.period == period)
    if year is not None:
        q = q.where(Report.month >= date(year, 1, 1), Report.month < date(year + 1, 1, 1))
    if status:
        q = q.where(Report.status == status)
    q = q.limit(limit)
    if offset > 0:
        q = q.offset(offset)
    if user.role in (ROLE_HQ, ROLE_ADMIN, ROLE_AUDITOR):
        return list(session.scalars(q))
    if user.factory_id is None:
        return []
    # The network workbook holds every factory's figures, so it is not for one factory's manager.
    return list(session.scalars(q.where(Report.kind == KIND_FACTORY, Report.factory_id == user.factory_id)))


def can_read_report(user: UserLike | None, report: Report) -> bool:
    """Whether `user` may download `report` (same rule as `visible_reports`)."""
    if user is None or not getattr(user, "active", False):
        return False
    if report.kind == KIND_NETWORK or report.factory_id is None:
        return user.role in (ROLE_HQ, ROLE_ADMIN, ROLE_AUDITOR)
    return can_read_factory(user, report.factory_id)


def report_for_download(session: Session, user: UserLike | None, report_id: int) -> Report:
    """The report row if `user` may read it and it is done; AccessDenied or LookupError otherwise.

    The bytes come from `read_report_file` (shared storage, or the old local path).
    """
    report = session.get(Report, report_id)
    if report is None:
        raise LookupError("no such report")
    if not can_read_report(user, report):
        raise AccessDenied("you may not download this report")
    if report.status != STATUS_DONE or not report.path:
        raise LookupError("the report file is not available")
    return report


def report_key(report: Report) -> str:
    """The shared-storage key of a done report's workbook: `reports/<period label>/<file name>`."""
    return f"reports/{Period(report.period or PERIOD_MONTH, report.month).label}/{Path(report.path or '').name}"


def read_report_file(store: BlobStore, report: Report) -> bytes:
    """The workbook's bytes from shared storage, else from the path it was written to (reports made before
    shared storage; copied into the store on the way). core.storage.BlobMissing (a LookupError) if neither has it."""
    return read_with_fallback(store, report_key(report), report.path)


def recent_job_runs(session: Session, limit: int = 24) -> list[JobRun]:
    """The latest scheduled runs, newest first (for HQ's view of failures)."""
    return list(session.scalars(sa.select(JobRun).order_by(JobRun.started_at.desc()).limit(limit)))


def check_month(month_text: str, cfg: Config, now: datetime | None = None) -> date:
    """Parse a YYYY-MM month for a report; ReportError for bad text or a future month."""
    try:
        month = parse_month(month_text)
    except ValueError as exc:
        raise ReportError(str(exc)) from exc
    if month.year < 2000:
        raise ReportError(f"month {month_text!r} is before 2000")
    current = month_start(local_date(now or utcnow(), cfg.tz))
    if month > current:
        raise ReportError(f"month {month:%Y-%m} has not started yet (current month: {current:%Y-%m})")
    return month


def check_period(period_text: str, cfg: Config, now: datetime | None = None) -> Period:
    """Parse YYYY-MM, YYYY-Qn or YYYY for a report; ReportError for bad text or a period not yet started."""
    try:
        period = parse_period(period_text)
    except ValueError as exc:
        raise ReportError(str(exc)) from exc
    if period.start.year < 2000:
        raise ReportError(f"period {period_text!r} is before 2000")
    today = local_date(now or utcnow(), cfg.tz)
    if period.start > today:
        raise ReportError(f"period {period.label} has not started yet (today: {today:%Y-%m-%d})")
    return period


def cli_report(cfg: Config, month: str | None = None, factory: str | None = None, out: str | None = None,
               period: str | None = None, restate: str | None = None) -> int:
    """`carbontrack report`: generate one period's workbooks, print progress and paths; return an exit code.

    `month` (YYYY-MM) or `period` (YYYY-MM, YYYY-Qn for a CBAM quarter, YYYY for a calendar year).
    `restate` (a reason) makes the new versions restatements (see `generate_reports`).
    """
    from core.db import open_database

    try:
        if (month is None) == (period is None):
            raise ReportError("give either --month YYYY-MM or --period YYYY-MM / YYYY-Qn / YYYY")
        p = check_period(period, cfg) if period is not None else Period(PERIOD_MONTH, check_month(month or "", cfg))
    except ReportError as exc:
        print(f"carbontrack report: {exc}", file=sys.stderr)
        return 2
    today = local_date(utcnow(), cfg.tz)
    if p.end >= today:
        print(f"note: {p.label} has not ended yet; its figures are partial", file=sys.stderr)
    engine, session_factory = open_database(cfg.database_url)

    def show(done: int, total: int, label: str) -> None:
        print(f"[{done}/{total}] {label}", flush=True)

    try:
        codes = [factory] if factory else None
        print(f"generating {p.label} workbooks for {factory or 'every factory and the network'} ...", flush=True)
        result = generate_reports(session_factory, cfg, p.start, codes, requested_by="cli", progress=show,
                                  period=p.kind, restate=restate is not None, restatement_reason=restate)
    except ReportError as exc:
        print(f"carbontrack report: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    out_dir = Path(out) if out else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    for rep in result.reports:
        if rep.status == STATUS_DONE:
            path = rep.path
            if out_dir is not None:
                path = str(shutil.copy2(rep.path, out_dir / Path(rep.path).name))
            print(f"{rep.scope_key}\tv{rep.version}\t{path}\tsha256={rep.sha256}")
        else:
            print(f"{rep.scope_key}\tv{rep.version}\tFAILED: {rep.error}", file=sys.stderr)
    print(f"{len(result.reports) - len(result.failed)} done, {len(result.failed)} failed")
    return 0 if result.ok else 1

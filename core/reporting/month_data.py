"""Everything a month's workbooks show, gathered in a fixed number of queries.

`collect_month` runs one `monthly_inventory` call for all factories (so workbook numbers equal the
portal's) plus one query each for factories, stacks, devices, daily rollups per factory and per
device, submissions with their users, and the factor rows in force: about a dozen queries whatever
the number of factories.

Reproducible (issue 18): the factor versions, stack and site parameter versions and lab NCVs a
month uses are its `Basis`: those in force on the month's first day, or exactly the ones an earlier
report recorded (`basis=`), so regenerating a month repeats its figures unless it is restated.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from core.emissions import GWP_SETS, EmissionsError, barometric_pressure_pa
from core.inventory.factors import FactorSet, load_factor_set
from core.inventory.monthly import (
    LabNcvMap,
    MonthlyInventory,
    coverage_share,
    load_lab_ncvs,
    monthly_inventory,
)
from core.measurement.availability import (
    Availability,
    assignments,
    expected_seconds_by_day,
    factory_availability,
)
from core.measurement.substitution import substituted_by_local_day
from core.models import (
    Device,
    DeviceDaily,
    EmissionFactor,
    Factory,
    FactoryDaily,
    FactorySiteVersion,
    FirmwareInstall,
    MonthlySubmission,
    Stack,
    StackVersion,
    SupplierDeclaration,
    User,
)
from core.reporting.citations import SOURCE_OVERRIDES, primary_citation, primary_source
from core.reporting.evidence_sheet import collect_evidence
from core.timeutil import DEFAULT_TZ, add_months, local_day_bounds_utc, month_start, utcnow

SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True)
class FactorInfo:
    """One emission-factor row as a report names it."""

    code: str
    version: int
    kind: str
    label: str
    ncv_mj_per_kg: float | None
    co2_kg_per_tj: float | None
    ch4_kg_per_tj: float | None
    n2o_kg_per_tj: float | None
    biomass_fraction: float
    density_kg_per_l: float | None
    kg_co2_per_kwh: float | None
    source: str
    table_ref: str
    year: int
    citation: str
    valid_from: date | None = None
    valid_to: date | None = None
    change_reason: str | None = None
    dry_ncv_mj_per_kg: float | None = None

    @property
    def effective(self) -> str:
        """The effective dates in words, e.g. "from 2026-07-01" or "always"."""
        if self.valid_from is None and self.valid_to is None:
            return "always (no start date)"
        start = f"from {self.valid_from:%Y-%m-%d}" if self.valid_from else "from the start"
        return start + (f" to {self.valid_to:%Y-%m-%d} (exclusive)" if self.valid_to else "")

    @property
    def reference(self) -> str:
        """Source, table and year in one line."""
        if self.code in SOURCE_OVERRIDES:
            return primary_source(self.code, self.source)
        return f"{self.source}; {self.table_ref} ({self.year})"

    @property
    def primary(self) -> str:
        """The primary citation: document, table, edition (core.reporting.citations)."""
        return primary_citation(self.code, self.citation)


@dataclass(frozen=True)
class Declaration:
    """A valid sustainability declaration as a report names it."""

    source: str
    supplier: str
    scheme: str
    reference: str
    valid_from: date
    valid_to: date

    def covers(self, month: date) -> bool:
        """Whether the declaration is valid for the whole month."""
        return self.valid_from <= month and self.valid_to >= add_months(month, 1) - timedelta(days=1)


def load_declarations(session: Session, factory_ids: Iterable[int]) -> dict[int, list[Declaration]]:
    """Valid (not withdrawn) biomass supplier declarations per factory, oldest first."""
    out: dict[int, list[Declaration]] = defaultdict(list)
    for d in session.scalars(sa.select(SupplierDeclaration).where(
            SupplierDeclaration.factory_id.in_(list(factory_ids)), SupplierDeclaration.withdrawn_at.is_(None))
            .order_by(SupplierDeclaration.valid_from, SupplierDeclaration.id)):
        out[d.factory_id].append(Declaration(d.source, d.supplier, d.scheme, d.reference, d.valid_from, d.valid_to))
    return out


@dataclass(frozen=True)
class DayFigures:
    """One local day of a factory's stack data."""

    day: date
    co2_kg: float
    covered_s: float
    expected_s: float
    n_valid: int
    n_readings: int
    substituted_hours: float = 0.0  # labelled substitutes (core.measurement.substitution), never coverage
    substituted_co2_kg: float = 0.0

    @property
    def coverage(self) -> float | None:
        return coverage_share(self.covered_s, self.expected_s)

    @property
    def missing_s(self) -> float:
        return max(0.0, self.expected_s - self.covered_s)


@dataclass(frozen=True)
class StackParams:
    """A stack's parameters in force for a month, with the version they come from (0 = no version row)."""

    stack_id: int
    version: int
    valid_from: date | None
    diameter_m: float
    moisture_fraction: float
    dry_basis: bool
    velocity_profile_factor: float
    altitude_m: float | None
    site_version: int
    pressure_pa: float | None

    @property
    def analyser_basis(self) -> str:
        return "dry (converted to wet with the moisture)" if self.dry_basis else "wet"


@dataclass(frozen=True)
class NodeParams:
    """A sensor node on a stack: firmware in force at the month's end, sampling interval."""

    device_id: str
    firmware: str | None
    sample_interval_s: float | None
    reported_interval_s: float | None
    active: bool


@dataclass(frozen=True)
class Basis:
    """What a report's figures rest on: factor, stack and site versions and lab NCVs (ids)."""

    factor_versions: dict[str, int]
    stack_versions: dict[int, int]
    site_versions: dict[int, int]
    lab_ncv_ids: tuple[int, ...] = ()

    def to_json(self) -> dict[str, str]:
        """The basis as the JSON columns of `ReportBasis` (keys as strings)."""
        return {
            "factor_versions": json.dumps(dict(sorted(self.factor_versions.items()))),
            "stack_versions": json.dumps({str(k): v for k, v in sorted(self.stack_versions.items())}),
            "site_versions": json.dumps({str(k): v for k, v in sorted(self.site_versions.items())}),
            "lab_ncv_ids": json.dumps(sorted(self.lab_ncv_ids)),
        }

    @classmethod
    def from_json(cls, factor_versions: str, stack_versions: str, site_versions: str,
                  lab_ncv_ids: str | None = None) -> Basis:
        """Read a basis back from `ReportBasis` columns."""
        return cls({k: int(v) for k, v in json.loads(factor_versions or "{}").items()},
                   {int(k): int(v) for k, v in json.loads(stack_versions or "{}").items()},
                   {int(k): int(v) for k, v in json.loads(site_versions or "{}").items()},
                   tuple(int(i) for i in json.loads(lab_ncv_ids or "[]")))


@dataclass(frozen=True)
class Restatement:
    """Why and how a report version restates an earlier one (shown in the workbook)."""

    previous_version: int | None
    reason: str
    restated_by: str
    changes: list[tuple[str, str, str]]  # (what, old, new)


def stack_params_in_force(session: Session, stacks: Iterable[Stack], factories: dict[int, Factory], at: date,
                          pinned: Basis | None = None) -> dict[int, StackParams]:
    """Each stack's parameters in force on `at` (or the pinned versions), with its site's pressure."""
    stacks = list(stacks)
    sids = [st.id for st in stacks]
    fids = sorted({st.factory_id for st in stacks})
    by_stack: dict[int, list[StackVersion]] = defaultdict(list)
    for v in session.scalars(sa.select(StackVersion).where(StackVersion.stack_id.in_(sids))):
        by_stack[v.stack_id].append(v)
    by_site: dict[int, list[FactorySiteVersion]] = defaultdict(list)
    for v in session.scalars(sa.select(FactorySiteVersion).where(FactorySiteVersion.factory_id.in_(fids))):
        by_site[v.factory_id].append(v)

    def pick(rows: list, key: int, pins: dict[int, int] | None):  # noqa: ANN202
        if pins is not None and key in pins:
            if pins[key] == 0:  # recorded before the first version row: the baseline made at the first edit
                return min(rows, key=lambda r: r.version, default=None)
            return next((r for r in rows if r.version == pins[key]), None)
        live = [r for r in rows if r.valid_from is None or r.valid_from <= at]
        return max(live, key=lambda r: (r.valid_from or date.min, r.version), default=None)

    out = {}
    for st in stacks:
        v = pick(by_stack.get(st.id, []), st.id, pinned.stack_versions if pinned else None)
        site = pick(by_site.get(st.factory_id, []), st.factory_id, pinned.site_versions if pinned else None)
        f = factories.get(st.factory_id)
        altitude = site.altitude_m if site is not None else (f.altitude_m if f is not None else None)
        src = v if v is not None else st
        # A report made before the stack's first recorded change keeps naming no version (0).
        was_unversioned = pinned is not None and pinned.stack_versions.get(st.id) == 0
        version = 0 if v is None or was_unversioned else v.version
        out[st.id] = StackParams(st.id, version, v.valid_from if v is not None else None,
                                 src.diameter_m, src.moisture_fraction or 0.0, bool(src.dry_basis),
                                 src.velocity_profile_factor or 1.0, altitude,
                                 0 if site is None or (pinned is not None and pinned.site_versions.get(st.factory_id) == 0)
                                 else site.version, _pressure(altitude))
    return out


def firmware_at(session: Session, device_ids: Iterable[str], end: datetime) -> dict[str, str]:
    """The firmware version each node ran at `end` (the last install seen before it)."""
    out: dict[str, tuple[datetime, str]] = {}
    for dev, version, since in session.execute(
        sa.select(FirmwareInstall.device_id, FirmwareInstall.version, FirmwareInstall.since_at)
        .where(FirmwareInstall.device_id.in_(list(device_ids)), FirmwareInstall.since_at < end)
    ):
        if dev not in out or since >= out[dev][0]:
            out[dev] = (since, version)
    return {k: v[1] for k, v in out.items()}


@dataclass(frozen=True)
class StackFigures:
    """One stack's month: its devices' valid seconds, readings and measured CO2."""

    name: str
    diameter_m: float
    device_ids: tuple[str, ...]
    sample_interval_s: float | None
    co2_kg: float
    covered_s: float
    expected_s: float
    n_valid: int
    n_readings: int
    sum_co2_ppm: float = 0.0  # over valid readings (rollups), for the mean concentration
    sum_velocity_m_s: float = 0.0
    sum_flue_temp_c: float = 0.0
    pressure_pa: float | None = None  # ISA pressure at the factory's altitude
    params: StackParams | None = None  # the parameters in force for the month (issue 12 item 6)
    nodes: tuple[NodeParams, ...] = ()

    @property
    def coverage(self) -> float | None:
        return coverage_share(self.covered_s, self.expected_s)

    @property
    def mean_co2_pct_vol(self) -> float | None:
        """Mean CO2 concentration of the valid readings, % by volume (ppm / 10,000)."""
        return self.sum_co2_ppm / self.n_valid / 10_000.0 if self.n_valid else None

    @property
    def mean_flue_temp_c(self) -> float | None:
        return self.sum_flue_temp_c / self.n_valid if self.n_valid else None

    @property
    def flue_gas_nm3(self) -> float | None:
        """Flue gas over the monitored hours at normal conditions (0 °C, 101.325 kPa), wet basis.

        Mean velocity x stack cross-section x monitored seconds, corrected with the mean flue
        temperature and the site pressure: an approximation from means, for the CBAM B.3 block.
        """
        temp = self.mean_flue_temp_c
        if not self.n_valid or temp is None or self.pressure_pa is None:
            return None
        area_m2 = math.pi * self.diameter_m ** 2 / 4.0
        actual_m3 = self.sum_velocity_m_s / self.n_valid * area_m2 * self.covered_s
        # Velocity profile factor: single-point to area-average velocity (domain.md §0.6), as in ingest.
        actual_m3 *= self.params.velocity_profile_factor if self.params is not None else 1.0
        return actual_m3 * (273.15 / (273.15 + temp)) * (self.pressure_pa / 101_325.0)


@dataclass(frozen=True)
class SubmissionInfo:
    """Who entered and approved the month's data, and their note (user text)."""

    status: str
    note: str | None
    submitted_at: datetime | None
    submitted_by: str | None
    approved_at: datetime | None
    approved_by: str | None
    approved_version: int | None = None  # the version of the figures HQ approved (issue 18)


@dataclass
class FactoryMonth:
    """One factory's month: installation data, inventory, stacks, days, submission."""

    factory_id: int
    code: str
    name: str
    region: int
    county: str
    latitude: float
    longitude: float
    altitude_m: float
    n_devices: int
    inv: MonthlyInventory
    stacks: list[StackFigures] = field(default_factory=list)
    days: list[DayFigures] = field(default_factory=list)
    submission: SubmissionInfo | None = None
    declarations: list[Declaration] = field(default_factory=list)
    evidence: list = field(default_factory=list)  # core.reporting.evidence_sheet.EvidenceInfo
    # Percent monitor data availability of the month (core.measurement.availability, 40 CFR 75.32).
    availability: Availability | None = None


@dataclass
class MonthData:
    """A month's inputs for every factory asked for, with the factors and GWP set used."""

    month: date
    tz: tzinfo
    gwp: str
    factors: FactorSet
    factor_info: dict[str, FactorInfo]
    grid_alternatives: list[FactorInfo]
    factories: list[FactoryMonth]
    collected_at: datetime
    basis: Basis | None = None
    restatement: Restatement | None = None
    reproduces_version: int | None = None  # the earlier version whose basis this one repeats

    @property
    def period_start(self) -> date:
        return self.month

    @property
    def period_end(self) -> date:
        return add_months(self.month, 1) - timedelta(days=1)

    @property
    def gwp_values(self) -> dict[str, float]:
        return GWP_SETS[self.gwp]

    def used_factor_info(self) -> list[FactorInfo]:
        """The factor rows named by FactorSet.versions, in code order."""
        return [self.factor_info[c] for c in sorted(self.factors.versions) if c in self.factor_info]


def _pressure(altitude_m: float | None) -> float | None:
    try:
        return None if altitude_m is None else barometric_pressure_pa(altitude_m)
    except EmissionsError:
        return None


def _elapsed_s(start: datetime, end: datetime, now: datetime) -> float:
    return max(0.0, (min(end, now) - start).total_seconds())


def _factor_rows(session: Session, factors: FactorSet) -> tuple[dict[str, FactorInfo], list[FactorInfo]]:
    factor_rows = list(session.scalars(sa.select(EmissionFactor).order_by(EmissionFactor.code, EmissionFactor.version)))
    info = {}
    newest: dict[str, FactorInfo] = {}
    for r in factor_rows:
        fi = FactorInfo(r.code, r.version, r.kind, r.label, r.ncv_mj_per_kg, r.co2_kg_per_tj, r.ch4_kg_per_tj,
                        r.n2o_kg_per_tj, r.biomass_fraction or 0.0, r.density_kg_per_l, r.kg_co2_per_kwh,
                        r.source, r.table_ref, r.year, r.citation, r.valid_from, r.valid_to, r.change_reason,
                        r.dry_ncv_mj_per_kg)
        if factors.versions.get(r.code) == r.version:
            info[r.code] = fi
        newest[r.code] = fi  # ordered by version: the last one wins
    alternatives = [fi for code, fi in sorted(newest.items())
                    if fi.kind == "electricity" and code not in (factors.grid_code, "own_renewable")]
    return info, alternatives


def collect_factor_info(session: Session, factors: FactorSet) -> dict[str, FactorInfo]:
    """The factor rows in force (by code) as a report names them."""
    return _factor_rows(session, factors)[0]


def collect_month(
    session: Session,
    month: date,
    factory_ids: Iterable[int] | None = None,
    gwp: str = "AR5",
    tz: tzinfo = DEFAULT_TZ,
    now: datetime | None = None,
    factors: FactorSet | None = None,
    basis: Basis | None = None,
) -> MonthData:
    """Gather one month's workbook inputs for the given factories (None = all) in batched queries.

    Factors, stack and site parameters and lab NCVs are those in force on the month's first day,
    or exactly those of `basis` (an earlier report's), so a regenerated month repeats its figures.
    """
    month = month_start(month)
    now = now or utcnow()
    factors = factors or load_factor_set(session, at=month,
                                         versions=basis.factor_versions if basis is not None else None)
    ids = None if factory_ids is None else list(factory_ids)
    fq = sa.select(Factory.id)
    if ids is not None:
        fq = fq.where(Factory.id.in_(ids))
    labs: LabNcvMap = load_lab_ncvs(session, list(session.scalars(fq)), [month],
                                    only_ids=basis.lab_ncv_ids if basis is not None else None)
    invs = monthly_inventory(session, [month], factors, ids, gwp, tz, now, lab_ncvs=labs)
    fids = [inv.factory_id for inv in invs]
    factories = {f.id: f for f in session.scalars(sa.select(Factory).where(Factory.id.in_(fids)))}

    stacks_by_factory: dict[int, list[Stack]] = defaultdict(list)
    for st in session.scalars(sa.select(Stack).where(Stack.factory_id.in_(fids)).order_by(Stack.id)):
        stacks_by_factory[st.factory_id].append(st)
    devices_by_stack: dict[int, list[Device]] = defaultdict(list)
    active_devices: dict[int, int] = defaultdict(int)
    for dev in session.scalars(sa.select(Device).where(Device.factory_id.in_(fids)).order_by(Device.id)):
        devices_by_stack[dev.stack_id].append(dev)
        if dev.active:
            active_devices[dev.factory_id] += 1

    first, last = month, add_months(month, 1) - timedelta(days=1)
    dev_rows: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0, 0, 0.0, 0.0, 0.0])
    for dev_id, *values in session.execute(
        sa.select(DeviceDaily.device_id, DeviceDaily.co2_kg, DeviceDaily.covered_s, DeviceDaily.n_valid,
                  DeviceDaily.n_readings, DeviceDaily.sum_co2_ppm, DeviceDaily.sum_velocity_m_s,
                  DeviceDaily.sum_flue_temp_c)
        .where(DeviceDaily.factory_id.in_(fids), DeviceDaily.day >= first, DeviceDaily.day <= last)
    ):
        acc = dev_rows[dev_id]
        for i, v in enumerate(values):
            acc[i] += v or 0

    day_rows: dict[int, dict[date, tuple]] = defaultdict(dict)
    for fid, day, co2_kg, covered_s, n_valid, n_readings in session.execute(
        sa.select(FactoryDaily.factory_id, FactoryDaily.day, FactoryDaily.co2_kg, FactoryDaily.covered_s,
                  FactoryDaily.n_valid, FactoryDaily.n_readings)
        .where(FactoryDaily.factory_id.in_(fids), FactoryDaily.day >= first, FactoryDaily.day <= last)
    ):
        day_rows[fid][day] = (co2_kg or 0.0, covered_s or 0.0, n_valid or 0, n_readings or 0)

    submitter, approver = aliased(User), aliased(User)
    subs = {
        row[0].factory_id: SubmissionInfo(row[0].status, row[0].note, row[0].submitted_at, row[1],
                                          row[0].approved_at, row[2], row[0].approved_version)
        for row in session.execute(
            sa.select(MonthlySubmission, submitter.username, approver.username)
            .outerjoin(submitter, MonthlySubmission.submitted_by_id == submitter.id)
            .outerjoin(approver, MonthlySubmission.approved_by_id == approver.id)
            .where(MonthlySubmission.factory_id.in_(fids), MonthlySubmission.month == month)
        )
    }

    info, alternatives = _factor_rows(session, factors)

    days_in_month = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    day_bounds = [(d, *local_day_bounds_utc(d, tz)) for d in days_in_month]
    month_start_utc, month_end_utc = day_bounds[0][1], day_bounds[-1][2]

    # Expected sensor-seconds per stack and day: each node only while it was assigned (issue 12).
    intervals = assignments(session, fids)
    stack_expected: dict[int, float] = defaultdict(float)
    for a in intervals:
        stack_expected[a.stack_id] += a.seconds_within(month_start_utc, min(month_end_utc, now))
    day_expected = expected_seconds_by_day(intervals, days_in_month, now, tz)
    availability = factory_availability(session, fids, month_start_utc, month_end_utc, now)

    substituted = substituted_by_local_day(session, fids, first, last, tz)
    decls = load_declarations(session, fids)
    evidence = collect_evidence(session, fids, first, last)
    all_stacks = [st for sts in stacks_by_factory.values() for st in sts]
    params = stack_params_in_force(session, all_stacks, factories, month, basis)
    firmware = firmware_at(session, [d.id for ds in devices_by_stack.values() for d in ds], month_end_utc)
    used_labs = tuple(sorted({i for inv in invs for line in inv.lines for i in line.lab_ncv_ids}))
    used_basis = Basis(dict(factors.versions), {sid: p.version for sid, p in params.items()},
                       {p_fid: p.site_version for p_fid, p in
                        ((st.factory_id, params[st.id]) for st in all_stacks)}, used_labs)
    out = []
    for inv in invs:
        f = factories[inv.factory_id]
        n_dev = active_devices.get(f.id, 0)
        fm = FactoryMonth(f.id, f.code, f.name, f.region, f.county, f.latitude, f.longitude, f.altitude_m,
                          n_dev, inv, submission=subs.get(f.id), declarations=decls.get(f.id, []),
                          evidence=evidence.get(f.id, []), availability=availability.get(f.id))
        for st in stacks_by_factory.get(f.id, []):
            devs = devices_by_stack.get(st.id, [])
            sums = [0.0, 0.0, 0, 0, 0.0, 0.0, 0.0]
            for d in devs:
                for i, v in enumerate(dev_rows.get(d.id, (0.0, 0.0, 0, 0, 0.0, 0.0, 0.0))):
                    sums[i] += v
            intervals = {d.sample_interval_s for d in devs}
            p = params[st.id]
            nodes = tuple(NodeParams(d.id, firmware.get(d.id, d.firmware), d.sample_interval_s,
                                     d.reported_interval_s, bool(d.active)) for d in devs)
            fm.stacks.append(StackFigures(
                st.name, p.diameter_m, tuple(d.id for d in devs),
                intervals.pop() if len(intervals) == 1 else None,
                sums[0], sums[1], stack_expected.get(st.id, 0.0), int(sums[2]), int(sums[3]),
                sums[4], sums[5], sums[6], p.pressure_pa, p, nodes,
            ))
        rows = day_rows.get(f.id, {})
        for d, _, _ in day_bounds:
            co2, covered, n_valid, n_read = rows.get(d, (0.0, 0.0, 0, 0))
            sub = substituted.get((f.id, d))
            fm.days.append(DayFigures(d, co2, covered, day_expected.get((f.id, d), 0.0), n_valid, n_read,
                                      sub.hours if sub else 0.0, sub.co2_kg if sub else 0.0))
        out.append(fm)
    return MonthData(month, tz, gwp, factors, info, alternatives, out, now, used_basis)

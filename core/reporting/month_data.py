"""Everything a month's workbooks show, gathered in a fixed number of queries.

`collect_month` runs one `monthly_inventory` call for all factories (so workbook numbers equal the
portal's) plus one query each for factories, stacks, devices, daily rollups per factory and per
device, submissions with their users, and the factor rows in force: about a dozen queries whatever
the number of factories.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from core.emissions import GWP_SETS, EmissionsError, barometric_pressure_pa
from core.inventory.factors import FactorSet, load_factor_set
from core.inventory.monthly import MonthlyInventory, coverage_share, monthly_inventory
from core.models import (
    Device,
    DeviceDaily,
    EmissionFactor,
    Factory,
    FactoryDaily,
    MonthlySubmission,
    Stack,
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

    @property
    def coverage(self) -> float | None:
        return coverage_share(self.covered_s, self.expected_s)

    @property
    def missing_s(self) -> float:
        return max(0.0, self.expected_s - self.covered_s)


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
                        r.source, r.table_ref, r.year, r.citation)
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
) -> MonthData:
    """Gather one month's workbook inputs for the given factories (None = all) in batched queries."""
    month = month_start(month)
    now = now or utcnow()
    factors = factors or load_factor_set(session)
    ids = None if factory_ids is None else list(factory_ids)
    invs = monthly_inventory(session, [month], factors, ids, gwp, tz, now)
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
    month_elapsed_s = _elapsed_s(month_start_utc, month_end_utc, now)

    decls = load_declarations(session, fids)
    evidence = collect_evidence(session, fids, first, last)
    out = []
    for inv in invs:
        f = factories[inv.factory_id]
        n_dev = active_devices.get(f.id, 0)
        fm = FactoryMonth(f.id, f.code, f.name, f.region, f.county, f.latitude, f.longitude, f.altitude_m,
                          n_dev, inv, submission=subs.get(f.id), declarations=decls.get(f.id, []),
                          evidence=evidence.get(f.id, []))
        for st in stacks_by_factory.get(f.id, []):
            devs = devices_by_stack.get(st.id, [])
            sums = [0.0, 0.0, 0, 0, 0.0, 0.0, 0.0]
            for d in devs:
                for i, v in enumerate(dev_rows.get(d.id, (0.0, 0.0, 0, 0, 0.0, 0.0, 0.0))):
                    sums[i] += v
            n_active = sum(1 for d in devs if d.active)
            intervals = {d.sample_interval_s for d in devs}
            fm.stacks.append(StackFigures(
                st.name, st.diameter_m, tuple(d.id for d in devs),
                intervals.pop() if len(intervals) == 1 else None,
                sums[0], sums[1], month_elapsed_s * n_active, int(sums[2]), int(sums[3]),
                sums[4], sums[5], sums[6], _pressure(f.altitude_m),
            ))
        rows = day_rows.get(f.id, {})
        for d, start, end in day_bounds:
            co2, covered, n_valid, n_read = rows.get(d, (0.0, 0.0, 0, 0))
            fm.days.append(DayFigures(d, co2, covered, _elapsed_s(start, end, now) * n_dev, n_valid, n_read))
        out.append(fm)
    return MonthData(month, tz, gwp, factors, info, alternatives, out, now)

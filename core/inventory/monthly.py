"""Monthly greenhouse-gas inventory per factory: the one place where a month's numbers are made.

Both the portals (history, HQ overview, leaderboard) and the compliance workbooks read their
monthly figures from `monthly_inventory`, so a number means the same thing everywhere.

For one factory and one local month it combines:
- the energy log (core.emissions.fuel_emissions per source): Scope 1 = fossil CO2 + CH4 + N2O
  as CO2e; biogenic CO2 as a memo item (GHG Protocol; domain.md §0.2, §2.1); a fuel whose lot
  (supplier declaration) overlapping the month has a laboratory NCV uses it instead of the
  factor's default NCV (`LabNcvUse`; several lots: their mean, all named);
- grid electricity at the grid factor in force: Scope 2, location-based by default (domain.md §2.3);
- the measured stack CO2 from the daily rollups, split into fossil and biogenic by the month's
  fuel mix on a carbon basis (a stack analyser cannot tell them apart, domain.md §0.2), plus the
  labelled substitutes for hours without valid data (core.measurement.substitution, Part 75
  style): measured total = measured + substituted;
- production: intensity (kg CO2e per kg made tea) against the factory's target, and the
  CBAM-style specific embedded emissions (domain.md §4).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from core.emissions import (
    ZERO_EMISSIONS,
    EmissionsError,
    FuelEmissions,
    electricity_emissions_kg,
    electricity_kwh,
    fossil_share,
    fuel_emissions,
    lab_ncv_as_received,
    specific_embedded_emissions,
)
from core.inventory.factors import FactorSet
from core.measurement.availability import assigned_seconds, assignments
from core.measurement.substitution import METHOD_TEXT, substituted_by_local_day
from core.models import (
    STATUS_APPROVED,
    STATUS_SUBMITTED,
    Device,
    Factory,
    FactoryDaily,
    LabNcv,
    MonthlySubmission,
    SupplierDeclaration,
)
from core.timeutil import DEFAULT_TZ, add_months, local_day_bounds_utc, month_start, utcnow

# Monthly data for month M is due by this day of month M+1 (local). KTDA's internal deadline is
# not in the sources; the 10th is a stated assumption, kept in one place so it can be changed.
SUBMISSION_DUE_DAY = 10
ELECTRICITY_SOURCES = ("grid_electricity", "own_hydro", "own_solar")
MISSING = "missing"


def coverage_share(covered_s: float, expected_s: float) -> float | None:
    """Share of the expected sensor-seconds with valid data (0..1); None when none were expected."""
    return None if expected_s <= 0 else min(1.0, covered_s / expected_s)


@dataclass(frozen=True)
class SourceLine:
    """One logged energy source of the month with what it implies."""

    source: str
    quantity: float
    unit: str
    emissions: FuelEmissions  # zero for electricity
    kwh: float  # electricity only
    scope2_kg: float  # grid electricity only
    factor_code: str
    factor_version: int | None
    error: str | None = None  # a line that could not be computed (bad unit etc.)
    ncv_mj_per_kg: float | None = None  # the as-received NCV used (fuels logged by mass/volume)
    ncv_origin: str | None = None  # "default" or "lab: <lot>, <lab> <certificate>"
    lab_ncv_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class LabNcvUse:
    """A laboratory NCV of a fuel lot as a month's entry uses it (core.models.LabNcv)."""

    id: int
    declaration_id: int
    factory_id: int
    source: str
    ncv_mj_per_kg: float
    basis: str
    moisture_fraction: float | None
    lab: str
    certificate_ref: str
    lot: str  # supplier and declaration reference
    valid_from: date
    valid_to: date
    evidence_file_id: int | None = None

    def overlaps(self, month: date) -> bool:
        """Whether the lot's validity overlaps the local month."""
        return self.valid_from < add_months(month, 1) and self.valid_to >= month


LabNcvMap = dict[tuple[int, date, str], list[LabNcvUse]]


def load_lab_ncvs(session: Session, factory_ids: Iterable[int], months: Iterable[date],
                  only_ids: Iterable[int] | None = None) -> LabNcvMap:
    """Lab NCVs per (factory, month, fuel): not withdrawn, or exactly `only_ids` (a report's basis)."""
    months = sorted({month_start(m) for m in months})
    fids = list(factory_ids)
    if not months or not fids:
        return {}
    q = (sa.select(LabNcv, SupplierDeclaration)
         .join(SupplierDeclaration, LabNcv.declaration_id == SupplierDeclaration.id)
         .where(LabNcv.factory_id.in_(fids)).order_by(LabNcv.id))
    if only_ids is not None:
        q = q.where(LabNcv.id.in_(list(only_ids)))
    else:
        q = q.where(LabNcv.withdrawn_at.is_(None))
    out: LabNcvMap = defaultdict(list)
    for lab, decl in session.execute(q):
        use = LabNcvUse(lab.id, decl.id, lab.factory_id, lab.source, lab.ncv_mj_per_kg, lab.basis,
                        lab.moisture_fraction, lab.lab, lab.certificate_ref,
                        f"{decl.supplier} {decl.reference}", decl.valid_from, decl.valid_to, lab.evidence_file_id)
        for m in months:
            if use.overlaps(m):
                out[(lab.factory_id, m, lab.source)].append(use)
    return dict(out)


@dataclass
class MonthlyInventory:
    """A factory's month: energy-based emissions, Scope 2, measured stack CO2, production, target."""

    factory_id: int
    factory_code: str
    factory_name: str
    region: int
    month: date
    target_kg_co2e_per_kg: float | None
    submission_status: str = MISSING
    submitted_at: datetime | None = None
    due_at: datetime | None = None
    green_leaf_kg: float | None = None
    made_tea_kg: float | None = None
    lines: list[SourceLine] = field(default_factory=list)
    combustion: FuelEmissions = ZERO_EMISSIONS
    grid_kwh: float = 0.0
    own_renewable_kwh: float = 0.0
    scope2_kg: float = 0.0
    measured_co2_kg: float = 0.0
    measured_covered_s: float = 0.0
    expected_s: float = 0.0
    # Labelled substitutes for sensor-hours without valid data (never coverage): kg, hours, hours per method.
    substituted_co2_kg: float = 0.0
    substituted_hours: int = 0
    substitution_methods: dict[str, int] = field(default_factory=dict)

    @property
    def measured_total_co2_kg(self) -> float:
        """Measured + substituted stack CO2 (fossil + biogenic), kg: the month's measurement-based figure."""
        return self.measured_co2_kg + self.substituted_co2_kg

    @property
    def substitution_method_text(self) -> str:
        """The substitution methods used with their hours, or a statement that none was needed."""
        if not self.substitution_methods:
            return "none: no sensor-hour was substituted"
        return "; ".join(f"{m}: {n} h, {METHOD_TEXT.get(m, m)}" for m, n in sorted(self.substitution_methods.items()))

    @property
    def has_energy_data(self) -> bool:
        return self.submission_status != MISSING

    @property
    def is_reported(self) -> bool:
        """Submitted or approved: what network totals, rankings and target shares count (not drafts)."""
        return self.submission_status in (STATUS_SUBMITTED, STATUS_APPROVED)

    @property
    def submitted_on_time(self) -> bool:
        """Submitted (or approved) no later than the due date."""
        return (
            self.submission_status in (STATUS_SUBMITTED, STATUS_APPROVED)
            and self.submitted_at is not None
            and self.due_at is not None
            and self.submitted_at <= self.due_at
        )

    @property
    def scope1_kg(self) -> float:
        """Fossil CO2 + CH4 + N2O (all fuels, biomass included for CH4/N2O), kg CO2e."""
        return self.combustion.co2e_kg

    @property
    def biogenic_co2_kg(self) -> float:
        return self.combustion.biogenic_co2_kg

    @property
    def total_kg(self) -> float:
        """Scope 1 + Scope 2, kg CO2e (biogenic CO2 excluded)."""
        return self.scope1_kg + self.scope2_kg

    @property
    def calculated_co2_kg(self) -> float:
        """Combustion CO2 from the fuel log, fossil + biogenic: what the stack should see."""
        return self.combustion.fossil_co2_kg + self.combustion.biogenic_co2_kg

    @property
    def fossil_share(self) -> float | None:
        return fossil_share(self.combustion.fossil_co2_kg, self.combustion.biogenic_co2_kg)

    @property
    def measured_fossil_co2_kg(self) -> float | None:
        share = self.fossil_share
        return None if share is None else self.measured_co2_kg * share

    @property
    def measured_biogenic_co2_kg(self) -> float | None:
        share = self.fossil_share
        return None if share is None else self.measured_co2_kg * (1.0 - share)

    @property
    def coverage(self) -> float | None:
        """Share of the month's sensor-seconds with valid data (0..1); None with no sensors."""
        return coverage_share(self.measured_covered_s, self.expected_s)

    @property
    def measured_co2_full_month_kg(self) -> float | None:
        """Measured + substituted CO2 (the whole month, comparable with the fuel log); None without either.

        Replaces the earlier scaling by coverage, which named no method: missing hours now get
        labelled Part 75-style substitutes (docs/qaqc.md "Substitution").
        """
        total = self.measured_total_co2_kg
        return total if total > 0 else None

    @property
    def reconciliation_pct(self) -> float | None:
        """(measured + substituted − calculated) / calculated × 100, when both exist."""
        measured = self.measured_co2_full_month_kg
        if self.calculated_co2_kg <= 0 or measured is None:
            return None
        return (measured - self.calculated_co2_kg) / self.calculated_co2_kg * 100.0

    @property
    def coverage_scaled_reconciliation_pct(self) -> float | None:
        """(measured / coverage − calculated) / calculated × 100: a plausibility check only.

        For the approval checks, which run before the month is closed and substituted; never a
        reported figure (reports use measured + substituted, `reconciliation_pct`).
        """
        coverage = self.coverage
        if self.calculated_co2_kg <= 0 or not coverage or self.measured_co2_kg <= 0:
            return None
        return (self.measured_co2_kg / coverage - self.calculated_co2_kg) / self.calculated_co2_kg * 100.0

    @property
    def intensity_kg_per_kg(self) -> float | None:
        """kg CO2e (Scope 1 + 2) per kg made tea."""
        if not self.made_tea_kg or self.made_tea_kg <= 0 or not self.has_energy_data:
            return None
        return self.total_kg / self.made_tea_kg

    @property
    def target_met(self) -> bool | None:
        """Whether the reported month's intensity is at or below target; None for drafts and gaps."""
        intensity = self.intensity_kg_per_kg
        if intensity is None or self.target_kg_co2e_per_kg is None or not self.is_reported:
            return None
        return intensity <= self.target_kg_co2e_per_kg

    @property
    def see_t_per_t(self) -> tuple[float, float, float] | None:
        """CBAM-style specific embedded emissions (direct, indirect, total), t CO2e per t made tea."""
        if not self.made_tea_kg or self.made_tea_kg <= 0:
            return None
        return specific_embedded_emissions(self.scope1_kg / 1000, self.scope2_kg / 1000, self.made_tea_kg / 1000)


def due_datetime(month: date, tz: tzinfo = DEFAULT_TZ) -> datetime:
    """End of the due day for `month`'s data (local midnight after SUBMISSION_DUE_DAY of next month)."""
    due_day = add_months(month_start(month), 1).replace(day=SUBMISSION_DUE_DAY)
    _, end = local_day_bounds_utc(due_day, tz)
    return end


def source_line(entry, factors: FactorSet, gwp: str, default_density: float | None,  # noqa: ANN001
                labs: Sequence[LabNcvUse] = ()) -> SourceLine:
    """Compute one energy-log line (an EnergyEntry or anything with its fields); errors become `error`.

    `labs`: the lab NCVs of the fuel's lots in the month; their mean as-received NCV replaces the default.
    """
    source, qty, unit = entry.source, entry.quantity, entry.unit
    try:
        if source in ELECTRICITY_SOURCES:
            kwh = electricity_kwh(qty, unit)
            if source == "grid_electricity":
                return SourceLine(
                    source, qty, unit, ZERO_EMISSIONS, kwh,
                    electricity_emissions_kg(kwh, factors.grid_kg_co2_per_kwh),
                    factors.grid_code, factors.versions.get(factors.grid_code),
                )
            return SourceLine(
                source, qty, unit, ZERO_EMISSIONS, kwh,
                electricity_emissions_kg(kwh, factors.own_renewable_kg_co2_per_kwh),
                "own_renewable", factors.versions.get("own_renewable"),
            )
        moisture = getattr(entry, "moisture_fraction", None)
        lab_ncv = None
        if labs:
            values = [lab_ncv_as_received(u.ncv_mj_per_kg, u.basis, u.moisture_fraction, moisture) for u in labs]
            lab_ncv = sum(values) / len(values)
        em = fuel_emissions(
            source, qty, unit, factors.fuels, gwp,
            moisture_fraction=moisture,
            density_kg_m3=entry.density_kg_m3 or default_density,
            ncv_mj_per_kg=lab_ncv,
        )
        ncv_used = em.energy_mj / em.mass_kg if em.mass_kg else lab_ncv
        origin = ("lab: " + "; ".join(f"lot {u.lot}, {u.lab} certificate {u.certificate_ref}" for u in labs)
                  if labs else "default")
        return SourceLine(source, qty, unit, em, 0.0, 0.0, source, factors.versions.get(source),
                          ncv_mj_per_kg=ncv_used, ncv_origin=origin, lab_ncv_ids=tuple(u.id for u in labs))
    except EmissionsError as exc:
        return SourceLine(source, qty, unit, ZERO_EMISSIONS, 0.0, 0.0, source, None, error=str(exc))


def _apply_submission(inv: MonthlyInventory, sub: MonthlySubmission, factors: FactorSet, gwp: str,
                      default_density: float | None, lab_ncvs: LabNcvMap | None = None) -> None:
    inv.submission_status = sub.status
    inv.submitted_at = sub.submitted_at
    inv.green_leaf_kg = sub.green_leaf_kg
    inv.made_tea_kg = sub.made_tea_kg
    for entry in sub.entries:
        labs = (lab_ncvs or {}).get((inv.factory_id, inv.month, entry.source), ())
        line = source_line(entry, factors, gwp, default_density, labs)
        inv.lines.append(line)
        inv.combustion = inv.combustion + line.emissions
        if line.source == "grid_electricity":
            inv.grid_kwh += line.kwh
            inv.scope2_kg += line.scope2_kg
        elif line.source in ELECTRICITY_SOURCES:
            inv.own_renewable_kwh += line.kwh
            inv.scope2_kg += line.scope2_kg


def active_device_counts(session: Session, factory_ids: Iterable[int]) -> dict[int, int]:
    """Active sensor nodes per factory now (factories without any are absent).

    What a factory has today, for display; expected coverage uses the nodes' assignments over
    time instead (core.measurement.availability), so a node counts only while it was assigned.
    """
    return dict(
        session.execute(
            sa.select(Device.factory_id, sa.func.count(Device.id))
            .where(Device.factory_id.in_(list(factory_ids)), Device.active.is_(True))
            .group_by(Device.factory_id)
        ).all()
    )


def monthly_inventory(
    session: Session,
    months: Sequence[date],
    factors: FactorSet,
    factory_ids: Iterable[int] | None = None,
    gwp: str = "AR5",
    tz: tzinfo = DEFAULT_TZ,
    now: datetime | None = None,
    lab_ncvs: LabNcvMap | None = None,
) -> list[MonthlyInventory]:
    """Inventories for every (factory, month) asked for, ordered by factory code then month.

    `factory_ids` must already be scoped to what the caller may see (core.access); None means
    every active factory. Uses a fixed number of queries whatever the number of factories and months.
    `lab_ncvs` (a report's recorded basis) replaces the lab NCVs that are not withdrawn.
    """
    months = sorted({month_start(m) for m in months})
    if not months:
        return []
    now = now or utcnow()
    fq = sa.select(Factory).order_by(Factory.code)
    if factory_ids is None:
        fq = fq.where(Factory.active.is_(True))
    else:
        ids = list(factory_ids)
        if not ids:
            return []
        fq = fq.where(Factory.id.in_(ids))
    factories = list(session.scalars(fq))
    fids = [f.id for f in factories]

    subs = session.scalars(
        sa.select(MonthlySubmission)
        .where(MonthlySubmission.factory_id.in_(fids), MonthlySubmission.month.in_(months))
        .options(selectinload(MonthlySubmission.entries))
    )
    sub_by_key = {(s.factory_id, s.month): s for s in subs}

    first_day, last_day = months[0], add_months(months[-1], 1) - timedelta(days=1)
    measured: dict[tuple[int, date], list[float]] = defaultdict(lambda: [0.0, 0.0])
    rows = session.execute(
        sa.select(FactoryDaily.factory_id, FactoryDaily.day, FactoryDaily.co2_kg, FactoryDaily.covered_s).where(
            FactoryDaily.factory_id.in_(fids), FactoryDaily.day >= first_day, FactoryDaily.day <= last_day
        )
    )
    for fid, day, co2_kg, covered_s in rows:
        acc = measured[(fid, month_start(day))]
        acc[0] += co2_kg or 0.0
        acc[1] += covered_s or 0.0

    intervals = assignments(session, fids)

    # Expected sensor-seconds: each node only while it was assigned to one of the factory's stacks.
    month_expected: dict[tuple[int, date], float] = {}
    for m in months:
        start, _ = local_day_bounds_utc(m, tz)
        end, _ = local_day_bounds_utc(add_months(m, 1), tz)
        for fid, seconds in assigned_seconds(intervals, start, min(end, now)).items():
            month_expected[(fid, m)] = seconds
    substituted = substituted_by_local_day(session, fids, first_day, last_day, tz, by_month=True)
    if lab_ncvs is None:
        lab_ncvs = load_lab_ncvs(session, fids, months)

    result = []
    for f in factories:
        for m in months:
            inv = MonthlyInventory(
                factory_id=f.id, factory_code=f.code, factory_name=f.name, region=f.region, month=m,
                target_kg_co2e_per_kg=f.target_kg_co2e_per_kg, due_at=due_datetime(m, tz),
            )
            sub = sub_by_key.get((f.id, m))
            if sub is not None:
                _apply_submission(inv, sub, factors, gwp, f.firewood_density_kg_m3, lab_ncvs)
            inv.measured_co2_kg, inv.measured_covered_s = measured.get((f.id, m), (0.0, 0.0))
            inv.expected_s = month_expected.get((f.id, m), 0.0)
            sub = substituted.get((f.id, m))
            if sub is not None:
                inv.substituted_co2_kg, inv.substituted_hours, inv.substitution_methods = sub.co2_kg, sub.hours, sub.methods
            result.append(inv)
    return result


@dataclass(frozen=True)
class Totals:
    """Sums over a set of inventories (a region, the network, a year)."""

    scope1_kg: float
    scope2_kg: float
    biogenic_co2_kg: float
    made_tea_kg: float
    measured_co2_kg: float
    n: int

    @property
    def total_kg(self) -> float:
        return self.scope1_kg + self.scope2_kg

    @property
    def intensity_kg_per_kg(self) -> float | None:
        """Σ emissions ÷ Σ made tea (a ratio of sums, never a mean of ratios)."""
        return None if self.made_tea_kg <= 0 else self.total_kg / self.made_tea_kg


def totals(inventories: Iterable[MonthlyInventory], statuses: tuple[str, ...] | None = None) -> Totals:
    """Sum the reported inventories; drafts and gaps add no energy data.

    `statuses` narrows what counts (e.g. only approved months, or only those awaiting approval);
    by default a submitted month counts with the approved ones, as the workbooks state it.
    """
    s1 = s2 = bio = tea = meas = 0.0
    n = 0
    for inv in inventories:
        meas += inv.measured_co2_kg
        if not inv.is_reported or (statuses is not None and inv.submission_status not in statuses):
            continue
        n += 1
        s1 += inv.scope1_kg
        s2 += inv.scope2_kg
        bio += inv.biogenic_co2_kg
        tea += inv.made_tea_kg or 0.0
    return Totals(s1, s2, bio, tea, meas, n)

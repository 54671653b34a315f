"""A quarter's or a year's figures per factory: reported months as they are, missing months estimated.

Every reported month (submitted or approved) comes from `core.inventory.monthly.monthly_inventory`,
the function behind the monthly workbooks and the portal. A month inside the period that is not
reported (missing or still a draft) is **estimated conservatively**, labelled as an estimate and
never counted as zero:

- from the factory's measured stack data: the month's measured + substituted CO2 (the labelled
  Part 75-style substitutes of core.measurement.substitution, as in the monthly figures; no
  scaling by coverage), converted with the factory's own history (Scope 1 and biogenic CO2 per tonne of
  combustion CO2 in its reported months of the 12 months before the period and the period itself);
  without such history, all measured CO2 counts as fossil Scope 1 (the highest it can be);
- from the factory's history: the highest monthly Scope 1, Scope 2 and biogenic CO2 among those
  reported months;
- when both exist, the higher Scope 1 wins (conservative). An estimated month has no fuel lots and
  so no declared biomass: under CBAM rules all its CO2 counts (the measured CO2, or the highest
  month's combustion CO2). Made tea of an estimated month is not
  estimated (zero production is added), so the period's SEE can only be overstated, never understated.
A month with neither stack data nor history cannot be estimated: its cells stay blank and the
workbook says the period is incomplete.

CBAM-rule figures (Implementing Reg. (EU) 2023/1773 Annex III): direct emissions count CO2 only;
biomass CO2 is zero-rated only for a fuel whose month is covered by a valid supplier
sustainability declaration (`SupplierDeclaration`), otherwise it counts as fossil. The indirect
figure is grid electricity at the grid average factor (CBAM accepts no market-based instruments).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.emissions import GWP_SETS, SOLID_FUELS
from core.inventory.factors import FactorSet, load_factor_set
from core.inventory.monthly import ELECTRICITY_SOURCES, MonthlyInventory, load_lab_ncvs, monthly_inventory
from core.models import Factory
from core.reporting.evidence_sheet import collect_evidence
from core.reporting.month_data import (
    Basis,
    Declaration,
    FactorInfo,
    Restatement,
    collect_factor_info,
    load_declarations,
)
from core.reporting.periods import Period
from core.timeutil import DEFAULT_TZ, add_months, utcnow

HISTORY_MONTHS = 12  # months before the period that an estimate may draw on

BASIS_REPORTED = "reported"
BASIS_ESTIMATE = "estimate"
BASIS_NOT_ESTIMATED = "missing"


@dataclass
class MonthFigures:
    """One factory-month inside a period, reported or estimated (kg; None = not known)."""

    month: date
    status: str  # the monthly data status: approved / submitted / draft / missing
    basis: str  # reported / estimate / missing
    method: str  # how the figures were obtained, in words
    made_tea_kg: float | None = None
    scope1_kg: float | None = None
    fossil_co2_kg: float | None = None
    ch4_co2e_kg: float | None = None
    n2o_co2e_kg: float | None = None
    scope2_kg: float | None = None  # location-based
    biogenic_co2_kg: float | None = None
    cbam_direct_co2_kg: float | None = None
    cbam_indirect_kg: float | None = None
    biomass_co2_declared_kg: float | None = None  # zero-rated under CBAM
    biomass_co2_undeclared_kg: float | None = None  # counted as fossil under CBAM
    energy_mj: float | None = None
    grid_kwh: float | None = None
    own_renewable_kwh: float | None = None
    measured_co2_kg: float = 0.0
    measured_covered_s: float = 0.0
    expected_s: float = 0.0
    inv: MonthlyInventory | None = None

    @property
    def is_estimate(self) -> bool:
        return self.basis == BASIS_ESTIMATE


def _sum(values: Iterable[float | None]) -> float:
    return sum(v for v in values if v is not None)


@dataclass
class FactoryPeriod:
    """One factory's period: installation data and its months."""

    factory_id: int
    code: str
    name: str
    region: int
    county: str
    latitude: float
    longitude: float
    altitude_m: float
    target_kg_co2e_per_kg: float | None
    months: list[MonthFigures] = field(default_factory=list)
    declarations: list[Declaration] = field(default_factory=list)
    evidence: list = field(default_factory=list)  # core.reporting.evidence_sheet.EvidenceInfo

    def total(self, attr: str) -> float:
        """Σ of one MonthFigures attribute over the months that have it (reported and estimated)."""
        return _sum(getattr(m, attr) for m in self.months)

    def reported_total(self, attr: str) -> float:
        return _sum(getattr(m, attr) for m in self.months if m.basis == BASIS_REPORTED)

    @property
    def n_reported(self) -> int:
        return sum(1 for m in self.months if m.basis == BASIS_REPORTED)

    @property
    def n_estimated(self) -> int:
        return sum(1 for m in self.months if m.basis == BASIS_ESTIMATE)

    @property
    def n_not_estimated(self) -> int:
        return sum(1 for m in self.months if m.basis == BASIS_NOT_ESTIMATED)

    @property
    def complete(self) -> bool:
        """Every month is reported or estimated."""
        return self.n_not_estimated == 0

    @property
    def made_tea_kg(self) -> float:
        return self.reported_total("made_tea_kg")

    def per_t(self, attr: str) -> float | None:
        """Σ attr ÷ Σ made tea (t per t): a ratio of sums over the period, never a mean of monthly ratios."""
        tea = self.made_tea_kg
        return None if tea <= 0 else self.total(attr) / tea

    @property
    def see_direct(self) -> float | None:
        return self.per_t("scope1_kg")

    @property
    def see_indirect(self) -> float | None:
        return self.per_t("scope2_kg")

    @property
    def see_total(self) -> float | None:
        tea = self.made_tea_kg
        return None if tea <= 0 else (self.total("scope1_kg") + self.total("scope2_kg")) / tea

    @property
    def cbam_see_direct(self) -> float | None:
        return self.per_t("cbam_direct_co2_kg")

    @property
    def cbam_see_indirect(self) -> float | None:
        return self.per_t("cbam_indirect_kg")

    @property
    def cbam_see_total(self) -> float | None:
        tea = self.made_tea_kg
        return None if tea <= 0 else (self.total("cbam_direct_co2_kg") + self.total("cbam_indirect_kg")) / tea


@dataclass
class PeriodData:
    """A period's inputs for every factory asked for, with the factors and GWP set used."""

    period: Period
    tz: tzinfo
    gwp: str
    factors: FactorSet
    factor_info: dict[str, FactorInfo]
    factories: list[FactoryPeriod]
    collected_at: datetime
    basis: Basis | None = None
    restatement: Restatement | None = None
    reproduces_version: int | None = None  # the earlier version whose basis this one repeats

    @property
    def gwp_values(self) -> dict[str, float]:
        return GWP_SETS[self.gwp]

    def used_factor_info(self) -> list[FactorInfo]:
        """The factor rows named by FactorSet.versions, in code order."""
        return [self.factor_info[c] for c in sorted(self.factors.versions) if c in self.factor_info]


def _declared(decls: list[Declaration], source: str, month: date) -> Declaration | None:
    for d in decls:
        if d.source == source and d.covers(month):
            return d
    return None


def reported_month(inv: MonthlyInventory, factors: FactorSet, gwp: str, decls: list[Declaration]) -> MonthFigures:
    """A reported month's GHG Protocol and CBAM-rule figures from its inventory."""
    g = GWP_SETS[gwp]
    ch4e = n2oe = declared = undeclared = 0.0
    for line in inv.lines:
        if line.source in ELECTRICITY_SOURCES:
            continue
        fuel = factors.fuels.get(line.source)
        bio = fuel.biomass_fraction if fuel else 0.0
        ch4e += line.emissions.ch4_kg * (bio * g["ch4_biogenic"] + (1.0 - bio) * g["ch4_fossil"])
        n2oe += line.emissions.n2o_kg * g["n2o"]
        if line.emissions.biogenic_co2_kg:
            if _declared(decls, line.source, inv.month) is not None:
                declared += line.emissions.biogenic_co2_kg
            else:
                undeclared += line.emissions.biogenic_co2_kg
    fossil = inv.combustion.fossil_co2_kg
    grid_co2 = inv.grid_kwh * factors.grid_kg_co2_per_kwh
    return MonthFigures(
        inv.month, inv.submission_status, BASIS_REPORTED, "reported (monthly energy and production data)",
        made_tea_kg=inv.made_tea_kg or 0.0, scope1_kg=inv.scope1_kg, fossil_co2_kg=fossil, ch4_co2e_kg=ch4e,
        n2o_co2e_kg=n2oe, scope2_kg=inv.scope2_kg, biogenic_co2_kg=inv.biogenic_co2_kg,
        cbam_direct_co2_kg=fossil + undeclared, cbam_indirect_kg=grid_co2, biomass_co2_declared_kg=declared,
        biomass_co2_undeclared_kg=undeclared, energy_mj=inv.combustion.energy_mj + (inv.grid_kwh
                                                                                  + inv.own_renewable_kwh) * 3.6,
        grid_kwh=inv.grid_kwh, own_renewable_kwh=inv.own_renewable_kwh, measured_co2_kg=inv.measured_co2_kg,
        measured_covered_s=inv.measured_covered_s, expected_s=inv.expected_s, inv=inv,
    )


def estimate_month(inv: MonthlyInventory, history: list[MonthFigures]) -> MonthFigures:
    """A conservative estimate for a month that is not reported (module docstring); never zero."""
    status = inv.submission_status
    why = "draft, not submitted" if status == "draft" else "no data entered"
    base = dict(measured_co2_kg=inv.measured_co2_kg, measured_covered_s=inv.measured_covered_s,
                expected_s=inv.expected_s, inv=inv)
    candidates: list[tuple[float, float, float, str]] = []  # (scope1, biogenic, cbam direct, method)
    full = inv.measured_co2_full_month_kg  # measured + substituted, as the monthly figures (None: neither)
    if full:
        parts = (f"measured stack CO2 {full / 1000:,.1f} t = measured {inv.measured_co2_kg / 1000:,.1f} t in valid "
                 f"sensor-hours + substituted {inv.substituted_co2_kg / 1000:,.1f} t in {inv.substituted_hours:,} "
                 f"sensor-hours ({inv.substitution_method_text})")
        calc = _sum(h.fossil_co2_kg for h in history) + _sum(h.biogenic_co2_kg for h in history)
        if calc > 0:
            s1_per_co2 = _sum(h.scope1_kg for h in history) / calc
            bio_per_co2 = _sum(h.biogenic_co2_kg for h in history) / calc
            how = f"{parts} x the factory's Scope 1 per t of combustion CO2 in {len(history)} reported months"
            candidates.append((full * s1_per_co2, full * bio_per_co2, full, how))
        else:
            how = f"{parts}, all counted as fossil (no reported month to split it)"
            candidates.append((full, 0.0, full, how))
    if history:
        how = f"the highest month among {len(history)} reported months of the last {HISTORY_MONTHS + 1}"
        candidates.append((max(h.scope1_kg or 0.0 for h in history), max(h.biogenic_co2_kg or 0.0 for h in history),
                           max((h.fossil_co2_kg or 0.0) + (h.biogenic_co2_kg or 0.0) for h in history), how))
    if not candidates:
        return MonthFigures(inv.month, status, BASIS_NOT_ESTIMATED,
                            f"NOT ESTIMATED ({why}; no stack data and no reported month to estimate from)", **base)
    s1, bio, cbam, how = max(candidates, key=lambda c: c[0])
    scope2 = max(h.scope2_kg or 0.0 for h in history) if history else None
    grid = max(h.cbam_indirect_kg or 0.0 for h in history) if history else None
    s2_how = "; Scope 2: highest reported month" if history else "; Scope 2: not estimated (no history)"
    return MonthFigures(
        inv.month, status, BASIS_ESTIMATE, f"ESTIMATE ({why}): {how} (the higher estimate){s2_how}; made tea not "
        "estimated", made_tea_kg=None, scope1_kg=s1, scope2_kg=scope2, biogenic_co2_kg=bio, cbam_direct_co2_kg=cbam,
        cbam_indirect_kg=grid, **base,
    )


def collect_period(
    session: Session,
    period: Period,
    factory_ids: Iterable[int] | None = None,
    gwp: str = "AR5",
    tz: tzinfo = DEFAULT_TZ,
    now: datetime | None = None,
    factors: FactorSet | None = None,
    basis: Basis | None = None,
) -> PeriodData:
    """Gather a period's figures (and the history the estimates need) for the given factories (None = all).

    One factor set for the whole period: the versions in force on its first day, or exactly those of
    `basis` (an earlier report's); lab NCVs likewise (issue 18, reproducible reports).
    """
    now = now or utcnow()
    factors = factors or load_factor_set(session, at=period.start,
                                         versions=basis.factor_versions if basis is not None else None)
    ids = None if factory_ids is None else list(factory_ids)
    first = add_months(period.start, -HISTORY_MONTHS)
    months = [add_months(first, i) for i in range(HISTORY_MONTHS + len(period.months))]
    fq = sa.select(Factory.id) if ids is None else sa.select(Factory.id).where(Factory.id.in_(ids))
    labs = load_lab_ncvs(session, list(session.scalars(fq)), months,
                         only_ids=basis.lab_ncv_ids if basis is not None else None)
    invs = monthly_inventory(session, months, factors, ids, gwp, tz, now, lab_ncvs=labs)
    fids = sorted({inv.factory_id for inv in invs})
    factories = {f.id: f for f in session.scalars(sa.select(Factory).where(Factory.id.in_(fids)))}
    decls = load_declarations(session, fids)
    evidence = collect_evidence(session, fids, period.start, period.end)
    by_factory: dict[int, list[MonthlyInventory]] = defaultdict(list)
    for inv in invs:
        by_factory[inv.factory_id].append(inv)
    in_period = set(period.months)
    out = []
    for fid in sorted(fids, key=lambda i: factories[i].code):
        f = factories[fid]
        fdecls = [d for d in decls.get(fid, []) if d.source in SOLID_FUELS]
        reported = {inv.month: reported_month(inv, factors, gwp, fdecls)
                    for inv in by_factory[fid] if inv.is_reported}
        history = [m for mo, m in sorted(reported.items())]
        fp = FactoryPeriod(fid, f.code, f.name, f.region, f.county, f.latitude, f.longitude, f.altitude_m,
                           f.target_kg_co2e_per_kg, declarations=fdecls, evidence=evidence.get(fid, []))
        for inv in by_factory[fid]:
            if inv.month not in in_period:
                continue
            fp.months.append(reported[inv.month] if inv.month in reported else estimate_month(inv, history))
        out.append(fp)
    used_labs = tuple(sorted({i for inv in invs for line in inv.lines for i in line.lab_ncv_ids}))
    used = Basis(dict(factors.versions), {}, {}, used_labs)
    return PeriodData(period, tz, gwp, factors, collect_factor_info(session, factors), out, now, used)

"""Uncertainty of the inventory: IPCC 2006 Vol. 1 Ch. 3, Approach 1 (error propagation).

Each uncertainty is the half-width of the 95 % confidence interval as a percentage of the value.
- A product (emissions = activity x NCV x emission factor) combines as the root of the sum of
  squares of its factors' uncertainties (Vol. 1 Ch. 3 Eq. 3.1).
- A sum (gases of one source, sources of an inventory) combines as the root of the sum of the
  squared absolute uncertainties over the absolute total (Eq. 3.2).
Asymmetric IPCC ranges are turned into a symmetric half-width as (upper - lower) / 2 / default,
which is at least as wide as the narrower side (conservative for the narrow side, as Vol. 1 Ch. 3
§3.2.2.4 allows for approach 1 when ranges are not too skewed; the CH4/N2O ranges are, so their
share is stated beside the result).

Stated uncertainties of the factors come from the IPCC tables (ranges of Vol. 2 Ch. 1 Tables 1.2
and 1.4 and Ch. 2 Table 2.3); those of the activity data and the grid factor are stated
assumptions, named as such in `ACTIVITY_UNCERTAINTY` and `GRID_FACTOR_UNCERTAINTY`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from core.emissions import GWP_SETS
from core.inventory.factors import FactorSet
from core.inventory.monthly import ELECTRICITY_SOURCES, SourceLine


def half_width_pct(default: float, lower: float, upper: float) -> float:
    """A symmetric 95 % half-width in % from an IPCC (default, lower, upper) range."""
    return (upper - lower) / 2.0 / default * 100.0


# IPCC 2006 Vol. 2 Ch. 1 Table 1.2 (NCV, TJ/Gg) and Table 1.4 (CO2, kg/TJ): default, lower, upper.
NCV_RANGE = {
    "diesel": (43.0, 41.4, 43.3), "furnace_oil": (40.4, 39.8, 41.7), "lpg": (47.3, 44.8, 52.2),
    "firewood": (15.6, 7.9, 31.0), "briquettes": (11.6, 6.0, 23.0), "charcoal": (29.5, 14.9, 58.0),
}
CO2_EF_RANGE = {
    "diesel": (74_100, 72_600, 74_800), "furnace_oil": (77_400, 75_500, 78_800), "lpg": (63_100, 61_600, 65_600),
    "firewood": (112_000, 95_000, 132_000), "briquettes": (100_000, 84_700, 117_000),
    "charcoal": (112_000, 95_000, 132_000),
}
# IPCC 2006 Vol. 2 Ch. 2 Table 2.3 (manufacturing industries), kg/TJ: default, lower, upper.
CH4_EF_RANGE = {
    "diesel": (3, 1, 10), "furnace_oil": (3, 1, 10), "lpg": (1, 0.3, 3),
    "firewood": (30, 10, 100), "briquettes": (30, 10, 100), "charcoal": (200, 70, 600),
}
N2O_EF_RANGE = {
    "diesel": (0.6, 0.2, 2), "furnace_oil": (0.6, 0.2, 2), "lpg": (0.1, 0.03, 0.3),
    "firewood": (4, 1.5, 15), "briquettes": (4, 1.5, 15), "charcoal": (4, 1.5, 15),
}
# Stated assumptions (95 % half-width, %) for activity data, with the reason shown in the workbook.
ACTIVITY_UNCERTAINTY = {
    "diesel": (2.0, "metered deliveries / invoices (assumption)"),
    "furnace_oil": (2.0, "metered deliveries / invoices (assumption)"),
    "lpg": (2.0, "weighed cylinders / invoices (assumption)"),
    "firewood": (10.0, "weighbridge or stacked volume x density (assumption)"),
    "briquettes": (5.0, "weighed deliveries (assumption)"),
    "charcoal": (10.0, "bagged deliveries (assumption)"),
    "grid_electricity": (2.0, "utility revenue meter, IEC 62053-21 class 1-2 (assumption)"),
}
GRID_FACTOR_UNCERTAINTY = (10.0, "grid average of one year; no stated uncertainty in the source (assumption)")
ESTIMATE_UNCERTAINTY = (50.0, "conservative estimate of a month without data (assumption)")
METHOD = "IPCC 2006 Vol. 1 Ch. 3, Approach 1 (error propagation; Eq. 3.1 products, Eq. 3.2 sums)"


def combine_product(*pcts: float) -> float:
    """Uncertainty (%) of a product of independent quantities (IPCC Eq. 3.1)."""
    return math.sqrt(sum(p * p for p in pcts))


def combine_sum(items: Iterable[tuple[float, float]]) -> float | None:
    """Uncertainty (%) of a sum of (value, uncertainty %) pairs (IPCC Eq. 3.2); None for a zero total."""
    items = list(items)
    total = sum(v for v, _ in items)
    if total == 0:
        return None
    return math.sqrt(sum((v * u) ** 2 for v, u in items)) / abs(total)


@dataclass(frozen=True)
class SourceUncertainty:
    """One source's emissions (kg CO2e) and their uncertainty (%), with how it was obtained."""

    source: str
    emissions_kg: float
    activity_pct: float
    co2_pct: float | None  # activity x NCV x CO2 EF
    ch4_pct: float | None
    n2o_pct: float | None
    total_pct: float | None
    basis: str


@dataclass(frozen=True)
class InventoryUncertainty:
    """Per-source and combined uncertainty of Scope 1, Scope 2 and Scope 1 + 2."""

    sources: list[SourceUncertainty]
    scope1_pct: float | None
    scope2_pct: float | None
    total_pct: float | None


def inventory_uncertainty(lines: Iterable[SourceLine], factors: FactorSet, gwp: str,
                          estimated_scope1_kg: float = 0.0, estimated_scope2_kg: float = 0.0) -> InventoryUncertainty:
    """Approach-1 uncertainty of the Scope 1 + 2 inventory from its source lines (any number of months)."""
    g = GWP_SETS[gwp]
    per_source: dict[str, list[float]] = {}  # source -> [fossil CO2, CH4 CO2e, N2O CO2e, scope 2]
    for line in lines:
        if line.error:
            continue
        acc = per_source.setdefault(line.source, [0.0, 0.0, 0.0, 0.0])
        if line.source in ELECTRICITY_SOURCES:
            acc[3] += line.scope2_kg
            continue
        fuel = factors.fuels.get(line.source)
        bio = fuel.biomass_fraction if fuel else 0.0
        acc[0] += line.emissions.fossil_co2_kg
        acc[1] += line.emissions.ch4_kg * (bio * g["ch4_biogenic"] + (1.0 - bio) * g["ch4_fossil"])
        acc[2] += line.emissions.n2o_kg * g["n2o"]
    sources: list[SourceUncertainty] = []
    scope1_items: list[tuple[float, float]] = []
    scope2_items: list[tuple[float, float]] = []
    for source in sorted(per_source):
        co2, ch4, n2o, s2 = per_source[source]
        if source in ELECTRICITY_SOURCES:
            if source != "grid_electricity" or s2 == 0:
                continue  # own hydro/solar: zero emissions, nothing to propagate
            ad = ACTIVITY_UNCERTAINTY["grid_electricity"][0]
            u = combine_product(ad, GRID_FACTOR_UNCERTAINTY[0])
            sources.append(SourceUncertainty(source, s2, ad, u, None, None, u,
                                             f"{ACTIVITY_UNCERTAINTY['grid_electricity'][1]}; grid factor "
                                             f"+/-{GRID_FACTOR_UNCERTAINTY[0]:g} % ({GRID_FACTOR_UNCERTAINTY[1]})"))
            scope2_items.append((s2, u))
            continue
        ad, ad_why = ACTIVITY_UNCERTAINTY.get(source, (10.0, "unknown source (assumption)"))
        ncv = half_width_pct(*NCV_RANGE[source]) if source in NCV_RANGE else 0.0
        u_co2 = combine_product(ad, ncv, half_width_pct(*CO2_EF_RANGE[source])) if source in CO2_EF_RANGE else None
        u_ch4 = combine_product(ad, ncv, half_width_pct(*CH4_EF_RANGE[source])) if source in CH4_EF_RANGE else None
        u_n2o = combine_product(ad, ncv, half_width_pct(*N2O_EF_RANGE[source])) if source in N2O_EF_RANGE else None
        parts = [(co2, u_co2 or 0.0), (ch4, u_ch4 or 0.0), (n2o, u_n2o or 0.0)]
        total = co2 + ch4 + n2o
        u_total = combine_sum(parts)
        sources.append(SourceUncertainty(source, total, ad, u_co2 if co2 else None, u_ch4, u_n2o, u_total,
                                         f"activity: {ad_why}; NCV and EFs: IPCC 2006 ranges"))
        if u_total is not None:
            scope1_items.append((total, u_total))
    for kg, items, label in ((estimated_scope1_kg, scope1_items, "estimated months, Scope 1"),
                             (estimated_scope2_kg, scope2_items, "estimated months, Scope 2")):
        if kg:
            u = ESTIMATE_UNCERTAINTY[0]
            sources.append(SourceUncertainty(label, kg, u, None, None, None, u, ESTIMATE_UNCERTAINTY[1]))
            items.append((kg, u))
    return InventoryUncertainty(sources, combine_sum(scope1_items), combine_sum(scope2_items),
                                combine_sum(scope1_items + scope2_items))


SHEET_UNCERTAINTY = "Uncertainty"


def write_uncertainty(wb, unc: InventoryUncertainty) -> None:  # noqa: ANN001
    """Add the Uncertainty sheet: per source and combined, with the method and the stated inputs."""
    from core.reporting.xlsx import key_values, note, size_columns, table, title, wrap_column

    ws = wb.create_sheet(SHEET_UNCERTAINTY)
    row = title(ws, "Uncertainty: per source and combined (95 % confidence, +/- % of the value)", METHOD)
    rows = [(s.source, s.emissions_kg / 1000.0, s.activity_pct, s.co2_pct, s.ch4_pct, s.n2o_pct, s.total_pct,
             s.basis) for s in unc.sources]
    _, row = table(ws, row, ["Source", "Emissions (t CO2e)", "Activity data (%)", "CO2: AD x NCV x EF (%)",
                             "CH4 (%)", "N2O (%)", "Source total (%)", "Stated uncertainties"], rows,
                   [None, "#,##0.000", "0.0", "0.0", "0.0", "0.0", "0.0", None])
    row = key_values(ws, row, [
        ("Scope 1 combined", unc.scope1_pct, "+/- %", "0.0"),
        ("Scope 2 combined", unc.scope2_pct, "+/- %", "0.0"),
        ("Scope 1 + 2 combined", unc.total_pct, "+/- %", "0.0"),
    ])
    row = note(ws, row, "Factor ranges: IPCC 2006 Vol. 2 Ch. 1 Table 1.2 (NCV), Table 1.4 (CO2), Ch. 2 Table 2.3 "
                        "(CH4, N2O), as (upper - lower) / 2 / default. CH4 and N2O ranges are skewed (a factor of 3), "
                        "so their symmetric half-width overstates the lower side.")
    note(ws, row, "Biogenic CO2 is outside the scopes and not in these totals.")
    size_columns(ws)
    wrap_column(ws, 8)

"""Quarterly (CBAM quarter) and annual (calendar year) workbooks: one per factory and one for the network.

Factory sheets: Summary, Months (each month reported or estimated, with the method),
GHG_Inventory (GHG Protocol: Scope 1 by gas, Scope 2 location- and market-based, biogenic CO2
separately), CBAM_Rules (CO2 only; biomass zero-rated only under a valid supplier declaration),
Summary_Communication (a fixed-column table in the order of the EU CBAM communication template),
Factors. Network sheets: Summary, Factories, Factors.

A period's SEE and intensity are Σ emissions ÷ Σ made tea over its months, never a mean of monthly
ratios (`core.reporting.period_data`).
"""

from __future__ import annotations

from datetime import datetime

from openpyxl import Workbook

from core.reporting.citations import GWP_CITATIONS
from core.reporting.communication import (
    CN_CODE,
    COUNTRY,
    PRODUCT_NAME,
    SHEET_COMMUNICATION,
    communication_rows,
    write_communication,
)
from core.reporting.evidence_sheet import write_evidence
from core.reporting.factory_workbook import (
    BIOGENIC_NOTE,
    DISCLOSURE,
    ROUNDING_NOTE,
    local_naive,
)
from core.reporting.network_workbook import write_factors_sheet
from core.reporting.period_data import BASIS_ESTIMATE, BASIS_REPORTED, FactoryPeriod, PeriodData
from core.reporting.uncertainty import (
    SHEET_UNCERTAINTY,
    InventoryUncertainty,
    inventory_uncertainty,
    write_uncertainty,
)
from core.reporting.xlsx import (
    FMT_DATE,
    FMT_INT,
    FMT_PCT,
    FMT_RATIO,
    FMT_SEE,
    FMT_T,
    FMT_T_ROUNDED,
    finish_workbook,
    key_values,
    note,
    section,
    size_columns,
    table,
    title,
    wrap_column,
)

SHEET_SUMMARY = "Summary"
SHEET_MONTHS = "Months"
SHEET_GHG = "GHG_Inventory"
SHEET_CBAM = "CBAM_Rules"
SHEET_FACTORS = "Factors"
SHEET_FACTORIES = "Factories"
FACTORY_PERIOD_SHEETS = (SHEET_SUMMARY, SHEET_MONTHS, SHEET_GHG, SHEET_CBAM, SHEET_COMMUNICATION, SHEET_UNCERTAINTY,
                         SHEET_FACTORS)
NETWORK_PERIOD_SHEETS = (SHEET_SUMMARY, SHEET_FACTORIES, SHEET_FACTORS)


ESTIMATE_NOTE = (
    "A month inside the period without submitted data (missing or a draft) is ESTIMATED conservatively: the "
    "higher of (a) its measured stack CO2 scaled to the whole month by sensor coverage and converted with the "
    "factory's own reported months, and (b) the factory's highest reported month of the last 13 months. Made tea "
    "of an estimated month is not estimated, so the period's SEE is overstated rather than understated. "
    "Estimates are labelled in the Months sheet; a month that cannot be estimated is blank, never zero."
)
CBAM_NOTE = (
    "CBAM rules (Implementing Reg. (EU) 2023/1773 Annex III; Reg. (EU) 2023/956 Annex IV): direct emissions count "
    "CO2 only (CH4 and N2O are not counted for these goods); biomass CO2 is zero-rated only when the biomass meets "
    "the sustainability criteria of Directive (EU) 2018/2001 (RED II) Art. 29, shown by a valid supplier "
    "declaration for that fuel and month; otherwise it counts as fossil. Indirect: grid electricity at the "
    "grid average factor (market-based instruments are not accepted)."
)
MARKET_BASED_NOTE = (
    "Market-based Scope 2: no contractual instruments (guarantees of origin, PPAs) are recorded and no residual mix "
    "is published for Kenya, so the grid average is used (GHG Protocol Scope 2 Guidance, 2015, Ch. 6.11 hierarchy)."
)


def _t(kg: float | None) -> float | None:
    return None if kg is None else kg / 1000.0


def _r(t: float | None) -> int | None:
    return None if t is None else round(t)


def estimate_summary(fp: FactoryPeriod) -> str:
    """The period's data basis in words: how many months are reported, estimated, missing."""
    n = len(fp.months)
    parts = [f"{fp.n_reported} of {n} months reported"]
    if fp.n_estimated:
        est = ", ".join(f"{m.month:%b %Y}" for m in fp.months if m.basis == BASIS_ESTIMATE)
        parts.append(f"{fp.n_estimated} ESTIMATED ({est})")
    if fp.n_not_estimated:
        parts.append(f"{fp.n_not_estimated} missing and not estimable: the period is INCOMPLETE")
    return "; ".join(parts)


def period_target_status(fp: FactoryPeriod) -> str:
    """The period's target status; only a period whose every month is reported is assessed."""
    if fp.target_kg_co2e_per_kg is None:
        return "no target set"
    if fp.n_reported < len(fp.months):
        return (f"not assessed ({len(fp.months) - fp.n_reported} of {len(fp.months)} months not reported; "
                "the intensity shown includes estimates)")
    if fp.see_total is None:
        return "not assessed (no made tea reported)"
    return "met" if fp.see_total <= fp.target_kg_co2e_per_kg else "not met"


def _title(data: PeriodData, what: str, version: int, generated_at: datetime) -> tuple[str, str]:
    return (f"{what}, {data.period.title}",
            f"Carbon Track, version {version}, generated {local_naive(generated_at, data.tz):%Y-%m-%d %H:%M} "
            f"({data.tz}); period {data.period.start:%Y-%m-%d} to {data.period.end:%Y-%m-%d}")


def _factory_summary(wb: Workbook, fp: FactoryPeriod, data: PeriodData, version: int, generated_at: datetime) -> None:
    ws = wb.active
    ws.title = SHEET_SUMMARY
    kind = "Annual" if data.period.kind == "year" else "Quarterly"
    row = title(ws, *_title(data, f"{kind} emissions report: {fp.name} ({fp.code})", version, generated_at))
    for text in (DISCLOSURE, BIOGENIC_NOTE, ROUNDING_NOTE, ESTIMATE_NOTE):
        row = note(ws, row, text)
    row += 1
    row = key_values(ws, row, [
        ("Factory", fp.name), ("Factory code", fp.code), ("KTDA region", fp.region, None, FMT_INT),
        ("Reporting period start", data.period.start, None, FMT_DATE),
        ("Reporting period end", data.period.end, None, FMT_DATE),
        ("Report version", version, None, FMT_INT),
        ("Data basis", estimate_summary(fp)),
    ])
    row += 1
    row = section(ws, row, "GHG Protocol (Scope 1 with CH4 and N2O; biogenic CO2 outside the scopes)")
    s1, s2, bio = fp.total("scope1_kg"), fp.total("scope2_kg"), fp.total("biogenic_co2_kg")
    est_s1 = sum(m.scope1_kg or 0.0 for m in fp.months if m.basis == BASIS_ESTIMATE)
    rows = [
        ("Scope 1 (reported + estimated months)", _t(s1), _r(_t(s1)), "t CO2e"),
        ("  of which estimated", _t(est_s1), _r(_t(est_s1)), "t CO2e"),
        ("Scope 2, location-based", _t(s2), _r(_t(s2)), "t CO2e"),
        ("Scope 1 + 2", _t(s1 + s2), _r(_t(s1 + s2)), "t CO2e"),
        ("Biogenic CO2 (memo, outside scopes)", _t(bio), _r(_t(bio)), "t CO2"),
        ("Measured stack CO2 (monitored hours)", _t(fp.total("measured_co2_kg")),
         _r(_t(fp.total("measured_co2_kg"))), "t CO2"),
    ]
    _, row = table(ws, row, ["Item", "Value (full precision)", "Reported (rounded)", "Unit"], rows,
                   [None, FMT_T, FMT_T_ROUNDED, None], freeze=False)
    row = key_values(ws, row, [
        ("Made tea (reported months)", _t(fp.made_tea_kg), "t", FMT_T),
        ("SEE direct (GHG Protocol, CO2e)", fp.see_direct, "t CO2e / t", FMT_SEE, "sum of emissions / sum of made tea"),
        ("SEE indirect (GHG Protocol)", fp.see_indirect, "t CO2e / t", FMT_SEE),
        ("SEE total (GHG Protocol)", fp.see_total, "t CO2e / t", FMT_SEE),
        ("Emission intensity (Scope 1 + 2)", fp.see_total, "kg CO2e / kg made tea", FMT_RATIO),
        ("Intensity target", fp.target_kg_co2e_per_kg, "kg CO2e / kg made tea", FMT_RATIO),
        ("Target status", period_target_status(fp)),
        ("Uncertainty of Scope 1 + 2 (95 %)", period_uncertainty(fp, data).total_pct, "+/- %", "0.0",
         "IPCC 2006 Vol. 1 Ch. 3 approach 1; sheet Uncertainty"),
    ])
    row += 1
    row = section(ws, row, "CBAM rules (CO2 only; biomass zero-rated only with a valid sustainability declaration)")
    row = key_values(ws, row, [
        ("CBAM direct emissions (CO2)", _t(fp.total("cbam_direct_co2_kg")), "t CO2", FMT_T),
        ("CBAM indirect emissions (grid electricity)", _t(fp.total("cbam_indirect_kg")), "t CO2", FMT_T),
        ("CBAM SEE direct", fp.cbam_see_direct, "t CO2 / t", FMT_SEE),
        ("CBAM SEE indirect", fp.cbam_see_indirect, "t CO2 / t", FMT_SEE),
        ("CBAM SEE total", fp.cbam_see_total, "t CO2 / t", FMT_SEE),
        ("GWP set", data.gwp, None, None, GWP_CITATIONS[data.gwp]),
    ])
    note(ws, row, CBAM_NOTE)
    ws.freeze_panes = "A3"
    size_columns(ws)
    ws.column_dimensions["A"].width = 52


def _months(wb: Workbook, fp: FactoryPeriod) -> None:
    ws = wb.create_sheet(SHEET_MONTHS)
    row = title(ws, "Months: each month of the period, reported or estimated",
                "Basis 'estimate' = conservative estimate (method in the last column); blank = not known, never 0.")
    rows = []
    for m in fp.months:
        rows.append([m.month, m.status, m.basis.upper() if m.basis != BASIS_REPORTED else m.basis, _t(m.made_tea_kg),
                     _t(m.scope1_kg), _t(m.scope2_kg), _t(m.biogenic_co2_kg), _t(m.cbam_direct_co2_kg),
                     _t(m.cbam_indirect_kg), _t(m.measured_co2_kg),
                     m.measured_covered_s / m.expected_s if m.expected_s > 0 else None, m.method])
    s1, s2 = fp.total("scope1_kg"), fp.total("scope2_kg")
    rows.append(["Total", None, estimate_summary(fp), _t(fp.made_tea_kg), _t(s1), _t(s2),
                 _t(fp.total("biogenic_co2_kg")), _t(fp.total("cbam_direct_co2_kg")),
                 _t(fp.total("cbam_indirect_kg")), _t(fp.total("measured_co2_kg")), None,
                 "sums over the months; SEE = sum of emissions / sum of made tea"])
    table(ws, row, ["Month", "Data status", "Basis", "Made tea (t)", "Scope 1 (t CO2e)", "Scope 2 (t CO2e)",
                    "Biogenic CO2 (t CO2)", "CBAM direct (t CO2)", "CBAM indirect (t CO2)",
                    "Measured stack CO2 (t CO2)", "Sensor coverage", "Method"], rows,
          ["yyyy-mm", None, None, FMT_T, FMT_T, FMT_T, FMT_T, FMT_T, FMT_T, FMT_T, FMT_PCT, None])
    size_columns(ws)
    wrap_column(ws, 12)


def _ghg(wb: Workbook, fp: FactoryPeriod) -> None:
    ws = wb.create_sheet(SHEET_GHG)
    row = title(ws, "GHG_Inventory: GHG Protocol Corporate Standard inventory of the installation",
                "Scope 1 by gas (IPCC 2006 Vol 2 Ch 2 Tier 1 factors); Scope 2 location- and market-based; "
                "biogenic CO2 reported separately, outside the scopes.")
    est = [m for m in fp.months if m.basis == BASIS_ESTIMATE]
    est_s1 = sum(m.scope1_kg or 0.0 for m in est)
    rows = [
        ("Scope 1", "Fossil CO2 (stationary combustion, reported months)", _t(fp.reported_total("fossil_co2_kg")),
         "t CO2"),
        ("Scope 1", "CH4 as CO2e (fossil and biomass fuels, reported months)", _t(fp.reported_total("ch4_co2e_kg")),
         "t CO2e"),
        ("Scope 1", "N2O as CO2e (fossil and biomass fuels, reported months)", _t(fp.reported_total("n2o_co2e_kg")),
         "t CO2e"),
        ("Scope 1", f"Estimated months ({len(est)}), not split by gas", _t(est_s1) if est else None, "t CO2e"),
        ("Scope 1", "Scope 1 total", _t(fp.total("scope1_kg")), "t CO2e"),
        ("Scope 2", "Location-based (grid average factor)", _t(fp.total("scope2_kg")), "t CO2e"),
        ("Scope 2", "Market-based (see note)", _t(fp.total("scope2_kg")), "t CO2e"),
        ("Total", "Scope 1 + Scope 2 (location-based)", _t(fp.total("scope1_kg") + fp.total("scope2_kg")), "t CO2e"),
        ("Outside scopes", "Biogenic CO2 from firewood, briquettes, charcoal", _t(fp.total("biogenic_co2_kg")),
         "t CO2"),
        ("Activity", "Grid electricity (reported months)", _t(fp.reported_total("grid_kwh")), "MWh"),
        ("Activity", "Own hydro / solar electricity (reported months)", _t(fp.reported_total("own_renewable_kwh")),
         "MWh"),
        ("Activity", "Fuel and electricity energy (reported months)",
         fp.reported_total("energy_mj") / 1e6, "TJ"),
        ("Activity", "Made tea (reported months)", _t(fp.made_tea_kg), "t"),
    ]
    _, row = table(ws, row, ["Category", "Item", "Value", "Unit"], rows, [None, None, FMT_T, None])
    row = note(ws, row, MARKET_BASED_NOTE)
    note(ws, row, BIOGENIC_NOTE)
    size_columns(ws)


def _cbam(wb: Workbook, fp: FactoryPeriod) -> None:
    ws = wb.create_sheet(SHEET_CBAM)
    row = title(ws, "CBAM_Rules: CBAM-rule figures beside the GHG Protocol figures", CBAM_NOTE)
    rows = [
        ("Direct emissions", "Fossil CO2 (reported months)", _t(fp.reported_total("fossil_co2_kg")), "t CO2",
         _t(fp.reported_total("fossil_co2_kg"))),
        ("Direct emissions", "Biomass CO2 without a valid sustainability declaration (counted as fossil)",
         _t(fp.reported_total("biomass_co2_undeclared_kg")), "t CO2", _t(fp.reported_total("biomass_co2_undeclared_kg"))),
        ("Direct emissions", "Biomass CO2 with a valid sustainability declaration (zero-rated)",
         _t(fp.reported_total("biomass_co2_declared_kg")), "t CO2", 0.0),
        ("Direct emissions", "CH4 and N2O (not counted under CBAM for these goods)",
         _t(fp.reported_total("ch4_co2e_kg") + fp.reported_total("n2o_co2e_kg")), "t CO2e", 0.0),
        ("Direct emissions", "Estimated months (all CO2 counted unless declared)",
         None, "t CO2", _t(sum(m.cbam_direct_co2_kg or 0.0 for m in fp.months if m.basis == BASIS_ESTIMATE))),
        ("Direct emissions", "CBAM direct emissions", None, "t CO2", _t(fp.total("cbam_direct_co2_kg"))),
        ("Indirect emissions", "Grid electricity x grid average factor", None, "t CO2", _t(fp.total("cbam_indirect_kg"))),
    ]
    _, row = table(ws, row, ["Block", "Item", "GHG Protocol value", "Unit", "Counted under CBAM"], rows,
                   [None, None, FMT_T, None, FMT_T])
    row = key_values(ws, row, [
        ("Made tea (activity level)", _t(fp.made_tea_kg), "t", FMT_T),
        ("CBAM SEE direct", fp.cbam_see_direct, "t CO2 / t", FMT_SEE),
        ("CBAM SEE indirect", fp.cbam_see_indirect, "t CO2 / t", FMT_SEE),
        ("CBAM SEE total", fp.cbam_see_total, "t CO2 / t", FMT_SEE),
        ("GHG Protocol SEE direct (CO2e, for comparison)", fp.see_direct, "t CO2e / t", FMT_SEE),
    ])
    row += 1
    row = section(ws, row, "Supplier sustainability declarations on record (valid, not withdrawn)")
    rows = [(d.source, d.supplier, d.scheme, d.reference, d.valid_from, d.valid_to) for d in fp.declarations]
    _, row = table(ws, row, ["Fuel", "Supplier", "Scheme", "Reference", "Valid from", "Valid to"], rows,
                   [None, None, None, None, FMT_DATE, FMT_DATE], freeze=False)
    if not fp.declarations:
        note(ws, row, "No declaration on record: all biomass CO2 counts as fossil under CBAM rules.")
    size_columns(ws)


def _communication(wb: Workbook, fp: FactoryPeriod, data: PeriodData) -> None:
    write_communication(wb, communication_rows(fp, data.period.start, data.period.end, data.factors,
                                               data.factor_info, estimate_summary(fp)))


def period_uncertainty(fp: FactoryPeriod, data: PeriodData) -> InventoryUncertainty:
    """Approach-1 uncertainty over the period's reported lines, estimated months as their own source."""
    lines = [line for m in fp.months if m.basis == BASIS_REPORTED and m.inv is not None for line in m.inv.lines]
    est = [m for m in fp.months if m.basis == BASIS_ESTIMATE]
    return inventory_uncertainty(lines, data.factors, data.gwp, sum(m.scope1_kg or 0.0 for m in est),
                                 sum(m.scope2_kg or 0.0 for m in est))


SHEET_PCF = "PCF_Statement"
PCF_BOUNDARY = (
    "Gate-to-gate, factory stage: withering, CTC/rolling, fermentation, drying and sorting at the factory. "
    "Included: stationary combustion at the factory (fossil CO2, and CH4 and N2O of all fuels including "
    "biomass) and purchased grid electricity (location-based). Excluded: green-leaf cultivation (fertiliser "
    "N2O, field operations), leaf collection and transport, upstream (well-to-tank) fuel emissions, "
    "packaging, distribution, use and end of life, capital goods."
)


def _pcf(wb: Workbook, fp: FactoryPeriod, data: PeriodData) -> None:
    ws = wb.create_sheet(SHEET_PCF)
    row = title(ws, f"Product carbon footprint statement: {PRODUCT_NAME}, {fp.name}, {data.period.start.year}",
                "Partial carbon footprint of a product (factory stage) following ISO 14067:2018; to be sent to "
                "buyers together with this workbook's version and SHA-256.")
    tea = fp.made_tea_kg
    s1, s2, bio = fp.total("scope1_kg"), fp.total("scope2_kg"), fp.total("biogenic_co2_kg")
    unc = period_uncertainty(fp, data)
    row = key_values(ws, row, [
        ("Product", PRODUCT_NAME), ("CN code", CN_CODE), ("Producer", f"{fp.name} ({fp.code}), KTDA, {COUNTRY}"),
        ("Declared unit", "1 kg of made tea at the factory gate"),
        ("Period of the data", f"{data.period.start:%Y-%m-%d} to {data.period.end:%Y-%m-%d}"),
        ("Standard", "ISO 14067:2018 (partial CFP: factory stage only)"),
        ("System boundary", PCF_BOUNDARY),
        ("Allocation", "None: made tea is the factory's only product (no co-products)"),
        ("GWP set", data.gwp, None, None, GWP_CITATIONS[data.gwp]),
        ("Carbon footprint (fossil GHG, incl. biogenic CH4)", (s1 + s2) / tea if tea > 0 else None,
         "kg CO2e / kg made tea", FMT_RATIO),
        ("  of which fuel combustion at the factory", s1 / tea if tea > 0 else None, "kg CO2e / kg", FMT_RATIO),
        ("  of which purchased electricity", s2 / tea if tea > 0 else None, "kg CO2e / kg", FMT_RATIO),
        ("Biogenic CO2 emissions (reported separately, not in the footprint)", bio / tea if tea > 0 else None,
         "kg CO2 / kg made tea", FMT_RATIO),
        ("Biogenic CO2 removals", None, "kg CO2 / kg", None, "not assessed (wood-lot growth outside the boundary)"),
        ("Direct land-use change", None, "kg CO2e / kg", None, "not assessed"),
        ("Uncertainty (95 %)", unc.total_pct, "+/- %", "0.0", "IPCC 2006 Vol. 1 Ch. 3 approach 1"),
        ("Data basis", estimate_summary(fp)),
        ("Made tea in the period", _t(tea), "t", FMT_T),
    ])
    if fp.n_estimated or fp.n_not_estimated:
        row = note(ws, row, "Months without submitted data are estimated conservatively (see Months); made tea of "
                            "those months is not estimated, so the footprint is overstated rather than understated.")
    note(ws, row, DISCLOSURE)
    ws.freeze_panes = "A3"
    size_columns(ws)
    ws.column_dimensions["A"].width = 58
    wrap_column(ws, 2, 70)


def build_factory_period_workbook(fp: FactoryPeriod, data: PeriodData, version: int,
                                  generated_at: datetime) -> Workbook:
    """Build one factory's quarterly or annual workbook (not saved)."""
    wb = Workbook()
    _factory_summary(wb, fp, data, version, generated_at)
    _months(wb, fp)
    _ghg(wb, fp)
    _cbam(wb, fp)
    _communication(wb, fp, data)
    write_uncertainty(wb, period_uncertainty(fp, data))
    write_evidence(wb, fp.evidence, data.tz)
    if data.period.kind == "year":
        _pcf(wb, fp, data)
    write_factors_sheet(wb, data, "Every month of this period used these versions")
    return finish_workbook(wb, f"{fp.code} {data.period.label} emissions report v{version}")


def build_network_period_workbook(data: PeriodData, version: int, generated_at: datetime) -> Workbook:
    """Build the network's quarterly or annual workbook (not saved)."""
    wb = Workbook()
    fps = data.factories
    ws = wb.active
    ws.title = SHEET_SUMMARY
    kind = "annual" if data.period.kind == "year" else "quarterly"
    row = title(ws, *_title(data, f"KTDA network {kind} emissions report", version, generated_at))
    for text in (DISCLOSURE, BIOGENIC_NOTE, ROUNDING_NOTE, ESTIMATE_NOTE,
                 "Network figures are sums over the factories; SEE = sum of emissions / sum of made tea."):
        row = note(ws, row, text)
    row += 1

    def tot(attr: str) -> float:
        return sum(fp.total(attr) for fp in fps)

    tea = sum(fp.made_tea_kg for fp in fps)
    s1, s2 = tot("scope1_kg"), tot("scope2_kg")
    est_s1 = sum(m.scope1_kg or 0.0 for fp in fps for m in fp.months if m.basis == BASIS_ESTIMATE)
    _, row = table(ws, row, ["Item", "Value (full precision)", "Reported (rounded)", "Unit"], [
        ("Scope 1 (reported + estimated months)", _t(s1), _r(_t(s1)), "t CO2e"),
        ("  of which estimated", _t(est_s1), _r(_t(est_s1)), "t CO2e"),
        ("Scope 2, location-based", _t(s2), _r(_t(s2)), "t CO2e"),
        ("Scope 1 + 2", _t(s1 + s2), _r(_t(s1 + s2)), "t CO2e"),
        ("Biogenic CO2 (memo)", _t(tot("biogenic_co2_kg")), _r(_t(tot("biogenic_co2_kg"))), "t CO2"),
        ("CBAM direct emissions (CO2)", _t(tot("cbam_direct_co2_kg")), _r(_t(tot("cbam_direct_co2_kg"))), "t CO2"),
        ("Made tea (reported months)", _t(tea), _r(_t(tea)), "t"),
    ], [None, FMT_T, FMT_T_ROUNDED, None], freeze=False)
    months_total = sum(len(fp.months) for fp in fps)
    key_values(ws, row, [
        ("Reporting period start", data.period.start, None, FMT_DATE),
        ("Reporting period end", data.period.end, None, FMT_DATE),
        ("Factories", len(fps), None, FMT_INT),
        ("Factory-months reported", sum(fp.n_reported for fp in fps), f"of {months_total}", FMT_INT),
        ("Factory-months estimated", sum(fp.n_estimated for fp in fps), f"of {months_total}", FMT_INT),
        ("Factory-months missing, not estimable", sum(fp.n_not_estimated for fp in fps), f"of {months_total}",
         FMT_INT),
        ("Network SEE total (GHG Protocol)", (s1 + s2) / tea if tea > 0 else None, "t CO2e / t", FMT_SEE),
        ("Network CBAM SEE direct", tot("cbam_direct_co2_kg") / tea if tea > 0 else None, "t CO2 / t", FMT_SEE),
        ("GWP set", data.gwp, None, None, GWP_CITATIONS[data.gwp]),
    ])
    ws.freeze_panes = "A3"
    size_columns(ws)
    ws.column_dimensions["A"].width = 44

    ws = wb.create_sheet(SHEET_FACTORIES)
    row = title(ws, "Factories: each factory's period", "Intensity and SEE are sums over the period's months")
    rows = []
    for fp in sorted(fps, key=lambda f: (f.see_total is None, f.see_total or 0.0, f.code)):
        rows.append([fp.code, fp.name, fp.region, fp.n_reported, fp.n_estimated, fp.n_not_estimated,
                     _t(fp.made_tea_kg), _t(fp.total("scope1_kg")), _t(fp.total("scope2_kg")),
                     _t(fp.total("biogenic_co2_kg")), fp.see_total, fp.target_kg_co2e_per_kg,
                     period_target_status(fp), _t(fp.total("cbam_direct_co2_kg")), fp.cbam_see_direct,
                     _t(fp.reported_total("biomass_co2_undeclared_kg"))])
    table(ws, row, ["Code", "Factory", "Region", "Months reported", "Months estimated", "Months missing",
                    "Made tea (t)", "Scope 1 (t CO2e)", "Scope 2 (t CO2e)", "Biogenic CO2 memo (t)",
                    "Intensity (kg CO2e/kg)", "Target (kg CO2e/kg)", "Target status", "CBAM direct (t CO2)",
                    "CBAM SEE direct (t CO2/t)", "Biomass CO2 without declaration (t)"], rows,
          [None, None, FMT_INT, FMT_INT, FMT_INT, FMT_INT, FMT_T, FMT_T, FMT_T, FMT_T, FMT_RATIO, FMT_RATIO, None,
           FMT_T, FMT_SEE, FMT_T])
    size_columns(ws)
    write_factors_sheet(wb, data, "Every month of this period used these versions")
    return finish_workbook(wb, f"NETWORK {data.period.label} emissions report v{version}")

"""The factory workbook: one factory's month, shaped on the CBAM communication template and the GHG Protocol.

Sheets (docs/reports.md describes every field):
  Summary, A_InstData, B_SourceStreams, B3_Measured, C_Electricity, D_Production_SEE,
  Summary_Communication (name fixed: importers look for it), DataQuality, Daily.
All figures come from `core.inventory.monthly.monthly_inventory` (through `core.reporting.month_data`), so they
equal the portal's. Values keep full precision; number formats only change the display.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from openpyxl import Workbook
from openpyxl.chart import BarChart, LineChart, Reference

from core.emissions import GWP_SETS, SOLID_FUELS
from core.inventory.monthly import ELECTRICITY_SOURCES, SUBMISSION_DUE_DAY, MonthlyInventory, SourceLine
from core.reporting.citations import BIOGENIC_MEMO, GWP_CITATIONS, KTDA_BENCHMARK, MRR_ROUNDING
from core.reporting.communication import (
    CN_CODE,
    COUNTRY,
    DISCLOSURE,
    PRODUCT_NAME,
    SHEET_COMMUNICATION,
    communication_rows,
    write_communication,
)
from core.reporting.evidence_sheet import SHEET_EVIDENCE, write_evidence
from core.reporting.month_data import SECONDS_PER_HOUR, FactoryMonth, MonthData, SubmissionInfo
from core.reporting.period_data import BASIS_NOT_ESTIMATED, FactoryPeriod, MonthFigures, reported_month
from core.reporting.uncertainty import SHEET_UNCERTAINTY, inventory_uncertainty, write_uncertainty
from core.reporting.xlsx import (
    FMT_DATE,
    FMT_DATETIME,
    FMT_FACTOR,
    FMT_HOURS,
    FMT_INT,
    FMT_KG,
    FMT_PCT,
    FMT_RATIO,
    FMT_SEE,
    FMT_T,
    FMT_T_ROUNDED,
    finish_workbook,
    key_values,
    note,
    section,
    show_axes,
    size_columns,
    table,
    title,
    wrap_column,
)

SHEET_SUMMARY = "Summary"
SHEET_INSTALLATION = "A_InstData"
SHEET_SOURCES = "B_SourceStreams"
SHEET_MEASURED = "B3_Measured"
SHEET_ELECTRICITY = "C_Electricity"
SHEET_PRODUCTION = "D_Production_SEE"
SHEET_QUALITY = "DataQuality"
SHEET_DAILY = "Daily"
FACTORY_SHEETS = (
    SHEET_SUMMARY, SHEET_INSTALLATION, SHEET_SOURCES, SHEET_MEASURED, SHEET_ELECTRICITY,
    SHEET_PRODUCTION, SHEET_COMMUNICATION, SHEET_QUALITY, SHEET_DAILY, SHEET_EVIDENCE, SHEET_UNCERTAINTY,
)  # Uncertainty only for a month with energy data

KTDA_BENCHMARK_MJ_PER_KG = 29.76  # KTDA average 2017 (core.reporting.citations.KTDA_BENCHMARK)

BIOGENIC_NOTE = (
    "Biogenic CO2 from firewood, briquettes and charcoal is a memo item outside the scopes (GHG Protocol, "
    "IPCC 2006); CH4 and N2O from biomass are in Scope 1. Under EU MRR/CBAM sustainable biomass counts as zero. "
    "Sources: " + BIOGENIC_MEMO + "."
)
ROUNDING_NOTE = (
    "Cells keep full precision; 'reported' columns show totals rounded to whole tonnes "
    "(" + MRR_ROUNDING + ", principle)."
)
SUBSTITUTION_NOTE = (
    "Sensor-hours without valid data get a labelled substitute, 40 CFR Part 75 style (75.33(b)(1)): a gap of "
    "at most 24 h gets the average of the measured hour before and after; a longer gap the greater of that "
    "average and the 90th percentile of the 720 measured hours before it. Substitutes are stored apart from "
    "measured values and never count as coverage. Measured total = measured + substituted. Scope 1 and the "
    "SEE stay calculation-based (fuel log x IPCC factors); the measured total is the cross-check "
    "(docs/qaqc.md, Substitution)."
)
MISSING_NOTE = (
    "MISSING DATA: no monthly energy and production data were entered for this month. Calculation-based "
    "figures (Scope 1, Scope 2, biogenic CO2, intensity, SEE) are left blank: they are missing, not zero."
)

REPRODUCIBLE_NOTE = (
    "Each version of a report records the factor versions, stack and site parameter versions and laboratory "
    "NCVs it used. A later version of the same period repeats them (same figures) unless it is a restatement, "
    "which lists below what changed, why and who asked."
)
FACTOR_TABLE_HEADERS = ["Code", "Version", "Kind", "Label", "NCV (MJ/kg)", "CO2 (kg/TJ)", "CH4 (kg/TJ)",
                        "N2O (kg/TJ)", "Biomass fraction", "kg CO2/kWh", "Source",
                        "Primary citation (document, table, edition)", "In force", "Why this version"]
FACTOR_TABLE_FORMATS = [None, FMT_INT, None, None, "0.0", FMT_INT, "0.0", "0.0", "0.00", FMT_FACTOR, None, None,
                        None, None]


def factor_table_rows(data) -> list[tuple]:  # noqa: ANN001 - MonthData or PeriodData
    """One row per factor version used: values, citation, effective dates and the reason for the version."""
    return [(i.code, i.version, i.kind, i.label, i.ncv_mj_per_kg, i.co2_kg_per_tj, i.ch4_kg_per_tj, i.n2o_kg_per_tj,
             i.biomass_fraction, i.kg_co2_per_kwh, i.reference, i.primary, i.effective,
             (i.change_reason or "") + (f" (moisture correction with dry NCV {i.dry_ncv_mj_per_kg:.2f} MJ/kg)"
                                        if i.dry_ncv_mj_per_kg else ""))
            for i in data.used_factor_info()]


def write_basis(ws, row: int, data) -> int:  # noqa: ANN001 - Worksheet; MonthData or PeriodData
    """The report's basis and, for a restatement, what changed (old against new), why and who; next row."""
    row = section(ws, row, "Basis of this version: reproducibility and restatement")
    rest = getattr(data, "restatement", None)
    again = getattr(data, "reproduces_version", None)
    if rest is not None:
        row = key_values(ws, row, [
            ("Restatement", f"restates version {rest.previous_version}" if rest.previous_version else "restatement"),
            ("Reason given", rest.reason),
            ("Restated by", rest.restated_by),
            ("Changes", len(rest.changes), None, FMT_INT),
        ])
        if rest.changes:
            _, row = table(ws, row, ["What changed", "Previous version used", "This version uses"], rest.changes,
                           freeze=False)
        else:
            row = note(ws, row, "Nothing changed in the factors or parameters in force; figures as before.")
    elif again is not None:
        row = key_values(ws, row, [("Basis", f"same factor and parameter versions as version {again} "
                                             "(regenerated without restatement)")])
    else:
        row = key_values(ws, row, [("Basis", "factor and parameter versions in force on the period's first day")])
    return note(ws, row, REPRODUCIBLE_NOTE)


def write_parameters(ws, row: int, fm: FactoryMonth) -> int:  # noqa: ANN001 - Worksheet
    """Stack and node parameters in force for the month (issue 12 item 6); return the next row."""
    row = section(ws, row, "Stack and node parameters in force for the month")
    rows = []
    for st in fm.stacks:
        p = st.params
        if p is None:
            continue
        nodes = "; ".join(f"{n.device_id}: firmware {n.firmware or 'unknown'}, interval "
                          f"{n.sample_interval_s:g} s" + (f" (node reports {n.reported_interval_s:g} s)"
                                                         if n.reported_interval_s else "")
                          + ("" if n.active else ", retired") for n in st.nodes) or "none"
        rows.append((st.name, p.version or None, p.valid_from, p.diameter_m, p.moisture_fraction, p.analyser_basis,
                     p.velocity_profile_factor, p.altitude_m, None if p.pressure_pa is None else p.pressure_pa / 1000,
                     nodes))
    _, row = table(ws, row, ["Stack", "Parameter version", "In force from", "Diameter (m)", "Flue-gas moisture (fraction)",
                             "Analyser basis", "Velocity profile factor", "Site altitude (m)",
                             "Barometric pressure used (kPa, ISA)", "Sensor nodes"], rows,
                   [None, FMT_INT, FMT_DATE, "0.000", "0.000", None, "0.000", FMT_INT, "0.00", None], freeze=False)
    return note(ws, row, "Version blank: no parameter change recorded (the stack's registered values). Pressure: "
                         "ISA barometric formula at the site altitude unless the node measures it (per reading).")



def _t(kg: float | None) -> float | None:
    return None if kg is None else kg / 1000.0


def local_naive(dt: datetime | None, tz: tzinfo) -> datetime | None:
    """An aware instant as local wall time without tzinfo (Excel has no time zones)."""
    return None if dt is None else dt.astimezone(tz).replace(tzinfo=None)


def target_status(fm: FactoryMonth) -> str:
    """The month's intensity target in words; a draft or missing month is never called "not met".

    Only a submitted or approved month is assessed (MonthlyInventory.target_met is None otherwise):
    a draft says "pending", a month without energy data "not assessed (missing)", a submitted month
    that HQ has not approved says so beside "met" / "not met".
    """
    inv = fm.inv
    if not inv.has_energy_data:
        return "not assessed (missing: no energy or production data entered)"
    if inv.target_kg_co2e_per_kg is None:
        return "no target set"
    if inv.intensity_kg_per_kg is None:
        return "not assessed (no made tea reported)"
    if not inv.is_reported:
        return "pending (draft: not yet submitted to HQ)"
    verdict = "met" if inv.target_met else "not met"
    return verdict if inv.submission_status == "approved" else f"{verdict} (submitted, awaiting HQ approval)"


def electricity_mwh_per_t(inv: MonthlyInventory) -> float | None:
    """All electricity consumed (grid + own hydro/solar) per tonne of made tea: one figure for every sheet."""
    if not inv.made_tea_kg:
        return None
    return (inv.grid_kwh + inv.own_renewable_kwh) / inv.made_tea_kg  # kWh/kg = MWh/t


def calculated_t(inv: MonthlyInventory, kg: float) -> float | None:
    """A calculation-based figure in tonnes, or None (a blank, not a zero) when the month has no energy data."""
    return kg / 1000.0 if inv.has_energy_data else None


def _rounded(t: float | None) -> int | None:
    return None if t is None else round(t)


def approval_statement(sub: SubmissionInfo | None) -> str | None:
    """Who approved the month, and whether that was a second person (the four-eyes check)."""
    if sub is None or sub.approved_by is None:
        return None
    if sub.submitted_by is not None and sub.submitted_by == sub.approved_by:
        return f"{sub.approved_by} (the same person who submitted: no four-eyes check)"
    return f"{sub.approved_by} (a second person: four-eyes check)"


def data_status(fm: FactoryMonth) -> str:
    """The month's data status in words: workflow status and whether it was on time."""
    inv = fm.inv
    if not inv.has_energy_data:
        return "missing: no monthly energy/production data entered"
    if inv.submission_status == "draft":
        return "draft: entered but not yet submitted to HQ (not in network totals)"
    when = "on time" if inv.submitted_on_time else "late"
    return f"{inv.submission_status}, submitted {when} (due by the {SUBMISSION_DUE_DAY}th of the next month)"


def fuel_lines(fm: FactoryMonth) -> list[SourceLine]:
    """The month's combustion source streams (electricity is reported separately, as CBAM asks)."""
    return [line for line in fm.inv.lines if line.source not in ELECTRICITY_SOURCES]


def ch4_n2o_co2e_kg(line: SourceLine, data: MonthData) -> tuple[float, float]:
    """CH4 and N2O of one line as CO2e, with the GWP set (biogenic CH4 GWP for biomass share)."""
    gwp = GWP_SETS[data.gwp]
    info = data.factor_info.get(line.factor_code)
    bio = info.biomass_fraction if info else 0.0
    ch4_gwp = bio * gwp["ch4_biogenic"] + (1.0 - bio) * gwp["ch4_fossil"]
    return line.emissions.ch4_kg * ch4_gwp, line.emissions.n2o_kg * gwp["n2o"]


def _summary(wb: Workbook, fm: FactoryMonth, data: MonthData, version: int, generated_at: datetime) -> None:
    ws = wb.active
    ws.title = SHEET_SUMMARY
    inv = fm.inv
    row = title(ws, f"Monthly emissions report: {fm.name} ({fm.code}), {data.month:%B %Y}",
                f"Carbon Track, version {version}, generated {local_naive(generated_at, data.tz):%Y-%m-%d %H:%M} "
                f"({data.tz}); GHG Protocol figures with a voluntary CBAM-shaped disclosure")
    for text in (DISCLOSURE, BIOGENIC_NOTE, ROUNDING_NOTE):
        row = note(ws, row, text)
    row += 1
    row = section(ws, row, "Installation and period")
    row = key_values(ws, row, [
        ("Factory", fm.name), ("Factory code", fm.code), ("KTDA region", fm.region, None, FMT_INT),
        ("County", fm.county), ("Country", COUNTRY),
        ("Reporting period start", data.period_start, None, FMT_DATE),
        ("Reporting period end", data.period_end, None, FMT_DATE),
        ("Report version", version, None, FMT_INT),
    ])
    row += 1
    row = section(ws, row, "Emissions (GHG Protocol)")
    ch4e = n2oe = 0.0
    for line in fuel_lines(fm):
        a, b = ch4_n2o_co2e_kg(line, data)
        ch4e += a
        n2oe += b
    calc = [
        ("Scope 1: fossil CO2 + CH4 + N2O (calculation-based)", inv.scope1_kg, "t CO2e"),
        ("  of which fossil CO2", inv.combustion.fossil_co2_kg, "t CO2"),
        ("  of which CH4 as CO2e", ch4e, "t CO2e"),
        ("  of which N2O as CO2e", n2oe, "t CO2e"),
        ("Scope 2: purchased electricity, location-based", inv.scope2_kg, "t CO2e"),
        ("Scope 1 + 2", inv.total_kg, "t CO2e"),
        ("Biogenic CO2 (memo, outside scopes)", inv.biogenic_co2_kg, "t CO2"),
    ]
    rows = [(label, calculated_t(inv, kg), _rounded(calculated_t(inv, kg)), unit) for label, kg, unit in calc]
    rows.append(("Measured stack CO2 (monitored hours, fossil + biogenic)", _t(inv.measured_co2_kg),
                 round(inv.measured_co2_kg / 1000), "t CO2"))
    if not inv.has_energy_data:
        row = note(ws, row, MISSING_NOTE)
    _, row = table(ws, row, ["Item", "Value (full precision)", "Reported (rounded)", "Unit"], rows,
                   [None, FMT_T, FMT_T_ROUNDED, None], freeze=False)
    row = section(ws, row, "Production, intensity and specific embedded emissions")
    see = inv.see_t_per_t or (None, None, None)
    row = key_values(ws, row, [
        ("Made tea", _t(inv.made_tea_kg), "t", FMT_T),
        ("Emission intensity (Scope 1 + 2)", inv.intensity_kg_per_kg, "kg CO2e / kg made tea", FMT_RATIO),
        ("Intensity target", inv.target_kg_co2e_per_kg, "kg CO2e / kg made tea", FMT_RATIO),
        ("Target status", target_status(fm)),
        ("SEE direct", see[0], "t CO2e / t", FMT_SEE),
        ("SEE indirect", see[1], "t CO2e / t", FMT_SEE),
        ("SEE total", see[2], "t CO2e / t", FMT_SEE),
        ("Sensor data coverage", inv.coverage, "share of sensor-hours", FMT_PCT),
        ("Status of the month's data", data_status(fm)),
        ("GWP set", data.gwp, None, None, GWP_CITATIONS[data.gwp]),
        ("Grid factor", f"{data.factors.grid_code} v{data.factors.versions.get(data.factors.grid_code)}"),
    ])
    ws.freeze_panes = "A3"
    size_columns(ws)
    ws.column_dimensions["A"].width = 56


def _installation(wb: Workbook, fm: FactoryMonth, data: MonthData) -> None:
    ws = wb.create_sheet(SHEET_INSTALLATION)
    row = title(ws, "A_InstData: installation data", "Modelled on CBAM template sheet A_InstData (A.1, A.2)")
    row = section(ws, row, "A.1 Reporting period")
    row = key_values(ws, row, [
        ("Start", data.period_start, None, FMT_DATE), ("End", data.period_end, None, FMT_DATE),
        ("Time zone of days and months", str(data.tz)),
    ])
    row += 1
    row = section(ws, row, "A.2 About the installation")
    row = key_values(ws, row, [
        ("Installation name (English)", fm.name),
        ("Factory code", fm.code),
        ("Economic activity", "Tea processing: manufacture of black (CTC) tea from green leaf"),
        ("City / county", fm.county),
        ("Country", COUNTRY),
        ("KTDA administrative region", fm.region, None, FMT_INT),
        ("Latitude of the main emission source", fm.latitude, "decimal degrees", "0.0000"),
        ("Longitude of the main emission source", fm.longitude, "decimal degrees", "0.0000"),
        ("Altitude", fm.altitude_m, "m", FMT_INT),
        ("Operator", "Managed by KTDA (Kenya Tea Development Agency)"),
    ])
    row += 1
    row = section(ws, row, "Emission sources (boiler stacks) and sensor nodes")
    rows = [(s.name, s.diameter_m, ", ".join(s.device_ids) or "none", s.sample_interval_s) for s in fm.stacks]
    table(ws, row, ["Stack", "Diameter (m)", "Sensor nodes", "Sample interval (s)"], rows,
          [None, "0.00", None, FMT_INT], freeze=False)
    ws.freeze_panes = "A3"
    size_columns(ws)


def _sources(wb: Workbook, fm: FactoryMonth, data: MonthData) -> None:
    ws = wb.create_sheet(SHEET_SOURCES)
    row = title(ws, "B_SourceStreams: calculation-based source streams (combustion)",
                "Modelled on CBAM B_EmInst B.1. Em = AD x NCV x EF (oxidation factor 1, IPCC Tier 1); "
                "electricity is not a source stream (see C_Electricity).")
    headers = [
        "Method", "Source stream", "Activity data", "Unit", "Mass (t)", "NCV as used (MJ/kg)", "Energy (TJ)",
        "CO2 EF (t CO2/TJ)", "Biomass fraction", "Fossil CO2 (t)", "Biogenic CO2 (t)", "CH4 EF (kg/TJ)",
        "CH4 (t)", "N2O EF (kg/TJ)", "N2O (t)", "CO2e Scope 1 (t)", "Factor code", "Factor version",
        "Factor source and citation", "Remark", "NCV from",
    ]
    rows = []
    tot = [0.0] * 7
    for line in fuel_lines(fm):
        em = line.emissions
        info = data.factor_info.get(line.factor_code)
        ncv = em.energy_mj / em.mass_kg if em.mass_kg > 0 else (info.ncv_mj_per_kg if info else None)
        rows.append([
            "Combustion", info.label if info else line.source, line.quantity, line.unit, _t(em.mass_kg), ncv,
            em.energy_mj / 1e6, (info.co2_kg_per_tj / 1000) if info and info.co2_kg_per_tj is not None else None,
            info.biomass_fraction if info else None, _t(em.fossil_co2_kg), _t(em.biogenic_co2_kg),
            info.ch4_kg_per_tj if info else None, _t(em.ch4_kg), info.n2o_kg_per_tj if info else None,
            _t(em.n2o_kg), _t(em.co2e_kg), line.factor_code, line.factor_version,
            f"{info.reference}. {info.primary}" if info else "", line.error or "", _ncv_from(line, info),
        ])
        for i, v in enumerate((em.mass_kg, em.energy_mj, em.fossil_co2_kg, em.biogenic_co2_kg, em.ch4_kg,
                               em.n2o_kg, em.co2e_kg)):
            tot[i] += v
    if fm.inv.has_energy_data:
        rows.append(["Total", "all combustion source streams", None, None, _t(tot[0]), None, tot[1] / 1e6, None, None,
                     _t(tot[2]), _t(tot[3]), None, _t(tot[4]), None, _t(tot[5]), _t(tot[6]), None, None, None, None,
                     None])
    else:  # a missing month has no total, not a total of zero
        rows.append(["Total", "MISSING: no energy data entered (blank, not zero)"] + [None] * 19)
    fmts = [None, None, FMT_KG, None, FMT_T, "0.00", "0.0000", "0.0", "0.00", FMT_T, FMT_T, "0.0", "0.00000", "0.00",
            "0.00000", FMT_T, None, FMT_INT, None, None, None]
    _, end = table(ws, row, headers, rows, fmts)
    if not fuel_lines(fm):
        note(ws, end, "No fuel was logged for this month.")
    size_columns(ws)
    wrap_column(ws, 19)


def _ncv_from(line: SourceLine, info) -> str:  # noqa: ANN001 - FactorInfo | None
    """Which NCV a fuel line used: the lot's lab value, or the factor version's default."""
    if line.ncv_origin and line.ncv_origin.startswith("lab"):
        return line.ncv_origin
    if info is None:
        return ""
    if line.source == "firewood" and info.dry_ncv_mj_per_kg:
        return f"default {info.code} v{info.version}, moisture-corrected"
    return f"default {info.code} v{info.version}"


def _measured(wb: Workbook, fm: FactoryMonth, data: MonthData) -> None:
    ws = wb.create_sheet(SHEET_MEASURED)
    inv = fm.inv
    row = title(ws, "B3_Measured: measurement-based emission sources (stack sensors)",
                "Modelled on CBAM B_EmInst B.3. A stack sensor cannot tell fossil from biogenic CO2: the split "
                "uses the month's fuel mix on a carbon basis.")
    share = inv.fossil_share
    headers = ["Stack", "Sensor nodes", "Hours monitored (valid)", "Hours expected", "Coverage",
               "Valid readings", "Invalid readings", "Measured CO2 (t)", "Fossil CO2 by fuel mix (t)",
               "Biogenic CO2 by fuel mix (t)", "GHG", "CO2 concentration, mean (% vol)", "Flue temperature, mean (C)",
               "Flue-gas flow, monitored hours (Nm3, wet)"]
    rows = []
    for s in fm.stacks:
        rows.append([s.name, ", ".join(s.device_ids) or "none", s.covered_s / SECONDS_PER_HOUR,
                     s.expected_s / SECONDS_PER_HOUR, s.coverage, s.n_valid, s.n_readings - s.n_valid,
                     _t(s.co2_kg), None if share is None else _t(s.co2_kg * share),
                     None if share is None else _t(s.co2_kg * (1 - share)), "CO2", s.mean_co2_pct_vol,
                     s.mean_flue_temp_c, s.flue_gas_nm3])
    flows = [s.flue_gas_nm3 for s in fm.stacks if s.flue_gas_nm3 is not None]
    rows.append(["Total", None, inv.measured_covered_s / SECONDS_PER_HOUR, inv.expected_s / SECONDS_PER_HOUR,
                 inv.coverage, sum(s.n_valid for s in fm.stacks),
                 sum(s.n_readings - s.n_valid for s in fm.stacks), _t(inv.measured_co2_kg),
                 _t(inv.measured_fossil_co2_kg), _t(inv.measured_biogenic_co2_kg), "CO2", None, None,
                 sum(flows) if flows else None])
    _, row = table(ws, row, headers, rows,
                   [None, None, FMT_HOURS, FMT_HOURS, FMT_PCT, FMT_INT, FMT_INT, FMT_T, FMT_T, FMT_T, None, "0.00",
                    "0.0", FMT_INT])
    row = note(ws, row, "Normal conditions: 0 C and 101.325 kPa, wet gas; flow = mean velocity x stack area x monitored "
                        "seconds, corrected with the mean flue temperature and the ISA pressure at the factory's altitude.")
    row = section(ws, row, "Reconciliation: measured against calculated combustion CO2")
    calc = inv.calculated_co2_kg
    cov = inv.coverage
    row = key_values(ws, row, [
        ("Fossil share of combustion CO2 (carbon basis)", share, None, FMT_PCT),
        ("Calculated combustion CO2, fossil + biogenic", _t(calc), "t CO2", FMT_T, "from B_SourceStreams"),
        ("Measured CO2, monitored hours", _t(inv.measured_co2_kg), "t CO2", FMT_T),
        ("Sensor coverage", cov, None, FMT_PCT),
        ("Substituted CO2, hours without valid data", _t(inv.substituted_co2_kg), "t CO2", FMT_T,
         "labelled substitutes, not coverage"),
        ("Sensor-hours substituted", inv.substituted_hours, "h", FMT_HOURS),
        ("Measured CO2 total (measured + substituted)", _t(inv.measured_co2_full_month_kg), "t CO2", FMT_T,
         "not used in Scope 1"),
        ("Substitution method", inv.substitution_method_text),
        ("Difference, measured vs calculated", inv.reconciliation_pct, "%", "0.0",
         "(measured + substituted - calculated) / calculated, as on the portal"),
    ])
    row = note(ws, row, SUBSTITUTION_NOTE)
    row += 1
    write_parameters(ws, row, fm)
    size_columns(ws)


def _electricity(wb: Workbook, fm: FactoryMonth, data: MonthData) -> None:
    ws = wb.create_sheet(SHEET_ELECTRICITY)
    inv = fm.inv
    f = data.factors
    grid = data.factor_info.get(f.grid_code)
    row = title(ws, "C_Electricity: electricity and indirect emissions (Scope 2, CBAM indirect)",
                "GHG Protocol location-based Scope 2 uses a grid average; CBAM does not accept market-based "
                "instruments for the electricity factor.")
    total_mwh = (inv.grid_kwh + inv.own_renewable_kwh) / 1000.0
    per_t = electricity_mwh_per_t(inv)
    row = key_values(ws, row, [
        ("Grid electricity consumed", calculated_t(inv, inv.grid_kwh), "MWh", FMT_T),
        ("Grid emission factor", f.grid_kg_co2_per_kwh, "t CO2 / MWh", FMT_FACTOR),
        ("Grid factor code and version", f"{f.grid_code} v{f.versions.get(f.grid_code)}"),
        ("Source of the grid factor", grid.reference if grid else f.grid_code),
        ("Citation", grid.primary if grid else ""),
        ("Indirect emissions from grid electricity", calculated_t(inv, inv.grid_kwh * f.grid_kg_co2_per_kwh), "t CO2",
         FMT_T),
        ("Own hydro / solar electricity", calculated_t(inv, inv.own_renewable_kwh), "MWh", FMT_T),
        ("Own generation factor", f.own_renewable_kg_co2_per_kwh, "t CO2 / MWh", FMT_FACTOR),
        ("Scope 2 total", calculated_t(inv, inv.scope2_kg), "t CO2e", FMT_T),
        ("Total electricity consumed", total_mwh if inv.has_energy_data else None, "MWh", FMT_T),
        ("Electricity per tonne of made tea (grid + own)", per_t, "MWh / t", FMT_RATIO),
    ])
    row += 1
    row = section(ws, row, "Sensitivity: the same electricity at other Kenya grid factors (memo, not used)")
    rows = [(a.code, a.version, a.label, a.kg_co2_per_kwh, inv.grid_kwh * (a.kg_co2_per_kwh or 0) / 1000.0,
             a.reference) for a in data.grid_alternatives]
    table(ws, row, ["Factor code", "Version", "Label", "t CO2 / MWh", "Scope 2 at this factor (t)", "Source"], rows,
          [None, FMT_INT, None, FMT_FACTOR, FMT_T, None], freeze=False)
    ws.freeze_panes = "A3"
    size_columns(ws)
    ws.column_dimensions["B"].width = 16


def _production(wb: Workbook, fm: FactoryMonth, data: MonthData) -> None:
    ws = wb.create_sheet(SHEET_PRODUCTION)
    inv = fm.inv
    row = title(ws, "D_Production_SEE: production and specific embedded emissions",
                "Simple goods: SEE = attributed emissions / activity level (Reg. 2023/956 Annex IV §2). "
                "An annual SEE is the sum of emissions over the sum of production, never a mean of monthly SEEs.")
    see = inv.see_t_per_t or (None, None, None)
    energy_mj = inv.combustion.energy_mj + (inv.grid_kwh + inv.own_renewable_kwh) * 3.6
    row = key_values(ws, row, [
        ("Product", PRODUCT_NAME),
        ("CN code", CN_CODE, None, None, "not a CBAM good"),
        ("Green leaf processed", _t(inv.green_leaf_kg), "t", FMT_T),
        ("Made tea produced (activity level, AL)", _t(inv.made_tea_kg), "t", FMT_T),
        ("Directly attributable emissions (Scope 1)", calculated_t(inv, inv.scope1_kg), "t CO2e", FMT_T),
        ("Indirect emissions (Scope 2)", calculated_t(inv, inv.scope2_kg), "t CO2e", FMT_T),
        ("SEE direct", see[0], "t CO2e / t", FMT_SEE),
        ("SEE indirect", see[1], "t CO2e / t", FMT_SEE),
        ("SEE total", see[2], "t CO2e / t", FMT_SEE),
        ("Emission intensity (Scope 1 + 2)", inv.intensity_kg_per_kg, "kg CO2e / kg made tea", FMT_RATIO),
        ("Intensity target", inv.target_kg_co2e_per_kg, "kg CO2e / kg made tea", FMT_RATIO),
        ("Target status", target_status(fm)),
        ("Specific energy consumption (fuel + electricity)",
         energy_mj / inv.made_tea_kg if inv.made_tea_kg else None, "MJ / kg made tea", "0.00"),
        ("KTDA average specific energy (2017)", KTDA_BENCHMARK_MJ_PER_KG, "MJ / kg made tea", "0.00",
         KTDA_BENCHMARK),
    ])
    ws.freeze_panes = "A3"
    size_columns(ws)


def _communication(wb: Workbook, fm: FactoryMonth, data: MonthData) -> None:
    inv = fm.inv
    decls = [d for d in fm.declarations if d.source in SOLID_FUELS]
    if inv.has_energy_data:
        mf = reported_month(inv, data.factors, data.gwp, decls)
    else:  # blank, not zero: only the stack measurements are known
        mf = MonthFigures(inv.month, inv.submission_status, BASIS_NOT_ESTIMATED, "missing",
                          measured_co2_kg=inv.measured_co2_kg, measured_covered_s=inv.measured_covered_s,
                          expected_s=inv.expected_s, inv=inv)
    fp = FactoryPeriod(fm.factory_id, fm.code, fm.name, fm.region, fm.county, fm.latitude, fm.longitude,
                       fm.altitude_m, inv.target_kg_co2e_per_kg, months=[mf], declarations=decls)
    write_communication(wb, communication_rows(fp, data.period_start, data.period_end, data.factors,
                                               data.factor_info, data_status(fm), stacks=fm.stacks))


AVAILABILITY_NOTE = ("{valid:,.0f} valid node-hours of {assigned:,.1f} assigned operating hours ({idle:,.0f} h the "
                     "node measured the stack not running left out); a valid hour has at least 45 minutes of valid "
                     "readings; nodes count only while assigned to a stack (docs/qaqc.md)")


def _quality(wb: Workbook, fm: FactoryMonth, data: MonthData) -> None:
    ws = wb.create_sheet(SHEET_QUALITY)
    inv = fm.inv
    tz = data.tz
    sub = fm.submission
    row = title(ws, "DataQuality: coverage, substitution, data status, factors and GWP set",
                "Modelled on CBAM C_Emissions&Energy C.3 (data quality)")
    n_valid = sum(d.n_valid for d in fm.days)
    n_read = sum(d.n_readings for d in fm.days)
    row = section(ws, row, "Sensor data")
    row = key_values(ws, row, [
        ("Active sensor nodes", fm.n_devices, None, FMT_INT),
        ("Sensor-hours expected", inv.expected_s / SECONDS_PER_HOUR, "h", FMT_HOURS),
        ("Sensor-hours with valid data", inv.measured_covered_s / SECONDS_PER_HOUR, "h", FMT_HOURS),
        ("Sensor-hours missing", max(0.0, inv.expected_s - inv.measured_covered_s) / SECONDS_PER_HOUR, "h", FMT_HOURS),
        ("Hours substituted", float(inv.substituted_hours), "h", FMT_HOURS, "labelled, not coverage"),
        ("Substituted CO2", _t(inv.substituted_co2_kg), "t CO2", FMT_T),
        ("Coverage", inv.coverage, None, FMT_PCT),
        ("Data availability (40 CFR 75.32)", fm.availability.share if fm.availability else None, None, FMT_PCT,
         AVAILABILITY_NOTE.format(valid=fm.availability.valid_hours if fm.availability else 0.0,
                                  assigned=fm.availability.assigned_hours if fm.availability else 0.0,
                                  idle=fm.availability.non_operating_hours if fm.availability else 0.0)),
        ("Readings stored", n_read, None, FMT_INT),
        ("Readings valid", n_valid, None, FMT_INT),
        ("Readings invalid (outside physical ranges, excluded)", n_read - n_valid, None, FMT_INT),
        ("Substitution method", f"{SUBSTITUTION_NOTE} This month: {inv.substitution_method_text}"),
        ("General data-quality approach", "Fuel log with IPCC 2006 default factors; stack sensors as cross-check"),
    ])
    row += 1
    row = section(ws, row, "Monthly energy and production data")
    row = key_values(ws, row, [
        ("Status", data_status(fm)),
        ("Due", local_naive(inv.due_at, tz), None, FMT_DATETIME),
        ("Submitted at", local_naive(sub.submitted_at if sub else None, tz), None, FMT_DATETIME),
        ("Submitted by", sub.submitted_by if sub else None),
        ("Approved at", local_naive(sub.approved_at if sub else None, tz), None, FMT_DATETIME),
        ("Approved by", approval_statement(sub)),
        ("Approved version", sub.approved_version if sub else None),
        ("Note from the factory", sub.note if sub else None),
    ])
    errors = [f"{line.source}: {line.error}" for line in inv.lines if line.error]
    if errors:
        row = key_values(ws, row, [("Lines not computed", "; ".join(errors))])
    row += 1
    row = section(ws, row, f"GWP set: {data.gwp} (100-year), {GWP_CITATIONS[data.gwp]}")
    gwp = data.gwp_values
    _, row = table(ws, row, ["Gas", "GWP-100"], [("CO2", 1.0), ("CH4 (fossil)", gwp["ch4_fossil"]),
                   ("CH4 (biogenic)", gwp["ch4_biogenic"]), ("N2O", gwp["n2o"])], [None, "0.0"], freeze=False)
    row = section(ws, row, "Emission factors used (versioned, effective-dated; never edited once used)")
    _, row = table(ws, row, FACTOR_TABLE_HEADERS, factor_table_rows(data), FACTOR_TABLE_FORMATS, freeze=False)
    row = write_basis(ws, row, data) + 1
    row = section(ws, row, "Coverage per day")
    rows = [(d.day, d.expected_s / SECONDS_PER_HOUR, d.covered_s / SECONDS_PER_HOUR,
             d.missing_s / SECONDS_PER_HOUR, d.substituted_hours, d.coverage, d.n_valid, d.n_readings - d.n_valid)
            for d in fm.days]
    table(ws, row, ["Day", "Sensor-hours expected", "Valid hours", "Missing hours", "Substituted hours",
                    "Coverage", "Valid readings", "Invalid readings"], rows,
          [FMT_DATE, FMT_HOURS, FMT_HOURS, FMT_HOURS, FMT_HOURS, FMT_PCT, FMT_INT, FMT_INT], freeze=False)
    ws.freeze_panes = "A3"
    size_columns(ws)
    ws.column_dimensions["B"].width = 22
    wrap_column(ws, 12)


def _daily(wb: Workbook, fm: FactoryMonth, data: MonthData) -> None:
    ws = wb.create_sheet(SHEET_DAILY)
    share = fm.inv.fossil_share
    row = title(ws, "Daily: measured stack CO2 per local day", f"Days are local days in {data.tz}")
    rows = [(d.day, _t(d.co2_kg), None if share is None else _t(d.co2_kg * share),
             None if share is None else _t(d.co2_kg * (1 - share)), d.covered_s / SECONDS_PER_HOUR,
             d.coverage, d.n_valid) for d in fm.days]
    header_row, end = table(ws, row, ["Day", "Measured CO2 (t)", "Fossil CO2 by fuel mix (t)",
                                      "Biogenic CO2 by fuel mix (t)", "Valid hours", "Coverage", "Valid readings"],
                            rows, [FMT_DATE, FMT_T, FMT_T, FMT_T, FMT_HOURS, FMT_PCT, FMT_INT])
    last = header_row + len(rows)
    if rows:
        chart = BarChart()
        chart.title = "Measured stack CO2 per day (t)"
        chart.y_axis.title = "t CO2"
        chart.x_axis.title = "day"
        chart.x_axis.number_format = "dd"
        chart.add_data(Reference(ws, min_col=2, min_row=header_row, max_row=last), titles_from_data=True)
        chart.set_categories(Reference(ws, min_col=1, min_row=header_row + 1, max_row=last))
        line = LineChart()
        line.add_data(Reference(ws, min_col=6, min_row=header_row, max_row=last), titles_from_data=True)
        line.y_axis.axId = 200
        line.y_axis.title = "coverage"
        line.y_axis.number_format = "0%"
        line.y_axis.crosses = "max"
        line.y_axis.delete = False
        line.y_axis.majorGridlines = None
        chart += line
        show_axes(chart)
        chart.width, chart.height = 24, 10
        ws.add_chart(chart, f"I{header_row}")
    size_columns(ws)


def build_factory_workbook(fm: FactoryMonth, data: MonthData, version: int, generated_at: datetime) -> Workbook:
    """Build the factory workbook for one factory's month (not saved)."""
    wb = Workbook()
    _summary(wb, fm, data, version, generated_at)
    _installation(wb, fm, data)
    _sources(wb, fm, data)
    _measured(wb, fm, data)
    _electricity(wb, fm, data)
    _production(wb, fm, data)
    _communication(wb, fm, data)
    _quality(wb, fm, data)
    _daily(wb, fm, data)
    write_evidence(wb, fm.evidence, data.tz)
    if fm.inv.has_energy_data:
        write_uncertainty(wb, inventory_uncertainty(fm.inv.lines, data.factors, data.gwp))
    return finish_workbook(wb, f"{fm.code} {data.month:%Y-%m} emissions report v{version}")

"""The network workbook: every factory's month in one leaderboard, region and network totals, success metrics.

Intensities of a region or the network are ratios of sums (`core.inventory.monthly.totals`), never means
of factory ratios. Sheets: Summary, Leaderboard, Regions, Factors.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference

from core.inventory.monthly import totals
from core.reporting.citations import GWP_CITATIONS
from core.reporting.factory_workbook import (
    BIOGENIC_NOTE,
    DISCLOSURE,
    FACTOR_TABLE_FORMATS,
    FACTOR_TABLE_HEADERS,
    ROUNDING_NOTE,
    data_status,
    factor_table_rows,
    local_naive,
    target_status,
    write_basis,
)
from core.reporting.month_data import FactoryMonth, MonthData
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
    show_axes,
    size_columns,
    table,
    title,
    wrap_column,
)

SHEET_SUMMARY = "Summary"
SHEET_LEADERBOARD = "Leaderboard"
SHEET_REGIONS = "Regions"
SHEET_FACTORS = "Factors"
NETWORK_SHEETS = (SHEET_SUMMARY, SHEET_LEADERBOARD, SHEET_REGIONS, SHEET_FACTORS)

# The programme's success metrics and their goals (the Carbon Track programme brief, as quoted in
# issue 14: "the programme's 50 % / 100 % / 20 % goals"):
# - sensor uptime: the fleet's valid sensor-hours over expected sensor-hours, goal >= 50 %;
# - energy data submitted on schedule: share of factories, goal 100 %;
# - meeting the intensity target: share of the factories whose month was assessed, goal >= 20 %.
GOAL_SENSOR_UPTIME = 0.5
GOAL_ON_SCHEDULE = 1.0
GOAL_TARGET_MET = 0.2
# Per factory (Regions sheet, leaderboard): sensors count as "up" at this share of the month.
SENSOR_UPTIME_THRESHOLD = 0.5


@dataclass(frozen=True)
class SuccessMetrics:
    """The programme's success metrics over a set of factories, with numerators, denominators and goals."""

    factories: int
    covered_s: float       # valid sensor-seconds, all factories
    expected_s: float      # expected sensor-seconds, all factories
    sensors_up: int        # factories at or above SENSOR_UPTIME_THRESHOLD
    on_time: int           # factories that submitted by the due date
    due: bool              # the month's due date has passed when the metrics were taken
    assessed: int          # factories with a target whose month is submitted or approved, with made tea
    target_met: int

    @property
    def sensor_uptime(self) -> float | None:
        """The fleet's uptime: valid sensor-hours / expected sensor-hours (not a share of factories)."""
        return self.covered_s / self.expected_s if self.expected_s > 0 else None

    @property
    def sensor_uptime_share(self) -> float | None:
        """Share of factories whose own sensors covered at least SENSOR_UPTIME_THRESHOLD."""
        return self.sensors_up / self.factories if self.factories else None

    @property
    def on_time_share(self) -> float | None:
        """Share of factories that submitted on schedule; None before the due date (not yet due)."""
        return self.on_time / self.factories if self.factories and self.due else None

    @property
    def target_met_share(self) -> float | None:
        return self.target_met / self.assessed if self.assessed else None


def _verdict(value: float | None, goal: float, pending: str = "no data") -> str:
    if value is None:
        return pending
    return "met" if value >= goal - 1e-12 else "not met"


def success_metrics(fms: list[FactoryMonth], now: datetime) -> SuccessMetrics:
    """The success metrics over `fms`, as they stand at `now` (which decides "not yet due")."""
    invs = [fm.inv for fm in fms]
    due_at = [i.due_at for i in invs if i.due_at is not None]
    assessed = [i for i in invs if i.target_met is not None]
    return SuccessMetrics(
        factories=len(invs),
        covered_s=sum(i.measured_covered_s for i in invs),
        expected_s=sum(i.expected_s for i in invs),
        sensors_up=sum(1 for i in invs if i.coverage is not None and i.coverage >= SENSOR_UPTIME_THRESHOLD),
        on_time=sum(1 for i in invs if i.submitted_on_time),
        due=bool(due_at) and now >= min(due_at),
        assessed=len(assessed),
        target_met=sum(1 for i in assessed if i.target_met),
    )


def leaderboard(fms: list[FactoryMonth]) -> list[FactoryMonth]:
    """Factories by intensity, lowest first; those without an intensity last, by code."""
    ranked = sorted((fm for fm in fms if fm.inv.intensity_kg_per_kg is not None),
                    key=lambda fm: (fm.inv.intensity_kg_per_kg, fm.code))
    rest = sorted((fm for fm in fms if fm.inv.intensity_kg_per_kg is None), key=lambda fm: fm.code)
    return ranked + rest


def _t(kg: float | None) -> float | None:
    return None if kg is None else kg / 1000.0


def _sums(t) -> list[float | None]:  # noqa: ANN001 - core.inventory.monthly.Totals
    """Made tea, Scope 1, Scope 2, Scope 1 + 2, biogenic CO2 in t; blanks (not zeros) when nothing is reported."""
    if t.n == 0:
        return [None] * 5
    return [_t(t.made_tea_kg), _t(t.scope1_kg), _t(t.scope2_kg), _t(t.total_kg), _t(t.biogenic_co2_kg)]


def write_factors_sheet(wb: Workbook, data: Any, subtitle: str) -> None:
    """Add the Factors sheet: every factor version the report used, with citations, and the GWP set."""
    ws = wb.create_sheet(SHEET_FACTORS)
    row = title(ws, "Factors: emission factors and GWP set used", subtitle)
    _, row = table(ws, row, FACTOR_TABLE_HEADERS, factor_table_rows(data), FACTOR_TABLE_FORMATS)
    gwp = data.gwp_values
    row = key_values(ws, row, [(f"GWP set {data.gwp}: CH4 fossil", gwp["ch4_fossil"]),
                               (f"GWP set {data.gwp}: CH4 biogenic", gwp["ch4_biogenic"]),
                               (f"GWP set {data.gwp}: N2O", gwp["n2o"])])
    write_basis(ws, row + 1, data)
    size_columns(ws)
    wrap_column(ws, 12)


def build_network_workbook(data: MonthData, version: int, generated_at: datetime) -> Workbook:
    """Build the network workbook for the month (not saved)."""
    wb = Workbook()
    fms = data.factories
    tot = totals(fm.inv for fm in fms)
    metrics = success_metrics(fms, generated_at)

    ws = wb.active
    ws.title = SHEET_SUMMARY
    row = title(ws, f"KTDA network emissions report, {data.month:%B %Y}",
                f"Carbon Track, version {version}, generated {local_naive(generated_at, data.tz):%Y-%m-%d %H:%M} "
                f"({data.tz}); {len(fms)} factories")
    for text in (DISCLOSURE, BIOGENIC_NOTE, ROUNDING_NOTE,
                 "Network and region intensities are sums of emissions over sums of made tea (ratio of sums)."):
        row = note(ws, row, text)
    row += 1
    row = section(ws, row, "Network totals (factories with energy data)")
    has = tot.n > 0  # no factory reported: the calculated totals are missing, not zero

    def t_r(kg: float) -> tuple[float | None, int | None]:
        return (_t(kg), round(kg / 1000)) if has else (None, None)

    _, row = table(ws, row, ["Item", "Value (full precision)", "Reported (rounded)", "Unit"], [
        ("Scope 1", *t_r(tot.scope1_kg), "t CO2e"),
        ("Scope 2", *t_r(tot.scope2_kg), "t CO2e"),
        ("Scope 1 + 2", *t_r(tot.total_kg), "t CO2e"),
        ("Biogenic CO2 (memo)", *t_r(tot.biogenic_co2_kg), "t CO2"),
        ("Measured stack CO2 (all factories)", _t(tot.measured_co2_kg), round(tot.measured_co2_kg / 1000), "t CO2"),
        ("Made tea", *t_r(tot.made_tea_kg), "t"),
    ], [None, FMT_T, FMT_T_ROUNDED, None], freeze=False)
    if not has:
        row = note(ws, row, "MISSING DATA: no factory has submitted this month's energy data; calculated totals are "
                            "blank, not zero.")
    intensity = tot.intensity_kg_per_kg
    row = key_values(ws, row, [
        ("Reporting period start", data.period_start, None, FMT_DATE),
        ("Reporting period end", data.period_end, None, FMT_DATE),
        ("Factories in the report", len(fms), None, FMT_INT),
        ("Factories with energy data", tot.n, None, FMT_INT),
        ("Network intensity (Scope 1 + 2)", intensity, "kg CO2e / kg made tea", FMT_RATIO),
        ("Network SEE total", intensity, "t CO2e / t made tea", FMT_SEE, "same ratio in tonnes"),
        ("GWP set", data.gwp, None, None, GWP_CITATIONS[data.gwp]),
        ("Grid factor", f"{data.factors.grid_code} v{data.factors.versions.get(data.factors.grid_code)}"),
    ])
    row += 1
    row = section(ws, row, "Success metrics")
    due = [fm.inv.due_at for fm in fms if fm.inv.due_at is not None]
    pending = f"not yet due (due {local_naive(min(due), data.tz):%Y-%m-%d %H:%M})" if due else "no data"
    table(ws, row, ["Metric", "Value", "Numerator", "Denominator", "Goal", "Status", "Definition"], [
        ("Sensor uptime (fleet)", metrics.sensor_uptime, metrics.covered_s / 3600, metrics.expected_s / 3600,
         GOAL_SENSOR_UPTIME, _verdict(metrics.sensor_uptime, GOAL_SENSOR_UPTIME),
         "valid sensor-hours / expected sensor-hours over all nodes in the month (hours)"),
        ("Factories with sensor uptime >= 50 %", metrics.sensor_uptime_share, metrics.sensors_up,
         metrics.factories, None, "for information", "factories whose own coverage is at least 50 %"),
        ("Energy data submitted on schedule", metrics.on_time_share, metrics.on_time, metrics.factories,
         GOAL_ON_SCHEDULE, _verdict(metrics.on_time_share, GOAL_ON_SCHEDULE, pending),
         "factories whose month was submitted by the due date (the 10th of the next month)"),
        ("Factories meeting the intensity target", metrics.target_met_share, metrics.target_met, metrics.assessed,
         GOAL_TARGET_MET, _verdict(metrics.target_met_share, GOAL_TARGET_MET),
         "intensity <= target, among factories with a target whose month is submitted or approved "
         "(drafts and missing months are not assessed)"),
    ], [None, FMT_PCT, None, None, FMT_PCT, None, None], freeze=False)
    ws.freeze_panes = "A3"
    size_columns(ws)
    ws.column_dimensions["A"].width = 40

    ws = wb.create_sheet(SHEET_LEADERBOARD)
    row = title(ws, "Leaderboard: every factory by emission intensity (lowest first)",
                "Factories without energy or production data are listed last, unranked.")
    rows = []
    for rank, fm in enumerate(leaderboard(fms), start=1):
        inv = fm.inv
        see = inv.see_t_per_t
        has = inv.intensity_kg_per_kg is not None
        rows.append([
            rank if has else None, fm.code, fm.name, fm.region, fm.county, data_status(fm),
            "yes" if inv.submitted_on_time else "no", _t(inv.made_tea_kg), _t(inv.scope1_kg) if inv.has_energy_data
            else None, _t(inv.scope2_kg) if inv.has_energy_data else None,
            _t(inv.total_kg) if inv.has_energy_data else None,
            _t(inv.biogenic_co2_kg) if inv.has_energy_data else None, inv.intensity_kg_per_kg,
            inv.target_kg_co2e_per_kg, target_status(fm), see[2] if see else None, inv.coverage,
            _t(inv.measured_co2_kg), inv.reconciliation_pct,
        ])
    header_row, _ = table(ws, row, [
        "Rank", "Code", "Factory", "Region", "County", "Data status", "On time", "Made tea (t)",
        "Scope 1 (t CO2e)", "Scope 2 (t CO2e)", "Scope 1+2 (t CO2e)", "Biogenic CO2 memo (t)",
        "Intensity (kg CO2e/kg)", "Target (kg CO2e/kg)", "Target status", "SEE total (t CO2e/t)",
        "Sensor coverage", "Measured CO2 (t)", "Measured vs calculated (%)",
    ], rows, [FMT_INT, None, None, FMT_INT, None, None, None, FMT_T, FMT_T, FMT_T, FMT_T, FMT_T, FMT_RATIO,
              FMT_RATIO, None, FMT_SEE, FMT_PCT, FMT_T, "0.0"])
    ranked = sum(1 for r in rows if r[0] is not None)
    size_columns(ws)
    if ranked:
        chart = BarChart()
        chart.type = "col"
        chart.title = "Emission intensity by factory (kg CO2e per kg made tea)"
        chart.y_axis.title = "kg CO2e / kg"
        chart.add_data(Reference(ws, min_col=13, min_row=header_row, max_row=header_row + ranked),
                       titles_from_data=True)
        chart.set_categories(Reference(ws, min_col=2, min_row=header_row + 1, max_row=header_row + ranked))
        show_axes(chart)
        chart.width, chart.height = 32, 12
        chart.legend = None
        ws.add_chart(chart, f"B{header_row + len(rows) + 3}")

    ws = wb.create_sheet(SHEET_REGIONS)
    row = title(ws, "Regions: totals per KTDA region", "Intensity = sum of emissions / sum of made tea")
    by_region: dict[int, list[FactoryMonth]] = {}
    for fm in fms:
        by_region.setdefault(fm.region, []).append(fm)
    rows = []
    for region in sorted(by_region):
        group = by_region[region]
        t = totals(fm.inv for fm in group)
        m = success_metrics(group, generated_at)
        rows.append([region, len(group), t.n, *_sums(t), t.intensity_kg_per_kg, m.sensor_uptime, m.on_time_share,
                     m.target_met_share])
    rows.append(["Network", len(fms), tot.n, *_sums(tot), intensity, metrics.sensor_uptime,
                 metrics.on_time_share, metrics.target_met_share])
    header_row, _ = table(ws, row, [
        "Region", "Factories", "With energy data", "Made tea (t)", "Scope 1 (t CO2e)", "Scope 2 (t CO2e)",
        "Scope 1+2 (t CO2e)", "Biogenic CO2 memo (t)", "Intensity (kg CO2e/kg)", "Sensor uptime (valid / expected hours)",
        "Submitted on schedule (blank: not yet due)", "Meeting target (of assessed)",
    ], rows, [FMT_INT, FMT_INT, FMT_INT, FMT_T, FMT_T, FMT_T, FMT_T, FMT_T, FMT_RATIO, FMT_PCT, FMT_PCT, FMT_PCT])
    size_columns(ws)
    if by_region:
        chart = BarChart()
        chart.type = "col"
        chart.title = "Scope 1 + 2 by region (t CO2e)"
        chart.add_data(Reference(ws, min_col=7, min_row=header_row, max_row=header_row + len(by_region)),
                       titles_from_data=True)
        chart.set_categories(Reference(ws, min_col=1, min_row=header_row + 1, max_row=header_row + len(by_region)))
        show_axes(chart)
        chart.width, chart.height = 20, 10
        ws.add_chart(chart, f"B{header_row + len(rows) + 3}")

    write_factors_sheet(wb, data, "Every factory in this report used these versions")
    return finish_workbook(wb, f"NETWORK {data.month:%Y-%m} emissions report v{version}")

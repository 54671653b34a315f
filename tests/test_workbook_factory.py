"""Factory workbook: a month with known inputs, read back with openpyxl and checked against domain.md."""

from __future__ import annotations

import pytest
from openpyxl import load_workbook
from reports_helpers import (
    MONTH,
    NOTE,
    NOW,
    config_for,
    expected_figures,
    find_row,
    find_value,
    header_map,
    seed_known_month,
)

from core.reporting.factory_workbook import FACTORY_SHEETS
from core.reporting.reports import generate_reports
from core.reporting.xlsx import FMT_PCT, FMT_SEE, FMT_T

REL = 2e-3  # domain.md's per-unit values are rounded to 4 significant figures


@pytest.fixture
def workbook(Session, db_url, tmp_path):
    seed_known_month(Session)
    cfg = config_for(db_url, tmp_path)
    result = generate_reports(Session, cfg, MONTH, ["TST"], requested_by="test", now=NOW)
    (rep,) = result.reports
    assert rep.status == "done", rep.error
    return load_workbook(rep.path)


def test_sheet_names_are_the_cbam_shaped_set(workbook):
    assert workbook.sheetnames == list(FACTORY_SHEETS)
    assert "Summary_Communication" in workbook.sheetnames


def test_summary_totals_match_an_independent_computation(workbook):
    e = expected_figures()
    ws = workbook["Summary"]
    assert find_value(ws, "Scope 1: fossil CO2 + CH4 + N2O (calculation-based)") == pytest.approx(e["scope1_t"], rel=REL)
    assert find_value(ws, "of which fossil CO2") == pytest.approx(e["fossil_t"], rel=REL)
    assert find_value(ws, "of which CH4 as CO2e") == pytest.approx(e["ch4_t"] * 28, rel=REL)
    assert find_value(ws, "of which N2O as CO2e") == pytest.approx(e["n2o_t"] * 265, rel=REL)
    assert find_value(ws, "Scope 2: purchased electricity, location-based") == pytest.approx(e["scope2_t"], rel=1e-9)
    assert find_value(ws, "Scope 1 + 2") == pytest.approx(e["total_t"], rel=REL)
    assert find_value(ws, "Biogenic CO2 (memo, outside scopes)") == pytest.approx(e["bio_t"], rel=REL)
    # Reported (rounded) column: whole tonnes.
    assert find_value(ws, "Biogenic CO2 (memo, outside scopes)", col=3) == round(e["bio_t"])
    assert find_value(ws, "Made tea") == pytest.approx(e["made_tea_t"])
    assert find_value(ws, "Emission intensity (Scope 1 + 2)") == pytest.approx(e["intensity"], rel=REL)
    assert find_value(ws, "SEE direct") == pytest.approx(e["see_direct"], rel=REL)
    assert find_value(ws, "SEE indirect") == pytest.approx(e["see_indirect"], rel=1e-9)
    assert find_value(ws, "SEE total") == pytest.approx(e["see_total"], rel=REL)
    assert find_value(ws, "Target status") == "not met"  # 0.326 > 0.30
    assert find_value(ws, "Sensor data coverage") == pytest.approx(e["coverage"])
    assert find_value(ws, "Status of the month's data") == "approved, submitted on time (due by the 10th of the next month)"
    assert "not a CBAM good" in ws["A4"].value and "voluntary" in ws["A4"].value


def test_source_streams_per_fuel(workbook):
    e = expected_figures()
    ws = workbook["B_SourceStreams"]
    hr, h = header_map(ws, "Method")
    rows = {ws.cell(r, h["Source stream"]).value: r for r in range(hr + 1, hr + 4)}
    diesel = rows["Diesel (gas/diesel oil)"]
    wood = rows["Firewood (wood/wood waste)"]
    total = find_row(ws, "Total")
    assert ws.cell(diesel, h["Activity data"]).value == 1000 and ws.cell(diesel, h["Unit"]).value == "L"
    assert ws.cell(diesel, h["Mass (t)"]).value == pytest.approx(e["diesel_kg"] / 1000)
    assert ws.cell(diesel, h["Fossil CO2 (t)"]).value == pytest.approx(e["fossil_t"], rel=REL)
    assert ws.cell(diesel, h["CH4 (t)"]).value == pytest.approx(e["diesel_kg"] * 0.129 / 1e6, rel=REL)
    assert ws.cell(diesel, h["Biomass fraction"]).value == 0
    assert ws.cell(wood, h["Biogenic CO2 (t)"]).value == pytest.approx(e["bio_t"], rel=REL)
    assert ws.cell(wood, h["Fossil CO2 (t)"]).value == 0
    assert ws.cell(wood, h["CH4 (t)"]).value == pytest.approx(100_000 * 0.468 / 1e6, rel=REL)
    assert ws.cell(wood, h["N2O (t)"]).value == pytest.approx(100_000 * 0.0624 / 1e6, rel=REL)
    assert ws.cell(wood, h["NCV as used (MJ/kg)"]).value == pytest.approx(15.6)
    assert ws.cell(wood, h["Factor version"]).value == 1
    assert "IPCC 2006" in ws.cell(wood, h["Factor source and citation"]).value
    assert ws.cell(total, h["CO2e Scope 1 (t)"]).value == pytest.approx(e["scope1_t"], rel=REL)
    assert ws.cell(total, h["CH4 (t)"]).value == pytest.approx(e["ch4_t"], rel=REL)
    assert ws.cell(total, h["N2O (t)"]).value == pytest.approx(e["n2o_t"], rel=REL)
    assert ws.freeze_panes == f"A{hr + 1}"


def test_measured_sheet_splits_by_fuel_mix_and_reconciles(workbook):
    e = expected_figures()
    ws = workbook["B3_Measured"]
    hr, h = header_map(ws, "Stack")
    total = find_row(ws, "Total")
    assert ws.cell(total, h["Measured CO2 (t)"]).value == pytest.approx(e["measured_t"])
    assert ws.cell(total, h["Fossil CO2 by fuel mix (t)"]).value == pytest.approx(e["measured_fossil_t"], rel=REL)
    assert ws.cell(total, h["Biogenic CO2 by fuel mix (t)"]).value == pytest.approx(e["measured_bio_t"], rel=REL)
    assert ws.cell(total, h["Hours monitored (valid)"]).value == pytest.approx(36.0)
    assert ws.cell(total, h["Hours expected"]).value == pytest.approx(31 * 24)
    assert ws.cell(total, h["Invalid readings"]).value == 20
    calc = e["fossil_t"] + e["bio_t"]
    assert find_value(ws, "Calculated combustion CO2, fossil + biogenic") == pytest.approx(calc, rel=REL)
    # No substitution was run for this month: the measured total is the measured CO2 alone (issue 12:
    # no more scaling by coverage; tests/test_substitution.py checks a month with substitutes).
    assert find_value(ws, "Difference, measured vs calculated") == pytest.approx(
        (e["measured_t"] - calc) / calc * 100, rel=REL)
    assert find_value(ws, "Measured CO2 total (measured + substituted)") == pytest.approx(e["measured_t"])
    assert find_value(ws, "Substituted CO2, hours without valid data") == 0


def test_electricity_production_and_communication(workbook):
    e = expected_figures()
    ws = workbook["C_Electricity"]
    assert find_value(ws, "Grid electricity consumed") == pytest.approx(e["grid_mwh"])
    assert find_value(ws, "Grid emission factor") == pytest.approx(0.08483)
    assert "Ember 2024" in find_value(ws, "Source of the grid factor")
    assert find_value(ws, "Scope 2 total") == pytest.approx(e["scope2_t"])
    alt = {ws.cell(r, 1).value: ws.cell(r, 5).value for r in range(1, ws.max_row + 1)}
    assert alt["grid_ke_ifi_om"] == pytest.approx(10 * 0.574)  # sensitivity at the operating margin

    ws = workbook["D_Production_SEE"]
    assert find_value(ws, "Made tea produced (activity level, AL)") == pytest.approx(20.0)
    assert find_value(ws, "SEE total") == pytest.approx(e["see_total"], rel=REL)

    ws = workbook["Summary_Communication"]

    def field(name):
        return find_value(ws, name, col=4, label_col=3)

    assert field("Country") == "Kenya"
    assert field("Name of the installation (English)") == "+Test Factory"
    assert field("Start").date() == MONTH
    assert field("End").date().isoformat() == "2026-10-31"
    assert field("Product name") == "Black tea (made tea)"
    assert field("CN code") == "0902"
    # CBAM rules: CO2 only, and without a supplier declaration the firewood's CO2 counts as fossil.
    cbam_direct_t = e["fossil_t"] + e["bio_t"]
    assert field("Total direct emissions") == pytest.approx(cbam_direct_t, rel=REL)
    assert field("SEE direct") == pytest.approx(cbam_direct_t / e["made_tea_t"], rel=REL)
    assert field("SEE indirect") == pytest.approx(e["see_indirect"])
    assert field("SEE total") == pytest.approx((cbam_direct_t + e["scope2_t"]) / e["made_tea_t"], rel=REL)
    assert field("Calculation-based (excl. PFC)") == pytest.approx(cbam_direct_t, rel=REL)
    assert field("Measured CO2 (monitored hours)") == pytest.approx(e["measured_t"], rel=REL)
    assert field("N2O") == pytest.approx(e["n2o_t"] * 265, rel=REL)


def test_data_quality_and_daily_chart(workbook):
    e = expected_figures()
    ws = workbook["DataQuality"]
    assert find_value(ws, "Sensor-hours missing") == pytest.approx(31 * 24 - 36)
    assert find_value(ws, "Coverage") == pytest.approx(e["coverage"])
    assert "75.33" in find_value(ws, "Substitution method")  # the rule is named even when nothing was substituted
    assert find_value(ws, "Hours substituted") == 0
    hr, h = header_map(ws, "Code")
    codes = {ws.cell(r, 1).value: ws.cell(r, h["Version"]).value for r in range(hr + 1, hr + 12)}
    assert codes["diesel"] == 1 and codes["grid_ke_average"] == 1 and "grid_ke_ifi_om" not in codes
    assert find_value(ws, "CH4 (fossil)") == 28 and find_value(ws, "N2O") == 265
    day_hr, dh = header_map(ws, "Day")
    oct6 = day_hr + 6
    assert ws.cell(oct6, dh["Coverage"]).value == pytest.approx(0.5)
    assert ws.cell(oct6, dh["Missing hours"]).value == pytest.approx(12.0)

    ws = workbook["Daily"]
    hr, h = header_map(ws, "Day")
    assert ws.max_row == hr + 31
    assert sum(ws.cell(r, h["Measured CO2 (t)"]).value for r in range(hr + 1, hr + 32)) == pytest.approx(150.0)
    assert len(ws._charts) == 1


def test_numbers_are_numbers_with_formats_and_sheets_are_laid_out(workbook):
    ws = workbook["Summary"]
    r = find_row(ws, "Scope 1 + 2")
    assert isinstance(ws.cell(r, 2).value, float) and ws.cell(r, 2).number_format == FMT_T
    assert ws.cell(find_row(ws, "SEE total"), 2).number_format == FMT_SEE
    assert ws.cell(find_row(ws, "Sensor data coverage"), 2).number_format == FMT_PCT
    for sheet in workbook.worksheets:
        assert sheet.freeze_panes is not None, sheet.title
        assert sheet.column_dimensions["A"].width > 8, sheet.title


def test_user_text_never_becomes_a_formula(workbook):
    ws = workbook["DataQuality"]
    r = find_row(ws, "Note from the factory")
    cell = ws.cell(r, 2)
    assert cell.value == NOTE and cell.data_type == "s" and cell.quotePrefix
    assert find_value(ws, "Submitted by") == "=cmd|tst"
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for c in row:
                assert c.data_type != "f", f"{sheet.title}!{c.coordinate} is a formula"
                if isinstance(c.value, str) and c.value[:1] in "=+-@":
                    assert c.quotePrefix, f"{sheet.title}!{c.coordinate} lacks the quote prefix"


@pytest.mark.parametrize("text", ["=1+2", "+SUM(A1)", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "=cmd|' /C calc'!A0"])
def test_formula_like_text_is_stored_as_text(text, tmp_path):
    from openpyxl import Workbook

    from core.reporting.xlsx import put

    wb = Workbook()
    put(wb.active, 1, 1, text)
    put(wb.active, 2, 1, "bell\x07 and nul\x00 from a pasted note")
    wb.save(tmp_path / "t.xlsx")
    cell = load_workbook(tmp_path / "t.xlsx").active["A1"]
    assert (cell.value, cell.data_type, cell.quotePrefix) == (text, "s", True)
    assert load_workbook(tmp_path / "t.xlsx").active["A2"].value == "bell\ufffd and nul\ufffd from a pasted note"

"""Uncertainty (issue 14, deliverable 5): IPCC 2006 Vol. 1 Ch. 3 approach 1, read back from the workbooks.

The expected values are computed here from the IPCC ranges (Vol. 2 Ch. 1 Tables 1.2 and 1.4, Ch. 2
Table 2.3) and the stated activity-data uncertainties in docs/reports.md, for the known month of
reports_helpers (1000 L diesel, 100 t firewood, 10 MWh grid).
"""

from __future__ import annotations

import math

import pytest
from openpyxl import load_workbook
from reports_helpers import MONTH, NOW, config_for, expected_figures, find_value, header_map, seed_known_month

from core.reporting.reports import generate_reports


def hw(default, lower, upper):
    return (upper - lower) / 2 / default * 100


# IPCC 2006 ranges (default, lower, upper).
DIESEL = dict(ncv=hw(43.0, 41.4, 43.3), co2=hw(74_100, 72_600, 74_800), ch4=hw(3, 1, 10), n2o=hw(0.6, 0.2, 2))
WOOD = dict(ncv=hw(15.6, 7.9, 31.0), ch4=hw(30, 10, 100), n2o=hw(4, 1.5, 15))
AD_DIESEL, AD_WOOD, AD_GRID, GRID_EF = 2.0, 10.0, 2.0, 10.0  # stated assumptions (docs/reports.md)


def _expected():
    e = expected_figures()
    diesel_kg = e["diesel_kg"]
    gas = [  # (kg CO2e, uncertainty %)
        (e["fossil_t"] * 1000, math.sqrt(AD_DIESEL ** 2 + DIESEL["ncv"] ** 2 + DIESEL["co2"] ** 2)),
        (diesel_kg * 0.129 / 1000 * 28, math.sqrt(AD_DIESEL ** 2 + DIESEL["ncv"] ** 2 + DIESEL["ch4"] ** 2)),
        (diesel_kg * 0.0258 / 1000 * 265, math.sqrt(AD_DIESEL ** 2 + DIESEL["ncv"] ** 2 + DIESEL["n2o"] ** 2)),
        (100_000 * 0.468 / 1000 * 28, math.sqrt(AD_WOOD ** 2 + WOOD["ncv"] ** 2 + WOOD["ch4"] ** 2)),
        (100_000 * 0.0624 / 1000 * 265, math.sqrt(AD_WOOD ** 2 + WOOD["ncv"] ** 2 + WOOD["n2o"] ** 2)),
    ]
    s1 = sum(x for x, _ in gas)
    u1 = math.sqrt(sum((x * u) ** 2 for x, u in gas)) / s1
    s2 = e["scope2_t"] * 1000
    u2 = math.sqrt(AD_GRID ** 2 + GRID_EF ** 2)
    total = math.sqrt((s1 * u1) ** 2 + (s2 * u2) ** 2) / (s1 + s2)
    return u1, u2, total, gas


def test_monthly_uncertainty_per_source_and_combined(Session, db_url, tmp_path):
    seed_known_month(Session)
    (rep,) = generate_reports(Session, config_for(db_url, tmp_path), MONTH, ["TST"], requested_by="t",
                              now=NOW).reports
    ws = load_workbook(rep.path)["Uncertainty"]
    u1, u2, total, gas = _expected()
    assert find_value(ws, "Scope 1 combined") == pytest.approx(u1, rel=2e-3)
    assert find_value(ws, "Scope 2 combined") == pytest.approx(u2, rel=1e-9)
    assert find_value(ws, "Scope 1 + 2 combined") == pytest.approx(total, rel=2e-3)
    hr, h = header_map(ws, "Source")
    rows = {ws.cell(r, 1).value: r for r in range(hr + 1, hr + 4)}
    assert ws.cell(rows["diesel"], h["CO2: AD x NCV x EF (%)"]).value == pytest.approx(gas[0][1], rel=1e-9)
    assert ws.cell(rows["firewood"], h["N2O (%)"]).value == pytest.approx(gas[4][1], rel=1e-9)
    assert ws.cell(rows["firewood"], h["CO2: AD x NCV x EF (%)"]).value is None  # no fossil CO2 from wood
    # The combined figure is smaller than the largest source's: errors partly cancel in a sum.
    assert total < max(u for _, u in gas)


def test_no_uncertainty_sheet_for_a_month_without_data(Session, db_url, tmp_path):
    seed_known_month(Session)
    (rep,) = generate_reports(Session, config_for(db_url, tmp_path), MONTH, ["NOD"], requested_by="t",
                              now=NOW).reports
    assert "Uncertainty" not in load_workbook(rep.path).sheetnames


def test_annual_uncertainty_is_on_the_summary(Session, db_url, tmp_path):
    seed_known_month(Session)  # one reported month in 2026 (October), the others not estimable or estimated
    result = generate_reports(Session, config_for(db_url, tmp_path), MONTH, ["TST"], requested_by="t", now=NOW,
                              period="year")
    wb = load_workbook(result.reports[0].path)
    value = find_value(wb["Summary"], "Uncertainty of Scope 1 + 2 (95 %)")
    assert value == pytest.approx(find_value(wb["Uncertainty"], "Scope 1 + 2 combined"))
    assert value > 0

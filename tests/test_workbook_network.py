"""Network workbook: leaderboard, region and network totals (ratio of sums), success metrics, chart."""

from __future__ import annotations

import pytest
from openpyxl import load_workbook
from reports_helpers import (
    MONTH,
    NOW,
    config_for,
    expected_figures,
    find_row,
    find_value,
    header_map,
    seed_known_month,
)

from core.reporting.network_workbook import NETWORK_SHEETS
from core.reporting.reports import KIND_NETWORK, generate_reports

REL = 2e-3


def test_network_workbook(Session, db_url, tmp_path):
    seed_known_month(Session)
    result = generate_reports(Session, config_for(db_url, tmp_path), MONTH, requested_by="test", now=NOW)
    assert [r.scope_key for r in result.reports] == ["KGW", "NOD", "TST", "NETWORK"]
    assert result.ok
    net = next(r for r in result.reports if r.kind == KIND_NETWORK)
    wb = load_workbook(net.path)
    assert wb.sheetnames == list(NETWORK_SHEETS)
    e = expected_figures()

    ws = wb["Summary"]
    # TST and KGW have the same known month; NOD has no energy data.
    assert find_value(ws, "Scope 1") == pytest.approx(2 * e["scope1_t"], rel=REL)
    assert find_value(ws, "Scope 2") == pytest.approx(2 * e["scope2_t"])
    assert find_value(ws, "Biogenic CO2 (memo)") == pytest.approx(2 * e["bio_t"], rel=REL)
    assert find_value(ws, "Made tea") == pytest.approx(40.0)
    assert find_value(ws, "Network intensity (Scope 1 + 2)") == pytest.approx(e["intensity"], rel=REL)
    assert find_value(ws, "Factories in the report") == 3
    assert find_value(ws, "Factories with energy data") == 2
    # Each factory's node covered 36 of October's 744 sensor-hours: the fleet's uptime is 36/744,
    # below the 50 % goal; no factory reaches 50 % on its own.
    r = find_row(ws, "Sensor uptime (fleet)")
    assert ws.cell(r, 2).value == pytest.approx(36 / 744)
    assert (ws.cell(r, 3).value, ws.cell(r, 4).value) == (pytest.approx(3 * 36), pytest.approx(3 * 744))
    assert (ws.cell(r, 5).value, ws.cell(r, 6).value) == (0.5, "not met")
    assert ws.cell(find_row(ws, "Factories with sensor uptime >= 50 %"), 2).value == 0
    r = find_row(ws, "Energy data submitted on schedule")  # due 10 Nov, NOW is 28 Nov: due
    assert (ws.cell(r, 3).value, ws.cell(r, 4).value) == (2, 3)
    assert (ws.cell(r, 5).value, ws.cell(r, 6).value) == (1.0, "not met")
    r = find_row(ws, "Factories meeting the intensity target")
    # KGW (0.40) meets, TST (0.30) does not; NOD has no data and is not assessed (not in the denominator).
    assert (ws.cell(r, 3).value, ws.cell(r, 4).value) == (1, 2)
    assert ws.cell(r, 2).value == pytest.approx(1 / 2)
    assert (ws.cell(r, 5).value, ws.cell(r, 6).value) == (0.2, "met")

    ws = wb["Leaderboard"]
    hr, h = header_map(ws, "Rank")
    codes = [ws.cell(hr + i, h["Code"]).value for i in (1, 2, 3)]
    assert codes == ["KGW", "TST", "NOD"]  # equal intensity: by code; no data last
    assert ws.cell(hr + 1, h["Rank"]).value == 1 and ws.cell(hr + 3, h["Rank"]).value is None
    assert ws.cell(hr + 2, h["Factory"]).value == "+Test Factory"
    assert ws.cell(hr + 2, h["Factory"]).quotePrefix
    assert ws.cell(hr + 1, h["Intensity (kg CO2e/kg)"]).value == pytest.approx(e["intensity"], rel=REL)
    assert ws.freeze_panes == f"A{hr + 1}"
    assert len(ws._charts) == 1

    ws = wb["Regions"]
    hr, h = header_map(ws, "Region")
    r1, r2, net_row = hr + 1, hr + 2, hr + 3
    assert ws.cell(r1, h["Scope 1 (t CO2e)"]).value == pytest.approx(e["scope1_t"], rel=REL)
    assert ws.cell(r2, h["Factories"]).value == 2 and ws.cell(r2, h["With energy data"]).value == 1
    assert ws.cell(net_row, 1).value == "Network"
    assert ws.cell(net_row, h["Scope 1+2 (t CO2e)"]).value == pytest.approx(2 * e["total_t"], rel=REL)
    assert len(ws._charts) == 1

    ws = wb["Factors"]
    assert find_value(ws, "grid_ke_average") == 1

"""Primary citations and the configured GWP set (issue 14, deliverable 7), read back from the workbooks."""

from __future__ import annotations

import dataclasses

import pytest
from openpyxl import load_workbook
from reports_helpers import MONTH, NOW, config_for, expected_figures, find_value, header_map, seed_known_month

from core.config import ConfigError, load_config
from core.reporting.reports import generate_reports

# AR6 WG1 Table 7.15: CH4 fossil 29.8, non-fossil 27.0, N2O 273 (domain.md §5 quotes them).
AR6_CH4_FOSSIL, AR6_CH4_BIO, AR6_N2O = 29.8, 27.0, 273.0


def test_gwp_set_comes_from_configuration():
    assert load_config({"CARBONTRACK_GWP_SET": "ar6"}, require_secret=False).gwp_set == "AR6"
    assert load_config({}, require_secret=False).gwp_set == "AR5"
    with pytest.raises(ConfigError, match="CARBONTRACK_GWP_SET"):
        load_config({"CARBONTRACK_GWP_SET": "AR7"}, require_secret=False)


def test_ar6_configured_is_used_and_shown(Session, db_url, tmp_path):
    seed_known_month(Session)
    cfg = dataclasses.replace(config_for(db_url, tmp_path), gwp_set="AR6")
    result = generate_reports(Session, cfg, MONTH, ["TST"], requested_by="test", now=NOW)
    (rep,) = result.reports
    assert rep.gwp_set == "AR6"
    wb = load_workbook(rep.path)
    e = expected_figures()
    # Diesel CH4 is fossil, firewood CH4 non-fossil: recompute Scope 1 with the AR6 values.
    diesel_kg = e["diesel_kg"]
    ch4_fossil_kg = diesel_kg * 0.129 / 1000
    ch4_bio_kg = 100_000.0 * 0.468 / 1000
    scope1_t = (e["fossil_t"] * 1000 + ch4_fossil_kg * AR6_CH4_FOSSIL + ch4_bio_kg * AR6_CH4_BIO
                + e["n2o_t"] * 1000 * AR6_N2O) / 1000
    summary = wb["Summary"]
    hr, _ = header_map(summary, "Item")
    assert summary.cell(hr + 1, 2).value == pytest.approx(scope1_t, rel=2e-3)
    assert find_value(summary, "GWP set") == "AR6"
    assert "AR6 WG1 (2021), Ch. 7 Table 7.15" in find_value(summary, "GWP set", col=4)
    dq = wb["DataQuality"]
    assert find_value(dq, "CH4 (fossil)") == AR6_CH4_FOSSIL and find_value(dq, "N2O") == AR6_N2O


@pytest.mark.parametrize("period", ["month", "year"])
def test_every_factor_row_cites_a_primary_source_and_no_internal_notes(Session, db_url, tmp_path, period):
    seed_known_month(Session)
    result = generate_reports(Session, config_for(db_url, tmp_path), MONTH, requested_by="test", now=NOW,
                              period=period)
    assert result.ok
    for rep in result.reports:
        wb = load_workbook(rep.path)
        for ws in wb.worksheets:
            for row in ws.iter_rows():
                for c in row:
                    assert not (isinstance(c.value, str) and "domain.md" in c.value), (ws.title, c.coordinate)
        sheet = wb["DataQuality"] if "DataQuality" in wb.sheetnames else wb["Factors"]
        hr, h = header_map(sheet, "Code")
        col = h["Primary citation (document, table, edition)"]
        r = hr + 1
        while sheet.cell(r, 1).value:
            cite = sheet.cell(r, col).value
            assert "Table" in cite or "Ch." in cite, (sheet.cell(r, 1).value, cite)
            assert any(year in cite for year in ("2006", "2015", "2021", "2025")), cite
            r += 1
        assert r > hr + 3  # fuels and the grid factor are listed

"""Annual and quarterly reports (issue 14, deliverables 2 and 3), read back from the written workbooks.

The factory ANN logs the known month (reports_helpers: 1000 L diesel, 100 t firewood, 10 MWh grid,
20 t made tea) in every month of 2025 except March (missing; its stack measured CO2), June
(missing, no stack data) and September (a draft). Every expected figure below is computed here from
domain.md's per-unit values (reports_helpers.expected_figures) and the estimation rule in
docs/reports.md, not from the code under test.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook
from reports_helpers import (
    DIESEL_L,
    GRID_KWH,
    MADE_TEA_KG,
    WOOD_KG,
    add_factory,
    config_for,
    expected_figures,
    find_row,
    find_value,
    header_map,
)

from core.inventory.factors import seed_factors
from core.models import (
    STATUS_APPROVED,
    STATUS_DRAFT,
    EnergyEntry,
    Factory,
    FactoryDaily,
    MonthlySubmission,
    Report,
    SupplierDeclaration,
    User,
)
from core.reporting.communication import COMMUNICATION_COLUMNS
from core.reporting.periods import Period, parse_period
from core.reporting.reports import KIND_NETWORK, ReportError, check_period, cli_report, generate_reports

NOW = datetime(2026, 2, 15, 12, 0, tzinfo=UTC)
YEAR = date(2025, 1, 1)
MISSING_MEASURED, MISSING_HISTORY, DRAFT = date(2025, 3, 1), date(2025, 6, 1), date(2025, 9, 1)
MARCH_CO2_KG, MARCH_COVERED_S = 200_000.0, 86_400.0  # one fully covered day measured 200 t CO2
REL = 2e-3  # domain.md per-unit values are rounded to 4 significant figures


def _add_month(s, factory: Factory, user: User, month: date, status: str = STATUS_APPROVED) -> None:
    sub = MonthlySubmission(factory_id=factory.id, month=month, green_leaf_kg=MADE_TEA_KG * 4.25,
                            made_tea_kg=MADE_TEA_KG, status=status,
                            submitted_at=None if status == STATUS_DRAFT else datetime(month.year, month.month, 3,
                                                                                      tzinfo=UTC),
                            submitted_by_id=None if status == STATUS_DRAFT else user.id)
    sub.entries = [EnergyEntry(source="diesel", quantity=DIESEL_L, unit="L"),
                   EnergyEntry(source="firewood", quantity=WOOD_KG / 1000, unit="t"),
                   EnergyEntry(source="grid_electricity", quantity=GRID_KWH / 1000, unit="MWh")]
    s.add(sub)


@pytest.fixture
def year_seeded(Session):  # noqa: N803
    with Session() as s:
        seed_factors(s)
        f = add_factory(s, "ANN", "Annual Factory", target=0.5, with_month=False)
        user = User(username="ann_mgr", password_hash="x", role="factory_manager", factory_id=f.id)
        s.add(user)
        s.flush()
        for m in range(1, 13):
            month = date(2025, m, 1)
            if month in (MISSING_MEASURED, MISSING_HISTORY):
                continue
            _add_month(s, f, user, month, STATUS_DRAFT if month == DRAFT else STATUS_APPROVED)
        s.add(FactoryDaily(factory_id=f.id, day=date(2025, 3, 10), co2_kg=MARCH_CO2_KG, covered_s=MARCH_COVERED_S,
                           n_readings=1440, n_valid=1440))
        s.commit()
    return Session


def _expected_year() -> dict[str, float]:
    e = expected_figures()
    calc_co2_t = e["fossil_t"] + e["bio_t"]  # combustion CO2 of one reported month
    # March: measured + substituted CO2 (no node, so nothing substituted: the 200 t measured; never
    # scaled by coverage), converted with the factory's own reported months (Scope 1 and biogenic CO2
    # per t of combustion CO2).
    full_t = MARCH_CO2_KG / 1000
    march_s1 = max(full_t * e["scope1_t"] / calc_co2_t, e["scope1_t"])
    march_bio = full_t * e["bio_t"] / calc_co2_t
    n_rep = 9
    scope1 = n_rep * e["scope1_t"] + march_s1 + 2 * e["scope1_t"]  # June and the September draft: highest month
    scope2 = 12 * e["scope2_t"]  # estimated months: the highest reported month's Scope 2
    bio = n_rep * e["bio_t"] + march_bio + 2 * e["bio_t"]
    tea = n_rep * e["made_tea_t"]  # made tea of estimated months is not estimated
    cbam = n_rep * calc_co2_t + full_t + 2 * calc_co2_t  # no declaration: biomass CO2 counts as fossil
    return dict(march_s1=march_s1, scope1=scope1, scope2=scope2, bio=bio, tea=tea, cbam=cbam, full_t=full_t,
                calc_co2_t=calc_co2_t, n_rep=n_rep)


def _generate(Session, db_url, tmp_path, period="year", start=YEAR):  # noqa: N803
    result = generate_reports(Session, config_for(db_url, tmp_path), start, requested_by="test", now=NOW,
                              period=period)
    assert result.ok, [r.error for r in result.failed]
    return result


def test_periods_parse_and_name_themselves():
    assert parse_period("2025") == Period("year", date(2025, 1, 1))
    assert parse_period("2025-Q3") == Period("quarter", date(2025, 7, 1))
    assert parse_period("2025-10") == Period("month", date(2025, 10, 1))
    assert Period("quarter", date(2025, 10, 1)).end == date(2025, 12, 31)
    assert Period("quarter", date(2025, 4, 1)).months == [date(2025, 4, 1), date(2025, 5, 1), date(2025, 6, 1)]
    assert Period("year", date(2024, 1, 1)).end == date(2024, 12, 31)
    for bad in ("2025-Q5", "25", "2025-13", "Q1-2025", ""):
        with pytest.raises(ValueError):
            parse_period(bad)
    with pytest.raises(ValueError):
        Period("quarter", date(2025, 2, 1))  # a quarter starts in Jan, Apr, Jul or Oct


def test_annual_report_sums_emissions_over_production_and_labels_estimates(year_seeded, db_url, tmp_path):
    x = _expected_year()
    e = expected_figures()
    result = _generate(year_seeded, db_url, tmp_path)
    rep = next(r for r in result.reports if r.scope_key == "ANN")
    assert rep.period == "year" and rep.month == YEAR and rep.version == 1
    assert Path(rep.path).name == "carbontrack_ANN_2025_v1.xlsx"
    assert rep.sha256 == hashlib.sha256(Path(rep.path).read_bytes()).hexdigest()
    wb = load_workbook(rep.path)
    ws = wb["Summary"]
    hr, h = header_map(ws, "Item")
    values = {ws.cell(r, 1).value: ws.cell(r, 2).value for r in range(hr + 1, hr + 8)}
    assert values["Scope 1 (reported + estimated months)"] == pytest.approx(x["scope1"], rel=REL)
    assert values["Scope 2, location-based"] == pytest.approx(x["scope2"], rel=REL)
    assert values["Biogenic CO2 (memo, outside scopes)"] == pytest.approx(x["bio"], rel=REL)
    assert find_value(ws, "Made tea (reported months)") == pytest.approx(x["tea"])
    # Annual SEE = sum of emissions / sum of production, not a mean of the monthly SEEs.
    assert find_value(ws, "SEE direct (GHG Protocol, CO2e)") == pytest.approx(x["scope1"] / x["tea"], rel=REL)
    assert find_value(ws, "SEE direct (GHG Protocol, CO2e)") != pytest.approx(e["see_direct"], rel=1e-3)
    assert find_value(ws, "Target status").startswith("not assessed (3 of 12 months not reported")
    assert "3 ESTIMATED (Mar 2025, Jun 2025, Sep 2025)" in find_value(ws, "Data basis")

    months = wb["Months"]
    mr, mh = header_map(months, "Month")
    by_month = {months.cell(r, 1).value.date(): r for r in range(mr + 1, mr + 13)}
    assert len(by_month) == 12
    march = by_month[MISSING_MEASURED]
    assert months.cell(march, mh["Basis"]).value == "ESTIMATE"
    assert months.cell(march, mh["Scope 1 (t CO2e)"]).value == pytest.approx(x["march_s1"], rel=REL)
    assert months.cell(march, mh["Made tea (t)"]).value is None  # not estimated, and not 0
    assert "measured stack CO2" in months.cell(march, mh["Method"]).value
    assert "= measured 200.0 t in valid sensor-hours + substituted 0.0 t in 0 sensor-hours" in months.cell(
        march, mh["Method"]).value  # measured + substituted, labelled, never scaled by coverage
    june = by_month[MISSING_HISTORY]
    assert months.cell(june, mh["Scope 1 (t CO2e)"]).value == pytest.approx(e["scope1_t"], rel=REL)
    assert "highest month" in months.cell(june, mh["Method"]).value
    sept = by_month[DRAFT]
    assert months.cell(sept, mh["Data status"]).value == "draft"
    assert months.cell(sept, mh["Basis"]).value == "ESTIMATE"
    assert "draft" in months.cell(sept, mh["Method"]).value
    for r in by_month.values():  # never a zero for a month's emissions
        assert months.cell(r, mh["Scope 1 (t CO2e)"]).value > 0


def test_ghg_inventory_and_cbam_rules_in_their_own_sheets(year_seeded, db_url, tmp_path):
    x = _expected_year()
    e = expected_figures()
    wb = load_workbook(next(r.path for r in _generate(year_seeded, db_url, tmp_path).reports if r.scope_key == "ANN"))
    ghg = wb["GHG_Inventory"]
    by_item = {ghg.cell(r, 2).value: ghg.cell(r, 3).value for r in range(1, ghg.max_row + 1)}
    assert by_item["Fossil CO2 (stationary combustion, reported months)"] == pytest.approx(9 * e["fossil_t"], rel=REL)
    assert by_item["CH4 as CO2e (fossil and biomass fuels, reported months)"] == pytest.approx(
        9 * e["ch4_t"] * 28, rel=REL)
    assert by_item["N2O as CO2e (fossil and biomass fuels, reported months)"] == pytest.approx(
        9 * e["n2o_t"] * 265, rel=REL)
    assert by_item["Scope 1 total"] == pytest.approx(x["scope1"], rel=REL)
    assert by_item["Location-based (grid average factor)"] == pytest.approx(x["scope2"], rel=REL)
    assert by_item["Market-based (see note)"] == pytest.approx(x["scope2"], rel=REL)
    assert by_item["Biogenic CO2 from firewood, briquettes, charcoal"] == pytest.approx(x["bio"], rel=REL)

    cbam = wb["CBAM_Rules"]
    # No declaration: biomass CO2 counts as fossil; CO2 only (no CH4/N2O).
    assert find_value(cbam, "CBAM direct emissions", col=5, label_col=2) == pytest.approx(x["cbam"], rel=REL)
    assert find_value(cbam, "CBAM SEE direct") == pytest.approx(x["cbam"] / x["tea"], rel=REL)
    assert find_value(cbam, "CBAM SEE indirect") == pytest.approx(12 * e["scope2_t"] / x["tea"], rel=REL)


def test_a_valid_declaration_zero_rates_the_biomass_it_covers(year_seeded, db_url, tmp_path):
    e = expected_figures()
    with year_seeded() as s:
        fid = s.query(Factory.id).filter_by(code="ANN").scalar()
        # Valid for January to June only; a withdrawn one for the rest must not count.
        s.add(SupplierDeclaration(factory_id=fid, source="firewood", supplier="Kericho Woodlots", scheme="RED II Art. 29",
                                  reference="KW-2025-01", valid_from=date(2025, 1, 1), valid_to=date(2025, 6, 30)))
        s.add(SupplierDeclaration(factory_id=fid, source="firewood", supplier="=Withdrawn", scheme="RED II",
                                  reference="X", valid_from=date(2025, 7, 1), valid_to=date(2025, 12, 31),
                                  withdrawn_at=datetime(2025, 12, 1, tzinfo=UTC)))
        s.commit()
    x = _expected_year()
    wb = load_workbook(next(r.path for r in _generate(year_seeded, db_url, tmp_path).reports if r.scope_key == "ANN"))
    cbam = wb["CBAM_Rules"]
    declared_months = 4  # Jan, Feb, Apr, May are reported and covered (Mar and Jun are estimates)
    expected = x["cbam"] - declared_months * e["bio_t"]
    assert find_value(cbam, "CBAM direct emissions", col=5, label_col=2) == pytest.approx(expected, rel=REL)
    assert find_value(cbam, "Biomass CO2 with a valid sustainability declaration (zero-rated)", col=3,
                      label_col=2) == pytest.approx(declared_months * e["bio_t"], rel=REL)
    hr, h = header_map(cbam, "Fuel")
    assert cbam.cell(hr + 1, h["Reference"]).value == "KW-2025-01"
    assert cbam.cell(hr + 2, 1).value is None  # the withdrawn declaration is not listed


def test_communication_sheet_is_a_fixed_column_table_in_template_order(year_seeded, db_url, tmp_path):
    x = _expected_year()
    wb = load_workbook(next(r.path for r in _generate(year_seeded, db_url, tmp_path).reports if r.scope_key == "ANN"))
    ws = wb["Summary_Communication"]
    hr = find_row(ws, "Section")
    assert tuple(c.value for c in ws[hr][:6]) == COMMUNICATION_COLUMNS
    rows = [tuple(c.value for c in ws[r][:6]) for r in range(hr + 1, ws.max_row + 1) if ws.cell(r, 1).value]
    sections = list(dict.fromkeys(r[0] for r in rows))
    # The template's order: A.1, A.2, A.3, A.4, then emissions, production, SEE, methodology, methods, price.
    assert sections[:4] == ["A.1 Reporting period", "A.2 About the installation", "A.3 Verifier of the report",
                            "A.4 Goods and production processes"]
    order = [sections.index(s) for s in ("C.2 GHG balance", "D Production", "Summary_Products",
                                         "Emissions by methodology", "C.3 Methods and data quality")]
    assert order == sorted(order)
    fields = [r[2] for r in rows if r[0] == "A.2 About the installation"]
    assert fields[:2] == ["Name of the installation (local language)", "Name of the installation (English)"]
    assert fields.index("UN/LOCODE") == fields.index("Country") + 1
    value = {(r[0], r[2]): r[3] for r in rows}
    assert value[("A.1 Reporting period", "Start")].date() == YEAR
    assert value[("A.1 Reporting period", "End")].date() == date(2025, 12, 31)
    assert value[("Summary_Products", "SEE direct")] == pytest.approx(x["cbam"] / x["tea"], rel=REL)
    assert value[("D Production", "Total production within installation (activity level)")] == pytest.approx(x["tea"])
    est_share = value[("Summary_Products", "Share of default values")]
    assert est_share == pytest.approx((x["full_t"] + 2 * x["calc_co2_t"]) / x["cbam"], rel=REL)


def test_quarter_report_and_network_period_report(year_seeded, db_url, tmp_path):
    e = expected_figures()
    x = _expected_year()
    result = _generate(year_seeded, db_url, tmp_path, period="quarter", start=date(2025, 2, 14))
    by_scope = {r.scope_key: r for r in result.reports}
    assert by_scope["ANN"].month == date(2025, 1, 1) and by_scope["ANN"].period == "quarter"
    assert Path(by_scope["ANN"].path).name == "carbontrack_ANN_2025-Q1_v1.xlsx"
    wb = load_workbook(by_scope["ANN"].path)
    q_s1 = 2 * e["scope1_t"] + x["march_s1"]
    assert find_value(wb["GHG_Inventory"], "Scope 1 total", col=3, label_col=2) == pytest.approx(q_s1, rel=REL)
    net = load_workbook(by_scope["NETWORK"].path)
    assert find_value(net["Summary"], "Factory-months estimated") == 1
    assert find_value(net["Summary"], "Factory-months reported") == 2
    assert by_scope["NETWORK"].kind == KIND_NETWORK
    # A second generation is version 2; the monthly reports of January are a separate series.
    again = _generate(year_seeded, db_url, tmp_path, period="quarter", start=date(2025, 1, 1))
    assert {r.version for r in again.reports} == {2}
    monthly = generate_reports(year_seeded, config_for(db_url, tmp_path), date(2025, 1, 1), ["ANN"],
                               requested_by="test", now=NOW)
    assert monthly.reports[0].version == 1 and monthly.reports[0].period == "month"
    with year_seeded() as s:
        assert s.query(Report).filter_by(period="quarter").count() == 4


def test_missing_month_without_any_data_is_blank_and_the_period_incomplete(Session, db_url, tmp_path):
    with Session() as s:
        seed_factors(s)
        s.add(Factory(code="NIL", name="Nothing Logged", region=1, county="Nyeri", latitude=-0.4, longitude=36.9,
                      altitude_m=1900, target_kg_co2e_per_kg=0.3))  # no sensors, no data, no history
        s.commit()
    wb = load_workbook(next(r.path for r in _generate(Session, db_url, tmp_path).reports if r.scope_key == "NIL"))
    months = wb["Months"]
    mr, mh = header_map(months, "Month")
    for r in range(mr + 1, mr + 13):
        assert months.cell(r, mh["Scope 1 (t CO2e)"]).value is None
        assert months.cell(r, mh["Basis"]).value == "MISSING"
        assert months.cell(r, mh["Method"]).value.startswith("NOT ESTIMATED")
    assert "INCOMPLETE" in find_value(wb["Summary"], "Data basis")


def test_check_period_and_cli(year_seeded, db_url, tmp_path, capsys):
    cfg = config_for(db_url, tmp_path)
    now = datetime(2026, 2, 15, tzinfo=UTC)
    assert check_period("2025-Q4", cfg, now).start == date(2025, 10, 1)
    for bad in ("2026-Q2", "2027", "1999", "soon"):
        with pytest.raises(ReportError):
            check_period(bad, cfg, now)
    assert cli_report(cfg, period="2025", factory="ANN") == 0
    out = capsys.readouterr().out
    assert "carbontrack_ANN_2025_v1.xlsx" in out and "sha256=" in out
    assert cli_report(cfg, period="2025-Q7") == 2
    assert cli_report(cfg) == 2  # neither month nor period


def test_annual_product_carbon_footprint_statement(year_seeded, db_url, tmp_path):
    x = _expected_year()
    wb = load_workbook(next(r.path for r in _generate(year_seeded, db_url, tmp_path).reports if r.scope_key == "ANN"))
    ws = wb["PCF_Statement"]
    assert find_value(ws, "Declared unit") == "1 kg of made tea at the factory gate"
    assert "ISO 14067" in find_value(ws, "Standard")
    # kg CO2e per kg = t per t: (Scope 1 + Scope 2) / made tea over the year; biogenic CO2 apart.
    assert find_value(ws, "Carbon footprint (fossil GHG, incl. biogenic CH4)") == pytest.approx(
        (x["scope1"] + x["scope2"]) / x["tea"], rel=REL)
    assert find_value(ws, "Biogenic CO2 emissions (reported separately, not in the footprint)") == pytest.approx(
        x["bio"] / x["tea"], rel=REL)
    assert "Excluded: green-leaf cultivation" in find_value(ws, "System boundary")
    assert "3 ESTIMATED" in find_value(ws, "Data basis")
    quarter = _generate(year_seeded, db_url, tmp_path, period="quarter")
    assert "PCF_Statement" not in load_workbook(quarter.reports[0].path).sheetnames

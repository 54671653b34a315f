"""Reproducible reports (issue 18 part D): effective-dated factors and stack parameters, a recorded
basis per report version, regeneration repeating the figures, restatement saying what changed.

Figures are read back from the saved workbooks with openpyxl and compared cell by cell; expected
values come from domain.md (IPCC 2006 Tier 1) or from arithmetic in the test, not from the code.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook
from reports_helpers import (
    DIESEL_KG_CO2_PER_L,
    DIESEL_L,
    MONTH,
    NOW,
    config_for,
    find_row,
    find_value,
    header_map,
    seed_known_month,
)

from core.inventory.factors import add_factor_version, factors_in_force, load_factor_set
from core.models import EmissionFactor, Factory, ReportBasis, Stack, StackVersion, User
from core.registry.admin import AdminError, set_factory_altitude, update_stack
from core.reporting.reports import ReportError, generate_reports

# The sheets whose cells are figures (Summary and DataQuality also carry version, time and basis).
FIGURE_SHEETS = ("B_SourceStreams", "B3_Measured", "C_Electricity", "D_Production_SEE", "Daily")
# IPCC 2006 Vol 2: diesel NCV 43.0 MJ/kg (Table 1.2), density 0.844 kg/L (domain.md §2.1).
DIESEL_NCV_MJ_PER_KG, DIESEL_KG_PER_L = 43.0, 0.844
IPCC_DIESEL_CO2_KG_PER_TJ = 74_100  # Vol 2 Ch 1 Table 1.4


def _diesel_t(co2_kg_per_tj: float) -> float:
    """Fossil CO2 (t) of the known month's 1000 L diesel at a CO2 factor: L x kg/L x MJ/kg / 1e6 x kg/TJ."""
    return DIESEL_L * DIESEL_KG_PER_L * DIESEL_NCV_MJ_PER_KG / 1e6 * co2_kg_per_tj / 1000


def _cells(path: str, sheets=FIGURE_SHEETS) -> dict[tuple[str, str], object]:  # noqa: ANN001
    wb = load_workbook(path)
    out = {}
    for name in sheets:
        ws = wb[name]
        for row in ws.iter_rows():
            for c in row:
                if c.value is not None:
                    out[(name, c.coordinate)] = c.value
    return out


def _admin(Session):  # noqa: ANN001, N803
    with Session() as s:
        u = User(username="root", password_hash="x", role="admin", active=True)
        s.add(u)
        s.commit()
        s.refresh(u)
        s.expunge(u)
        return u


def _diesel_fossil_t(path: str) -> float:
    ws = load_workbook(path)["B_SourceStreams"]
    hr, cols = header_map(ws, "Method")
    for r in range(hr + 1, ws.max_row + 1):
        if ws.cell(r, cols["Factor code"]).value == "diesel":
            return ws.cell(r, cols["Fossil CO2 (t)"]).value
    raise AssertionError("no diesel line")


def test_in_force_selection_by_effective_date(Session):
    seed_known_month(Session)
    with Session() as s:
        add_factor_version(s, "diesel", "t", co2_kg_per_tj=80_000, valid_from=date(2026, 12, 1))
        add_factor_version(s, "diesel", "t", co2_kg_per_tj=75_000, valid_from=date(2026, 6, 1),
                           valid_to=date(2026, 9, 1))
        s.commit()
        assert factors_in_force(s, date(2026, 5, 1))["diesel"].version == 1
        assert factors_in_force(s, date(2026, 6, 1))["diesel"].version == 3
        assert factors_in_force(s, date(2026, 9, 1))["diesel"].version == 1  # v3 ended, v2 not yet
        assert factors_in_force(s, date(2026, 12, 1))["diesel"].version == 2
        fs = load_factor_set(s, at=date(2026, 7, 1))
        assert fs.versions["diesel"] == 3 and fs.fuels["diesel"].co2_kg_per_tj == 75_000
        pinned = load_factor_set(s, at=date(2026, 12, 1), versions={"diesel": 1})
        assert pinned.versions["diesel"] == 1 and pinned.fuels["diesel"].co2_kg_per_tj == 74_100


def test_a_later_factor_version_and_a_stack_change_leave_an_old_month_unchanged(Session, db_url, tmp_path):
    seed_known_month(Session)
    cfg = config_for(db_url, tmp_path)
    admin = _admin(Session)
    (v1,) = generate_reports(Session, cfg, MONTH, ["TST"], now=NOW).reports
    # IPCC diesel: 1000 L -> 2.689 t fossil CO2 (domain.md §2.1 ready-to-use value).
    assert _diesel_fossil_t(v1.path) == pytest.approx(DIESEL_L * DIESEL_KG_CO2_PER_L / 1000, rel=1e-3)
    with Session() as s:
        add_factor_version(s, "diesel", "t", co2_kg_per_tj=80_000, valid_from=date(2026, 12, 1),
                           change_reason="supplier specification")
        st = s.scalars(sa.select(Stack).join(Factory).where(Factory.code == "TST")).one()
        update_stack(s, admin, st.id, diameter_m=1.2, valid_from=date(2026, 11, 1), reason="re-measured")
        s.commit()
    (v2,) = generate_reports(Session, cfg, MONTH, ["TST"], now=NOW).reports
    assert v2.version == 2
    before, after = _cells(v1.path), _cells(v2.path)
    assert before == after  # every figure cell, one by one
    dq = load_workbook(v2.path)["DataQuality"]
    assert "same factor and parameter versions as version 1" in find_value(dq, "Basis")
    # The month in force gets the old diameter in the parameter table of the sensor section.
    ws = load_workbook(v2.path)["B3_Measured"]
    hr, cols = header_map(ws, "Stack")
    r = next(r for r in range(hr + 1, ws.max_row + 1) if ws.cell(r, 1).value == "Stack" and
             ws.cell(r, 4).value == "Diameter (m)")
    assert ws.cell(r + 1, 4).value == pytest.approx(0.8)
    assert ws.cell(r + 1, 5).value == pytest.approx(0.0)
    assert ws.cell(r + 1, 6).value == "wet"
    assert ws.cell(r + 1, 8).value == pytest.approx(2000)
    # ISA at 2,000 m: 79.50 kPa (domain.md §1.1).
    assert ws.cell(r + 1, 9).value == pytest.approx(79.50, abs=0.01)
    assert "TST-S1" in ws.cell(r + 1, 10).value and "60 s" in ws.cell(r + 1, 10).value


def test_a_factor_effective_from_the_past_changes_figures_only_on_restatement(Session, db_url, tmp_path):
    seed_known_month(Session)
    cfg = config_for(db_url, tmp_path)
    admin = _admin(Session)
    first = generate_reports(Session, cfg, MONTH, now=NOW).reports  # TST, KGW, NOD and the network
    v1 = {r.scope_key: r for r in first}
    with Session() as s:
        add_factor_version(s, "diesel", "t", co2_kg_per_tj=80_000, valid_from=date(2026, 1, 1),
                           change_reason="national factor adopted")
        st = s.scalars(sa.select(Stack).join(Factory).where(Factory.code == "TST")).one()
        update_stack(s, admin, st.id, moisture_fraction=0.12, dry_basis=True, valid_from=date(2026, 9, 1))
        s.commit()
    again = {r.scope_key: r for r in generate_reports(Session, cfg, MONTH, now=NOW).reports}
    for key in ("TST", "KGW"):
        assert _cells(v1[key].path) == _cells(again[key].path)
    net = ("Leaderboard", "Regions")
    assert _cells(v1["NETWORK"].path, net) == _cells(again["NETWORK"].path, net)
    factors = load_workbook(again["NETWORK"].path)["Factors"]
    hr, cols = header_map(factors, "Code")
    diesel = next(r for r in range(hr + 1, factors.max_row + 1) if factors.cell(r, 1).value == "diesel")
    assert factors.cell(diesel, cols["Version"]).value == 1
    assert "same factor and parameter versions as version 1" in find_value(factors, "Basis")

    with pytest.raises(ReportError, match="reason"):
        generate_reports(Session, cfg, MONTH, ["TST"], now=NOW, restate=True, restatement_reason="  ")
    (restated,) = generate_reports(Session, cfg, MONTH, ["TST"], requested_by="hq-anna", now=NOW, restate=True,
                                   restatement_reason="=national factor adopted for 2026").reports
    assert restated.version == 3
    # 1000 L x 0.844 kg/L x 43.0 MJ/kg = 36.292 GJ = 0.036292 TJ; x 80,000 kg/TJ.
    assert _diesel_fossil_t(restated.path) == pytest.approx(_diesel_t(80_000), rel=1e-9)
    assert _diesel_fossil_t(again["TST"].path) == pytest.approx(_diesel_t(IPCC_DIESEL_CO2_KG_PER_TJ), rel=1e-9)
    dq = load_workbook(restated.path)["DataQuality"]
    assert find_value(dq, "Restatement") == "restates version 2"
    reason = dq.cell(find_row(dq, "Reason given"), 2)
    assert reason.value == "=national factor adopted for 2026"
    assert reason.data_type == "s" and reason.quotePrefix  # user text stays text, never a formula
    assert find_value(dq, "Restated by") == "hq-anna"
    hr, cols = header_map(dq, "What changed")
    changes = {dq.cell(r, 1).value: (dq.cell(r, 2).value, dq.cell(r, 3).value)
               for r in range(hr + 1, hr + 1 + find_value(dq, "Changes"))}
    old, new = changes["emission factor diesel"]
    assert old.startswith("diesel v1") and "74100" in old
    assert new.startswith("diesel v2") and "80000" in new and "from 2026-01-01" in new
    assert "national factor adopted" in new
    stack_old, stack_new = next(v for k, v in changes.items() if k.startswith("stack "))
    assert "moisture 0," in stack_old and "wet" in stack_old
    assert "moisture 0.12" in stack_new and "dry" in stack_new
    # The factor table names the versions in force with their effective dates.
    hr, cols = header_map(dq, "Code")
    rows = {dq.cell(r, 1).value: r for r in range(hr + 1, dq.max_row + 1) if dq.cell(r, 1).value}
    assert dq.cell(rows["diesel"], cols["Version"]).value == 2
    assert dq.cell(rows["diesel"], cols["In force"]).value == "from 2026-01-01"
    with Session() as s:
        rb = s.get(ReportBasis, restated.id)
        assert rb.restated and rb.restated_by == "hq-anna" and json.loads(rb.factor_versions)["diesel"] == 2
        assert s.get(ReportBasis, again["TST"].id).restated is False
    # After a restatement, a plain regeneration repeats the restated figures; a full run keeps each
    # workbook on its own basis (TST restated, KGW and the network as first made).
    (v4,) = generate_reports(Session, cfg, MONTH, ["TST"], now=NOW).reports
    assert _cells(v4.path) == _cells(restated.path)
    full = {r.scope_key: r for r in generate_reports(Session, cfg, MONTH, now=NOW).reports}
    assert _cells(full["TST"].path) == _cells(restated.path)
    assert _cells(full["KGW"].path) == _cells(v1["KGW"].path)
    assert _cells(full["NETWORK"].path, net) == _cells(v1["NETWORK"].path, net)
    # A factory's restatement lists only its own changes (KGW's stack did not change).
    (kgw,) = generate_reports(Session, cfg, MONTH, ["KGW"], now=NOW, restate=True, restatement_reason="factor").reports
    dq = load_workbook(kgw.path)["DataQuality"]
    hr, _ = header_map(dq, "What changed")
    assert [dq.cell(r, 1).value for r in range(hr + 1, hr + 1 + find_value(dq, "Changes"))] == [
        "emission factor diesel"]


def test_a_month_never_reported_uses_what_is_in_force_for_it(Session, db_url, tmp_path):
    seed_known_month(Session)
    cfg = config_for(db_url, tmp_path)
    with Session() as s:
        add_factor_version(s, "diesel", "t", co2_kg_per_tj=80_000, valid_from=date(2026, 11, 1))
        s.commit()
    (oct_,) = generate_reports(Session, cfg, MONTH, ["TST"], now=NOW).reports
    assert _diesel_fossil_t(oct_.path) == pytest.approx(_diesel_t(IPCC_DIESEL_CO2_KG_PER_TJ), rel=1e-9)
    assert json.loads(oct_.factor_versions)["diesel"] == 1


def test_stack_edits_keep_history_and_refuse_future_dates(Session):
    seed_known_month(Session)
    admin = _admin(Session)
    with Session() as s:
        st = s.scalars(sa.select(Stack).join(Factory).where(Factory.code == "TST")).one()
        with pytest.raises(AdminError, match="on or before today"):
            update_stack(s, admin, st.id, diameter_m=1.0, valid_from=date(2099, 1, 1))
        update_stack(s, admin, st.id, diameter_m=1.0, valid_from=date(2026, 1, 1), reason="traverse")
        update_stack(s, admin, st.id, name="Boiler A")  # a name is not a parameter: no version
        s.commit()
        versions = list(s.scalars(sa.select(StackVersion).where(StackVersion.stack_id == st.id)
                                  .order_by(StackVersion.version)))
        assert [(v.version, v.valid_from, v.diameter_m) for v in versions] == [
            (1, None, 0.8), (2, date(2026, 1, 1), 1.0)]
        assert versions[1].reason == "traverse" and versions[1].created_by == "root"
        assert st.diameter_m == 1.0 and st.name == "Boiler A"
        assert s.scalars(sa.select(EmissionFactor)).first() is not None


def test_cli_restate_flag(sqlite_url, tmp_path, capsys):
    from core.db import open_database
    from core.reporting.reports import cli_report

    engine, Session = open_database(sqlite_url)  # noqa: N806
    seed_known_month(Session)
    cfg = config_for(sqlite_url, tmp_path)
    assert cli_report(cfg, month="2026-10", factory="TST") == 0
    assert cli_report(cfg, month="2026-10", factory="TST", restate=" ") == 2
    assert "needs a reason" in capsys.readouterr().err
    assert cli_report(cfg, month="2026-10", factory="TST", restate="grid factor 2025 published") == 0
    with Session() as s:
        rb = s.scalars(sa.select(ReportBasis).order_by(ReportBasis.report_id.desc())).first()
        assert rb.restated and rb.restatement_reason == "grid factor 2025 published" and rb.restated_by == "cli"
    engine.dispose()


def _pressure_kpa(path: str) -> float:
    ws = load_workbook(path)["B3_Measured"]
    r = next(r for r in range(1, ws.max_row + 1) if ws.cell(r, 1).value == "Stack" and
             ws.cell(r, 9).value == "Barometric pressure used (kPa, ISA)")
    return ws.cell(r + 1, 9).value


def test_an_altitude_change_is_effective_dated(Session, db_url, tmp_path):
    seed_known_month(Session)
    cfg = config_for(db_url, tmp_path)
    admin = _admin(Session)
    (v1,) = generate_reports(Session, cfg, MONTH, ["TST"], now=NOW).reports
    with Session() as s:
        fid = s.scalar(sa.select(Factory.id).where(Factory.code == "TST"))
        with pytest.raises(AdminError, match="on or before today"):
            set_factory_altitude(s, admin, fid, 1800, valid_from=date(2099, 1, 1))
        set_factory_altitude(s, admin, fid, 1800, valid_from=date(2026, 11, 1), reason="survey")
        s.commit()
    # ISA: 79.50 kPa at 2,000 m, 81.49 kPa at 1,800 m (domain.md §1.1).
    assert _pressure_kpa(v1.path) == pytest.approx(79.50, abs=0.01)
    (v2,) = generate_reports(Session, cfg, MONTH, ["TST"], now=NOW).reports
    assert _pressure_kpa(v2.path) == pytest.approx(79.50, abs=0.01)
    (nov,) = generate_reports(Session, cfg, date(2026, 11, 1), ["TST"], now=NOW).reports
    assert _pressure_kpa(nov.path) == pytest.approx(81.49, abs=0.01)
    # Restating October changes nothing: the new altitude is in force from November.
    (same,) = generate_reports(Session, cfg, MONTH, ["TST"], now=NOW, restate=True,
                               restatement_reason="altitude surveyed").reports
    dq = load_workbook(same.path)["DataQuality"]
    assert find_value(dq, "Changes") == 0 and _pressure_kpa(same.path) == pytest.approx(79.50, abs=0.01)
    with Session() as s:
        set_factory_altitude(s, admin, fid, 1700, valid_from=date(2026, 10, 1), reason="GPS")
        s.commit()
    (restated,) = generate_reports(Session, cfg, MONTH, ["TST"], now=NOW, restate=True,
                                   restatement_reason="altitude surveyed").reports
    dq = load_workbook(restated.path)["DataQuality"]
    hr, _ = header_map(dq, "What changed")
    assert dq.cell(hr + 1, 1).value == "site altitude (barometric pressure)"
    assert "altitude 2000 m" in dq.cell(hr + 1, 2).value
    assert "altitude 1700 m" in dq.cell(hr + 1, 3).value and "GPS" in dq.cell(hr + 1, 3).value
    isa_kpa = 101.325 * (1 - 2.25577e-5 * 1700) ** 5.25588  # domain.md §1.1 barometric formula
    assert _pressure_kpa(restated.path) == pytest.approx(isa_kpa, rel=1e-9)


def test_a_quarter_repeats_its_factors_until_restated(Session, db_url, tmp_path):
    seed_known_month(Session)
    cfg = config_for(db_url, tmp_path)
    q4, after = date(2026, 10, 1), datetime(2027, 1, 20, 9, 0, tzinfo=UTC)  # the quarter has ended
    (v1,) = generate_reports(Session, cfg, q4, ["TST"], now=after, period="quarter").reports
    with Session() as s:
        add_factor_version(s, "diesel", "t", co2_kg_per_tj=80_000, valid_from=date(2026, 1, 1))
        s.commit()
    (v2,) = generate_reports(Session, cfg, q4, ["TST"], now=after, period="quarter").reports
    sheets = ("Months", "GHG_Inventory", "CBAM_Rules")
    assert _cells(v1.path, sheets) == _cells(v2.path, sheets)
    (v3,) = generate_reports(Session, cfg, q4, ["TST"], now=after, period="quarter", restate=True,
                             restatement_reason="national factor").reports
    assert _cells(v3.path, sheets) != _cells(v1.path, sheets)
    assert json.loads(v3.factor_versions)["diesel"] == 2 and json.loads(v2.factor_versions)["diesel"] == 1
    factors = load_workbook(v3.path)["Factors"]
    assert find_value(factors, "Restatement") == "restates version 2"


def test_a_version_made_while_the_month_ran_is_not_repeated(Session, db_url, tmp_path):
    seed_known_month(Session)
    cfg = config_for(db_url, tmp_path)
    during = datetime(2026, 10, 20, 9, 0, tzinfo=UTC)
    (partial,) = generate_reports(Session, cfg, MONTH, ["TST"], now=during).reports
    with Session() as s:
        add_factor_version(s, "diesel", "t", co2_kg_per_tj=80_000, valid_from=date(2026, 10, 1))
        s.commit()
    (final,) = generate_reports(Session, cfg, MONTH, ["TST"], now=NOW).reports
    assert json.loads(partial.factor_versions)["diesel"] == 1
    assert json.loads(final.factor_versions)["diesel"] == 2
    assert _diesel_fossil_t(final.path) == pytest.approx(_diesel_t(80_000), rel=1e-9)

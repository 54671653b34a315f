"""Workbook statements agree with the figures beside them (issue 14, deliverable 1).

Each test writes real workbooks, reads them back with openpyxl and checks a statement against the
figures it describes: a draft month's target is "pending", never "not met"; a missing month is
blank, never 0 t; one electricity-per-tonne figure on every sheet; units that match the quantity;
a self-approved month never claims a four-eyes check; "not yet due" before the deadline.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook
from reports_helpers import GRID_KWH, MADE_TEA_KG, MONTH, NOW, add_factory, config_for, find_row, find_value

from core.inventory.factors import seed_factors
from core.models import EnergyEntry, Factory, MonthlySubmission, User
from core.reporting.reports import KIND_NETWORK, generate_reports

OWN_HYDRO_KWH = 6_000.0


def _generate(Session, db_url, tmp_path, now=NOW):  # noqa: N803
    result = generate_reports(Session, config_for(db_url, tmp_path), MONTH, requested_by="test", now=now)
    assert result.ok
    return {r.scope_key: load_workbook(r.path) for r in result.reports if r.kind != KIND_NETWORK}, \
        load_workbook(next(r.path for r in result.reports if r.kind == KIND_NETWORK))


def _submission(s, code: str) -> MonthlySubmission:
    return s.scalars(sa.select(MonthlySubmission).join(Factory, Factory.id == MonthlySubmission.factory_id)
                     .where(MonthlySubmission.month == MONTH, Factory.code == code)).one()


@pytest.fixture
def seeded(Session):  # noqa: N803
    """DRF: a draft below its target; NOD: no data; HYD: approved, own hydro, approved by its submitter."""
    with Session() as s:
        seed_factors(s)
        add_factory(s, "DRF", "Draft Factory", target=5.0)  # intensity ~0.3 kg/kg: far below 5.0
        add_factory(s, "NOD", "No Data", with_month=False)
        add_factory(s, "HYD", "Hydro Factory", target=0.01)
        s.flush()
        drf = _submission(s, "DRF")
        drf.status, drf.submitted_at, drf.submitted_by_id = "draft", None, None
        hyd = _submission(s, "HYD")
        hyd.entries.append(EnergyEntry(source="own_hydro", quantity=OWN_HYDRO_KWH, unit="kWh"))
        hyd.approved_by_id = hyd.submitted_by_id
        hyd.approved_at = datetime(2026, 11, 4, 8, 0, tzinfo=UTC)
        s.commit()
    return Session


def test_draft_month_target_is_pending_not_unmet(seeded, db_url, tmp_path):
    books, network = _generate(seeded, db_url, tmp_path)
    for sheet in ("Summary", "D_Production_SEE"):
        status = find_value(books["DRF"][sheet], "Target status")
        assert status.startswith("pending (draft"), (sheet, status)
    lb = network["Leaderboard"]
    texts = [c.value for row in lb.iter_rows() for c in row if isinstance(c.value, str)]
    assert any(t.startswith("pending (draft") for t in texts)
    # HYD is approved and above its target of 0.01: the one "not met" in the network.
    assert find_value(books["HYD"]["Summary"], "Target status") == "not met"


def test_missing_month_is_blank_and_says_missing(seeded, db_url, tmp_path):
    books, _ = _generate(seeded, db_url, tmp_path)
    wb = books["NOD"]
    ws = wb["Summary"]
    for label in ("Scope 1: fossil CO2 + CH4 + N2O (calculation-based)", "Scope 2: purchased electricity, "
                  "location-based", "Scope 1 + 2", "Biogenic CO2 (memo, outside scopes)"):
        r = find_row(ws, label)
        assert ws.cell(r, 2).value is None and ws.cell(r, 3).value is None, label
    assert any(isinstance(c.value, str) and c.value.startswith("MISSING DATA") for row in ws.iter_rows() for c in row)
    # The stack still measured CO2: that figure stays (2 days of rollups, 150 t).
    assert find_value(ws, "Measured stack CO2 (monitored hours, fossil + biogenic)") == pytest.approx(150.0)
    assert find_value(ws, "Target status").startswith("not assessed (missing")
    comm = wb["Summary_Communication"]
    for name in ("Calculation-based (excl. PFC)", "Total CO2", "Total direct emissions", "Total indirect emissions",
                 "SEE direct", "Electricity consumption"):
        r = find_row(comm, name, label_col=3)
        assert comm.cell(r, 4).value is None, name
    r = find_row(comm, "Calculation-based (excl. PFC)", label_col=3)
    assert comm.cell(r, 6).value.startswith("MISSING")
    assert find_value(comm, "Measured CO2 (monitored hours)", col=4, label_col=3) == pytest.approx(150.0)
    assert find_value(wb["C_Electricity"], "Grid electricity consumed") is None
    assert find_value(wb["D_Production_SEE"], "Directly attributable emissions (Scope 1)") is None


def test_one_electricity_per_tonne_on_every_sheet(seeded, db_url, tmp_path):
    books, _ = _generate(seeded, db_url, tmp_path)
    wb = books["HYD"]
    expected = (GRID_KWH + OWN_HYDRO_KWH) / MADE_TEA_KG  # kWh/kg = MWh/t, grid and own hydro together
    assert find_value(wb["C_Electricity"], "Electricity per tonne of made tea (grid + own)") == pytest.approx(expected)
    comm = wb["Summary_Communication"]
    assert find_value(comm, "Electricity consumption per tonne", col=4, label_col=3) == pytest.approx(expected)


def test_units_match_the_quantity_in_the_communication_sheet(seeded, db_url, tmp_path):
    books, _ = _generate(seeded, db_url, tmp_path)
    comm = books["HYD"]["Summary_Communication"]
    units = {comm.cell(r, 3).value: comm.cell(r, 5).value for r in range(1, comm.max_row + 1)}
    assert units["Calculation-based (excl. PFC)"] == "t CO2"  # CBAM rules count CO2 only
    assert units["Total indirect emissions"] == "t CO2"  # grid factor is a CO2 factor
    assert units["Measured CO2 (monitored hours)"] == "t CO2"  # a stack measures CO2 only
    assert units["N2O"] == "t CO2e"
    assert units["SEE direct"] == "t CO2 / t"
    header = next(row for row in comm.iter_rows() if any(c.value == "Section" for c in row))
    assert [c.value for c in header][:6] == ["Section", "Ref", "Field", "Value", "Unit", "Note"]


def test_self_approval_is_not_called_a_four_eyes_check(seeded, db_url, tmp_path):
    books, _ = _generate(seeded, db_url, tmp_path)
    with seeded() as s:
        submitter = s.scalars(sa.select(User.username).where(User.username.like("%hyd"))).one()
    approved = find_value(books["HYD"]["DataQuality"], "Approved by")
    assert approved.startswith(submitter) and "no four-eyes check" in approved


def test_on_schedule_is_not_yet_due_before_the_deadline(seeded, db_url, tmp_path):
    # 5 November 12:00 UTC: October's data is due by 10 November, so nobody can be late yet.
    _, network = _generate(seeded, db_url, tmp_path, now=datetime(2026, 11, 5, 12, 0, tzinfo=UTC))
    ws = network["Summary"]
    r = find_row(ws, "Energy data submitted on schedule")
    assert ws.cell(r, 2).value is None
    assert ws.cell(r, 6).value.startswith("not yet due")
    # Target denominator: only assessed months (HYD approved); DRF is a draft, NOD missing.
    r = find_row(ws, "Factories meeting the intensity target")
    assert (ws.cell(r, 3).value, ws.cell(r, 4).value) == (0, 1)


def test_no_sheet_prints_a_zero_total_for_missing_data(Session, db_url, tmp_path):  # noqa: N803
    """B_SourceStreams' total, a region with only missing factories, and network totals: blank, never 0 t."""
    with Session() as s:
        seed_factors(s)
        add_factory(s, "AAA", "Reported Factory", region=1)
        add_factory(s, "MS1", "Missing One", region=3, with_month=False)
        add_factory(s, "MS2", "Missing Two", region=3, with_month=False)
        s.commit()
    books, network = _generate(Session, db_url, tmp_path)
    src = books["MS1"]["B_SourceStreams"]
    r = find_row(src, "Total")
    assert [c.value for c in src[r][2:]] == [None] * (len(src[r]) - 2)
    assert src.cell(r, 2).value.startswith("MISSING")
    regions = network["Regions"]
    r = next(row[0].row for row in regions.iter_rows() if row[0].value == 3)
    values = [regions.cell(r, c).value for c in range(4, 10)]  # made tea .. intensity
    assert values == [None] * 6, values
    assert regions.cell(r, 3).value == 0  # "With energy data": a count, and it is zero


def test_network_totals_blank_when_no_factory_reported(Session, db_url, tmp_path):  # noqa: N803
    with Session() as s:
        seed_factors(s)
        add_factory(s, "MS1", "Missing One", with_month=False)
        s.commit()
    _, network = _generate(Session, db_url, tmp_path)
    ws = network["Summary"]
    for label in ("Scope 1", "Scope 2", "Scope 1 + 2", "Biogenic CO2 (memo)", "Made tea"):
        r = find_row(ws, label)
        assert ws.cell(r, 2).value is None and ws.cell(r, 3).value is None, label
    assert find_value(ws, "Measured stack CO2 (all factories)") == pytest.approx(150.0)
    assert any(isinstance(c.value, str) and c.value.startswith("MISSING DATA") for row in ws.iter_rows() for c in row)

"""Wood NCV (issue 14): the IPCC 2006 default as an effective-dated factor version with its citation,
a laboratory NCV per fuel lot used for that lot's months, and the workbook saying which NCV each
line used. Expected numbers come from IPCC 2006 Vol 2 (Ch 1 Tables 1.2 and 1.4) and ISO 18125
arithmetic written out here, not from the code under test.
"""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from alembic import command
from flask_login import login_user
from openpyxl import load_workbook
from reports_helpers import MONTH, NOW, WOOD_KG, config_for, header_map, seed_known_month
from test_reports_page import _ids, _web_user, web  # noqa: F401  (the page fixture)

from core.access import AccessDenied
from core.db import alembic_config, make_engine
from core.evidence.declarations import add_declaration, add_lab_ncv, withdraw_lab_ncv
from core.evidence.files import Attachment, EvidenceError, add_evidence
from core.inventory.factors import load_factor_set
from core.inventory.monthly import monthly_inventory
from core.models import EmissionFactor, Factory, LabNcv, MonthlySubmission
from core.reporting.reports import generate_reports

# IPCC 2006 Vol 2 Ch 1 Table 1.2, Wood/Wood Waste: NCV 15.6 TJ/Gg (lower 7.9, upper 31.0);
# Table 1.4: CO2 112,000 kg/TJ (biogenic).
IPCC_WOOD_NCV, IPCC_WOOD_LOW, IPCC_WOOD_HIGH = 15.6, 7.9, 31.0
WOOD_CO2_KG_PER_TJ = 112_000
LATENT_HEAT = 2.443  # MJ/kg water, ISO 18125
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _hq():
    return SimpleNamespace(id=None, username="hq-ruth", role="hq", factory_id=None, active=True)


def _codes(Session) -> dict[str, int]:  # noqa: N803
    with Session() as s:
        return {f.code: f.id for f in s.scalars(sa.select(Factory))}


def _wood_line(inv):  # noqa: ANN001, ANN202
    return next(line for line in inv.lines if line.source == "firewood")


def test_the_default_wood_factor_is_the_ipcc_value_with_its_citation(Session):
    seed_known_month(Session)
    with Session() as s:
        row = s.scalars(sa.select(EmissionFactor).where(EmissionFactor.code == "firewood")).one()
        assert row.ncv_mj_per_kg == IPCC_WOOD_NCV and row.dry_ncv_mj_per_kg is None
        assert "Table 1.2" in row.citation and "7.9" in row.citation and "31.0" in row.citation
        assert "2006" in row.source and row.valid_from is None
        assert load_factor_set(s, at=MONTH).fuels["firewood"].ncv_mj_per_kg == IPCC_WOOD_NCV


def test_a_lab_ncv_of_a_lot_replaces_the_default_in_that_lots_months(Session, db_url, tmp_path):
    seed_known_month(Session)
    ids, hq = _codes(Session), _hq()
    cfg = config_for(db_url, tmp_path)
    with Session() as s:
        lot = add_declaration(s, hq, ids["TST"], "firewood", "Kericho Woodlots", "RED II Art. 29", "KW-7",
                              date(2026, 9, 15), date(2026, 10, 20))
        cert = add_evidence(s, cfg.data_dir, hq, Attachment(0, declaration_id=lot.id), "lab.pdf", PDF)
        lab = add_lab_ncv(s, hq, lot.id, 19.0, "dry", "KEBS lab", "=C-123", moisture_fraction=0.30,
                          evidence_file_id=cert.id, sampled_on=date(2026, 9, 20))
        s.commit()
        invs = {inv.factory_code: inv for inv in monthly_inventory(
            s, [MONTH, date(2026, 11, 1)], load_factor_set(s, at=MONTH), [ids["TST"], ids["KGW"]], now=NOW)
            if inv.month == MONTH}
    # Dry 19.0 MJ/kg at the sample's 30 % moisture: 19.0 x 0.7 - 2.443 x 0.3 = 12.5671 MJ/kg as received.
    as_received = 19.0 * 0.7 - LATENT_HEAT * 0.3
    line = _wood_line(invs["TST"])
    assert line.ncv_mj_per_kg == pytest.approx(as_received)
    assert line.emissions.biogenic_co2_kg == pytest.approx(WOOD_KG * as_received / 1e6 * WOOD_CO2_KG_PER_TJ)
    assert line.lab_ncv_ids == (lab.id,)
    kgw = _wood_line(invs["KGW"])  # no lot: the IPCC default
    assert kgw.ncv_mj_per_kg == pytest.approx(IPCC_WOOD_NCV) and kgw.ncv_origin == "default"
    assert kgw.emissions.biogenic_co2_kg == pytest.approx(WOOD_KG * IPCC_WOOD_NCV / 1e6 * WOOD_CO2_KG_PER_TJ)

    reps = {r.scope_key: r for r in generate_reports(Session, cfg, MONTH, ["TST", "KGW"], now=NOW).reports}
    tst, kgw_rep = reps["TST"], reps["KGW"]
    for rep, ncv, origin in ((tst, as_received, "lab: lot Kericho Woodlots KW-7, KEBS lab certificate =C-123"),
                             (kgw_rep, IPCC_WOOD_NCV, "default firewood v1")):
        ws = load_workbook(rep.path)["B_SourceStreams"]
        hr, cols = header_map(ws, "Method")
        r = next(r for r in range(hr + 1, ws.max_row + 1) if ws.cell(r, cols["Factor code"]).value == "firewood")
        assert ws.cell(r, cols["NCV as used (MJ/kg)"]).value == pytest.approx(ncv)
        assert ws.cell(r, cols["NCV from"]).value == origin

    # Withdrawn later: new versions of the month repeat the lab value; a restatement drops it.
    with Session() as s:
        withdraw_lab_ncv(s, hq, lab.id)
        s.commit()
    (again,) = generate_reports(Session, cfg, MONTH, ["TST"], now=NOW).reports
    (restated,) = generate_reports(Session, cfg, MONTH, ["TST"], now=NOW, restate=True,
                                   restatement_reason="lab certificate withdrawn").reports
    for rep, ncv in ((again, as_received), (restated, IPCC_WOOD_NCV)):
        ws = load_workbook(rep.path)["B_SourceStreams"]
        hr, cols = header_map(ws, "Method")
        r = next(r for r in range(hr + 1, ws.max_row + 1) if ws.cell(r, cols["Factor code"]).value == "firewood")
        assert ws.cell(r, cols["NCV as used (MJ/kg)"]).value == pytest.approx(ncv)
    dq = load_workbook(restated.path)["DataQuality"]
    hr, _ = header_map(dq, "What changed")
    assert dq.cell(hr + 1, 1).value == "laboratory NCVs of fuel lots"
    assert "19" in dq.cell(hr + 1, 2).value and dq.cell(hr + 1, 3).value == "none"


def test_an_as_received_lab_value_follows_the_entrys_moisture(Session):
    seed_known_month(Session)
    ids, hq = _codes(Session), _hq()
    with Session() as s:
        lot = add_declaration(s, hq, ids["KGW"], "firewood", "Nandi Wood", "FSC", "N-1", date(2026, 10, 1),
                              date(2026, 10, 31))
        add_lab_ncv(s, hq, lot.id, 14.0, "as_received", "SGS Nairobi", "S-9", moisture_fraction=0.25)
        sub = s.scalars(sa.select(MonthlySubmission).where(MonthlySubmission.factory_id == ids["KGW"])).one()
        entry = next(e for e in sub.entries if e.source == "firewood")
        entry.moisture_fraction = 0.40
        s.commit()
        inv = monthly_inventory(s, [MONTH], load_factor_set(s, at=MONTH), [ids["KGW"]], now=NOW)[0]
    # 14.0 as received at 25 %: dry = (14.0 + 2.443 x 0.25) / 0.75; at the entry's 40 %: dry x 0.6 - 2.443 x 0.4.
    dry = (14.0 + LATENT_HEAT * 0.25) / 0.75
    assert _wood_line(inv).ncv_mj_per_kg == pytest.approx(dry * 0.6 - LATENT_HEAT * 0.4)


@pytest.mark.parametrize("kwargs, message", [
    (dict(ncv_mj_per_kg=2.0, basis="dry", lab="L", certificate_ref="C"), "NCV"),
    (dict(ncv_mj_per_kg=float("nan"), basis="dry", lab="L", certificate_ref="C"), "NCV"),
    (dict(ncv_mj_per_kg="abc", basis="dry", lab="L", certificate_ref="C"), "NCV"),
    (dict(ncv_mj_per_kg=15.0, basis="wet", lab="L", certificate_ref="C"), "basis"),
    (dict(ncv_mj_per_kg=15.0, basis="as_received", lab="L", certificate_ref="C"), "moisture"),
    (dict(ncv_mj_per_kg=15.0, basis="dry", lab="L", certificate_ref="C", moisture_fraction=0.9), "moisture"),
    (dict(ncv_mj_per_kg=15.0, basis="dry", lab=" ", certificate_ref="C"), "lab"),
])
def test_lab_ncv_input_is_checked(Session, kwargs, message):
    seed_known_month(Session)
    ids, hq = _codes(Session), _hq()
    with Session() as s:
        lot = add_declaration(s, hq, ids["TST"], "firewood", "W", "RED II", "R", date(2026, 1, 1), date(2026, 12, 31))
        with pytest.raises(EvidenceError, match=message):
            add_lab_ncv(s, hq, lot.id, **kwargs)


def test_only_hq_and_admins_record_lab_values_and_certificates_must_belong_to_the_lot(Session, tmp_path):
    seed_known_month(Session)
    ids, hq = _codes(Session), _hq()
    manager = SimpleNamespace(id=None, username="m", role="factory_manager", factory_id=ids["TST"], active=True)
    with Session() as s:
        lot = add_declaration(s, hq, ids["TST"], "firewood", "W", "RED II", "R", date(2026, 1, 1), date(2026, 12, 31))
        other = add_declaration(s, hq, ids["TST"], "firewood", "X", "RED II", "Q", date(2026, 1, 1),
                                date(2026, 12, 31))
        cert = add_evidence(s, tmp_path, hq, Attachment(0, declaration_id=other.id), "lab.pdf", PDF)
        with pytest.raises(AccessDenied):
            add_lab_ncv(s, manager, lot.id, 15.0, "dry", "L", "C")
        with pytest.raises(EvidenceError, match="attached to this fuel lot"):
            add_lab_ncv(s, hq, lot.id, 15.0, "dry", "L", "C", evidence_file_id=cert.id)


def test_upgrade_keeps_old_wood_versions_reproducible_and_adds_the_ipcc_version(tmp_path):
    url = f"sqlite:///{tmp_path / 'up.db'}"
    cfg = alembic_config(url)
    command.upgrade(cfg, "0004_api_tokens")
    engine = make_engine(url)
    with engine.begin() as c:
        c.execute(sa.text(
            "INSERT INTO emission_factor (code, version, kind, label, ncv_mj_per_kg, co2_kg_per_tj, ch4_kg_per_tj, "
            "n2o_kg_per_tj, biomass_fraction, source, table_ref, year, citation, is_default, created_at) VALUES "
            "('firewood', 1, 'fuel', 'Firewood', 15.6, 112000, 30, 4, 1.0, 'IPCC', 'T1.2', 2006, 'x', 1, "
            "'2026-01-01 00:00:00')"))
    command.upgrade(cfg, "head")
    with engine.connect() as c:
        rows = c.execute(sa.text("SELECT version, ncv_mj_per_kg, dry_ncv_mj_per_kg, valid_from, citation "
                                 "FROM emission_factor WHERE code = 'firewood' ORDER BY version")).all()
    engine.dispose()
    # The old version keeps the dry NCV it was computed with: (13.8 + 2.443 x 0.25) / 0.75.
    assert rows[0][2] == pytest.approx((13.8 + LATENT_HEAT * 0.25) / 0.75)
    assert rows[1][0] == 2 and rows[1][1] == IPCC_WOOD_NCV and rows[1][2] is None
    assert rows[1][3] is not None and str(rows[1][3]).endswith("-01")  # from the first day of a month
    assert "Table 1.2" in rows[1][4] and f"{IPCC_WOOD_LOW}" in rows[1][4] and f"{IPCC_WOOD_HIGH}" in rows[1][4]
    command.downgrade(cfg, "0004_api_tokens")


def test_lab_ncv_through_the_evidence_page(web):  # noqa: F811
    app, Session, cfg, _ = web  # noqa: N806
    import pages.evidence as page
    from callbacks.evidence import record_lab_ncv

    with Session() as s:
        kgw = s.scalar(sa.select(Factory.id).where(Factory.code == "KGW"))
    with app.server.test_request_context("/evidence"):
        hq = _web_user(Session, "hq")
        with Session() as s:
            lot = add_declaration(s, hq, kgw, "firewood", "Woodlots", "RED II", "KW-1", date(2026, 1, 1),
                                  date(2026, 12, 31))
            s.commit()
            lot_id = lot.id
        login_user(hq)
        assert {"evidence-lab-record", "evidence-lab-ncv", "evidence-lab-basis", "evidence-lab-ncvs"} <= _ids(
            page.layout())
        done = record_lab_ncv(hq, lot_id, 18.5, "dry", None, "KEBS", "C-1", None, "2026-10-02")
        assert done.color == "success"
        assert record_lab_ncv(hq, lot_id, None, "dry", None, "KEBS", "C-1", None, None).color == "warning"
        manager = _web_user(Session, "kagwe")
        assert record_lab_ncv(manager, lot_id, 18.5, "dry", None, "KEBS", "C-1", None, None).color == "danger"
    with Session() as s:
        (row,) = s.scalars(sa.select(LabNcv)).all()
        assert (row.ncv_mj_per_kg, row.basis, row.sampled_on, row.recorded_by) == (18.5, "dry", date(2026, 10, 2), "hq")

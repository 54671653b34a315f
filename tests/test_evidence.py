"""Evidence files and the supplier register (issue 14, deliverable 4): size and type checked from the
bytes, stored by SHA-256 in the data directory, listed in the workbooks' Evidence sheet, downloadable
only by those who may see the factory; declarations kept by HQ and admins, all audit-logged.
"""

from __future__ import annotations

import base64
import hashlib
import io
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from flask_login import login_user
from openpyxl import Workbook, load_workbook
from reports_helpers import MONTH, NOW, config_for, header_map, seed_known_month
from test_reports_page import _ids, _web_user, web  # noqa: F401  (the page fixture)
from web_helpers import login

from core.access import AccessDenied
from core.evidence.declarations import add_declaration, withdraw_declaration
from core.evidence.files import (
    MAX_BYTES,
    XLSX_TYPE,
    Attachment,
    EvidenceError,
    add_evidence,
    check_file,
    evidence_for_download,
    safe_filename,
)
from core.models import AuditLog, EvidenceFile, Factory
from core.reporting.reports import generate_reports

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32


def _xlsx() -> bytes:
    wb = Workbook()
    wb.active["A1"] = "weighbridge ticket 123"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _zip_not_xlsx() -> bytes:
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("evil.sh", "rm -rf /")
    return buf.getvalue()


@pytest.mark.parametrize("name, data, kind", [
    ("invoice.pdf", PDF, "application/pdf"),
    ("meter.PNG", PNG, "image/png"),
    ("ticket.jpeg", JPEG, "image/jpeg"),
    ("ticket.jpg", JPEG, "image/jpeg"),
    ("log.xlsx", _xlsx(), XLSX_TYPE),
])
def test_accepted_types_are_detected_from_the_bytes(name, data, kind):
    assert check_file(name, data)[0] == kind


@pytest.mark.parametrize("name, data, message", [
    ("empty.pdf", b"", "empty"),
    ("big.pdf", PDF + b"0" * MAX_BYTES, "limit is 10 MB"),
    ("setup.pdf", b"MZ\x90\x00" + b"\x00" * 64, "only PDF, PNG, JPEG and Excel"),
    ("page.pdf", b"<html><script>alert(1)</script></html>", "only PDF"),
    ("invoice.xlsx", PDF, "content is application/pdf but its name ends in .xlsx"),
    ("invoice", PDF, "ends in (nothing)"),
    ("archive.xlsx", _zip_not_xlsx(), "only PDF"),
    ("macro.xlsm", _xlsx(), "ends in .xlsm"),
])
def test_refused_files_say_why(name, data, message):
    with pytest.raises(EvidenceError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_file(name, data)


def test_file_names_lose_directories_and_odd_characters():
    assert safe_filename("../../etc/passwd.pdf") == "passwd.pdf"
    assert safe_filename("C:\\Users\\x\\inv 1.pdf") == "inv 1.pdf"
    assert safe_filename("a<b>|c.pdf") == "a_b_c.pdf"
    assert safe_filename("...") == "file"


def _users(Session):  # noqa: N803
    with Session() as s:
        ids = dict(s.execute(sa.select(Factory.code, Factory.id)).all())
    manager = SimpleNamespace(id=None, username="tst_mgr", role="factory_manager", factory_id=ids["TST"], active=True)
    other = SimpleNamespace(id=None, username="kgw_mgr", role="factory_manager", factory_id=ids["KGW"], active=True)
    hq = SimpleNamespace(id=None, username="hq", role="hq", factory_id=None, active=True)
    auditor = SimpleNamespace(id=None, username="aud", role="auditor", factory_id=None, active=True)
    return ids, manager, other, hq, auditor


def test_store_once_by_hash_and_authorise(Session, db_url, tmp_path):  # noqa: N803
    seed_known_month(Session)
    ids, manager, other, hq, auditor = _users(Session)
    data_dir = tmp_path / "data"
    att = Attachment(ids["TST"], MONTH, "diesel")
    with Session() as s:
        a = add_evidence(s, data_dir, manager, att, "../invoice Oct.pdf", PDF, "=HYPERLINK(x)")
        b = add_evidence(s, data_dir, manager, Attachment(ids["TST"], date(2026, 10, 17), "firewood"), "again.pdf", PDF)
        s.commit()
        sha = hashlib.sha256(PDF).hexdigest()
        assert a.sha256 == sha and a.size_bytes == len(PDF) and a.filename == "invoice Oct.pdf"
        assert Path(a.stored_path) == (data_dir / "evidence" / str(ids["TST"]) / f"{sha}.pdf").resolve()
        assert a.stored_path == b.stored_path and b.month == MONTH  # same bytes stored once; month normalised
        assert len(list((data_dir / "evidence" / str(ids["TST"])).iterdir())) == 1
        audits = s.scalars(sa.select(AuditLog).where(AuditLog.entity == "evidence")).all()
        assert len(audits) == 2 and sha in audits[0].detail and audits[0].username == "tst_mgr"
        for user in (other, hq, auditor, None):
            with pytest.raises(AccessDenied):
                add_evidence(s, data_dir, user, att, "x.pdf", PDF)
        with pytest.raises(EvidenceError, match="energy source"):
            add_evidence(s, data_dir, manager, Attachment(ids["TST"], MONTH, "uranium"), "x.pdf", PDF)
        # Reading back: whoever may see the factory.
        assert evidence_for_download(s, auditor, a.id).id == a.id
        assert evidence_for_download(s, hq, a.id).id == a.id
        with pytest.raises(AccessDenied):
            evidence_for_download(s, other, a.id)
        with pytest.raises(LookupError):
            evidence_for_download(s, hq, 999_999)


def test_supplier_register_rules(Session, db_url, tmp_path):  # noqa: N803
    seed_known_month(Session)
    ids, manager, _, hq, _ = _users(Session)
    with Session() as s:
        d = add_declaration(s, hq, ids["TST"], "firewood", " Kericho Woodlots ", "RED II Art. 29", "KW-1",
                            date(2026, 1, 1), date(2026, 12, 31))
        assert d.supplier == "Kericho Woodlots" and d.recorded_by == "hq"
        with pytest.raises(AccessDenied):
            add_declaration(s, manager, ids["TST"], "firewood", "S", "X", "R", date(2026, 1, 1), date(2026, 2, 1))
        for kwargs, message in (
            (dict(source="diesel"), "biomass fuel"),
            (dict(supplier="  "), "supplier: 1 to 120"),
            (dict(reference="r" * 121), "reference: 1 to 120"),
            (dict(valid_to=date(2025, 12, 31)), "on or after"),
        ):
            args = dict(source="firewood", supplier="S", scheme="X", reference="R", valid_from=date(2026, 1, 1),
                        valid_to=date(2026, 2, 1)) | kwargs
            with pytest.raises(EvidenceError, match=message):
                add_declaration(s, hq, ids["TST"], **args)
        # A manager may attach the certificate to their factory's declaration; HQ too.
        e = add_evidence(s, tmp_path, manager, Attachment(0, declaration_id=d.id), "cert.png", PNG)
        assert e.factory_id == ids["TST"] and e.declaration_id == d.id
        withdraw_declaration(s, hq, d.id)
        assert d.withdrawn_at is not None
        s.commit()
        actions = [a.action for a in s.scalars(sa.select(AuditLog).where(AuditLog.entity == "supplier_declaration"))]
        assert actions == ["create", "withdraw"]


@pytest.mark.parametrize("period", ["month", "year"])
def test_workbooks_list_the_evidence_with_hashes(Session, db_url, tmp_path, period):  # noqa: N803
    seed_known_month(Session)
    ids, manager, other, hq, _ = _users(Session)
    cfg = config_for(db_url, tmp_path)
    with Session() as s:
        add_evidence(s, cfg.data_dir, manager, Attachment(ids["TST"], MONTH, "diesel"), "invoice.pdf", PDF)
        d = add_declaration(s, hq, ids["TST"], "firewood", "Woodlots", "RED II", "KW-9", date(2026, 1, 1),
                            date(2026, 12, 31))
        add_evidence(s, cfg.data_dir, hq, Attachment(0, declaration_id=d.id), "cert.jpg", JPEG)
        add_evidence(s, cfg.data_dir, manager, Attachment(ids["TST"], date(2025, 10, 1), "diesel"), "old.png", PNG)
        s.commit()
    result = generate_reports(Session, cfg, MONTH, requested_by="t", now=NOW, period=period)
    books = {r.scope_key: load_workbook(r.path) for r in result.reports if r.scope_key in ("TST", "KGW")}
    ws = books["TST"]["Evidence"]
    hr, h = header_map(ws, "Evidence id")
    listed = {ws.cell(r, h["File name"]).value: ws.cell(r, h["SHA-256"]).value for r in range(hr + 1, ws.max_row + 1)
              if ws.cell(r, h["File name"]).value}
    assert listed == {"invoice.pdf": hashlib.sha256(PDF).hexdigest(), "cert.jpg": hashlib.sha256(JPEG).hexdigest()}
    kgw = books["KGW"]["Evidence"]
    assert any(isinstance(c.value, str) and c.value.startswith("No evidence files") for row in kgw.iter_rows()
               for c in row)


def test_upload_and_download_through_the_portal(web):  # noqa: F811
    app, Session, cfg, _ = web
    import pages.evidence as page
    from callbacks.evidence import upload_energy_evidence

    with Session() as s:
        kgw = s.scalar(sa.select(Factory.id).where(Factory.code == "KGW"))
    contents = "data:application/pdf;base64," + base64.b64encode(PDF).decode()
    with app.server.test_request_context("/evidence"):
        manager = _web_user(Session, "kagwe")
        login_user(manager)
        assert {"evidence-upload", "evidence-factory"} <= _ids(page.layout())
        assert "evidence-declare" not in _ids(page.layout())
        done = upload_energy_evidence(manager, kgw, "2026-10", "diesel", contents, "inv.pdf")
        assert done.color == "success"
        bad = upload_energy_evidence(manager, kgw, "2026-10", "diesel", "data:x;base64,%%%", "inv.pdf")
        assert bad.color == "warning"
        denied = upload_energy_evidence(_web_user(Session, "mataara"), kgw, "2026-10", "diesel", contents, "inv.pdf")
        assert denied.color == "danger"
    with Session() as s:
        (row,) = s.scalars(sa.select(EvidenceFile)).all()
    client = app.server.test_client()
    assert client.get(f"/evidence/download/{row.id}").status_code in (302, 401)  # not signed in
    login(client, "kagwe")
    resp = client.get(f"/evidence/download/{row.id}")
    assert resp.status_code == 200 and hashlib.sha256(resp.data).hexdigest() == row.sha256
    assert "inv.pdf" in resp.headers["Content-Disposition"]
    other = app.server.test_client()
    login(other, "mataara")
    assert other.get(f"/evidence/download/{row.id}").status_code == 403
    auditor = app.server.test_client()
    login(auditor, "auditor")
    assert auditor.get(f"/evidence/download/{row.id}").status_code == 200
    assert auditor.get("/evidence/download/999999").status_code == 404

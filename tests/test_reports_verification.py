"""Verifier sign-off (issue 14, deliverable 6): only the auditor signs a finished annual report; the
sign-off keeps the file's SHA-256 and is in the audit log; the Reports page offers it to auditors only.
"""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from flask_login import login_user
from reports_helpers import MONTH, NOW, config_for, seed_known_month
from test_reports_page import _ids, _web_user, web  # noqa: F401  (the page fixture)

from core.access import AccessDenied
from core.models import AuditLog, Report, ReportVerification
from core.reporting.reports import generate_reports
from core.reporting.verification import OPINIONS, VerificationError, sign_off, verifications_for

AUDITOR = SimpleNamespace(id=None, username="vera", role="auditor", factory_id=None, active=True)
STATEMENT = "Verified against fuel invoices and weighbridge tickets; no material misstatement found."


@pytest.fixture
def reports(Session, db_url, tmp_path):  # noqa: N803
    seed_known_month(Session)
    cfg = config_for(db_url, tmp_path)
    annual = generate_reports(Session, cfg, MONTH, ["TST"], requested_by="t", now=NOW, period="year").reports[0]
    monthly = generate_reports(Session, cfg, MONTH, ["TST"], requested_by="t", now=NOW).reports[0]
    return annual, monthly


def test_auditor_signs_an_annual_report_and_it_is_audit_logged(Session, reports):  # noqa: N803
    annual, _ = reports
    with Session() as s:
        row = sign_off(s, AUDITOR, annual.id, OPINIONS[0], STATEMENT)
        s.commit()
        assert row.report_sha256 == annual.sha256
    with Session() as s:
        (v,) = verifications_for(s, [annual.id])[annual.id]
        assert (v.verifier_username, v.opinion, v.statement) == ("vera", OPINIONS[0], STATEMENT)
        audit = s.scalars(sa.select(AuditLog).where(AuditLog.action == "verify")).one()
        assert audit.username == "vera" and audit.entity == "report" and audit.entity_id == str(annual.id)
        assert annual.sha256 in audit.detail and "TST 2026 v1" in audit.detail


@pytest.mark.parametrize("role", ["hq", "admin", "factory_manager"])
def test_only_an_auditor_may_sign(Session, reports, role):  # noqa: N803
    annual, _ = reports
    user = SimpleNamespace(id=None, username=role, role=role, factory_id=None, active=True)
    with Session() as s, pytest.raises(AccessDenied):
        sign_off(s, user, annual.id, OPINIONS[0], STATEMENT)
    inactive = SimpleNamespace(**{**vars(AUDITOR), "active": False})
    with Session() as s, pytest.raises(AccessDenied):
        sign_off(s, inactive, annual.id, OPINIONS[0], STATEMENT)


def test_what_cannot_be_signed(Session, reports):  # noqa: N803
    annual, monthly = reports
    cases = [
        (monthly.id, OPINIONS[0], STATEMENT, "only annual reports"),
        (annual.id, "looks fine", STATEMENT, "opinion must be one of"),
        (annual.id, OPINIONS[1], "   ok   ", "10 to 4000"),
        (annual.id, OPINIONS[1], "x" * 4001, "10 to 4000"),
        (999_999, OPINIONS[0], STATEMENT, "no such report"),
    ]
    for report_id, opinion, statement, message in cases:
        with Session() as s, pytest.raises(VerificationError, match=message):
            sign_off(s, AUDITOR, report_id, opinion, statement)
    with Session() as s:
        s.execute(sa.update(Report).where(Report.id == annual.id).values(status="failed"))
        s.commit()
    with Session() as s, pytest.raises(VerificationError, match="not finished"):
        sign_off(s, AUDITOR, annual.id, OPINIONS[0], STATEMENT)
    with Session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(ReportVerification)) == 0


def test_reports_page_offers_sign_off_to_the_auditor_only(web):  # noqa: F811
    app, Session, cfg, _ = web
    import pages.reports as page
    from callbacks.reports import verify_report

    annual = generate_reports(Session, cfg, date(2026, 1, 1), ["KGW"], requested_by="t", period="year").reports[0]
    with app.server.test_request_context("/reports"):
        login_user(_web_user(Session, "hq"))
        assert "reports-verify" not in _ids(page.layout())
        denied = verify_report(_web_user(Session, "hq"), annual.id, OPINIONS[0], STATEMENT)
    assert denied.color == "danger"
    with app.server.test_request_context("/reports"):
        auditor = _web_user(Session, "auditor")
        login_user(auditor)
        ids = _ids(page.layout())
        assert {"reports-verify", "reports-verify-report", "reports-verify-opinion",
                "reports-verify-statement"} <= ids
        done = verify_report(auditor, annual.id, OPINIONS[1], STATEMENT)
        assert done.color == "success"
        # The grid's rows (from the server, block by block) show the sign-off on that report.
        from callbacks.common import session_factory
        from callbacks.reports import reports_block

        block = reports_block(auditor, {}, {"startRow": 0, "endRow": 100}, session_factory(), cfg.tz)
    (row,) = [r for r in block["rowData"] if r["id"] == annual.id]
    assert OPINIONS[1] in row["verification"] and "auditor" in row["verification"]

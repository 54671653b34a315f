"""Reports page: who sees which reports, authorised downloads, on-demand generation checked on the server."""

from __future__ import annotations

import hashlib
from datetime import date

import pytest
import sqlalchemy as sa
import time_machine
from flask_login import login_user
from web_helpers import NOW, build_small_db, login, web_config

import core.accounts.auth as auth
from app import create_app
from core.accounts.auth import WebUser
from core.db import make_engine, make_session_factory
from core.models import AuditLog, Report, User
from core.reporting.reports import generate_reports

MONTH = date(2026, 10, 1)


@pytest.fixture
def web(sqlite_url, tmp_path, monkeypatch):
    monkeypatch.setattr(auth, "FAILURE_DELAY_S", 0.0)
    auth.IP_THROTTLE.reset()
    engine = make_engine(sqlite_url)
    Session = make_session_factory(engine)
    fx = build_small_db(Session, readings=False)
    cfg = web_config(sqlite_url, tmp_path)
    app = create_app(cfg, Session)
    result = generate_reports(Session, cfg, MONTH, requested_by="test", now=fx.now)
    assert result.ok
    reports = {r.scope_key: r for r in result.reports}
    yield app, Session, cfg, reports
    engine.dispose()


def _web_user(Session, username):
    with Session() as s:
        return WebUser.from_row(s.scalars(sa.select(User).where(User.username == username)).one())


def _ids(component) -> set[str]:
    found = set()

    def walk(c):
        if isinstance(c, (list, tuple)):
            for x in c:
                walk(x)
            return
        cid = getattr(c, "id", None)
        if isinstance(cid, str):
            found.add(cid)
        # A data grid's link cells (callbacks.grid, CtLink): the row's id and link for the cell.
        for row in getattr(c, "rowData", None) or []:
            for key, value in row.items():
                if key.endswith("__id"):
                    found.add(value)
                    href = row[key[:-4] + "__href"]
                    # reports-download-7 -> /reports/download/7 (evidence-download-7 -> /evidence/download/7)
                    route = value.rsplit("-", 2)[0]
                    assert href == f"/{route}/download/{value.rsplit('-', 1)[1]}", (value, href)
        children = getattr(c, "children", None)
        if children is not None:
            walk(children)

    walk(component)
    return found


def test_reports_download_is_authorised_on_the_server(web):
    app, Session, _, reports = web
    anon = app.server.test_client()
    assert anon.get(f"/reports/download/{reports['KGW'].id}").status_code == 302  # to the sign-in page

    client = app.server.test_client()
    login(client, "kagwe")
    resp = client.get(f"/reports/download/{reports['KGW'].id}")
    assert resp.status_code == 200
    assert hashlib.sha256(resp.data).hexdigest() == reports["KGW"].sha256
    assert "carbontrack_KGW_2026-10_v1.xlsx" in resp.headers["Content-Disposition"]
    assert client.get(f"/reports/download/{reports['MTR'].id}").status_code == 403
    assert client.get(f"/reports/download/{reports['NETWORK'].id}").status_code == 403
    assert client.get("/reports/download/999999").status_code == 404

    hq = app.server.test_client()
    login(hq, "auditor")
    assert hq.get(f"/reports/download/{reports['NETWORK'].id}").status_code == 200


def test_layout_lists_only_what_the_user_may_see(web):
    app, Session, _, reports = web
    import pages.reports as page

    with app.server.test_request_context("/reports"):
        login_user(_web_user(Session, "kagwe"))
        ids = _ids(page.layout())
    assert f"reports-download-{reports['KGW'].id}" in ids
    assert f"reports-download-{reports['MTR'].id}" not in ids
    assert f"reports-download-{reports['NETWORK'].id}" not in ids
    assert "reports-generate" not in ids and "reports-runs-table" not in ids

    with app.server.test_request_context("/reports"):
        login_user(_web_user(Session, "hq"))
        ids = _ids(page.layout())
    assert {f"reports-download-{r.id}" for r in reports.values()} <= ids
    assert {"reports-generate", "reports-month", "reports-scope", "reports-progress"} <= ids


def test_hq_sees_a_failed_scheduled_run(web):
    app, Session, _, _ = web
    import pages.reports as page
    from core.models import JobRun

    with Session() as s:
        s.add(JobRun(job="monthly_workbooks", period="2026-10", status="failed", attempts=1, owner="host:1",
                     error="OperationalError: could not connect"))
        s.commit()
    with app.server.test_request_context("/reports"):
        login_user(_web_user(Session, "hq"))
        tree = page.layout()
    assert {"reports-run-failed", "reports-runs-table"} <= _ids(tree)
    assert "could not connect" in str(tree)
    with app.server.test_request_context("/reports"):
        login_user(_web_user(Session, "kagwe"))
        assert "reports-run-failed" not in _ids(page.layout())


def test_generation_checks_the_role_in_the_background_job(web):
    app, Session, cfg, _ = web
    from callbacks.reports import CONTEXT_NAMESPACE, _request_context, generate_month

    with app.server.test_request_context("/_dash-update-component"):
        login_user(_web_user(Session, "kagwe"))
        info = _request_context(None)
    assert info["user"]["role"] == "factory_manager" and info["database_url"] == cfg.database_url
    assert CONTEXT_NAMESPACE == "carbontrack_reports"
    message, made = generate_month(info, "2026-10", "ALL")
    assert made == 0 and "Only HQ" in str(message.children)
    assert generate_month({}, "2026-10", "ALL")[1] == 0  # no user at all

    with app.server.test_request_context("/_dash-update-component"):
        login_user(_web_user(Session, "hq"))
        info = _request_context(None)
    steps = []
    message, made = generate_month(info, "2026-10", "KGW", steps.append)
    assert made == 1 and message.color == "success"
    assert steps[:2] == [(0, "starting…"), (0, "collecting the month's data…")]
    assert steps[-1] == (100, "1 of 1 workbooks")
    with Session() as s:
        versions = s.execute(sa.select(Report.scope_key, Report.version, Report.requested_by)
                             .where(Report.scope_key == "KGW").order_by(Report.version)).all()
        assert versions == [("KGW", 1, "test"), ("KGW", 2, "hq")]
        audit = s.scalars(sa.select(AuditLog).where(AuditLog.entity == "report")).one()
        assert (audit.username, audit.action, audit.entity_id) == ("hq", "generate", "2026-10")
    message, made = generate_month(info, "2031-01", "ALL")
    assert made == 0 and "has not started" in str(message.children)


def test_reports001_generate_in_the_browser(dash_duo, web, request):
    """Sign in as HQ, generate one factory's month: progress, then the new version in the list."""
    app, Session, _, reports = web
    # The page offers "last month" by the clock; the fixture's data is around NOW (November 2026),
    # so the server runs at NOW whatever day the suite runs on (tick: time still moves).
    traveller = time_machine.travel(NOW, tick=True)
    traveller.start()
    request.addfinalizer(traveller.stop)
    dash_duo.server(app)  # not start_server: it waits for "/", which sends us to the sign-in page
    dash_duo.driver.get(dash_duo.server.url + "/login?next=/reports")
    dash_duo.find_element("#login-username").send_keys("hq")
    dash_duo.find_element("#login-password").send_keys("hq-pass-1")
    dash_duo.find_element("#login-submit").click()
    dash_duo.wait_for_element(f"#reports-download-{reports['KGW'].id}", timeout=15)
    dash_duo.select_dcc_dropdown("#reports-scope", "Kagwe (KGW)")
    dash_duo.find_element("#reports-generate").click()
    # Progress shows from the click on (issue 17: the first run sat 65 s with an empty bar): within
    # the first second the bar is visible and says something.
    dash_duo.driver.set_script_timeout(10)
    shown = dash_duo.driver.execute_async_script("""
        const done = arguments[arguments.length - 1], t0 = performance.now();
        (function poll() {
          const bar = document.getElementById('reports-progress');
          const fill = bar && bar.querySelector('.progress-bar'), text = fill ? fill.innerText.trim() : '';
          const wide = fill && fill.getBoundingClientRect().width > 50;  // the label is readable, not a 0 % sliver
          if (getComputedStyle(bar).visibility === 'visible' && text && wide) return done([performance.now() - t0, text]);
          if (performance.now() - t0 > 5000) return done(null);
          setTimeout(poll, 20);
        })();""")
    assert shown is not None and shown[0] < 1000, shown
    dash_duo.wait_for_element("#reports-generate-done", timeout=60)
    with Session() as s:
        new = s.scalars(sa.select(Report).where(Report.scope_key == "KGW", Report.version == 2)).one()
    assert new.status == "done" and new.requested_by == "hq"
    dash_duo.wait_for_element(f"#reports-download-{new.id}", timeout=15)
    assert dash_duo.get_logs() == [] or all(e["level"] != "SEVERE" for e in dash_duo.get_logs())


def test_hq_generates_a_quarter_and_a_year_from_the_page(web):
    app, Session, cfg, _ = web
    from callbacks.reports import _request_context, generate_month, period_options, reports_table

    values = [o["value"] for o in period_options(date(2026, 11, 28))]
    assert {"2026-10", "2026-Q4", "2026-Q3", "2026", "2025"} <= set(values)
    with app.server.test_request_context("/_dash-update-component"):
        login_user(_web_user(Session, "hq"))
        info = _request_context(None)
    message, made = generate_month(info, "2026-Q4", "KGW")
    assert made == 1 and message.color == "success" and "Q4 2026" in str(message.children)
    message, made = generate_month(info, "2026", NETWORK_SCOPE_VALUE)
    assert made == 1 and "calendar year 2026" in str(message.children)
    with Session() as s:
        rows = s.scalars(sa.select(Report).where(Report.period != "month").order_by(Report.id)).all()
        assert [(r.scope_key, r.period, r.month, r.status) for r in rows] == [
            ("KGW", "quarter", date(2026, 10, 1), "done"), ("NETWORK", "year", date(2026, 1, 1), "done")]
        audits = [a.entity_id for a in s.scalars(sa.select(AuditLog).where(AuditLog.entity == "report"))]
        assert audits == ["2026-Q4", "2026"]
        table = str(reports_table(rows, cfg.tz))
    assert "2026-Q4" in table and "'2026'" in table


NETWORK_SCOPE_VALUE = "NETWORK"


def test_report_worker_starts_warm(web):
    """The background job runs in a process forked from the web process (Dash's DiskcacheManager,
    multiprocess on Linux): once the app is built, the reporting code and openpyxl are already
    imported there, so a job's process starts with them instead of importing them first."""
    import sys

    import multiprocess

    assert multiprocess.get_start_method() == "fork"
    for module in ("core.reporting.reports", "core.reporting.factory_workbook", "openpyxl"):
        assert module in sys.modules, module

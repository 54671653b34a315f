"""Reports page: who sees which reports, authorised downloads, on-demand generation checked on the server."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date

import pytest
import sqlalchemy as sa
import time_machine
from flask_login import login_user
from web_helpers import NOW, build_small_db, callback_body, login, post_callback, web_config

import core.accounts.auth as auth
from app import create_app
from core.accounts.auth import WebUser
from core.db import make_engine, make_session_factory
from core.models import AuditLog, Factory, Report, User
from core.reporting.reports import generate_reports
from core.timeutil import add_months

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


def _block(client, app, start: int, end: int, scope="ALL", period="ALL", year="ALL", status="ALL") -> dict:  # noqa: ANN001
    """Ask the reports grid for rows start..end as the browser's infinite grid does (getRowsRequest)."""
    resp = post_callback(client, app, "reports-table", [
        {"id": "reports-table", "property": "getRowsRequest", "value": {"startRow": start, "endRow": end}}],
        [{"id": f"reports-filter-{name}", "property": "value", "value": value}
         for name, value in (("scope", scope), ("period", period), ("year", year), ("status", status))])
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    return resp.get_json()["response"]["reports-table"]["getRowsResponse"]


def _all_rows(client, app, block: int = 100, **filters) -> list[dict]:  # noqa: ANN001
    """Every row of the grid, block after block, until the server says where the list ends."""
    rows: list[dict] = []
    while True:
        answer = _block(client, app, len(rows), len(rows) + block, **filters)
        rows += answer["rowData"]
        if answer["rowCount"] is not None:
            assert answer["rowCount"] == len(rows)
            return rows


def test_layout_lists_only_what_the_user_may_see(web):
    app, Session, _, reports = web
    import pages.reports as page

    with app.server.test_request_context("/reports"):
        login_user(_web_user(Session, "kagwe"))
        tree = page.layout()
    ids = _ids(tree)
    assert {"reports-table", "reports-filter-scope", "reports-filter-period", "reports-filter-year",
            "reports-filter-status"} <= ids
    assert "reports-generate" not in ids and "reports-runs-table" not in ids
    assert not any(i.startswith("reports-download-") for i in ids)  # rows come from the server, a block at a time
    scope_values = {o["value"] for o in _find(tree, "reports-filter-scope").options}
    assert scope_values == {"ALL", "KGW"}  # no other factory, no network workbook to pick
    kagwe = app.server.test_client()
    login(kagwe, "kagwe")
    rows = _block(kagwe, app, 0, 100)
    assert rows["rowCount"] == 1 and [r["download__id"] for r in rows["rowData"]] == [
        f"reports-download-{reports['KGW'].id}"]

    with app.server.test_request_context("/reports"):
        login_user(_web_user(Session, "hq"))
        tree = page.layout()
    ids = _ids(tree)
    assert {"reports-generate", "reports-month", "reports-scope", "reports-progress", "reports-table"} <= ids
    assert {"ALL", "NETWORK", "KGW", "MTR", "CHG"} == {o["value"] for o in _find(tree, "reports-filter-scope").options}
    hq = app.server.test_client()
    login(hq, "hq")
    shown = {r["download__id"] for r in _all_rows(hq, app)}
    assert shown == {f"reports-download-{r.id}" for r in reports.values()}


def _find(component, cid: str):  # noqa: ANN001, ANN202
    """The component with id `cid` in a layout tree."""
    if isinstance(component, (list, tuple)):
        for c in component:
            found = _find(c, cid)
            if found is not None:
                return found
        return None
    if getattr(component, "id", None) == cid:
        return component
    children = getattr(component, "children", None)
    return _find(children, cid) if children is not None else None


def _add_reports(Session, months: int) -> int:  # noqa: N803
    """`months` monthly workbooks before MONTH for KGW, MTR, CHG and the network, a KGW quarter and a
    failed MTR year: rows only (the download route is tested above). Returns how many were added."""
    with Session() as s:
        ids = dict(s.execute(sa.select(Factory.code, Factory.id)).all())
        n = 0
        for i in range(1, months + 1):
            m = add_months(MONTH, -i)
            for code in ("KGW", "MTR", "CHG", "NETWORK"):
                s.add(Report(kind="network" if code == "NETWORK" else "factory", scope_key=code, period="month",
                             factory_id=ids.get(code), month=m, version=1, status="done", path=f"x/{code}-{m}.xlsx",
                             sha256=f"{n:064x}", requested_by="scheduler", generated_at=NOW))
                n += 1
        s.add(Report(kind="factory", scope_key="KGW", period="quarter", factory_id=ids["KGW"], month=date(2026, 7, 1),
                     version=1, status="done", path="x/q.xlsx", sha256="e" * 64, requested_by="hq", generated_at=NOW))
        s.add(Report(kind="factory", scope_key="MTR", period="year", factory_id=ids["MTR"], month=date(2025, 1, 1),
                     version=1, status="failed", error="factory MTR has no data row", requested_by="hq"))
        s.commit()
    return n + 2


def test_reports_grid_pages_on_the_server(web):
    """More rows than one block: the first answer holds one block and says there is more, the next
    request the next block, and the last one where the list ends; every row once."""
    app, Session, _, reports = web
    added = _add_reports(Session, 30)  # 122 rows
    total = added + len(reports)  # and the fixture's four October workbooks
    hq = app.server.test_client()
    login(hq, "hq")
    first = _block(hq, app, 0, 100)
    assert len(first["rowData"]) == 100 and first["rowCount"] is None  # more to come
    second = _block(hq, app, 100, 200)
    assert len(second["rowData"]) == total - 100 and second["rowCount"] == total
    ids = [r["id"] for r in first["rowData"] + second["rowData"]]
    with Session() as s:
        assert sorted(ids) == sorted(s.scalars(sa.select(Report.id)))  # every report once, none twice
    # A block the grid asks for with another size answers that size.
    assert len(_block(hq, app, 10, 35)["rowData"]) == 25
    # Rows carry the names, the month's data status and the link; the failed year says why.
    rows = {r["id"]: r for r in first["rowData"] + second["rowData"]}
    kgw_oct = rows[reports["KGW"].id]
    assert kgw_oct["factory"] == "Kagwe (KGW)" and kgw_oct["period"] == "2026-10"
    assert kgw_oct["data_status"] == "submitted" and kgw_oct["download"] == "Download"  # web_helpers: Oct submitted
    assert kgw_oct["download__href"] == f"/reports/download/{reports['KGW'].id}"
    failed = next(r for r in rows.values() if r["status"] == "failed")
    assert failed["download"] == "factory MTR has no data row" and "download__href" not in failed
    # Junk requests get nothing rather than an error.
    for request in (None, [], {"startRow": "x"}, {"startRow": -5, "endRow": 10}):
        resp = post_callback(hq, app, "reports-table", [
            {"id": "reports-table", "property": "getRowsRequest", "value": request}],
            [{"id": f"reports-filter-{n}", "property": "value", "value": "ALL"}
             for n in ("scope", "period", "year", "status")])
        assert resp.get_json()["response"]["reports-table"]["getRowsResponse"] == {"rowData": [], "rowCount": 0}


def test_reports_grid_filters_narrow_the_rows(web):
    app, Session, _, reports = web
    _add_reports(Session, 30)
    hq = app.server.test_client()
    login(hq, "hq")
    # 30 months before October 2026 plus October itself: 31 Mataara months, and the failed year.
    mtr = _all_rows(hq, app, scope="MTR")
    assert {r["code"] for r in mtr} == {"MTR"} and len(mtr) == 31 + 1
    assert [r["period"] for r in _all_rows(hq, app, period="quarter")] == ["2026-Q3"]
    failed = _all_rows(hq, app, status="failed")
    assert [(r["code"], r["period"]) for r in failed] == [("MTR", "2025")]
    # 2025: January to December for four workbooks, and the failed MTR year.
    in_2025 = _all_rows(hq, app, year=2025)
    assert len(in_2025) == 12 * 4 + 1 and {r["period"][:4] for r in in_2025} == {"2025"}
    both = _all_rows(hq, app, scope="NETWORK", year="2026", period="month")
    assert sorted(r["period"] for r in both) == [f"2026-{m:02d}" for m in range(1, 11)]
    # A value the page never offers is "all", not an error.
    everything = len(_all_rows(hq, app))
    for junk in ("exploded", ["failed"], {"a": 1}, "²⁰²⁵", 1999, True, None):
        assert len(_all_rows(hq, app, period=junk, year=junk, status=junk)) == everything, junk
        if not isinstance(junk, str):
            assert len(_all_rows(hq, app, scope=junk)) == everything, junk
    assert _block(hq, app, 0, 100, scope="NOPE") == {"rowData": [], "rowCount": 0}  # no such workbook


def test_reports_grid_never_gives_a_manager_another_factorys_rows(web):
    app, Session, _, reports = web
    _add_reports(Session, 30)
    kagwe = app.server.test_client()
    login(kagwe, "kagwe")
    rows = _all_rows(kagwe, app, block=40)
    assert {r["code"] for r in rows} == {"KGW"} and len(rows) == 31 + 1  # 31 months and the quarter
    for scope in ("MTR", "CHG", "NETWORK"):  # asking for them by name (a crafted request) gets nothing
        assert _block(kagwe, app, 0, 100, scope=scope) == {"rowData": [], "rowCount": 0}
    assert _block(kagwe, app, 0, 100, status="failed") == {"rowData": [], "rowCount": 0}  # MTR's failure is not theirs
    anon = app.server.test_client()
    resp = post_callback(anon, app, "reports-table", [
        {"id": "reports-table", "property": "getRowsRequest", "value": {"startRow": 0, "endRow": 100}}],
        [{"id": f"reports-filter-{n}", "property": "value", "value": "ALL"} for n in ("scope", "period", "year", "status")])
    assert resp.status_code == 401 and "Kagwe" not in resp.get_data(as_text=True)


def test_filter_change_renders_a_new_grid(web):
    """A filter change (or a new version) renders the grid again under a new key, so it asks for its rows anew."""
    app, Session, _, _ = web
    hq = app.server.test_client()
    login(hq, "hq")
    inputs = [{"id": "reports-refresh", "property": "n_clicks", "value": None},
              {"id": "reports-generated", "property": "data", "value": None},
              {"id": "reports-verified", "property": "data", "value": None}] + [
        {"id": f"reports-filter-{n}", "property": "value", "value": v}
        for n, v in (("scope", "KGW"), ("period", "ALL"), ("year", "ALL"), ("status", "ALL"))]
    body = callback_body("..reports-list.children...reports-runs.children..", inputs,
                         changed=["reports-filter-scope.value"])
    first = json.dumps(hq.post("/_dash-update-component", json=body).get_json())
    second = json.dumps(hq.post("/_dash-update-component", json=body).get_json())
    assert '"rowModelType": "infinite"' in first and "reports-table" in first
    key = re.compile(r'"key": "(reports-grid-[^"]+)"')
    assert key.search(first) and key.search(first).group(1) != key.search(second).group(1)
    inputs[3]["value"] = "NOPE"  # nothing matches: a sentence, not an empty grid
    body = callback_body("..reports-list.children...reports-runs.children..", inputs)
    assert "No workbooks match these filters." in json.dumps(hq.post("/_dash-update-component", json=body).get_json())


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
    # The runs are a data grid: the status a badge coloured by the stored word, attempts a number.
    grid = _find(tree, "reports-runs-table")
    assert type(grid).__name__ == "AgGrid" and len(grid.rowData) == 1
    row = grid.rowData[0]
    assert (row["period"], row["status"], row["status__tone"], row["attempts"], row["owner"], row["finished"]) == (
        "2026-10", "failed", "failed", 1, "host:1", "—")
    assert row["error"] == "OperationalError: could not connect" and row["started"].endswith(" EAT")
    assert _find(tree, "reports-runs-table-search") is not None and _find(tree, "reports-runs-table-export") is not None
    with app.server.test_request_context("/reports"):
        login_user(_web_user(Session, "kagwe"))
        manager = page.layout()
        assert "reports-run-failed" not in _ids(manager) and _find(manager, "reports-runs-table") is None


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
    from callbacks.reports import _request_context, generate_month, grid_rows, period_options

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
        periods = [r["period"] for r in grid_rows(rows, cfg.tz)]
    assert periods == ["2026-Q4", "2026"]


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


def test_restating_from_the_reports_page(web):
    """HQ restates a month from the page (issue 18 left it to the CLI): with a reason the job restates
    (the basis says so, who asked and why, and the audit log too); without one it repeats the basis."""
    app, Session, cfg, _ = web
    from callbacks.reports import _request_context, generate_month
    from core.models import ReportBasis

    with app.server.test_request_context("/_dash-update-component"):
        login_user(_web_user(Session, "hq"))
        info = _request_context(None)
    message, made = generate_month(info, "2026-10", "KGW", None, "   ")  # blanks: no restatement
    assert made == 1 and message.color == "success"
    message, made = generate_month(info, "2026-10", "KGW", None, "grid factor 2026 published by EPRA")
    assert made == 1 and message.color == "success"
    with Session() as s:
        reports = s.scalars(sa.select(Report).where(Report.scope_key == "KGW").order_by(Report.version)).all()
        bases = [s.get(ReportBasis, r.id) for r in reports[-2:]]
        assert [b.restated for b in bases] == [False, True]
        assert bases[1].restatement_reason == "grid factor 2026 published by EPRA" and bases[1].restated_by == "hq"
        audit = s.scalars(sa.select(AuditLog).where(AuditLog.entity == "report").order_by(AuditLog.id)).all()[-1]
        assert audit.detail.endswith("restated: grid factor 2026 published by EPRA")
    # The page offers the field, labelled.
    from pages import reports as page

    with app.server.test_request_context("/reports"):
        login_user(_web_user(Session, "hq"))
        ids = _ids(page.layout())
    assert "reports-restate-reason" in ids

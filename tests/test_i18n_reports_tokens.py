"""Swahili on the reports and API tokens pages (issue 17 item 5): layouts, grid rows, messages and the
background job speak the user's language, and none of the English texts they replace are left.

Users choose Swahili (app_user.language = "sw"); the pages are rendered in their requests and the
callbacks reached through /_dash-update-component, as the browser does.
"""

from __future__ import annotations

import json
from datetime import date

import pytest
import sqlalchemy as sa
from flask_login import login_user
from web_helpers import NOW, client_as, make_web_db, post_callback, web_config

import core.accounts.auth as auth
from app import create_app
from core.accounts.auth import WebUser
from core.accounts.tokens import TOKEN_THROTTLE, create_token
from core.models import JobRun, User
from core.reporting.reports import generate_reports

MONTH = date(2026, 10, 1)


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("i18n_reports")
    engine, Session, fx, url = make_web_db(tmp / "i18n_reports.db")  # noqa: N806
    cfg = web_config(url, tmp)
    app = create_app(cfg, Session)
    assert generate_reports(Session, cfg, MONTH, requested_by="test", now=NOW).ok
    with Session() as s:
        s.execute(sa.update(User).where(User.username.in_(("hq", "kagwe", "auditor"))).values(language="sw"))
        s.add(JobRun(job="monthly_workbooks", period="2026-10", status="failed", attempts=1, owner="host:1",
                     error="OperationalError: could not connect"))
        create_token(s, s.scalar(sa.select(User).where(User.username == "kagwe")), "ERP", 30)
        s.commit()
    yield app, Session, cfg
    engine.dispose()


@pytest.fixture(autouse=True)
def _no_delay(monkeypatch):
    monkeypatch.setattr(auth, "FAILURE_DELAY_S", 0.0)
    auth.IP_THROTTLE.reset()
    TOKEN_THROTTLE.reset()


def _user(Session, username: str) -> WebUser:  # noqa: N803
    with Session() as s:
        return WebUser.from_row(s.scalars(sa.select(User).where(User.username == username)).one())


def _layout(app, Session, page, path: str, username: str) -> str:  # noqa: ANN001, N803
    with app.server.test_request_context(path):
        login_user(_user(Session, username))
        return json.dumps(page.layout(), default=lambda c: c.to_plotly_json())


def _both_ways(text: str, swahili: list[str], english: list[str]) -> None:
    for word in swahili:
        assert word in text, word
    for word in english:
        assert word not in text, word


def _rows(client, app) -> list[dict]:  # noqa: ANN001
    resp = post_callback(client, app, "reports-table", [
        {"id": "reports-table", "property": "getRowsRequest", "value": {"startRow": 0, "endRow": 100}}],
        [{"id": f"reports-filter-{n}", "property": "value", "value": "ALL"} for n in ("scope", "period", "year", "status")])
    return resp.get_json()["response"]["reports-table"]["getRowsResponse"]["rowData"]


def test_reports_page_in_swahili(web):
    app, Session, _ = web
    import pages.reports as page

    hq = _layout(app, Session, page, "/reports", "hq")
    _both_ways(hq, ["Tengeneza mwezi, robo ya mwaka ya CBAM au mwaka", "Vitabu vya kazi", "Onyesha upya",
                    "Uendeshaji uliopangwa", "Hali ya kitabu cha kazi", "Data ya mwezi", "Vitabu vyote vya kazi",
                    "Robo za CBAM", "Oktoba 2026", "Uendeshaji uliopangwa wa 2026-10 umeshindwa", "imeshindwa",
                    "Ukurasa"],  # the last: AG Grid's own words (localeText)
               ["Generate a month", "Workbooks", "Refresh", "Scheduled runs", "Workbook status", "Month's data",
                "All workbooks", "CBAM quarters", "October 2026", "The scheduled run", "(so far)"])
    auditor = _layout(app, Session, page, "/reports", "auditor")
    _both_ways(auditor, ["Thibitisha ripoti ya mwaka", "Taarifa ya uthibitishaji", "uhakikisho wa kuridhisha: bila "
                         "marekebisho"], ["Verify an annual report", "Verification statement", "Sign off"])
    # The grid's rows: status words, the link's text, the network's name; the colour keys stay English.
    rows = _rows(client_as(app, "hq"), app)
    kgw = next(r for r in rows if r["code"] == "KGW")
    assert (kgw["status"], kgw["status__tone"], kgw["download"]) == ("imekamilika", "done", "Pakua")
    assert (kgw["data_status"], kgw["data_status__tone"]) == ("imewasilishwa", "submitted")  # web_helpers: Oct
    assert next(r for r in rows if r["code"] == "NETWORK")["factory"] == "Mtandao"
    assert not {"done", "Download", "Network", "submitted"} & {v for r in rows for k, v in r.items()
                                                                if not k.endswith("__tone")}


def test_report_messages_and_the_background_job_in_swahili(web):
    app, Session, _ = web
    from callbacks.reports import _request_context, data_status_text, generate_month, verify_report

    with app.server.test_request_context("/_dash-update-component"):
        login_user(_user(Session, "hq"))
        info = _request_context(None)
        assert data_status_text("submitted · 2 approved, 1 submitted") == \
            "imewasilishwa · 2 zimeidhinishwa, 1 zimewasilishwa"
    assert info["language"] == "sw"
    steps = []
    message, made = generate_month(info, "2026-Q4", "KGW", steps.append)  # no request in the job: `info` says
    assert made == 1
    text = str(message.children)
    _both_ways(text, ["Kitabu cha kazi 1 cha Robo 4 2026 (Oktoba-Desemba) kimeandikwa."], ["written", "workbook"])
    assert [label for _, label in steps[:2]] == ["inaanza…", "inakusanya data ya mwezi…"]
    assert steps[-1] == (100, "vitabu vya kazi 1 kati ya 1")
    message, made = generate_month(info, "2031-01", "ALL")  # a core message, translated
    assert made == 0 and str(message.children).startswith("kipindi 2031-01 bado hakijaanza (leo: ")
    with app.server.test_request_context("/_dash-update-component"):
        login_user(_user(Session, "kagwe"))
        kagwe = _request_context(None)
    assert "Makao makuu na wasimamizi pekee" in str(generate_month(kagwe, "2026-10", "ALL")[0].children)
    with app.server.test_request_context("/_dash-update-component"):
        login_user(_user(Session, "auditor"))
        assert str(verify_report(_user(Session, "auditor"), None, None, None).children) == "Chagua ripoti ya mwaka."
    # Someone who kept English gets English (the admin never chose a language).
    with app.server.test_request_context("/_dash-update-component"):
        login_user(_user(Session, "admin"))
        english = _request_context(None)
    message, _n = generate_month(english, "2026-10", "KGW")
    assert str(message.children) == "1 workbook for October 2026 written."


def test_api_tokens_page_in_swahili(web):
    app, Session, _ = web
    import pages.api_tokens as page

    text = _layout(app, Session, page, "/account/api-tokens", "kagwe")
    _both_ways(text, ["Tokeni za API", "Unda tokeni", "Jina la tokeni", "inaisha baada ya siku 90", "haiishi kamwe"],
               ["Create token", "What is it for?", "expires in", "never expires", "Personal tokens"])
    client = client_as(app, "kagwe")
    table = post_callback(client, app, "api-tokens-table", [
        {"id": "api-tokens-refresh", "property": "data", "value": 1},
        {"id": "api-tokens-feedback", "property": "children", "value": None}]).get_data(as_text=True)
    _both_ways(table, ["Tokeni", "Ilitumika mwisho (EAT)", '"state":"hai"', "Batilisha", "Tafuta tokeni", "haijawahi"],
               ['"action":"Revoke"', '"state":"active"', "Last used", "Search tokens", '"last_used":"never"'])
    with Session() as s:
        other = s.scalar(sa.select(User.id).where(User.username == "mataara"))
        theirs, _t = create_token(s, s.get(User, other), "theirs", 30)
        s.commit()
        theirs_id = theirs.id
    data = {"value": theirs_id, "colId": "action", "rowIndex": 0, "rowId": "0", "timestamp": 1}
    refused = post_callback(client, app, "api-tokens-feedback", [
        {"id": "api-tokens-grid", "property": "cellRendererData", "value": data}]).get_data(as_text=True)
    _both_ways(refused, ["Haijabatilishwa: hakuna tokeni hiyo."], ["Not revoked", "no such token"])
    bad = post_callback(client, app, "api-tokens-new", [{"id": "api-tokens-create", "property": "n_clicks", "value": 1}],
                        [{"id": "api-tokens-name", "property": "value", "value": ""},
                         {"id": "api-tokens-expires", "property": "value", "value": 30}]).get_data(as_text=True)
    _both_ways(bad, ["Jina la tokeni ni herufi 80"], ["A token name is"])

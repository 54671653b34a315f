"""Issue 17 (H17b): data grids, the HQ submission grid, free month ranges with drill-down, raw channels.

Callback functions called as plain functions on the three-factory database of web_helpers
(NOW = 28 Nov 2026; months before September approved, September and October submitted on the
6th of the next month, November in progress).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import plotly
import pytest
import sqlalchemy as sa
from web_helpers import NOW, make_web_db, web_users

from callbacks.audit import audit_block, audit_view
from callbacks.grid import columns_and_priorities, md_link
from callbacks.hq_leaderboard import grid_rows, leaderboard_rows, leaderboard_table
from callbacks.hq_overview import overview_data, region_click_target, render_overview, trend_click_target
from callbacks.hq_submissions import submissions_view
from callbacks.ranges import parse_range_month
from callbacks.raw_channels import channels_view, day_range
from core.access import AccessDenied
from core.accounts.auth import WebUser
from core.insights.channels import MAX_POINTS, raw_channels
from core.insights.queries import MAX_RANGE_MONTHS, month_range
from core.insights.submissions import cell_for, submission_grid
from core.inventory.factors import load_factor_set
from core.inventory.monthly import monthly_inventory
from core.models import QUALITY_INVALID, QUALITY_VALID, AuditLog, MonthlySubmission, Reading
from core.timeutil import DEFAULT_TZ

TODAY = date(2026, 11, 28)  # NOW in EAT


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    engine, Session, fx, _ = make_web_db(tmp_path_factory.mktemp("grids") / "grids.db")
    ids = fx.factory_ids
    users = web_users(ids)
    yield Session, fx, users
    engine.dispose()


def dump(component) -> str:
    return json.dumps(component, cls=plotly.utils.PlotlyJSONEncoder)


# --- shared grid -----------------------------------------------------------------------------

def test_grid_pins_the_first_column_and_strips_priorities():
    defs, prio = columns_and_priorities([{"field": "a", "priority": 3}, {"field": "b", "priority": 2},
                                         {"field": "c"}])
    assert defs[0]["pinned"] == "left" and prio == {"a": 1, "b": 2, "c": 1}
    assert all("priority" not in d for d in defs)  # AG Grid would warn about an unknown key


def test_number_columns_show_thousands_separated_except_years_and_ids():
    defs, _prio = columns_and_priorities([
        {"field": "code"}, {"field": "co2", "type": "numericColumn"},
        {"field": "year", "type": "numericColumn", "grouped": False}, {"field": "text"}])
    by = {d["field"]: d for d in defs}
    assert by["co2"]["valueFormatter"] == {"function": "ctNumber(params)"}  # assets/ct_grid.js
    assert "valueFormatter" not in by["year"] and "valueFormatter" not in by["text"]
    assert all("grouped" not in d for d in defs)


def test_a_column_is_never_narrower_than_its_longest_header_word():
    defs, _prio = columns_and_priorities([
        {"field": "n", "headerName": "Id"},
        {"field": "a", "headerName": "Data availability 30 d (%)"},
        {"field": "w", "headerName": "Wide", "minWidth": 300}])
    by = {d["field"]: d["minWidth"] for d in defs}
    assert by["n"] == 90  # short words: the grid's default minimum
    # "availability": 12 characters at 8.5 px and 62 px of padding and icons (callbacks/grid.py).
    assert by["a"] == round(12 * 8.5 + 62) == 164
    assert by["w"] == 300  # a wider minimum a page asked for stays


def test_markdown_link_escapes_the_text():
    assert md_link("A [x](evil)", "/p") == r"[A \[x\](evil)](/p)"


# --- month ranges ----------------------------------------------------------------------------

def test_month_range_rules():
    assert month_range(None, None, TODAY) is None
    assert month_range(date(2026, 3, 15), date(2026, 1, 1), TODAY) == [date(2026, 1, 1), date(2026, 2, 1),
                                                                       date(2026, 3, 1)]  # swapped
    assert month_range(date(2026, 5, 1), None, TODAY) == [date(2026, 5, 1)]  # one end: one month
    assert month_range(date(2026, 10, 1), date(2027, 3, 1), TODAY)[-1] == date(2026, 11, 1)  # no future
    long = month_range(date(2000, 1, 1), date(2026, 11, 1), TODAY)
    assert len(long) == MAX_RANGE_MONTHS and long[-1] == date(2026, 11, 1)
    assert parse_range_month("2026-05", TODAY) == date(2026, 5, 1)
    for junk in ("2027-01", "1900-01", "x", 5, [1], {"a": 1}, "2026-5-1-1"):
        assert parse_range_month(junk, TODAY) is None


def test_leaderboard_range_counts_the_months_picked(db):
    Session, fx, users = db
    rows = leaderboard_rows(users["hq"], "intensity", "latest", None, Session, DEFAULT_TZ, NOW,
                            first="2026-07", last="2026-08")
    assert len(rows) == 3 and all(r.months == 2 and r.months_reported == 2 for r in rows)
    # Independently: Σ (Scope 1 + Scope 2) ÷ Σ made tea over July and August from the monthly inventory.
    with Session() as s:
        inv = monthly_inventory(s, [date(2026, 7, 1), date(2026, 8, 1)], load_factor_set(s),
                                [fx.factory_ids["KGW"]], tz=DEFAULT_TZ, now=NOW)
    expected = sum(i.total_kg for i in inv) / sum(i.made_tea_kg for i in inv)
    kgw = next(r for r in rows if r.code == "KGW")
    assert kgw.intensity == pytest.approx(expected, rel=1e-9)
    assert sum(i.made_tea_kg for i in inv) == 2 * 220_000  # web_helpers: 220,000 kg a month for KGW
    # September and October are only submitted: nothing ranked, both months pending.
    pending = leaderboard_rows(users["hq"], "intensity", "latest", None, Session, DEFAULT_TZ, NOW,
                               first="2026-09", last="2026-10")
    assert all(r.intensity is None and r.months_pending == 2 for r in pending)
    # A factory manager's range is still their own factory only.
    own = leaderboard_rows(users["kagwe"], "intensity", "latest", None, Session, DEFAULT_TZ, NOW,
                           first="2026-01", last="2026-08")
    assert [r.code for r in own] == ["KGW"]


def test_leaderboard_grid_rows_keep_numbers_and_links(db):
    Session, fx, users = db
    rows = leaderboard_rows(users["hq"], "intensity", "last_12", None, Session, DEFAULT_TZ, NOW)
    data = grid_rows(rows)
    assert [d["rank"] for d in data] == [1, 2, 3]
    assert all(isinstance(d["intensity"], float) for d in data)  # numbers sort as numbers
    kgw = next(d for d in data if d["code"] == "KGW")
    assert kgw["factory"] == f"[Kagwe (KGW)](/factory/history?factory={fx.factory_ids['KGW']})"
    assert kgw["result"] in ("met", "missed") and "awaiting approval" in kgw["status"]
    shown = dump(leaderboard_table(rows, "Jan 2026 – Aug 2026"))
    assert "hq-leaderboard-grid" in shown and "Months: Jan 2026 \\u2013 Aug 2026." in shown


def test_overview_range_totals_and_trend(db):
    Session, _, users = db
    ov = overview_data(users["hq"], Session, DEFAULT_TZ, NOW, first="2026-07", last="2026-10")
    assert ov.range_months == [date(2026, 7, 1), date(2026, 8, 1), date(2026, 9, 1), date(2026, 10, 1)]
    assert [m for m, _ in ov.trend] == ov.range_months
    assert ov.ytd.n == 3 * 2 and ov.ytd_pending.n == 3 * 2  # Jul, Aug approved; Sep, Oct submitted
    kpis = dump(render_overview(ov)[0])
    assert "Scope 1 fossil, Jul 2026 \\u2013 Oct 2026" in kpis
    default = overview_data(users["hq"], Session, DEFAULT_TZ, NOW)
    assert default.range_months is None and len(default.trend) == 13
    junk = overview_data(users["hq"], Session, DEFAULT_TZ, NOW, first=[1], last={"a": 1})
    assert junk.range_months is None


def test_drill_down_targets():
    click = {"points": [{"x": "Region 2", "y": 10}]}
    assert region_click_target(click, None, None, TODAY) == "/hq/leaderboard?region=2"
    assert region_click_target(click, "2026-01", "2026-06", TODAY) == "/hq/leaderboard?region=2&from=2026-01&to=2026-06"
    assert region_click_target(click, "evil", None, TODAY) == "/hq/leaderboard?region=2"
    assert trend_click_target({"points": [{"x": "2026-05-01"}]}, TODAY) == "/hq/leaderboard?month=2026-05"
    for bad in (None, {}, {"points": []}, {"points": [{"x": "Region x"}]}, {"points": [{"x": "//evil.com"}]}):
        assert region_click_target(bad, today=TODAY) is None and trend_click_target(bad, TODAY) is None


def test_leaderboard_page_reads_drill_down_address():
    from callbacks.hq_leaderboard import url_choices

    assert url_choices({"region": "2", "month": "2026-05"}, TODAY) == (2, "2026-05", "2026-05")
    assert url_choices({"from": "2026-01", "to": "2026-03"}, TODAY) == (None, "2026-01", "2026-03")
    assert url_choices({"region": "10" * 20, "month": "../x", "from": "1900-01"}, TODAY) == (None, None, None)


# --- audit log paging --------------------------------------------------------------------------

def test_audit_grid_pages_from_the_server(db):
    Session, _, users = db
    base = datetime(2026, 1, 1, tzinfo=UTC)
    with Session() as s:
        for i in range(230):
            s.add(AuditLog(at=base + timedelta(minutes=i), username="pager", action="reopen", entity="grid-test",
                           entity_id=str(i), detail=f"row {i}"))
        s.commit()
    assert "audit-grid" in dump(audit_view(users["auditor"], "reopen", None, 100, Session))
    seen = []
    start = 0
    while True:
        block = audit_block(users["auditor"], "reopen", "grid-test", {"startRow": start, "endRow": start + 100},
                            Session)
        seen += [r["entity"] for r in block["rowData"]]
        if block["rowCount"] is not None:
            break
        start += 100
    assert block["rowCount"] == 230 == len(seen) == len(set(seen))  # every row once, the end reported
    assert seen[0] == "grid-test 229" and seen[-1] == "grid-test 0"  # newest first
    for user in ("hq", "kagwe"):  # the paging callback checks the user like every callback
        assert audit_block(users[user], None, None, {"startRow": 0, "endRow": 100}, Session) == \
            {"rowData": [], "rowCount": 0}
    for request in (None, [], {"startRow": "x"}, {"startRow": -5, "endRow": 10}, {"startRow": 10**30, "endRow": 1}):
        assert audit_block(users["auditor"], None, None, request, Session) == {"rowData": [], "rowCount": 0}


# --- submission grid ---------------------------------------------------------------------------

def test_cell_rules():
    due = datetime(2026, 11, 10, 21, 0, tzinfo=UTC)  # end of 10 Nov EAT
    assert cell_for("approved", due - timedelta(days=1), due, NOW).text == "approved"
    assert cell_for("submitted", due + timedelta(hours=1), due, NOW).text == "submitted · late"
    assert cell_for("draft", None, due, NOW).text == "draft · overdue"
    assert cell_for(None, None, due, NOW).text == "missing · overdue"
    assert cell_for(None, None, due, due - timedelta(days=2)).text == "not yet due"
    assert cell_for("draft", None, due, due - timedelta(days=2)).text == "draft"


def test_submission_grid_statuses_and_scope(db):
    Session, fx, users = db
    months = [date(2026, 8, 1), date(2026, 9, 1), date(2026, 10, 1), date(2026, 11, 1)]
    with Session() as s:
        rows = submission_grid(s, users["hq"], months, NOW, DEFAULT_TZ)
        assert [r.code for r in rows] == ["CHG", "KGW", "MTR"]  # by name
        kgw = next(r for r in rows if r.code == "KGW")
        assert [kgw.cells[m].text for m in months] == ["approved", "submitted", "submitted", "not yet due"]
        assert kgw.cells[date(2026, 10, 1)].due_at == datetime(2026, 11, 10, 21, 0, tzinfo=UTC)
        assert [r.code for r in submission_grid(s, users["kagwe"], months, NOW)] == ["KGW"]
        assert submission_grid(s, None, months, NOW) == []
    view = dump(submissions_view(users["hq"], "12", Session, DEFAULT_TZ, NOW))
    assert f"/factory/entry?factory={fx.factory_ids['KGW']}&month=2026-10" in view
    assert "Oct 2026 \\u00b7 due 10 Nov" in view and "hq-submissions-grid" in view
    assert "October 2026: 3 submitted." in view
    mine = dump(submissions_view(users["kagwe"], "bogus", Session, DEFAULT_TZ, NOW))
    assert "Kagwe" in mine and "Mataara" not in mine and "Chinga" not in mine


def test_submission_grid_marks_late_and_missing(tmp_path):
    engine, Session, fx, _ = make_web_db(tmp_path / "late.db")
    try:
        with Session() as s:
            sub = s.scalar(sa.select(MonthlySubmission).where(
                MonthlySubmission.factory_id == fx.factory_ids["MTR"], MonthlySubmission.month == date(2026, 9, 1)))
            sub.submitted_at = datetime(2026, 10, 12, 8, 0, tzinfo=UTC)  # due end of 10 Oct EAT
            s.delete(s.scalar(sa.select(MonthlySubmission).where(
                MonthlySubmission.factory_id == fx.factory_ids["CHG"], MonthlySubmission.month == date(2026, 10, 1))))
            s.commit()
            rows = {r.code: r for r in submission_grid(s, None or WebUser(2, "hq", "hq", None, True),
                                                       [date(2026, 9, 1), date(2026, 10, 1)], NOW)}
        assert rows["MTR"].cells[date(2026, 9, 1)].text == "submitted · late"
        assert rows["CHG"].cells[date(2026, 10, 1)].text == "missing · overdue"
    finally:
        engine.dispose()


# --- raw channels ------------------------------------------------------------------------------

def _add_readings(Session, device_id: str, factory_id: int, start: datetime, n: int, step_s: float,  # noqa: N803
                  spike_at: int | None = None, flagged: tuple[int, ...] = ()) -> None:
    with Session() as s:
        for i in range(n):
            ppm = 60_000.0 + (i % 50)
            if i == spike_at:
                ppm = 150_000.0
            s.add(Reading(device_id=device_id, factory_id=factory_id, ts=start + timedelta(seconds=i * step_s),
                          co2_ppm=ppm if i not in flagged else 999_999.0, flue_temp_c=150.0 + (i % 7),
                          velocity_m_s=7.0, co2_kg_s=0.2, quality=QUALITY_INVALID if i in flagged else QUALITY_VALID))
        s.commit()


def test_raw_channels_scope_and_raw_mode(db):
    Session, fx, users = db
    kgw = fx.factory_ids["KGW"]
    with Session() as s:
        with pytest.raises(AccessDenied):
            raw_channels(s, users["kagwe"], fx.factory_ids["MTR"], NOW - timedelta(hours=2), NOW)
        series = raw_channels(s, users["kagwe"], kgw, NOW - timedelta(hours=2), NOW + timedelta(minutes=1))
    assert [x.device_id for x in series] == ["KGW-S1"] and series[0].mode == "raw"
    assert len(series[0].ts) == 60 and series[0].values["co2_ppm"][0] == 80_000.0  # web_helpers' hour of readings
    fig, note = channels_view(users["kagwe"], fx.factory_ids["MTR"], "2026-11-27", "2026-11-28", Session,
                              DEFAULT_TZ, NOW)
    shown = dump(fig) + dump(note)
    assert "You may not see this factory" in shown and "MTR-S1" not in shown and "80100" not in shown


def test_raw_channels_downsample_keeps_spikes_and_flags(db):
    Session, fx, users = db
    chg = fx.factory_ids["CHG"]
    start = datetime(2026, 6, 1, 0, 0, tzinfo=UTC)
    n = 3 * 86400 // 30  # three days at 30 s: 8,640 readings, more than MAX_POINTS
    _add_readings(Session, "CHG-S1", chg, start, n, 30, spike_at=5000, flagged=(10, 4000))
    with Session() as s:
        (series,) = raw_channels(s, users["hq"], chg, start, start + timedelta(days=3))
    assert series.mode == "minmax" and series.n_readings == n
    assert len(series.ts) <= MAX_POINTS and all(len(v) == len(series.ts) for v in series.values.values())
    assert max(series.values["co2_ppm"]) == 150_000.0  # the spike survives the reduction
    assert min(series.values["co2_ppm"]) == 60_000.0
    assert series.n_flagged == 2 and series.flagged_values["co2_ppm"] == [999_999.0, 999_999.0]
    assert 999_999.0 not in series.values["co2_ppm"]  # flagged readings are drawn apart, not in the line
    fig, note = channels_view(users["hq"], chg, "2026-06-01", "2026-06-03", Session, DEFAULT_TZ, NOW)
    traces = fig.to_plotly_json()["data"]
    assert all(len(t["x"]) <= MAX_POINTS for t in traces)
    assert any(t["marker"]["symbol"] == "x" for t in traces if t.get("mode") == "markers")
    assert "min and max per time bucket" in dump(note)


def test_raw_channels_rollup_mode_for_long_ranges(db, monkeypatch):
    import core.insights.channels as channels

    Session, fx, users = db
    monkeypatch.setattr(channels, "RAW_BUCKET_LIMIT", 10)  # as if the range held millions of readings
    kgw = fx.factory_ids["KGW"]
    with Session() as s:
        (series,) = raw_channels(s, users["hq"], kgw, NOW - timedelta(days=20), NOW, max_points=50)
    # 20 days of hourly rollups are 480 hours, more than 50 points: daily means instead.
    assert series.mode == "daily" and len(series.ts) <= 50
    # web_helpers: each day 1,440 readings, 1,296 valid, so 144 flagged per day.
    assert series.flagged_count and set(series.flagged_count) == {144}


def test_day_range_rules():
    assert day_range(None, None, DEFAULT_TZ, NOW) == (TODAY - timedelta(days=1), TODAY)
    assert day_range("2026-11-20", "2026-11-10", DEFAULT_TZ, NOW) == (date(2026, 11, 10), date(2026, 11, 20))
    first, last = day_range("2001-01-01", "2026-11-28", DEFAULT_TZ, NOW)
    assert (last - first).days == 365
    assert day_range("2030-01-01", [1], DEFAULT_TZ, NOW) == (TODAY - timedelta(days=1), TODAY)


# --- reports grid (H17d) -----------------------------------------------------------------------

def test_reports_grid_names_status_and_links(db):
    from types import SimpleNamespace

    from callbacks.reports import data_statuses, grid_rows, reports_view

    Session, fx, _ = db
    kgw = fx.factory_ids["KGW"]

    def rep(rid, scope, period, month, status="done", factory_id=kgw, error=None):  # noqa: ANN001, ANN202
        return SimpleNamespace(id=rid, scope_key=scope, factory_id=factory_id, period=period, month=month,
                               version=1, status=status, generated_at=NOW if status == "done" else None,
                               requested_by="scheduler", sha256="ab" * 32 if status == "done" else None, error=error)

    reports = [rep(1, "KGW", "month", date(2026, 8, 1)), rep(2, "KGW", "month", date(2026, 10, 1)),
               rep(3, "KGW", "month", date(2026, 11, 1), status="failed", error="no data"),
               rep(4, "KGW", "quarter", date(2026, 10, 1)), rep(5, "NETWORK", "month", date(2026, 10, 1), factory_id=None),
               rep(6, "KGW", "quarter", date(2026, 7, 1))]
    with Session() as s:
        statuses = data_statuses(s, reports)
    # web_helpers: months more than two back approved, the last two submitted, the current one not started.
    assert statuses == {1: "approved", 2: "submitted", 3: "missing", 4: "missing · 2 missing, 1 submitted",
                        6: "submitted · 1 submitted, 2 approved"}
    rows = {r["id"]: r for r in grid_rows(reports, DEFAULT_TZ, {}, {kgw: "Kagwe"}, statuses)}
    assert rows[1]["factory"] == "Kagwe (KGW)" and rows[5]["factory"] == "Network" and rows[5]["data_status"] == ""
    assert rows[1]["download__href"] == "/reports/download/1" and rows[1]["download__id"] == "reports-download-1"
    assert rows[3]["download"] == "no data" and "download__href" not in rows[3]  # a failure says why, no link
    assert rows[4]["period"] == "2026-Q4"
    assert (rows[4]["data_status__tone"], rows[1]["status__tone"], rows[3]["status"]) == ("missing", "done", "failed")
    _, _, users = db
    # No report in this database yet: a sentence instead of an empty grid (the paging grid itself:
    # test_reports_page.py).
    assert "No reports yet." in dump(reports_view(users["hq"], {}, Session, DEFAULT_TZ))


def test_history_months_grid_keeps_numbers(db):
    from callbacks.factory_history import history_data, month_grid_rows, monthly_table

    Session, fx, users = db
    data = history_data(users["hq"], fx.factory_ids["KGW"], "2026-08-01", "2026-10-31", Session, DEFAULT_TZ, NOW)
    rows = month_grid_rows(data["monthly"])
    assert [r["month"] for r in rows] == ["2026-08", "2026-09", "2026-10"]  # ISO months sort as text
    assert [r["status"] for r in rows] == ["approved", "submitted", "submitted"]
    assert all(r["made_tea_t"] == 220.0 for r in rows)  # web_helpers: 220,000 kg a month for KGW
    assert all(isinstance(r["scope1_t"], float) for r in rows)
    shown = dump(monthly_table(data["monthly"]))
    assert "factory-history-month-table" in shown and "factory-history-month-table-export" in shown


def test_evidence_file_rows_link_to_the_download_route():
    from types import SimpleNamespace

    from callbacks.evidence import file_rows

    f = SimpleNamespace(id=7, source="diesel", month=date(2026, 10, 1), declaration_id=None, filename="inv.pdf",
                        content_type="application/pdf", size_bytes=1234, sha256="c" * 64, uploaded_by="kagwe",
                        uploaded_at=NOW)
    (row,) = file_rows([f], DEFAULT_TZ)
    assert (row["for"], row["file"], row["file__href"], row["file__id"]) == (
        "diesel 2026-10", "inv.pdf", "/evidence/download/7", "evidence-download-7")
    assert row["bytes"] == 1234 and row["sha256"] == "c" * 16

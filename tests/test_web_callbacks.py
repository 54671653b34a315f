"""Callback functions called as plain functions: what each page shows, partial updates, exports."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

import dash
import pytest
import sqlalchemy as sa
from web_helpers import NOW, make_web_db, web_users

from callbacks.admin import admin_action, admin_tables
from callbacks.audit import audit_view
from callbacks.factory_entry import do_action, load_month, month_options, preview_panel
from callbacks.factory_history import history_data, parse_range, render_history, safe_cell, to_csv, to_xlsx
from callbacks.factory_live import render_live, tick_live
from callbacks.figures import local_naive
from callbacks.hq_leaderboard import leaderboard_rows, leaderboard_table
from callbacks.hq_nodes import nodes_data, render_nodes
from callbacks.hq_overview import overview_data, render_overview
from core.access import AccessDenied, can_read_factory
from core.accounts.auth import WebUser
from core.models import Reading
from core.timeutil import DEFAULT_TZ, add_months, local_date, month_start


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    engine, Session, fx, _ = make_web_db(tmp_path_factory.mktemp("cb") / "cb.db")
    ids = fx.factory_ids
    users = web_users(ids)
    yield Session, ids, users
    engine.dispose()


def dump(component) -> str:
    return json.dumps(component, cls=__import__("plotly").utils.PlotlyJSONEncoder)


def test_render_live_full(db):
    Session, ids, users = db
    kpis, hour, day, message, rows, hidden, state, note = render_live(users["kagwe"], ids["KGW"], Session, NOW,
                                                                      DEFAULT_TZ)
    assert "0.250 kg/s" in dump(kpis) and "20.00 t" in dump(kpis)
    assert len(hour.data) == 1 and len(hour.data[0].x) == 60
    assert state["factory"] == ids["KGW"] and state["devices"] == ["KGW-S1"]
    assert "Kagwe" in note
    # The node grid's rows: this factory's node only; numbers stay numbers, the status badge keeps its tone.
    assert message is None and hidden is False
    assert rows == [{"node": "KGW-S1", "stack": "Boiler 1", "last_seen": "2026-11-28 12:29 EAT", "signal_dbm": -60,
                     "firmware": "1.0.0", "buffered": 0, "status": "online", "status__tone": "ok"}]


def test_render_live_denied(db):
    Session, ids, users = db
    kpis, hour, day, message, rows, hidden, state, note = render_live(users["kagwe"], ids["MTR"], Session, NOW,
                                                                      DEFAULT_TZ)
    assert "You may not see this factory" in dump(kpis) and state is None
    assert message is None and rows == [] and hidden is True  # no grid rows at all
    assert "MTR" not in dump(hour)


def test_live_tick_sends_only_the_node_rows(db):
    """A refresh sends the grid's rows, never the grid: the mounted grid keeps its sort and search."""
    Session, ids, users = db
    *_, state, _ = render_live(users["hq"], ids["CHG"], Session, NOW, DEFAULT_TZ)
    out = tick_live(users["hq"], ids["CHG"], state, Session, NOW + timedelta(seconds=5), DEFAULT_TZ)
    assert isinstance(out[1], dash.Patch)
    message, rows, hidden = out[3:6]
    assert message is None and hidden is False
    assert [(r["node"], r["status"], r["status__tone"]) for r in rows] == [("CHG-S1", "offline", "missing")]
    assert "AgGrid" not in dump(out)  # rows only


def test_tick_extends_with_a_patch(db):
    Session, ids, users = db
    *_, state, _ = render_live(users["kagwe"], ids["KGW"], Session, NOW, DEFAULT_TZ)
    with Session() as s:
        s.add(Reading(device_id="KGW-S1", factory_id=ids["KGW"], ts=NOW + timedelta(seconds=10), co2_ppm=81_000,
                      flue_temp_c=181, velocity_m_s=8.1, co2_kg_s=0.3, quality=0))
        s.commit()
    later = NOW + timedelta(seconds=15)
    kpis, patch, day, *_nodes, new_state, _ = tick_live(users["kagwe"], ids["KGW"], state, Session, later, DEFAULT_TZ)
    assert isinstance(patch, dash.Patch)
    ops = patch.to_plotly_json()["operations"]
    extends = [op for op in ops if op["operation"] == "Extend"]
    assert extends and extends[1]["params"]["value"] == [0.3]
    assert day is dash.no_update
    assert new_state["ticks"] == 1 and new_state["last_ts"] > state["last_ts"]
    # A second tick with nothing new extends nothing.
    _, patch2, *_ = tick_live(users["kagwe"], ids["KGW"], new_state, Session, later, DEFAULT_TZ)
    assert not [op for op in patch2.to_plotly_json()["operations"] if op["operation"] == "Extend"]


def test_tick_reads_the_hour_once(db):
    Session, ids, users = db
    *_, state, _ = render_live(users["kagwe"], ids["KGW"], Session, NOW, DEFAULT_TZ)
    engine = Session.kw["bind"]
    seen = []

    def grab(conn, cursor, statement, *args):  # noqa: ANN001, ANN202
        if "FROM reading" in statement:
            seen.append(" ".join(statement.split()))

    sa.event.listen(engine, "before_cursor_execute", grab)
    try:
        kpis, patch, *_ = tick_live(users["kagwe"], ids["KGW"], state, Session, NOW, DEFAULT_TZ)
    finally:
        sa.event.remove(engine, "before_cursor_execute", grab)
    assert isinstance(patch, dash.Patch) and "kg/s" in dump(kpis)
    ranged = [q for q in seen if "LIMIT" not in q]
    assert len(ranged) == 1  # only the new readings since the last tick; the cards use newest-per-device


def test_tick_redraws_after_factory_change(db):
    Session, ids, users = db
    *_, state, _ = render_live(users["hq"], ids["KGW"], Session, NOW, DEFAULT_TZ)
    out = tick_live(users["hq"], ids["MTR"], state, Session, NOW, DEFAULT_TZ)
    assert not isinstance(out[1], dash.Patch) and out[-2]["factory"] == ids["MTR"]


@pytest.mark.parametrize("last_ts", ["not a date", "", None, 12, "2026-11-28T08:00:00", ["x"]])
def test_tick_with_malformed_state_redraws_the_live_window(db, last_ts):
    Session, ids, users = db
    *_, state, _ = render_live(users["kagwe"], ids["KGW"], Session, NOW, DEFAULT_TZ)
    out = tick_live(users["kagwe"], ids["KGW"], dict(state, last_ts=last_ts), Session, NOW, DEFAULT_TZ)
    assert not isinstance(out[1], dash.Patch)  # a full render of the last hour, as with no state
    assert len(out[1].data[0].x) >= 60 and out[-2]["ticks"] == 0


@pytest.mark.parametrize("bad", [{"ticks": "9"}, {"devices": "KGW-S1"}, {"devices": [1]}, {"factory": "1"}])
def test_tick_with_malformed_fields_redraws(db, bad):
    Session, ids, users = db
    *_, state, _ = render_live(users["kagwe"], ids["KGW"], Session, NOW, DEFAULT_TZ)
    out = tick_live(users["kagwe"], ids["KGW"], dict(state, **bad), Session, NOW, DEFAULT_TZ)
    assert not isinstance(out[1], dash.Patch) and out[-2]["factory"] == ids["KGW"]


def test_tick_with_ancient_last_ts_reads_only_the_live_window(db):
    Session, ids, users = db
    *_, state, _ = render_live(users["kagwe"], ids["KGW"], Session, NOW, DEFAULT_TZ)
    with Session() as s:  # a reading from long before the live window
        s.add(Reading(device_id="KGW-S1", factory_id=ids["KGW"], ts=NOW - timedelta(days=40), co2_ppm=1.0,
                      flue_temp_c=1.0, velocity_m_s=1.0, co2_kg_s=9.0, quality=0))
        s.commit()
    forged = dict(state, last_ts="1970-01-01T00:00:00+00:00")
    _, patch, *_ = tick_live(users["kagwe"], ids["KGW"], forged, Session, NOW, DEFAULT_TZ)
    extends = [op for op in patch.to_plotly_json()["operations"] if op["operation"] == "Extend"]
    xs = [x for op in extends if op["location"][-1] == "x" for x in op["params"]["value"]]
    assert xs and min(xs) >= local_naive(NOW - timedelta(hours=1))  # only the last hour was read


def test_history_gaps_and_export(db):
    Session, ids, users = db
    today = local_date(NOW, DEFAULT_TZ)
    data = history_data(users["hq"], ids["MTR"], (today - timedelta(days=30)).isoformat(), today.isoformat(),
                        Session, DEFAULT_TZ, NOW)
    kpis, daily, monthly, inten, recon, table = render_history(data)
    bars = [list(t.y) for t in daily.data if t.type == "bar"]
    per_day = list(zip(*bars, strict=True))
    assert sum(all(v is None for v in day) for day in per_day) == 3  # the three missing days are gaps
    assert not any(v == 0 for day in per_day for v in day)
    fossil, biogenic = bars[0], bars[1]
    both = [(f, b) for f, b in zip(fossil, biogenic, strict=True) if f is not None]
    assert both and all(f < b for f, b in both)  # firewood: mostly biogenic
    assert "3 d" in dump(kpis)
    csv_text = to_csv(data)
    assert "day_eat" in csv_text and "MTR" in csv_text
    gap_day = (today - timedelta(days=11)).isoformat()
    assert f"MTR,{gap_day},," in csv_text
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(to_xlsx(data)))
    assert wb.sheetnames == ["Monthly", "Daily"]
    assert wb["Daily"].max_row == len(data["days"]) + 1


def test_history_denied(db):
    Session, ids, users = db
    data = history_data(users["kagwe"], ids["MTR"], None, None, Session, DEFAULT_TZ, NOW)
    assert data == {"denied": True}
    assert "You may not see" in dump(render_history(data)[0])


def test_excel_cells_never_formulas(db):
    Session, ids, users = db
    data = history_data(users["hq"], ids["KGW"], None, None, Session, DEFAULT_TZ, NOW)
    data["factory_name"] = "=HYPERLINK(\"http://x\",\"y\")"
    data["factory_code"] = "+KGW"
    from openpyxl import load_workbook

    raw = to_xlsx(data)
    with zipfile.ZipFile(io.BytesIO(raw)) as z:
        assert 'quotePrefix="1"' in z.read("xl/styles.xml").decode()
    wb = load_workbook(io.BytesIO(raw))
    ws = wb["Monthly"]
    # The text is kept as typed (no visible apostrophe) and flagged with Excel's quote prefix.
    assert ws["A1"].value == '=HYPERLINK("http://x","y") (+KGW)'
    assert ws["A1"].data_type == "s" and ws["A1"].quotePrefix
    assert ws["A3"].value == "+KGW" and ws["A3"].data_type == "s" and ws["A3"].quotePrefix
    daily = wb["Daily"]
    assert daily["A2"].value == "+KGW" and daily["A2"].quotePrefix
    assert not ws["B3"].quotePrefix  # ordinary text (the month) is not flagged
    assert all(not (isinstance(c.value, str) and c.value.startswith("'")) for row in ws.iter_rows() for c in row)
    # CSV has no cell types: there the apostrophe is the protection.
    csv_text = to_csv(data)
    assert "'=HYPERLINK" in csv_text and "'+KGW," in csv_text


@pytest.mark.parametrize(("value", "expected"), [("=1+1", "'=1+1"), ("-2", "'-2"), ("@x", "'@x"), ("ok", "ok"),
                                                 (-2.5, -2.5), (None, None)])
def test_safe_cell(value, expected):
    assert safe_cell(value) == expected


def test_parse_range_clips():
    today = local_date(NOW, DEFAULT_TZ)
    first, last = parse_range("2020-01-01", "2030-01-01", today)
    assert last == today and (last - first).days == 399
    assert parse_range("junk", None, today)[1] == today


def test_overview_render(db):
    Session, _, users = db
    ov = overview_data(users["hq"], Session, DEFAULT_TZ, NOW)
    kpis, trend, mapfig, regions, message, rows, hidden = render_overview(ov)
    text = dump(kpis)
    assert "kg CO2e/kg" in text and "2 of 3" in text and "67 %" in text
    assert all("tile" not in str(t.type) and t.type == "scatter" for t in mapfig.data)  # no map tiles
    # The current month has no energy data yet: a gap, not a zero.
    assert trend.data[0].y[-1] is None
    # The data-availability grid: every factory, worst first; the share as a number, the verdict as a badge.
    assert message is None and hidden is False
    assert [(r["code"], r["result__tone"]) for r in rows] == [("CHG", "missed"), ("MTR", "ok"), ("KGW", "ok")]
    assert all(isinstance(r["availability_pct"], int) for r in rows)
    assert rows[0]["availability_pct"] < 50 <= rows[1]["availability_pct"]
    assert rows[0]["factory"] == "Chinga (CHG)" and rows[0]["region"] == "Region 2"
    assert rows[0]["result"] == "below 50 %" and rows[1]["result"] == "at least 50 %"


def test_overview_uptime_grid_holds_only_the_managers_factory(db):
    Session, _, users = db
    *_, message, rows, hidden = render_overview(overview_data(users["kagwe"], Session, DEFAULT_TZ, NOW))
    assert [r["code"] for r in rows] == ["KGW"] and hidden is False
    assert "MTR" not in dump(rows) and "CHG" not in dump(rows) and "Mataara" not in dump(rows)


def test_map_click_opens_history():
    from callbacks.hq_overview import map_click_target

    assert map_click_target({"points": [{"customdata": 7}]}) == "/factory/history?factory=7"
    assert map_click_target({"points": [{}]}) is None and map_click_target(None) is None


def test_leaderboard_render(db):
    Session, ids, users = db
    rows = leaderboard_rows(users["hq"], "emissions", "last_12", None, Session, DEFAULT_TZ, NOW)
    table = dump(leaderboard_table(rows))
    assert f"/factory/history?factory={ids['KGW']}" in table
    assert leaderboard_rows(users["hq"], "bogus", "bogus", "x", Session, DEFAULT_TZ, NOW)


def test_nodes_render(db):
    Session, _, users = db
    nodes, listeners = nodes_data(users["hq"], Session, DEFAULT_TZ, NOW)
    summary, grid, lst = render_nodes(nodes, listeners, True, DEFAULT_TZ)
    assert [r["node"] for r in grid.rows] == ["CHG-S1"]  # only problems: CHG is offline
    assert [r["instance"] for r in lst.rows] == ["host:1"] and grid.rows[0]["last_seen"].endswith("EAT")


@pytest.mark.parametrize(("who", "factory"), [
    ("kagwe", "KGW"), ("kagwe", "MTR"), ("hq", "MTR"), ("auditor", "CHG"), ("admin", "KGW"),
    ("inactive_auditor", "KGW"), ("inactive_hq", "KGW"), ("unknown_role", "KGW"), ("fm_without_factory", "KGW"),
])
def test_entry_preview_follows_the_read_rule(db, who, factory):
    Session, ids, users = db
    extra = {
        "inactive_auditor": WebUser(7, "old-auditor", "auditor", None, False),
        "inactive_hq": WebUser(8, "old-hq", "hq", None, False),
        "unknown_role": WebUser(9, "guest", "guest", None, True),
        "fm_without_factory": WebUser(10, "nofactory", "factory_manager", None, True),
    }
    user = users.get(who) or extra[who]
    month = add_months(month_start(local_date(NOW, DEFAULT_TZ)), -1).strftime("%Y-%m")
    shown, _, _ = preview_panel(user, ids[factory], month, {"diesel": 2000}, {"diesel": "L"}, None, None, None, None,
                             Session)
    denied = "may not see" in dump(shown)
    assert denied == (not can_read_factory(user, ids[factory]))
    assert denied == (who in ("inactive_auditor", "inactive_hq", "unknown_role", "fm_without_factory")
                      or (who, factory) == ("kagwe", "MTR"))


def test_entry_load_preview_and_save(db):
    Session, ids, users = db
    month = add_months(month_start(local_date(NOW, DEFAULT_TZ)), -1).strftime("%Y-%m")
    data = load_month(users["kagwe"], ids["KGW"], month, Session)
    assert data["status"] == "submitted" and data["qty"]["diesel"] == 2000 and data["can_edit"]
    assert not data["can_approve"]
    assert load_month(users["kagwe"], ids["MTR"], month, Session)["denied"]
    assert load_month(users["hq"], ids["KGW"], month, Session)["can_approve"]
    table, msgs, _ = preview_panel(users["kagwe"], ids["KGW"], month, {"diesel": 20_000}, {"diesel": "L"}, None, None,
                                None, None, Session)
    assert "t CO2e" in dump(table) and "far from" in dump(msgs)
    _, msgs, _ = preview_panel(users["kagwe"], ids["KGW"], month, {"diesel": -1}, {"diesel": "L"}, None, None, None,
                            None, Session)
    assert "negative" in dump(msgs)
    denied, _, _ = preview_panel(users["kagwe"], ids["MTR"], month, {}, {}, None, None, None, None, Session)
    assert "may not" in dump(denied)
    this = month_start(local_date(NOW, DEFAULT_TZ)).strftime("%Y-%m")
    msg = do_action("save", users["kagwe"], ids["KGW"], this, {"diesel": 1900}, {"diesel": "L"}, None, None, None,
                    None, "first draft", None, Session, DEFAULT_TZ, NOW)
    assert "Draft saved" in dump(msg)
    msg = do_action("approve", users["kagwe"], ids["KGW"], this, {}, {}, None, None, None, None, None, None,
                    Session, DEFAULT_TZ, NOW)
    assert "Not allowed" in dump(msg)


def test_month_options_newest_first():
    opts = month_options(NOW)
    assert len(opts) == 13 and opts[0]["value"] == "2026-11" and opts[1]["value"] == "2026-10"


def test_admin_tables_and_action(db):
    Session, ids, users = db
    assert admin_tables(users["kagwe"], Session) is None
    tables = admin_tables(users["auditor"], Session)
    assert "diesel" in dump(tables["factors"])
    with pytest.raises(AccessDenied):
        admin_action("factory", users["auditor"], {"factory_pick": ids["KGW"], "target": 1.0}, Session)
    assert "Saved" in admin_action("factory", users["admin"], {"factory_pick": ids["KGW"], "target": 1.3}, Session)


def test_audit_view(db):
    Session, _, users = db
    assert "Not allowed" in dump(audit_view(users["hq"], None, None, 200, Session))
    assert "No audit entries" in dump(audit_view(users["auditor"], "reopen", None, 200, Session))


def test_finding5_leaderboard_pending_message_and_latest_approved_default(db):
    from callbacks.hq_leaderboard import pending_message

    Session, ids, users = db
    # build_small_db at NOW (28 Nov 2026): October and September are submitted, August and before approved.
    text = dump(pending_message(users["hq"], Session, DEFAULT_TZ, NOW))
    assert "October 2026: 3 of 3 submitted, 0 approved; due 10 Nov." in text
    rows = leaderboard_rows(users["hq"], "intensity", None, None, Session, DEFAULT_TZ, NOW)
    assert len(rows) == 3 and all(r.intensity is not None for r in rows)  # ranked on August, not on nothing
    assert all(r.months_pending == 0 and r.months_reported == 1 for r in rows)
    table = dump(leaderboard_table(leaderboard_rows(users["hq"], "intensity", "last_month", None, Session,
                                                    DEFAULT_TZ, NOW)))
    assert "1 submitted, awaiting approval" in table and "hq-leaderboard-basis" in table


def test_finding7_history_biogenic_own_axis_partial_month_intensity_from_zero(db):
    Session, ids, users = db
    data = history_data(users["kagwe"], ids["KGW"], "2026-06-01", "2026-11-28", Session, DEFAULT_TZ, NOW)
    _, _, month_fig, inten, _, _ = render_history(data)
    on_y2 = {t.name for t in month_fig.data if t.yaxis == "y2"}
    assert on_y2 and all("biogenic" in n for n in on_y2)
    assert all("biogenic" not in t.name for t in month_fig.data if t.yaxis != "y2")
    assert month_fig.layout.yaxis2.overlaying == "y" and month_fig.layout.yaxis.rangemode == "tozero"
    assert inten.layout.yaxis.rangemode == "tozero"
    assert list(month_fig.layout.xaxis.categoryarray)[-1] == "Nov 2026 (to date)"  # NOW is 28 Nov
    assert "Oct 2026" in list(month_fig.layout.xaxis.categoryarray)


def test_finding5_7_overview_units_once_and_pending_before_due_day(db):
    Session, ids, users = db
    kpis, trend, *_ = render_overview(overview_data(users["hq"], Session, DEFAULT_TZ, NOW))
    text = dump(kpis)
    assert "t CO2e" in text and '"t CO2e, ' not in text  # the unit is on the number, not repeated below
    assert [t.name for t in trend.data if t.yaxis == "y2"] == ["biogenic CO2, memo (t, right axis)"]
    # 28 Nov: October was due on 10 Nov, so the on-time share is shown.
    assert "Submitted Oct 2026 on schedule" in text
    # 2 Dec: November is not due until 10 Dec: say what is pending, not "0 %".
    early = NOW + timedelta(days=4)
    text = dump(render_overview(overview_data(users["hq"], Session, DEFAULT_TZ, early))[0])
    assert "Nov 2026 data" in text and "0 of 3 submitted" in text and "due 10 Dec" in text

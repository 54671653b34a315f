"""Issue 17 item 1 on the node pages: the nodes, listeners, commands, calibration and assignment tables
are data grids. Their rows hold what the old tables showed to that user and nothing more, numbers stay
numbers, statuses are words with a colour key, and the refreshing grids are sent rows only when the
rows changed (so a refresh keeps the user's sort, filters and quick search).

Callback functions called as plain functions, and the node page's refresh as a raw HTTP request, on
the three-factory database of web_helpers (time pinned to NOW; CHG's node is offline).
"""

from __future__ import annotations

import json
from datetime import timedelta

import dash
import plotly
import pytest
from web_helpers import NOW, client_as, make_web_db, post_callback, web_config, web_users

import core.accounts.auth as auth
from callbacks.grid import columns_and_priorities
from callbacks.hq_node import command_rows, render_commands
from callbacks.hq_nodes import GRID_ID, listener_rows, node_columns, node_rows, nodes_data, render_nodes
from callbacks.node_quality import AssignmentRow, assignment_rows, assignment_table, node_quality
from core.fleet.commands import CommandView, send_command
from core.timeutil import DEFAULT_TZ


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("nodegrids")
    engine, Session, fx, url = make_web_db(tmp / "nodegrids.db")
    ids = fx.factory_ids
    users = web_users(ids)
    yield Session, fx, users, url, tmp
    engine.dispose()


def dump(component) -> str:  # noqa: ANN001
    return json.dumps(component, cls=plotly.utils.PlotlyJSONEncoder)


def test_nodes_grid_rows_hold_numbers_words_and_links(db):
    Session, fx, users, _, _ = db
    nodes, _ = nodes_data(users["hq"], Session, DEFAULT_TZ, NOW)
    rows = {r["node"]: r for r in node_rows(nodes, False, DEFAULT_TZ)}
    assert set(rows) == {"KGW-S1", "MTR-S1", "CHG-S1"}
    # web_helpers: CHG's node was last seen 10.5 minutes ago (offline), the others 30 s ago.
    assert {n: (r["status"], r["status__tone"]) for n, r in rows.items()} == {
        "KGW-S1": ("online", "online"), "MTR-S1": ("online", "online"), "CHG-S1": ("offline", "offline")}
    kgw = rows["KGW-S1"]
    assert kgw["node__href"] == "/hq/node?device=KGW-S1" and kgw["factory"] == "KGW" and kgw["stack"] == "Boiler 1"
    assert kgw["signal_dbm"] == -60 and kgw["buffered"] == 0 and kgw["firmware"] == "1.0.0"
    # Coverage as a number of percent: 26 full rollup hours cover the last 24 h (independently: 100 %).
    assert kgw["coverage_24h_pct"] == 100.0
    for n in nodes:
        r = rows[n.device_id]
        assert all(isinstance(r[k], float) for k in ("coverage_24h_pct", "coverage_30d_pct", "availability_30d_pct"))
        assert r["coverage_30d_pct"] == pytest.approx(n.coverage_30d * 100, abs=0.05)
        assert r["last_seen"].endswith(" EAT")


def test_nodes_grid_shows_only_the_users_factories(db):
    Session, fx, users, _, _ = db
    nodes, _ = nodes_data(users["kagwe"], Session, DEFAULT_TZ, NOW)
    assert [r["node"] for r in node_rows(nodes, False, DEFAULT_TZ)] == ["KGW-S1"]
    for who in ("hq", "auditor", "admin"):
        nodes, _ = nodes_data(users[who], Session, DEFAULT_TZ, NOW)
        assert len(node_rows(nodes, False, DEFAULT_TZ)) == 3


def test_only_problems_keeps_offline_and_low_coverage_nodes(db):
    Session, fx, users, _, _ = db
    nodes, listeners = nodes_data(users["hq"], Session, DEFAULT_TZ, NOW)
    summary, grid, lst = render_nodes(nodes, listeners, True, DEFAULT_TZ)
    assert [r["node"] for r in grid.rows] == ["CHG-S1"] and grid.empty is None and grid.box_style == {}
    assert "2 of 3" in dump(summary)  # nodes online


def test_node_id_first_pinned_and_phone_columns(db):
    defs, prio = columns_and_priorities(node_columns())
    assert defs[0]["field"] == "node" and defs[0]["pinned"] == "left" and defs[0]["cellRenderer"] == "CtLink"
    assert [f for f, p in prio.items() if p == 1] == ["node", "status", "coverage_24h_pct"]
    numeric = {d["field"] for d in defs if d.get("filter") == "agNumberColumnFilter"}
    assert numeric == {"signal_dbm", "buffered", "coverage_24h_pct", "coverage_30d_pct", "availability_30d_pct",
                       "calibration_error_pct"}


def test_refresh_sends_rows_only_when_they_changed(db):
    Session, fx, users, _, _ = db
    nodes, listeners = nodes_data(users["hq"], Session, DEFAULT_TZ, NOW)
    _, first, lst = render_nodes(nodes, listeners, False, DEFAULT_TZ)
    assert len(first.rows) == 3 and first.grid_style["height"].endswith("px")
    _, again, lst_again = render_nodes(nodes, listeners, False, DEFAULT_TZ, first.rows, lst.rows)
    assert again.rows is dash.no_update and again.grid_style is dash.no_update and lst_again.rows is dash.no_update
    # No node at all: the sentence instead of the grid, and the rows it held are cleared.
    summary, none, _ = render_nodes([], listeners, False, DEFAULT_TZ, first.rows)
    assert summary is None and none.rows == [] and none.box_style == {"display": "none"}
    assert "No sensor nodes are registered yet" in dump(none.empty)
    _, still_none, no_listener = render_nodes([], [], False, DEFAULT_TZ, [])
    assert still_none.rows is dash.no_update and no_listener.box_style == {"display": "none"}
    assert "No listener has reported yet" in dump(no_listener.empty)


def test_listener_rows_state_in_words_with_its_colour(db):
    Session, fx, users, _, _ = db
    _, listeners = nodes_data(users["admin"], Session, DEFAULT_TZ, NOW)
    (row,) = listener_rows(listeners, DEFAULT_TZ)
    assert row["instance"] == "host:1" and row["state"] == row["state__tone"] == "reporting"
    assert row["updated"].endswith(" EAT") and row["started"].endswith(" EAT")


def _view(state: str, **kw) -> CommandView:
    base = {"id": "c1", "kind": "reboot", "label": "Reboot", "args": "", "state": state, "requested_by": "admin",
            "created_at": NOW, "sent_at": None, "result_at": None, "result_ok": None, "result_detail": None}
    return CommandView(**{**base, **kw})


def test_command_rows_state_words_and_tones():
    views = [_view("timeout (late answer)", sent_at=NOW, result_at=NOW + timedelta(minutes=3), result_detail="late"),
             _view("ok", args="interval_s=120"), _view("queued", requested_by=None)]
    rows = command_rows(views, DEFAULT_TZ)
    assert [(r["state"], r["state__tone"]) for r in rows] == [("timeout (late answer)", "timeout"), ("ok", "ok"),
                                                              ("queued", "queued")]
    assert rows[0]["sent"] == "2026-11-28 12:30 EAT" and rows[0]["answered"] == "2026-11-28 12:33 EAT"
    assert rows[1]["args"] == "interval_s=120" and rows[1]["answer"] == "—" and rows[2]["by"] == "—"
    empty = render_commands([], DEFAULT_TZ)
    assert empty.box_style == {"display": "none"} and empty.rows is dash.no_update


@pytest.fixture
def web(db, monkeypatch):
    from app import create_app

    Session, fx, users, url, tmp = db
    monkeypatch.setattr(auth, "FAILURE_DELAY_S", 0.0)
    auth.IP_THROTTLE.reset()
    return create_app(web_config(url, tmp), Session), Session, users


def _refresh(client, app, device, current=None):  # noqa: ANN001, ANN202
    resp = post_callback(client, app, "hq-node-info", [
        {"id": "hq-node-interval", "property": "n_intervals", "value": 3},
        {"id": "hq-node-device", "property": "data", "value": device}],
        [{"id": "hq-node-command-table", "property": "rowData", "value": current}])
    assert resp.status_code == 200
    return resp.get_json()["response"]


def test_node_page_refresh_sends_the_users_commands_only(web):
    app, Session, users = web
    with Session() as s:
        send_command(s, users["admin"], "KGW-S1", "status")
        send_command(s, users["admin"], "MTR-S1", "set_interval", {"interval_s": 120})
    kagwe = client_as(app, "kagwe")
    own = _refresh(kagwe, app, "KGW-S1")
    rows = own["hq-node-command-table"]["rowData"]
    assert [r["command"] for r in rows] == ["Request status"] and own["hq-node-command-table-box"]["style"] == {}
    # The same rows again: nothing sent, so the browser's grid keeps its sort, filters and search.
    assert "hq-node-command-table" not in _refresh(kagwe, app, "KGW-S1", rows)
    # Another factory's node: no rows (and the ones a crafted request says it holds are cleared).
    other = _refresh(kagwe, app, "MTR-S1", rows)
    assert other["hq-node-command-table"]["rowData"] == []
    assert other["hq-node-command-table-box"]["style"] == {"display": "none"}
    assert "interval_s" not in json.dumps(other)
    hq = _refresh(client_as(app, "hq"), app, "MTR-S1")
    assert [r["args"] for r in hq["hq-node-command-table"]["rowData"]] == ["interval_s=120"]


def test_nodes_page_refresh_for_a_manager_holds_their_nodes_only(web):
    app, Session, users = web
    resp = post_callback(client_as(app, "kagwe"), app, "hq-nodes-summary", [
        {"id": "hq-nodes-interval", "property": "n_intervals", "value": 0},
        {"id": "hq-nodes-problems", "property": "value", "value": []}],
        [{"id": GRID_ID, "property": "rowData", "value": None},
         {"id": "hq-nodes-listener-grid", "property": "rowData", "value": None}])
    out = resp.get_json()["response"]
    assert [r["node"] for r in out[GRID_ID]["rowData"]] == ["KGW-S1"]
    assert "MTR" not in json.dumps(out) and "CHG" not in json.dumps(out)


def test_assignment_grid_rows_and_the_hidden_note():
    rows = [AssignmentRow("MTR", "Boiler 1 (#2)", NOW - timedelta(days=2), "admin", "moved", None, None, None),
            AssignmentRow("KGW", "Boiler 1 (#1)", NOW - timedelta(days=9), None, None, NOW - timedelta(days=2),
                          "admin", "moved to Mataara")]
    out = assignment_rows(rows, DEFAULT_TZ)
    assert [(r["factory"], r["retired"], r["retired_by"]) for r in out] == [
        ("MTR", "assigned now", ""), ("KGW", "2026-11-26 12:30 EAT", "admin")]
    assert out[1]["commissioned_by"] == "—" and out[1]["retire_reason"] == "moved to Mataara"
    shown = dump(assignment_table(rows[:1], 1, DEFAULT_TZ))
    assert "hq-node-assignment-table" in shown and "1 earlier assignment(s) at factories you may not see" in shown


def test_node_quality_grids_refused_for_another_factory(db):
    Session, fx, users, _, _ = db
    assert node_quality(users["kagwe"], "MTR-S1", Session, DEFAULT_TZ, NOW) == "You may not see this node."

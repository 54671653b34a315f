"""Raw /_dash-update-component requests across factories and roles: nobody gets what they may not see.

Each test signs in through the real form and then sends the JSON a browser would send — or an
attacker would craft — with another factory's id in it.
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from web_helpers import client_as, module_web_app, post_callback

import core.accounts.auth as auth
from core.models import AuditLog, MonthlySubmission, User


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    yield from module_web_app(tmp_path_factory, "authz")


@pytest.fixture(autouse=True)
def _no_delay(monkeypatch):
    monkeypatch.setattr(auth, "FAILURE_DELAY_S", 0.0)
    auth.IP_THROTTLE.reset()


def text(resp) -> str:
    return json.dumps(resp.get_json())


def live(client, app, fid):
    return post_callback(client, app, "factory-live-kpis", [
        {"id": "factory-live-factory", "property": "value", "value": fid},
        {"id": "factory-live-interval", "property": "n_intervals", "value": 0}],
        [{"id": "factory-live-state", "property": "data", "value": None}])


def history(client, app, fid):
    return post_callback(client, app, "factory-history-kpis", [
        {"id": "factory-history-factory", "property": "value", "value": fid},
        {"id": "factory-history-range", "property": "start_date", "value": "2026-09-01"},
        {"id": "factory-history-range", "property": "end_date", "value": "2026-11-28"}])


def test_fm_live_own_factory_works(web):
    app, _, fx = web
    resp = live(client_as(app, "kagwe"), app, fx.factory_ids["KGW"])
    assert resp.status_code == 200
    assert "KGW-S1" in text(resp)


@pytest.mark.parametrize("target", ["MTR", "CHG"])
def test_fm_live_other_factory_gets_nothing(web, target):
    app, _, fx = web
    resp = live(client_as(app, "kagwe"), app, fx.factory_ids[target])
    body = text(resp)
    assert resp.status_code == 200
    assert f"{target}-S1" not in body and "Mataara" not in body and "Chinga" not in body
    assert "You may not see this factory" in body


def test_fm_live_tick_with_forged_state_gets_nothing(web):
    app, _, fx = web
    client = client_as(app, "kagwe")
    forged = {"factory": fx.factory_ids["MTR"], "devices": ["MTR-S1"], "last_ts": "2026-11-28T08:00:00+00:00",
              "ticks": 1, "has_hour": True}
    resp = post_callback(client, app, "factory-live-kpis", [
        {"id": "factory-live-factory", "property": "value", "value": fx.factory_ids["MTR"]},
        {"id": "factory-live-interval", "property": "n_intervals", "value": 3}],
        [{"id": "factory-live-state", "property": "data", "value": forged}])
    body = text(resp)
    assert "You may not see this factory" in body
    assert "80,100" not in body and "0.26" not in body  # MTR's readings


@pytest.mark.parametrize("last_ts", ["garbage", "2026-13-45T99:00:00+00:00", "2026-11-28T08:00:00", 5])
def test_live_tick_with_malformed_state_is_not_an_error(web, last_ts):
    app, _, fx = web
    client = client_as(app, "kagwe")
    state = {"factory": fx.factory_ids["KGW"], "devices": ["KGW-S1"], "last_ts": last_ts, "ticks": 1,
             "has_hour": True}
    resp = post_callback(client, app, "factory-live-kpis", [
        {"id": "factory-live-factory", "property": "value", "value": fx.factory_ids["KGW"]},
        {"id": "factory-live-interval", "property": "n_intervals", "value": 3}],
        [{"id": "factory-live-state", "property": "data", "value": state}])
    assert resp.status_code == 200 and "KGW-S1" in text(resp)


@pytest.mark.parametrize("target", ["MTR", "CHG"])
def test_fm_history_other_factory_gets_nothing(web, target):
    app, _, fx = web
    resp = history(client_as(app, "kagwe"), app, fx.factory_ids[target])
    body = text(resp)
    assert "You may not see this factory" in body
    assert "Measured stack CO2" not in body


def test_fm_history_own_factory_works(web):
    app, _, fx = web
    body = text(history(client_as(app, "kagwe"), app, fx.factory_ids["KGW"]))
    assert "Measured stack CO2" in body


def test_fm_export_other_factory_gets_nothing(web):
    app, _, fx = web
    client = client_as(app, "kagwe")
    resp = post_callback(client, app, "factory-history-download", [
        {"id": "factory-history-csv", "property": "n_clicks", "value": 1},
        {"id": "factory-history-xlsx", "property": "n_clicks", "value": None}],
        [{"id": "factory-history-factory", "property": "value", "value": fx.factory_ids["MTR"]},
         {"id": "factory-history-range", "property": "start_date", "value": "2026-09-01"},
         {"id": "factory-history-range", "property": "end_date", "value": "2026-11-28"}])
    assert resp.status_code == 204 or "MTR" not in text(resp)


@pytest.mark.parametrize("output", ["hq-leaderboard-table", "hq-overview-kpis", "hq-nodes-table"])
def test_fm_hq_callbacks_show_only_own_factory(web, output):
    app, _, _ = web
    client = client_as(app, "kagwe")
    inputs = {
        "hq-leaderboard-table": [{"id": "hq-leaderboard-metric", "property": "value", "value": "intensity"},
                                 {"id": "hq-leaderboard-period", "property": "value", "value": "last_12"},
                                 {"id": "hq-leaderboard-region", "property": "value", "value": None},
                                 {"id": "hq-leaderboard-from", "property": "value", "value": None},
                                 {"id": "hq-leaderboard-to", "property": "value", "value": None}],
        "hq-overview-kpis": [{"id": "hq-overview-interval", "property": "n_intervals", "value": 0},
                             {"id": "hq-overview-from", "property": "value", "value": None},
                             {"id": "hq-overview-to", "property": "value", "value": None}],
        "hq-nodes-table": [{"id": "hq-nodes-interval", "property": "n_intervals", "value": 0},
                           {"id": "hq-nodes-problems", "property": "value", "value": []}],
    }[output]
    state = [{"id": g, "property": "rowData", "value": None} for g in ("hq-nodes-grid", "hq-nodes-listener-grid")
             if output == "hq-nodes-table"]
    body = text(post_callback(client, app, output, inputs, state))
    assert "Mataara" not in body and "MTR" not in body and "Chinga" not in body and "CHG" not in body


def test_hq_sees_all_factories_in_leaderboard(web):
    app, _, _ = web
    body = text(post_callback(client_as(app, "hq"), app, "hq-leaderboard-table", [
        {"id": "hq-leaderboard-metric", "property": "value", "value": "intensity"},
        {"id": "hq-leaderboard-period", "property": "value", "value": "last_12"},
        {"id": "hq-leaderboard-region", "property": "value", "value": None},
        {"id": "hq-leaderboard-from", "property": "value", "value": None},
        {"id": "hq-leaderboard-to", "property": "value", "value": None}]))
    assert "Kagwe" in body and "Mataara" in body and "Chinga" in body


def _entry_state(fid, month="2026-10", diesel=999.0):
    sources = ["firewood", "briquettes", "charcoal", "diesel", "furnace_oil", "lpg", "grid_electricity",
               "own_hydro", "own_solar"]
    qty = [{"id": {"type": "factory-entry-qty", "source": s}, "property": "value",
            "value": diesel if s == "diesel" else None} for s in sources]
    unit = [{"id": {"type": "factory-entry-unit", "source": s}, "property": "value", "value": None} for s in sources]
    return [
        {"id": "factory-entry-factory", "property": "value", "value": fid},
        {"id": "factory-entry-month", "property": "value", "value": month},
        qty, unit,
        {"id": "factory-entry-moisture", "property": "value", "value": None},
        {"id": "factory-entry-density", "property": "value", "value": None},
        {"id": "factory-entry-green-leaf", "property": "value", "value": None},
        {"id": "factory-entry-made-tea", "property": "value", "value": None},
        {"id": "factory-entry-note", "property": "value", "value": None},
        {"id": "factory-entry-reopen-reason", "property": "value", "value": None},
        {"id": "factory-entry-saved", "property": "data", "value": 0},
        {"id": "factory-entry-version", "property": "data", "value": None},
    ]


def _entry_action(client, app, button, fid, month="2026-10"):
    buttons = ["factory-entry-save", "factory-entry-submit-go", "factory-entry-approve", "factory-entry-reopen",
               "factory-entry-confirm"]
    button = {"factory-entry-submit": "factory-entry-submit-go"}.get(button, button)
    prop = {"factory-entry-submit-go": "data", "factory-entry-confirm": "submit_n_clicks"}
    inputs = [{"id": b, "property": prop.get(b, "n_clicks"), "value": 1 if b == button else None} for b in buttons]
    body = {"output": None, "inputs": inputs, "state": _entry_state(fid, month)}
    key = next(k for k in app.callback_map if "factory-entry-result." in k)
    from web_helpers import _outputs

    body.update(output=key, outputs=_outputs(key), changedPropIds=[f"{button}.{prop.get(button, 'n_clicks')}"])
    return client.post("/_dash-update-component", json=body)


def _diesel(Session, fid, month):
    from datetime import date

    with Session() as s:
        sub = s.scalar(sa.select(MonthlySubmission).where(MonthlySubmission.factory_id == fid,
                                                          MonthlySubmission.month == date.fromisoformat(month + "-01")))
        return {e.source: e.quantity for e in sub.entries}.get("diesel") if sub else None


def test_fm_cannot_save_entry_for_other_factory(web):
    app, Session, fx = web
    before = _diesel(Session, fx.factory_ids["MTR"], "2026-10")
    resp = _entry_action(client_as(app, "kagwe"), app, "factory-entry-save", fx.factory_ids["MTR"])
    assert "Not allowed" in text(resp)
    assert _diesel(Session, fx.factory_ids["MTR"], "2026-10") == before


@pytest.mark.parametrize("username", ["auditor", "hq"])
def test_read_only_roles_cannot_save_entries(web, username):
    app, Session, fx = web
    before = _diesel(Session, fx.factory_ids["KGW"], "2026-10")
    resp = _entry_action(client_as(app, username), app, "factory-entry-save", fx.factory_ids["KGW"])
    assert "Not allowed" in text(resp)
    assert _diesel(Session, fx.factory_ids["KGW"], "2026-10") == before


@pytest.mark.parametrize("username", ["kagwe", "auditor"])
def test_only_hq_and_admin_approve(web, username):
    app, Session, fx = web
    resp = _entry_action(client_as(app, username), app, "factory-entry-approve", fx.factory_ids["KGW"], "2026-10")
    assert "Not allowed" in text(resp)
    with Session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(AuditLog).where(AuditLog.action == "approve")) == 0


def _admin_post(client, app, button, **values):
    key = next(k for k in app.callback_map if "admin-user-result." in k)
    cb = app.callback_map[key]
    inputs = [{"id": i["id"], "property": i["property"], "value": 1 if i["id"] == button else None}
              for i in cb["inputs"]]
    state = [{"id": s["id"], "property": s["property"], "value": values.get(s["id"])} for s in cb["state"]]
    from web_helpers import _outputs

    return client.post("/_dash-update-component", json={
        "output": key, "outputs": _outputs(key), "inputs": inputs, "state": state,
        "changedPropIds": [f"{button}.n_clicks"]})


@pytest.mark.parametrize("username", ["kagwe", "hq", "auditor"])
def test_only_admin_creates_users(web, username):
    app, Session, _ = web
    resp = _admin_post(client_as(app, username), app, "admin-user-create", **{
        "admin-user-new-name": f"evil-{username}", "admin-user-new-role": "admin",
        "admin-user-new-password": "evil-password-1"})
    assert "Not allowed" in text(resp)
    with Session() as s:
        assert s.scalar(sa.select(User).where(User.username == f"evil-{username}")) is None


def test_admin_creates_user(web):
    app, Session, _ = web
    resp = _admin_post(client_as(app, "admin"), app, "admin-user-create", **{
        "admin-user-new-name": "newhq", "admin-user-new-role": "hq", "admin-user-new-password": "newhq-pass-1"})
    assert "Created newhq" in text(resp)
    with Session() as s:
        assert s.scalar(sa.select(User).where(User.username == "newhq")).role == "hq"


@pytest.mark.parametrize("username", ["kagwe", "hq"])
def test_audit_log_refused_to_other_roles(web, username):
    app, _, _ = web
    client = client_as(app, username)
    resp = post_callback(client, app, "audit-table", [
        {"id": "audit-action", "property": "value", "value": None},
        {"id": "audit-search", "property": "value", "value": None}])
    body = text(resp)
    assert "Not allowed" in body and "login" not in body.replace("Not allowed", "")
    # The grid's server-side paging callback checks the user too: a hand-made block request gets nothing.
    rows = post_callback(client, app, "audit-grid", [
        {"id": "audit-grid", "property": "getRowsRequest", "value": {"startRow": 0, "endRow": 100}}],
        [{"id": "audit-action", "property": "value", "value": None},
         {"id": "audit-search", "property": "value", "value": None}]).get_json()
    assert rows["response"]["audit-grid"]["getRowsResponse"] == {"rowData": [], "rowCount": 0}


def test_auditor_reads_audit_log(web):
    app, _, _ = web
    client = client_as(app, "auditor")
    body = text(post_callback(client, app, "audit-table", [
        {"id": "audit-action", "property": "value", "value": "login"},
        {"id": "audit-search", "property": "value", "value": None}]))
    assert "audit-grid" in body
    rows = post_callback(client, app, "audit-grid", [
        {"id": "audit-grid", "property": "getRowsRequest", "value": {"startRow": 0, "endRow": 100}}],
        [{"id": "audit-action", "property": "value", "value": "login"},
         {"id": "audit-search", "property": "value", "value": None}]).get_json()
    block = rows["response"]["audit-grid"]["getRowsResponse"]
    assert block["rowData"] and {r["action"] for r in block["rowData"]} == {"login"}
    assert "auditor" in {r["user"] for r in block["rowData"]}


def test_fm_admin_tables_refused(web):
    app, _, _ = web
    body = text(post_callback(client_as(app, "kagwe"), app, "admin-user-table", [
        {"id": "admin-changed", "property": "data", "value": 0}]))
    assert "Not allowed" in body and "mataara" not in body


def _page(client, app, path):
    key = next(k for k in app.callback_map if "_pages_content.children" in k)
    cb = app.callback_map[key]
    values = {"pathname": path, "search": ""}
    inputs = [{"id": i["id"], "property": i["property"], "value": values.get(i["property"])} for i in cb["inputs"]]
    state = [{"id": s["id"], "property": s["property"], "value": None} for s in cb.get("state", [])]
    from web_helpers import _outputs

    return client.post("/_dash-update-component", json={
        "output": key, "outputs": _outputs(key), "inputs": inputs, "state": state,
        "changedPropIds": ["_pages_location.pathname"]})


@pytest.mark.parametrize(("username", "path", "allowed"), [
    ("kagwe", "/factory/live", True), ("kagwe", "/hq", False), ("kagwe", "/admin", False),
    ("kagwe", "/audit", False), ("kagwe", "/hq/leaderboard", False), ("hq", "/hq", True),
    ("hq", "/admin", False), ("hq", "/audit", False), ("auditor", "/audit", True), ("auditor", "/admin", True),
    ("admin", "/admin", True), ("admin", "/audit", True),
])
def test_page_layouts_follow_roles(web, username, path, allowed):
    app, _, _ = web
    body = text(_page(client_as(app, username), app, path))
    assert ("does not have access" not in body) is allowed

"""The Admin page's four tables and the Firmware page's two as data grids (issue 17, item 1).

Unit tests: each grid's rows are exactly the records the old table listed for that user (never a
row outside the user's scope, nothing for a role that may not look), numbers stay numbers (they
sort and filter) and statuses are CtStatus cells coloured by their English key.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import dash_ag_grid as dag
import pytest
import sqlalchemy as sa
from web_helpers import client_as, module_web_app, post_callback

import core.accounts.auth as auth
from callbacks.admin import admin_tables
from callbacks.ota import STATE_TONES, campaign_node_rows
from core.accounts.auth import WebUser
from core.fleet import ota
from core.models import Device, EmissionFactor, Factory, Stack, User


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    for app, Session, fx in module_web_app(tmp_path_factory, "adminotagrids"):  # noqa: N806
        with Session() as s:
            admin = s.scalar(sa.select(User).where(User.username == "admin"))
            s.add(User(username="retired", password_hash="x", role="auditor", active=False, full_name="Old Auditor"))
            s.commit()
            image_bytes = bytes([0xE9]) + b"fw-grid" * 100
            image = ota.store_image(s, admin, app.server.config["CT_CONFIG"].data_dir, "4.2.0", image_bytes,
                                    hashlib.sha256(image_bytes).hexdigest())
            ota.create_campaign(s, admin, image.id, "factory", "KGW")
        yield app, Session, fx


@pytest.fixture(autouse=True)
def _no_delay(monkeypatch):
    monkeypatch.setattr(auth, "FAILURE_DELAY_S", 0.0)
    auth.IP_THROTTLE.reset()


def web_user(Session, username: str) -> WebUser:  # noqa: N803
    with Session() as s:
        u = s.scalar(sa.select(User).where(User.username == username))
        return WebUser(u.id, u.username, u.role, u.factory_id, u.active, u.full_name)


def grid_in(component, grid_id: str) -> dag.AgGrid:  # noqa: ANN001
    """The AgGrid with `grid_id` inside a component tree."""
    if isinstance(component, dag.AgGrid) and component.id == grid_id:
        return component
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list) else [children]:
        if child is not None and not isinstance(child, str):
            found = grid_in(child, grid_id)
            if found is not None:
                return found
    return None


def test_admin_grids_hold_every_record_with_numbers_as_numbers(web):
    app, Session, _ = web
    assert admin_tables(web_user(Session, "kagwe"), Session) is None  # a factory manager gets no table at all
    assert admin_tables(web_user(Session, "hq"), Session) is None
    tables = admin_tables(web_user(Session, "auditor"), Session)
    with Session() as s:
        usernames = set(s.scalars(sa.select(User.username)))
        factories = {f.code: f for f in s.scalars(sa.select(Factory))}
        stack_ids = set(s.scalars(sa.select(Stack.id)))
        devices = {d.id: d.stack_id for d in s.scalars(sa.select(Device))}
        factors = {(f.code, f.version): f for f in s.scalars(sa.select(EmissionFactor))}

    users = grid_in(tables["users"], "admin-user-grid")
    assert {r["username"] for r in users.rowData} == usernames
    by_name = {r["username"]: r for r in users.rowData}
    assert (by_name["admin"]["active"], by_name["admin"]["active__tone"]) == ("yes", "active")
    assert (by_name["retired"]["active"], by_name["retired"]["active__tone"]) == ("no", "no")
    assert by_name["kagwe"]["role"] == "factory_manager" and by_name["kagwe"]["factory"] == "KGW"
    active_col = next(c for c in users.columnDefs if c["field"] == "active")
    assert active_col["cellRenderer"] == "CtStatus"
    assert users.columnDefs[0]["field"] == "username" and users.columnDefs[0]["pinned"] == "left"
    assert not any("password" in key for r in users.rowData for key in r)  # nothing secret reaches the browser

    fgrid = grid_in(tables["factories"], "admin-factory-grid")
    assert {r["code"] for r in fgrid.rowData} == set(factories)
    for r in fgrid.rowData:
        assert r["target"] == pytest.approx(factories[r["code"]].target_kg_co2e_per_kg)
        assert isinstance(r["density"], float)
    numeric = {c["field"] for c in fgrid.columnDefs if c.get("type") == "numericColumn"}
    assert numeric == {"target", "density"}

    sgrid = grid_in(tables["stacks"], "admin-stack-grid")
    assert {int(r["stack"].rsplit("#", 1)[1].rstrip(")")) for r in sgrid.rowData} == stack_ids
    assert all(isinstance(r["diameter"], float) and r["basis"] in ("dry", "wet") for r in sgrid.rowData)
    assert sorted(n for r in sgrid.rowData for n in r["nodes"].split(", ") if n) == sorted(devices)

    xgrid = grid_in(tables["factors"], "admin-factor-grid")
    assert {(r["code"], r["version"]) for r in xgrid.rowData} == set(factors)
    diesel = next(r for r in xgrid.rowData if r["code"] == "diesel")
    stored = factors[("diesel", diesel["version"])]
    assert isinstance(diesel["version"], int) and isinstance(diesel["year"], int)
    assert diesel["co2"] == pytest.approx(stored.co2_kg_per_tj) and isinstance(diesel["ncv"], float)
    numeric = {c["field"] for c in xgrid.columnDefs if c.get("type") == "numericColumn"}
    assert numeric == {"version", "ncv", "co2", "ch4", "n2o", "biomass", "grid", "year"}


def test_admin_grid_callback_refuses_a_factory_manager(web):
    app, _, _ = web
    out = json.dumps(post_callback(client_as(app, "kagwe"), app, "admin-user-table", [
        {"id": "admin-changed", "property": "data", "value": 0}]).get_json())
    assert "Not allowed" in out and "admin-user-grid" not in out and "rowData" not in out


def _ota(client, app):  # noqa: ANN001, ANN202
    resp = post_callback(client, app, "ota-campaigns", [
        {"id": "ota-interval", "property": "n_intervals", "value": 0},
        {"id": "ota-action-feedback", "property": "children", "value": None}])
    assert resp.status_code == 200
    return resp.get_json()["response"]


def test_firmware_grids_rows_for_hq_and_nothing_for_a_factory_manager(web):
    app, Session, _ = web
    with Session() as s:
        all_nodes = set(s.scalars(sa.select(Device.id)))
        kgw_nodes = set(s.scalars(sa.select(Device.id).join(Factory).where(Factory.code == "KGW")))
    for who in ("hq", "auditor", "admin"):
        out = _ota(client_as(app, who), app)
        nodes = out["ota-campaign-nodes-grid"]["rowData"]
        assert {r["node"] for r in nodes} == kgw_nodes  # the campaign went to Kagwe's nodes only
        assert all(r["campaign"] == 1 and r["firmware"] == "4.2.0" for r in nodes)
        assert {(r["state"], r["state__tone"]) for r in nodes} == {("pending", "pending")}
        assert out["ota-campaign-nodes"]["hidden"] is False
        fleet = out["ota-inventory-grid"]["rowData"]
        assert {r["node"] for r in fleet} == all_nodes and all(r["key"] == r["node"] for r in fleet)
        assert out["ota-inventory"]["hidden"] is False
        assert "4.2.0" in json.dumps(out["ota-campaigns"])  # the campaign's card
    fm = _ota(client_as(app, "kagwe"), app)
    assert fm["ota-campaign-nodes-grid"]["rowData"] == [] and fm["ota-inventory-grid"]["rowData"] == []
    assert fm["ota-campaign-nodes"]["hidden"] is True and fm["ota-inventory"]["hidden"] is True
    assert "does not have access" in json.dumps(fm["ota-campaigns"])


def test_campaign_node_rows_keep_each_row_identity_and_tone():
    view = ota.CampaignView(id=7, version="5.0.0", target="all", status="running", created_by="admin",
                            created_at=None, counts={}, targets=[
                                ("B-S1", "rolled_back", "boot loop", None), ("A-S1", "confirmed", None, None)])
    rows = campaign_node_rows([view], None)
    assert [(r["key"], r["node"], r["campaign"]) for r in rows] == [("7:B-S1", "B-S1", 7), ("7:A-S1", "A-S1", 7)]
    assert rows[0]["state"] == "rolled back" and rows[0]["state__tone"] == STATE_TONES["rolled_back"]
    assert rows[1]["detail"] == "—" and rows[1]["state__tone"] == "ok"
    # Every state's tone is a colour the grid's CtStatus renderer knows (assets/ct_grid.js COLOURS).
    script = (Path(__file__).resolve().parents[1] / "assets" / "ct_grid.js").read_text(encoding="utf-8")
    known = script.split("var COLOURS = {", 1)[1].split("};", 1)[0]
    for tone in STATE_TONES.values():
        assert f"{tone}:" in known or f'"{tone}":' in known, tone

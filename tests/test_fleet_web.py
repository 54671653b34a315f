"""Node page and OTA page callbacks as raw HTTP requests: admins act, everyone else gets nothing."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from web_helpers import login, make_web_db, post_callback, web_config

import core.accounts.auth as auth
from app import create_app
from core.models import AuditLog, DeviceCommand


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fleetweb")
    engine, Session, fx, url = make_web_db(tmp / "fleet.db")
    app = create_app(web_config(url, tmp), Session)
    yield app, Session, fx
    engine.dispose()


@pytest.fixture(autouse=True)
def _no_delay(monkeypatch):
    monkeypatch.setattr(auth, "FAILURE_DELAY_S", 0.0)
    auth.IP_THROTTLE.reset()


def client_as(app, username):
    client = app.server.test_client()
    assert login(client, username).status_code == 302
    return client


def send(client, app, device, kind="reboot", arg=None):
    return post_callback(client, app, "hq-node-feedback", [
        {"id": "hq-node-send", "property": "n_clicks", "value": 1}], [
        {"id": "hq-node-device", "property": "data", "value": device},
        {"id": "hq-node-cmd", "property": "value", "value": kind},
        {"id": "hq-node-arg", "property": "value", "value": arg}])


def render(client, app, device):
    return post_callback(client, app, "hq-node-info", [
        {"id": "hq-node-interval", "property": "n_intervals", "value": 0},
        {"id": "hq-node-device", "property": "data", "value": device}])


def commands_of(Session, device):  # noqa: N803
    with Session() as s:
        return list(s.scalars(sa.select(DeviceCommand).where(DeviceCommand.device_id == device)))


def test_admin_sends_and_sees_the_command(web):
    app, Session, _ = web
    client = client_as(app, "admin")
    resp = send(client, app, "MTR-S1", "set_interval", 120)
    assert "queued" in json.dumps(resp.get_json())
    rows = commands_of(Session, "MTR-S1")
    assert len(rows) == 1 and json.loads(rows[0].payload)["value"] == 120
    body = json.dumps(render(client, app, "MTR-S1").get_json())
    assert rows[0].kind == "set_interval" and "Set sampling interval" in body and "interval_s=120" in body
    with Session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(AuditLog).where(
            AuditLog.action == "command", AuditLog.entity_id == "MTR-S1")) == 1


@pytest.mark.parametrize("who", ["kagwe", "hq", "auditor"])
def test_crafted_send_from_a_non_admin_gets_nothing(web, who):
    app, Session, _ = web
    before = len(commands_of(Session, "KGW-S1"))
    resp = send(client_as(app, who), app, "KGW-S1", "reboot")
    assert resp.status_code == 200
    assert "Only administrators" in json.dumps(resp.get_json())
    assert len(commands_of(Session, "KGW-S1")) == before


@pytest.mark.parametrize(("kind", "arg"), [("set_interval", 1), ("set_interval", "x"), ("payload_size", 99_999_999),
                                           ("nuke", None), (["reboot"], None)])
def test_admin_bad_arguments_are_explained_and_not_sent(web, kind, arg):
    app, Session, _ = web
    before = len(commands_of(Session, "CHG-S1"))
    resp = send(client_as(app, "admin"), app, "CHG-S1", kind, arg)
    assert resp.status_code == 200
    assert "hq-node-invalid" in json.dumps(resp.get_json())
    assert len(commands_of(Session, "CHG-S1")) == before


def test_factory_manager_sees_own_node_not_others(web):
    app, Session, _ = web
    client = client_as(app, "kagwe")
    own = json.dumps(render(client, app, "KGW-S1").get_json())
    assert "Kagwe" in own and "hq-node-facts" in own
    send(client_as(app, "admin"), app, "MTR-S1", "status")
    other = json.dumps(render(client, app, "MTR-S1").get_json())
    assert "You may not see this node" in other
    assert "Mataara" not in other and "Request status" not in other and "interval_s" not in other

"""Node page and OTA page callbacks as raw HTTP requests: admins act, everyone else gets nothing."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
import sqlalchemy as sa
from web_helpers import client_as, module_web_app, post_callback

import core.accounts.auth as auth
from core.models import Alert, AuditLog, DeviceCommand, FirmwareImage, OtaCampaign, User, UserContact


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    yield from module_web_app(tmp_path_factory, "fleetweb")


@pytest.fixture(autouse=True)
def _no_delay(monkeypatch):
    monkeypatch.setattr(auth, "FAILURE_DELAY_S", 0.0)
    auth.IP_THROTTLE.reset()


def send(client, app, device, kind="reboot", arg=None):
    return post_callback(client, app, "hq-node-feedback", [
        {"id": "hq-node-send", "property": "n_clicks", "value": 1}], [
        {"id": "hq-node-device", "property": "data", "value": device},
        {"id": "hq-node-cmd", "property": "value", "value": kind},
        {"id": "hq-node-arg", "property": "value", "value": arg}])


def render(client, app, device):
    return post_callback(client, app, "hq-node-info", [
        {"id": "hq-node-interval", "property": "n_intervals", "value": 0},
        {"id": "hq-node-device", "property": "data", "value": device}],
        [{"id": "hq-node-command-table", "property": "rowData", "value": []}])


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


# --- Firmware page and image route ---------------------------------------------------------------

IMAGE = bytes([0xE9]) + b"fw-web" * 100
IMAGE_SHA = hashlib.sha256(IMAGE).hexdigest()


def upload(client, app, version, data, sha):
    contents = "data:application/octet-stream;base64," + base64.b64encode(data).decode()
    return post_callback(client, app, "ota-upload-feedback", [
        {"id": "ota-upload", "property": "n_clicks", "value": 1}], [
        {"id": "ota-version", "property": "value", "value": version},
        {"id": "ota-sha256", "property": "value", "value": sha},
        {"id": "ota-file", "property": "contents", "value": contents}])


def start(client, app, image_id, kind, value, canary=None):
    return post_callback(client, app, "ota-start-feedback", [
        {"id": "ota-start", "property": "n_clicks", "value": 1}], [
        {"id": "ota-image", "property": "value", "value": image_id},
        {"id": "ota-target-kind", "property": "value", "value": kind},
        {"id": "ota-target-value", "property": "value", "value": value},
        {"id": "ota-canary", "property": "value", "value": canary}])


def grid_click(client, app, output_id, grid_id, value):
    """A button cell clicked in a data grid (CtButton sets the grid's cellRendererData), as the browser sends it."""
    keys = [k for k in app.callback_map if f"{output_id}." in k]
    data = {"value": value, "colId": "action", "rowIndex": 0, "rowId": "0", "timestamp": 1}
    body = {"output": keys[0], "outputs": {"id": output_id, "property": "children"},
            "inputs": [{"id": grid_id, "property": "cellRendererData", "value": data}], "state": [],
            "changedPropIds": [f"{grid_id}.cellRendererData"]}
    return client.post("/_dash-update-component", json=body)


def pattern_click(client, app, output_id, type_, index):
    """A pattern-matching button click, as the browser encodes it."""
    keys = [k for k in app.callback_map if f"{output_id}." in k]
    id_ = {"index": index, "type": type_}
    body = {"output": keys[0], "outputs": {"id": output_id, "property": "children"},
            "inputs": [[{"id": id_, "property": "n_clicks", "value": 1}]], "state": [],
            "changedPropIds": [json.dumps(id_, separators=(",", ":"), sort_keys=True) + ".n_clicks"]}
    return client.post("/_dash-update-component", json=body)


def test_firmware_upload_campaign_and_abort_are_admin_only(web):
    app, Session, _ = web
    admin = client_as(app, "admin")
    for who in ("hq", "kagwe"):
        assert "Only administrators" in json.dumps(upload(client_as(app, who), app, "2.0.0", IMAGE, IMAGE_SHA).get_json())
    with Session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(FirmwareImage)) == 0
    assert "ota-upload-invalid" in json.dumps(upload(admin, app, "2.0.0", IMAGE, "f" * 64).get_json())
    assert "ota-upload-ok" in json.dumps(upload(admin, app, "2.0.0", IMAGE, IMAGE_SHA).get_json())
    with Session() as s:
        image_id = s.scalar(sa.select(FirmwareImage.id))
    assert "Only administrators" in json.dumps(start(client_as(app, "kagwe"), app, image_id, "all", None).get_json())
    assert "ota-start-invalid" in json.dumps(start(admin, app, image_id, "factory", "NOPE").get_json())
    assert "ota-start-ok" in json.dumps(start(admin, app, image_id, "factory", "KGW").get_json())
    with Session() as s:
        campaign = s.scalars(sa.select(OtaCampaign)).one()
    refused = pattern_click(client_as(app, "hq"), app, "ota-action-feedback", "ota-action", f"{campaign.id}:abort")
    assert "Only administrators" in json.dumps(refused.get_json())
    done = pattern_click(admin, app, "ota-action-feedback", "ota-action", f"{campaign.id}:abort")
    assert "is aborted" in json.dumps(done.get_json())
    # HQ sees the campaign and the inventory; a factory manager gets neither.
    body = json.dumps(post_callback(client_as(app, "hq"), app, "ota-campaigns", [
        {"id": "ota-interval", "property": "n_intervals", "value": 0},
        {"id": "ota-action-feedback", "property": "children", "value": None}]).get_json())
    assert "firmware 2.0.0" in body and "KGW-S1" in body
    fm = json.dumps(post_callback(client_as(app, "kagwe"), app, "ota-campaigns", [
        {"id": "ota-interval", "property": "n_intervals", "value": 0},
        {"id": "ota-action-feedback", "property": "children", "value": None}]).get_json())
    assert "2.0.0" not in fm and "does not have access" in fm


def test_image_route_needs_a_live_token_not_a_session(web):
    app, Session, _ = web
    anonymous = app.server.test_client()
    resp = anonymous.get("/ota/not-a-token/KGW-S1/firmware.bin")
    assert resp.status_code == 404  # answered by the route, not redirected to the sign-in page
    assert anonymous.get("/hq/firmware").status_code == 302  # the rest still needs a session


# --- Alerts page ---------------------------------------------------------------------------------

def test_alerts_list_ack_and_contact_are_scoped(web):
    app, Session, fx = web
    with Session() as s:
        own = Alert(rule="node_offline", key="node_offline:KGW-S1", factory_id=fx.factory_ids["KGW"], audience="factory",
                    title="Node KGW-S1 at Kagwe (KGW) is offline", state="firing")
        other = Alert(rule="node_offline", key="node_offline:MTR-S1", factory_id=fx.factory_ids["MTR"],
                      audience="factory", title="Node MTR-S1 at Mataara (MTR) is offline", state="firing")
        s.add_all([own, other])
        s.commit()
    kagwe = client_as(app, "kagwe")
    body = json.dumps(post_callback(kagwe, app, "alerts-list", [
        {"id": "alerts-interval", "property": "n_intervals", "value": 0},
        {"id": "alerts-show-resolved", "property": "value", "value": []},
        {"id": "alerts-ack-feedback", "property": "children", "value": None}]).get_json())
    assert "KGW-S1" in body and "MTR-S1" not in body and "Mataara" not in body
    assert "cannot acknowledge" in json.dumps(
        grid_click(kagwe, app, "alerts-ack-feedback", "alerts-table", other.id).get_json())
    assert "cannot acknowledge" in json.dumps(
        grid_click(client_as(app, "auditor"), app, "alerts-ack-feedback", "alerts-table", own.id).get_json())
    assert "Acknowledged" in json.dumps(grid_click(kagwe, app, "alerts-ack-feedback", "alerts-table", own.id).get_json())
    with Session() as s:
        assert (s.get(Alert, own.id).state, s.get(Alert, own.id).acknowledged_by) == ("acknowledged", "kagwe")
        assert s.get(Alert, other.id).state == "firing"

    def save(email, phone, quiet_from=None, quiet_to=None):
        return json.dumps(post_callback(kagwe, app, "alerts-save-feedback", [
            {"id": "alerts-save", "property": "n_clicks", "value": 1}], [
            {"id": "alerts-email", "property": "value", "value": email},
            {"id": "alerts-phone", "property": "value", "value": phone},
            {"id": "alerts-optout", "property": "value", "value": ["sms"]},
            {"id": "alerts-quiet-from", "property": "value", "value": quiet_from},
            {"id": "alerts-quiet-to", "property": "value", "value": quiet_to}]).get_json())

    for bad in (("not-an-email", None), ("a@b.ke", "0712345678"), ("a@b.ke", None, 25, 6), ("a@b.ke", None, 21, None),
                ("a@b.ke", None, "x", 6), ("a" * 300 + "@b.ke", None)):
        assert "alerts-save-invalid" in save(*bad)
    assert "alerts-save-ok" in save("mgr@kagwe.example", "+254 712 345 678", 21, 6)
    with Session() as s:
        uid = s.scalar(sa.select(User.id).where(User.username == "kagwe"))
        c = s.get(UserContact, uid)
    assert (c.email, c.phone, c.sms_opt_out, c.email_opt_out, c.quiet_from_hour, c.quiet_to_hour) == (
        "mgr@kagwe.example", "+254712345678", True, False, 21, 6)

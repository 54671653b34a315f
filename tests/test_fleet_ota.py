"""OTA campaigns: image checks, target selection, pause/abort, and end to end through the real broker,
the listener, the web app's image route and simulated nodes playing the firmware's OTA states."""

from __future__ import annotations

import dataclasses
import hashlib
import threading
import urllib.error
import urllib.request
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from ingest_helpers import free_port, make_config, seed_fleet, wait_until
from web_helpers import web_config

from core.access import AccessDenied
from core.accounts.users import create_user
from core.db import make_engine, make_session_factory
from core.fleet import ota
from core.models import Device, DeviceCommand, OtaCampaign, OtaTarget, User

IMAGE = bytes([0xE9]) + b"\x07carbontrack-1.1.0" + bytes(range(256)) * 40  # ESP32 magic byte first
IMAGE_SHA = hashlib.sha256(IMAGE).hexdigest()  # independent of the code under test


def users(Session):  # noqa: N803
    with Session() as s:
        create_user(s, "root", "root-pass-123", "admin")
        create_user(s, "head", "head-pass-123", "hq")
        s.commit()
        return {u.username: u for u in s.scalars(sa.select(User))}


@pytest.fixture
def small(sqlite_url):
    engine = make_engine(sqlite_url)
    Session = make_session_factory(engine)  # noqa: N806
    nodes = seed_fleet(Session, n_factories=2, devices_per_factory=2, prefix="U")
    with Session() as s:
        for d in s.scalars(sa.select(Device)):
            d.firmware = "1.0.0"
        s.commit()
    yield Session, nodes, users(Session)
    engine.dispose()


@pytest.mark.parametrize(("version", "data", "sha", "why"), [
    ("1.1.0", IMAGE, "0" * 64, "does not match"),
    ("1.1.0", IMAGE, "xyz", "64 hexadecimal"),
    ("1.1.0", b"", hashlib.sha256(b"").hexdigest(), "empty"),
    ("1.1.0", b"\x00" + IMAGE[1:], hashlib.sha256(b"\x00" + IMAGE[1:]).hexdigest(), "0xE9"),
    ("1.1.0", b"\xe9" * (ota.IMAGE_MAX_BYTES + 1), hashlib.sha256(b"\xe9" * (ota.IMAGE_MAX_BYTES + 1)).hexdigest(),
     "OTA slot holds 1,572,864"),
    ("../../etc", IMAGE, IMAGE_SHA, "version"),
    ("", IMAGE, IMAGE_SHA, "version"),
])
def test_upload_checks_version_size_and_hash(small, tmp_path, version, data, sha, why):
    Session, _, u = small
    with Session() as s, pytest.raises(ota.OtaError, match=why):
        ota.store_image(s, u["root"], tmp_path, version, data, sha)
    assert not (tmp_path / "firmware").exists() or list((tmp_path / "firmware").iterdir()) == []


def test_upload_stores_the_file_once_and_only_for_admins(small, tmp_path):
    Session, _, u = small
    with Session() as s:
        with pytest.raises(AccessDenied):
            ota.store_image(s, u["head"], tmp_path, "1.1.0", IMAGE, IMAGE_SHA)
        image = ota.store_image(s, u["root"], tmp_path, "1.1.0", IMAGE, IMAGE_SHA.upper())
        with pytest.raises(ota.OtaError, match="already"):
            ota.store_image(s, u["root"], tmp_path, "1.1.0", IMAGE, IMAGE_SHA)
    stored = tmp_path / image.path
    assert stored.read_bytes() == IMAGE and image.size_bytes == len(IMAGE) and image.sha256 == IMAGE_SHA


@pytest.mark.parametrize(("kind", "value", "canary", "expected"), [
    ("device", "U00-S2", None, ["U00-S2"]),
    ("factory", "u01", None, ["U01-S1", "U01-S2"]),
    ("region", "1", None, ["U00-S1", "U00-S2"]),  # seed_fleet: factory i is in region 1 + i
    ("all", None, None, ["U00-S1", "U00-S2", "U01-S1", "U01-S2"]),
    ("all", None, 50, 2), ("all", None, 1, 1), ("all", None, 100, 4),
])
def test_target_selection_and_canary(small, tmp_path, kind, value, canary, expected):
    Session, _, u = small
    with Session() as s:
        image = ota.store_image(s, u["root"], tmp_path, "1.1.0", IMAGE, IMAGE_SHA)
        c = ota.create_campaign(s, u["root"], image.id, kind, value, canary)
        got = sorted(s.scalars(sa.select(OtaTarget.device_id).where(OtaTarget.campaign_id == c.id)))
    if isinstance(expected, int):
        assert len(got) == expected
    else:
        assert got == expected


@pytest.mark.parametrize(("kind", "value", "canary", "why"), [
    ("device", "NOPE-S1", None, "no active node"), ("region", "x", None, "region number"),
    ("galaxy", None, None, "target must be"), ("all", None, 0, "canary"), ("all", None, 101, "canary"),
    ("all", None, "ten", "canary"),
])
def test_bad_campaigns_are_refused(small, tmp_path, kind, value, canary, why):
    Session, _, u = small
    with Session() as s:
        image = ota.store_image(s, u["root"], tmp_path, "1.1.0", IMAGE, IMAGE_SHA)
        with pytest.raises(ota.OtaError, match=why):
            ota.create_campaign(s, u["root"], image.id, kind, value, canary)
        with pytest.raises(AccessDenied):
            ota.create_campaign(s, u["head"], image.id, "all")
        assert s.scalar(sa.select(sa.func.count()).select_from(OtaCampaign)) == 0


def test_pause_resume_abort_and_in_flight_limit(small, tmp_path, monkeypatch):
    Session, _, u = small
    monkeypatch.setattr(ota, "MAX_IN_FLIGHT", 1)
    with Session() as s:
        image = ota.store_image(s, u["root"], tmp_path, "1.1.0", IMAGE, IMAGE_SHA)
        c = ota.create_campaign(s, u["root"], image.id, "all")
        ota.set_campaign_status(s, u["root"], c.id, "pause")
        assert ota.advance_campaigns(s, "https://ct.example") == 0  # paused: nothing offered
        ota.set_campaign_status(s, u["root"], c.id, "resume")
        ota.advance_campaigns(s, "https://ct.example")
        states = dict(s.execute(sa.select(OtaTarget.device_id, OtaTarget.state)).all())
        assert sorted(states.values()) == ["offered", "pending", "pending", "pending"]  # one at a time
        offered = [d for d, st in states.items() if st == "offered"][0]
        cmd = s.scalars(sa.select(DeviceCommand).where(DeviceCommand.device_id == offered)).one()
        assert cmd.kind == "ota" and f"https://ct.example/ota/{c.token}/{offered}/firmware.bin" in cmd.payload
        assert ota.image_for_download(s, "wrong-token", offered) is None
        assert ota.image_for_download(s, c.token, "U01-S9") is None
        assert ota.image_for_download(s, c.token, offered).version == "1.1.0"
        assert s.get(OtaTarget, s.scalar(sa.select(OtaTarget.id).where(OtaTarget.device_id == offered))).state \
            == "downloading"
        with pytest.raises(AccessDenied):
            ota.set_campaign_status(s, u["head"], c.id, "abort")
        ota.set_campaign_status(s, u["root"], c.id, "abort")
        states = dict(s.execute(sa.select(OtaTarget.device_id, OtaTarget.state)).all())
        assert sorted(states.values()) == ["aborted", "aborted", "aborted", "downloading"]
        assert ota.image_for_download(s, c.token, offered) is None  # aborted: the token is dead
        with pytest.raises(ota.OtaError):
            ota.set_campaign_status(s, u["root"], c.id, "resume")
        # The node that was downloading never answers: it fails on the command's timeout.
        s.execute(sa.update(DeviceCommand).values(status="timeout"))
        s.commit()
        ota.advance_campaigns(s, "https://ct.example")
        assert s.get(OtaTarget, s.scalar(sa.select(OtaTarget.id).where(OtaTarget.device_id == offered))).state \
            == "failed"


def test_firmware_inventory_dates_each_version(small):
    Session, nodes, u = small
    with Session() as s:
        assert ota.note_firmware_changes(s) == 4
        assert ota.note_firmware_changes(s) == 0
        s.get(Device, "U00-S1").firmware = "1.1.0"
        s.commit()
        assert ota.note_firmware_changes(s) == 1
        inv = {r.device_id: r for r in ota.firmware_inventory(s, u["head"])}
        assert inv["U00-S1"].version == "1.1.0" and inv["U00-S2"].version == "1.0.0"
        assert [v for v, _ in ota.firmware_history(s, u["head"], "U00-S1")] == ["1.1.0", "1.0.0"]


@pytest.mark.mqtt
def test_campaign_end_to_end_with_simulated_nodes(Session, db_url, mosquitto, topic_prefix, tmp_path):  # noqa: N803
    from werkzeug.serving import make_server

    from app import create_app
    from mqtt_listener import Listener
    from mqtt_listener.fleet_ops import FleetOps, ota_tick
    from mqtt_listener.sim_fleet_ops import SimFleetNode

    host, port = mosquitto
    nodes = seed_fleet(Session, n_factories=2, devices_per_factory=3, prefix=f"A{uuid.uuid4().hex[:3].upper()}")
    with Session() as s:
        for d in s.scalars(sa.select(Device)):
            d.firmware = "1.0.0"
        s.commit()
    u = users(Session)
    web_port = free_port()
    wcfg = web_config(db_url, tmp_path)
    app = create_app(wcfg, Session)
    server = make_server("127.0.0.1", web_port, app.server, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    cfg = make_config(db_url, topic_prefix, host, port)
    cfg = dataclasses.replace(cfg, public_url=f"http://127.0.0.1:{web_port}")
    listener = Listener(cfg, Session, client_id=f"ota-{uuid.uuid4().hex[:6]}", protocol="5")
    listener.start()
    ops = FleetOps(cfg, Session, cfg.mqtt_url, poll_s=0.1, extra_tick=ota_tick(cfg)).start()
    behaviours = ["confirm", "rollback", "bad_hash"]
    sims = [SimFleetNode(host, port, topic_prefix, n.factory_code, n.device_id, "1.0.0",
                         ota_behaviour=behaviours[i % 3]).start() for i, n in enumerate(nodes)]
    try:
        assert listener.wait_connected(10) and ops.connected.wait(10)
        with Session() as s:
            image = ota.store_image(s, u["root"], wcfg.data_dir, "1.1.0", IMAGE, IMAGE_SHA)
            campaign = ota.create_campaign(s, u["root"], image.id, "factory", nodes[0].factory_code)

        def states() -> dict[str, str]:
            with Session() as s:
                return dict(s.execute(sa.select(OtaTarget.device_id, OtaTarget.state)).all())

        assert wait_until(lambda: sorted(states().values()) == ["confirmed", "failed", "rolled_back"], 60), states()
        got = states()
        assert got == {nodes[0].device_id: "confirmed", nodes[1].device_id: "rolled_back",
                       nodes[2].device_id: "failed"}
        for sim in sims[3:]:
            assert sim.received == []  # the other factory was not targeted
        offer = sims[0].received[0]
        assert offer["cmd"] == "ota" and offer["sha256"] == IMAGE_SHA and offer["version"] == "1.1.0"
        assert offer["url"] == f"http://127.0.0.1:{web_port}/ota/{campaign.token}/{nodes[0].device_id}/firmware.bin"
        with Session() as s:
            assert s.get(Device, nodes[0].device_id).firmware == "1.1.0"
            assert s.get(Device, nodes[1].device_id).firmware == "1.0.0"
            failed = s.scalars(sa.select(OtaTarget).where(OtaTarget.device_id == nodes[2].device_id)).one()
            assert "sha256 mismatch" in failed.detail

        def status() -> str:
            with Session() as s:
                return s.get(OtaCampaign, campaign.id).status

        assert wait_until(lambda: status() == "done", 10)
        # The campaign is over: its token no longer serves the image, to anybody.
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(offer["url"], timeout=5)  # noqa: S310
        assert err.value.code == 404
    finally:
        for sim in sims:
            sim.stop()
        ops.stop()
        listener.stop()
        server.shutdown()
    with Session() as s:
        ota.note_firmware_changes(s, s.get(Device, nodes[0].device_id).last_seen_at + timedelta(seconds=1))
        inv = {r.device_id: r.version for r in ota.firmware_inventory(s, u["head"])}
    assert inv[nodes[0].device_id] == "1.1.0" and inv[nodes[1].device_id] == "1.0.0"


def test_an_image_uploaded_on_one_host_is_served_by_another(pg_url, tmp_path):
    """Two web hosts with their own data directories on one PostgreSQL (the default store there is the
    database, core.storage): an image uploaded through one is downloaded by a node from the other, byte
    for byte; a damaged stored copy is refused (503), never sent to a node."""
    from app import create_app
    from core.storage import open_store

    engine = make_engine(pg_url)
    Session = make_session_factory(engine)  # noqa: N806
    try:
        nodes = seed_fleet(Session, n_factories=1, devices_per_factory=1, prefix="MH")
        u = users(Session)
        cfg_a, cfg_b = web_config(pg_url, tmp_path / "a"), web_config(pg_url, tmp_path / "b")
        with Session() as s:
            image = ota.store_image(s, u["root"], cfg_a.data_dir, "1.1.0", IMAGE, IMAGE_SHA,
                                    store=open_store(cfg_a, Session))
            campaign = ota.create_campaign(s, u["root"], image.id, "factory", nodes[0].factory_code)
            target = s.scalars(sa.select(OtaTarget).where(OtaTarget.campaign_id == campaign.id)).one()
            target.state = "offered"
            s.commit()
            path, token = image.path, campaign.token
        assert not (cfg_b.data_dir / path).exists()  # host B never saw the upload
        host_b = create_app(cfg_b, Session).server.test_client()
        resp = host_b.get(f"/ota/{token}/{nodes[0].device_id}/firmware.bin")
        assert resp.status_code == 200
        assert hashlib.sha256(resp.data).hexdigest() == IMAGE_SHA and resp.data == IMAGE
        open_store(cfg_a, Session).put(path, IMAGE[:-1] + b"\x00")  # the stored copy damaged
        resp = create_app(cfg_b, Session).server.test_client().get(f"/ota/{token}/{nodes[0].device_id}/firmware.bin")
        assert resp.status_code == 503
    finally:
        engine.dispose()

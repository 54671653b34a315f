"""Remote commands through the real Mosquitto with a simulated node answering (SQLite and PostgreSQL).

The web writes the command (admin only, audited); the fleet-ops process publishes it on the
node's cmd topic with its id; the node's answer on cmd/result lands on the command row; a node
that never answers times out.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from ingest_helpers import make_config, seed_fleet, wait_until

from core.access import AccessDenied
from core.accounts.users import create_user
from core.db import make_engine, make_session_factory
from core.fleet import commands
from core.models import AuditLog, Device, DeviceCommand, User
from mqtt_listener.fleet_ops import FleetOps
from mqtt_listener.sim_fleet_ops import SimFleetNode


@pytest.fixture
def fleet(Session, db_url, mosquitto, topic_prefix):
    host, port = mosquitto
    nodes = seed_fleet(Session, n_factories=2, prefix=f"C{uuid.uuid4().hex[:3].upper()}")
    with Session() as s:
        create_user(s, "root", "root-pass-123", "admin")
        create_user(s, "boss", "boss-pass-123", "factory_manager", nodes[0].factory_code)
        create_user(s, "head", "head-pass-123", "hq")
        s.commit()
    cfg = make_config(db_url, topic_prefix, host, port)
    ops = FleetOps(cfg, Session, cfg.mqtt_url, poll_s=0.1).start()
    assert ops.connected.wait(10)
    sims = [SimFleetNode(host, port, topic_prefix, n.factory_code, n.device_id).start() for n in nodes]
    yield nodes, sims, ops
    for sim in sims:
        sim.stop()
    ops.stop()


def user(Session, name):  # noqa: N803
    with Session() as s:
        return s.scalars(sa.select(User).where(User.username == name)).one()


def status_of(Session, command_id):  # noqa: N803
    with Session() as s:
        return s.get(DeviceCommand, command_id)


@pytest.mark.mqtt
@pytest.mark.parametrize(("kind", "params", "expected"), [
    ("set_interval", {"interval_s": 30}, {"cmd": "set", "key": "interval_s", "value": 30}),
    ("payload_size", {"max_payload": "8192"}, {"cmd": "set", "key": "max_payload", "value": 8192}),
    ("reboot", None, {"cmd": "reboot"}),
    ("status", None, {"cmd": "status"}),
    ("calibrate_zero", None, {"cmd": "calibrate", "kind": "zero"}),
    ("calibrate_span", {"ppm": 150000}, {"cmd": "calibrate", "kind": "span", "ppm": 150000.0}),
])
def test_admin_command_reaches_the_node_and_its_result_comes_back(Session, fleet, kind, params, expected):  # noqa: N803
    nodes, sims, _ = fleet
    admin = user(Session, "root")
    with Session() as s:
        row = commands.send_command(s, admin, nodes[0].device_id, kind, params)
    assert wait_until(lambda: status_of(Session, row.id).status == "ok", 15)
    got = sims[0].received[-1]
    assert got["id"] == row.id
    assert {k: got[k] for k in expected} == expected  # the firmware parser's top-level keys
    assert got["args"] == {k: v for k, v in expected.items() if k != "cmd"}  # contract v1.1 `args`
    assert sims[1].received == []  # only the addressed node got it
    # The broker's PUBACK (sent_at) can reach the dispatcher after the node's answer on a busy
    # machine (commands.mark_sent keeps the answer's status): both are recorded, in either order.
    assert wait_until(lambda: status_of(Session, row.id).sent_at is not None, 15)
    done = status_of(Session, row.id)
    assert done.result_ok is True and done.result_at is not None
    assert abs((done.result_at - done.sent_at).total_seconds()) < 15
    assert done.result_detail
    with Session() as s:
        audit = s.scalars(sa.select(AuditLog).where(AuditLog.action == "command")).one()
        views = commands.device_commands(s, admin, nodes[0].device_id)
    assert (audit.username, audit.entity_id, audit.field) == ("root", nodes[0].device_id, kind)
    assert json.loads(audit.new_value)["id"] == row.id
    assert [v.state for v in views] == ["ok"]


@pytest.mark.mqtt
def test_failed_calibration_is_shown_failed(Session, fleet):  # noqa: N803
    nodes, sims, _ = fleet
    sims[1].calibration_ok = False
    with Session() as s:
        row = commands.send_command(s, user(Session, "root"), nodes[1].device_id, "calibrate_zero")
    assert wait_until(lambda: status_of(Session, row.id).status == "failed", 15)
    assert "drifted" in status_of(Session, row.id).result_detail


@pytest.mark.mqtt
@pytest.mark.parametrize("who", ["boss", "head"])
def test_only_admins_send(Session, fleet, who):  # noqa: N803
    nodes, sims, ops = fleet
    with Session() as s, pytest.raises(AccessDenied):
        commands.send_command(s, user(Session, who), nodes[0].device_id, "reboot")
    ops.tick()
    with Session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(DeviceCommand)) == 0
        assert s.scalar(sa.select(sa.func.count()).select_from(AuditLog)) == 0
    assert sims[0].received == []


@pytest.mark.mqtt
def test_factory_manager_sees_only_own_nodes_commands(Session, fleet):  # noqa: N803
    nodes, _, _ = fleet
    with Session() as s:
        commands.send_command(s, user(Session, "root"), nodes[1].device_id, "status")
        with pytest.raises(AccessDenied):
            commands.device_commands(s, user(Session, "boss"), nodes[1].device_id)
        assert commands.device_commands(s, user(Session, "boss"), nodes[0].device_id) == []


@pytest.mark.parametrize(("kind", "params"), [
    ("set_interval", {"interval_s": 5}), ("set_interval", {"interval_s": 30.5}),
    ("set_interval", {"interval_s": "abc"}), ("set_interval", {"interval_s": math.nan}), ("set_interval", {}),
    ("payload_size", {"max_payload": 100}), ("payload_size", {"max_payload": 70000}),
    ("payload_size", {"max_payload": 20000}),  # above the node's 16 KiB cap (firmware payload.h)
    ("calibrate_span", {"ppm": 0}), ("calibrate_span", {"ppm": 400000}), ("calibrate_span", {"ppm": None}),
    ("format_flash", None), ("ota", {"url": "https://x", "sha256": "0" * 64, "version": "9"}),
])
def test_invalid_commands_are_refused_before_anything_is_stored(sqlite_url, kind, params):
    Session = make_session_factory(make_engine(sqlite_url))  # noqa: N806
    nodes = seed_fleet(Session, n_factories=1)
    with Session() as s:
        create_user(s, "root", "root-pass-123", "admin")
        s.commit()
    with Session() as s, pytest.raises(commands.CommandError):
        commands.send_command(s, user(Session, "root"), nodes[0].device_id, kind, params)
    with Session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(DeviceCommand)) == 0


@pytest.mark.mqtt
def test_silent_node_times_out_and_late_answer_is_kept(Session, fleet, monkeypatch):  # noqa: N803
    nodes, sims, ops = fleet
    monkeypatch.setattr(commands, "RESULT_TIMEOUT", timedelta(seconds=1))
    sims[0].respond = False
    with Session() as s:
        row = commands.send_command(s, user(Session, "root"), nodes[0].device_id, "reboot")
    assert wait_until(lambda: status_of(Session, row.id).status == "timeout", 15)
    assert len(sims[0].received) == 1  # it was delivered, just never answered
    sims[0].answer(row.id, True, "rebooting (late)")
    assert wait_until(lambda: status_of(Session, row.id).result_at is not None, 10)
    with Session() as s:
        view = commands.device_commands(s, user(Session, "root"), nodes[0].device_id)[0]
    assert view.state == "timeout (late answer)" and view.result_detail == "rebooting (late)"


@pytest.mark.mqtt
def test_a_node_cannot_answer_for_another_nodes_command(Session, fleet):  # noqa: N803
    nodes, sims, _ = fleet
    sims[0].respond = False
    with Session() as s:
        row = commands.send_command(s, user(Session, "root"), nodes[0].device_id, "reboot")
    assert wait_until(lambda: status_of(Session, row.id).status == "sent", 10)
    sims[1].answer(row.id, True, "forged")
    sims[1].answer("c-unknown", True, "nothing")
    with Session() as s:
        commands.send_command(s, user(Session, "root"), nodes[1].device_id, "status")
    # The second node's own command is answered, so its forged answer has arrived too by then.
    assert wait_until(lambda: len(sims[1].received) == 1, 10)

    def answered() -> int:
        with Session() as s:
            return s.scalar(sa.select(sa.func.count()).select_from(DeviceCommand).where(DeviceCommand.status == "ok"))

    assert wait_until(lambda: answered() == 1, 10)
    assert status_of(Session, row.id).status == "sent" and status_of(Session, row.id).result_at is None


def test_queued_command_with_no_publisher_times_out(sqlite_url):
    Session = make_session_factory(make_engine(sqlite_url))  # noqa: N806
    nodes = seed_fleet(Session, n_factories=1)
    with Session() as s:
        create_user(s, "root", "root-pass-123", "admin")
        s.commit()
    with Session() as s:
        row = commands.send_command(s, user(Session, "root"), nodes[0].device_id, "reboot")
        assert commands.expire_commands(s, row.created_at + commands.QUEUE_TIMEOUT - timedelta(seconds=1)) == 0
        assert commands.expire_commands(s, row.created_at + commands.QUEUE_TIMEOUT + timedelta(seconds=1)) == 1
        assert commands.claim_queued(s, now=row.created_at + commands.QUEUE_TIMEOUT * 2) == []
    got = status_of(Session, row.id)
    assert got.status == "timeout" and "fleet-ops" in got.result_detail


@pytest.mark.mqtt
def test_demo_responder_answers_for_every_simulated_node(sqlite_url, mosquitto, topic_prefix):
    from mqtt_listener.sim_fleet_ops import SimCommandResponder

    host, port = mosquitto
    Session = make_session_factory(make_engine(sqlite_url))  # noqa: N806
    nodes = seed_fleet(Session, n_factories=2)
    with Session() as s:
        create_user(s, "root", "root-pass-123", "admin")
        s.commit()
    cfg = make_config(sqlite_url, topic_prefix, host, port)
    ops = FleetOps(cfg, Session, cfg.mqtt_url, poll_s=0.1).start()
    responder = SimCommandResponder(host, port, topic_prefix).start()
    try:
        assert ops.connected.wait(10)
        assert wait_until(lambda: responder.client.is_connected(), 10)
        time.sleep(0.3)  # its subscription is in place
        with Session() as s:
            ids = [commands.send_command(s, user(Session, "root"), n.device_id, "set_interval", {"interval_s": 120}).id
                   for n in nodes]
            ota = commands.queue_command(s, s.get(Device, nodes[0].device_id), "ota",
                                         {"url": "https://x.example/fw.bin", "sha256": "a" * 64, "version": "9"})
            s.commit()
        assert wait_until(lambda: all(status_of(Session, i).status == "ok" for i in ids), 15)
        assert status_of(Session, ids[1]).result_detail == "interval_s=120 stored; applied at the next reboot"
        assert wait_until(lambda: status_of(Session, ota.id).status == "failed", 15)
    finally:
        responder.stop()
        ops.stop()

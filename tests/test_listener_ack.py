"""Contract v1.1 end-to-end ack: the node deletes a reading only when the server committed it.

A broker crash with every reading PUBACKed by the broker but not yet stored (the listener is
down) loses them at the broker; the node (here the simulator, which follows the firmware's rule)
still holds them, resends after its ack timeout, and every reading is stored exactly once.
"""

from __future__ import annotations

import getpass
import json
import os
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import sqlalchemy as sa
from conftest import GOLDEN_DIR, require_or_skip
from ingest_helpers import MOSQUITTO, count_readings, free_port, make_config, seed_fleet, wait_until

from core.config import MqttUrl
from core.db import make_engine, make_session_factory
from core.models import Device, Reading
from mqtt_listener import Listener
from mqtt_listener.simulator import AckBuffer, SimConfig, nodes_from_db, start_simulator

pytestmark = pytest.mark.slow

N_READINGS = 5000


class VolatileMosquitto:
    """A private Mosquitto without persistence: a SIGKILL loses every queued message and session."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.conf = workdir / "volatile.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\nuser {getpass.getuser()}\npersistence false\n"
            "max_inflight_messages 0\nmax_queued_messages 0\nmax_queued_bytes 0\n"
            f"log_dest file {workdir}/volatile.log\n"
        )
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert wait_until(lambda: _port_open(self.port), 10), "mosquitto did not start"

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def _port_open(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def test_ack_buffer_follows_the_contract():
    """Deleted only up to the acked seq; overdue readings come back oldest first; the golden ack parses."""
    buf = AckBuffer(timeout_s=10.0)
    buf.sent("D", [{"seq": s} for s in (1, 2, 3, 4)], now=100.0)
    example = (GOLDEN_DIR / "ack_example.json").read_bytes()
    assert buf.on_ack("D", json.dumps({"seq": 2, "ts": 1764331260.5}).encode()) == 2
    assert len(buf) == 2
    assert buf.due(105.0) == {}
    assert [r["seq"] for r in buf.due(110.0)["D"]] == [3, 4]
    assert buf.due(115.0) == {}  # just resent: the timeout starts again
    assert buf.on_ack("D", b"not json") is None and len(buf) == 2
    assert buf.on_ack("D", example) == json.loads(example)["seq"]
    assert len(buf) == 0  # 1041 >= 4


def test_broker_sigkill_with_5000_readings_in_flight_loses_nothing(pg_url, tmp_path):
    require_or_skip(os.path.exists(MOSQUITTO), "mosquitto binary")
    engine = make_engine(pg_url)
    Session = make_session_factory(engine)  # noqa: N806
    broker = VolatileMosquitto(tmp_path)
    broker.start()
    prefix = f"cttest/{uuid.uuid4().hex[:8]}"
    seed_fleet(Session, n_factories=5, devices_per_factory=2)
    url = MqttUrl("127.0.0.1", broker.port)
    cfg = make_config(pg_url, prefix, url.host, url.port)
    client_id = f"ack-{uuid.uuid4().hex[:6]}"
    listener = Listener(cfg, Session, client_id=client_id, protocol="5")
    listener.start()
    assert listener.wait_connected(10)
    listener.stop()  # its session stays on the broker: the broker queues (and PUBACKs) for it
    sim_cfg = SimConfig(
        broker=url, prefix=prefix, rate=2500, max_messages=N_READINGS, record=True, ack_timeout_s=3.0, ack_wait_s=120.0
    )
    handle = start_simulator(sim_cfg, nodes_from_db(Session))
    listener = None
    try:
        # Every reading PUBACKed by the broker (and 10 retained statuses): in flight, nothing stored.
        assert wait_until(lambda: handle.stats.acked >= N_READINGS + 10, 30), handle.stats.as_dict()
        assert count_readings(Session) == 0
        broker.kill()  # SIGKILL, no persistence: the 5,000 queued readings are gone from the broker
        broker.start()
        listener = Listener(cfg, Session, client_id=client_id, protocol="5")
        listener.start()
        assert listener.wait_connected(15)
        stats = handle.join(150)
        assert stats.server_unacked == 0
        assert stats.resent_readings >= N_READINGS  # the node resent them all
        expected = set(stats.published_keys)
        assert len(expected) == N_READINGS
        assert wait_until(lambda: count_readings(Session) >= N_READINGS, 30)
        assert listener.wait_idle(10)
        listener.stop()  # saves the acked seqs not saved with a batch yet
        listener = None
        with Session() as s:
            rows = s.execute(sa.select(Reading.device_id, Reading.ts, Reading.seq)).all()
            max_seq = dict(s.execute(sa.select(Reading.device_id, sa.func.max(Reading.seq)).group_by(Reading.device_id)).all())
            acked = dict(s.execute(sa.select(Device.id, Device.acked_seq)).all())
        assert len(rows) == N_READINGS  # exactly once each
        assert {(d, round(ts.timestamp(), 6)) for d, ts, _ in rows} == {(d, round(ts, 6)) for d, ts in expected}
        assert acked == max_seq  # every device acknowledged up to its last reading, and saved
        # The ack is retained: a node connecting now gets {"seq", "ts"} of its device.
        got = threading.Event()
        seen: dict = {}
        device = sorted(max_seq)[0]
        factory = device.split("-")[0]
        sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"node-{uuid.uuid4().hex[:6]}")
        sub.on_connect = lambda c, *_a: c.subscribe(f"{prefix}/{factory}/{device}/ack", qos=1)
        sub.on_message = lambda _c, _u, msg: (seen.update(json.loads(msg.payload), retain=msg.retain), got.set())
        sub.connect("127.0.0.1", broker.port)
        sub.loop_start()
        try:
            assert got.wait(10)
        finally:
            sub.disconnect()
            sub.loop_stop()
        assert seen["seq"] == max_seq[device] and seen["retain"] is True
        assert abs(seen["ts"] - time.time()) < 120
    finally:
        handle.stop(10)
        if listener is not None:
            listener.stop()
        broker.stop()
        engine.dispose()

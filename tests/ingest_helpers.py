"""Helpers for the ingest tests: a small registered fleet, payload builders, a QoS 1 publisher."""

from __future__ import annotations

import getpass
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import sqlalchemy as sa

from core.config import Config, MqttUrl
from core.models import Device, Factory, Reading, RejectedMessage, Stack
from mqtt_listener.qa import QaSettings

BASE_TS = 1764331200.0  # 2025-11-28 12:00 UTC (15:00 in Nairobi); tests shift it to "recent"


@dataclass(frozen=True)
class Node:
    factory_code: str
    device_id: str
    factory_id: int


def seed_fleet(Session, n_factories: int = 2, devices_per_factory: int = 1, prefix: str = "TF") -> list[Node]:  # noqa: N803
    """Register `n_factories` factories with one stack and `devices_per_factory` nodes each."""
    nodes = []
    with Session() as s:
        for i in range(n_factories):
            code = f"{prefix}{i:02d}"
            f = Factory(
                code=code,
                name=f"Test factory {i}",
                region=1 + i % 7,
                county="Nyeri",
                latitude=-0.4,
                longitude=36.9,
                altitude_m=1800.0 + 10 * i,
            )
            s.add(f)
            s.flush()
            st = Stack(factory_id=f.id, name="Boiler 1", diameter_m=0.8, moisture_fraction=0.12, dry_basis=False)
            s.add(st)
            s.flush()
            for j in range(devices_per_factory):
                d = Device(id=f"{code}-S{j + 1}", factory_id=f.id, stack_id=st.id, sample_interval_s=60.0)
                s.add(d)
                nodes.append(Node(code, d.id, f.id))
        s.commit()
    return nodes


def reading(ts: float, seq: int = 1, co2_ppm: float = 84500.0, temp: float = 186.4, vel: float = 7.9, **extra) -> dict:
    """One reading in the firmware format."""
    r = {"seq": seq, "ts": ts, "co2_ppm": co2_ppm, "flue_temp_c": temp, "velocity_m_s": vel}
    r.update(extra)
    return r


def telemetry(device_id: str, readings: list[dict], **envelope) -> bytes:
    """A telemetry payload in the firmware format."""
    doc = {"device_id": device_id, "fw": "1.0.0", "rssi": -67, "uptime_s": 86400, "buffered": 0, "readings": readings}
    doc.update(envelope)
    return json.dumps(doc).encode()


def topic(prefix: str, node: Node, kind: str = "telemetry") -> str:
    return f"{prefix}/{node.factory_code}/{node.device_id}/{kind}"


class Publisher:
    """A QoS 1 publisher that can wait until the broker acknowledged everything it sent."""

    def __init__(self, host: str, port: int, protocol: int = mqtt.MQTTv311, username: str | None = None) -> None:
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}", protocol=protocol)
        if username:
            self.client.username_pw_set(username)
        self.client.max_inflight_messages_set(200)
        self.client.max_queued_messages_set(0)
        self._connected = threading.Event()
        self.client.on_connect = lambda *a, **k: self._connected.set()
        self._acked: set[int] = set()
        self._lock = threading.Lock()
        self.client.on_publish = self._on_publish
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()
        assert self._connected.wait(10), "publisher could not connect"
        self.infos: list[mqtt.MQTTMessageInfo] = []

    def _on_publish(self, _client, _userdata, mid, _rc=None, _props=None) -> None:  # noqa: ANN001
        with self._lock:
            self._acked.add(mid)

    def publish(self, topic_: str, payload: bytes | str, qos: int = 1, retain: bool = False) -> None:
        self.infos.append(self.client.publish(topic_, payload, qos=qos, retain=retain))

    def wait_all(self, timeout_s: float = 30.0) -> None:
        """Wait until the broker acknowledged every publish (also those re-sent after a reconnect)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if all(info.mid in self._acked for info in self.infos):
                    return
            time.sleep(0.05)
        raise AssertionError("broker did not acknowledge every publish")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# reading() repeats the same values, which the flat-line check rightly flags: tests that drive the
# batch writer directly with it pass `qa=NO_FLATLINE` (make_config turns the check off the same way).
NO_FLATLINE = QaSettings(flatline_samples=0)


def make_config(db_url: str, prefix: str, host: str = "127.0.0.1", port: int = 1883, **settings) -> Config:
    """A Config for tests: the given database, broker and topic prefix.

    The flat-line check is off unless a test turns it on (`qa_flatline_samples=5`): `reading()`
    sends the same values every time, which a real sensor never does.
    """
    settings.setdefault("qa_flatline_samples", 0)
    return Config(database_url=db_url, mqtt_url=MqttUrl(host, port), topic_prefix=prefix, secret_key="t", embedded=False,
                  **settings)


def count_readings(Session, device_ids: Iterable[str] | None = None) -> int:  # noqa: N803
    with Session() as s:
        q = sa.select(sa.func.count()).select_from(Reading)
        if device_ids is not None:
            q = q.where(Reading.device_id.in_(list(device_ids)))
        return s.scalar(q)


def reading_keys(Session) -> list[tuple[str, float]]:  # noqa: N803
    """(device_id, unix ts) of every stored reading."""
    with Session() as s:
        rows = s.execute(sa.select(Reading.device_id, Reading.ts)).all()
    return [(d, ts.timestamp()) for d, ts in rows]


def rejections(Session) -> list[RejectedMessage]:  # noqa: N803
    with Session() as s:
        return list(s.scalars(sa.select(RejectedMessage).order_by(RejectedMessage.id)))


def wait_until(predicate, timeout_s: float = 30.0, interval_s: float = 0.1) -> bool:
    """Poll `predicate` until it is true or the timeout passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return bool(predicate())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
REPO = Path(__file__).resolve().parent.parent
BROKER_CONF = REPO / "deploy" / "mosquitto" / "carbontrack.conf"


class OwnMosquitto:
    """A private Mosquitto on a free loopback port with persistence, for restart tests."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.conf = workdir / "mosquitto.conf"
        base = BROKER_CONF.read_text()
        self.conf.write_text(
            base
            + f"\n# --- test overrides ---\nlistener {self.port} 127.0.0.1\nallow_anonymous true\n"
            f"user {getpass.getuser()}\n"
            f"persistence_location {workdir}/\nautosave_interval 1\nlog_dest file {workdir}/mosquitto.log\n"
        )
        self.proc: subprocess.Popen | None = None

    @staticmethod
    def available() -> bool:
        return os.path.exists(MOSQUITTO)

    def start(self) -> None:
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert wait_until(lambda: _port_open(self.port), 10), "own mosquitto did not start"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: Mosquitto saves its persistence file
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def clear_retained(host: str, port: int, topics: Iterable[str], username: str | None = None) -> None:
    """Delete retained messages (an empty retained payload), so test runs leave the broker clean."""
    pub = Publisher(host, port, username=username)
    try:
        for t in topics:
            pub.publish(t, b"", retain=True)
        pub.wait_all(10)
    finally:
        pub.close()

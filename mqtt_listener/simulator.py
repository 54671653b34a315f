"""`carbontrack simulate`: virtual sensor nodes publishing real MQTT in the firmware format.

Two modes:
- real time (default): every node publishes one reading per sample interval (its device's
  `sample_interval_s` from the database, or --interval), spread over the interval; each node
  has its own MQTT connection with a retained `online` status and an `offline` last will, like
  the firmware. Outages (--outage-prob) make a node go silent and buffer; when it comes back it
  flushes the buffer in batches, as the firmware does.
- load (--rate): one connection publishes `rate` messages per second round-robin over the
  nodes, each with --batch-size readings stamped with the publish time (the benchmark measures
  publish-to-commit latency from it).

Usage: `carbontrack simulate -- --rate 2000 --duration 60` (the `--` keeps the options away from
the `carbontrack` parser) or `python -m mqtt_listener.simulator --rate 2000 --duration 60`.

The boiler model gives each factory a daily cycle (leaf arrives in the afternoon, withering and
firing run into the night), two flush seasons a year (Kenya's long and short rains), start-ups
ramping up over half an hour, and shut-downs when there is too little leaf.
"""

from __future__ import annotations

import argparse
import heapq
import json
import logging
import math
import random
import sys
import threading
import time
import uuid
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt

from core.config import MqttUrl, parse_mqtt_url
from core.emissions import barometric_pressure_pa

log = logging.getLogger("mqtt_listener.simulator")

FIRMWARE_VERSION = "1.0.0-sim"
# Readings per buffered-flush message: ~110 bytes each keeps a message far below 64 KiB.
FLUSH_READINGS_PER_MESSAGE = 200
# Per-node connections (with a last will each) up to this many nodes; more share one connection.
MAX_NODE_CONNECTIONS = 200
# Unacknowledged QoS 1 publishes in flight on the load connection (paho's default is 20).
PUBLISH_INFLIGHT = 5000
# Load mode pauses while this many publishes wait for the broker's ack, so that the stated rate is
# what the broker really took (not a backlog in the client) and publish times are honest.
MAX_UNACKED = 4000
# At the end, keep waiting for acknowledgements as long as one arrived within this many seconds.
ACK_STALL_S = 30.0
# Contract v1.1 end-to-end ack: a reading not covered by the server's ack this long after it was
# sent is sent again (the firmware does the same); 0 turns the rule off (v1: delete on PUBACK).
ACK_TIMEOUT_S = 30.0
# At the end of a run, wait this long for the server's acks to cover everything (resending).
ACK_WAIT_S = 120.0
BOILER_OFF_BELOW = 0.30  # fraction of full load under which a factory stops its boiler
STARTUP_RAMP_S = 1800.0  # a cold boiler takes ~30 min to reach firing temperature
SHUTDOWN_RAMP_S = 900.0
NAIROBI = ZoneInfo("Africa/Nairobi")


@dataclass
class NodeSpec:
    """One virtual node: where it publishes and how its boiler behaves."""

    factory_code: str
    device_id: str
    sample_interval_s: float = 60.0
    altitude_m: float = 1800.0
    scale: float = 1.0  # factory size relative to a mid-size factory


@dataclass
class SimStats:
    """What a simulator run published."""

    messages: int = 0
    readings: int = 0
    bad_messages: int = 0
    status_messages: int = 0
    flushes: int = 0  # buffered batches sent after an outage
    acked: int = 0  # broker PUBACKs
    resent_readings: int = 0  # readings sent again because the server's ack did not cover them in time
    server_unacked: int = 0  # readings the server's ack never covered (at the end of the run)
    started: float = field(default_factory=time.time)
    finished: float | None = None
    published_keys: list[tuple[str, float]] = field(default_factory=list)  # only when recording

    def as_dict(self) -> dict:
        """Counters as a dict (without the recorded keys)."""
        return {k: v for k, v in self.__dict__.items() if k != "published_keys"}


class BoilerModel:
    """Stateful stack values of one node: seasonal and daily load, start-up and shut-down ramps."""

    def __init__(self, spec: NodeSpec, seed: int) -> None:
        self.spec = spec
        self.rng = random.Random(seed ^ zlib.crc32(spec.device_id.encode()))
        self.ramp = 1.0
        self.last_ts: float | None = None
        self.baro_pa = barometric_pressure_pa(spec.altitude_m)
        self.sends_pressure = self.rng.random() < 0.5  # half the nodes have a pressure sensor

    @staticmethod
    def load(ts: float) -> float:
        """Fraction of full boiler load at `ts` (season × time of day)."""
        local = datetime.fromtimestamp(ts, NAIROBI)
        doy = local.timetuple().tm_yday
        # Two flush seasons: peaks mid-April (long rains) and mid-November (short rains).
        season = 0.7 + 0.3 * math.cos(2 * math.pi * (doy - 105) / 182.5) ** 2
        hour = local.hour + local.minute / 60
        # Leaf arrives from ~14:00; firing runs late; mornings are quiet.
        daily = 0.55 + 0.45 * math.cos(2 * math.pi * (hour - 21) / 24)
        return season * daily

    def sample(self, ts: float) -> dict:
        """One reading at `ts` in the firmware format (without seq)."""
        load = self.load(ts) * (0.9 + 0.2 * self.rng.random())
        on = load >= BOILER_OFF_BELOW
        dt = 60.0 if self.last_ts is None else max(0.0, ts - self.last_ts)
        self.last_ts = ts
        if on:
            self.ramp = min(1.0, self.ramp + dt / STARTUP_RAMP_S)
        else:
            self.ramp = max(0.0, self.ramp - dt / SHUTDOWN_RAMP_S)
        r = self.ramp
        scale = self.spec.scale
        co2 = 420.0 + r * (60_000.0 + 70_000.0 * load) * (0.97 + 0.06 * self.rng.random())
        temp = 24.0 + r * (150.0 + 70.0 * load) + self.rng.gauss(0, 1.5)
        vel = 0.3 + r * (3.5 + 7.0 * load * scale) + self.rng.gauss(0, 0.15)
        out = {
            "ts": round(ts, 3),
            "co2_ppm": round(co2, 1),
            "flue_temp_c": round(temp, 1),
            "velocity_m_s": round(max(0.0, vel), 2),
        }
        if self.sends_pressure:
            out["pressure_pa"] = round(self.baro_pa - 40.0 * r, 0)
        return out


@dataclass
class SimConfig:
    """How the simulated fleet behaves."""

    broker: MqttUrl
    prefix: str = "carbontrack/v1"
    interval_s: float | None = None  # None: each device's sample_interval_s
    duration_s: float = 0.0  # 0: until stopped
    rate: float | None = None  # load mode: messages per second
    batch_size: int = 1
    outage_prob: float = 0.0  # per node per interval: probability that an outage starts
    outage_intervals: float = 10.0  # mean outage length in intervals
    bad_ratio: float = 0.0  # share of extra, deliberately bad messages
    seed: int = 1
    protocol: str = "3.1.1"
    record: bool = False  # keep (device, ts) of every good reading (tests)
    max_messages: int | None = None  # load mode: stop after this many messages
    # Contract v1.1: keep readings until the server's ack covers them, resend after this many
    # seconds (ACK_TIMEOUT_S is the firmware's value); 0: v1 behaviour, a reading is done on PUBACK.
    ack_timeout_s: float = 0.0
    ack_wait_s: float = ACK_WAIT_S  # at the end, wait this long for the server's acks


class AckBuffer:
    """The node's v1.1 rule: keep each sent reading until the server's ack covers its seq; resend after a timeout.

    The server's ack (`<prefix>/<factory>/<device>/ack`, retained) carries the highest contiguous
    committed seq of the device; everything up to it is deleted. Thread-safe: acks arrive on the
    MQTT network thread.
    """

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._pending: dict[str, dict[int, tuple[dict, float]]] = {}  # device -> seq -> (reading, sent at)
        self.acked: dict[str, int] = {}

    def sent(self, device_id: str, readings: Sequence[dict], now: float) -> None:
        """Remember readings just published (they stay until acknowledged)."""
        with self._lock:
            pending = self._pending.setdefault(device_id, {})
            acked = self.acked.get(device_id, -1)
            for r in readings:
                if r["seq"] > acked:
                    pending[r["seq"]] = (r, now)

    def on_ack(self, device_id: str, payload: bytes) -> int | None:
        """Apply an ack payload `{"seq": n, "ts": t}`; return the acked seq (None if the payload is bad)."""
        try:
            doc = json.loads(payload)
            seq = doc["seq"]
        except (ValueError, TypeError, KeyError):
            return None
        if type(seq) is not int:
            return None
        with self._lock:
            self.acked[device_id] = seq
            pending = self._pending.get(device_id)
            if pending:
                for s in [s for s in pending if s <= seq]:
                    del pending[s]
        return seq

    def due(self, now: float) -> dict[str, list[dict]]:
        """Readings whose ack is overdue, oldest first per device (marked as sent again now)."""
        out: dict[str, list[dict]] = {}
        with self._lock:
            for device_id, pending in self._pending.items():
                late = sorted(s for s, (_r, at) in pending.items() if now - at >= self.timeout_s)
                if late:
                    out[device_id] = [pending[s][0] for s in late]
                    for s in late:
                        pending[s] = (pending[s][0], now)
        return out

    def __len__(self) -> int:
        """Readings not yet acknowledged by the server."""
        with self._lock:
            return sum(len(p) for p in self._pending.values())


def _client(broker: MqttUrl, protocol: str, client_id: str) -> mqtt.Client:
    proto = mqtt.MQTTv5 if protocol == "5" else mqtt.MQTTv311
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=proto)
    if broker.username:
        client.username_pw_set(broker.username, broker.password)
    if broker.tls:
        client.tls_set()
    client.max_inflight_messages_set(PUBLISH_INFLIGHT)
    client.max_queued_messages_set(0)
    return client


def _bad_payload(rng: random.Random, spec: NodeSpec, prefix: str, ts: float) -> tuple[str, bytes]:
    topic = f"{prefix}/{spec.factory_code}/{spec.device_id}/telemetry"
    good = {"device_id": spec.device_id, "readings": [{"seq": 0, "ts": ts, "co2_ppm": 1.0, "flue_temp_c": 1.0, "velocity_m_s": 1.0}]}
    kind = rng.randrange(5)
    if kind == 0:
        return topic, b'{"device_id": "' + spec.device_id.encode() + b'", "readings": [{"ts": '
    if kind == 1:
        return topic, json.dumps(good).replace('"co2_ppm": 1.0', '"co2_ppm": NaN').encode()
    if kind == 2:
        ghost = f"{spec.factory_code}-GHOST"
        return f"{prefix}/{spec.factory_code}/{ghost}/telemetry", json.dumps({**good, "device_id": ghost}).encode()
    if kind == 3:
        return topic, json.dumps({**good, "readings": "none"}).encode()
    return topic, json.dumps({"device_id": spec.device_id}).encode()


class _Node:
    def __init__(self, spec: NodeSpec, cfg: SimConfig, seed: int) -> None:
        self.spec = spec
        self.model = BoilerModel(spec, seed)
        self.seq = int(time.time()) % 100_000 * 10  # seq continues across "reboots" in real nodes
        self.pending: list[dict] = []  # readings waiting for a full batch
        self.buffer: list[dict] = []  # readings kept during an outage
        self.outage_left = 0
        self.uptime_start = time.time()
        self.telemetry_topic = f"{cfg.prefix}/{spec.factory_code}/{spec.device_id}/telemetry"
        self.status_topic = f"{cfg.prefix}/{spec.factory_code}/{spec.device_id}/status"
        self.client: mqtt.Client | None = None

    def reading(self, ts: float) -> dict:
        self.seq += 1
        r = self.model.sample(ts)
        return {"seq": self.seq, **r}

    def payload(self, readings: list[dict]) -> bytes:
        doc = {
            "device_id": self.spec.device_id,
            "fw": FIRMWARE_VERSION,
            "rssi": -55 - self.model.rng.randrange(30),
            "uptime_s": int(time.time() - self.uptime_start),
            "buffered": len(self.buffer),
            "readings": readings,
        }
        return json.dumps(doc, separators=(",", ":")).encode()


class Simulator:
    """A fleet of virtual nodes; `run(stop)` publishes until the duration ends or `stop` is set."""

    def __init__(self, cfg: SimConfig, specs: Sequence[NodeSpec]) -> None:
        if not specs:
            raise ValueError("no nodes to simulate")
        self.cfg = cfg
        self.nodes = [_Node(s, cfg, cfg.seed) for s in specs]
        self.rng = random.Random(cfg.seed)
        self.stats = SimStats()
        self._lock = threading.Lock()
        self._shared: mqtt.Client | None = None
        self.acks = AckBuffer(cfg.ack_timeout_s) if cfg.ack_timeout_s > 0 else None
        self._by_id = {n.spec.device_id: n for n in self.nodes}
        self._next_resend = 0.0

    # -- connections ------------------------------------------------------------------------

    def _on_publish(self, *_args, **_kwargs) -> None:
        with self._lock:
            self.stats.acked += 1

    def _connect(self, client: mqtt.Client, ack_topic: str | None = None) -> None:
        connected = threading.Event()

        def on_connect(c: mqtt.Client, _u, _f, rc, _p=None) -> None:  # noqa: ANN001
            if rc.is_failure:
                return
            if self.acks is not None:
                c.subscribe(ack_topic or f"{self.cfg.prefix}/+/+/ack", qos=1)  # again after every reconnect
            connected.set()

        client.on_connect = on_connect
        client.on_message = self._on_ack_message
        client.on_publish = self._on_publish
        client.connect_async(self.cfg.broker.host, self.cfg.broker.port, keepalive=30)
        client.loop_start()
        if not connected.wait(15):
            raise ConnectionError(f"simulator could not connect to {self.cfg.broker.host}:{self.cfg.broker.port}")

    def _connect_all(self) -> None:
        per_node = self.cfg.rate is None and len(self.nodes) <= MAX_NODE_CONNECTIONS
        if per_node:
            for node in self.nodes:
                client = _client(self.cfg.broker, self.cfg.protocol, f"ct-node-{node.spec.device_id}-{uuid.uuid4().hex[:6]}")
                # The firmware's last will: the broker publishes "offline" (retained) if the node drops.
                client.will_set(node.status_topic, "offline", qos=1, retain=True)
                self._connect(client, f"{self.cfg.prefix}/{node.spec.factory_code}/{node.spec.device_id}/ack")
                node.client = client
        else:
            self._shared = _client(self.cfg.broker, self.cfg.protocol, f"ct-sim-{uuid.uuid4().hex[:8]}")
            self._connect(self._shared)
            for node in self.nodes:
                node.client = self._shared
        for node in self.nodes:
            self._publish(node, node.status_topic, b"online", retain=True, status=True)

    def _unacked(self) -> int:
        with self._lock:
            return self.stats.messages + self.stats.status_messages + self.stats.bad_messages - self.stats.acked

    def _wait_acked(self, stall_s: float = ACK_STALL_S) -> None:
        """Wait until the broker acknowledged everything, as long as acknowledgements keep coming."""
        last, last_change = self._unacked(), time.monotonic()
        while last > 0:
            time.sleep(0.05)
            now_unacked = self._unacked()
            if now_unacked != last:
                last, last_change = now_unacked, time.monotonic()
            elif time.monotonic() - last_change > stall_s:
                log.warning("%d publishes not acknowledged by the broker; giving up", last)
                return

    def _disconnect_all(self) -> None:
        clients = {id(n.client): n.client for n in self.nodes if n.client is not None}
        for node in self.nodes:
            if node.client is not None:
                self._publish(node, node.status_topic, b"offline", retain=True, status=True)
        self._wait_acked()
        for client in clients.values():
            client.disconnect()
            client.loop_stop()

    def _publish(self, node: _Node, topic: str, payload: bytes, *, retain: bool = False, status: bool = False, bad: bool = False) -> None:
        assert node.client is not None
        node.client.publish(topic, payload, qos=1, retain=retain)
        with self._lock:
            if status:
                self.stats.status_messages += 1
            elif bad:
                self.stats.bad_messages += 1
            else:
                self.stats.messages += 1

    def _on_ack_message(self, _client, _userdata, msg: mqtt.MQTTMessage) -> None:  # noqa: ANN001
        parts = msg.topic.split("/")
        if self.acks is not None and len(parts) >= 3 and parts[-1] == "ack":
            self.acks.on_ack(parts[-2], msg.payload)

    def _resend_due(self, force: bool = False) -> None:
        """Send again what the server has not acknowledged in time (at most every half second)."""
        now = time.time()
        if self.acks is None or (not force and now < self._next_resend):
            return
        self._next_resend = now + 0.5
        for device_id, readings in self.acks.due(now).items():
            node = self._by_id.get(device_id)
            if node is None:
                continue
            for i in range(0, len(readings), FLUSH_READINGS_PER_MESSAGE):
                self._publish(node, node.telemetry_topic, node.payload(readings[i : i + FLUSH_READINGS_PER_MESSAGE]))
            with self._lock:
                self.stats.resent_readings += len(readings)

    def _wait_server_acks(self, stop: threading.Event) -> None:
        """Keep resending until the server's acks cover every reading (or ack_wait_s passes)."""
        if self.acks is None:
            return
        deadline = time.monotonic() + self.cfg.ack_wait_s
        while len(self.acks) and time.monotonic() < deadline and not stop.is_set():
            self._resend_due()
            time.sleep(0.05)
        self.stats.server_unacked = len(self.acks)
        if self.stats.server_unacked:
            log.warning("%d readings never acknowledged by the server", self.stats.server_unacked)

    def _send_readings(self, node: _Node, readings: list[dict]) -> None:
        self._publish(node, node.telemetry_topic, node.payload(readings))
        if self.acks is not None:
            self.acks.sent(node.spec.device_id, readings, time.time())
        with self._lock:
            self.stats.readings += len(readings)
            if self.cfg.record:
                self.stats.published_keys.extend((node.spec.device_id, r["ts"]) for r in readings)

    def _maybe_bad(self, node: _Node, ts: float) -> None:
        if self.cfg.bad_ratio > 0 and self.rng.random() < self.cfg.bad_ratio:
            topic, payload = _bad_payload(self.rng, node.spec, self.cfg.prefix, ts)
            self._publish(node, topic, payload, bad=True)

    # -- real time --------------------------------------------------------------------------

    def _tick(self, node: _Node, ts: float) -> None:
        cfg = self.cfg
        r = node.reading(ts)
        if node.outage_left == 0 and cfg.outage_prob > 0 and self.rng.random() < cfg.outage_prob:
            node.outage_left = max(1, round(self.rng.expovariate(1 / cfg.outage_intervals)))
        if node.outage_left > 0:
            node.outage_left -= 1
            node.buffer.append(r)
            return
        if node.buffer:  # back online: flush what was buffered, oldest first
            with self._lock:
                self.stats.flushes += 1
            while node.buffer:
                chunk = node.buffer[:FLUSH_READINGS_PER_MESSAGE]
                del node.buffer[:FLUSH_READINGS_PER_MESSAGE]
                self._send_readings(node, chunk)
        node.pending.append(r)
        if len(node.pending) >= cfg.batch_size:
            self._send_readings(node, node.pending)
            node.pending = []
        self._maybe_bad(node, ts)

    def _run_realtime(self, stop: threading.Event) -> None:
        cfg = self.cfg
        start = time.time()
        end = start + cfg.duration_s if cfg.duration_s > 0 else math.inf
        heap: list[tuple[float, int]] = []
        for i, node in enumerate(self.nodes):
            interval = cfg.interval_s or node.spec.sample_interval_s
            # Readings sit on the interval grid; nodes are spread over it so they do not all publish at once.
            first = math.floor(start / interval) * interval + interval
            offset = (zlib.crc32(node.spec.device_id.encode()) % 1000) / 1000 * min(interval, 5.0)
            heapq.heappush(heap, (first + offset, i))
            node.model.sample(first - interval)  # warm the ramp state
        while heap and not stop.is_set():
            due, i = heap[0]
            if due >= end:
                break
            wait = due - time.time()
            if wait > 0:
                if stop.wait(wait):
                    break
                continue
            heapq.heappop(heap)
            self._resend_due()
            node = self.nodes[i]
            interval = cfg.interval_s or node.spec.sample_interval_s
            grid_ts = math.floor(due / interval) * interval
            self._tick(node, grid_ts)
            heapq.heappush(heap, (due + interval, i))

    # -- load -------------------------------------------------------------------------------

    def _run_load(self, stop: threading.Event) -> None:
        cfg = self.cfg
        assert cfg.rate
        start = time.time()
        end = start + cfg.duration_s if cfg.duration_s > 0 else math.inf
        n = len(self.nodes)
        i = 0
        batch = max(1, cfg.batch_size)
        while not stop.is_set():
            now = time.time()
            if now >= end or (cfg.max_messages is not None and i >= cfg.max_messages):
                break
            target = start + i / cfg.rate
            if target > now:
                time.sleep(min(target - now, 0.05))
                continue
            self._resend_due()
            if self._unacked() > MAX_UNACKED:  # the broker (or our network thread) is behind
                time.sleep(0.001)
                continue
            node = self.nodes[i % n]
            # Readings stamped with the publish time (the last one) so the benchmark can measure latency;
            # 100 µs apart so that (device, ts) stays unique.
            readings = []
            for k in range(batch):
                ts = now - (batch - 1 - k) * 1e-4
                r = node.reading(ts)
                r["ts"] = round(ts, 6)  # the model rounds to ms; keep µs so (device, ts) stays unique
                readings.append(r)
            self._send_readings(node, readings)
            self._maybe_bad(node, now)
            i += 1

    # -- entry ------------------------------------------------------------------------------

    def run(self, stop: threading.Event | None = None) -> SimStats:
        """Connect, publish until done or stopped, publish offline statuses, disconnect."""
        stop = stop or threading.Event()
        self._connect_all()
        try:
            if self.cfg.rate:
                self._run_load(stop)
            else:
                self._run_realtime(stop)
            self._wait_server_acks(stop)
        finally:
            self._disconnect_all()
            self.stats.finished = time.time()
        return self.stats


class SimulatorHandle:
    """A simulator running in a background thread."""

    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator
        self._stop = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="simulator", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.simulator.run(self._stop)
        except BaseException as exc:
            self.error = exc
            log.exception("simulator stopped with an error")

    @property
    def stats(self) -> SimStats:
        return self.simulator.stats

    def stop(self, timeout_s: float = 30.0) -> SimStats:
        """Stop publishing and wait for the thread; return the stats."""
        self._stop.set()
        self._thread.join(timeout_s)
        return self.stats

    def join(self, timeout_s: float | None = None) -> SimStats:
        """Wait until the run ends by itself (duration or message count)."""
        self._thread.join(timeout_s)
        return self.stats


def nodes_from_db(session_factory, factories: int | None = None) -> list[NodeSpec]:  # noqa: ANN001
    """Node specs for the active devices of the first `factories` factories (by code) in the database."""
    import sqlalchemy as sa

    from core.models import Device, Factory

    with session_factory() as s:
        rows = s.execute(
            sa.select(Factory.code, Device.id, Device.sample_interval_s, Factory.altitude_m)
            .join(Factory, Factory.id == Device.factory_id)
            .where(Device.active.is_(True), Factory.active.is_(True))
            .order_by(Factory.code, Device.id)
        ).all()
    codes = sorted({r[0] for r in rows})
    if factories is not None:
        codes = codes[:factories]
    keep = set(codes)
    return [
        NodeSpec(code, device_id, float(interval or 60.0), float(alt or 1800.0), 0.7 + (zlib.crc32(code.encode()) % 60) / 100)
        for code, device_id, interval, alt in rows
        if code in keep
    ]


def synthetic_nodes(factories: int = 67, devices_per_factory: int = 1, interval_s: float = 60.0) -> list[NodeSpec]:
    """Node specs with made-up ids (SIM000-S1 …) for runs without a database."""
    return [
        NodeSpec(f"SIM{f:03d}", f"SIM{f:03d}-S{d + 1}", interval_s, 1500.0 + 10 * f, 0.7 + (f % 6) / 10)
        for f in range(factories)
        for d in range(devices_per_factory)
    ]


def start_simulator(cfg: SimConfig, nodes: Sequence[NodeSpec]) -> SimulatorHandle:
    """Start a simulated fleet in a background thread."""
    return SimulatorHandle(Simulator(cfg, nodes))


def build_parser() -> argparse.ArgumentParser:
    """Arguments of `carbontrack simulate`."""
    p = argparse.ArgumentParser(prog="carbontrack simulate", description="Publish simulated sensor-node telemetry over MQTT")
    p.add_argument("--broker", help="mqtt://host:port (default: CARBONTRACK_MQTT_URL)")
    p.add_argument("--protocol", choices=["3.1.1", "5"], default="3.1.1")
    p.add_argument("--factories", type=int, help="number of factories (default: all in the database, 67 with --no-db)")
    p.add_argument("--devices-per-factory", type=int, default=1, help="with --no-db")
    p.add_argument("--no-db", action="store_true", help="synthetic device ids (SIM000-S1 …) instead of the database's")
    p.add_argument("--interval", type=float, help="seconds between readings (default: each device's sample interval)")
    p.add_argument("--duration", type=float, default=0.0, help="seconds to run (0 = until Ctrl-C)")
    p.add_argument("--rate", type=float, help="load mode: messages per second over the whole fleet")
    p.add_argument("--messages", type=int, help="load mode: stop after this many messages")
    p.add_argument("--batch-size", type=int, default=1, help="readings per message")
    p.add_argument("--outage-prob", type=float, default=0.0, help="per node and interval: chance an outage starts")
    p.add_argument("--outage-intervals", type=float, default=10.0, help="mean outage length in intervals")
    p.add_argument("--bad-ratio", type=float, default=0.0, help="share of extra deliberately bad messages")
    p.add_argument(
        "--ack-timeout",
        type=float,
        default=0.0,
        help=f"contract v1.1: keep readings until the server acks them, resend after this many s (firmware: {ACK_TIMEOUT_S:g}; 0 = off)",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--shard", default="0/1", help="i/N: simulate every N-th node starting at i (several publisher processes)")
    p.add_argument("--stats-json", help="write the final counters to this file")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run `carbontrack simulate`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--"]:  # `carbontrack simulate -- --rate 100`: the CLI passes the separator through
        argv = argv[1:]
    args = build_parser().parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from core.config import ConfigError, load_config

    try:
        cfg = load_config(require_secret=False)
        broker = parse_mqtt_url(args.broker) if args.broker else cfg.mqtt_url
    except ConfigError as exc:
        print(f"carbontrack simulate: {exc}", file=sys.stderr)
        return 2
    if broker is None:
        print("carbontrack simulate: give --broker mqtt://host:port or set CARBONTRACK_MQTT_URL", file=sys.stderr)
        return 2
    prefix = cfg.topic_prefix
    if args.no_db:
        nodes = synthetic_nodes(args.factories or 67, args.devices_per_factory, args.interval or 60.0)
    else:
        from core.db import open_database

        engine, session_factory = open_database(cfg.database_url)
        try:
            nodes = nodes_from_db(session_factory, args.factories)
        finally:
            engine.dispose()
        if not nodes:
            print("carbontrack simulate: no devices in the database (run `carbontrack init-db --demo` or use --no-db)", file=sys.stderr)
            return 1
    try:
        shard, shards = (int(x) for x in args.shard.split("/"))
        if not 0 <= shard < shards:
            raise ValueError
    except ValueError:
        print(f"carbontrack simulate: --shard must look like 0/2, got {args.shard!r}", file=sys.stderr)
        return 2
    nodes = nodes[shard::shards]
    sim_cfg = SimConfig(
        broker=broker,
        prefix=prefix,
        interval_s=args.interval,
        duration_s=args.duration,
        rate=args.rate,
        batch_size=args.batch_size,
        outage_prob=args.outage_prob,
        outage_intervals=args.outage_intervals,
        bad_ratio=args.bad_ratio,
        seed=args.seed,
        protocol=args.protocol,
        max_messages=args.messages,
        ack_timeout_s=args.ack_timeout,
    )
    log.info("simulating %d nodes on %s:%d (%s)", len(nodes), broker.host, broker.port, "load" if args.rate else "real time")
    stop = threading.Event()
    import signal

    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    sim = Simulator(sim_cfg, nodes)
    try:
        stats = sim.run(stop)
    except KeyboardInterrupt:
        stop.set()
        stats = sim.stats
    except ConnectionError as exc:
        print(f"carbontrack simulate: {exc}", file=sys.stderr)
        return 1
    elapsed = (stats.finished or time.time()) - stats.started
    summary = stats.as_dict() | {"elapsed_s": round(elapsed, 2), "msgs_per_s": round(stats.messages / max(elapsed, 1e-9), 1)}
    print(json.dumps(summary))
    if args.stats_json:
        with open(args.stats_json, "w") as fh:
            json.dump(summary, fh)
    return 0



if __name__ == "__main__":
    sys.exit(main())

"""The fleet-ops process: publishes queued node commands and records the nodes' results.

Runs inside `carbontrack run` and as `carbontrack fleet`. It has its own paho client (MQTT
3.1.1, which Mosquitto and the embedded amqtt broker both speak): it subscribes to
`<prefix>/+/+/cmd/result`, and every `poll_s` it claims the commands the web wrote to the
outbox (`core.fleet.commands`), publishes each on its node's `cmd` topic (QoS 1, not retained)
and marks it sent once the broker has taken it. The same tick expires unanswered commands,
advances OTA campaigns (`core.fleet.ota`) and notes firmware changes for the inventory. Several
fleet-ops processes may run: a command is claimed by exactly one of them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable

import paho.mqtt.client as mqtt
from sqlalchemy.orm import Session, sessionmaker

from core.config import Config, MqttUrl
from core.fleet import commands
from core.timeutil import utcnow

log = logging.getLogger("mqtt_listener.fleet_ops")

POLL_S = 0.5  # outbox latency: a command reaches the broker within about this long
PUBLISH_WAIT_S = 5.0  # longest wait for the broker's PUBACK before the command goes back to the outbox


def command_topic(prefix: str, factory_code: str, device_id: str) -> str:
    """The node's command topic."""
    return f"{prefix}/{factory_code}/{device_id}/cmd"


class FleetOps:
    """Publisher of queued commands and subscriber of command results (one paho client, one thread)."""

    def __init__(self, cfg: Config, session_factory: sessionmaker[Session], broker: MqttUrl,
                 poll_s: float = POLL_S, client_id: str | None = None,
                 extra_tick: Callable[[Session], None] | None = None) -> None:
        self.cfg = cfg
        self.session_factory = session_factory
        self.broker = broker
        self.poll_s = poll_s
        self.extra_tick = extra_tick
        self.prefix = cfg.topic_prefix
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._extra_lock = threading.Lock()  # the paho thread and the tick thread both move campaigns on
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=client_id or f"ct-fleetops-{uuid.uuid4().hex[:8]}",
                                  protocol=mqtt.MQTTv311, clean_session=True)
        if broker.username:
            self.client.username_pw_set(broker.username, broker.password)
        if broker.tls:
            self.client.tls_set()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *_a, **_k: self.connected.clear()
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(1, 30)

    def _on_connect(self, client, _userdata, _flags, reason_code, _props=None) -> None:  # noqa: ANN001
        if reason_code.is_failure:
            log.warning("fleet-ops: broker refused the connection: %s", reason_code)
            return
        client.subscribe(f"{self.prefix}/+/+/cmd/result", qos=1)
        self.connected.set()

    def _on_message(self, _client, _userdata, msg) -> None:  # noqa: ANN001
        parts = msg.topic.split("/")
        if len(parts) < 4 or parts[-2:] != ["cmd", "result"]:
            return
        device_id = parts[-3]
        try:
            payload = json.loads(msg.payload.decode("utf-8"))
            if not isinstance(payload, dict):
                raise ValueError("not an object")
        except (UnicodeDecodeError, ValueError) as exc:
            log.warning("fleet-ops: bad command result on %s: %s", msg.topic, exc)
            return
        try:
            with self.session_factory() as s:
                row = commands.record_result(s, device_id, payload)
                if row is not None:
                    self._run_extra(s)  # an OTA answer moves its campaign on without waiting for the tick
            if row is None:
                log.warning("fleet-ops: result for unknown command %r from %s", payload.get("id"), device_id)
        except Exception:  # a database hiccup must not kill paho's network thread
            log.exception("fleet-ops: could not store the result from %s", device_id)

    def _run_extra(self, session: Session) -> None:
        if self.extra_tick is not None:
            with self._extra_lock:
                self.extra_tick(session)

    def start(self) -> FleetOps:
        """Connect and start the network and outbox threads."""
        self.client.connect_async(self.broker.host, self.broker.port, keepalive=30)
        self.client.loop_start()
        self._thread = threading.Thread(target=self._run, name="fleet-ops", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the threads and disconnect."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with contextlib.suppress(Exception):
            self.client.disconnect()
        self.client.loop_stop()

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.tick()
            except Exception:  # logged; the next tick tries again (e.g. after a database restart)
                log.exception("fleet-ops: tick failed")

    def tick(self) -> int:
        """Publish what is queued, expire what is overdue, run the extra work; return commands published."""
        published = 0
        with self.session_factory() as s:
            self._run_extra(s)
            if self.connected.is_set():
                for row, code in commands.claim_queued(s):
                    published_at = utcnow()  # before the node can possibly answer
                    info = self.client.publish(command_topic(self.prefix, code, row.device_id), row.payload, qos=1)
                    with contextlib.suppress(RuntimeError, ValueError):
                        info.wait_for_publish(PUBLISH_WAIT_S)
                    if info.is_published():
                        commands.mark_sent(s, row.id, published_at, commands.timeout_for(row.kind))
                        published += 1
                    else:
                        commands.mark_unsent(s, row.id)
            commands.expire_commands(s)
        return published


INVENTORY_EVERY_S = 30.0  # firmware inventory: a version change is dated to within this


def ota_tick(cfg: Config) -> Callable[[Session], None]:
    """The fleet-ops extra work: move OTA campaigns on; note firmware changes every INVENTORY_EVERY_S."""
    from core.fleet import ota

    last = [0.0]

    def _tick(session: Session) -> None:
        ota.advance_campaigns(session, cfg.public_url)
        if time.monotonic() - last[0] >= INVENTORY_EVERY_S:
            last[0] = time.monotonic()
            ota.note_firmware_changes(session)

    return _tick


def start_fleet_ops(cfg: Config, session_factory: sessionmaker[Session], broker: MqttUrl) -> FleetOps:
    """Start fleet operations (commands, results, OTA, firmware inventory) against `broker`."""
    ops = FleetOps(cfg, session_factory, broker, extra_tick=ota_tick(cfg)).start()
    log.info("fleet-ops started: commands on %s/+/+/cmd, results on …/cmd/result", cfg.topic_prefix)
    return ops


def run_fleet_ops_forever(cfg: Config) -> int:
    """`carbontrack fleet`: run until SIGTERM or Ctrl-C."""
    import signal

    from core.db import open_database

    if cfg.mqtt_url is None:
        log.error("carbontrack fleet needs CARBONTRACK_MQTT_URL (the embedded broker lives in `carbontrack run`)")
        return 2
    engine, session_factory = open_database(cfg.database_url)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    ops = start_fleet_ops(cfg, session_factory, cfg.mqtt_url)
    try:
        while not stop.wait(3600):
            pass
    finally:
        ops.stop()
        engine.dispose()
    return 0

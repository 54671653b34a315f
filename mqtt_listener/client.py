"""The MQTT listener: a small class around the paho client plus its writer threads.

The paho network thread only enqueues (`on_message`); the writer threads take batches (by
count or time), store each in one transaction and only then acknowledge its messages to the
broker (paho manual ack). A crash of the listener or of the database therefore loses nothing:
the broker redelivers whatever was not acknowledged, and the (device, ts) key drops the copies.

Acknowledgements go out in the order the messages arrived, as MQTT 3.1.1 and 5 (§4.6) require of
QoS 1 PUBACKs, although two writer threads commit batches in either order: `AckSequencer` holds
back the acks of a committed message until every message received before it is committed too.
No message can stall ingest: the writer sets aside any message that fails to store (whatever
the error) as a rejection and acknowledges it (issue 10). Should a batch still fail in a way the
writer does not handle (a bug), it is never left unacknowledged on a live connection, where the
broker would not resend it and it would hold a slot of the ReceiveMaximum window for good: the
listener drops the connection, and the broker redelivers every unacknowledged message when it
reconnects. After each commit the listener publishes the end-to-end acks (mqtt_listener.ack).

Protocol: MQTT 5 against production brokers (ReceiveMaximum raises the broker's window of
unacknowledged messages; a session expiry keeps the session and its queued QoS 1 messages
while the listener is down), MQTT 3.1.1 with clean_session=False against the embedded amqtt
broker, which drops MQTT 5 CONNECTs. Choose with `protocol=` or `?protocol=3.1.1` on
CARBONTRACK_MQTT_URL; "auto" tries MQTT 5 and falls back to 3.1.1.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import socket
import threading
import time
import uuid
import zlib
from collections import deque
from collections.abc import Callable, Sequence

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy.orm import Session, sessionmaker

from core.config import Config, MqttUrl, parse_mqtt_url
from mqtt_listener.ack import AckTracker
from mqtt_listener.cal import CAL_KIND, CalHandler
from mqtt_listener.decode import MAX_PAYLOAD_BYTES, truncate_raw
from mqtt_listener.qa import QaSettings
from mqtt_listener.status import ListenerStats, instance_name, save_stats, sweep_offline
from mqtt_listener.writer import BatchWriter, Message, StopRequested

log = logging.getLogger("mqtt_listener")

# Largest batch written in one transaction: big enough to amortise the commit, small enough that
# the window of unacknowledged messages (RECEIVE_MAXIMUM) holds about two batches, so the broker
# keeps sending while one is being written.
BATCH_MAX_MESSAGES = 1000
# …and at most this many payload bytes (~5,000 readings): buffered flushes of 50–500 readings per
# message would otherwise make one transaction of 50,000+ rows (slow to commit, memory-hungry).
BATCH_MAX_BYTES = 512 * 1024
# Writer threads on PostgreSQL: while one waits for the server (psycopg2 releases the GIL) the
# other decodes the next batch, so Python and PostgreSQL work in parallel on two cores. Both take
# their locks in the same order (readings, rollups by sorted key, devices by id), so they cannot
# deadlock; duplicates across them are settled by the unique (device, ts) key. SQLite: one.
WRITER_THREADS = 2
# How long the writer waits for a batch to fill once a message is there: bounds the added latency.
BATCH_MAX_WAIT_S = 0.05
# MQTT 5 ReceiveMaximum: unacknowledged QoS 1 messages the broker may send us (Mosquitto's
# default window is 20, which would cap throughput at 20 messages per commit).
RECEIVE_MAXIMUM = 2000
# MQTT 5 session expiry: the broker keeps our subscriptions and queues QoS 1 messages this long
# while the listener is down (a week covers a long weekend without an operator).
SESSION_EXPIRY_S = 7 * 86400
# …but with a shared subscription, only this long: Mosquitto keeps handing a dead member's
# persistent session its share of the group's messages (issue 10: ~half of them) until the session
# expires. A short expiry ends that quickly; what it held is lost at the broker, and the node
# resends it (end-to-end ack, contract v1.1) to the members still alive. While the dead session
# lives, a resend can be routed to it again, so the expiry plus the node's resend (30 s) must stay
# well inside the "every message within 60 s" failover promise: 20 s. A listener restart longer
# than that loses its session too, which the nodes' resend also covers.
SHARED_SESSION_EXPIRY_S = 20
KEEPALIVE_S = 30
RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 30
# Counters are written to listener_stat (and logged) this often; the health page reads them.
STATS_INTERVAL_S = 10.0
# Devices silent for longer than their timeout are marked offline at this period.
SWEEP_INTERVAL_S = 30.0
# Name of the shared-subscription group: listeners in one group split the messages.
SHARED_GROUP = "carbontrack"
# Payload bytes received but not yet stored, at most: when the writers fall behind, the network
# thread waits (and TCP pushes back on the broker) instead of buffering without limit. With
# payloads cut to RAW_KEEP_BYTES above 64 KiB this bounds the listener's memory whatever the
# broker delivers (issue 10: 243 MB under a flood of 200 KiB messages).
QUEUE_MAX_BYTES = 24 * 1024 * 1024
# Longest the network thread waits for room in the queue before checking again (it also keeps
# an eye on the stop flag, so stop() is never stuck behind a full queue).
QUEUE_WAIT_S = 0.5
# Seconds to wait for a CONNACK when probing whether the broker speaks MQTT 5.
PROBE_TIMEOUT_S = 3.0
# After an unexpected writer error the writer pauses this long (doubling while errors repeat, up
# to the maximum) before its next batch, so a bug that fails every batch does not make the
# listener reconnect in a tight loop.
ERROR_PAUSE_FIRST_S = 0.5
ERROR_PAUSE_MAX_S = 30.0

PROTOCOL_V5 = "5"
PROTOCOL_V311 = "3.1.1"
PROTOCOL_AUTO = "auto"


def protocol_from_url(raw_url: str | None) -> str | None:
    """The `protocol` query parameter of a broker URL (`5`, `3.1.1` or `auto`), if any."""
    return parse_mqtt_url(raw_url).protocol if raw_url else None


def probe_protocol(broker: MqttUrl, timeout_s: float = PROBE_TIMEOUT_S) -> str:
    """MQTT 5 if the broker answers an MQTT 5 CONNECT, else 3.1.1 (unreachable broker: 5)."""
    got = threading.Event()
    done = threading.Event()
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=f"ct-probe-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5
    )
    _configure_auth(client, broker)

    def _on_connect(_c, _u, _f, reason_code, _p=None) -> None:  # noqa: ANN001
        if not reason_code.is_failure:
            got.set()
        done.set()

    client.on_connect = _on_connect
    client.on_disconnect = lambda *_a, **_k: done.set()  # amqtt closes the socket on an MQTT 5 CONNECT
    try:
        client.connect(broker.host, broker.port, keepalive=10, clean_start=True)
    except OSError:
        return PROTOCOL_V5
    client.loop_start()
    try:
        done.wait(timeout_s)
        answered = got.is_set()
    finally:
        client.disconnect()
        client.loop_stop()
    return PROTOCOL_V5 if answered else PROTOCOL_V311


def _configure_auth(client: mqtt.Client, broker: MqttUrl) -> None:
    if broker.username:
        client.username_pw_set(broker.username, broker.password)
    if broker.tls:
        client.tls_set()  # system CA store; the broker's certificate must verify


def default_client_id(listener_id: str = "1") -> str:
    """A client id from configuration only (CARBONTRACK_LISTENER_ID), the same across restarts and hosts.

    Not the host name: a listener restarted in a new container must find its session again
    (a host-named id orphans it, and with a shared subscription the broker keeps routing a share
    of the messages to the orphan until it expires).
    """
    return f"carbontrack-listener-{listener_id}"[:64]


class AckSequencer:
    """Acknowledge QoS 1 messages in the order they were received, whichever writer commits first.

    The network thread registers each message as it arrives (`received`); a writer reports a
    committed batch (`committed`), and the acks of the longest committed prefix of the arrival
    order are sent, under the lock, so two writers cannot interleave them. A new connection
    (`new_connection`, on disconnect) forgets the old one's messages: their packet ids mean nothing
    on the next connection, and the broker redelivers them.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: deque[Message] = deque()
        self.generation = 0

    def received(self, message: Message) -> None:
        """Register a message of the current connection (network thread, before it is queued)."""
        with self._lock:
            message.generation = self.generation
            if message.qos > 0:
                self._pending.append(message)

    def new_connection(self) -> None:
        """The connection dropped: unacknowledged messages stay with the broker."""
        with self._lock:
            self.generation += 1
            self._pending.clear()

    def committed(self, batch: Sequence[Message], send: Callable[[int, int], object]) -> int:
        """Mark `batch` committed and `send(mid, qos)` every ack now in order; return how many."""
        n = 0
        with self._lock:
            for m in batch:
                m.committed = True
            pending = self._pending
            while pending and pending[0].committed:
                m = pending.popleft()
                send(m.mid, m.qos)
                n += 1
        return n

    def __len__(self) -> int:
        """Messages of this connection not yet acknowledged."""
        with self._lock:
            return len(self._pending)


class Listener:
    """Subscribe to telemetry and status, store them in batches, acknowledge after commit."""

    def __init__(
        self,
        cfg: Config,
        session_factory: sessionmaker[Session],
        *,
        client_id: str | None = None,
        shared: bool = False,
        broker: MqttUrl | None = None,
        protocol: str | None = None,
        batch_max: int = BATCH_MAX_MESSAGES,
        batch_wait_s: float = BATCH_MAX_WAIT_S,
        receive_maximum: int = RECEIVE_MAXIMUM,
        on_commit: Callable[[Sequence[Message], float], None] | None = None,
        clock: Callable[[], float] = time.time,
        writers: int | None = None,
        ack: bool = True,
    ) -> None:
        self.cfg = cfg
        self.session_factory = session_factory
        self.broker = broker or cfg.mqtt_url
        if self.broker is None:
            raise ValueError("no broker: set CARBONTRACK_MQTT_URL or pass broker= (the embedded broker's address)")
        self.client_id = client_id or default_client_id(cfg.listener_id)
        self.protocol = protocol or self.broker.protocol or PROTOCOL_AUTO
        self.shared = shared
        self.batch_max = batch_max
        self.batch_wait_s = batch_wait_s
        self.receive_maximum = receive_maximum
        self.on_commit = on_commit
        self.instance = instance_name() if client_id is None else f"{instance_name()}:{client_id}"
        self.stats = ListenerStats()
        self._queued_bytes = 0
        self._room = threading.Condition()
        self._stop = threading.Event()
        self._writer_stop = threading.Event()
        self._connected = threading.Event()
        self._acks = AckSequencer()
        self.reconnects = 0  # connections lost (or dropped on purpose) since start
        self._enqueued = 0
        self._done = 0
        self._idle = threading.Condition()
        if writers is None:
            writers = 1 if cfg.is_sqlite else WRITER_THREADS
        tracker = AckTracker()  # one per listener: its writer threads commit parts of one node's seqs
        # One queue per writer, each device always on the same one: two writers never hold
        # readings of one device at once, so the coverage step (which locks the batch's device
        # rows) never makes them wait for each other.
        self._queues: list[queue.SimpleQueue[Message]] = [queue.SimpleQueue() for _ in range(max(1, writers))]
        self._writers = [
            BatchWriter(
                session_factory,
                cfg.topic_prefix,
                self.stats,
                tz=cfg.tz,
                stop_event=self._writer_stop,
                clock=clock,
                on_acks=self._publish_acks if ack else None,
                ack_tracker=tracker,
                qa=QaSettings.from_config(cfg),
            )
            for _ in range(max(1, writers))
        ]
        # Automatic calibration checks from the nodes (…/cal, mqtt_listener/cal.py): rare, stored apart.
        self._cal = CalHandler(session_factory, cfg.topic_prefix, self.stats, tz=cfg.tz, clock=clock)
        self._threads: list[threading.Thread] = []
        self._client: mqtt.Client | None = None
        self.last_error: BaseException | None = None

    # -- topics ---------------------------------------------------------------------------

    @property
    def topics(self) -> list[str]:
        """The subscription filters (shared when enabled and on MQTT 5)."""
        prefix = self.cfg.topic_prefix
        filters = [f"{prefix}/+/+/telemetry", f"{prefix}/+/+/status", f"{prefix}/+/+/{CAL_KIND}"]
        if self.shared and self.protocol == PROTOCOL_V5:
            filters = [f"$share/{SHARED_GROUP}/{f}" for f in filters]
        return filters

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Connect (in the background, retrying) and start the writer thread."""
        if self.protocol == PROTOCOL_AUTO:
            self.protocol = probe_protocol(self.broker)
            log.info("broker %s:%d speaks MQTT %s", self.broker.host, self.broker.port, self.protocol)
        self._client = self._make_client()
        self._threads = [
            threading.Thread(target=self._run_writer, args=(i,), name=f"mqtt-writer-{i}", daemon=True)
            for i in range(len(self._writers))
        ]
        for thread in self._threads:
            thread.start()
        if self.protocol == PROTOCOL_V5:
            props = Properties(PacketTypes.CONNECT)
            props.ReceiveMaximum = self.receive_maximum
            props.SessionExpiryInterval = SHARED_SESSION_EXPIRY_S if self.shared else SESSION_EXPIRY_S
            self._client.connect_async(
                self.broker.host, self.broker.port, keepalive=KEEPALIVE_S, clean_start=False, properties=props
            )
        else:
            self._client.connect_async(self.broker.host, self.broker.port, keepalive=KEEPALIVE_S)
        self._client.loop_start()
        log.info(
            "listener %s connecting to %s:%d (MQTT %s, client id %s)",
            self.instance,
            self.broker.host,
            self.broker.port,
            self.protocol,
            self.client_id,
        )

    def stop(self, timeout_s: float = 10.0) -> None:
        """Store and acknowledge what was received, then disconnect (unacknowledged messages stay with the broker)."""
        self._stop.set()
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.1, deadline - time.monotonic()))
        if any(t.is_alive() for t in self._threads):
            self._writer_stop.set()  # abandon retries: the broker redelivers those batches later
            for thread in self._threads:
                thread.join(timeout_s)
        self._writers[0].save_acked_now()  # the tracker is shared: one writer saves for all
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
        self.stats.incr("stopped")  # the Nodes page shows this row as stopped, not silent
        self._save_stats()

    def reload_registry(self) -> None:
        """Have every writer reload the device registry and calibration state with its next batch.

        The writers reload on their own every REGISTRY_MAX_AGE_S (and at once for an unknown device,
        at most every REGISTRY_MIN_RELOAD_S); this is for a caller that just changed the registry.
        """
        for w in self._writers:
            w.invalidate_registry()

    def wait_connected(self, timeout_s: float = 10.0) -> bool:
        """Block until connected and subscribed (or the timeout); return whether it happened."""
        return self._connected.wait(timeout_s)

    def wait_idle(self, timeout_s: float = 30.0, quiet_s: float = 0.3) -> bool:
        """Block until every received message is stored and nothing new arrived for `quiet_s`."""
        deadline = time.monotonic() + timeout_s
        with self._idle:
            while time.monotonic() < deadline:
                before = self._enqueued
                if self._done >= before:
                    self._idle.wait(quiet_s)
                    if self._enqueued == before and self._done >= before:
                        return True
                else:
                    self._idle.wait(min(0.2, max(0.0, deadline - time.monotonic())))
        return False

    # -- paho callbacks (network thread: enqueue only) ------------------------------------------

    def _make_client(self) -> mqtt.Client:
        if self.protocol == PROTOCOL_V5:
            client = mqtt.Client(
                mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv5, manual_ack=True
            )
        else:
            client = mqtt.Client(
                mqtt.CallbackAPIVersion.VERSION2,
                client_id=self.client_id,
                protocol=mqtt.MQTTv311,
                clean_session=False,
                manual_ack=True,
            )
        _configure_auth(client, self.broker)
        client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        return client

    def _on_connect(self, client: mqtt.Client, _userdata, _flags, reason_code, _properties=None) -> None:  # noqa: ANN001
        if reason_code.is_failure:
            log.error("broker refused the connection: %s", reason_code)
            return
        # Resubscribe on every connect: a broker that lost its state (restart without
        # persistence) must learn our subscriptions again.
        client.subscribe([(topic, 1) for topic in self.topics])
        log.info("connected to %s:%d; subscribing", self.broker.host, self.broker.port)

    def _on_subscribe(self, _client, _userdata, _mid, reason_codes, _properties=None) -> None:  # noqa: ANN001
        refused = [t for t, rc in zip(self.topics, reason_codes, strict=False) if rc.is_failure]
        if any(not t.endswith(f"/{CAL_KIND}") for t in refused):
            log.error("broker refused a subscription: %s", ", ".join(refused))
            return
        if refused:  # the optional calibration topic only (an ACL from before it existed): ingest goes on
            log.warning("broker refused %s: nodes' automatic calibration checks are not received; allow the "
                        "listener to read <prefix>/+/+/cal (docs/payload.md)", ", ".join(refused))
        self._connected.set()  # subscribed: from now on nothing published is missed
        log.info("subscribed to %s", ", ".join(self.topics))

    def _on_disconnect(self, _client, _userdata, _flags, reason_code, _properties=None) -> None:  # noqa: ANN001
        # Messages of the old connection must not be acknowledged on the new one (their packet
        # ids may be reused); the broker redelivers them and the copies are acknowledged.
        self._acks.new_connection()
        self.reconnects += 1
        self._connected.clear()
        if not self._stop.is_set():
            log.warning("disconnected from broker (%s); reconnecting", reason_code)

    def _on_message(self, _client, _userdata, msg: mqtt.MQTTMessage) -> None:  # noqa: ANN001
        if self._stop.is_set():
            return  # not acknowledged: the broker redelivers it to the next listener run
        try:
            topic = msg.topic
        except UnicodeDecodeError:  # paho decodes the topic itself; keep the message, rejected later
            topic = msg._topic.decode("utf-8", "backslashreplace")  # noqa: SLF001
        payload = msg.payload
        size = -1
        if len(payload) > MAX_PAYLOAD_BYTES:
            # Over the contract's limit: keep only what the rejection stores, never decode it.
            size = len(payload)
            payload = truncate_raw(payload)
        m = Message(topic, payload, msg.mid, msg.qos, msg.retain, time.monotonic(), time.time(), size=size)
        self._wait_for_room(len(payload))
        self._acks.received(m)
        queues = self._queues
        if len(queues) == 1:
            queues[0].put(m)
        else:
            parts = topic.rsplit("/", 2)
            queues[zlib.crc32(parts[-2].encode("utf-8", "replace")) % len(queues) if len(parts) == 3 else 0].put(m)
        self._enqueued += 1

    def _wait_for_room(self, n_bytes: int) -> None:
        """Block the network thread while the queue holds QUEUE_MAX_BYTES (the writers make room)."""
        with self._room:
            while self._queued_bytes > 0 and self._queued_bytes + n_bytes > QUEUE_MAX_BYTES and not self._stop.is_set():
                self._room.wait(QUEUE_WAIT_S)
            self._queued_bytes += n_bytes

    def _release(self, batch: Sequence[Message]) -> None:
        with self._room:
            self._queued_bytes -= sum(len(m.payload) for m in batch)
            self._room.notify_all()

    # -- writer thread --------------------------------------------------------------------------

    def _queue_depth(self) -> int:
        return sum(q.qsize() for q in self._queues)

    def _take_batch(self, timeout_s: float, index: int = 0) -> list[Message]:
        q = self._queues[index]
        try:
            first = q.get(timeout=timeout_s)
        except queue.Empty:
            return []
        batch = [first]
        size = len(first.payload)
        deadline = time.monotonic() + self.batch_wait_s
        get = q.get
        while len(batch) < self.batch_max and size < BATCH_MAX_BYTES:
            try:
                m = get(block=False)
            except queue.Empty:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    m = get(timeout=remaining)
                except queue.Empty:
                    break
            batch.append(m)
            size += len(m.payload)
        self._release(batch)
        return batch

    @property
    def writer_alive(self) -> bool:
        """Whether every writer thread is running."""
        return bool(self._threads) and all(t.is_alive() for t in self._threads)

    def _run_writer(self, index: int) -> None:
        writer = self._writers[index]
        housekeeping = index == 0  # one thread sweeps and saves the stats
        next_stats = time.monotonic() + STATS_INTERVAL_S
        next_sweep = time.monotonic() + SWEEP_INTERVAL_S
        error_pause = ERROR_PAUSE_FIRST_S
        while True:
            stopping = self._stop.is_set()
            batch = self._take_batch(0.0 if stopping else 0.5, index)
            if not batch and stopping:
                return
            if batch:
                self.stats.queue_depth = self._queue_depth()
                try:
                    self._write(writer, batch)
                except StopRequested:
                    return
                except Exception as exc:  # a bug: the batch is not stored; have the broker resend it
                    self.last_error = exc
                    self.stats.incr("writer_errors")
                    log.exception(
                        "unexpected error storing a batch of %d; dropping the broker connection so it redelivers them",
                        len(batch),
                    )
                    self._force_redelivery()
                    self._mark_done(len(batch))
                    self._stop.wait(error_pause)  # cut short by stop(): drain what is queued
                    error_pause = min(error_pause * 2, ERROR_PAUSE_MAX_S)
                    continue
                error_pause = ERROR_PAUSE_FIRST_S
                self._ack(batch)
                if self.on_commit is not None:
                    try:
                        self.on_commit(batch, time.time())
                    except Exception:
                        log.exception("on_commit hook failed")
                self._mark_done(len(batch))
            now = time.monotonic()
            if not housekeeping:
                continue
            if now >= next_sweep:
                next_sweep = now + SWEEP_INTERVAL_S
                self._sweep()
            if now >= next_stats:
                next_stats = now + STATS_INTERVAL_S
                self._save_stats()
                writer.save_acked_now()

    def _write(self, writer: BatchWriter, batch: list[Message]) -> None:
        """Store a batch: telemetry and status through the writer, calibration checks through the cal handler."""
        suffix = f"/{CAL_KIND}"
        cal = [m for m in batch if m.topic.endswith(suffix)]
        if not cal:
            writer.write(batch)
            return
        rest = [m for m in batch if not m.topic.endswith(suffix)]
        if rest:
            writer.write(rest)
        if self._cal.handle(cal):
            # A stored check changes the node's control state: every writer reloads it with its next batch
            # (and re-marks from the log whatever it stored in between).
            self.reload_registry()

    def _publish_acks(self, acks: dict[str, tuple[str, int]]) -> None:
        """Tell each node its highest contiguous committed seq (contract v1.1; retained, QoS 1)."""
        client = self._client
        if client is None:
            return
        prefix = self.cfg.topic_prefix
        now = time.time()
        for device_id, (factory_code, seq) in acks.items():
            payload = json.dumps({"seq": seq, "ts": round(now, 3)})
            client.publish(f"{prefix}/{factory_code}/{device_id}/ack", payload, qos=1, retain=True)
        self.stats.incr("acks_published", len(acks))

    def _ack(self, batch: list[Message]) -> None:
        client = self._client
        if client is not None:
            self._acks.committed(batch, client.ack)

    def _force_redelivery(self) -> None:
        """Drop the broker connection: paho reconnects and the broker resends every unacknowledged message.

        The broker resends unacknowledged QoS 1 messages only on a new connection, so a batch
        that is neither stored nor acknowledged would otherwise sit in the in-flight window (and
        block the in-order acks of everything after it) until the next reconnect.
        """
        client = self._client
        sock = client.socket() if client is not None else None
        if sock is None:
            return  # not connected: the broker redelivers on the next connection anyway
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)  # the network thread sees the connection lost and reconnects

    def _mark_done(self, n: int) -> None:
        with self._idle:
            self._done += n
            self._idle.notify_all()

    def _sweep(self) -> None:
        try:
            with self.session_factory() as session:
                stale = sweep_offline(session)
                session.commit()
            if stale:
                log.info("marked offline (silent too long): %s", ", ".join(stale[:20]))
        except Exception as exc:
            log.warning("offline sweep failed: %s", exc)

    def _save_stats(self) -> None:
        self.stats.queue_depth = self._queue_depth()
        try:
            with self.session_factory() as session:
                snap = save_stats(session, self.instance, self.stats)
                session.commit()
        except Exception as exc:
            snap = self.stats.snapshot()
            log.warning("could not save listener stats: %s", str(exc).splitlines()[0] if str(exc) else exc)
        log.info(
            "stats: received=%s stored=%s duplicates=%s rejected=%s invalid=%s batches=%s p50=%sms p99=%sms queue=%s db_errors=%s",
            snap["received"],
            snap["stored"],
            snap["duplicates"],
            snap["rejected"],
            snap["invalid"],
            snap["batches"],
            snap["latency_p50_ms"],
            snap["latency_p99_ms"],
            snap["queue_depth"],
            snap["db_errors"],
        )

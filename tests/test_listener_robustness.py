"""Nothing lost, nothing duplicated: broker restart, listener SIGKILL, PostgreSQL outage.

Each test runs its own Mosquitto (deploy/mosquitto/carbontrack.conf: persistence, no queue
limit) on a free loopback port and counts what was published against what was stored.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

import pytest
import sqlalchemy as sa
from conftest import require_or_skip
from ingest_helpers import (
    REPO,
    OwnMosquitto,
    Publisher,
    count_readings,
    free_port,
    make_config,
    reading,
    rejections,
    seed_fleet,
    telemetry,
    topic,
    wait_until,
)
from test_listener import assert_rollups_match_recompute

from core.db import make_engine, make_session_factory
from core.models import Reading
from mqtt_listener import Listener

pytestmark = pytest.mark.slow

NOW = time.time()
T0 = math.floor(NOW / 3600) * 3600 - 6 * 3600


@pytest.fixture
def own_broker(tmp_path):
    require_or_skip(OwnMosquitto.available(), "mosquitto binary")
    broker = OwnMosquitto(tmp_path / "mosquitto")
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def pg_session(pg_url):
    engine = make_engine(pg_url)
    yield make_session_factory(engine)
    engine.dispose()


def _publish_stream(port: int, prefix: str, fleet, n_per_device: int, rate: float, start_index: int = 0) -> set:
    """Publish n_per_device single-reading messages per device at about `rate` msg/s; return the keys."""
    pub = Publisher("127.0.0.1", port)
    keys = set()
    t_start = time.monotonic()
    k = 0
    try:
        for i in range(start_index, start_index + n_per_device):
            for node in fleet:
                ts = T0 + i
                pub.publish(topic(prefix, node), telemetry(node.device_id, [reading(ts, seq=i)]))
                keys.add((node.device_id, ts))
                k += 1
                ahead = t_start + k / rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
        pub.wait_all(60)
    finally:
        pub.close()
    return keys


def _stored_keys(Session) -> set:  # noqa: N803
    with Session() as s:
        return {(d, ts.timestamp()) for d, ts in s.execute(sa.select(Reading.device_id, Reading.ts))}


def test_broker_restarted_mid_stream(own_broker, pg_url, pg_session):
    Session = pg_session  # noqa: N806
    prefix = f"cttest/{uuid.uuid4().hex[:8]}"
    fleet = seed_fleet(Session, n_factories=2, devices_per_factory=2)
    cfg = make_config(pg_url, prefix, "127.0.0.1", own_broker.port)
    listener = Listener(cfg, Session, client_id=f"restart-{uuid.uuid4().hex[:6]}", protocol="5")
    listener.start()
    try:
        assert listener.wait_connected(10)
        result: dict = {}
        thread = threading.Thread(
            target=lambda: result.setdefault("keys", _publish_stream(own_broker.port, prefix, fleet, 500, rate=1000))
        )
        thread.start()
        assert wait_until(lambda: count_readings(Session) > 400, 20)
        own_broker.stop()  # SIGTERM: Mosquitto saves queued messages and sessions
        stored_at_restart = count_readings(Session)
        time.sleep(0.5)
        own_broker.start()  # publisher and listener reconnect by themselves
        thread.join(120)
        published = result["keys"]
        assert stored_at_restart < len(published), "the restart was not mid-stream"
        assert wait_until(lambda: count_readings(Session) >= len(published), 60)
        assert listener.wait_idle(20)
        assert _stored_keys(Session) == published
        assert count_readings(Session) == len(published)
        assert_rollups_match_recompute(Session)
    finally:
        listener.stop()


def _start_listener_process(pg_url: str, port: int, prefix: str, listener_id: str, log_path) -> subprocess.Popen:
    env = {
        **os.environ,
        "CARBONTRACK_DATABASE_URL": pg_url,
        "CARBONTRACK_MQTT_URL": f"mqtt://127.0.0.1:{port}?protocol=5",
        "CARBONTRACK_TOPIC_PREFIX": prefix,
        "CARBONTRACK_SECRET_KEY": "test-secret",
        "CARBONTRACK_LISTENER_ID": listener_id,
        "PYTHONPATH": str(REPO),
    }
    log = open(log_path, "ab")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen([sys.executable, "-m", "mqtt_listener"], cwd=REPO, env=env, stdout=log, stderr=log)
    proc._log = log  # type: ignore[attr-defined]
    return proc


def _wait_subscribed(log_path, count: int, timeout_s: float = 20) -> bool:
    return wait_until(lambda: log_path.read_text(errors="replace").count("subscribed to") >= count, timeout_s)


def test_listener_killed_mid_stream_and_restarted(own_broker, pg_url, pg_session, tmp_path):
    """SIGKILL while messages are in flight: after a restart every reading is stored exactly once."""
    Session = pg_session  # noqa: N806
    prefix = f"cttest/{uuid.uuid4().hex[:8]}"
    fleet = seed_fleet(Session, n_factories=2, devices_per_factory=2)
    log_path = tmp_path / "listener.log"
    listener_id = uuid.uuid4().hex[:8]
    proc = _start_listener_process(pg_url, own_broker.port, prefix, listener_id, log_path)
    published: set = set()
    try:
        assert _wait_subscribed(log_path, 1), log_path.read_text()
        result: dict = {}
        thread = threading.Thread(
            target=lambda: result.setdefault("keys", _publish_stream(own_broker.port, prefix, fleet, 1000, rate=1000))
        )
        thread.start()
        assert wait_until(lambda: count_readings(Session) > 300, 20)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        stored_at_kill = count_readings(Session)
        time.sleep(1.0)  # messages keep arriving at the broker while the listener is dead
        proc = _start_listener_process(pg_url, own_broker.port, prefix, listener_id, log_path)
        thread.join(120)
        published = result["keys"]
        assert stored_at_kill < len(published), "the kill was not mid-stream"
        assert wait_until(lambda: count_readings(Session) >= len(published), 60), log_path.read_text()[-3000:]
        time.sleep(1.0)
        assert _stored_keys(Session) == published
        assert count_readings(Session) == len(published)
        assert_rollups_match_recompute(Session)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        proc._log.close()  # type: ignore[attr-defined]
    assert proc.returncode == 0, "SIGTERM should stop the listener cleanly"


class TcpProxy:
    """A loopback TCP proxy that can cut every connection and refuse new ones, then recover.

    `cut_on(pattern)` cuts when the client sends a chunk containing `pattern` (the chunk is not
    forwarded): a connection lost in the middle of a given statement of a transaction.
    """

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(64)
        self.port = self.server.getsockname()[1]
        self.up = True
        self.conns: list[socket.socket] = []
        self.cuts = 0  # cuts made by cut_on
        self._trigger: bytes | None = None
        self._trigger_left = 0
        self._down_s = 0.0
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self.conns += [client, upstream]
            for a, b, to_server in ((client, upstream, True), (upstream, client, False)):
                threading.Thread(target=self._pump, args=(a, b, to_server), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, to_server: bool) -> None:
        try:
            while data := src.recv(65536):
                if to_server and self._trigger is not None and self._trigger in data and self._fire():
                    return  # the statement never reaches the server
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def _fire(self) -> bool:
        with self._lock:
            if self._trigger_left <= 0:
                return False
            self._trigger_left -= 1
            self.cuts += 1
        self.cut()
        threading.Timer(self._down_s, self.restore).start()
        return True

    def cut_on(self, pattern: bytes, times: int = 1, down_s: float = 0.5) -> None:
        """Cut every connection (down for `down_s`) the next `times` times a client sends `pattern`."""
        with self._lock:
            self._trigger, self._trigger_left, self._down_s = pattern, times, down_s

    def cut(self) -> None:
        self.up = False
        with self._lock:
            conns, self.conns = self.conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass

    def restore(self) -> None:
        self.up = True

    def close(self) -> None:
        self.cut()
        self.server.close()


def test_postgres_unavailable_for_a_while_then_catches_up(own_broker, pg_url, pg_session):
    Session = pg_session  # noqa: N806
    prefix = f"cttest/{uuid.uuid4().hex[:8]}"
    fleet = seed_fleet(Session, n_factories=2, devices_per_factory=2)
    proxy = TcpProxy(sa.engine.make_url(pg_url).port or 5432)
    proxied_url = sa.engine.make_url(pg_url).set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    listener_engine = make_engine(proxied_url, connect_args={"connect_timeout": 2})
    cfg = make_config(proxied_url, prefix, "127.0.0.1", own_broker.port)
    listener = Listener(cfg, make_session_factory(listener_engine), client_id=f"pgdown-{uuid.uuid4().hex[:6]}", protocol="5")
    listener.start()
    try:
        assert listener.wait_connected(10)
        result: dict = {}
        thread = threading.Thread(target=lambda: result.setdefault("keys", _publish_stream(own_broker.port, prefix, fleet, 1000, rate=800)))
        thread.start()
        assert wait_until(lambda: count_readings(Session) > 200, 20)
        proxy.cut()
        time.sleep(4.0)  # PostgreSQL unreachable while messages keep coming
        stored_during_outage = count_readings(Session)
        proxy.restore()
        thread.join(120)
        published = result["keys"]
        assert stored_during_outage < len(published)
        assert wait_until(lambda: count_readings(Session) >= len(published), 90)
        assert listener.wait_idle(20)
        assert _stored_keys(Session) == published
        assert count_readings(Session) == len(published)
        snap = listener.stats.snapshot()
        assert snap["db_errors"] > 0 and snap["db_retries"] > 0
        assert listener.writer_alive
        assert_rollups_match_recompute(Session)
    finally:
        listener.stop()
        proxy.close()
        listener_engine.dispose()


def _proxied_listener(pg_url: str, broker_port: int, prefix: str, name: str):
    """A listener whose PostgreSQL connections go through a TcpProxy; returns (listener, proxy, engine)."""
    proxy = TcpProxy(sa.engine.make_url(pg_url).port or 5432)
    proxied_url = sa.engine.make_url(pg_url).set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    engine = make_engine(proxied_url, connect_args={"connect_timeout": 2})
    cfg = make_config(proxied_url, prefix, "127.0.0.1", broker_port)
    listener = Listener(cfg, make_session_factory(engine), client_id=f"{name}-{uuid.uuid4().hex[:6]}", protocol="5")
    return listener, proxy, engine


@pytest.mark.parametrize(
    "statement",
    [b"COPY reading_in", b"INSERT INTO rollup_factory_daily", b"UPDATE device AS d"],
    ids=["during-copy", "during-rollup-upsert", "during-device-update"],
)
def test_postgres_connection_cut_in_the_middle_of_a_batch(own_broker, pg_url, pg_session, statement):
    """PostgreSQL drops while a batch is being written (raw psycopg2 cursor): retried, stored once, no stall."""
    Session = pg_session  # noqa: N806
    prefix = f"cttest/{uuid.uuid4().hex[:8]}"
    fleet = seed_fleet(Session, n_factories=2, devices_per_factory=2)
    listener, proxy, engine = _proxied_listener(pg_url, own_broker.port, prefix, "midcut")
    listener.start()
    try:
        assert listener.wait_connected(10)
        proxy.cut_on(statement, times=2, down_s=0.5)
        published = _publish_stream(own_broker.port, prefix, fleet, 150, rate=3000)
        assert wait_until(lambda: count_readings(Session) >= len(published), 20), "ingest stalled after the cut"
        assert proxy.cuts == 2, "the statement was never cut"
        # Ingest goes on after the cuts.
        published |= _publish_stream(own_broker.port, prefix, fleet, 50, rate=3000, start_index=150)
        assert wait_until(lambda: count_readings(Session) >= len(published), 20)
        assert listener.wait_idle(10)
        assert _stored_keys(Session) == published
        assert count_readings(Session) == len(published)
        snap = listener.stats.snapshot()
        assert snap["db_errors"] >= 2 and snap["db_retries"] >= 2
        assert snap.get("writer_errors", 0) == 0 and snap.get("rejected", 0) == 0
        assert listener.writer_alive
        assert_rollups_match_recompute(Session)
    finally:
        listener.stop()
        proxy.close()
        engine.dispose()


@pytest.mark.parametrize("table", ["reading", "rollup_factory_daily"])
def test_postgres_deadlock_in_the_fast_path_is_retried(mosquitto, pg_url, pg_session, table):
    """psycopg2.OperationalError from the raw cursor on a live connection (deadlock): the batch is retried."""
    Session = pg_session  # noqa: N806
    prefix = f"cttest/{uuid.uuid4().hex[:8]}"
    fleet = seed_fleet(Session, n_factories=2, devices_per_factory=2)
    with Session() as s:  # the first two INSERT statements into `table` fail with deadlock_detected
        s.execute(sa.text("CREATE SEQUENCE ct_test_fault"))
        s.execute(
            sa.text(
                "CREATE FUNCTION ct_test_fault() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "IF nextval('ct_test_fault') <= 2 THEN RAISE EXCEPTION 'deadlock detected (test fault)' "
                "USING ERRCODE = 'deadlock_detected'; END IF; RETURN NULL; END $$"
            )
        )
        s.execute(sa.text(f"CREATE TRIGGER ct_test_fault BEFORE INSERT ON {table} FOR EACH STATEMENT EXECUTE FUNCTION ct_test_fault()"))
        s.commit()
    cfg = make_config(pg_url, prefix, *mosquitto)
    listener = Listener(cfg, Session, client_id=f"deadlock-{uuid.uuid4().hex[:6]}", protocol="5")
    listener.start()
    try:
        assert listener.wait_connected(10)
        published = _publish_stream(mosquitto[1], prefix, fleet, 100, rate=3000)
        assert wait_until(lambda: count_readings(Session) >= len(published), 20), "ingest stalled after the error"
        assert listener.wait_idle(10)
        assert _stored_keys(Session) == published
        assert count_readings(Session) == len(published)
        with Session() as s:
            assert s.scalar(sa.text("SELECT last_value FROM ct_test_fault")) > 2  # the fault did fire
        snap = listener.stats.snapshot()
        assert snap["db_errors"] >= 2 and snap["db_retries"] >= 2
        assert snap.get("writer_errors", 0) == 0 and snap.get("rejected", 0) == 0
        assert_rollups_match_recompute(Session)
    finally:
        listener.stop()


POISON_PPM = 12345.5  # the test trigger refuses readings with this value


def _install_poison_trigger(Session) -> None:  # noqa: N803
    """A data error raised by PostgreSQL inside the fast path (INSERT … SELECT from the COPY staging table)."""
    with Session() as s:
        s.execute(
            sa.text(
                "CREATE FUNCTION ct_test_poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"IF NEW.co2_ppm = {POISON_PPM} THEN RAISE EXCEPTION 'value out of range (test poison)' "
                "USING ERRCODE = 'numeric_value_out_of_range'; END IF; RETURN NEW; END $$"
            )
        )
        s.execute(sa.text("CREATE TRIGGER ct_test_poison BEFORE INSERT ON reading FOR EACH ROW EXECUTE FUNCTION ct_test_poison()"))
        s.commit()


def test_postgres_data_error_in_the_fast_path_rejects_only_the_culprit(mosquitto, pg_url, pg_session):
    """A psycopg2 DataError inside a batch: that message is rejected (db_error), the rest stored, ingest continues."""
    Session = pg_session  # noqa: N806
    prefix = f"cttest/{uuid.uuid4().hex[:8]}"
    fleet = seed_fleet(Session, n_factories=2, devices_per_factory=2)
    _install_poison_trigger(Session)
    cfg = make_config(pg_url, prefix, *mosquitto)
    listener = Listener(cfg, Session, client_id=f"poison-{uuid.uuid4().hex[:6]}", protocol="5")
    listener.start()
    pub = Publisher(*mosquitto)
    try:
        assert listener.wait_connected(10)
        good: set = set()
        for wave in range(2):  # the second wave shows ingest goes on
            for i in range(100):
                node = fleet[i % len(fleet)]
                ts = T0 + 1000 * wave + i
                if i == 50:  # one message with a poisoned reading among good ones
                    rows = [reading(ts, seq=i), reading(ts + 0.5, seq=i, co2_ppm=POISON_PPM)]
                    pub.publish(topic(prefix, node), telemetry(node.device_id, rows))
                    continue
                pub.publish(topic(prefix, node), telemetry(node.device_id, [reading(ts, seq=i)]))
                good.add((node.device_id, ts))
            pub.wait_all()
            assert wait_until(lambda w=wave: count_readings(Session) >= len(good) and len(rejections(Session)) > w, 20)
        assert listener.wait_idle(10)
        assert _stored_keys(Session) == good
        rej = rejections(Session)
        assert [r.reason for r in rej] == ["db_error", "db_error"]
        assert all("test poison" in r.detail and str(POISON_PPM).encode() in r.payload for r in rej)
        snap = listener.stats.snapshot()
        assert snap.get("writer_errors", 0) == 0 and snap["stored"] == len(good)
        assert_rollups_match_recompute(Session)
    finally:
        pub.close()
        listener.stop()


def test_unexpected_writer_error_is_isolated_without_a_reconnect(mosquitto, pg_url, pg_session, monkeypatch):
    """An error of no database class while storing a batch: its messages are stored one by one, nothing is lost, no reconnect."""
    from mqtt_listener.writer import BatchWriter

    Session = pg_session  # noqa: N806
    prefix = f"cttest/{uuid.uuid4().hex[:8]}"
    fleet = seed_fleet(Session, n_factories=2, devices_per_factory=1)
    real = BatchWriter._write_once
    failures = []

    def flaky(self, batch):  # noqa: ANN001
        if not failures:
            failures.append(len(batch))
            raise RuntimeError("simulated bug")
        return real(self, batch)

    monkeypatch.setattr(BatchWriter, "_write_once", flaky)
    cfg = make_config(pg_url, prefix, *mosquitto)
    listener = Listener(cfg, Session, client_id=f"bug-{uuid.uuid4().hex[:6]}", protocol="5")
    listener.start()
    try:
        assert listener.wait_connected(10)
        published = _publish_stream(mosquitto[1], prefix, fleet, 100, rate=2000)
        assert wait_until(lambda: count_readings(Session) >= len(published), 20), "the failed batch was not stored"
        assert listener.wait_idle(10)
        assert _stored_keys(Session) == published
        assert count_readings(Session) == len(published)
        snap = listener.stats.snapshot()
        assert failures and snap["store_errors"] == 1 and snap.get("writer_errors", 0) == 0
        assert rejections(Session) == []  # the one-by-one retry stored every message
        assert listener.reconnects == 0
        assert_rollups_match_recompute(Session)
    finally:
        listener.stop()


def test_free_port_helper_gives_distinct_ports():
    assert free_port() != 0

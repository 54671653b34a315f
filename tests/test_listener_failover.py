"""Shared-subscription failover: one of two listeners killed for good, the survivor stores everything.

Two listeners share the subscription (CARBONTRACK_MQTT_SHARED, stable client ids from
CARBONTRACK_LISTENER_ID); one runs as `python -m mqtt_listener` and is SIGKILLed mid-stream and
never restarted. Mosquitto keeps routing a share of the group's messages to the dead member's
session until it expires (60 s for shared listeners); the nodes (simulator, end-to-end ack rule)
resend what the server has not acknowledged, and the survivor stores every reading within 60 s.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
from conftest import require_or_skip
from ingest_helpers import (
    REPO,
    OwnMosquitto,
    count_readings,
    make_config,
    reading_keys,
    seed_fleet,
    wait_until,
)

from core.config import MqttUrl
from core.db import make_engine, make_session_factory
from mqtt_listener import Listener
from mqtt_listener.client import default_client_id
from mqtt_listener.simulator import SimConfig, nodes_from_db, start_simulator

pytestmark = pytest.mark.slow

N_MESSAGES = 3000
SURVIVOR_DEADLINE_S = 60.0


def _missing(Session, stats) -> list:  # noqa: N803
    import sqlalchemy as sa

    from core.models import Device, Reading

    with Session() as s:
        stored = {(d, round(ts.timestamp(), 6)) for d, ts in s.execute(sa.select(Reading.device_id, Reading.ts))}
        acked = dict(s.execute(sa.select(Device.id, Device.acked_seq)).all())
        seqs = {d: sorted(x for (x,) in s.execute(sa.select(Reading.seq).where(Reading.device_id == d))) for d in acked}
    out = []
    for d, ts in sorted(set(stats.published_keys)):
        if (d, round(ts, 6)) not in stored:
            out.append((d, ts, acked[d], seqs[d][:3], seqs[d][-3:]))
    return out[:10]


def test_client_id_comes_from_configuration_not_the_host():
    assert default_client_id("a") == "carbontrack-listener-a" == default_client_id("a")
    assert default_client_id("a") != default_client_id("b")


def test_survivor_stores_every_message_within_60_s(pg_url, tmp_path):
    require_or_skip(OwnMosquitto.available(), "mosquitto binary")
    broker = OwnMosquitto(tmp_path / "mosquitto")
    broker.start()
    engine = make_engine(pg_url)
    Session = make_session_factory(engine)  # noqa: N806
    seed_fleet(Session, n_factories=5, devices_per_factory=2)
    prefix = f"cttest/{uuid.uuid4().hex[:8]}"
    tag = uuid.uuid4().hex[:6]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARBONTRACK_")}
    env.update(
        CARBONTRACK_DATABASE_URL=pg_url,
        CARBONTRACK_MQTT_URL=f"mqtt://127.0.0.1:{broker.port}?protocol=5",
        CARBONTRACK_TOPIC_PREFIX=prefix,
        CARBONTRACK_LISTENER_ID=f"doomed-{tag}",
        CARBONTRACK_MQTT_SHARED="1",
    )
    log_path = tmp_path / "doomed.log"
    with open(log_path, "wb") as log:
        doomed = subprocess.Popen([sys.executable, "-m", "mqtt_listener"], env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    cfg = make_config(pg_url, prefix, "127.0.0.1", broker.port)
    survivor = Listener(cfg, Session, client_id=default_client_id(f"survivor-{tag}"), shared=True, protocol="5")
    survivor.start()
    handle = None
    try:
        assert survivor.wait_connected(10)
        assert wait_until(lambda: "subscribed to" in log_path.read_text(), 20), log_path.read_text()[-2000:]
        sim_cfg = SimConfig(
            broker=MqttUrl("127.0.0.1", broker.port),
            prefix=prefix,
            rate=500,
            max_messages=N_MESSAGES,
            record=True,
            ack_timeout_s=5.0,
            ack_wait_s=SURVIVOR_DEADLINE_S + 30,
        )
        handle = start_simulator(sim_cfg, nodes_from_db(Session))
        assert wait_until(lambda: handle.stats.messages >= N_MESSAGES // 3, 20)
        doomed.send_signal(signal.SIGKILL)  # killed for good: never restarted
        doomed.wait(10)
        killed_at = time.monotonic()
        handle.join(SURVIVOR_DEADLINE_S + 60)
        stats = handle.stats
        expected = {(d, round(ts, 6)) for d, ts in stats.published_keys}
        assert len(expected) == N_MESSAGES
        assert wait_until(lambda: count_readings(Session) >= N_MESSAGES, max(1.0, SURVIVOR_DEADLINE_S - (time.monotonic() - killed_at))), (
            f"stored {count_readings(Session)} of {N_MESSAGES}; simulator {stats.as_dict()}; survivor {survivor.stats.snapshot()}"
            f"; missing {_missing(Session, stats)}"
        )
        all_stored_s = time.monotonic() - killed_at
        assert {(d, round(ts, 6)) for d, ts in reading_keys(Session)} == expected
        assert count_readings(Session) == N_MESSAGES
        print(
            f"\nfailover: all {N_MESSAGES} stored {all_stored_s:.1f} s after the kill; "
            f"the nodes resent {stats.resent_readings} readings (what the broker held for or routed to the dead member)"
        )
        assert all_stored_s <= SURVIVOR_DEADLINE_S
        assert stats.server_unacked == 0
    finally:
        if handle is not None:
            handle.stop(10)
        if doomed.poll() is None:
            doomed.kill()
            doomed.wait()
        survivor.stop()
        broker.stop()
        engine.dispose()

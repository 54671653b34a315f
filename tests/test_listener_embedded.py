"""The embedded default: amqtt broker in-process, MQTT 3.1.1, SQLite; protocol choice and fallback."""

from __future__ import annotations

import math
import time
import uuid

import pytest
from ingest_helpers import (
    Publisher,
    count_readings,
    make_config,
    reading,
    seed_fleet,
    telemetry,
    topic,
    wait_until,
)

from core.config import MqttUrl
from mqtt_listener import Listener
from mqtt_listener.broker import EmbeddedBroker
from mqtt_listener.client import PROTOCOL_AUTO, PROTOCOL_V5, PROTOCOL_V311, probe_protocol, protocol_from_url

T0 = math.floor(time.time() / 3600) * 3600 - 3 * 3600


@pytest.fixture
def embedded():
    broker = EmbeddedBroker()
    url = broker.start()
    yield url
    broker.stop()


def _publisher(url: MqttUrl) -> Publisher:
    return Publisher(url.host, url.port, username=url.username)  # amqtt queues only for named clients


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("mqtt://h:1883", None),
        ("mqtt://h:1883?protocol=3.1.1", PROTOCOL_V311),
        ("mqtts://u:p@h:8883?protocol=5", PROTOCOL_V5),
        ("mqtt://h?protocol=auto", PROTOCOL_AUTO),
        ("mqtt://h?protocol=mqttv311", PROTOCOL_V311),
    ],
)
def test_protocol_from_url(raw, expected):
    assert protocol_from_url(raw) == expected


def test_protocol_from_url_rejects_nonsense():
    with pytest.raises(ValueError, match="protocol must be"):
        protocol_from_url("mqtt://h?protocol=7")


def test_probe_falls_back_to_311_on_amqtt_and_keeps_5_on_mosquitto(embedded, mosquitto):
    assert probe_protocol(embedded) == PROTOCOL_V311
    assert probe_protocol(MqttUrl(*mosquitto)) == PROTOCOL_V5


def test_embedded_broker_sqlite_end_to_end_with_listener_restart(embedded, sqlite_url):
    """3.1.1 with a persistent session: messages sent while the listener is down arrive later."""
    from core.db import make_engine, make_session_factory

    engine = make_engine(sqlite_url)
    Session = make_session_factory(engine)  # noqa: N806
    prefix = f"cttest/{uuid.uuid4().hex[:8]}"
    fleet = seed_fleet(Session, n_factories=2, devices_per_factory=1)
    cfg = make_config(sqlite_url, prefix, embedded.host, embedded.port)
    client_id = f"emb-{uuid.uuid4().hex[:6]}"
    listener = Listener(cfg, Session, broker=embedded, client_id=client_id)  # protocol auto -> 3.1.1
    listener.start()
    assert listener.protocol == PROTOCOL_V311
    pub = _publisher(embedded)
    try:
        assert listener.wait_connected(10)
        for i in range(50):
            for node in fleet:
                pub.publish(topic(prefix, node), telemetry(node.device_id, [reading(T0 + 60 * i, seq=i)]))
        pub.wait_all()
        assert wait_until(lambda: count_readings(Session) == 100, 20)
        listener.stop()
        # Listener down: the broker keeps the messages for its persistent session.
        for i in range(50, 80):
            for node in fleet:
                pub.publish(topic(prefix, node), telemetry(node.device_id, [reading(T0 + 60 * i, seq=i)]))
        pub.wait_all()
        time.sleep(0.3)
        listener = Listener(cfg, Session, broker=embedded, client_id=client_id, protocol=PROTOCOL_V311)
        listener.start()
        assert wait_until(lambda: count_readings(Session) == 160, 20)
    finally:
        pub.close()
        listener.stop()
        engine.dispose()

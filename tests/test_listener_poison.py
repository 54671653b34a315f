"""Issue 10, deliverable 1: no message can stall ingest.

Each poison (a string PostgreSQL cannot store, a lone surrogate, a number too big for a float, a
bad health status, a control character in the topic, and an error of an arbitrary class while
storing one message) is sent among 3,000 good messages, on PostgreSQL + Mosquitto and on the
embedded default (SQLite + amqtt, which drops in-flight messages on a disconnect): every good
reading is stored, each poison is rejected with its reason, and the listener never reconnects.
"""

from __future__ import annotations

import json
import math
import time
import uuid

import pytest
import sqlalchemy as sa
from ingest_helpers import (
    Publisher,
    count_readings,
    make_config,
    reading,
    rejections,
    seed_fleet,
    telemetry,
    topic,
    wait_until,
)

from core.config import MqttUrl
from core.db import make_engine, make_session_factory
from core.models import Device, Reading
from mqtt_listener import Listener
from mqtt_listener.broker import EmbeddedBroker
from mqtt_listener.writer import BatchWriter

pytestmark = pytest.mark.slow

N_GOOD = 3000
T0 = math.floor(time.time() / 3600) * 3600 - 8 * 3600
BOOM_FW = "boom-9.9"  # the injected storage error fires on a message with this firmware


def _poisons(prefix: str, fleet, control_char_topics: bool) -> list[tuple[str, str, bytes, list[str], int]]:
    """(case, topic, payload, expected rejection reasons, good readings in it)."""
    a, b, lone = fleet[0], fleet[1], fleet[-1]  # `lone` sends nothing but the error poison
    t_a = topic(prefix, a)
    ts = T0 + 30  # between the good readings' timestamps (T0 + 60 i)
    good_pair = [reading(ts + 7200, seq=90001), reading(ts + 7260, seq=90003)]
    huge = telemetry(a.device_id, [good_pair[0], reading(ts + 7230, seq=90002, co2_ppm=1), good_pair[1]])
    huge = huge.replace(b'"co2_ppm": 1,', b'"co2_ppm": 1' + b"0" * 400 + b",")
    cases = [
        ("nul_in_fw", t_a, telemetry(a.device_id, [reading(ts, seq=80001)], fw="a\u0000b"), ["bad_string"], 0),
        ("lone_surrogate_fw", t_a, telemetry(a.device_id, [reading(ts + 60, seq=80002)]).replace(b'"1.0.0"', b'"\\udc80"'), ["bad_string"], 0),
        ("int_10_pow_400", t_a, huge, ["non_finite"], 2),
        (
            "nul_in_status",
            topic(prefix, b, "status"),
            json.dumps({"state": "online", "reset_reason": "PANIC\u0000", "free_heap": 1000}).encode(),
            ["bad_status"],
            0,
        ),
        ("huge_int_in_status", topic(prefix, b, "status"), b'{"state": "online", "free_heap": 1' + b"0" * 400 + b"}", ["bad_status"], 0),
        ("error_while_storing", topic(prefix, lone), telemetry(lone.device_id, [reading(ts, seq=80004)], fw=BOOM_FW), ["internal_error"], 0),
    ]
    if control_char_topics:
        # Mosquitto refuses control characters in topics (it drops the publisher); amqtt passes them on.
        cases.append(
            (
                "control_char_topic",
                f"{prefix}/{a.factory_code}/X\x01Y/telemetry",
                telemetry("X\x01Y", [reading(ts + 120, seq=1)]),
                ["unknown_device"],
                0,
            )
        )
    return cases


@pytest.fixture
def inject_storage_error(monkeypatch):
    """Make the device update raise a plain RuntimeError (not a database error) for one message."""
    original = BatchWriter._update_devices

    def update_devices(self, session, updates, seen_at):  # noqa: ANN001, ANN202
        if any(u.firmware == BOOM_FW for u in updates.values()):
            raise RuntimeError("injected failure while storing")
        return original(self, session, updates, seen_at)

    monkeypatch.setattr(BatchWriter, "_update_devices", update_devices)


def _run(db_url: str, broker: MqttUrl, protocol: str | None) -> None:
    engine = make_engine(db_url)
    Session = make_session_factory(engine)  # noqa: N806
    prefix = f"cttest/{uuid.uuid4().hex[:8]}"
    fleet = seed_fleet(Session, n_factories=5, devices_per_factory=2)
    cfg = make_config(db_url, prefix, broker.host, broker.port)
    listener = Listener(cfg, Session, broker=broker, client_id=f"poison-{uuid.uuid4().hex[:6]}", protocol=protocol)
    listener.start()
    pub = Publisher(broker.host, broker.port, username=broker.username or "poison-pub")
    poisons = _poisons(prefix, fleet, control_char_topics=protocol is None)
    try:
        assert listener.wait_connected(15)
        started = time.monotonic()
        every = N_GOOD // (len(poisons) + 1)
        expected_good = 0
        for k in range(N_GOOD):
            node = fleet[k % (len(fleet) - 1)]
            i = k // (len(fleet) - 1)
            pub.publish(topic(prefix, node), telemetry(node.device_id, [reading(T0 + 60 * i, seq=i)]))
            expected_good += 1
            if k % every == every // 2 and k // every < len(poisons):
                _case, t, payload, _reasons, n_good = poisons[k // every]
                pub.publish(t, payload)
                expected_good += n_good
        pub.wait_all(120)
        n_reasons = sum(len(p[3]) for p in poisons)
        assert wait_until(lambda: count_readings(Session) >= expected_good and len(rejections(Session)) >= n_reasons, 120), (
            f"stored {count_readings(Session)} of {expected_good}, rejected {len(rejections(Session))} of {n_reasons}"
        )
        assert listener.wait_idle(30)
        elapsed = time.monotonic() - started
        assert count_readings(Session) == expected_good
        rej = rejections(Session)
        assert sorted(r.reason for r in rej) == sorted(reason for p in poisons for reason in p[3])
        by_reason = {r.reason: r for r in rej}
        assert "RuntimeError: injected failure" in by_reason["internal_error"].detail
        assert by_reason["internal_error"].payload.startswith(b'{"device_id"')
        assert by_reason["non_finite"].seq == 90002  # the one bad reading; its two neighbours are stored
        assert "\x00" not in "".join(r.detail + r.topic + (r.device_id or "") for r in rej)
        with Session() as s:
            stored_seqs = set(s.scalars(sa.select(Reading.seq).where(Reading.seq >= 90001)))
            assert stored_seqs == {90001, 90003}
            assert s.get(Device, fleet[1].device_id).reset_reason is None  # the bad status stored nothing
        assert count_readings(Session, [fleet[-1].device_id]) == 0
        assert listener.reconnects == 0, "a poison made the listener drop its connection"
        snap = listener.stats.snapshot()
        assert snap.get("writer_errors", 0) == 0
        print(f"\n{db_url.split(':')[0]}: {expected_good} good readings + {len(poisons)} poisons stored in {elapsed:.1f} s")
    finally:
        pub.close()
        listener.stop()
        engine.dispose()


def test_poison_among_3000_on_postgres_and_mosquitto(pg_url, mosquitto, inject_storage_error):
    _run(pg_url, MqttUrl(*mosquitto), "5")


def test_poison_among_3000_on_the_embedded_default(sqlite_url, inject_storage_error):
    broker = EmbeddedBroker()
    url = broker.start()
    try:
        _run(sqlite_url, url, None)
    finally:
        broker.stop()

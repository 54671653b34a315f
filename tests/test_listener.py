"""Listener end to end against a real Mosquitto, on SQLite and PostgreSQL; golden payloads."""

from __future__ import annotations

import json
import math
import time
import uuid
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa
from conftest import GOLDEN_DIR
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

from core.emissions import barometric_pressure_pa, stack_co2_kg_s
from core.measurement.rollups import recompute_rollups
from core.models import (
    QUALITY_INVALID,
    QUALITY_VALID,
    Device,
    DeviceDaily,
    DeviceHourly,
    Factory,
    FactoryDaily,
    FactoryHourly,
    ListenerStat,
    Reading,
    Stack,
)
from mqtt_listener import Listener
from mqtt_listener.decode import DeviceInfo, decode_telemetry

NOW = time.time()
# Two days ago at 20:00 UTC = 23:00 in Nairobi: readings after 21:00 UTC fall on the next local day.
T0 = math.floor(NOW / 86400) * 86400 - 2 * 86400 + 20 * 3600


def rollup_snapshot(Session) -> dict:  # noqa: N803
    """Every rollup row as {(table, key): (n_readings, n_valid, covered_s, co2_kg, max)}."""
    out = {}
    with Session() as s:
        for model, keys in (
            (DeviceHourly, ("device_id", "hour")),
            (DeviceDaily, ("device_id", "day")),
            (FactoryHourly, ("factory_id", "hour")),
            (FactoryDaily, ("factory_id", "day")),
        ):
            for row in s.scalars(sa.select(model)):
                key = (model.__tablename__, *(getattr(row, k) for k in keys))
                out[key] = (
                    row.n_readings,
                    row.n_valid,
                    pytest.approx(row.covered_s),
                    pytest.approx(row.co2_kg, rel=1e-9),
                    pytest.approx(row.sum_co2_ppm, rel=1e-9),
                    None if row.max_co2_kg_s is None else pytest.approx(row.max_co2_kg_s, rel=1e-12),
                )
    return out


def assert_rollups_match_recompute(Session) -> dict:  # noqa: N803
    incremental = rollup_snapshot(Session)
    with Session() as s:
        recompute_rollups(s)
        s.commit()
    assert rollup_snapshot(Session) == incremental
    return incremental


@pytest.fixture
def fleet(Session):  # noqa: N803
    return seed_fleet(Session, n_factories=2, devices_per_factory=2)


@pytest.fixture
def listener(db_url, Session, mosquitto, topic_prefix, fleet):  # noqa: N803
    host, port = mosquitto
    cfg = make_config(db_url, topic_prefix, host, port)
    lst = Listener(cfg, Session, client_id=f"test-{uuid.uuid4().hex[:8]}", protocol="5")
    lst.start()
    assert lst.wait_connected(10)
    yield lst
    lst.stop()


@pytest.fixture
def publisher(mosquitto):
    pub = Publisher(*mosquitto)
    yield pub
    pub.close()


def test_golden_payloads_decode_to_the_contract():
    """The golden files decode into readings with the stack formula applied."""
    info = DeviceInfo("KGW-S1", 1, "KGW", 60.0, 0.8, 0.12, False, 1.0, barometric_pressure_pa(1800.0))
    single = (GOLDEN_DIR / "telemetry_single.json").read_bytes()
    batch = (GOLDEN_DIR / "telemetry_batch.json").read_bytes()
    now = 1764331200.0 + 600
    out = decode_telemetry("KGW", "KGW-S1", single, {"KGW-S1": info}, now, datetime.now(UTC))
    assert not out.rejections and len(out.readings) == 1
    r = out.readings[0]
    assert r["ts"] == datetime(2025, 11, 28, 12, 0)
    assert r["pressure_used_pa"] == 79650.0
    assert r["co2_kg_s"] == pytest.approx(stack_co2_kg_s(84500.0, 186.4, 7.9, 0.8, 79650.0, 0.12, False, 1.0))
    assert r["quality"] == QUALITY_VALID
    assert out.device.firmware == "1.0.0" and out.device.rssi_dbm == -67 and out.device.last_seq == 1042
    out = decode_telemetry("KGW", "KGW-S1", batch, {"KGW-S1": info}, now, datetime.now(UTC))
    assert [r["seq"] for r in out.readings] == [1043, 1044, 1045]
    # The second reading has no pressure: the factory's barometric pressure is used.
    assert out.readings[1]["pressure_pa"] is None
    assert out.readings[1]["pressure_used_pa"] == pytest.approx(barometric_pressure_pa(1800.0))
    assert out.device.buffered == 2 and out.device.last_seq == 1045


def test_golden_payloads_end_to_end(sqlite_url, mosquitto, topic_prefix):
    """Golden payloads published over MQTT are stored (clock pinned to the golden timestamps)."""
    from core.db import make_engine, make_session_factory

    engine = make_engine(sqlite_url)
    Session = make_session_factory(engine)  # noqa: N806
    with Session() as s:
        f = Factory(code="KGW", name="Kagwe", region=1, county="Kiambu", latitude=-1.0, longitude=36.7, altitude_m=1800.0)
        s.add(f)
        s.flush()
        st = Stack(factory_id=f.id, name="Boiler 1", diameter_m=0.8, moisture_fraction=0.12)
        s.add(st)
        s.flush()
        s.add(Device(id="KGW-S1", factory_id=f.id, stack_id=st.id, sample_interval_s=60.0))
        s.commit()
    cfg = make_config(sqlite_url, topic_prefix, *mosquitto)
    lst = Listener(cfg, Session, client_id=f"test-{uuid.uuid4().hex[:8]}", protocol="5", clock=lambda: 1764331200.0 + 600)
    lst.start()
    pub = Publisher(*mosquitto)
    try:
        assert lst.wait_connected(10)
        for name in ("telemetry_single.json", "telemetry_batch.json"):
            pub.publish(f"{topic_prefix}/KGW/KGW-S1/telemetry", (GOLDEN_DIR / name).read_bytes())
        pub.wait_all()
        assert wait_until(lambda: count_readings(Session) == 4, 15)
        with Session() as s:
            d = s.get(Device, "KGW-S1")
            assert d.last_seq == 1045 and d.firmware == "1.0.0" and d.status == "online"
    finally:
        pub.close()
        lst.stop()
        engine.dispose()


def test_end_to_end_duplicates_and_status(listener, publisher, Session, fleet, topic_prefix):  # noqa: N803
    """Single and batched messages, QoS 1 redeliveries and re-sent buffers: each reading once."""
    published = set()
    for i in range(30):
        for node in fleet:
            ts = T0 + 60 * i
            publisher.publish(topic(topic_prefix, node), telemetry(node.device_id, [reading(ts, seq=i)]))
            published.add((node.device_id, ts))
    # A buffered flush that overlaps what was already sent, sent twice.
    node = fleet[0]
    flush = [reading(T0 + 60 * i, seq=i) for i in range(25, 40)]
    for _ in range(2):
        publisher.publish(topic(topic_prefix, node), telemetry(node.device_id, flush, buffered=15))
    published.update((node.device_id, T0 + 60 * i) for i in range(25, 40))
    publisher.publish(topic(topic_prefix, fleet[1], "status"), "online", retain=False)
    publisher.publish(topic(topic_prefix, fleet[3], "status"), "offline", retain=False)
    publisher.wait_all()
    assert wait_until(lambda: count_readings(Session) == len(published), 20)
    assert listener.wait_idle(10)
    with Session() as s:
        keys = {(d, ts.timestamp()) for d, ts in s.execute(sa.select(Reading.device_id, Reading.ts))}
        assert keys == published
        d0 = s.get(Device, fleet[0].device_id)
        assert d0.status == "online" and d0.last_seq == 39 and d0.buffered == 15 and d0.rssi_dbm == -67
        assert d0.last_reading_at.timestamp() == T0 + 60 * 39
        assert s.get(Device, fleet[3].device_id).status == "offline"  # status came after its readings
    snap = listener.stats.snapshot()
    assert snap["stored"] == len(published)
    assert snap["duplicates"] == 5 + 15  # 5 overlapping + the whole second copy
    rollups = assert_rollups_match_recompute(Session)
    assert sum(v[0] for k, v in rollups.items() if k[0] == "rollup_device_hourly") == len(published)
    listener._save_stats()
    with Session() as s:
        stat = s.get(ListenerStat, listener.instance)
        assert json.loads(stat.counters)["stored"] == len(published)


def test_late_and_out_of_order_batches_land_in_their_hour_and_local_day(listener, publisher, Session, fleet, topic_prefix):  # noqa: N803
    """Readings around local midnight, sent newest first and days late, go to the right rows."""
    node = fleet[0]
    # 20:30 .. 21:29 UTC: 23:30 .. 00:29 in Nairobi, i.e. two local days.
    readings = [reading(T0 + 1800 + 60 * i, seq=i) for i in range(60)]
    for chunk_start in (40, 20, 0):  # newest chunk first
        publisher.publish(topic(topic_prefix, node), telemetry(node.device_id, readings[chunk_start : chunk_start + 20]))
    publisher.publish(topic(topic_prefix, node), telemetry(node.device_id, readings[10:30]))  # overlap, out of order
    publisher.wait_all()
    assert wait_until(lambda: count_readings(Session) == 60, 20)
    listener.wait_idle(10)
    local_day = datetime.fromtimestamp(T0, UTC).date()  # 20:00 UTC is 23:00 the same day in Nairobi
    with Session() as s:
        days = {r.day: r.n_readings for r in s.scalars(sa.select(DeviceDaily).where(DeviceDaily.device_id == node.device_id))}
        hours = {r.hour.hour: r.n_readings for r in s.scalars(sa.select(DeviceHourly))}
    assert days == {local_day: 30, date.fromordinal(local_day.toordinal() + 1): 30}
    assert hours == {20: 30, 21: 30}
    assert_rollups_match_recompute(Session)


def test_out_of_range_values_are_stored_invalid_and_excluded(listener, publisher, Session, fleet, topic_prefix):  # noqa: N803
    node = fleet[0]
    rows = [
        reading(T0, seq=1),
        reading(T0 + 60, seq=2, co2_ppm=450_000.0),
        reading(T0 + 120, seq=3, temp=900.0),
        reading(T0 + 180, seq=4, vel=-1.0),
        reading(T0 + 240, seq=5, pressure_pa=20_000.0),
    ]
    publisher.publish(topic(topic_prefix, node), telemetry(node.device_id, rows))
    publisher.wait_all()
    assert wait_until(lambda: count_readings(Session) == 5, 15)
    listener.wait_idle(10)
    with Session() as s:
        stored = {r.seq: r for r in s.scalars(sa.select(Reading))}
        hourly = s.scalars(sa.select(DeviceHourly)).one()
    assert stored[1].quality == QUALITY_VALID
    for seq, field in ((2, "co2_ppm"), (3, "flue_temp_c"), (4, "velocity_m_s"), (5, "pressure_pa")):
        assert stored[seq].quality == QUALITY_INVALID and field in stored[seq].quality_reason
    assert hourly.n_readings == 5 and hourly.n_valid == 1
    assert hourly.co2_kg == pytest.approx(stored[1].co2_kg_s * 60.0)
    assert hourly.covered_s == 60.0
    assert listener.stats.snapshot()["invalid"] == 4


def _catalogue(prefix: str, fleet) -> list[tuple[str, str, bytes, str]]:
    """(case, topic, payload, expected reason) for every kind of bad input."""
    a, b = fleet[0], fleet[2]  # two devices in different factories
    t_a = topic(prefix, a)
    ok = reading(T0)
    return [
        ("malformed_json", t_a, b'{"device_id": "x", "readings": [', "malformed_json"),
        ("not_utf8", t_a, b"\xff\xfe\x00garbage", "malformed_json"),
        ("not_an_object", t_a, b"[1, 2, 3]", "wrong_type"),
        ("device_id_number", t_a, json.dumps({"device_id": 7, "readings": [ok]}).encode(), "wrong_type"),
        ("readings_not_list", t_a, json.dumps({"device_id": a.device_id, "readings": "lots"}).encode(), "wrong_type"),
        ("co2_is_string", t_a, telemetry(a.device_id, [reading(T0, co2_ppm="84500")]), "wrong_type"),
        ("ts_is_bool", t_a, telemetry(a.device_id, [reading(True)]), "wrong_type"),
        ("rssi_float", t_a, telemetry(a.device_id, [ok], rssi=-67.5), "wrong_type"),
        ("nan", t_a, telemetry(a.device_id, [reading(T0 + 1)]).replace(b"84500.0", b"NaN"), "non_finite"),
        ("infinity", t_a, telemetry(a.device_id, [reading(T0 + 2)]).replace(b"186.4", b"Infinity"), "non_finite"),
        ("overflow_to_inf", t_a, telemetry(a.device_id, [reading(T0 + 3)]).replace(b"7.9", b"1e999"), "non_finite"),
        ("missing_device_id", t_a, json.dumps({"readings": [ok]}).encode(), "missing_field"),
        ("missing_readings", t_a, json.dumps({"device_id": a.device_id}).encode(), "missing_field"),
        ("missing_ts", t_a, telemetry(a.device_id, [{"seq": 1, "co2_ppm": 1.0, "flue_temp_c": 1.0, "velocity_m_s": 1.0}]), "missing_field"),
        ("oversized", t_a, telemetry(a.device_id, [ok], pad="x" * 70_000), "oversized"),
        ("unknown_device", f"{prefix}/{a.factory_code}/GHOST-S9/telemetry", telemetry("GHOST-S9", [ok]), "unknown_device"),
        ("device_id_not_topic", t_a, telemetry(b.device_id, [ok]), "device_mismatch"),
        ("other_factory", f"{prefix}/{a.factory_code}/{b.device_id}/telemetry", telemetry(b.device_id, [ok]), "factory_mismatch"),
        ("ts_future", t_a, telemetry(a.device_id, [reading(NOW + 3 * 86400)]), "ts_future"),
        ("ts_absurdly_old", t_a, telemetry(a.device_id, [reading(86400.0)]), "ts_too_old"),
        ("bad_status", topic(prefix, a, "status"), b"sleepy", "bad_status"),
    ]


def test_bad_input_catalogue_is_rejected_with_reasons_and_ingest_continues(listener, publisher, Session, fleet, topic_prefix):  # noqa: N803
    cases = _catalogue(topic_prefix, fleet)
    good = 0
    for i, (_case, t, payload, _reason) in enumerate(cases):
        publisher.publish(t, payload)
        # A good message after every bad one: ingest must keep going.
        node = fleet[1]
        publisher.publish(topic(topic_prefix, node), telemetry(node.device_id, [reading(T0 + 60 * i, seq=i)]))
        good += 1
    publisher.wait_all()
    assert wait_until(lambda: len(rejections(Session)) >= len(cases) and count_readings(Session) >= good, 20)
    listener.wait_idle(10)
    rej = rejections(Session)
    assert sorted(r.reason for r in rej) == sorted(reason for *_, reason in cases)
    assert count_readings(Session) == good  # no reading of any bad message was stored
    by_reason = {r.reason: r for r in rej}
    assert by_reason["oversized"].payload_size > 65536 and len(by_reason["oversized"].payload) <= 2048
    assert any(r.payload.startswith(b'{"device_id": "x"') for r in rej if r.reason == "malformed_json")
    assert by_reason["factory_mismatch"].device_id == fleet[2].device_id
    assert listener.stats.snapshot()["rejected_by_reason"]["non_finite"] == 3


def test_one_bad_reading_does_not_sink_its_batch(listener, publisher, Session, fleet, topic_prefix):  # noqa: N803
    node = fleet[0]
    rows = [reading(T0, seq=1), reading(NOW + 86400, seq=2), reading(T0 + 120, seq=3)]
    publisher.publish(topic(topic_prefix, node), telemetry(node.device_id, rows))
    publisher.wait_all()
    assert wait_until(lambda: count_readings(Session) == 2 and len(rejections(Session)) == 1, 15)
    assert rejections(Session)[0].reason == "ts_future"


def test_shared_subscription_splits_the_load(pg_url, mosquitto, topic_prefix):
    """Two MQTT 5 listeners in one shared-subscription group: each message is stored once."""
    from core.db import make_engine, make_session_factory

    engine = make_engine(pg_url)
    Session = make_session_factory(engine)  # noqa: N806
    fleet = seed_fleet(Session, n_factories=2, devices_per_factory=1)
    cfg = make_config(pg_url, topic_prefix, *mosquitto)
    listeners = [Listener(cfg, Session, client_id=f"shared-{i}-{uuid.uuid4().hex[:6]}", shared=True, protocol="5") for i in range(2)]
    for lst in listeners:
        lst.start()
    pub = Publisher(*mosquitto)
    try:
        assert all(lst.wait_connected(10) for lst in listeners)
        assert all(t.startswith("$share/carbontrack/") for t in listeners[0].topics)
        for i in range(200):
            node = fleet[i % 2]
            pub.publish(topic(topic_prefix, node), telemetry(node.device_id, [reading(T0 + i, seq=i)]))
        pub.wait_all()
        assert wait_until(lambda: count_readings(Session) == 200, 20)
        for lst in listeners:
            lst.wait_idle(10)
        stored = [lst.stats.snapshot()["stored"] for lst in listeners]
        assert sum(stored) == 200 and all(n > 0 for n in stored)  # both took a share
    finally:
        pub.close()
        for lst in listeners:
            lst.stop()
        engine.dispose()


def test_sweep_marks_silent_devices_offline(Session, fleet):  # noqa: N803
    from datetime import timedelta

    from core.fleet.health import offline_timeout_s
    from mqtt_listener.status import sweep_offline

    now = datetime.now(UTC)
    with Session() as s:
        quiet, fresh = (s.get(Device, n.device_id) for n in fleet[:2])
        quiet.status, quiet.last_seen_at = "online", now - timedelta(minutes=16)
        fresh.status, fresh.last_seen_at = "online", now - timedelta(minutes=2)
        s.commit()
    assert offline_timeout_s(60.0) == 300.0 and offline_timeout_s(600.0) == 1800.0
    with Session() as s:
        assert sweep_offline(s, now) == [fleet[0].device_id]
        s.commit()
    with Session() as s:
        assert s.get(Device, fleet[0].device_id).status == "offline"
        assert s.get(Device, fleet[1].device_id).status == "online"


def _msg(mid: int, qos: int = 1):
    from mqtt_listener.writer import Message

    return Message("t", b"", mid, qos, False, 0.0, 0.0)


def test_ack_sequencer_releases_acks_in_receive_order():
    from mqtt_listener.client import AckSequencer

    seq = AckSequencer()
    msgs = [_msg(mid) for mid in range(1, 7)]
    qos0 = _msg(0, qos=0)
    for m in (*msgs[:3], qos0, *msgs[3:]):
        seq.received(m)
    sent: list[int] = []
    send = lambda mid, _qos: sent.append(mid)  # noqa: E731
    assert seq.committed([msgs[1], msgs[3]], send) == 0  # 1 is not committed yet: hold 2 and 4
    assert seq.committed([qos0], send) == 0  # QoS 0 is never acknowledged and never waited for
    assert seq.committed([msgs[0]], send) == 2 and sent == [1, 2]
    assert seq.committed([msgs[5], msgs[2]], send) == 2 and sent == [1, 2, 3, 4]
    assert len(seq) == 2  # 5 (uncommitted) holds 6 back
    # The connection drops: 5 and 6 are the broker's to redeliver, never acknowledged on the next one.
    seq.new_connection()
    assert len(seq) == 0
    new = _msg(5)
    seq.received(new)
    assert new.generation == 1
    seq.committed([msgs[4]], send)  # the old copy's commit sends nothing
    assert sent == [1, 2, 3, 4]
    seq.committed([new], send)
    assert sent == [1, 2, 3, 4, 5]


def test_acks_leave_in_receive_order_with_two_writers(pg_url, mosquitto, topic_prefix):
    """Writer 0 is slowed down so writer 1 commits first: its acks still wait their turn."""
    from core.db import make_engine, make_session_factory

    engine = make_engine(pg_url)
    Session = make_session_factory(engine)  # noqa: N806
    fleet = seed_fleet(Session, n_factories=2, devices_per_factory=1)
    cfg = make_config(pg_url, topic_prefix, *mosquitto)
    lst = Listener(cfg, Session, client_id=f"order-{uuid.uuid4().hex[:6]}", protocol="5", batch_max=20, writers=2)
    slow = lst._writers[0]
    real_write = slow.write

    def slow_write(batch):  # noqa: ANN001
        time.sleep(0.05)
        real_write(batch)

    slow.write = slow_write
    lst.start()
    pub = Publisher(*mosquitto)
    received: list[int] = []
    acked: list[int] = []
    try:
        assert lst.wait_connected(10)
        client = lst._client
        real_on_message, real_ack = client.on_message, client.ack

        def on_message(c, u, msg):  # noqa: ANN001
            received.append(msg.mid)
            real_on_message(c, u, msg)

        def ack(mid, qos):  # noqa: ANN001
            acked.append(mid)
            return real_ack(mid, qos)

        client.on_message = on_message
        client.ack = ack
        for i in range(400):
            node = fleet[i % 2]
            pub.publish(topic(topic_prefix, node), telemetry(node.device_id, [reading(T0 + i, seq=i)]))
        pub.wait_all()
        assert wait_until(lambda: count_readings(Session) == 400, 20)
        assert lst.wait_idle(10)
        assert len(received) == 400 and acked == received
        assert lst.stats.snapshot()["batches"] > 4  # both writers took part
    finally:
        pub.close()
        lst.stop()
        engine.dispose()

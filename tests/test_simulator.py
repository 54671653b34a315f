"""The simulated fleet: plausible boiler values, the firmware format, outages and bad messages."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from conftest import GOLDEN_DIR
from ingest_helpers import clear_retained, count_readings, make_config, rejections, seed_fleet, wait_until

from core.config import MqttUrl
from core.emissions import barometric_pressure_pa, stack_co2_kg_s
from core.models import Device, Reading
from mqtt_listener import Listener
from mqtt_listener.decode import PHYSICAL_RANGES, DeviceInfo, decode_telemetry
from mqtt_listener.simulator import (
    BoilerModel,
    NodeSpec,
    SimConfig,
    Simulator,
    _Node,
    main,
    nodes_from_db,
    start_simulator,
)


def test_boiler_model_is_plausible_over_a_year():
    """Values stay in the sensors' ranges; mass flow in the domain.md §1.5 band; boilers stop and start."""
    spec = NodeSpec("KGW", "KGW-S1", 3600.0, 1800.0)
    model = BoilerModel(spec, seed=3)
    start = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    flows, cold = [], 0
    for h in range(365 * 24):
        r = model.sample(start + 3600 * h)
        for key, (low, high) in PHYSICAL_RANGES.items():
            if key in r:
                assert low <= r[key] <= high, (key, r)
        flow = stack_co2_kg_s(r["co2_ppm"], r["flue_temp_c"], r["velocity_m_s"], 0.8, barometric_pressure_pa(1800.0))
        flows.append(flow)
        cold += r["flue_temp_c"] < 60
    assert 0.2 < max(flows) < 1.5  # peak of a mid-size factory (domain.md §1.5: 0.2–0.8 kg/s, mostly biogenic)
    assert cold > 24  # shut-downs happen
    april = sum(flows[(31 + 28 + 31) * 24 : (31 + 28 + 31 + 30) * 24])
    august = sum(flows[(31 + 28 + 31 + 30 + 31 + 30 + 31) * 24 : (31 + 28 + 31 + 30 + 31 + 30 + 31 + 31) * 24])
    assert april > 1.2 * august  # long-rains flush against the dry cold season


def test_simulated_payload_is_the_firmware_format():
    cfg = SimConfig(broker=MqttUrl("127.0.0.1", 1883), prefix="p")
    node = _Node(NodeSpec("KGW", "KGW-S1"), cfg, seed=1)
    now = time.time()
    payload = node.payload([node.reading(now - 60), node.reading(now)])
    doc = json.loads(payload)
    golden = json.loads((GOLDEN_DIR / "telemetry_batch.json").read_text())
    assert set(doc) == set(golden)
    assert set(doc["readings"][0]) <= set(golden["readings"][0])
    info = DeviceInfo("KGW-S1", 1, "KGW", 60.0, 0.8, 0.1, False, 1.0, barometric_pressure_pa(1800.0))
    out = decode_telemetry("KGW", "KGW-S1", payload, {"KGW-S1": info}, now, datetime.now(UTC))
    assert not out.rejections and len(out.readings) == 2
    assert all(r["quality"] == 0 for r in out.readings)


def test_fleet_with_outages_and_bad_messages_arrives_exactly_once(sqlite_url, mosquitto, topic_prefix):
    from core.db import make_engine, make_session_factory

    engine = make_engine(sqlite_url)
    Session = make_session_factory(engine)  # noqa: N806
    seed_fleet(Session, n_factories=3, devices_per_factory=1)
    cfg = make_config(sqlite_url, topic_prefix, *mosquitto)
    listener = Listener(cfg, Session, client_id=f"sim-{uuid.uuid4().hex[:6]}", protocol="5")
    listener.start()
    try:
        assert listener.wait_connected(10)
        sim_cfg = SimConfig(
            broker=MqttUrl(*mosquitto),
            prefix=topic_prefix,
            interval_s=0.1,
            duration_s=4.0,
            outage_prob=0.1,
            outage_intervals=4,
            bad_ratio=0.05,
            seed=5,
            record=True,
        )
        nodes = nodes_from_db(Session)
        stats = start_simulator(sim_cfg, nodes).join(60)
        clear_retained(*mosquitto, [f"{topic_prefix}/{n.factory_code}/{n.device_id}/status" for n in nodes])
        assert stats.flushes > 0 and stats.bad_messages > 0
        assert wait_until(lambda: count_readings(Session) >= stats.readings, 20)
        assert listener.wait_idle(10)
        with Session() as s:
            stored = {(d, round(ts.timestamp(), 3)) for d, ts in s.execute(sa.select(Reading.device_id, Reading.ts))}
            statuses = {d.id: d.status for d in s.scalars(sa.select(Device))}
        published = {(d, round(ts, 3)) for d, ts in stats.published_keys}
        assert stored == published and count_readings(Session) == stats.readings
        assert len(rejections(Session)) == stats.bad_messages
        assert set(statuses.values()) == {"offline"}  # the simulator says goodbye at the end
    finally:
        listener.stop()
        engine.dispose()


def test_cli_load_mode_without_database(mosquitto, tmp_path, topic_prefix, monkeypatch):
    monkeypatch.setenv("CARBONTRACK_TOPIC_PREFIX", topic_prefix)  # retained statuses stay in this test's tree
    out = tmp_path / "stats.json"
    host, port = mosquitto
    rc = main(["--broker", f"mqtt://{host}:{port}", "--no-db", "--factories", "3", "--rate", "500",
               "--messages", "200", "--batch-size", "5", "--stats-json", str(out)])
    assert rc == 0
    clear_retained(host, port, [f"{topic_prefix}/SIM{f:03d}/SIM{f:03d}-S1/status" for f in range(3)])
    stats = json.loads(out.read_text())
    assert stats["messages"] == 200 and stats["readings"] == 1000 and stats["acked"] >= 200


def test_cli_needs_a_broker(monkeypatch, capsys):
    monkeypatch.delenv("CARBONTRACK_MQTT_URL", raising=False)
    assert main(["--no-db"]) == 2
    assert "--broker" in capsys.readouterr().err
    assert main(["--", "--no-db"]) == 2  # `carbontrack simulate -- …` passes the separator through


def test_simulator_refuses_an_empty_fleet():
    with pytest.raises(ValueError, match="no nodes"):
        Simulator(SimConfig(broker=MqttUrl("127.0.0.1", 1883)), [])

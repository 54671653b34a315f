"""Contract v1.1 ingest: golden payloads store every field, flags and coverage, retained status."""

from __future__ import annotations

import json
import math
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from conftest import GOLDEN_DIR
from ingest_helpers import (
    Publisher,
    clear_retained,
    count_readings,
    make_config,
    reading,
    seed_fleet,
    telemetry,
    topic,
    wait_until,
)
from test_listener import assert_rollups_match_recompute

from core.emissions import barometric_pressure_pa, stack_co2_kg_s
from core.measurement.rollups import ROLLUP_MODELS
from core.models import QUALITY_INVALID, QUALITY_VALID, Device, DeviceHourly, Factory, Reading, Stack
from mqtt_listener import Listener

GOLDEN_NOW = 1764331200.0 + 600  # the golden payloads' time, plus ten minutes


def _golden_fleet(Session):  # noqa: N803
    with Session() as s:
        f = Factory(code="KGW", name="Kagwe", region=1, county="Kiambu", latitude=-1.0, longitude=36.7, altitude_m=1800.0)
        s.add(f)
        s.flush()
        st = Stack(factory_id=f.id, name="Boiler 1", diameter_m=0.8, moisture_fraction=0.12)
        s.add(st)
        s.flush()
        s.add(Device(id="KGW-S1", factory_id=f.id, stack_id=st.id, sample_interval_s=60.0))
        s.commit()


def test_v11_golden_payloads_store_every_field(db_url, Session, mosquitto, topic_prefix):  # noqa: N803
    """telemetry_v11_single/flags and status_v11_online: every contract field lands in its column."""
    _golden_fleet(Session)
    cfg = make_config(db_url, topic_prefix, *mosquitto)
    lst = Listener(cfg, Session, client_id=f"v11-{uuid.uuid4().hex[:8]}", protocol="5", clock=lambda: GOLDEN_NOW)
    lst.start()
    pub = Publisher(*mosquitto)
    base = f"{topic_prefix}/KGW/KGW-S1"
    try:
        assert lst.wait_connected(10)
        # The two golden telemetry files share their first timestamp (one device): one at a time.
        pub.publish(f"{base}/telemetry", (GOLDEN_DIR / "telemetry_v11_single.json").read_bytes())
        pub.publish(f"{base}/status", (GOLDEN_DIR / "status_v11_online.json").read_bytes())
        pub.wait_all()
        assert wait_until(lambda: count_readings(Session) == 1, 15)
        assert lst.wait_idle(10)
        single = json.loads((GOLDEN_DIR / "telemetry_v11_single.json").read_text())
        status = json.loads((GOLDEN_DIR / "status_v11_online.json").read_text())
        with Session() as s:
            r = s.scalars(sa.select(Reading)).one()
            src = single["readings"][0]
            assert (r.seq, r.flags, r.interval_s, r.dp_pa, r.pressure_pa) == (1042, 0, 60.0, src["dp_pa"], src["pressure_pa"])
            conv = single["conv"]
            assert (r.node_diameter_m, r.node_velocity_profile_factor, r.node_pitot_k) == (
                conv["stack_diameter_m"],
                conv["velocity_profile_factor"],
                conv["pitot_k"],
            )
            # The registry's parameters are used, not the node's (0.8 m, profile 1.0).
            assert r.diameter_m == 0.8 and r.co2_kg_s == pytest.approx(
                stack_co2_kg_s(src["co2_ppm"], src["flue_temp_c"], src["velocity_m_s"], 0.8, src["pressure_pa"], 0.12, False, 1.0)
            )
            assert r.quality == QUALITY_VALID and r.covered_s == 60.0
            d = s.get(Device, "KGW-S1")
            assert (d.reset_reason, d.free_heap, d.min_free_heap, d.safe_mode) == (
                status["reset_reason"],
                status["free_heap"],
                status["min_free_heap"],
                status["safe_mode"],
            )
            assert json.loads(d.health_counters) == status["counters"] and d.firmware == status["fw"]
            assert d.status == "online"
        assert_rollups_match_recompute(Session)
        with Session() as s:
            # Start over (a rebuild keeps the rollups of days without raw readings, by design).
            s.execute(sa.delete(Reading))
            for model in ROLLUP_MODELS:
                s.execute(sa.delete(model))
            s.commit()

        flags_doc = json.loads((GOLDEN_DIR / "telemetry_v11_flags.json").read_text())
        pub.publish(f"{base}/telemetry", (GOLDEN_DIR / "telemetry_v11_flags.json").read_bytes())
        pub.wait_all()
        assert wait_until(lambda: count_readings(Session) == len(flags_doc["readings"]), 15)
        assert lst.wait_idle(10)
        with Session() as s:
            rows = {r.seq: r for r in s.scalars(sa.select(Reading))}
            for src in flags_doc["readings"]:
                r = rows[src["seq"]]
                assert r.flags == src["flags"] and r.interval_s == flags_doc["interval_s"]
                assert r.dp_pa == src.get("dp_pa") and r.pressure_pa == src.get("pressure_pa")
                invalid = src["flags"] & (1 | 4 | 8 | 16 | 32 | 64)  # contract: bits that make a reading not valid
                assert r.quality == (QUALITY_INVALID if invalid else QUALITY_VALID), src
            assert "STUCK" in rows[2002].quality_reason and "WARMUP" in rows[2004].quality_reason
            # Flagged readings are stored but not valid: 2001, 2003 and 2005 cover 10 s each.
            hour = s.scalars(sa.select(DeviceHourly).where(DeviceHourly.hour == datetime(2025, 11, 28, 12))).one()
            assert hour.n_readings == 5 and hour.n_valid == 3
            assert hour.covered_s == pytest.approx(3 * 10.0)
        assert_rollups_match_recompute(Session)
    finally:
        pub.close()
        lst.stop()


def test_10s_node_registered_at_60s_never_inflates_coverage_or_co2(db_url, Session, mosquitto, topic_prefix):  # noqa: N803
    """v1 payloads (no interval_s) every 10 s from a node the registry says sends every 60 s.

    Sent out of order (odd seconds-slots first, then the rest) so stored readings' coverage must
    shrink when a reading arrives between them. Each hour: covered_s = 3,600 s, CO2 = 3,600 s ×
    the (constant) mass flow, never the 6× the registry interval would give.
    """
    fleet = seed_fleet(Session, n_factories=1, devices_per_factory=1)
    node = fleet[0]
    cfg = make_config(db_url, topic_prefix, *mosquitto)
    lst = Listener(cfg, Session, client_id=f"cov-{uuid.uuid4().hex[:8]}", protocol="5")
    lst.start()
    pub = Publisher(*mosquitto)
    t0 = math.floor(time.time() / 3600) * 3600 - 5 * 3600
    n = 2 * 360  # two hours at 10 s
    try:
        assert lst.wait_connected(10)
        order = list(range(0, n, 2)) + list(range(1, n, 2))
        for k in range(0, len(order), 20):
            chunk = [reading(t0 + 10 * i, seq=i) for i in order[k : k + 20]]
            pub.publish(topic(topic_prefix, node), telemetry(node.device_id, chunk))
        # ...and the next hour's first reading, so the last one of hour 2 has a next reading.
        pub.publish(topic(topic_prefix, node), telemetry(node.device_id, [reading(t0 + 10 * n, seq=n)]))
        pub.wait_all()
        assert wait_until(lambda: count_readings(Session) == n + 1, 30)
        assert lst.wait_idle(10)
        with Session() as s:
            hours = list(s.scalars(sa.select(DeviceHourly).order_by(DeviceHourly.hour)))
        baro = barometric_pressure_pa(1800.0)  # seed_fleet's first factory altitude
        mass_flow = stack_co2_kg_s(84500.0, 186.4, 7.9, 0.8, baro, 0.12, False, 1.0)
        assert [h.n_readings for h in hours] == [360, 360, 1]
        for h in hours[:2]:
            assert h.covered_s == pytest.approx(3600.0)
            assert h.co2_kg == pytest.approx(3600.0 * mass_flow)
        assert max(h.covered_s for h in hours) <= 3600.0 + 1e-6
        assert_rollups_match_recompute(Session)
    finally:
        pub.close()
        lst.stop()


def test_retained_status_never_revives_a_node_nor_moves_last_seen(pg_url, mosquitto, topic_prefix):
    """A node marked offline by the sweep stays offline when the broker replays its retained `online`."""
    from core.db import make_engine, make_session_factory

    engine = make_engine(pg_url)
    Session = make_session_factory(engine)  # noqa: N806
    fleet = seed_fleet(Session, n_factories=1, devices_per_factory=2)
    silent, live = fleet
    long_ago = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    with Session() as s:
        for n in fleet:
            d = s.get(Device, n.device_id)
            d.status, d.status_changed_at, d.last_seen_at = "offline", long_ago, long_ago
        s.commit()
    status_topics = [topic(topic_prefix, n, "status") for n in fleet]
    pub = Publisher(*mosquitto)
    # Retained before the listener subscribes: the broker replays them with the retain flag set.
    pub.publish(status_topics[0], b"online", retain=True)
    health = {"state": "online", "reset_reason": "BROWNOUT", "free_heap": 4242, "counters": {"dropped": 3}}
    pub.publish(status_topics[1], json.dumps(health).encode(), retain=True)
    pub.wait_all()
    cfg = make_config(pg_url, topic_prefix, *mosquitto)
    lst = Listener(cfg, Session, client_id=f"ret-{uuid.uuid4().hex[:8]}", protocol="5")
    lst.start()
    try:
        assert lst.wait_connected(10)
        assert wait_until(lambda: lst.stats.snapshot().get("status_retained", 0) == 2, 10)
        assert lst.wait_idle(10)
        with Session() as s:
            for n in fleet:
                d = s.get(Device, n.device_id)
                assert d.status == "offline" and d.last_seen_at == long_ago, n
            d = s.get(Device, live.device_id)
            assert (d.reset_reason, d.free_heap) == ("BROWNOUT", 4242)  # health is stored all the same
        # A live (not retained) `online` is the node itself: it is online again.
        pub.publish(status_topics[1], b"online", retain=False)
        pub.wait_all()
        assert wait_until(lambda: _status(Session, live.device_id) == "online", 10)
        assert _status(Session, silent.device_id) == "offline"
    finally:
        pub.close()
        lst.stop()
        clear_retained(*mosquitto, status_topics)
        engine.dispose()


def _status(Session, device_id: str) -> str:  # noqa: N803
    with Session() as s:
        return s.get(Device, device_id).status

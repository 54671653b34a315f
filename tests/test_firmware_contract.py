"""Contract test: payloads made by the firmware core go through Mosquitto and the real listener
into PostgreSQL and come out exactly once, with the values the node sent and the kg/s of
reference/domain.md §1.1 computed independently here.

The payloads come from firmware/test/host/emit_payloads (the C++ core driven like the device
loop: averaging, sequence counter, NTP stamping, store-and-forward buffer, 64 KiB batching).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import GOLDEN_DIR, require_or_skip
from ingest_helpers import Publisher, make_config, wait_until

from core.db import make_engine, make_session_factory
from core.models import Device, Factory, Reading, RejectedMessage, Stack
from mqtt_listener import Listener

REPO = Path(__file__).resolve().parent.parent
HOST_DIR = REPO / "firmware" / "test" / "host"
EMITTER = HOST_DIR / "build" / "emit_payloads"

FACTORY = "KGW"
DEVICE = "KGW-S1"
ALTITUDE_M = 1800.0
DIAMETER_M = 0.8
MOISTURE = 0.12
PROFILE_FACTOR = 0.95  # applied on the server; the node's own factor stays 1.0 (docs/firmware.md)

# Independent constants (domain.md §1.1), deliberately not imported from core.emissions.
R = 8.314462618
M_CO2_KG_MOL = 44.0095e-3


def expected_kg_s(r: dict) -> float:
    """ṁ_CO2 = P·v·A/(R·T) · x_w · M_CO2, with x_w = x_d·(1 − B_ws) for a dry-basis analyser."""
    pressure = r.get("pressure_pa")
    if pressure is None:  # no stack pressure sensor: ISA barometric pressure at the factory's altitude
        pressure = 101_325.0 * (1.0 - 2.25577e-5 * ALTITUDE_M) ** 5.25588
    area = math.pi * DIAMETER_M**2 / 4.0
    mol_s = pressure * r["velocity_m_s"] * PROFILE_FACTOR * area / (R * (r["flue_temp_c"] + 273.15))
    return mol_s * r["co2_ppm"] * 1e-6 * (1.0 - MOISTURE) * M_CO2_KG_MOL


@pytest.fixture(scope="module")
def emitter() -> Path:
    """Build the payload emitter with the firmware's host Makefile."""
    require_or_skip(bool(shutil.which("make") and shutil.which(os.environ.get("CXX", "g++"))), "make and g++")
    proc = subprocess.run(["make", "-s", "-C", str(HOST_DIR), "emitter"], capture_output=True, text=True)
    assert proc.returncode == 0, f"building emit_payloads failed:\n{proc.stdout}\n{proc.stderr}"
    return EMITTER


def emit(emitter: Path, *args: str) -> tuple[list[bytes], dict]:
    """Run the emitter; return its payloads (one per line) and its summary."""
    proc = subprocess.run([str(emitter), *args], capture_output=True, check=True, timeout=60)
    payloads = [line for line in proc.stdout.split(b"\n") if line]
    return payloads, json.loads(proc.stderr.decode().strip().splitlines()[-1])


@pytest.fixture
def registry(pg_url):
    """A PostgreSQL database with the factory, stack and device the emitter impersonates."""
    engine = make_engine(pg_url)
    session_factory = make_session_factory(engine)
    with session_factory() as s:
        f = Factory(
            code=FACTORY,
            name="Kagwe",
            region=1,
            county="Kiambu",
            latitude=-1.0,
            longitude=36.7,
            altitude_m=ALTITUDE_M,
        )
        s.add(f)
        s.flush()
        st = Stack(
            factory_id=f.id,
            name="Boiler 1",
            diameter_m=DIAMETER_M,
            moisture_fraction=MOISTURE,
            dry_basis=True,  # the node samples through a chiller: CO2 is read dry
            velocity_profile_factor=PROFILE_FACTOR,
        )
        s.add(st)
        s.flush()
        s.add(Device(id=DEVICE, factory_id=f.id, stack_id=st.id, sample_interval_s=60.0))
        s.commit()
    yield pg_url, session_factory
    engine.dispose()


@contextlib.contextmanager
def running_pipeline(registry, mosquitto, topic_prefix, **listener_kwargs):
    """The real listener on the test broker, writing to PostgreSQL, plus a QoS 1 publisher."""
    pg_url, session_factory = registry
    listener = Listener(
        # The contract's edge values (0 ppm at 0 m/s, then 300,000 ppm a minute later) are legal
        # payloads that the server's plausibility checks rightly flag; those checks have their own
        # tests (test_quality_flags.py). Here the contract is checked: every value stored exactly.
        make_config(pg_url, topic_prefix, *mosquitto, qa_spike_co2_ppm_per_s=0, qa_min_velocity_m_s=0),
        session_factory,
        client_id=f"fwtest-{uuid.uuid4().hex[:8]}",
        **listener_kwargs,
    )
    listener.start()
    pub = None
    try:
        assert listener.wait_connected(10), "listener did not connect to Mosquitto"
        pub = Publisher(*mosquitto)
        yield session_factory, pub, f"{topic_prefix}/{FACTORY}/{DEVICE}/telemetry"
    finally:
        if pub is not None:
            pub.close()
        listener.stop()


@pytest.fixture
def pipeline(registry, mosquitto, topic_prefix):
    with running_pipeline(registry, mosquitto, topic_prefix) as p:
        yield p


def published_readings(payloads: list[bytes]) -> list[dict]:
    readings = []
    for p in payloads:
        assert len(p) <= 65536
        doc = json.loads(p)
        assert doc["device_id"] == DEVICE
        readings.extend(doc["readings"])
    return readings


def stored(session_factory) -> list[Reading]:
    with session_factory() as s:
        return list(s.scalars(sa.select(Reading).where(Reading.device_id == DEVICE).order_by(Reading.ts)))


def assert_ingested_exactly(session_factory, sent: list[dict]) -> None:
    """Every reading sent is stored once, with the node's values and the independent kg/s."""
    rows = stored(session_factory)
    assert len(rows) == len(sent)
    by_ts = {round(r.ts.timestamp(), 3): r for r in rows}
    assert len(by_ts) == len(rows)
    for r in sent:
        row = by_ts[round(r["ts"], 3)]
        assert row.seq == r["seq"]
        assert row.co2_ppm == r["co2_ppm"]
        assert row.flue_temp_c == r["flue_temp_c"]
        assert row.velocity_m_s == r["velocity_m_s"]
        assert row.pressure_pa == r.get("pressure_pa")
        assert row.quality == 0, row.quality_reason
        assert row.co2_kg_s == pytest.approx(expected_kg_s(r), rel=1e-9)
    with session_factory() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(RejectedMessage)) == 0


def recent_start(n_intervals: int) -> str:
    """A start time that puts the last reading a few minutes in the past."""
    return str(math.floor(time.time() / 60) * 60 - (n_intervals + 5) * 60)


def test_live_readings_are_ingested_exactly(emitter, pipeline):
    """One reading a minute, published as it is made: each stored once with the node's values."""
    session_factory, pub, telemetry_topic = pipeline
    payloads, summary = emit(
        emitter, *f"--device {DEVICE} --factory {FACTORY} --n 30 --start-ts {recent_start(30)}".split()
    )
    sent = published_readings(payloads)
    assert summary["published"] == len(sent) == 30 and summary["dropped"] == 0
    assert [r["seq"] for r in sent] == list(range(1, 31))
    assert any("pressure_pa" in r for r in sent) and any("pressure_pa" not in r for r in sent)
    for p in payloads:
        pub.publish(telemetry_topic, p)
    pub.wait_all()
    assert wait_until(lambda: len(stored(session_factory)) >= len(sent), 20)
    assert_ingested_exactly(session_factory, sent)
    with session_factory() as s:
        device = s.get(Device, DEVICE)
        assert device.last_seq == 30 and device.firmware == "1.0.0" and device.buffered == 0


# 40-slot buffer, link down for intervals 10..109, 2 KiB payloads, NTP after 3 min, reboot at 120.
BUFFERING_SCENARIO = (
    "--capacity",
    "40",
    "--offline",
    "10:110",
    "--max-bytes",
    "2048",
    "--ntp-after",
    "3",
    "--reboot-at",
    "120",
)


def test_buffered_flush_with_drops_reboot_and_redelivery(emitter, pipeline):
    """Late NTP, a long outage that overflows the buffer, a reboot, small batches, a full resend."""
    session_factory, pub, telemetry_topic = pipeline
    n = 150
    payloads, summary = emit(
        emitter,
        *f"--device {DEVICE} --factory {FACTORY} --n {n} --start-ts {recent_start(n)}".split(),
        *BUFFERING_SCENARIO,
    )
    sent = published_readings(payloads)
    # Readings of intervals 10..110 (the link returns after 110 is buffered) meet 40 slots: the
    # oldest 61 are dropped, the newest 40 kept and flushed after the reconnect.
    assert summary["dropped"] == 101 - 40
    assert summary["published"] == len(sent) == n - 61
    assert any(len(json.loads(p)["readings"]) > 1 for p in payloads), "the backlog went out in batches"
    assert all(len(p) <= 2048 for p in payloads)
    seqs = [r["seq"] for r in sent]
    assert len(set(seqs)) == len(seqs) and seqs == sorted(seqs)  # never reused, also across the reboot
    assert len({r["ts"] for r in sent}) == len(sent)

    for _ in range(2):  # the second round is a re-sent buffer / QoS 1 redelivery: stored once
        for p in payloads:
            pub.publish(telemetry_topic, p)
        pub.wait_all()
    assert wait_until(lambda: len(stored(session_factory)) >= len(sent), 30)
    time.sleep(0.5)  # let the duplicate round finish so a double insert would show
    assert_ingested_exactly(session_factory, sent)


def test_firmware_edge_golden_is_ingested_exactly(registry, mosquitto, topic_prefix):
    """tests/golden/telemetry_firmware_edge.json (the encoder's output, checked byte for byte by the
    host tests): range-edge values, ms timestamps and counters beyond 32 bits are stored exactly."""
    raw = (GOLDEN_DIR / "telemetry_firmware_edge.json").read_bytes()
    doc = json.loads(raw)
    pinned_now = max(r["ts"] for r in doc["readings"]) + 600  # the golden timestamps are fixed
    with running_pipeline(registry, mosquitto, topic_prefix, clock=lambda: pinned_now) as (
        session_factory,
        pub,
        t,
    ):
        pub.publish(t, raw)
        pub.wait_all()
        assert wait_until(lambda: len(stored(session_factory)) >= len(doc["readings"]), 20)
        assert_ingested_exactly(session_factory, doc["readings"])
        with session_factory() as s:
            device = s.get(Device, DEVICE)
            assert device.uptime_s == 4294967296 and device.buffered == 9999 and device.last_seq == 4294967303


def test_node_resends_before_the_listener_gives_a_gap_up():
    """A reading lost in the broker must be resent before the server acks past it (no loss).

    The node resends in-flight readings after kAckResendTimeoutMs without a covering ack; the
    listener skips an open seq gap after GAP_SKIP_S. The node's timeout has to be well below it.
    """
    import re

    from mqtt_listener.ack import GAP_SKIP_S

    header = (Path(__file__).resolve().parent.parent / "firmware/lib/carbontrack_core/src/carbontrack/uplink.h")
    match = re.search(r"kAckResendTimeoutMs\s*=\s*(\d+)", header.read_text())
    assert match, "kAckResendTimeoutMs not found in uplink.h"
    resend_s = int(match.group(1)) / 1000.0
    assert resend_s * 2 <= GAP_SKIP_S

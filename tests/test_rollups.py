"""Incremental rollups equal a rebuild from raw readings: duplicates, late data, local days."""

from __future__ import annotations

import math
import random
import time
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from ingest_helpers import reading, seed_fleet, telemetry
from test_listener import rollup_snapshot

from core.measurement.rollups import RollupAccumulator, recompute_rollups
from core.models import DeviceDaily, DeviceHourly, FactoryDaily, Reading
from mqtt_listener.qa import QaSettings
from mqtt_listener.status import ListenerStats
from mqtt_listener.writer import BatchWriter, Message

PREFIX = "ct/rollups"
NOW = time.time()
# Yesterday 18:00 UTC (21:00 EAT): three hours before local midnight.
T0 = math.floor(NOW / 86400) * 86400 - 86400 + 18 * 3600


def _msg(node, payload: bytes, kind: str = "telemetry") -> Message:
    return Message(f"{PREFIX}/{node.factory_code}/{node.device_id}/{kind}", payload, 1, 1, False, time.monotonic(), time.time())


def _writer(Session) -> BatchWriter:  # noqa: N803
    # Flat-line check off: the test readings repeat the same values (tests/ingest_helpers.make_config).
    return BatchWriter(Session, PREFIX, ListenerStats(), qa=QaSettings(flatline_samples=0))


def test_incremental_equals_recompute_with_duplicates_and_late_data(Session):  # noqa: N803
    """Random batches, re-sent readings, late buffers across local midnight, invalid values."""
    fleet = seed_fleet(Session, n_factories=2, devices_per_factory=2)
    writer = _writer(Session)
    rng = random.Random(7)
    all_readings = {n.device_id: [] for n in fleet}
    for node in fleet:
        for i in range(360):  # six hours at one per minute, straddling local midnight
            extra = {}
            if rng.random() < 0.05:
                extra["co2_ppm"] = 500_000.0  # out of range: stored invalid
            all_readings[node.device_id].append(reading(T0 + 60 * i, seq=i, **extra))
    batches = []
    for node in fleet:
        rows = all_readings[node.device_id][:]
        rng.shuffle(rows)  # out of order
        for start in range(0, len(rows), 37):
            batches.append(_msg(node, telemetry(node.device_id, rows[start : start + 37])))
        # Duplicates: a QoS 1 redelivery and a re-sent buffer overlapping earlier data.
        batches.append(_msg(node, telemetry(node.device_id, rows[:20])))
        batches.append(_msg(node, telemetry(node.device_id, all_readings[node.device_id][100:160])))
    rng.shuffle(batches)
    for start in range(0, len(batches), 5):
        writer.write(batches[start : start + 5])

    with Session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Reading)) == 4 * 360
    incremental = rollup_snapshot(Session)
    with Session() as s:
        recompute_rollups(s)
        s.commit()
    assert rollup_snapshot(Session) == incremental
    assert writer.stats.snapshot()["duplicates"] == 4 * (20 + 60)
    with Session() as s:
        days = s.execute(sa.select(DeviceDaily.day, sa.func.sum(DeviceDaily.n_readings)).group_by(DeviceDaily.day)).all()
    local_day = datetime.fromtimestamp(T0, UTC).date()
    # 18:00–21:00 UTC is the evening of the local day; 21:00–24:00 UTC is the next local day.
    assert dict(days) == {local_day: 4 * 180, local_day + timedelta(days=1): 4 * 180}


def test_recompute_a_window_for_some_devices_leaves_the_rest(Session):  # noqa: N803
    """Rebuilding one device and a window widens to its local day and leaves other rows alone."""
    fleet = seed_fleet(Session, n_factories=2, devices_per_factory=1)
    writer = _writer(Session)
    for node in fleet:  # T0 .. T0+5h50: 21:00 EAT to 02:50 EAT next local day
        writer.write([_msg(node, telemetry(node.device_id, [reading(T0 + 600 * i, seq=i) for i in range(36)]))])
    before = rollup_snapshot(Session)
    with Session() as s:
        s.execute(sa.update(DeviceHourly).values(co2_kg=0.0))
        s.execute(sa.update(FactoryDaily).values(n_readings=0))
        s.commit()
    start = datetime.fromtimestamp(T0, UTC)
    with Session() as s:
        recompute_rollups(s, device_ids=[fleet[0].device_id], start=start, end=start + timedelta(hours=2))
        s.commit()
    after = rollup_snapshot(Session)
    first_day = datetime.fromtimestamp(T0, UTC).date()
    midnight = start + timedelta(hours=3)  # local midnight, in UTC
    for key, value in after.items():
        table, owner, when = key
        if table == "rollup_device_hourly":
            restored = owner == fleet[0].device_id and when < midnight
            assert (value == before[key]) is restored, key
        if table == "rollup_factory_daily":
            restored = owner == fleet[0].factory_id and when == first_day
            assert (value == before[key]) is restored, key


def test_accumulator_splits_hours_and_local_days():
    acc = RollupAccumulator()
    base = datetime(2026, 10, 31, 20, 59, 59)  # 23:59:59 EAT on 31 Oct
    for ts in (base, base + timedelta(seconds=1)):  # 00:00:00 EAT on 1 Nov
        acc.add("D1", 1, ts, 0, 0.5, 80000.0, 180.0, 8.0, 60.0)
    assert sorted(acc.device_daily) == [("D1", date(2026, 10, 31)), ("D1", date(2026, 11, 1))]
    assert sorted(h for _, h in acc.device_hourly) == [datetime(2026, 10, 31, 20), datetime(2026, 10, 31, 21)]
    # The first reading covers 60 s from 23:59:59: 1 s of 31 Oct, the other 59 s belong to 1 Nov.
    agg = acc.factory_daily[(1, date(2026, 10, 31))]
    assert agg[:4] == [1, 1, 1.0, pytest.approx(0.5)]
    agg = acc.factory_daily[(1, date(2026, 11, 1))]
    assert agg[:4] == [1, 1, 59.0 + 60.0, pytest.approx(0.5 * 119.0)]
    assert acc.device_hourly[("D1", datetime(2026, 10, 31, 20))][2] == 1.0

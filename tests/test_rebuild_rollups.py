"""`rebuild-rollups`: a node moved between factories, every rollup row against an independent recomputation.

The expected rows are computed here from the raw `reading` rows with the contract's rule
(docs/payload.md "Coverage"): a valid reading covers its own interval (`interval_s`, else the
registry's), capped by the gap to the device's next reading and by 3,600 s, split at UTC hours;
a local day is the day in Africa/Nairobi (UTC+3); each reading counts under the factory stored on it.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from ingest_helpers import NO_FLATLINE, reading, seed_fleet, telemetry

from carbontrack import cli
from core.measurement.rollups import rebuild_rollups
from core.models import (
    Device,
    DeviceDaily,
    DeviceHourly,
    Factory,
    FactoryDaily,
    FactoryHourly,
    Reading,
    Stack,
)
from mqtt_listener.status import ListenerStats
from mqtt_listener.writer import BatchWriter, Message

PREFIX = "ct/rebuild"
NOW = time.time()
# Three days ago, 19:00 UTC (22:00 EAT): the first session crosses local midnight (21:00 UTC).
T1 = math.floor(NOW / 86400) * 86400 - 3 * 86400 + 19 * 3600
T2 = T1 + 86400  # after the move, a day later
EAT = timedelta(hours=3)  # Africa/Nairobi: UTC+3 all year (reference/domain.md, DESIGN.md "Time")


def _msg(code: str, device_id: str, payload: bytes) -> Message:
    return Message(f"{PREFIX}/{code}/{device_id}/telemetry", payload, 1, 1, False, time.monotonic(), time.time())


def expected_rollups(Session) -> dict:  # noqa: N803
    """Every rollup row recomputed from raw readings, independently of core.measurement."""
    with Session() as s:
        registry = {d: float(i) for d, i in s.execute(sa.select(Device.id, Device.sample_interval_s))}
        rows = s.execute(sa.select(Reading.device_id, Reading.factory_id, Reading.ts, Reading.quality,
                                   Reading.co2_kg_s, Reading.interval_s).order_by(Reading.device_id, Reading.ts)).all()
    by_device = defaultdict(list)
    for r in rows:
        by_device[r.device_id].append(r)
    out: dict = defaultdict(lambda: [0, 0, 0.0, 0.0])  # n_readings, n_valid, covered_s, co2_kg
    owner_factory: dict = {}
    for device_id, rs in by_device.items():
        for i, r in enumerate(rs):
            ts = r.ts.replace(tzinfo=None)
            valid = r.quality == 0 and r.co2_kg_s is not None
            interval = r.interval_s if r.interval_s is not None else registry[device_id]
            cover = min(interval, 3600.0)
            if i + 1 < len(rs):
                cover = min(cover, (rs[i + 1].ts.replace(tzinfo=None) - ts).total_seconds())
            hour = ts.replace(minute=0, second=0, microsecond=0)
            keys = [("dh", device_id, hour), ("fh", r.factory_id, hour),
                    ("dd", device_id, (hour + EAT).date()), ("fd", r.factory_id, (hour + EAT).date())]
            for k in keys:
                out[k][0] += 1
                out[k][1] += int(valid)
                if k[0] in ("dh", "dd"):
                    owner_factory.setdefault(k, r.factory_id)
            if not valid:
                continue
            start, left = ts, cover
            while left > 1e-9:
                h = start.replace(minute=0, second=0, microsecond=0)
                piece = min(left, (h + timedelta(hours=1) - start).total_seconds())
                for k in (("dh", device_id, h), ("fh", r.factory_id, h), ("dd", device_id, (h + EAT).date()),
                          ("fd", r.factory_id, (h + EAT).date())):
                    out[k][2] += piece
                    out[k][3] += piece * r.co2_kg_s
                    if k[0] in ("dh", "dd"):
                        owner_factory.setdefault(k, r.factory_id)
                left -= piece
                start = h + timedelta(hours=1)
    return {k: (v[0], v[1], pytest.approx(v[2]), pytest.approx(v[3], rel=1e-9), owner_factory.get(k))
            for k, v in out.items()}


def stored_rollups(Session) -> dict:  # noqa: N803
    """Every rollup row as stored, in the shape of expected_rollups."""
    out = {}
    with Session() as s:
        for tag, model, owner, when in (("dh", DeviceHourly, "device_id", "hour"), ("dd", DeviceDaily, "device_id", "day"),
                                        ("fh", FactoryHourly, "factory_id", "hour"), ("fd", FactoryDaily, "factory_id", "day")):
            for row in s.scalars(sa.select(model)):
                w = getattr(row, when)
                w = w.replace(tzinfo=None) if isinstance(w, datetime) else w
                out[(tag, getattr(row, owner), w)] = (row.n_readings, row.n_valid, row.covered_s, row.co2_kg,
                                                     getattr(row, "factory_id", None) if tag in ("dh", "dd") else None)
    return out


def _daily_co2(Session, factory_id: int) -> dict[date, float]:  # noqa: N803
    with Session() as s:
        return dict(s.execute(sa.select(FactoryDaily.day, FactoryDaily.co2_kg).where(FactoryDaily.factory_id == factory_id)).all())


@pytest.fixture
def moved_node(Session):  # noqa: N803
    """Node A ingested at factory 0, moved to factory 1 (interval 60 s -> 120 s), ingested again; B stays at 1."""
    f0, f1 = seed_fleet(Session, n_factories=2, devices_per_factory=1, prefix="RB")
    a, b = f0.device_id, f1.device_id
    writer = BatchWriter(Session, PREFIX, ListenerStats(), qa=NO_FLATLINE)
    # A at factory 0, v1 payloads (the registry's 60 s), a gap of 10 minutes and two invalid readings.
    first = [reading(T1 + 60 * i, seq=i, **({"co2_ppm": 500_000.0} if i in (7, 100) else {}))
             for i in range(180) if not 50 <= i < 60]
    for k in range(0, len(first), 40):
        writer.write([_msg(f0.factory_code, a, telemetry(a, first[k:k + 40]))])
    with Session() as s:  # the move: the registry now puts A on factory 1's stack, sampling every 120 s
        stack1 = s.scalar(sa.select(Stack.id).where(Stack.factory_id == f1.factory_id))
        s.execute(sa.update(Device).where(Device.id == a).values(factory_id=f1.factory_id, stack_id=stack1,
                                                                    sample_interval_s=120.0))
        s.commit()
    writer = BatchWriter(Session, PREFIX, ListenerStats(), qa=NO_FLATLINE)  # a listener with the new registry
    second = [reading(T2 + 120 * i, seq=1000 + i) for i in range(60)]
    writer.write([_msg(f1.factory_code, a, telemetry(a, second[:30], interval_s=120))])
    writer.write([_msg(f1.factory_code, a, telemetry(a, second[30:], interval_s=120))])
    # B at factory 1 every 30 s (contract v1.1 interval); a late batch arrives out of order.
    rows_b = [reading(T2 + 30 * i, seq=i) for i in range(480)]  # 4 h: into the next local day
    writer.write([_msg(f1.factory_code, b, telemetry(b, rows_b[120:], interval_s=30))])
    writer.write([_msg(f1.factory_code, b, telemetry(b, rows_b[:120], interval_s=30))])
    return f0, f1


def test_rebuild_after_a_move_equals_the_independent_recomputation(Session, moved_node):  # noqa: N803
    f0, f1 = moved_node
    a = f0.device_id
    expected = expected_rollups(Session)
    # The listener's incremental rollups already follow the rule…
    assert stored_rollups(Session) == expected
    old_daily = _daily_co2(Session, f0.factory_id)
    assert old_daily and all(v > 0 for v in old_daily.values())

    # …and a rebuild of the moved device gives the same rows, with nothing doubled (issue 18:
    # the old factory's daily CO2 doubled, 8,640 -> 17,280 kg).
    with Session() as s:
        s.execute(sa.update(FactoryDaily).values(co2_kg=FactoryDaily.co2_kg * 2))  # as the old rebuild left it
        s.execute(sa.update(DeviceHourly).where(DeviceHourly.device_id == a).values(n_readings=0, co2_kg=0.0))
        s.commit()
        result = rebuild_rollups(s, device_ids=[a])
        s.commit()
    # A's 230 readings, and B's 480: factory 1's rows need every reading stored under it.
    assert (result.readings, result.device_days, result.factory_days) == (170 + 60 + 480, 2, 4)
    assert _daily_co2(Session, f0.factory_id) == pytest.approx(old_daily, rel=1e-12)
    assert stored_rollups(Session) == expected
    # The device's hours before the move belong to factory 0, after it to factory 1.
    with Session() as s:
        owners = dict(s.execute(sa.select(DeviceHourly.hour, DeviceHourly.factory_id).where(DeviceHourly.device_id == a)).all())
    assert {owners[h] for h in owners if h.timestamp() < T2} == {f0.factory_id}
    assert {owners[h] for h in owners if h.timestamp() >= T2} == {f1.factory_id}

    # A full rebuild after rows stored before contract v1.1 (no interval: the registry's, 20 s < gap 30 s).
    with Session() as s:
        s.execute(sa.update(Device).where(Device.id == f1.device_id).values(sample_interval_s=20.0))
        first_b = s.scalars(sa.select(Reading.id).where(Reading.device_id == f1.device_id).order_by(Reading.ts).limit(10)).all()
        s.execute(sa.update(Reading).where(Reading.id.in_(first_b)).values(interval_s=None, covered_s=None))
        s.commit()
        rebuild_rollups(s)
        s.commit()
    expected = expected_rollups(Session)
    assert stored_rollups(Session) == expected
    b_first_hour = datetime.fromtimestamp(T2, UTC).replace(tzinfo=None)
    assert expected[("dh", f1.device_id, b_first_hour)][2] == pytest.approx(10 * 20.0 + 110 * 30.0)


def test_rebuild_only_the_days_asked_and_never_days_without_raw_readings(Session, moved_node, monkeypatch):  # noqa: N803
    f0, f1 = moved_node
    expected = expected_rollups(Session)
    day1 = datetime.fromtimestamp(T1, UTC).date()  # 22:00 EAT: the local day of T1 (UTC+3 = same date)
    day2 = day1 + timedelta(days=1)  # 00:00-01:00 EAT of the first session, and 22:00 EAT of T2
    day3 = day2 + timedelta(days=1)
    # Corrupt factory 1 everywhere, then rebuild it for day3 only: only day3's rows come back.
    with Session() as s:
        s.execute(sa.update(FactoryHourly).where(FactoryHourly.factory_id == f1.factory_id).values(co2_kg=-1.0))
        s.execute(sa.update(FactoryDaily).where(FactoryDaily.factory_id == f1.factory_id).values(co2_kg=-1.0))
        s.commit()
        rebuild_rollups(s, factory_ids=[f1.factory_id], day_from=day3, day_to=day3)
        s.commit()
    stored = stored_rollups(Session)
    for key, value in stored.items():
        tag, owner, when = key
        if tag in ("fh", "fd") and owner == f1.factory_id:
            day = (when + EAT).date() if isinstance(when, datetime) else when
            assert (value == expected[key]) is (day == day3), key
    # The CLI: every day of factory 1.
    with Session() as s:
        code = s.scalar(sa.select(Factory.code).where(Factory.id == f1.factory_id))
    monkeypatch.setenv("CARBONTRACK_DATABASE_URL", str(Session.kw["bind"].url.render_as_string(hide_password=False)))
    assert cli.main(["rebuild-rollups", "--factory", code, "--from", str(day1), "--to", str(day3)]) == 0
    assert stored_rollups(Session) == expected
    assert cli.main(["rebuild-rollups", "--factory", "NOPE"]) == 1

    # Raw readings of A's first local day gone (as retention would): a full rebuild keeps that day.
    with Session() as s:
        lo = datetime.combine(day2, datetime.min.time()) - EAT  # local midnight starting day2, in UTC
        s.execute(sa.delete(Reading).where(Reading.device_id == f0.device_id, Reading.ts < lo))
        s.commit()
        rebuild_rollups(s)
        s.commit()
    assert stored_rollups(Session) == expected

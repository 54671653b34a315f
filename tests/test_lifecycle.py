"""Device lifecycle (issue 12): a node counts for expected coverage only while it is assigned.

Readings go through the listener's batch writer into PostgreSQL. Registering a new node leaves
every past day's and month's figures unchanged; a node replaced mid-month (with a six-hour
gap) gives the month the expected sensor-seconds computed here by hand.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
import time_machine
from ingest_helpers import NO_FLATLINE, reading, telemetry

from core.accounts.users import create_user
from core.db import make_engine, make_session_factory
from core.insights.queries import daily_history, node_health, sensor_uptime
from core.inventory.factors import load_factor_set, seed_factors
from core.inventory.monthly import monthly_inventory
from core.measurement.availability import device_availability, factory_availability
from core.models import Device, DeviceAssignment, Factory, Stack
from core.registry.admin import AdminError, add_device, move_device, replace_device, set_device_active
from core.timeutil import DEFAULT_TZ
from mqtt_listener.status import ListenerStats
from mqtt_listener.writer import BatchWriter, Message

PREFIX = "ct/lifecycle"
EAT = DEFAULT_TZ
INTERVAL_S = 600.0  # the nodes' sample interval here: few readings, whole coverage


def _local(y: int, m: int, d: int, h: int = 0) -> datetime:
    return datetime(y, m, d, h, tzinfo=EAT).astimezone(UTC)


@pytest.fixture
def sf(pg_url):
    engine = make_engine(pg_url)
    yield make_session_factory(engine)
    engine.dispose()


def _seed(Session):  # noqa: N803
    with Session() as s:
        seed_factors(s)
        f = Factory(code="KGW", name="Kagwe", region=1, county="Kiambu", latitude=-1.0, longitude=36.8,
                    altitude_m=1900.0)
        s.add(f)
        s.flush()
        st = Stack(factory_id=f.id, name="Boiler 1", diameter_m=1.0)
        s.add(st)
        s.flush()
        admin = create_user(s, "admin", "correct horse battery", "admin")
        s.commit()
        return f.id, st.id, admin.id


def _admin(s, admin_id):  # noqa: ANN001, ANN202
    from core.models import User

    return s.get(User, admin_id)


def _ingest(Session, device_id: str, start: datetime, end: datetime, now: datetime) -> int:  # noqa: N803
    """Send readings every INTERVAL_S over [start, end) through the listener's writer."""
    writer = BatchWriter(Session, PREFIX, ListenerStats(), clock=lambda: now.timestamp(), qa=NO_FLATLINE)
    ts = start.timestamp()
    seq = 1
    batch: list[dict] = []
    msgs = []
    while ts < end.timestamp():
        batch.append(reading(ts, seq, interval_s=INTERVAL_S))
        ts += INTERVAL_S
        seq += 1
        if len(batch) == 200:
            msgs.append(batch)
            batch = []
    if batch:
        msgs.append(batch)
    for b in msgs:
        writer.write([Message(f"{PREFIX}/KGW/{device_id}/telemetry", telemetry(device_id, b), 1, 1, False,
                              time.monotonic(), now.timestamp())])
    return seq - 1


def _figures(s, fid: int, now: datetime):  # noqa: ANN001, ANN202
    """Every past figure the issue names: daily coverage, monthly coverage and reconciliation, uptime."""
    factors = load_factor_set(s)
    months = [date(2026, 10, 1), date(2026, 11, 1)]
    invs = monthly_inventory(s, months, factors, [fid], now=now)
    days = daily_history(s, _Reader(), fid, date(2026, 10, 1), date(2026, 11, 14), now=now)
    uptime = sensor_uptime(s, [fid], date(2026, 10, 16), date(2026, 11, 14), now)
    return ([(i.month, i.expected_s, i.measured_covered_s, i.coverage, i.reconciliation_pct) for i in invs],
            [(d.day, d.coverage, d.co2_kg) for d in days], uptime)


class _Reader:
    """An HQ reader for the query functions (they check roles, not identities)."""

    id = 0
    username = "hq"
    role = "hq"
    active = True
    factory_id = None


def test_registering_a_node_leaves_every_past_day_and_month_unchanged(sf):
    Session = sf  # noqa: N806
    fid, stack_id, admin_id = _seed(Session)
    now = _local(2026, 11, 15, 12)
    with time_machine.travel(now, tick=False):
        with Session() as s:
            add_device(s, _admin(s, admin_id), "KGW-S1", stack_id, INTERVAL_S, commissioned_at="2026-10-01 00:00",
                       reason="first node")
            s.commit()
        _ingest(Session, "KGW-S1", _local(2026, 10, 1), _local(2026, 11, 15, 12), now)
        with Session() as s:
            before = _figures(s, fid, now)
            add_device(s, _admin(s, admin_id), "KGW-S2", stack_id, INTERVAL_S, reason="second chimney analyser")
            s.commit()
        with Session() as s:
            after = _figures(s, fid, now)
            assignment = s.scalars(sa.select(DeviceAssignment).where(DeviceAssignment.device_id == "KGW-S2")).one()
    assert assignment.commissioned_at == now and assignment.retired_at is None
    assert after == before
    months, days, uptime = after
    # The first node covered every second since its commissioning: coverage 100 %, not 50 %.
    assert [m[3] for m in months] == [pytest.approx(1.0), pytest.approx(1.0)]
    assert all(c == pytest.approx(1.0) for _, c, _ in days)
    assert uptime[fid] == pytest.approx(1.0)
    # From its commissioning on, the new node counts: one day later, that day expects both nodes.
    later = now + timedelta(days=1)
    with Session() as s:
        nov = monthly_inventory(s, [date(2026, 11, 1)], load_factor_set(s), [fid], now=later)[0]
        health = {n.device_id: n for n in node_health(s, _Reader(), later)}
    nov_elapsed = (later - _local(2026, 11, 1)).total_seconds()
    assert nov.expected_s == pytest.approx(nov_elapsed + 86400.0)
    # The silent new node is judged on its one day, not on 30: 0 of 24 hours.
    assert health["KGW-S2"].assigned_hours_30d == pytest.approx(24.0)
    assert health["KGW-S2"].availability_30d == 0.0
    assert health["KGW-S1"].availability_30d == pytest.approx(
        health["KGW-S1"].valid_hours_30d / health["KGW-S1"].assigned_hours_30d)


def test_replacing_a_node_mid_month_counts_each_only_while_assigned(sf):
    Session = sf  # noqa: N806
    fid, stack_id, admin_id = _seed(Session)
    removed = _local(2026, 11, 10, 0)
    installed = removed + timedelta(hours=6)  # the new node went in six hours later
    end = _local(2026, 12, 1)
    with time_machine.travel(_local(2026, 11, 9), tick=False):
        with Session() as s:
            add_device(s, _admin(s, admin_id), "KGW-S1", stack_id, INTERVAL_S, commissioned_at="2026-10-20 00:00")
            s.commit()
        _ingest(Session, "KGW-S1", _local(2026, 11, 1), _local(2026, 11, 9), _local(2026, 11, 9))
    now = _local(2026, 12, 2, 9)
    with time_machine.travel(installed, tick=False), Session() as s:
        set_device_active(s, _admin(s, admin_id), "KGW-S1", False, at="2026-11-10 00:00", reason="analyser failed")
        s.commit()
        with pytest.raises(AdminError):  # history is not rewritten: no retiring before commissioning
            move_device(s, _admin(s, admin_id), "KGW-S1", stack_id, at="2026-10-01 00:00")
        s.rollback()
        add_device(s, _admin(s, admin_id), "KGW-S3", stack_id, INTERVAL_S, reason="replacement")
        s.commit()
    with time_machine.travel(now, tick=False):
        _ingest(Session, "KGW-S3", installed, end, now)
        with Session() as s:
            inv = monthly_inventory(s, [date(2026, 11, 1)], load_factor_set(s), [fid], now=now)[0]
            dev = device_availability(s, ["KGW-S1", "KGW-S3"], _local(2026, 11, 1), end, now)
            fac = factory_availability(s, [fid], _local(2026, 11, 1), end, now)[fid]
            history = [(a.device_id, a.commissioned_at, a.retired_at) for a in
                       s.scalars(sa.select(DeviceAssignment).order_by(DeviceAssignment.id))]
    # Independent: S1 from 1 Nov 00:00 to 10 Nov 00:00 EAT, S3 from 10 Nov 06:00 to 1 Dec 00:00 EAT.
    expected = 9 * 86400.0 + (21 * 86400.0 - 6 * 3600.0)
    assert inv.expected_s == pytest.approx(expected)
    covered = 8 * 86400.0 + (21 * 86400.0 - 6 * 3600.0)  # S1 sent readings until 9 Nov 00:00
    assert inv.measured_covered_s == pytest.approx(covered, abs=INTERVAL_S)
    assert inv.coverage == pytest.approx(covered / expected, abs=1e-3)
    assert dev["KGW-S1"].assigned_hours == pytest.approx(9 * 24)
    assert dev["KGW-S1"].valid_hours == pytest.approx(8 * 24)
    assert dev["KGW-S3"].assigned_hours == pytest.approx(21 * 24 - 6)
    assert dev["KGW-S3"].valid_hours == pytest.approx(21 * 24 - 6)
    assert fac.share == pytest.approx((8 * 24 + 21 * 24 - 6) / (9 * 24 + 21 * 24 - 6))
    assert history == [("KGW-S1", _local(2026, 10, 20), removed), ("KGW-S3", installed, None)]


def test_move_and_replace_keep_history(sf):
    Session = sf  # noqa: N806
    fid, stack_id, admin_id = _seed(Session)
    with Session() as s:
        other = Factory(code="MTR", name="Mataara", region=1, county="Kiambu", latitude=-0.9, longitude=36.9,
                        altitude_m=2000.0)
        s.add(other)
        s.flush()
        st2 = Stack(factory_id=other.id, name="Boiler 1", diameter_m=0.9)
        s.add(st2)
        s.commit()
        st2_id, other_id = st2.id, other.id
    t0 = _local(2026, 11, 1)
    with time_machine.travel(t0 + timedelta(days=3), tick=False), Session() as s:
        a = _admin(s, admin_id)
        add_device(s, a, "KGW-S1", stack_id, 60, commissioned_at="2026-11-01 00:00")
        move_device(s, a, "KGW-S1", st2_id, at="2026-11-02 00:00", reason="lent to Mataara")
        new = replace_device(s, a, "KGW-S1", "MTR-S9", at="2026-11-03 00:00")
        s.commit()
        rows = [(r.device_id, r.factory_id, r.commissioned_at, r.retired_at) for r in
                s.scalars(sa.select(DeviceAssignment).order_by(DeviceAssignment.id))]
        assert new.factory_id == other_id and not s.get(Device, "KGW-S1").active
        exp = factory_availability(s, [fid, other_id], t0, t0 + timedelta(days=3))
    assert rows == [
        ("KGW-S1", fid, t0, t0 + timedelta(days=1)),
        ("KGW-S1", other_id, t0 + timedelta(days=1), t0 + timedelta(days=2)),
        ("MTR-S9", other_id, t0 + timedelta(days=2), None),
    ]
    assert exp[fid].assigned_hours == 24 and exp[other_id].assigned_hours == 48

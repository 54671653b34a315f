"""Labelled substitution (40 CFR 75.33 style) from data that went through the listener into PostgreSQL.

October 2026 (local) of one node at 600 s readings: a sensor stuck for three hours (flagged flat
line, so three hours without valid data) and a three-day outage. Expected substitutes are
computed here from the readings themselves (hourly value = mean kg/s × 3,600 s) and the rule as
docs/qaqc.md states it, then checked in the table, the CLI, the monthly inventory, the history
callback and the factory workbook read back with openpyxl.
"""

from __future__ import annotations

import io
import math
import uuid
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import openpyxl
import pytest
import sqlalchemy as sa
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
from reports_helpers import find_value, header_map

from callbacks.factory_history import history_data, render_history
from carbontrack.cli import main as cli_main
from core.db import make_engine, make_session_factory
from core.emissions import barometric_pressure_pa, stack_co2_kg_s
from core.inventory.factors import load_factor_set, seed_factors
from core.inventory.monthly import monthly_inventory
from core.measurement.substitution import substitute_period
from core.models import QA_FLATLINE, Reading, SubstituteHour
from core.reporting.factory_workbook import build_factory_workbook
from core.reporting.month_data import collect_month
from core.timeutil import DEFAULT_TZ, local_month_bounds_utc, set_clock
from mqtt_listener import Listener

MONTH = date(2026, 10, 1)
NOW = datetime(2026, 11, 5, 9, 0, tzinfo=UTC)
BASE = datetime(2026, 10, 1, 0, 0, tzinfo=UTC)  # first reading; the local month began 3 h earlier
N_HOURS = 741  # to 2026-10-31T21:00Z, the end of the local month
STUCK = (49, 2)  # from hour 49's third reading the CO2 value is stuck
SHORT_GAP = range(50, 53)  # hours whose readings are all flagged flat line (the 5th of the run on)
LONG_GAP = range(100, 172)  # 72 h without any reading
PER_HOUR = 6  # readings every 600 s


def _values(k: int, j: int) -> tuple[float, float]:
    """CO2 (ppm) and velocity (m/s) of reading j of hour k; every hour a different level."""
    if (k, j) >= STUCK and k in (49, *SHORT_GAP):
        return 95_000.0, 8.0
    return 80_000.0 + 1_000.0 * ((7 * k) % 13) + 10.0 * j, 7.0 + 0.1 * ((5 * k) % 11) + 0.01 * j


def _kg_s(co2: float, vel: float) -> float:
    # seed_fleet: diameter 0.8 m, moisture 0.12, wet basis, profile 1.0, the first factory at 1,800 m.
    return stack_co2_kg_s(co2, 186.4, vel, 0.8, barometric_pressure_pa(1800.0), 0.12, False, 1.0)


def _hour_value(k: int) -> float:
    """A fully covered hour: Σ co2_kg_s × 600 s over its six valid readings (= mean kg/s × 3,600 s)."""
    return sum(_kg_s(*_values(k, j)) * 600.0 for j in range(PER_HOUR))


def _nearest_rank_p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[math.ceil(0.9 * len(ordered)) - 1]


@pytest.fixture(scope="module")
def october(tmp_path_factory, mosquitto):  # noqa: ANN001, ANN201
    """A PostgreSQL database with the month ingested through the listener (built once for the module)."""
    from conftest import _pg_available, create_pg_database, drop_pg_database, require_or_skip

    require_or_skip(_pg_available(), "PostgreSQL")

    url = create_pg_database("ct_subst", migrated=True)
    engine = make_engine(url)
    Session = make_session_factory(engine)  # noqa: N806
    node = seed_fleet(Session, n_factories=1)[0]
    with Session() as s:
        seed_factors(s)
        s.commit()
    prefix = f"cttest/{uuid.uuid4().hex[:8]}"
    cfg = make_config(url, prefix, *mosquitto, qa_flatline_samples=5)
    lst = Listener(cfg, Session, client_id=f"subst-{uuid.uuid4().hex[:8]}", protocol="5", clock=lambda: NOW.timestamp())
    lst.start()
    pub = Publisher(*mosquitto)
    readings = []
    for k in range(N_HOURS):
        if k in LONG_GAP:
            continue
        for j in range(PER_HOUR):
            co2, vel = _values(k, j)
            ts = (BASE + timedelta(hours=k, seconds=600 * j)).timestamp()
            readings.append(reading(ts, seq=len(readings), co2_ppm=co2, vel=vel))
    try:
        assert lst.wait_connected(10)
        for i in range(0, len(readings), 100):
            pub.publish(topic(prefix, node), telemetry(node.device_id, readings[i:i + 100], interval_s=600))
        pub.wait_all(60)
        assert wait_until(lambda: count_readings(Session) == len(readings), 60)
        assert lst.wait_idle(20)
    finally:
        pub.close()
        lst.stop()
    yield SimpleNamespace(url=url, Session=Session, node=node, n_readings=len(readings))
    engine.dispose()
    drop_pg_database(url)


def _expected() -> dict:
    hb_ha_short = (_hour_value(49) + _hour_value(53)) / 2
    lookback = [_hour_value(k) for k in range(100) if k not in SHORT_GAP]
    p90 = _nearest_rank_p90(lookback)
    avg_long = (_hour_value(99) + _hour_value(172)) / 2
    long_value = max(p90, avg_long)
    measured = sum(_hour_value(k) for k in range(N_HOURS) if k not in LONG_GAP and k not in SHORT_GAP)
    return dict(short=hb_ha_short, long=long_value, long_method="p90_lookback" if p90 >= avg_long else "hb_ha_avg_long",
                total=3 * hb_ha_short + 72 * long_value, measured=measured, n_lookback=len(lookback))


def _month_bounds() -> tuple[datetime, datetime]:
    return local_month_bounds_utc(MONTH, DEFAULT_TZ)


def test_stuck_hours_are_flagged_flat_line(october):
    with october.Session() as s:
        rows = s.execute(sa.select(Reading.ts, Reading.server_flags)).all()
    flagged = sorted(ts for ts, f in rows if f & QA_FLATLINE)
    # The run starts at 49:2; its 5th reading is 50:0; every reading of hours 50-52 is flagged.
    assert flagged[0] == BASE + timedelta(hours=50)
    assert len(flagged) == 3 * PER_HOUR
    assert flagged[-1] == BASE + timedelta(hours=52, seconds=3000)


def test_substitutes_follow_the_part75_rule_and_are_idempotent(october):
    e = _expected()
    start, end = _month_bounds()
    for _ in range(2):  # recomputing gives the same rows, not twice as many
        with october.Session() as s:
            result = substitute_period(s, start, end, now=NOW)
            s.commit()
        assert result.hours == 75 and result.unsubstituted_hours == 0
    with october.Session() as s:
        rows = list(s.scalars(sa.select(SubstituteHour).order_by(SubstituteHour.hour)))
    assert [r.hour for r in rows] == [BASE + timedelta(hours=k) for k in (*SHORT_GAP, *LONG_GAP)]
    short, long = rows[:3], rows[3:]
    assert {(r.method, r.gap_hours) for r in short} == {("hb_ha_avg", 3)}
    assert all(r.co2_kg == pytest.approx(e["short"], rel=1e-9) for r in short)
    assert "HB 2026-10-03T01Z" in short[0].basis and "HA 2026-10-03T05Z" in short[0].basis
    assert {(r.method, r.gap_hours) for r in long} == {(e["long_method"], 72)}
    assert all(r.co2_kg == pytest.approx(e["long"], rel=1e-9) for r in long)
    assert f"of {e['n_lookback']} measured hours" in long[0].basis


def test_cli_and_monthly_inventory_and_workbook(october, monkeypatch, capsys):
    e = _expected()
    monkeypatch.setenv("CARBONTRACK_DATABASE_URL", october.url)
    monkeypatch.setenv("CARBONTRACK_SECRET_KEY", "s" * 40)
    previous = set_clock(lambda: NOW)
    try:
        assert cli_main(["substitute", "--from", "2026-10-01", "--to", "2026-10-31", "--factory", "TF00"]) == 0
        assert "substituted 75 device-hours" in capsys.readouterr().out
        assert cli_main(["substitute", "--from", "2026-10-01", "--to", "2026-11-05"]) == 2  # not closed yet
        with october.Session() as s:
            (inv,) = monthly_inventory(s, [MONTH], load_factor_set(s), [october.node.factory_id], now=NOW)
            data = collect_month(s, MONTH, [october.node.factory_id], now=NOW)
    finally:
        set_clock(previous)
    assert inv.substituted_hours == 75
    assert inv.substituted_co2_kg == pytest.approx(e["total"], rel=1e-9)
    assert inv.measured_co2_kg == pytest.approx(e["measured"], rel=1e-9)
    assert inv.measured_co2_full_month_kg == pytest.approx(e["measured"] + e["total"], rel=1e-9)
    assert inv.substitution_methods == {"hb_ha_avg": 3, e["long_method"]: 72}

    wb = build_factory_workbook(data.factories[0], data, 1, NOW)
    buf = io.BytesIO()
    wb.save(buf)
    book = openpyxl.load_workbook(io.BytesIO(buf.getvalue()))
    ws = book["B3_Measured"]
    assert find_value(ws, "Measured CO2, monitored hours") == pytest.approx(e["measured"] / 1000, rel=1e-9)
    assert find_value(ws, "Substituted CO2, hours without valid data") == pytest.approx(e["total"] / 1000, rel=1e-9)
    assert find_value(ws, "Sensor-hours substituted") == 75
    assert find_value(ws, "Measured CO2 total (measured + substituted)") == pytest.approx(
        (e["measured"] + e["total"]) / 1000, rel=1e-9)
    assert "75.33(b)(1)(i)" in find_value(ws, "Substitution method")
    dq = book["DataQuality"]
    assert find_value(dq, "Hours substituted") == 75
    day_hr, dh = header_map(dq, "Day")
    subst_by_day = {dq.cell(r, 1).value.date(): dq.cell(r, dh["Substituted hours"]).value
                    for r in range(day_hr + 1, day_hr + 32)}
    # Local days (UTC+3): hours 50-52 are 05:00-07:59 on 3 Oct; hours 100-171 run 07:00 5 Oct - 06:59 8 Oct.
    assert subst_by_day[date(2026, 10, 3)] == 3
    assert subst_by_day[date(2026, 10, 5)] == 17 and subst_by_day[date(2026, 10, 6)] == 24
    assert subst_by_day[date(2026, 10, 8)] == 7
    assert sum(v or 0 for v in subst_by_day.values()) == 75


def test_history_shows_substituted_days_apart(october):
    e = _expected()
    with october.Session() as s:
        start, end = _month_bounds()
        substitute_period(s, start, end, now=NOW)
        s.commit()
    hq = SimpleNamespace(id=1, role="hq", factory_id=None, active=True)
    data = history_data(hq, october.node.factory_id, "2026-10-01", "2026-10-31", october.Session, DEFAULT_TZ, NOW)
    assert data["substituted"][date(2026, 10, 6)] == (pytest.approx(24 * e["long"], rel=1e-9), 24)
    (month_row,) = data["monthly"]
    assert month_row["substituted_hours"] == 75
    assert month_row["substituted_co2_kg"] == pytest.approx(e["total"], rel=1e-9)
    kpis, daily, *_rest, table = render_history(data)
    trace = next(t for t in daily.data if t.name.startswith("substituted"))
    assert trace.marker.color != next(t for t in daily.data if t.name.startswith("measured")).marker.color
    assert trace.marker.pattern.shape == "/"
    # The months grid: substituted tonnes and hours in their own columns, shaded apart.
    grid = _find(table, "factory-history-month-table")
    shaded = {c["field"] for c in grid.columnDefs if c.get("cellClass") == "substituted"}
    assert shaded == {"substituted_t", "substituted_h"}
    (row,) = grid.rowData
    assert row["substituted_h"] == 75 and row["substituted_t"] == pytest.approx(e["total"] / 1000, abs=0.05)
    other = SimpleNamespace(id=2, role="factory_manager", factory_id=october.node.factory_id + 1, active=True)
    denied = history_data(other, october.node.factory_id, "2026-10-01", "2026-10-31", october.Session, DEFAULT_TZ, NOW)
    assert denied == {"denied": True}


def _find(component, component_id: str):  # noqa: ANN001, ANN202
    """The component with `component_id` inside a Dash layout tree."""
    if getattr(component, "id", None) == component_id:
        return component
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list) else [children] if children is not None else []:
        found = _find(child, component_id)
        if found is not None:
            return found
    return None


def test_cached_inventory_follows_new_substitutes(october):
    """A closed month cached before its missing hours were substituted is recomputed after (portal cache)."""
    from core.insights.queries import InventoryCache, cached_monthly_inventory

    e = _expected()
    cache = InventoryCache()
    start, end = _month_bounds()
    fid = october.node.factory_id
    with october.Session() as s:
        s.execute(sa.delete(SubstituteHour))
        s.commit()
        factors = load_factor_set(s)
        (before,) = cached_monthly_inventory(s, [MONTH], factors, [fid], now=NOW, cache=cache)
        substitute_period(s, start, end, now=NOW)
        s.commit()
        (after,) = cached_monthly_inventory(s, [MONTH], factors, [fid], now=NOW, cache=cache)
    assert before.substituted_hours == 0
    assert after.substituted_hours == 75
    assert after.substituted_co2_kg == pytest.approx(e["total"], rel=1e-9)


def test_substitution_follows_the_device_assignments(Session):  # noqa: N803
    """A node moved from factory A's stack to factory B's (issue 12 lifecycle): hours are expected only
    while it is assigned, substitutes go to the assignment's factory, and HB/HA come from the same
    stack. Expected values are worked out here from the hourly rows, by the rule in docs/qaqc.md."""
    from core.models import Device, DeviceAssignment, DeviceHourly

    a, b = seed_fleet(Session, n_factories=2, prefix="SW")
    t0 = datetime(2026, 10, 1, 0, 0, tzinfo=UTC)
    retired, recommissioned = t0 + timedelta(hours=48), t0 + timedelta(hours=60)

    def value(h: int) -> float:  # kg in hour h: a different level each hour
        return 900.0 + 10.0 * (h % 7)

    measured_a = [h for h in range(48) if h not in (20, 21, 22)]  # a 3-hour gap on stack A
    measured_b = list(range(66, 96))  # on B from 6 h after commissioning
    with Session() as s:
        node = s.get(Device, a.device_id)
        stack_b = s.get(Device, b.device_id).stack_id
        s.add(DeviceAssignment(device_id=node.id, factory_id=a.factory_id, stack_id=node.stack_id,
                               commissioned_at=t0, retired_at=retired))
        s.add(DeviceAssignment(device_id=node.id, factory_id=b.factory_id, stack_id=stack_b,
                               commissioned_at=recommissioned))
        s.add(DeviceAssignment(device_id=b.device_id, factory_id=b.factory_id, stack_id=stack_b,
                               commissioned_at=t0, retired_at=t0))  # the other node: never in service here
        node.factory_id, node.stack_id = b.factory_id, stack_b
        for h, fid in [(h, a.factory_id) for h in measured_a] + [(h, b.factory_id) for h in measured_b]:
            s.add(DeviceHourly(device_id=node.id, factory_id=fid, hour=t0 + timedelta(hours=h), co2_kg=value(h),
                               covered_s=3600.0, n_readings=60, n_valid=60))
        s.commit()
        substitute_period(s, t0, t0 + timedelta(hours=96), now=t0 + timedelta(hours=96))
        s.commit()
        rows = {int((r.hour.replace(tzinfo=UTC) - t0) / timedelta(hours=1)): r
                for r in s.scalars(sa.select(SubstituteHour).where(SubstituteHour.device_id == node.id))}
    # Stack A's gap: the average of hour 19 (HB) and hour 23 (HA), for factory A.
    for h in (20, 21, 22):
        assert rows[h].factory_id == a.factory_id and rows[h].method == "hb_ha_avg"
        assert rows[h].co2_kg == pytest.approx((value(19) + value(23)) / 2)
    # Not assigned between retirement (48 h) and recommissioning (60 h): nothing expected, nothing made up.
    assert not [h for h in rows if 48 <= h < 60]
    # On B the first 6 hours have no HB on that stack (A's hour 47 is another stack): HA alone, for B.
    for h in range(60, 66):
        assert rows[h].factory_id == b.factory_id and rows[h].method == "one_side"
        assert rows[h].co2_kg == pytest.approx(value(66))
    assert sorted(rows) == [20, 21, 22, *range(60, 66)]

"""Issue 12 end to end: Mosquitto → Listener → PostgreSQL, a drifting analyser and a node swap in one month.

October 2026 (local) at one stack, readings every 600 s:

- node A is registered in the admin form, commissioned 2026-10-01 03:00 EAT (= BASE, the first reading);
- A reports automatic span checks on …/cal: a pass at hour 10, a failure (4 % of span) at hour 100.5;
  the readings from the pass on go out of control — those already stored are re-marked, later ones
  are stored out of control by the listener; HQ records a passing check in the portal at hour 110,
  which ends it: readings from hour 110 on are valid again (hours 10–109 stay out of control);
- bad calibration messages are rejected, a re-sent one is stored once;
- at hour 360 the admin replaces A by node B (same stack); B measures to the end of the month, with
  ten hours (500–509) at 1 m/s: every reading below the velocity minimum, the stack not running.

Expected figures are computed here from the readings sent (hourly value = Σ kg/s × 600 s), the
Part 75 rule as docs/qaqc.md states it, and the availability definition (valid hours ÷ assigned
operating hours), then checked in the stored readings, the substitutes, the history callback's data
and the factory workbook read back with openpyxl.
"""

from __future__ import annotations

import io
import json
import math
import uuid
from datetime import UTC, date, datetime, timedelta

import openpyxl
import pytest
import sqlalchemy as sa
from ingest_helpers import Publisher, count_readings, make_config, reading, telemetry, wait_until
from reports_helpers import find_value

from callbacks.admin_nodes import lifecycle_change, register_node
from callbacks.factory_history import history_data, render_history
from callbacks.node_quality import save_calibration
from core.accounts.auth import WebUser
from core.accounts.users import create_user
from core.db import make_engine, make_session_factory
from core.emissions import barometric_pressure_pa, stack_co2_kg_s
from core.inventory.factors import seed_factors
from core.measurement.substitution import substitute_period
from core.models import (
    QA_LOW_VELOCITY,
    QUALITY_OUT_OF_CONTROL,
    CalibrationCheck,
    DeviceAssignment,
    Factory,
    Reading,
    RejectedMessage,
    Stack,
    SubstituteHour,
)
from core.reporting.factory_workbook import build_factory_workbook
from core.reporting.month_data import collect_month
from core.timeutil import DEFAULT_TZ, local_month_bounds_utc, set_clock
from mqtt_listener import Listener

MONTH = date(2026, 10, 1)
NOW = datetime(2026, 11, 5, 9, 0, tzinfo=UTC)
BASE = datetime(2026, 10, 1, 0, 0, tzinfo=UTC)  # 03:00 EAT; the local month began 3 h earlier
N_HOURS = 741  # to 2026-10-31T21:00Z, the end of the local month
PER_HOUR = 6
SWAP = 360  # B replaces A at this hour
PASS1, FAIL, PASS2 = 10.0, 100.5, 110.0  # hours of the checks
OOC = range(10, 110)  # hours out of control: from the last pass before the failure to the next pass
IDLE = range(500, 510)  # B's hours with the stack stopped (velocity 1 m/s, below the 3 m/s minimum)
SPAN = 100_000.0


def _values(k: int, j: int) -> tuple[float, float]:
    """CO2 (ppm) and velocity (m/s) of reading j of hour k; every hour a different level."""
    vel = 1.0 if k in IDLE else 7.0 + 0.1 * ((5 * k) % 11) + 0.01 * j
    return 80_000.0 + 1_000.0 * ((7 * k) % 13) + 10.0 * j, vel


def _kg_s(co2: float, vel: float) -> float:
    # The stack below: diameter 0.8 m, moisture 0.12, wet basis, profile 1.0, factory at 1,800 m.
    return stack_co2_kg_s(co2, 186.4, vel, 0.8, barometric_pressure_pa(1800.0), 0.12, False, 1.0)


def _hour_value(k: int) -> float:
    return sum(_kg_s(*_values(k, j)) * 600.0 for j in range(PER_HOUR))


def _readings(hours: range, seq0: int = 0) -> list[dict]:
    out = []
    for k in hours:
        for j in range(PER_HOUR):
            co2, vel = _values(k, j)
            out.append(reading((BASE + timedelta(hours=k, seconds=600 * j)).timestamp(), seq=seq0 + len(out),
                               co2_ppm=co2, vel=vel))
    return out


def _cal(hour: float, measured: float, **extra) -> bytes:
    doc = {"kind": "span", "reference_ppm": 80_000.0, "measured_ppm": measured, "span_ppm": SPAN,
           "ts": (BASE + timedelta(hours=hour)).timestamp(), "certificate": "GAS-80K-7"}
    doc.update(extra)
    return json.dumps(doc).encode()


def _count(Session, model, *where) -> int:  # noqa: N803
    with Session() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


@pytest.fixture(scope="module")
def month(mosquitto):  # noqa: ANN201
    from conftest import _pg_available, create_pg_database, drop_pg_database, require_or_skip

    require_or_skip(_pg_available(), "PostgreSQL")
    url = create_pg_database("ct_qaqc", migrated=True)
    engine = make_engine(url)
    Session = make_session_factory(engine)  # noqa: N806
    with Session() as s:
        seed_factors(s)
        f = Factory(code="E2E", name="End to end", region=1, county="Nyeri", latitude=-0.4, longitude=36.9,
                    altitude_m=1800.0)
        s.add(f)
        s.flush()
        st = Stack(factory_id=f.id, name="Boiler 1", diameter_m=0.8, moisture_fraction=0.12, dry_basis=False)
        s.add(st)
        admin = create_user(s, "e2e-admin", "e2e-admin-pass-1", "admin")
        hq = create_user(s, "e2e-hq", "e2e-hq-pass-1", "hq")
        s.commit()
        fid, stack_id = f.id, st.id
        admin_u = WebUser(admin.id, admin.username, "admin", None, True)
        hq_u = WebUser(hq.id, hq.username, "hq", None, True)
    previous = set_clock(lambda: NOW)
    prefix = f"cttest/{uuid.uuid4().hex[:8]}"
    cfg = make_config(url, prefix, *mosquitto)
    lst = Listener(cfg, Session, client_id=f"qaqc-{uuid.uuid4().hex[:8]}", protocol="5", clock=lambda: NOW.timestamp())
    pub = Publisher(*mosquitto)
    seen: dict = {}
    try:
        register_node(admin_u, {"device-id": "E2E-A", "device-stack": stack_id, "device-interval": 600,
                                "device-commissioned": "2026-10-01 03:00", "device-reason": "first node"}, Session)
        lst.start()
        assert lst.wait_connected(10)

        def send(device: str, rows: list[dict]) -> None:
            for i in range(0, len(rows), 100):
                pub.publish(f"{prefix}/E2E/{device}/telemetry", telemetry(device, rows[i:i + 100], interval_s=600))
            pub.wait_all(60)

        a1, a2 = _readings(range(0, 105)), _readings(range(105, SWAP), seq0=105 * PER_HOUR)
        send("E2E-A", a1)
        assert wait_until(lambda: count_readings(Session) == len(a1), 60)
        cal_topic = f"{prefix}/E2E/E2E-A/cal"
        pub.publish(cal_topic, _cal(PASS1, 80_800.0))  # 0.8 % of span: pass
        pub.publish(cal_topic, _cal(FAIL, 84_000.0))  # 4.0 %: fail
        pub.publish(cal_topic, _cal(FAIL, 84_000.0))  # re-sent: stored once
        pub.publish(cal_topic, _cal(FAIL + 1, 84_000.0, kind="drift"))  # rejected: bad_cal
        pub.publish(cal_topic, b"{not json")  # rejected: malformed_json
        pub.publish(f"{prefix}/XXX/E2E-A/cal", _cal(FAIL + 2, 80_000.0))  # rejected: factory_mismatch
        pub.wait_all(30)
        assert wait_until(lambda: _count(Session, RejectedMessage) == 3, 30)
        assert lst.wait_idle(20)
        send("E2E-A", a2)  # stored out of control by the listener (the interval is open)
        assert wait_until(lambda: count_readings(Session) == len(a1) + len(a2), 60)
        assert lst.wait_idle(20)
        seen["ooc_before_pass"] = _count(Session, Reading, Reading.quality == QUALITY_OUT_OF_CONTROL)
        # HQ records the passing check in the portal: readings from hour 110 on are valid again.
        errors, msg, ok = save_calibration(hq_u, "E2E-A", {"kind": "span", "checked-at": "2026-10-05 17:00",
                                                            "reference": 80000, "certificate": "GAS-80K-8",
                                                            "measured": 80500, "span": SPAN}, Session)
        assert ok and "passed" in msg, (errors, msg)
        lifecycle_change(admin_u, {"device-pick": "E2E-A", "lifecycle-action": "replace",
                                   "lifecycle-new-id": "E2E-B", "lifecycle-at": "2026-10-16 03:00",
                                   "lifecycle-reason": "NDIR cell replaced"}, Session)
        lst.reload_registry()
        b = _readings(range(SWAP, N_HOURS))
        send("E2E-B", b)
        n_total = len(a1) + len(a2) + len(b)
        assert wait_until(lambda: count_readings(Session) == n_total, 60)
        assert lst.wait_idle(20)
    finally:
        pub.close()
        lst.stop()
    try:
        start, end = local_month_bounds_utc(MONTH, DEFAULT_TZ)
        with Session() as s:
            substitute_period(s, start, end, now=NOW)
            s.commit()
        yield dict(Session=Session, fid=fid, n_total=n_total, seen=seen, hq=hq_u)
    finally:
        set_clock(previous)
        engine.dispose()
        drop_pg_database(url)


def _expected() -> dict:
    lookback = [_hour_value(k) for k in range(OOC.start)]
    p90 = sorted(lookback)[math.ceil(0.9 * len(lookback)) - 1]  # nearest rank
    avg = (_hour_value(OOC.start - 1) + _hour_value(OOC.stop)) / 2
    value = max(p90, avg)
    measured = sum(_hour_value(k) for k in range(N_HOURS) if k not in OOC and k not in IDLE)
    valid_hours = N_HOURS - len(OOC) - len(IDLE)
    assigned = N_HOURS  # A from BASE to the swap, B from the swap to the month's end: no hour twice, none missed
    return dict(value=value, method="p90_lookback" if p90 >= avg else "hb_ha_avg_long", measured=measured,
                substituted=len(OOC) * value, valid_hours=valid_hours, operating=assigned - len(IDLE))


def test_stored_flags_checks_and_assignments(month):
    Session = month["Session"]  # noqa: N806
    # Before HQ's pass: everything from hour 10 on was out of control (the failure left it open).
    assert month["seen"]["ooc_before_pass"] == (SWAP - OOC.start) * PER_HOUR
    with Session() as s:
        rows = s.execute(sa.select(Reading.device_id, Reading.ts, Reading.quality, Reading.quality_reason,
                                   Reading.server_flags, Reading.covered_s)).all()
        checks = s.execute(sa.select(CalibrationCheck.checked_at, CalibrationCheck.passed, CalibrationCheck.source,
                                     CalibrationCheck.recorded_by, CalibrationCheck.error_pct)
                           .order_by(CalibrationCheck.checked_at)).all()
        rejected = sorted(s.scalars(sa.select(RejectedMessage.reason)))
        assigns = s.execute(sa.select(DeviceAssignment.device_id, DeviceAssignment.commissioned_at,
                                      DeviceAssignment.retired_at).order_by(DeviceAssignment.commissioned_at)).all()
    assert len(rows) == month["n_total"]

    def hour(ts: datetime) -> int:
        return int((ts.replace(tzinfo=UTC) - BASE).total_seconds() // 3600)

    ooc = [r for r in rows if r.quality == QUALITY_OUT_OF_CONTROL]
    assert sorted({hour(r.ts) for r in ooc}) == list(OOC) and len(ooc) == len(OOC) * PER_HOUR
    assert {(r.device_id, r.quality_reason, r.covered_s) for r in ooc} == {("E2E-A", "calibration out of control", 0)}
    idle = [r for r in rows if r.server_flags == QA_LOW_VELOCITY]
    assert sorted({hour(r.ts) for r in idle}) == list(IDLE) and {r.device_id for r in idle} == {"E2E-B"}
    valid = [r for r in rows if r.quality == 0]
    assert len(valid) == month["n_total"] - len(ooc) - len(idle)
    assert {r.covered_s for r in valid} == {600.0}  # re-marked readings got their coverage back
    assert [(c.checked_at, c.passed, c.source, c.recorded_by) for c in checks] == [
        (BASE + timedelta(hours=PASS1), True, "node", "E2E-A"),
        (BASE + timedelta(hours=FAIL), False, "node", "E2E-A"),
        (BASE + timedelta(hours=PASS2), True, "portal", "e2e-hq")]
    assert [round(c.error_pct, 6) for c in checks] == [0.8, 4.0, 0.5]  # |measured − 80,000| ÷ 100,000
    assert rejected == ["bad_cal", "factory_mismatch", "malformed_json"]
    swap = BASE + timedelta(hours=SWAP)
    assert [(d, c.replace(tzinfo=UTC), r and r.replace(tzinfo=UTC)) for d, c, r in assigns] == [
        ("E2E-A", BASE, swap), ("E2E-B", swap, None)]


def test_substitutes_and_non_operating_hours(month):
    e = _expected()
    with month["Session"]() as s:
        subs = list(s.scalars(sa.select(SubstituteHour).order_by(SubstituteHour.hour)))
    by_method: dict[str, list] = {}
    for r in subs:
        by_method.setdefault(r.method, []).append(r)
    assert set(by_method) == {e["method"], "non_operating"}
    assert [r.hour.replace(tzinfo=UTC) for r in by_method[e["method"]]] == [BASE + timedelta(hours=k) for k in OOC]
    assert all(r.co2_kg == pytest.approx(e["value"], rel=1e-9) for r in by_method[e["method"]])
    assert [r.hour.replace(tzinfo=UTC) for r in by_method["non_operating"]] == [BASE + timedelta(hours=k) for k in IDLE]
    assert all(r.co2_kg == 0 for r in by_method["non_operating"])


def test_history_callback_shows_availability_and_substitution(month):
    e = _expected()
    data = history_data(month["hq"], month["fid"], "2026-10-01", "2026-10-31", month["Session"], DEFAULT_TZ, NOW)
    a = data["availability"]
    # Valid hours ÷ assigned operating hours: the ten stopped hours are not operating hours (40 CFR 75.32).
    assert (a.valid_hours, a.assigned_hours, a.non_operating_hours) == (e["valid_hours"], e["operating"], len(IDLE))
    (row,) = data["monthly"]
    assert row["substituted_hours"] == len(OOC)
    assert row["measured_co2_kg"] == pytest.approx(e["measured"], rel=1e-9)
    assert row["substituted_co2_kg"] == pytest.approx(e["substituted"], rel=1e-9)
    assert row["measured_total_co2_kg"] == pytest.approx(e["measured"] + e["substituted"], rel=1e-9)
    kpis = json.dumps(render_history(data)[0], cls=__import__("plotly").utils.PlotlyJSONEncoder)
    assert f"{e['valid_hours'] / e['operating'] * 100:.1f} %" in kpis


def test_factory_workbook(month):
    e = _expected()
    with month["Session"]() as s:
        data = collect_month(s, MONTH, [month["fid"]], now=NOW)
    buf = io.BytesIO()
    build_factory_workbook(data.factories[0], data, 1, NOW).save(buf)
    book = openpyxl.load_workbook(io.BytesIO(buf.getvalue()))
    ws = book["B3_Measured"]
    assert find_value(ws, "Measured CO2, monitored hours") == pytest.approx(e["measured"] / 1000, rel=1e-9)
    assert find_value(ws, "Substituted CO2, hours without valid data") == pytest.approx(e["substituted"] / 1000,
                                                                                         rel=1e-9)
    assert find_value(ws, "Sensor-hours substituted") == len(OOC)
    assert find_value(ws, "Measured CO2 total (measured + substituted)") == pytest.approx(
        (e["measured"] + e["substituted"]) / 1000, rel=1e-9)
    dq = book["DataQuality"]
    assert find_value(dq, "Data availability (40 CFR 75.32)") == pytest.approx(e["valid_hours"] / e["operating"])
    note = find_value(dq, "Data availability (40 CFR 75.32)", col=4)
    assert f"{e['valid_hours']:,} valid node-hours of {e['operating']:,.1f} assigned operating hours" in note
    assert "(10 h the node measured the stack not running left out)" in note
    assert find_value(dq, "Sensor-hours expected") == pytest.approx(N_HOURS)
    n_ooc, n_idle = len(OOC) * PER_HOUR, len(IDLE) * PER_HOUR
    assert find_value(dq, "Readings stored") == N_HOURS * PER_HOUR
    assert find_value(dq, "Readings valid") == N_HOURS * PER_HOUR - n_ooc - n_idle  # out of control excluded


GOOD_CAL = {"kind": "zero", "reference_ppm": 0.0, "measured_ppm": 1_200.0, "span_ppm": 100_000.0,
            "ts": NOW.timestamp() - 60}


@pytest.mark.parametrize(("change", "reason"), [
    ({"kind": "drift"}, "bad_cal"), ({"kind": 3}, "wrong_type"), ({"span_ppm": 0}, "bad_cal"),
    ({"measured_ppm": 400_000}, "bad_cal"), ({"reference_ppm": -1}, "bad_cal"), ({"measured_ppm": True}, "wrong_type"),
    ({"measured_ppm": "80000"}, "wrong_type"), ({"span_ppm": 10**400}, "non_finite"), ({"ts": None}, "missing_field"),
    ({"ts": NOW.timestamp() + 3600}, "ts_future"), ({"ts": 0}, "ts_too_old"), ({"certificate": "a\x00b"}, "bad_string"),
    ({"certificate": "x" * 81}, "bad_string"), ({"certificate": ["x"]}, "wrong_type"),
])
def test_cal_payloads_are_validated_like_telemetry(change, reason):
    from mqtt_listener.cal import decode_cal

    doc = {**GOOD_CAL, **change}
    payload = json.dumps({k: v for k, v in doc.items() if v is not None}).encode()
    got, rej = decode_cal(payload, NOW.timestamp())
    assert got is None and rej.reason == reason


def test_cal_payload_good_and_not_an_object():
    from mqtt_listener.cal import decode_cal

    got, rej = decode_cal(json.dumps(GOOD_CAL).encode(), NOW.timestamp())
    assert rej is None and (got.kind, got.measured_ppm, got.certificate) == ("zero", 1_200.0, None)
    assert got.checked_at == NOW - timedelta(seconds=60)
    for bad, reason in ((b"[1, 2]", "wrong_type"), (b"\xff", "malformed_json"), (b"x" * 3000, "oversized")):
        assert decode_cal(bad, NOW.timestamp())[1].reason == reason

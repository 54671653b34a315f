"""Calibration log and drift rule (issue 12): a drifted analyser's readings go out of control.

Readings go through the listener's batch writer into PostgreSQL; checks are recorded as HQ would
in the portal. The limit is 40 CFR 75 App. A §3.1: calibration error ≤ 2.5 % of span.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa
import time_machine
from test_lifecycle import INTERVAL_S, _admin, _ingest, _local, _Reader, _seed

from core.access import AccessDenied
from core.db import make_engine, make_session_factory
from core.insights.queries import node_health
from core.inventory.factors import load_factor_set
from core.inventory.monthly import monthly_inventory
from core.measurement.calibration import CalibrationError, calibration_status, record_check
from core.measurement.rollups import recompute_rollups
from core.models import (
    QUALITY_OUT_OF_CONTROL,
    QUALITY_VALID,
    AuditLog,
    CalibrationCheck,
    DeviceDaily,
    Reading,
)
from core.registry.admin import add_device


@pytest.fixture
def sf(pg_url):
    engine = make_engine(pg_url)
    yield make_session_factory(engine)
    engine.dispose()


class _Manager(_Reader):
    role = "factory_manager"


def _quality_counts(s, lo, hi):  # noqa: ANN001, ANN202
    rows = s.execute(sa.select(Reading.quality, sa.func.count()).where(Reading.ts >= lo, Reading.ts < hi)
                     .group_by(Reading.quality)).all()
    return dict(rows)


@pytest.mark.parametrize("measured, passes", [(51_250.0, True), (51_500.0, True), (51_501.0, False)])
def test_limit_is_two_and_a_half_percent_of_span(sf, measured, passes):
    Session = sf  # noqa: N806
    _, stack_id, admin_id = _seed(Session)
    with time_machine.travel(_local(2026, 11, 2), tick=False), Session() as s:
        add_device(s, _admin(s, admin_id), "KGW-S1", stack_id, INTERVAL_S, commissioned_at="2026-11-01 00:00")
        # Span 60,000 ppm: 2.5 % is 1,500 ppm around the 50,000 ppm reference gas.
        row = record_check(s, _admin(s, admin_id), "KGW-S1", "span", 50_000, measured, 60_000, certificate="CYL-1")
        assert row.passed is passes
        assert row.error_pct == pytest.approx(abs(measured - 50_000) / 60_000 * 100)


def test_drifted_analyser_goes_out_of_control_until_a_check_passes(sf):
    Session = sf  # noqa: N806
    fid, stack_id, admin_id = _seed(Session)
    t_pass, t_ok = _local(2026, 11, 2), _local(2026, 11, 6)
    with time_machine.travel(_local(2026, 11, 5), tick=False):
        with Session() as s:
            add_device(s, _admin(s, admin_id), "KGW-S1", stack_id, INTERVAL_S, commissioned_at="2026-11-01 00:00")
            s.commit()
        _ingest(Session, "KGW-S1", _local(2026, 11, 1), _local(2026, 11, 5), _local(2026, 11, 5))
        with Session() as s:
            record_check(s, _admin(s, admin_id), "KGW-S1", "span", 50_000, 50_400, 60_000, checked_at=t_pass,
                         certificate="CYL-1")
            s.commit()
            # HQ/admin only, on the server; bad input is refused with the field named.
            with pytest.raises(AccessDenied):
                record_check(s, _Manager(), "KGW-S1", "span", 50_000, 50_000, 60_000)
            with pytest.raises(CalibrationError) as err:
                record_check(s, _admin(s, admin_id), "KGW-S1", "span", 50_000, 50_000, 0)
            assert err.value.field == "Span"
            with pytest.raises(CalibrationError):
                record_check(s, _admin(s, admin_id), "KGW-S1", "drift", 50_000, 50_000, 60_000)
            s.rollback()
            # The analyser drifted: 53,000 ppm for 50,000 is 5 % of span.
            failed = record_check(s, _admin(s, admin_id), "KGW-S1", "span", 50_000, 53_000, 60_000,
                                  checked_at="2026-11-04 00:00", certificate="CYL-1", note="drift after cleaning")
            s.commit()
            assert not failed.passed
            before = _quality_counts(s, _local(2026, 11, 1), t_pass)
            after = _quality_counts(s, t_pass, _local(2026, 11, 5))
            status = calibration_status(s, ["KGW-S1"], _local(2026, 11, 5))["KGW-S1"]
            audit = s.scalars(sa.select(AuditLog).where(AuditLog.entity == "calibration_check")).all()
    # Readings before the last passed check stay valid; from it on they are out of control.
    n_per_day = 86400 / INTERVAL_S
    assert before == {QUALITY_VALID: n_per_day}
    assert after == {QUALITY_OUT_OF_CONTROL: 3 * n_per_day}
    assert status.out_of_control and status.last_passed_at == t_pass and not status.overdue
    assert len(audit) == 2 and audit[-1].new_value == "fail"

    # A node still out of control keeps sending: the listener stores those readings out of control.
    now = _local(2026, 11, 7)
    with time_machine.travel(now, tick=False):
        _ingest(Session, "KGW-S1", _local(2026, 11, 5), t_ok, now)
        with Session() as s:
            assert _quality_counts(s, _local(2026, 11, 5), t_ok) == {QUALITY_OUT_OF_CONTROL: n_per_day}
            record_check(s, _admin(s, admin_id), "KGW-S1", "span", 50_000, 50_300, 60_000, checked_at=t_ok)
            s.commit()
        _ingest(Session, "KGW-S1", t_ok, now, now)
        with Session() as s:
            ooc = _quality_counts(s, t_pass, t_ok)
            back = _quality_counts(s, t_ok, now)
            inv = monthly_inventory(s, [date(2026, 11, 1)], load_factor_set(s), [fid], now=now)[0]
            daily = {r.day: r.covered_s for r in s.scalars(sa.select(DeviceDaily).order_by(DeviceDaily.day))}
            cols = sa.select(DeviceDaily.day, DeviceDaily.covered_s, DeviceDaily.co2_kg).order_by(DeviceDaily.day)
            snapshot = [(d, round(c, 3), round(k, 3)) for d, c, k in s.execute(cols)]
            recompute_rollups(s, ["KGW-S1"])
            rebuilt = [(d, round(c, 3), round(k, 3)) for d, c, k in s.execute(cols)]
            health = {n.device_id: n for n in node_health(s, _Reader(), now)}
            s.rollback()
            checks = s.scalar(sa.select(sa.func.count()).select_from(CalibrationCheck))
    # The pass marks back only readings after it; the out-of-control period stays out.
    assert ooc == {QUALITY_OUT_OF_CONTROL: 4 * n_per_day}
    assert back == {QUALITY_VALID: n_per_day}
    # Valid coverage: 1 Nov (before the last pass) and 6 Nov (after the new pass) only.
    assert inv.measured_covered_s == pytest.approx(2 * 86400.0, abs=INTERVAL_S)
    assert daily[date(2026, 11, 3)] == 0.0 and daily[date(2026, 11, 1)] == pytest.approx(86400.0, abs=INTERVAL_S)
    assert snapshot == rebuilt  # the re-marked rollups equal a rebuild from the raw readings
    assert not health["KGW-S1"].calibration.out_of_control
    assert health["KGW-S1"].valid_hours_30d == pytest.approx(2 * 24, abs=1)
    assert checks == 3
    # Overdue: no passed check in the configured number of days.
    with Session() as s:
        late = calibration_status(s, ["KGW-S1"], t_ok + timedelta(days=32))["KGW-S1"]
        soon = calibration_status(s, ["KGW-S1"], t_ok + timedelta(days=30))["KGW-S1"]
    assert late.overdue and not soon.overdue

"""Retention and monthly partitions: totals survive dropped raw months; logs pruned; sign-in audit hygiene."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic import command
from conftest import create_pg_database, drop_pg_database
from ingest_helpers import NO_FLATLINE, Node, reading, seed_fleet, telemetry

from core.accounts.auth import UNKNOWN_USER, IpThrottle, authenticate
from core.db import alembic_config, make_engine, make_session_factory, upgrade_to_head
from core.insights.queries import listener_health
from core.measurement.retention import (
    RetentionPolicy,
    apply_retention,
    ensure_partitions,
    list_partitions,
    raw_cut,
)
from core.measurement.rollups import rebuild_rollups
from core.models import AuditLog, FactoryDaily, ListenerStat, Reading, RejectedMessage, RetentionHorizon, User
from core.timeutil import add_months, local_date, local_month_bounds_utc
from mqtt_listener.status import ListenerStats
from mqtt_listener.writer import BatchWriter, Message

PREFIX = "ct/retention"


def _totals(Session) -> tuple:  # noqa: N803
    with Session() as s:
        return tuple(s.execute(sa.select(sa.func.count(), sa.func.sum(FactoryDaily.n_readings),
                                         sa.func.sum(FactoryDaily.co2_kg))).one())


@pytest.fixture
def pg_session(pg_url):
    engine = make_engine(pg_url)
    yield make_session_factory(engine)
    engine.dispose()


def test_retention_drops_whole_months_and_keeps_every_total(pg_session):
    Session = pg_session  # noqa: N806
    node = seed_fleet(Session, n_factories=1, devices_per_factory=1, prefix="RT")[0]
    writer = BatchWriter(Session, PREFIX, ListenerStats(), qa=NO_FLATLINE)
    now = datetime.now(UTC)
    this_month = local_date(now).replace(day=1)
    with Session() as s:  # the database has been running for months: their partitions exist
        ensure_partitions(s, ahead_months=4, now=local_month_bounds_utc(add_months(this_month, -2))[0] + timedelta(days=1))
        s.commit()
    # Two hours of readings at the start (local) of this month and of the two before it.
    for k, back in enumerate((2, 1, 0)):
        start = local_month_bounds_utc(add_months(this_month, -back))[0] + timedelta(hours=1)
        if start > now - timedelta(hours=2):
            start = now - timedelta(hours=3)
        rows = [reading(start.timestamp() + 60 * i, seq=1000 * k + i) for i in range(120)]
        writer.write([Message(f"{PREFIX}/{node.factory_code}/{node.device_id}/telemetry",
                              telemetry(node.device_id, rows), 1, 1, False, time.monotonic(), time.time())])
    before = _totals(Session)
    assert before[1] == 360
    with Session() as s:
        parts_before = {p.name for p in list_partitions(s)}
        result = apply_retention(s, RetentionPolicy(keep_raw_months=1), now=now)
        s.commit()
    cut = raw_cut(1, now)
    assert cut == local_month_bounds_utc(this_month)[0].replace(tzinfo=None)
    dropped = {f"reading_p{add_months(this_month, -b):%Y_%m}" for b in (1, 2)}
    assert dropped <= parts_before and dropped <= set(result.partitions_dropped)
    with Session() as s:
        assert not dropped & {p.name for p in list_partitions(s)}
        assert s.scalar(sa.select(sa.func.count()).select_from(Reading)) == 120
        assert s.get(RetentionHorizon, "reading").kept_from.replace(tzinfo=None) == cut
    assert _totals(Session) == before  # rollups keep every total
    # A full rebuild afterwards leaves the dropped months (and the first day after the cut) alone.
    with Session() as s:
        res = rebuild_rollups(s)
        s.commit()
    assert res.kept_before is not None
    assert _totals(Session)[1:] == (before[1], pytest.approx(before[2], rel=1e-9))
    # A node's buffer brings a reading of a dropped month late (it is younger than the listener's
    # 400-day limit): refused, not counted a second time over rollups built from readings now gone.
    late_ts = local_month_bounds_utc(add_months(this_month, -1))[0] + timedelta(hours=1, seconds=30)
    writer.invalidate_registry()
    writer.write([Message(f"{PREFIX}/{node.factory_code}/{node.device_id}/telemetry",
                          telemetry(node.device_id, [reading(late_ts.timestamp(), seq=9999)]), 1, 1, False,
                          time.monotonic(), time.time())])
    assert _totals(Session)[1:] == (before[1], pytest.approx(before[2], rel=1e-9))
    with Session() as s:
        rejected = s.scalars(sa.select(RejectedMessage).where(RejectedMessage.device_id == node.device_id)).all()
        assert [r.reason for r in rejected] == ["ts_too_old"] and "raw-data horizon" in rejected[0].detail


def test_default_partition_rows_move_into_a_new_month(pg_session):
    Session = pg_session  # noqa: N806
    node = seed_fleet(Session, n_factories=1, devices_per_factory=1, prefix="RP")[0]
    now = datetime.now(UTC)
    far = add_months(now.date().replace(day=1), 8)
    ts = local_month_bounds_utc(far)[0] + timedelta(days=2)
    with Session() as s:
        s.add(Reading(device_id=node.device_id, factory_id=node.factory_id, ts=ts, co2_ppm=1.0, flue_temp_c=1.0,
                      velocity_m_s=1.0))
        s.commit()
        assert s.scalar(sa.text("SELECT count(*) FROM reading_default")) == 1
        created = ensure_partitions(s, ahead_months=9, now=now)
        s.commit()
        assert f"reading_p{far:%Y_%m}" in created
        assert s.scalar(sa.text("SELECT count(*) FROM reading_default")) == 0
        assert s.scalar(sa.text(f"SELECT count(*) FROM reading_p{far:%Y_%m}")) == 1


def test_migration_converts_an_existing_database_and_back(pg_available):
    if not pg_available:
        pytest.skip("PostgreSQL not available")
    url = create_pg_database("ct_part")
    try:
        cfg = alembic_config(url)
        command.upgrade(cfg, "0004_api_tokens")
        engine = make_engine(url)
        Session = make_session_factory(engine)  # noqa: N806
        # The registry as the 0004 schema has it: the ORM models carry columns of later migrations.
        with engine.begin() as c:
            now0 = datetime(2025, 1, 1)
            fid = c.execute(sa.text(
                "INSERT INTO factory (code, name, region, county, latitude, longitude, altitude_m, active, created_at) "
                "VALUES ('MG00', 'Test factory 0', 1, 'Nyeri', -0.4, 36.9, 1800, true, :t) RETURNING id"),
                {"t": now0}).scalar_one()
            sid = c.execute(sa.text(
                "INSERT INTO stack (factory_id, name, diameter_m, moisture_fraction, dry_basis, velocity_profile_factor, "
                "updated_at) VALUES (:f, 'Boiler 1', 0.8, 0.12, false, 1.0, :t) RETURNING id"), {"f": fid, "t": now0}).scalar_one()
            c.execute(sa.text("INSERT INTO device (id, factory_id, stack_id, sample_interval_s, status, active) "
                              "VALUES ('MG00-S1', :f, :s, 60, 'unknown', true)"), {"f": fid, "s": sid})
        node = Node("MG00", "MG00-S1", fid)
        with engine.begin() as c:
            for i in range(50):
                c.execute(sa.text("INSERT INTO reading (device_id, factory_id, ts, co2_ppm, flue_temp_c, velocity_m_s, "
                                  "quality, received_at) VALUES (:d, :f, :ts, 1, 1, 1, 0, :ts)"),
                          {"d": node.device_id, "f": node.factory_id, "ts": datetime(2025, 1, 1) + timedelta(days=9 * i)})
        engine.dispose()
        upgrade_to_head(url)
        engine = make_engine(url)
        Session = make_session_factory(engine)  # noqa: N806
        with Session() as s:
            assert s.scalar(sa.text("SELECT relkind FROM pg_class WHERE relname = 'reading'")) == "p"
            assert s.scalar(sa.select(sa.func.count()).select_from(Reading)) == 50
            months = {p.name for p in list_partitions(s)}
            ahead = add_months(local_date(datetime.now(UTC)).replace(day=1), 3)
            assert {"reading_p2025_01", f"reading_p{ahead:%Y_%m}"} <= months
            r = Reading(device_id=node.device_id, factory_id=node.factory_id, ts=datetime(2025, 6, 1, 12, tzinfo=UTC), co2_ppm=1.0,
                        flue_temp_c=1.0, velocity_m_s=1.0)
            s.add(r)
            s.commit()
            assert r.id == 51  # the id sequence carried over
        engine.dispose()
        command.downgrade(cfg, "0004_api_tokens")
        engine = make_engine(url)
        with engine.connect() as c:
            assert c.scalar(sa.text("SELECT relkind FROM pg_class WHERE relname = 'reading'")) == "r"
            assert c.scalar(sa.text("SELECT count(*) FROM reading")) == 51
        engine.dispose()
    finally:
        drop_pg_database(url)


def test_logs_pruned_and_stopped_listeners_not_silent(db_url):
    engine = make_engine(db_url)
    Session = make_session_factory(engine)  # noqa: N806
    now = datetime(2026, 3, 15, 12, tzinfo=UTC)
    seed_fleet(Session, n_factories=1, devices_per_factory=1, prefix="LS")  # HQ sees listeners once factories exist
    with Session() as s:
        for days in (1, 100):
            s.add(RejectedMessage(received_at=now - timedelta(days=days), topic="t", reason="bad_json", payload_size=1))
            s.add(AuditLog(at=now - timedelta(days=days), action="update", entity="x"))
        s.add(ListenerStat(instance="old:1", updated_at=now - timedelta(days=10), started_at=now - timedelta(days=11),
                           counters="{}"))
        s.add(ListenerStat(instance="gone:2", updated_at=now - timedelta(hours=30), started_at=now - timedelta(days=2),
                           counters="{}"))
        s.add(ListenerStat(instance="done:3", updated_at=now - timedelta(minutes=30), started_at=now - timedelta(days=1),
                           counters=json.dumps({"stopped": 1})))
        s.add(ListenerStat(instance="live:4", updated_at=now - timedelta(seconds=5), started_at=now - timedelta(days=1),
                           counters="{}"))
        s.commit()
        hq = User(username="hq1", role="hq", password_hash="x", active=True)
        states = {li.instance: li.state for li in listener_health(s, hq, now)}
        assert states == {"old:1": "stopped", "gone:2": "stopped", "done:3": "stopped", "live:4": "reporting"}
        result = apply_retention(s, RetentionPolicy(), now=now)  # defaults: audit kept
        s.commit()
        assert (result.rejected_deleted, result.audit_deleted, result.listener_stats_deleted) == (1, 0, 1)
        assert s.scalar(sa.select(sa.func.count()).select_from(AuditLog)) == 2
        apply_retention(s, RetentionPolicy(audit_days=30), now=now)
        s.commit()
        # The old row went; the pruning itself is on the record.
        details = [a.detail or "" for a in s.scalars(sa.select(AuditLog))]
        assert len(details) == 2 and any("retention: 1 audit row" in d for d in details)
    engine.dispose()


def test_failed_sign_in_never_stores_a_typed_password(sqlite_url):
    engine = make_engine(sqlite_url)
    Session = make_session_factory(engine)  # noqa: N806
    with Session() as s:
        s.add(User(username="grace", role="hq", password_hash="x", active=True))
        s.commit()
        for typed in ("Tr0ub4dor&3-secret", "grace"):
            authenticate(s, typed, "wrong", ip="10.0.0.1", throttle=IpThrottle(), sleep=lambda _s: None)
        names = [a.username for a in s.scalars(sa.select(AuditLog).where(AuditLog.action == "login_failed")
                                               .order_by(AuditLog.id))]
    assert names == [UNKNOWN_USER, "grace"]
    engine.dispose()

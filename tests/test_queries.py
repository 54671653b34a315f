"""Dashboard queries: scoping by role, gaps as gaps, local days, numbers equal to core.inventory."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from web_helpers import NOW, build_small_db, web_users

from core.access import AccessDenied
from core.accounts.auth import WebUser
from core.insights.queries import (
    LIVE_WINDOW,
    audit_entries,
    daily_history,
    hq_overview,
    is_online,
    leaderboard,
    listener_health,
    live_readings_since,
    live_snapshot,
    node_health,
    period_months,
)
from core.inventory.factors import load_factor_set
from core.inventory.monthly import monthly_inventory, totals
from core.models import Device, Reading
from core.timeutil import DEFAULT_TZ, add_months, local_date, month_start


@pytest.fixture
def data(Session):
    fx = build_small_db(Session)
    ids = fx.factory_ids
    users = {**web_users(ids), "inactive": WebUser(9, "gone", "hq", None, False)}
    return Session, fx, users


def test_live_snapshot_own_factory(data):
    Session, fx, users = data
    with Session() as s:
        snap = live_snapshot(s, users["kagwe"], fx.factory_ids["KGW"], NOW)
    assert [n.device_id for n in snap.nodes] == ["KGW-S1"]
    assert snap.latest["KGW-S1"]["co2_kg_s"] == pytest.approx(0.25)
    assert len(snap.recent["KGW-S1"]) == 60
    assert snap.today == local_date(NOW, DEFAULT_TZ)
    assert snap.today_co2_kg == pytest.approx(20_000.0)
    assert snap.nodes[0].online


@pytest.mark.parametrize("who", ["kagwe", "inactive"])
def test_live_snapshot_refuses_other_factory(data, who):
    Session, fx, users = data
    with Session() as s, pytest.raises(AccessDenied):
        live_snapshot(s, users[who], fx.factory_ids["MTR"], NOW)
    with Session() as s, pytest.raises(AccessDenied):
        live_readings_since(s, users[who], fx.factory_ids["MTR"], NOW - timedelta(minutes=5))


def test_live_readings_since_only_new(data):
    Session, fx, users = data
    with Session() as s:
        new = live_readings_since(s, users["hq"], fx.factory_ids["MTR"], NOW - timedelta(minutes=3), NOW)
    assert len(new["MTR-S1"]) == 3


def test_live_readings_since_is_clamped_to_the_live_window(data):
    Session, fx, users = data
    fid = fx.factory_ids["KGW"]
    with Session() as s:  # readings older than the live window (the fixture only has the last hour)
        for hours in (2, 30, 24 * 400):
            s.add(Reading(device_id="KGW-S1", factory_id=fid, ts=NOW - timedelta(hours=hours), co2_ppm=1.0,
                          flue_temp_c=1.0, velocity_m_s=1.0, co2_kg_s=9.0, quality=0))
        s.commit()
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    with Session() as s:
        for since in (epoch, epoch.replace(tzinfo=None), None):
            got = live_readings_since(s, users["kagwe"], fid, since, NOW)["KGW-S1"]
            assert len(got) == 60
            assert min(p["ts"] for p in got) > NOW - LIVE_WINDOW
        # A `since` inside the window is used as it is.
        assert len(live_readings_since(s, users["kagwe"], fid, NOW - timedelta(minutes=3), NOW)["KGW-S1"]) == 3


def _reading_queries(engine, fn):  # noqa: ANN001, ANN202
    """Run fn(); return the SQL statements it sent that read the reading table."""
    seen = []

    def grab(conn, cursor, statement, *args):  # noqa: ANN001, ANN202
        if "FROM reading" in statement:
            seen.append(" ".join(statement.split()))

    sa.event.listen(engine, "before_cursor_execute", grab)
    try:
        fn()
    finally:
        sa.event.remove(engine, "before_cursor_execute", grab)
    return seen


def test_live_snapshot_without_recent_reads_only_the_newest(data, engine):
    Session, fx, users = data
    fid = fx.factory_ids["KGW"]
    with Session() as s:
        full = live_snapshot(s, users["kagwe"], fid, NOW)
        out = {}
        queries = _reading_queries(engine, lambda: out.setdefault(
            "snap", live_snapshot(s, users["kagwe"], fid, NOW, with_recent=False)))
    lean = out["snap"]
    assert lean.latest == full.latest and lean.nodes == full.nodes and lean.hourly == full.hourly
    assert lean.today_co2_kg == full.today_co2_kg and lean.recent == {"KGW-S1": []}
    assert queries and all("LIMIT" in q and "ORDER BY reading.ts DESC" in q for q in queries)


def test_daily_history_gaps_are_none(data):
    Session, fx, users = data
    today = local_date(NOW, DEFAULT_TZ)
    with Session() as s:
        days = daily_history(s, users["hq"], fx.factory_ids["MTR"], today - timedelta(days=20), today, NOW)
    by_day = {d.day: d for d in days}
    assert len(days) == 21
    gap = by_day[today - timedelta(days=11)]
    assert gap.co2_kg is None and gap.coverage == 0.0
    assert by_day[today - timedelta(days=1)].co2_kg == pytest.approx(21_000.0)
    assert by_day[today - timedelta(days=1)].coverage == pytest.approx(0.9)


def test_daily_history_refuses_other_factory(data):
    Session, fx, users = data
    today = local_date(NOW, DEFAULT_TZ)
    with Session() as s, pytest.raises(AccessDenied):
        daily_history(s, users["kagwe"], fx.factory_ids["CHG"], today - timedelta(days=5), today, NOW)


def test_overview_matches_inventory(data):
    Session, fx, users = data
    with Session() as s:
        factors = load_factor_set(s)
        ov = hq_overview(s, users["hq"], factors, NOW)
        this_month = month_start(local_date(NOW, DEFAULT_TZ))
        year = [m for m in (add_months(this_month, -i) for i in range(13)) if m.year == this_month.year]
        invs = monthly_inventory(s, year, factors, None, now=NOW)
        expected = totals(invs, ("approved",))
        pending = [i for i in invs if i.submission_status == "submitted"]
    # HQ's network figures count approved months only; submitted ones are counted apart (issue 16).
    assert pending, "the fixture has months awaiting approval"
    assert ov.ytd.n == sum(1 for i in invs if i.submission_status == "approved")
    assert ov.ytd_pending.n == len(pending)
    assert ov.ytd_pending.scope1_kg == pytest.approx(sum(i.scope1_kg for i in pending))
    assert ov.n_factories == 3
    assert ov.ytd.scope1_kg == pytest.approx(expected.scope1_kg)
    assert ov.ytd.scope2_kg == pytest.approx(expected.scope2_kg)
    assert ov.ytd.intensity_kg_per_kg == pytest.approx(expected.intensity_kg_per_kg)
    assert ov.nodes_total == 3 and ov.nodes_online == 2  # CHG last seen 10 min ago
    # The uptime metric is data availability (issue 12): valid hours (≥ 45 min covered) ÷ hours
    # assigned over the last 30 local days. The fixture's node has full hours for the last 26 h,
    # then 22 h a day (7 at CHG); count them here from the fixture's rules, independently.
    start30 = datetime.combine(local_date(NOW, DEFAULT_TZ) - timedelta(days=29), datetime.min.time(),
                               DEFAULT_TZ).astimezone(UTC)
    hours30 = (NOW - start30).total_seconds() / 3600
    for code, per_day in (("KGW", 22), ("CHG", 7)):
        valid = 0
        for h in range(31 * 24):
            hour = (NOW - timedelta(hours=h)).replace(minute=0, second=0, microsecond=0)
            if hour >= start30 and (h < 26 or hour.hour < per_day):
                valid += 1
        assert ov.uptime[fx.factory_ids[code]] == pytest.approx(valid / hours30)
    assert ov.uptime_ok_share == pytest.approx(2 / 3)  # CHG's node delivers about 30 %
    assert ov.fleet_availability is not None and ov.fleet_assigned_hours == pytest.approx(3 * hours30)
    assert ov.mtd.n == 0 and ov.submitted_on_time_share == 1.0
    assert len(ov.trend) == 13 and set(ov.by_region) == {1, 2}


def test_overview_for_factory_manager_is_own_factory_only(data):
    Session, fx, users = data
    with Session() as s:
        ov = hq_overview(s, users["kagwe"], load_factor_set(s), NOW)
    assert ov.n_factories == 1 and [f["code"] for f in ov.factories] == ["KGW"]


def test_leaderboard_ranks_and_scopes(data):
    Session, fx, users = data
    with Session() as s:
        factors = load_factor_set(s)
        rows = leaderboard(s, users["hq"], factors, "last_12", None, "intensity", NOW)
        by_emissions = leaderboard(s, users["hq"], factors, "last_12", None, "emissions", NOW)
        region2 = leaderboard(s, users["hq"], factors, "last_12", 2, "intensity", NOW)
        own = leaderboard(s, users["kagwe"], factors, "last_12", None, "intensity", NOW)
    assert [r.rank for r in rows] == [1, 2, 3]
    assert [r.intensity for r in rows] == sorted(r.intensity for r in rows)
    assert [r.total_kg for r in by_emissions] == sorted(r.total_kg for r in by_emissions)
    assert [r.code for r in region2] == ["CHG"]
    assert [r.code for r in own] == ["KGW"]
    assert all(r.target_met for r in rows)


def test_leaderboard_change_against_last_year(Session):
    from core.models import EnergyEntry, MonthlySubmission

    fx = build_small_db(Session, months=14)  # 13 months of data: last month and the same month a year earlier
    hq = WebUser(2, "hq", "hq", None, True)
    with Session() as s:
        factors = load_factor_set(s)
        # build_small_db: the last two months are submitted (not approved); count them here.
        rows = leaderboard(s, hq, factors, "last_month", None, "change", NOW, include_submitted=True)
        assert all(r.change_pct == pytest.approx(0.0) and r.months_compared == 1 for r in rows)
        # Year to date: only one month of the year before has data, so only that month is compared.
        ytd = leaderboard(s, hq, factors, "ytd", None, "change", NOW, include_submitted=True)
        assert all(r.months_compared == 1 and r.change_pct == pytest.approx(0.0) for r in ytd)
        # More diesel last month at KGW: its change is positive, and it ranks last (lower is better).
        last = add_months(month_start(local_date(NOW, DEFAULT_TZ)), -1)
        entry = s.scalar(sa.select(EnergyEntry).join(MonthlySubmission).where(
            MonthlySubmission.month == last, MonthlySubmission.factory_id == fx.factory_ids["KGW"],
            EnergyEntry.source == "diesel"))
        entry.quantity *= 10
        s.commit()
        rows = leaderboard(s, hq, factors, "last_month", None, "change", NOW, include_submitted=True)
    assert rows[-1].code == "KGW" and rows[-1].change_pct > 0


def test_finding4_unapproved_submission_does_not_move_the_ranking(Session):
    from core.models import EnergyEntry, MonthlySubmission

    fx = build_small_db(Session)
    hq = WebUser(2, "hq", "hq", None, True)
    with Session() as s:
        factors = load_factor_set(s)
        before = [(r.code, r.intensity) for r in leaderboard(s, hq, factors, "last_12", None, "intensity", NOW)]
        # One junk entry in a submitted (not approved) month: 100× the diesel at KGW.
        last = add_months(month_start(local_date(NOW, DEFAULT_TZ)), -1)
        entry = s.scalar(sa.select(EnergyEntry).join(MonthlySubmission).where(
            MonthlySubmission.month == last, MonthlySubmission.factory_id == fx.factory_ids["KGW"],
            EnergyEntry.source == "diesel"))
        entry.quantity *= 100
        s.commit()
        rows = leaderboard(s, hq, factors, "last_12", None, "intensity", NOW)
        assert [(r.code, r.intensity) for r in rows] == before
        # build_small_db: months 1 and 2 back are submitted, months 3..12 approved
        assert all(r.months_pending == 2 and r.months_reported == 10 for r in rows)
        with_pending = leaderboard(s, hq, factors, "last_12", None, "intensity", NOW, include_submitted=True)
        assert with_pending[-1].code == "KGW"
        # The last month alone is all submitted: nothing is ranked on it, and the rows say why.
        last_month = leaderboard(s, hq, factors, "last_month", None, "intensity", NOW)
        assert all(r.intensity is None and r.months_pending == 1 for r in last_month)


def test_leaderboard_unknown_metric(data):
    Session, _, users = data
    with Session() as s, pytest.raises(ValueError):
        leaderboard(s, users["hq"], load_factor_set(s), metric="nonsense", now=NOW)


def test_period_months():
    today = local_date(NOW, DEFAULT_TZ)
    assert period_months("last_month", today) == [add_months(month_start(today), -1)]
    assert len(period_months("last_12", today)) == 12
    assert period_months("ytd", today)[0].month == 1


def test_node_health(data):
    Session, fx, users = data
    with Session() as s:
        nodes = node_health(s, users["hq"], NOW)
        own = node_health(s, users["kagwe"], NOW)
    assert [n.device_id for n in nodes] == ["CHG-S1", "KGW-S1", "MTR-S1"]
    chg = nodes[0]
    assert not chg.online and chg.rssi_dbm == -62
    assert 0.9 <= nodes[1].coverage_24h <= 1.0
    assert nodes[1].coverage_30d == pytest.approx(0.9, abs=0.05)
    assert [n.device_id for n in own] == ["KGW-S1"]


def test_listener_health(data):
    Session, _, users = data
    with Session() as s:
        rows = listener_health(s, users["hq"], NOW)
        none = listener_health(s, None, NOW)
    assert rows[0].counters["received"] == 1000 and rows[0].fresh
    assert none == []


def test_audit_entries_roles(data):
    Session, _, users = data
    with Session() as s:
        assert isinstance(audit_entries(s, users["auditor"]), list)
        assert isinstance(audit_entries(s, users["admin"]), list)
        for who in ("kagwe", "hq", "inactive"):
            with pytest.raises(AccessDenied):
                audit_entries(s, users[who])


def test_is_online():
    ago = lambda minutes: NOW - timedelta(minutes=minutes)  # noqa: E731
    assert is_online(ago(1), "online", 60.0, NOW)
    assert not is_online(ago(10), "online", 60.0, NOW)  # 1-min node: offline after the 5-min floor
    assert is_online(ago(4.9), "online", 60.0, NOW)
    assert is_online(ago(8), "online", 600.0, NOW)  # 10-min node: 3 intervals = 30 min
    assert is_online(ago(29), "online", 600.0, NOW)
    assert not is_online(ago(31), "online", 600.0, NOW)
    assert not is_online(ago(1), "offline", 60.0, NOW)  # the last will, whatever the last message time
    assert not is_online(ago(1), "offline", 600.0, NOW)
    assert is_online(ago(1), "unknown", None, NOW)  # no interval recorded: the listener's 60 s default
    assert not is_online(None, "online", 60.0, NOW)


def test_is_online_uses_the_listeners_timeout():
    from core.fleet.health import offline_timeout_s

    for interval in (None, 1.0, 60.0, 100.0, 600.0, 3600.0):
        limit = offline_timeout_s(interval)
        assert is_online(NOW - timedelta(seconds=limit), "online", interval, NOW)
        assert not is_online(NOW - timedelta(seconds=limit + 1), "online", interval, NOW)


def test_node_views_apply_the_listener_rule(data):
    Session, fx, users = data
    with Session() as s:  # KGW: a 10-minute node last heard 8 minutes ago; MTR: last will just arrived
        s.execute(sa.update(Device).where(Device.id == "KGW-S1").values(
            sample_interval_s=600.0, last_seen_at=NOW - timedelta(minutes=8), status="online"))
        s.execute(sa.update(Device).where(Device.id == "MTR-S1").values(
            last_seen_at=NOW - timedelta(minutes=1), status="offline"))
        s.commit()
    with Session() as s:
        nodes = {n.device_id: n.online for n in node_health(s, users["hq"], NOW)}
        assert nodes == {"KGW-S1": True, "MTR-S1": False, "CHG-S1": False}  # CHG: silent 10.5 min, 1-min node
        assert live_snapshot(s, users["hq"], fx.factory_ids["KGW"], NOW).nodes[0].online
        assert not live_snapshot(s, users["hq"], fx.factory_ids["MTR"], NOW).nodes[0].online
        assert hq_overview(s, users["hq"], load_factor_set(s), NOW).nodes_online == 1


def _key(inv):
    return [(i.factory_code, i.month, round(i.scope1_kg, 6), round(i.scope2_kg, 6), round(i.measured_co2_kg, 6),
             i.submission_status, i.coverage) for i in inv]


def test_cached_inventory_equals_inventory_and_notices_changes(data):
    import sqlalchemy as sa

    from core.insights.queries import InventoryCache, cached_monthly_inventory
    from core.models import EnergyEntry, FactoryDaily, MonthlySubmission

    Session, fx, users = data
    cache = InventoryCache()
    this_month = month_start(local_date(NOW, DEFAULT_TZ))
    months = [add_months(this_month, -i) for i in range(3)]
    ids = list(fx.factory_ids.values())
    with Session() as s:
        factors = load_factor_set(s)
        plain = monthly_inventory(s, months, factors, ids, now=NOW)
        first = cached_monthly_inventory(s, months, factors, ids, now=NOW, cache=cache)
        again = cached_monthly_inventory(s, months, factors, ids, now=NOW, cache=cache)
        assert _key(first) == _key(plain) == _key(again)
        assert cache.hits == 2 and cache.misses == 2  # two closed months; the current one is never cached
        # An entry changes in a closed month: that month is rebuilt.
        last = add_months(this_month, -1)
        entry = s.scalar(sa.select(EnergyEntry).join(MonthlySubmission).where(
            MonthlySubmission.month == last, MonthlySubmission.factory_id == fx.factory_ids["KGW"],
            EnergyEntry.source == "diesel"))
        entry.quantity = 9_000
        s.commit()
        changed = cached_monthly_inventory(s, months, factors, ids, now=NOW, cache=cache)
        assert _key(changed) == _key(monthly_inventory(s, months, factors, ids, now=NOW)) != _key(plain)
        # A late reading lands in a closed month's rollup: rebuilt too.
        row = s.scalar(sa.select(FactoryDaily).where(FactoryDaily.factory_id == fx.factory_ids["MTR"],
                                                     FactoryDaily.day == last + timedelta(days=3)))
        row.co2_kg += 500.0
        row.n_readings += 1
        s.commit()
        late = cached_monthly_inventory(s, months, factors, ids, now=NOW, cache=cache)
        assert _key(late) == _key(monthly_inventory(s, months, factors, ids, now=NOW))


def test_local_day_and_month_at_midnight_eat(data):
    """00:30 EAT is still the previous day in UTC: the live page's "today" and the overview's month are local."""
    from datetime import UTC, date, datetime

    Session, fx, users = data
    just_after_midnight = datetime(2026, 11, 27, 21, 30, tzinfo=UTC)  # 2026-11-28 00:30 EAT
    with Session() as s:
        snap = live_snapshot(s, users["hq"], fx.factory_ids["KGW"], just_after_midnight)
        assert snap.today == date(2026, 11, 28)
        new_month = datetime(2026, 11, 30, 21, 30, tzinfo=UTC)  # 2026-12-01 00:30 EAT
        ov = hq_overview(s, users["hq"], load_factor_set(s), new_month)
        assert ov.today == date(2026, 12, 1) and ov.last_month == date(2026, 11, 1)
        assert ov.trend[-1][0] == date(2026, 12, 1)
        days = daily_history(s, users["hq"], fx.factory_ids["KGW"], date(2026, 11, 27), date(2026, 11, 28),
                             just_after_midnight)
        assert [d.day for d in days] == [date(2026, 11, 27), date(2026, 11, 28)]

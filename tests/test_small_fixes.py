"""Issue 18, item 8 and the cache: each test fails on the code before its fix.

- the offline sweep stamps the node's last sign of life, so a message received before the sweep
  but committed after it still brings the node back online;
- listener_health is not readable by factory managers;
- the live tick shows late (buffered) readings whose ts is older than the newest on the chart;
- the history and live pages use CARBONTRACK_TZ, not a hard-coded zone;
- the migrations do not import core.models: a model refactor cannot break a fresh install;
- Config's repr hides the database password;
- the inventory cache's fingerprint changes on every committed edit, whatever the clocks.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dash
import pytest
import sqlalchemy as sa
from web_helpers import NOW, build_small_db, client_as, make_web_db, web_config

from core.accounts.auth import WebUser
from core.config import Config
from core.db import make_engine, make_session_factory
from core.models import Device, EnergyEntry, ListenerStat, MonthlySubmission, Reading
from core.timeutil import DEFAULT_TZ, add_months, local_date, month_start, set_clock

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def small(db_url):
    engine = make_engine(db_url)
    Session = make_session_factory(engine)  # noqa: N806
    fx = build_small_db(Session, readings=False)
    yield Session, fx
    engine.dispose()


# --- offline sweep ----------------------------------------------------------------------------


def test_a_message_received_before_the_sweep_but_committed_after_it_revives_the_node(small):
    from mqtt_listener.status import ListenerStats, sweep_offline
    from mqtt_listener.writer import BatchWriter

    Session, _ = small  # noqa: N806
    t0 = NOW - timedelta(minutes=20)
    with Session() as s:
        dev = s.get(Device, "KGW-S1")
        dev.status, dev.last_seen_at, dev.status_changed_at = "online", t0, t0 - timedelta(hours=1)
        s.commit()
    received = t0 + timedelta(minutes=8)  # after the node's last message, before the sweep
    swept_at = t0 + timedelta(minutes=10)  # 60 s interval: offline after 300 s of silence
    with Session() as s:
        assert "KGW-S1" in sweep_offline(s, swept_at)
        s.commit()
    with Session() as s:
        dev = s.get(Device, "KGW-S1")
        assert dev.status == "offline" and dev.status_changed_at == t0  # offline since its last sign of life
    writer = BatchWriter(Session, "ct", ListenerStats())
    with Session() as s:  # the slow batch with the message received at t0 + 8 min commits now
        writer._update_status(s, {"KGW-S1": ("online", received)})
        s.commit()
    with Session() as s:
        dev = s.get(Device, "KGW-S1")
        assert (dev.status, dev.status_changed_at) == ("online", received)


# --- listener health --------------------------------------------------------------------------


def test_listener_health_is_not_for_factory_managers(sqlite_url):
    from core.insights.queries import listener_health

    engine = make_engine(sqlite_url)
    Session = make_session_factory(engine)  # noqa: N806
    try:
        with Session() as s:
            s.add(ListenerStat(instance="host:1", updated_at=NOW, started_at=NOW - timedelta(hours=1),
                               counters=json.dumps({"received": 5})))
            s.commit()
            manager = WebUser(9, "kagwe", "factory_manager", 1, True)
            assert listener_health(s, manager, NOW) == []
            for role in ("hq", "admin", "auditor"):
                rows = listener_health(s, WebUser(1, role, role, None, True), NOW)
                assert [(r.instance, r.counters["received"]) for r in rows] == [("host:1", 5)]
            assert listener_health(s, WebUser(1, "hq", "hq", None, False), NOW) == []  # deactivated
    finally:
        engine.dispose()


# --- live tick --------------------------------------------------------------------------------


def test_live_tick_shows_a_late_reading_older_than_the_newest_on_the_chart(tmp_path):
    from callbacks.factory_live import render_live, tick_live

    engine, Session, fx, _ = make_web_db(tmp_path / "live.db")  # noqa: N806
    try:
        kagwe = WebUser(4, "kagwe", "factory_manager", fx.factory_ids["KGW"], True)
        *_, state, _ = render_live(kagwe, fx.factory_ids["KGW"], Session, NOW, DEFAULT_TZ)
        newest = datetime.fromisoformat(state["last_ts"])
        late_ts = newest - timedelta(minutes=7)  # buffered on the node, delivered now
        with Session() as s:
            s.add(Reading(device_id="KGW-S1", factory_id=fx.factory_ids["KGW"], ts=late_ts + timedelta(seconds=1),
                          co2_ppm=81_000, flue_temp_c=181, velocity_m_s=8.1, co2_kg_s=0.777, quality=0))
            s.commit()
        _, hour, *_, new_state, _ = tick_live(kagwe, fx.factory_ids["KGW"], state, Session,
                                              NOW + timedelta(seconds=5), DEFAULT_TZ)
        # A late reading is drawn in its place: the hour is redrawn in time order, not appended.
        assert not isinstance(hour, dash.Patch)
        trace = hour.data[0]
        assert 0.777 in trace.y and list(trace.x) == sorted(trace.x)
        assert new_state["last_id"] > state["last_id"]
        _, again, *_ = tick_live(kagwe, fx.factory_ids["KGW"], new_state, Session, NOW + timedelta(seconds=10),
                                 DEFAULT_TZ)
        assert not [op for op in again.to_plotly_json()["operations"] if op["operation"] == "Extend"]
    finally:
        engine.dispose()


# --- pages use CARBONTRACK_TZ -----------------------------------------------------------------


def _page(client, app, path):  # noqa: ANN001, ANN202
    from web_helpers import _outputs

    key = next(k for k in app.callback_map if "_pages_content.children" in k)
    cb = app.callback_map[key]
    values = {"pathname": path, "search": ""}
    inputs = [{"id": i["id"], "property": i["property"], "value": values.get(i["property"])} for i in cb["inputs"]]
    state = [{"id": s["id"], "property": s["property"], "value": None} for s in cb.get("state", [])]
    return client.post("/_dash-update-component", json={
        "output": key, "outputs": _outputs(key), "inputs": inputs, "state": state,
        "changedPropIds": ["_pages_location.pathname"]})


def test_history_and_live_pages_use_the_configured_zone(tmp_path):
    from app import create_app

    engine, Session, _, url = make_web_db(tmp_path / "tz.db")  # noqa: N806
    try:
        app = create_app(dataclasses.replace(web_config(url, tmp_path), tz_name="UTC"), Session)
        client = client_as(app, "hq")
        live = json.dumps(_page(client, app, "/factory/live").get_json())
        history = json.dumps(_page(client, app, "/factory/history").get_json())
        assert "Times in UTC" in live and "EAT" not in live
        assert "local day (UTC)" in history and "EAT" not in history
    finally:
        engine.dispose()


# --- migrations are self-contained ------------------------------------------------------------


def test_no_migration_imports_the_models():
    for path in sorted((ROOT / "migrations" / "versions").glob("*.py")):
        tree = ast.parse(path.read_text())
        imported = [n.name for node in ast.walk(tree) if isinstance(node, ast.Import) for n in node.names]
        imported += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
        assert not [m for m in imported if m == "core" or m.startswith("core.")], path.name


REFACTORED_UPGRADE = """
import sys
import core.models
del core.models.UTCDateTime  # a model refactor renames or moves the type
from core.db import upgrade_to_head
upgrade_to_head(sys.argv[1])
"""


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_fresh_install_survives_a_model_refactor_and_matches_the_models(backend, tmp_path, request):
    from conftest import create_pg_database, drop_pg_database, require_or_skip
    from test_migrations import _diff  # the schema comparison test_migrations uses (same filters)

    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'fresh.db'}"
    else:
        require_or_skip(request.getfixturevalue("pg_available"), "PostgreSQL")
        url = create_pg_database("ct_fresh")
    try:
        done = subprocess.run([sys.executable, "-c", REFACTORED_UPGRADE, url], cwd=ROOT, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        assert _diff(url) == []
    finally:
        if backend == "postgres":
            drop_pg_database(url)


# --- Config repr ------------------------------------------------------------------------------


def test_config_repr_hides_the_database_password():
    cfg = Config(database_url="postgresql+psycopg2://carbontrack:s3cr3t-pw@db.internal:5432/ct", secret_key="k" * 32)
    for shown in (repr(cfg), str(cfg), f"{cfg}", repr([cfg])):
        assert "s3cr3t-pw" not in shown
        assert "carbontrack:***@db.internal:5432/ct" in shown
    assert cfg.database_url.endswith("s3cr3t-pw@db.internal:5432/ct")  # the value itself is intact
    assert "k" * 32 not in repr(cfg)


# --- inventory cache fingerprint ------------------------------------------------------------


def test_cache_sees_an_edit_stamped_earlier_than_a_later_flushed_one(small):
    """Host clocks disagree: MTR's edit is stamped 10:00, KGW's (committed later) 09:00 of the same day."""
    from core.insights.queries import InventoryCache, cached_monthly_inventory
    from core.inventory.factors import load_factor_set

    Session, fx = small  # noqa: N806
    month = add_months(month_start(local_date(NOW, DEFAULT_TZ)), -2)  # a closed month
    fids = [fx.factory_ids["KGW"], fx.factory_ids["MTR"]]
    cache = InventoryCache()

    def kgw_diesel_co2e() -> float:
        with Session() as s:
            rows = cached_monthly_inventory(s, [month], load_factor_set(s), fids, now=NOW, cache=cache)
            return next(r for r in rows if r.factory_code == "KGW").scope1_kg

    def edit(code: str, factor: float, stamped: datetime) -> None:
        previous = set_clock(lambda: stamped)
        try:
            with Session() as s:
                entry = s.scalar(sa.select(EnergyEntry).join(MonthlySubmission).where(
                    MonthlySubmission.month == month, MonthlySubmission.factory_id == fx.factory_ids[code],
                    EnergyEntry.source == "diesel"))
                entry.quantity *= factor
                s.commit()
        finally:
            set_clock(previous)

    edit("MTR", 1.0001, datetime(2030, 1, 1, 10, 0, tzinfo=UTC))  # the newest updated_at of the month
    before = kgw_diesel_co2e()
    assert kgw_diesel_co2e() == before and cache.hits == 1  # cached
    edit("KGW", 10.0, datetime(2030, 1, 1, 9, 0, tzinfo=UTC))  # committed later, stamped earlier
    after = kgw_diesel_co2e()
    assert after > before  # recomputed, not the stale cached month


def test_times_are_labelled_with_the_zone_they_are_shown_in():
    """fmt_eat wrote "EAT" after any zone's time: under CARBONTRACK_TZ=UTC a cell read "06:00 EAT"."""
    from zoneinfo import ZoneInfo

    from callbacks.common import fmt_eat

    at = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
    assert fmt_eat(at) == "2026-12-01 09:00 EAT"  # Nairobi, UTC+3, the default
    assert fmt_eat(at, ZoneInfo("UTC")) == "2026-12-01 06:00 UTC"
    assert fmt_eat(at, ZoneInfo("Europe/Berlin"), with_date=False) == "07:00:00 CET"

"""Benchmark: every dashboard callback's server time on PostgreSQL with the 13-month demo data.

Creates a fresh PostgreSQL database, loads the demo (`carbontrack.bootstrap.init_database(..., demo=True)`),
builds the web app, then times each callback two ways:
- as a plain function (the callback's body: queries + figure building), and
- through Flask's test client as a signed-in user posting the same JSON a browser sends to
  /_dash-update-component (adds sign-in check, user loading, Dash serialisation).
Then grows the raw `reading` table tenfold (copies of the live window shifted back by whole
days, the way history accumulates) and measures again: the dashboards read rollups, so the
times should stay flat. Prints a Markdown table; the database is dropped afterwards.

    .venv/bin/python bench/bench_web.py [--admin-url postgresql+psycopg2://postgres@127.0.0.1:5432/postgres]
                                        [--runs 30] [--growth 10] [--keep]
Targets (issue 4): every callback p95 <= 300 ms; HQ overview first render <= 1 s server time.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.pgdb import DEFAULT_ADMIN_URL, create_database, drop_database  # noqa: E402
from carbontrack.bootstrap import init_database  # noqa: E402
from core.accounts.auth import WebUser  # noqa: E402
from core.config import Config  # noqa: E402
from core.db import open_database  # noqa: E402
from core.models import (  # noqa: E402
    AuditLog,
    Device,
    DeviceHourly,
    Factory,
    FactoryDaily,
    MonthlySubmission,
    Reading,
    User,
)
from core.timeutil import DEFAULT_TZ, add_months, local_date, month_start, utcnow  # noqa: E402

P95_TARGET_MS = 300.0
FIRST_RENDER_TARGET_MS = 1000.0
DEMO_PASSWORDS = {"admin": "admin-demo-1", "hq": "hq-demo-1", "auditor": "auditor-demo-1", "kagwe": "kagwe-demo-1"}


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def _time(fn: Callable[[], object], runs: int) -> dict[str, float]:
    """Time `fn` `runs` times after one warm-up call; milliseconds."""
    t0 = time.perf_counter()
    fn()
    first = (time.perf_counter() - t0) * 1000
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return {"first": first, "median": statistics.median(times), "p95": _p95(times), "max": max(times)}


def _outputs(key: str):  # noqa: ANN202
    outs = []
    for part in key.strip(".").split("..."):
        cid, prop = part.rsplit(".", 1)
        outs.append({"id": cid, "property": prop})
    return outs if len(outs) > 1 else outs[0]


class Poster:
    """POSTs hand-made callback requests through the Flask test client, signed in as one user."""

    def __init__(self, app, username: str) -> None:  # noqa: ANN001
        import re

        self.app = app
        self.client = app.server.test_client()
        page = self.client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        resp = self.client.post("/login", data={"csrf": token, "username": username,
                                                "password": DEMO_PASSWORDS[username], "next": "/"})
        assert resp.status_code == 302, f"sign-in as {username} failed"

    def post(self, output_id: str, values: dict[str, object]) -> Callable[[], object]:
        """A function that posts the callback writing `output_id` with input/state `values` by id."""
        key = next(k for k in self.app.callback_map if f"{output_id}." in k)
        cb = self.app.callback_map[key]

        def item(spec: dict) -> dict:
            return {"id": spec["id"], "property": spec["property"], "value": values.get(spec["id"])}

        body = {"output": key, "outputs": _outputs(key), "inputs": [item(i) for i in cb["inputs"]],
                "state": [item(s) for s in cb.get("state", [])],
                "changedPropIds": [f"{cb['inputs'][0]['id']}.{cb['inputs'][0]['property']}"]}

        def call() -> object:
            resp = self.client.post("/_dash-update-component", json=body)
            assert resp.status_code in (200, 204), (output_id, resp.status_code, resp.get_data(as_text=True)[:300])
            return resp

        return call


def measure(app, Session, runs: int) -> dict[str, dict[str, float]]:  # noqa: ANN001, N803
    """Time every dashboard callback (function and HTTP); return {name: stats}."""
    from callbacks.admin import admin_tables
    from callbacks.audit import audit_block, audit_view
    from callbacks.factory_entry import load_month, preview_panel
    from callbacks.factory_history import history_data, render_history, to_csv, to_xlsx
    from callbacks.factory_live import render_live, tick_live
    from callbacks.hq_leaderboard import leaderboard_rows, leaderboard_table
    from callbacks.hq_nodes import nodes_data, render_nodes
    from callbacks.hq_overview import overview_data, render_overview

    with Session() as s:
        rows = {u.username: u for u in s.scalars(sa.select(User))}
        kgw = s.scalar(sa.select(Factory.id).where(Factory.code == "KGW"))
    users = {n: WebUser.from_row(rows[n]) for n in DEMO_PASSWORDS}
    tz = DEFAULT_TZ
    today = local_date(utcnow(), tz)
    last_month = add_months(month_start(today), -1).strftime("%Y-%m")
    start90, end = (today - timedelta(days=89)).isoformat(), today.isoformat()
    start365 = (today - timedelta(days=364)).isoformat()
    *_, live_state, _ = render_live(users["kagwe"], kgw, Session, tz=tz)

    fn_cases: dict[str, Callable[[], object]] = {
        "live: full render (KGW)": lambda: render_live(users["kagwe"], kgw, Session, tz=tz),
        "live: 5 s tick (Patch)": lambda: tick_live(users["kagwe"], kgw, dict(live_state), Session, tz=tz),
        "history: 90 days": lambda: render_history(history_data(users["kagwe"], kgw, start90, end, Session, tz)),
        "history: 365 days": lambda: render_history(history_data(users["kagwe"], kgw, start365, end, Session, tz)),
        "history: Excel export, 365 days": lambda: to_xlsx(history_data(users["kagwe"], kgw, start365, end,
                                                                          Session, tz)),
        "history: CSV export, 365 days": lambda: to_csv(history_data(users["kagwe"], kgw, start365, end, Session,
                                                                      tz)),
        "entry: load month": lambda: load_month(users["kagwe"], kgw, last_month, Session),
        "entry: live preview + validation": lambda: preview_panel(
            users["kagwe"], kgw, last_month, {"firewood": 1400, "diesel": 2000, "grid_electricity": 120000},
            {"firewood": "m3", "diesel": "L", "grid_electricity": "kWh"}, 30, None, 1_000_000, 220_000, Session, tz),
        "HQ overview (67 factories)": lambda: render_overview(overview_data(users["hq"], Session, tz)),
        "leaderboard: intensity, last month": lambda: leaderboard_table(
            leaderboard_rows(users["hq"], "intensity", "last_month", None, Session, tz)),
        "leaderboard: change, last 12 months": lambda: leaderboard_table(
            leaderboard_rows(users["hq"], "change", "last_12", None, Session, tz)),
        "node health (all nodes)": lambda: render_nodes(*nodes_data(users["hq"], Session, tz), False, tz),
        "audit log (grid + first 200 rows)": lambda: (audit_view(users["auditor"], None, None, 200, Session, tz),
                                                      audit_block(users["auditor"], None, None,
                                                                  {"startRow": 0, "endRow": 200}, Session, tz)),
        "admin tables": lambda: admin_tables(users["admin"], Session, tz),
    }
    results: dict[str, dict[str, float]] = {}
    for name, fn in fn_cases.items():
        results[f"fn · {name}"] = _time(fn, runs)

    fm, hq, auditor, admin = (Poster(app, n) for n in ("kagwe", "hq", "auditor", "admin"))
    http_cases = {
        "live: full render (KGW)": fm.post("factory-live-kpis", {"factory-live-factory": kgw,
                                                                  "factory-live-interval": 0}),
        "live: 5 s tick (Patch)": fm.post("factory-live-kpis", {"factory-live-factory": kgw,
                                                                 "factory-live-interval": 5,
                                                                 "factory-live-state": live_state}),
        "history: 90 days": fm.post("factory-history-kpis", {"factory-history-factory": kgw,
                                                              "factory-history-range": None}),
        "HQ overview (67 factories)": hq.post("hq-overview-kpis", {"hq-overview-interval": 0}),
        "leaderboard: intensity, last month": hq.post("hq-leaderboard-table", {
            "hq-leaderboard-metric": "intensity", "hq-leaderboard-period": "last_month"}),
        "leaderboard: change, last 12 months": hq.post("hq-leaderboard-table", {
            "hq-leaderboard-metric": "change", "hq-leaderboard-period": "last_12"}),
        "node health (all nodes)": hq.post("hq-nodes-table", {"hq-nodes-interval": 0, "hq-nodes-problems": []}),
        "audit log (200 rows)": auditor.post("audit-grid", {"audit-grid": {"startRow": 0, "endRow": 200}}),
        "admin tables": admin.post("admin-user-table", {"admin-changed": 0}),
    }
    # The routing callback takes pathname and search from the same component id.
    key = next(k for k in app.callback_map if "_pages_content." in k)
    cb = app.callback_map[key]
    route_body = {"output": key, "outputs": _outputs(key),
                  "inputs": [{"id": i["id"], "property": i["property"],
                              "value": {"pathname": "/hq", "search": ""}.get(i["property"])} for i in cb["inputs"]],
                  "state": [{"id": s["id"], "property": s["property"], "value": None} for s in cb.get("state", [])],
                  "changedPropIds": ["_pages_location.pathname"]}
    http_cases["page layout: /hq (routing callback)"] = lambda: hq.client.post("/_dash-update-component",
                                                                               json=route_body)
    for name, fn in http_cases.items():
        results[f"http · {name}"] = _time(fn, runs)
    return results


def first_overview_render_ms(url: str, cfg: Config) -> float:
    """Server time of the HQ overview's first render in a fresh app (layout + callback, cold caches)."""
    from app import create_app
    from core.insights.queries import INVENTORY_CACHE

    INVENTORY_CACHE.clear()  # cold: nothing reused from earlier calls
    engine, Session = open_database(url)  # noqa: N806
    try:
        app = create_app(cfg, Session)
        poster = Poster(app, "hq")
        t0 = time.perf_counter()
        poster.client.get("/hq")  # the page shell
        poster.post("hq-overview-kpis", {"hq-overview-interval": 0})()
        return (time.perf_counter() - t0) * 1000
    finally:
        engine.dispose()


def grow_readings(Session, factor: int) -> tuple[int, int]:  # noqa: N803
    """Multiply the reading table by `factor` with copies shifted back by whole days; (before, after)."""
    with Session() as s:
        before = s.scalar(sa.select(sa.func.count()).select_from(Reading))
        cols = [c.name for c in Reading.__table__.columns if c.name not in ("id", "ts")]
        col_list = ", ".join(cols)
        for k in range(1, factor):
            s.execute(sa.text(
                f"INSERT INTO reading ({col_list}, ts) SELECT {col_list}, ts - make_interval(days => :k) "  # noqa: S608
                "FROM reading WHERE ts > now() - interval '1 day' ON CONFLICT DO NOTHING"), {"k": k})
        s.commit()
        s.execute(sa.text("ANALYZE reading"))
        s.commit()
        after = s.scalar(sa.select(sa.func.count()).select_from(Reading))
    return before, after


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--admin-url", default=os.environ.get("CARBONTRACK_TEST_PG_URL", DEFAULT_ADMIN_URL))
    p.add_argument("--runs", type=int, default=30, help="timed calls per callback (after one warm-up)")
    p.add_argument("--growth", type=int, default=10, help="grow raw readings by this factor for the second pass")
    p.add_argument("--keep", action="store_true", help="keep the database")
    args = p.parse_args(argv)

    from app import create_app

    url = create_database(args.admin_url, "ct_bench_web")
    tmp = Path(tempfile.mkdtemp(prefix="ct_bench_web_"))
    cfg = Config(database_url=url, data_dir=tmp, secret_key="bench-" + "x" * 26, embedded=False)
    try:
        t0 = time.perf_counter()
        print("loading demo data:", init_database(cfg, demo=True), flush=True)
        print(f"load took {time.perf_counter() - t0:.1f} s", flush=True)
        engine, Session = open_database(url)  # noqa: N806
        with Session() as s:
            sizes = {m.__tablename__: s.scalar(sa.select(sa.func.count()).select_from(m))
                     for m in (Factory, Device, Reading, DeviceHourly, FactoryDaily, MonthlySubmission, AuditLog)}
        print("data:", sizes, flush=True)
        first_ms = first_overview_render_ms(url, cfg)
        app = create_app(cfg, Session)
        base = measure(app, Session, args.runs)
        before, after = grow_readings(Session, args.growth)
        print(f"readings grown {before:,} -> {after:,}", flush=True)
        grown = measure(app, Session, args.runs)
        first_grown_ms = first_overview_render_ms(url, cfg)
        engine.dispose()
    finally:
        if not args.keep:
            drop_database(url, args.admin_url)

    print()
    print(f"Machine: {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{platform.platform()}")
    print(f"Data: {sizes}; readings {before:,} -> {after:,} ({args.growth}x); {args.runs} timed calls each")
    print()
    print(f"| callback | median ms | p95 ms | p95 ms, {args.growth}x readings | max ms |")
    print("|---|---|---|---|---|")
    worst = 0.0
    for name, st in base.items():
        g = grown[name]
        worst = max(worst, st["p95"], g["p95"])
        print(f"| {name} | {st['median']:.0f} | {st['p95']:.0f} | {g['p95']:.0f} | {max(st['max'], g['max']):.0f} |")
    print()
    print(f"HQ overview first render in a fresh app (page + callback): {first_ms:.0f} ms; "
          f"after growth {first_grown_ms:.0f} ms (target <= {FIRST_RENDER_TARGET_MS:.0f} ms)")
    print(f"worst p95: {worst:.0f} ms (target <= {P95_TARGET_MS:.0f} ms)")
    ok = worst <= P95_TARGET_MS and max(first_ms, first_grown_ms) <= FIRST_RENDER_TARGET_MS
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

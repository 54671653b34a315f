"""Benchmark: browser time of every portal page for every role, in headless Chromium, on the demo data in PostgreSQL.

Creates a fresh PostgreSQL database, loads the demo (`carbontrack.bootstrap.init_database(..., demo=True)`,
as `carbontrack init-db --demo` does), serves the web app on 127.0.0.1 (werkzeug, threaded), and
for each role signs in through the real form and opens each page of its menu `--runs` times as a
full page load. One visit's time is navigation start → the last Dash callback done (no callback
pending, no component marked loading, drawn), read from `performance.now()` in the page when the
walker first sees it idle (polled every 20 ms). Also counts the bytes of the page's callback
responses, as sent (`encodedBodySize`: gzip, since the app compresses) and decoded, since the issue
found the time in the browser and the transfer, not in the callbacks. Prints a Markdown table
(p50/p95 per page and role) and the load average during the run (the machine may be shared); the
database is dropped.

    .venv/bin/python bench/bench_pages.py [--admin-url postgresql+psycopg2://postgres@127.0.0.1:5432/postgres]
                                          [--runs 5] [--roles hq,admin] [--keep]
Target (issue 17, item 6): every page p95 <= 1.5 s.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the browser walker shared with the walk test

from browser_walk import IDLE_JS  # noqa: E402

from bench.pgdb import DEFAULT_ADMIN_URL, create_database, drop_database  # noqa: E402
from callbacks.common import NAV_ITEMS  # noqa: E402
from carbontrack.bootstrap import init_database  # noqa: E402
from core.config import Config  # noqa: E402
from core.db import open_database  # noqa: E402
from core.models import AuditLog, Device, Factory, MonthlySubmission, Reading, User  # noqa: E402

P95_TARGET_S = 1.5
DEMO_PASSWORDS = {"admin": "admin-demo-1", "hq": "hq-demo-1", "auditor": "auditor-demo-1", "kagwe": "kagwe-demo-1"}
CHROMIUM = "/usr/bin/chromium"
# Bytes of the page's callback answers: as sent (gzip when the app compresses) and as decoded.
PAYLOAD_JS = """
const answers = performance.getEntriesByType('resource').filter(e => e.name.includes('/_dash-update-component'));
return [answers.reduce((n, e) => n + (e.encodedBodySize || 0), 0), answers.reduce((n, e) => n + (e.decodedBodySize || 0), 0)];
"""
LOAD_SAMPLE_S = 5.0  # how often the machine's load average is read during the run


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def browser():  # noqa: ANN201
    """Headless Chromium with the test suite's flags."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options

    options = Options()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-dev-shm-usage", "--window-size=1440,900"):
        options.add_argument(flag)
    return webdriver.Chrome(options=options)


def serve(app) -> tuple[str, object]:  # noqa: ANN001
    """Serve the app's Flask server on a free local port in a thread; return (base url, server)."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}", server


class LoadSampler:
    """The 1-minute load average, read every LOAD_SAMPLE_S seconds in a thread while the pages are timed.

    The machine is shared: the figures mean little without the load they were taken under.
    """

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(os.getloadavg()[0])
            self._stop.wait(LOAD_SAMPLE_S)

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> str:
        """'min–max (median m)' of the samples."""
        if not self.samples:
            return "not sampled"
        return (f"{min(self.samples):.1f}–{max(self.samples):.1f} (median {statistics.median(self.samples):.1f}, "
                f"{len(self.samples)} samples)")


def visit(driver, url: str, timeout: float = 60.0) -> tuple[float, list[int]]:  # noqa: ANN001
    """Open `url` as a full page load; return (seconds from navigation start to idle, [callback bytes sent, decoded])."""
    driver.get(url)
    first_idle_ms = None
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        idle, now_ms = driver.execute_script(f"return [(function(){{{IDLE_JS}}})(), performance.now()];")
        if idle:
            if first_idle_ms is None:
                first_idle_ms = now_ms
            elif now_ms - first_idle_ms >= 60:  # still idle 60 ms later: the page is done
                return first_idle_ms / 1000, driver.execute_script(PAYLOAD_JS)
        else:
            first_idle_ms = None
        time.sleep(0.02)
    raise TimeoutError(f"{url} still loading after {timeout} s")


def sign_in(driver, base: str, username: str) -> None:  # noqa: ANN001
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(base + "/login")
    wait = WebDriverWait(driver, 30)
    wait.until(EC.presence_of_element_located((By.ID, "login-username"))).send_keys(username)
    driver.find_element(By.ID, "login-password").send_keys(DEMO_PASSWORDS[username])
    driver.find_element(By.ID, "login-submit").click()
    wait.until(EC.presence_of_element_located((By.ID, "nav-user")))


def measure(base: str, roles: list[str], runs: int, role_of: dict[str, str], only: list[str] | None = None) -> dict:
    """Return {(role, path): {"times": [...], "bytes": n}} for every page of every role."""
    results: dict = {}
    for username in roles:
        driver = browser()
        try:
            sign_in(driver, base, username)
            pages = [path for _, path in NAV_ITEMS[role_of[username]]] + ["/account/api-tokens"]
            pages = [path for path in pages if not only or path in only]
            for path in pages:
                visit(driver, base + path)  # warm-up: the browser cache holds the scripts, as for a returning user
                times, size = [], [0, 0]
                for _ in range(runs):
                    seconds, size = visit(driver, base + path)
                    times.append(seconds)
                results[(username, path)] = {"times": times, "bytes": size[0], "decoded": size[1]}
                print(f"{username:8} {path:22} p50 {statistics.median(times):.2f} s  p95 {_p95(times):.2f} s  "
                      f"callbacks {size[0] / 1024:.0f} KiB sent, {size[1] / 1024:.0f} KiB decoded; "
                      f"load {os.getloadavg()[0]:.1f}", flush=True)
        finally:
            driver.quit()
    return results


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--admin-url", default=os.environ.get("CARBONTRACK_TEST_PG_URL", DEFAULT_ADMIN_URL))
    p.add_argument("--runs", type=int, default=5, help="timed full page loads per page and role (after one warm-up)")
    p.add_argument("--roles", default="kagwe,hq,admin,auditor")
    p.add_argument("--pages", default="", help="only these paths (comma-separated), e.g. /hq/nodes,/admin")
    p.add_argument("--keep", action="store_true", help="keep the database")
    p.add_argument("--database-url", default="", help="use this already loaded database (not dropped)")
    args = p.parse_args(argv)

    from app import create_app

    # werkzeug logs every request (30-40 per page load) to stderr; the figures are what this prints.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    url = args.database_url or create_database(args.admin_url, "ct_bench_pages")
    tmp = Path(tempfile.mkdtemp(prefix="ct_bench_pages_"))
    # embedded=True: plain http on localhost, so the session cookie is not marked Secure.
    cfg = Config(database_url=url, data_dir=tmp, secret_key="bench-" + "x" * 26, embedded=True)
    server = None
    try:
        t0 = time.perf_counter()
        if not args.database_url:
            print("loading demo data:", init_database(cfg, demo=True), flush=True)
            print(f"load took {time.perf_counter() - t0:.1f} s", flush=True)
        engine, Session = open_database(url)  # noqa: N806
        with Session() as s:
            sizes = {m.__tablename__: s.scalar(sa.select(sa.func.count()).select_from(m))
                     for m in (Factory, Device, Reading, MonthlySubmission, AuditLog)}
            role_of = dict(s.execute(sa.select(User.username, User.role)).all())
        print("data:", sizes, flush=True)
        app = create_app(cfg, Session)
        base, server = serve(app)
        only = [x for x in args.pages.split(",") if x]
        with LoadSampler() as load:
            results = measure(base, args.roles.split(","), args.runs, role_of, only)
        engine.dispose()
    finally:
        if server is not None:
            server.shutdown()
        if not args.keep and not args.database_url:
            drop_database(url, args.admin_url)

    print()
    print(f"Machine: {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{platform.platform()}; Chromium headless; werkzeug threaded server on 127.0.0.1")
    print(f"Data: {sizes}; {args.runs} timed full page loads per page and role after one warm-up")
    print(f"Load average (1 min) during the timed visits: {load.summary()} on {os.cpu_count()} cores")
    print()
    print("| role | page | p50 s | p95 s | max s | callback answers KiB sent / decoded |")
    print("|---|---|---|---|---|---|")
    worst = 0.0
    for (username, path), r in results.items():
        p95 = _p95(r["times"])
        worst = max(worst, p95)
        print(f"| {role_of[username]} | {path} | {statistics.median(r['times']):.2f} | {p95:.2f} | "
              f"{max(r['times']):.2f} | {r['bytes'] / 1024:.0f} / {r['decoded'] / 1024:.0f} |")
    print()
    print(f"worst p95: {worst:.2f} s (target <= {P95_TARGET_S} s)")
    print("PASS" if worst <= P95_TARGET_S else "FAIL")
    return 0 if worst <= P95_TARGET_S else 1


if __name__ == "__main__":
    raise SystemExit(main())

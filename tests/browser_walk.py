"""Walk the portal in a real browser: visit a page, wait for its last callback, and check what a person
would notice — console errors, failed callbacks, empty charts, sideways scrolling — and WCAG 2.2
A/AA with axe-core. Shared by tests/test_walk_pages.py, tests/test_accessibility.py and
bench/bench_pages.py (which times the same visits).

axe-core 4.11 is vendored under tests/vendor/axe-core (MPL-2.0): the PyPI wrapper
axe-selenium-python ships axe 3.1 (2018), which knows no WCAG 2.1/2.2 rules, and its 3.x needs
Python 3.12. The script is injected through WebDriver, which the page's CSP does not govern.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from selenium.webdriver.remote.webdriver import WebDriver

AXE_JS = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
# WCAG 2.0, 2.1 and 2.2 at levels A and AA (axe's rule tags).
AXE_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa")
WIDTHS = (1440, 390)  # a desktop and a phone (iPhone 12–15 CSS width)

# True once Dash has no callback pending and no component is marked loading.
IDLE_JS = """
const s = window.store && window.store.getState && window.store.getState();
if (!s || !document.getElementById('_pages_content')) return false;
if (s.isLoading || (s.pendingCallbacks || []).length) return false;
return !document.querySelector('[data-dash-is-loading]');
"""
# Charts with nothing drawn: no trace with points and no annotation saying why.
EMPTY_CHARTS_JS = """
return Array.from(document.querySelectorAll('.js-plotly-plot')).filter(gd => {
  const pts = (gd.data || []).some(t => ['x', 'y', 'values', 'z', 'lat'].some(k => t[k] && t[k].length));
  const said = ((gd.layout || {}).annotations || []).some(a => a.text);
  return !pts && !said;
}).map(gd => (gd.closest('[id]') || gd).id);
"""
SIDEWAYS_JS = """
const d = document.documentElement;
if (d.scrollWidth <= d.clientWidth) return null;
const wide = Array.from(document.querySelectorAll('body *')).filter(e => e.getBoundingClientRect().right > d.clientWidth + 1)
  .filter(e => !e.closest('.table-responsive, .js-plotly-plot, .overflow-auto'))
  .slice(0, 3).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + '.' + String(e.className).split(' ')[0]);
return d.scrollWidth + ' > ' + d.clientWidth + ' ' + wide.join(', ');
"""
NAVIGATE_JS = """
window.history.pushState({}, '', arguments[0]);
window.dispatchEvent(new CustomEvent('_dashprivate_pushstate'));
"""
AXE_RUN_JS = """
const done = arguments[arguments.length - 1];
axe.run(document, {runOnly: {type: 'tag', values: arguments[0]}, resultTypes: ['violations']})
  .then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ') + ' :: ' + (n.failureSummary || '').slice(0, 160))}))))
  .catch(e => done([{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}]));
"""


@dataclass
class Visit:
    """What one page visit showed: its time and each kind of problem found."""

    path: str
    width: int
    seconds: float
    problems: list[str] = field(default_factory=list)
    axe_seconds: float = 0.0


def wait_idle(driver: WebDriver, timeout: float = 20.0) -> float:
    """Wait until Dash has no pending callback; return the seconds waited (raise on timeout)."""
    start = time.perf_counter()
    # Dash queues the page's callbacks a moment after the route changes: idle must hold twice.
    stable = 0
    while time.perf_counter() - start < timeout:
        if driver.execute_script(IDLE_JS):
            stable += 1
            if stable >= 2:
                return time.perf_counter() - start
        else:
            stable = 0
        time.sleep(0.05)
    raise TimeoutError(f"callbacks still running after {timeout} s at {driver.current_url}")


def inject_axe(driver: WebDriver) -> None:
    """Load axe-core into the current document (once per full page load)."""
    if not driver.execute_script("return typeof window.axe === 'object'"):
        driver.execute_script(AXE_JS.read_text(encoding="utf-8"))


def axe_violations(driver: WebDriver) -> list[dict]:
    """Return axe-core's WCAG 2.2 A/AA violations on the current page."""
    inject_axe(driver)
    driver.set_script_timeout(60)
    return driver.execute_async_script(AXE_RUN_JS, list(AXE_TAGS))


def console_errors(driver: WebDriver) -> list[str]:
    """Return (and clear) the browser console's errors since the last call."""
    return [e["message"][:300] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def go(driver: WebDriver, base: str, path: str, in_app: bool = True) -> float:
    """Open `path` (by in-app navigation, as a nav link does, or a full load); return seconds to idle."""
    start = time.perf_counter()
    if in_app and driver.execute_script("return !!window.store"):
        driver.execute_script(NAVIGATE_JS, path)
    else:
        driver.get(base + path)
    wait_idle(driver)
    return time.perf_counter() - start


def check_page(driver: WebDriver, path: str, width: int, seconds: float, server_errors: list[str],
               run_axe: bool = True) -> Visit:
    """Collect what is wrong with the page now on screen."""
    visit = Visit(path, width, seconds)
    for msg in console_errors(driver):
        visit.problems.append(f"console error: {msg}")
    for err in server_errors:
        visit.problems.append(f"server error: {err}")
    server_errors.clear()
    # A script, not find_elements: dash_duo's driver waits implicitly for elements that are absent.
    if driver.execute_script("return !!document.querySelector('.dash-fe-error__title, .dash-error-card')"):
        visit.problems.append("dash error popup")
    for graph in driver.execute_script(EMPTY_CHARTS_JS):
        visit.problems.append(f"empty chart: {graph}")
    sideways = driver.execute_script(SIDEWAYS_JS)
    if sideways:
        visit.problems.append(f"horizontal scrolling: {sideways}")
    if run_axe:
        t0 = time.perf_counter()
        violations = axe_violations(driver)
        visit.axe_seconds = time.perf_counter() - t0
        for v in violations:
            visit.problems.append(f"axe {v['id']} ({v['impact']}): {v['help']} — {v['nodes']}")
    return visit


def record_server_errors(app) -> list[str]:  # noqa: ANN001
    """Record every 5xx answer of `app`'s server, and any refused callback, in the returned list (call before serving)."""
    errors: list[str] = []

    @app.server.after_request
    def _note(response):  # noqa: ANN001, ANN202
        import flask

        failed_callback = response.status_code >= 400 and flask.request.path.startswith("/_dash")
        if response.status_code >= 500 or failed_callback:
            errors.append(f"{response.status_code} {flask.request.path}")
        return response

    return errors

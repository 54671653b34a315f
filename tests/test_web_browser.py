"""Browser tests in headless Chromium (dash[testing] dash_duo): sign-in, live updates, entry → history,
leaderboard sort and drill-down, and each role seeing only its pages.

Each test runs the real app on a SQLite file filled by web_helpers.build_small_db around the
current time, and signs in through the real form.
"""

from __future__ import annotations

import socket
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from selenium.common.exceptions import ElementClickInterceptedException, StaleElementReferenceException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait
from web_helpers import PASSWORDS, build_small_db, web_config

import core.accounts.auth as auth
from app import create_app
from core.db import make_engine, make_session_factory
from core.models import MonthlySubmission, Reading
from core.timeutil import DEFAULT_TZ, local_date, month_start, utcnow

pytestmark = pytest.mark.browser
LOADING = "[data-dash-is-loading]"  # Dash marks components whose callback is still running


@pytest.fixture
def site(sqlite_url, tmp_path, monkeypatch):
    monkeypatch.setattr(auth, "FAILURE_DELAY_S", 0.0)
    auth.IP_THROTTLE.reset()
    engine = make_engine(sqlite_url)
    Session = make_session_factory(engine)
    fx = build_small_db(Session, now=utcnow())
    app = create_app(web_config(sqlite_url, tmp_path), Session)
    yield app, Session, fx
    engine.dispose()


def free_port() -> int:
    """A TCP port nothing listens on right now (the OS picks it), so parallel runs do not collide."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(dash_duo, app):
    port = free_port()
    dash_duo.server.port = port  # before the start: the runner polls its url while its thread sets the port
    dash_duo.start_server(app, navigate=False, port=port)
    return dash_duo.server.url.rstrip("/")


def wait_idle(dash_duo, timeout: float = 15) -> None:
    """Wait until no Dash callback is running (no element marked as loading)."""
    WebDriverWait(dash_duo.driver, timeout).until(
        lambda d: not d.find_elements(By.CSS_SELECTOR, LOADING), f"callbacks still running after {timeout} s")


def click(dash_duo, selector: str, by: str = By.CSS_SELECTOR, timeout: float = 15, pointer: bool = False) -> None:
    """Click an element once the page is idle and the element clickable.

    A click that something else intercepts (a loading overlay, a re-render) falls back to a
    JavaScript click on the element. `pointer=True` sends a real pointer click at the element's
    centre instead (plotly listens on a layer drawn over its points, so an element click would
    always be intercepted there).
    """
    wait_idle(dash_duo, timeout)
    for attempt in range(3):
        el = WebDriverWait(dash_duo.driver, timeout).until(EC.element_to_be_clickable((by, selector)))
        try:
            if pointer:
                ActionChains(dash_duo.driver).move_to_element(el).click().perform()
            else:
                try:
                    el.click()
                except ElementClickInterceptedException:
                    dash_duo.driver.execute_script("arguments[0].click()", el)
            return
        except StaleElementReferenceException:  # re-rendered between the wait and the click
            if attempt == 2:
                raise


def sign_in(dash_duo, base, username, password=None):
    dash_duo.driver.get(base + "/login")
    dash_duo.wait_for_element("#login-username").send_keys(username)
    dash_duo.find_element("#login-password").send_keys(password or PASSWORDS[username])
    click(dash_duo, "#login-submit")


def live_points(dash_duo) -> int:
    """Points in the first trace of the live page's hour chart."""
    return dash_duo.driver.execute_script(
        "return document.querySelector('#factory-live-hour .js-plotly-plot').data[0].y.length")


def nav_links(dash_duo) -> set[str]:
    dash_duo.wait_for_element("#nav-user")
    return {a.get_attribute("href").split("/", 3)[3] for a in
            dash_duo.driver.find_elements(By.CSS_SELECTOR, ".navbar-nav a.nav-link")}


@pytest.mark.clock_independent  # sign-in, menus, user admin, CSP: no date in them
def test_wsign001_sign_in_wrong_then_right_then_out(dash_duo, site):
    app, _, _ = site
    base = start(dash_duo, app)
    dash_duo.driver.get(base + "/hq")
    dash_duo.wait_for_element("#login-form")  # anonymous: sent to the sign-in page
    sign_in(dash_duo, base, "kagwe", "not-the-password")
    dash_duo.wait_for_contains_text("#login-error", "Wrong username or password")
    sign_in(dash_duo, base, "kagwe")
    dash_duo.wait_for_element("#factory-live-now")
    assert dash_duo.driver.current_url.endswith("/factory/live")
    click(dash_duo, "#nav-logout")
    dash_duo.wait_for_element("#login-form")
    dash_duo.driver.get(base + "/factory/live")
    dash_duo.wait_for_element("#login-form")


def test_wlive001_live_page_updates_by_itself(dash_duo, site):
    app, Session, fx = site
    base = start(dash_duo, app)
    sign_in(dash_duo, base, "kagwe")
    dash_duo.wait_for_text_to_equal("#factory-live-now", "0.250 kg/s", timeout=10)
    wait_idle(dash_duo)
    before = live_points(dash_duo)  # about 60, fewer if the page came up after the oldest left the hour
    assert before > 0
    with Session() as s:
        s.add(Reading(device_id="KGW-S1", factory_id=fx.factory_ids["KGW"], ts=utcnow() + timedelta(seconds=1),
                      co2_ppm=160_000, flue_temp_c=185, velocity_m_s=9.0, co2_kg_s=0.5, quality=0))
        s.commit()
    dash_duo.wait_for_text_to_equal("#factory-live-now", "0.500 kg/s", timeout=15)
    assert live_points(dash_duo) == before + 1  # extended by one point, not redrawn from scratch
    assert dash_duo.get_logs() == [] or all("SEVERE" not in str(e) for e in dash_duo.get_logs())


def test_wentr001_submit_entry_and_see_it_in_history(dash_duo, site):
    app, Session, fx = site
    base = start(dash_duo, app)
    sign_in(dash_duo, base, "kagwe")
    dash_duo.wait_for_element("#factory-live-now")
    month = month_start(local_date(utcnow(), DEFAULT_TZ))
    dash_duo.driver.get(f"{base}/factory/entry?month={month:%Y-%m}")
    dash_duo.wait_for_contains_text("#factory-entry-status", "nothing entered yet")

    def typ(selector, value):
        el = dash_duo.wait_for_element(selector)
        el.clear()
        el.send_keys(str(value), Keys.TAB)

    typ('[id*="\\"source\\":\\"diesel\\""][id*="factory-entry-qty"]', 1800)
    typ('[id*="\\"source\\":\\"firewood\\""][id*="factory-entry-qty"]', 1300)
    typ("#factory-entry-moisture", 30)
    typ('[id*="\\"source\\":\\"grid_electricity\\""][id*="factory-entry-qty"]', 110000)
    typ("#factory-entry-green-leaf", 900000)
    typ("#factory-entry-made-tea", 200000)
    dash_duo.wait_for_contains_text("#factory-entry-preview-table", "kg CO2e/kg made tea")
    click(dash_duo, "#factory-entry-submit")
    # The month in progress: asked first (issue 16, finding 6).
    WebDriverWait(dash_duo.driver, 10).until(EC.alert_is_present())
    alert = dash_duo.driver.switch_to.alert
    assert "still in progress" in alert.text
    alert.accept()
    dash_duo.wait_for_contains_text("#factory-entry-result", "Submitted to HQ", timeout=10)
    dash_duo.wait_for_contains_text("#factory-entry-status", "submitted")
    with Session() as s:
        sub = s.scalar(sa.select(MonthlySubmission).where(MonthlySubmission.factory_id == fx.factory_ids["KGW"],
                                                          MonthlySubmission.month == month))
        assert sub.status == "submitted" and {e.source: e.quantity for e in sub.entries}["diesel"] == 1800
    click(dash_duo, "#nav-factory-history")
    dash_duo.wait_for_element("#factory-history-month-table .ag-row")
    rows = dash_duo.driver.execute_script(  # the months data grid's rows, read through AG Grid's API
        "var out = []; dash_ag_grid.getApi('factory-history-month-table').forEachNodeAfterFilterAndSort("
        "function (n) { out.push([n.data.month, n.data.status]); }); return out;")
    assert rows[-1] == [month.strftime("%Y-%m"), "submitted"]


def test_wlead001_sort_and_drill_down(dash_duo, site):
    app, _, fx = site
    base = start(dash_duo, app)
    sign_in(dash_duo, base, "hq")
    dash_duo.wait_for_element("#hq-overview-intensity")
    click(dash_duo, "#nav-hq-leaderboard")
    dash_duo.wait_for_element("#hq-leaderboard-grid")

    def codes():  # the data grid's rows in the order shown (read through AG Grid's API, in one script)
        return dash_duo.driver.execute_script(
            "try { var out = []; dash_ag_grid.getApi('hq-leaderboard-grid')"
            ".forEachNodeAfterFilterAndSort(function (n) { out.push(n.data.code); }); return out; }"
            " catch (e) { return null; }")

    deadline = time.time() + 10  # the first render may still be filling the table
    while codes() != ["KGW", "MTR", "CHG"] and time.time() < deadline:
        time.sleep(0.2)
    assert codes() == ["KGW", "MTR", "CHG"]  # intensity, lowest first
    wait_idle(dash_duo)
    dash_duo.select_dcc_dropdown("#hq-leaderboard-region", "Region 2")  # clicks inside, so only once the page is idle
    deadline = time.time() + 10
    while codes() != ["CHG"] and time.time() < deadline:
        time.sleep(0.2)
    assert codes() == ["CHG"]
    click(dash_duo, "Chinga (CHG)", By.LINK_TEXT)
    dash_duo.wait_for_element("#factory-history-month-table")
    assert dash_duo.driver.current_url.endswith(f"/factory/history?factory={fx.factory_ids['CHG']}")
    dash_duo.wait_for_contains_text("#factory-history-factory", "Chinga")
    # The overview's map opens a factory too (a click on a point).
    dash_duo.driver.get(base + "/hq")
    dash_duo.wait_for_element("#hq-overview-map .scatterlayer .trace .points path")
    click(dash_duo, "#hq-overview-map .scatterlayer .trace .points path", pointer=True)
    dash_duo.wait_for_element("#factory-history-month-table")
    assert "/factory/history?factory=" in dash_duo.driver.current_url


@pytest.mark.clock_independent  # sign-in, menus, user admin, CSP: no date in them
@pytest.mark.parametrize(("username", "expected"), [
    ("kagwe", {"factory/live", "factory/entry", "factory/history", "reports", "evidence", "alerts"}),
    ("hq", {"hq", "hq/leaderboard", "hq/submissions", "hq/nodes", "factory/live", "factory/entry", "factory/history", "reports",
            "evidence", "hq/firmware", "alerts"}),
    ("auditor", {"hq", "hq/leaderboard", "hq/submissions", "hq/nodes", "factory/live", "factory/entry", "factory/history",
                 "reports", "evidence", "hq/firmware", "alerts", "admin", "audit"}),
    ("admin", {"hq", "hq/leaderboard", "hq/submissions", "hq/nodes", "factory/live", "factory/entry", "factory/history", "reports",
               "evidence", "hq/firmware", "alerts", "admin", "audit"}),
])
def test_wrole001_each_role_sees_its_pages(dash_duo, site, username, expected):
    app, _, _ = site
    base = start(dash_duo, app)
    sign_in(dash_duo, base, username)
    assert nav_links(dash_duo) == expected
    if username == "kagwe":
        dash_duo.driver.get(base + "/admin")
        dash_duo.wait_for_element("#not-permitted")
        # The factory picker offers only the manager's own factory.
        dash_duo.driver.get(base + "/factory/history")
        dash_duo.wait_for_element("#factory-history-month-table")
        assert "Kagwe" in dash_duo.find_element("#factory-history-factory").text
    if username == "auditor":
        dash_duo.driver.get(base + "/admin")
        dash_duo.wait_for_element("#admin-read-only")


@pytest.mark.clock_independent  # sign-in, menus, user admin, CSP: no date in them
def test_wadmn001_admin_creates_user_auditor_cannot(dash_duo, site):
    app, Session, _ = site
    base = start(dash_duo, app)
    sign_in(dash_duo, base, "admin")
    dash_duo.wait_for_element("#nav-user")
    dash_duo.driver.get(base + "/admin")
    dash_duo.wait_for_element("#admin-user-grid")
    dash_duo.find_element("#admin-user-new-name").send_keys("newviewer")
    wait_idle(dash_duo)
    dash_duo.select_dcc_dropdown("#admin-user-new-role", "auditor")  # clicks inside, so only once the page is idle
    dash_duo.find_element("#admin-user-new-password").send_keys("viewer-pass-1")
    click(dash_duo, "#admin-user-create")
    dash_duo.wait_for_contains_text("#admin-user-result", "Created newviewer", timeout=10)
    dash_duo.wait_for_contains_text("#admin-user-grid", "newviewer")
    dash_duo.driver.get(base + "/logout")  # a GET shows the sign-out form; the POST signs out
    click(dash_duo, "#logout-submit")
    dash_duo.wait_for_element("#login-form")
    sign_in(dash_duo, base, "newviewer", "viewer-pass-1")
    dash_duo.wait_for_element("#nav-user")
    dash_duo.driver.get(base + "/admin")
    dash_duo.wait_for_element("#admin-read-only")
    dash_duo.wait_for_element("#admin-user-grid")
    dash_duo.find_element("#admin-user-new-name").send_keys("sneaky")
    dash_duo.find_element("#admin-user-new-password").send_keys("sneaky-pass-1")
    click(dash_duo, "#admin-user-create")
    dash_duo.wait_for_contains_text("#admin-user-result", "Not allowed", timeout=10)
    from core.models import User

    with Session() as s:
        assert s.scalar(sa.select(User).where(User.username == "sneaky")) is None


@pytest.mark.clock_independent  # sign-in, menus, user admin, CSP: no date in them
def test_wcsp001_pages_run_under_the_csp_without_violations(dash_duo, site):
    """Issue 16, finding 10: every page works under the strict CSP; the console shows no CSP violation."""
    app, _, _ = site
    base = start(dash_duo, app)
    sign_in(dash_duo, base, "admin")
    dash_duo.wait_for_element("#nav-user")
    checks = {"/hq": "#hq-overview-kpis", "/hq/leaderboard": "#hq-leaderboard-grid",
              "/factory/history": "#factory-history-kpis", "/factory/entry": "#factory-entry-preview-table",
              "/factory/live": "#factory-live-now", "/admin": "#admin-user-grid", "/hq/nodes": "#hq-nodes-grid"}
    for path, selector in checks.items():
        dash_duo.driver.get(base + path)
        dash_duo.wait_for_element(selector, timeout=20)
        wait_idle(dash_duo, 20)
        assert dash_duo.find_element(selector).text.strip() or path == "/factory/live", path
    logs = dash_duo.driver.get_log("browser")
    violations = [e["message"] for e in logs if "Content Security Policy" in e["message"]
                  or "Refused to" in e["message"]]
    assert not violations, violations[:3]
    # The policy is in force: an injected inline script does not run, and the console says so.
    ran = dash_duo.driver.execute_script(
        "var s = document.createElement('script'); s.textContent = 'window.__ctInjected = 1;';"
        "document.body.appendChild(s); return window.__ctInjected === 1;")
    assert ran is False
    time.sleep(0.5)
    assert any("Content Security Policy" in e["message"] for e in dash_duo.driver.get_log("browser"))

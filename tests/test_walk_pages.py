"""Walk every page as every role at a phone's and a desktop's width (issue 17, items 4 and 8).

One browser session per role: sign in, then open each page of the role's menu (plus the account
page and, for HQ roles, a node page) the way a nav link does, at 1,440 px and at 390 px. Each
visit fails on a console error, a failed callback (a 5xx or refused /_dash request), a Dash error
popup, an empty chart, horizontal scrolling of the page, or any WCAG 2.2 A/AA violation that
axe-core finds. All problems of a role are reported together.
"""

from __future__ import annotations

import pytest
from browser_walk import WIDTHS, check_page, console_errors, go, record_server_errors
from test_web_browser import free_port
from web_helpers import PASSWORDS, build_small_db, web_config

import core.accounts.auth as auth
from app import create_app
from callbacks.common import NAV_ITEMS
from core.db import make_engine, make_session_factory
from core.timeutil import utcnow

pytestmark = pytest.mark.browser
ROLES = {"kagwe": "factory_manager", "hq": "hq", "admin": "admin", "auditor": "auditor"}


def role_pages(role: str) -> list[str]:
    """Every page a role can open: its menu, its account page, the raw channels (linked from History,
    not in the menu) and (HQ roles) one node's page."""
    pages = [path for _, path in NAV_ITEMS[role]] + ["/account/api-tokens"]
    if "/factory/history" in pages:
        pages.append("/factory/raw")
    if role != "factory_manager":
        pages.append("/hq/node?device=KGW-S1")
    return pages


def small_site_db(sqlite_url: str, monkeypatch):  # noqa: ANN001, ANN201
    """The small three-factory database around now, with sign-in delays off; return (engine, Session)."""
    monkeypatch.setattr(auth, "FAILURE_DELAY_S", 0.0)
    auth.IP_THROTTLE.reset()
    engine = make_engine(sqlite_url)
    Session = make_session_factory(engine)  # noqa: N806
    build_small_db(Session, now=utcnow())
    return engine, Session


@pytest.fixture
def walk_site(sqlite_url, tmp_path, monkeypatch):
    engine, Session = small_site_db(sqlite_url, monkeypatch)  # noqa: N806
    app = create_app(web_config(sqlite_url, tmp_path), Session)
    errors = record_server_errors(app)
    yield app, errors
    engine.dispose()


def sign_in(driver, base: str, username: str) -> None:  # noqa: ANN001
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(base + "/login")
    wait = WebDriverWait(driver, 15)
    wait.until(EC.presence_of_element_located((By.ID, "login-username"))).send_keys(username)
    driver.find_element(By.ID, "login-password").send_keys(PASSWORDS[username])
    driver.find_element(By.ID, "login-submit").click()
    wait.until(EC.presence_of_element_located((By.ID, "nav-user")))


@pytest.mark.parametrize("username", list(ROLES))
def test_walk001_every_page_every_width_clean(dash_duo, walk_site, username):
    app, server_errors = walk_site
    port = free_port()
    dash_duo.server.port = port
    dash_duo.start_server(app, navigate=False, port=port)
    base = dash_duo.server.url.rstrip("/")
    driver = dash_duo.driver
    visits = []
    if username == "kagwe":  # the sign-in page once, before signing in
        driver.set_window_size(WIDTHS[0], 900)
        driver.get(base + "/login")
        visits.append(check_page(driver, "/login", WIDTHS[0], 0.0, server_errors))
    sign_in(driver, base, username)
    console_errors(driver)  # start clean: sign-in noise is not a page's
    for width in WIDTHS:
        driver.set_window_size(width, 900)
        for i, path in enumerate(role_pages(ROLES[username])):
            seconds = go(driver, base, path, in_app=i > 0)
            visits.append(check_page(driver, path, width, seconds, server_errors))
    problems = [f"{v.path} @ {v.width}px: {p}" for v in visits for p in v.problems]
    assert not problems, "\n".join(problems)

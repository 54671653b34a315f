"""Browser tests (headless Chromium): an admin sends a command and sees its answer arrive; a factory
manager acknowledges an alert; the node page offers no command form to anyone but admins."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait
from web_helpers import PASSWORDS, build_small_db, web_config

import core.accounts.auth as auth
from app import create_app
from core.db import make_engine, make_session_factory
from core.fleet.commands import record_result
from core.models import Alert, DeviceCommand
from core.timeutil import utcnow

pytestmark = pytest.mark.browser
LOADING = "[data-dash-is-loading]"


@pytest.fixture
def site(sqlite_url, tmp_path, monkeypatch):
    monkeypatch.setattr(auth, "FAILURE_DELAY_S", 0.0)
    auth.IP_THROTTLE.reset()
    engine = make_engine(sqlite_url)
    Session = make_session_factory(engine)  # noqa: N806
    fx = build_small_db(Session, now=utcnow())
    app = create_app(web_config(sqlite_url, tmp_path), Session)
    yield app, Session, fx
    engine.dispose()


def start(dash_duo, app) -> str:
    from ingest_helpers import free_port

    port = free_port()
    dash_duo.server.port = port
    dash_duo.start_server(app, navigate=False, port=port)
    return dash_duo.server.url.rstrip("/")


def idle(dash_duo, timeout: float = 40) -> None:  # generous: CI runs the suite beside other tests
    WebDriverWait(dash_duo.driver, timeout).until(lambda d: not d.find_elements(By.CSS_SELECTOR, LOADING))


def click(dash_duo, selector: str) -> None:
    idle(dash_duo)
    el = WebDriverWait(dash_duo.driver, 15).until(EC.element_to_be_clickable((By.CSS_SELECTOR, selector)))
    dash_duo.driver.execute_script("arguments[0].click()", el)


def sign_in(dash_duo, base: str, username: str) -> None:
    dash_duo.driver.get(base + "/login")
    dash_duo.wait_for_element("#login-username").send_keys(username)
    dash_duo.find_element("#login-password").send_keys(PASSWORDS[username])
    click(dash_duo, "#login-submit")
    dash_duo.wait_for_element("#nav-user")


def test_wfleet001_admin_sends_a_command_and_sees_the_answer(dash_duo, site):
    app, Session, _ = site
    base = start(dash_duo, app)
    sign_in(dash_duo, base, "admin")
    dash_duo.driver.get(base + "/hq/node?device=KGW-S1")
    dash_duo.wait_for_element("#hq-node-facts")
    dash_duo.select_dcc_dropdown("#hq-node-cmd", value="Set sampling interval")
    dash_duo.find_element("#hq-node-arg").send_keys("120")
    click(dash_duo, "#hq-node-send")
    dash_duo.wait_for_element("#hq-node-queued")
    dash_duo.wait_for_contains_text("#hq-node-command-table", "interval_s=120", timeout=10)
    with Session() as s:
        cmd = s.scalars(sa.select(DeviceCommand)).one()
        assert cmd.requested_by == "admin" and cmd.device_id == "KGW-S1"
        # The node's answer, as fleet-ops stores it from cmd/result.
        record_result(s, "KGW-S1", {"id": cmd.id, "ok": True, "detail": "interval_s=120 stored"})
    dash_duo.wait_for_contains_text("#hq-node-command-table", "interval_s=120 stored", timeout=10)
    assert "ok" in dash_duo.find_element("#hq-node-command-table .badge").text


def test_wfleet002_manager_acknowledges_own_alert_and_has_no_command_form(dash_duo, site):
    app, Session, fx = site
    with Session() as s:
        s.add(Alert(rule="node_offline", key="node_offline:KGW-S1", factory_id=fx.factory_ids["KGW"],
                    audience="factory", title="Node KGW-S1 at Kagwe (KGW) is offline", state="firing"))
        s.commit()
    base = start(dash_duo, app)
    sign_in(dash_duo, base, "kagwe")
    dash_duo.driver.get(base + "/alerts")
    dash_duo.wait_for_contains_text("#alerts-table", "KGW-S1 at Kagwe (KGW) is offline", timeout=10)
    dash_duo.wait_for_text_to_equal("#alerts-badge", "1")
    click(dash_duo, "#alerts-table button")
    dash_duo.wait_for_contains_text("#alerts-table", "acknowledged by kagwe", timeout=10)
    dash_duo.wait_for_text_to_equal("#alerts-badge", "0")
    dash_duo.driver.get(base + "/hq/node?device=KGW-S1")
    dash_duo.wait_for_element("#hq-node-facts")
    assert dash_duo.driver.find_elements(By.CSS_SELECTOR, "#hq-node-send") == []
    dash_duo.driver.get(base + "/hq/node?device=MTR-S1")
    dash_duo.wait_for_element("#hq-node-denied")

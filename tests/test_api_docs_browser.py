"""Swagger UI and Redoc render the API's operations in headless Chromium with no internet.

Chromium resolves no host name except the loopback server (`--host-resolver-rules`), so any asset
from a CDN would fail to load; the test also checks that every resource the page fetched came
from the app itself, or was refused by the page's Content-Security-Policy (Redoc's bundle asks
cdn.redoc.ly for its logo; the policy blocks that before any network access).
"""

from __future__ import annotations

import pytest
from api_helpers import live_server
from conftest import CHROMIUM
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from web_helpers import make_web_db, web_config

from app import create_app
from core.accounts.tokens import TOKEN_THROTTLE

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def offline_browser(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("api_docs")
    engine, Session, _, url = make_web_db(tmp / "docs.db")
    app = create_app(web_config(url, tmp), Session)
    options = Options()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--window-size=1280,900",
                 # No internet: every host name except the loopback address fails to resolve.
                 "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options)
    try:
        with live_server(app.server) as base:
            yield driver, base
    finally:
        driver.quit()
        engine.dispose()
        TOKEN_THROTTLE.reset()


def _fetched_elsewhere(driver, base: str) -> list[str]:
    """Resources the page asked for from anywhere but the app, unless its CSP refused them."""
    names = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    refused = " ".join(e["message"] for e in driver.get_log("browser") if "Content Security Policy" in e["message"])
    return [n for n in names if not n.startswith(base) and not n.startswith(("data:", "blob:")) and n not in refused]


def test_api_swagger_ui_renders_operations_offline(offline_browser):
    driver, base = offline_browser
    driver.get(f"{base}/api/docs")
    WebDriverWait(driver, 30).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock")) >= 20)
    text = driver.find_element(By.TAG_NAME, "body").text
    assert "Carbon Track API" in text
    assert "/api/v1/factories/{factory_id}/readings" in text
    assert "List the factories the token may see" in text
    assert driver.find_elements(By.CSS_SELECTOR, ".btn.authorize")  # the Bearer token box
    assert _fetched_elsewhere(driver, base) == []


def test_api_redoc_renders_operations_offline(offline_browser):
    driver, base = offline_browser
    driver.get(f"{base}/api/redoc")
    WebDriverWait(driver, 30).until(
        lambda d: "One factory with stacks, nodes and target" in d.find_element(By.TAG_NAME, "body").text)
    text = driver.find_element(By.TAG_NAME, "body").text
    for tag in ("factories", "measurements", "inventories", "energy entries", "reports", "audit", "tokens"):
        assert tag in text
    assert len(driver.find_elements(By.CSS_SELECTOR, "[data-section-id^='operation/']")) >= 20
    assert _fetched_elsewhere(driver, base) == []

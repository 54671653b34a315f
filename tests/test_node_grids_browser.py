"""Browser tests (headless Chromium) for the node pages' data grids (issue 17 item 1): the nodes grid
sorts by a header click, its quick search narrows the rows, the "only problems" switch still filters,
a node id opens the node's page; there the command grid sorts and searches, and keeps the search
while the 2-second refresh brings a new command; the calibration grid sorts and searches too."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from grid_helpers import shown, until
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from test_fleet_browser import click, idle, sign_in, site, start  # noqa: F401 - `site` is a fixture

from core.accounts.auth import WebUser
from core.fleet.commands import send_command
from core.measurement.calibration import record_check
from core.timeutil import DEFAULT_TZ, utcnow

pytestmark = pytest.mark.browser
ADMIN = WebUser(1, "admin", "admin", None, True)




def sort_by(dash_duo, grid_id: str, field: str) -> None:
    click(dash_duo, f"#{grid_id} .ag-header-cell[col-id='{field}'] .ag-header-cell-label")


def test_wnodegrid001_nodes_grid_sorts_searches_filters_and_links(dash_duo, site):  # noqa: F811
    app, _, _ = site
    base = start(dash_duo, app)
    sign_in(dash_duo, base, "hq")
    dash_duo.driver.get(base + "/hq/nodes")
    dash_duo.wait_for_element("#hq-nodes-grid .ag-row")
    nodes = lambda: shown(dash_duo, "hq-nodes-grid", "node")  # noqa: E731
    assert until(nodes, ["CHG-S1", "KGW-S1", "MTR-S1"]) == ["CHG-S1", "KGW-S1", "MTR-S1"]  # factory code order
    # The node id is pinned left; the status is a coloured badge that says it in words.
    assert dash_duo.driver.find_elements(By.CSS_SELECTOR, "#hq-nodes-grid .ag-pinned-left-header [col-id='node']")
    badge = dash_duo.find_element("#hq-nodes-grid .ag-row[row-index='0'] [col-id='status'] .badge")
    assert badge.text == "offline" and "text-bg-danger" in badge.get_attribute("class")
    # Coverage as a level: the number written in a badge coloured by it (green ≥ 90, amber ≥ 50, red).
    dash_duo.driver.set_window_size(1440, 900)
    checked = 0
    for row in range(3):
        cell = dash_duo.find_element(f"#hq-nodes-grid .ag-row[row-index='{row}'] [col-id='coverage_24h_pct']")
        value = float(cell.text.replace(",", "")) if cell.text else None
        if value is not None:
            colour = "success" if value >= 90 else "warning" if value >= 50 else "danger"
            assert f"text-bg-{colour}" in cell.find_element(By.CSS_SELECTOR, ".badge").get_attribute("class")
            checked += 1
    assert checked >= 1
    # Sort: a click on the signal header sorts ascending (−62, −61, −60 dBm), a second click descending.
    sort_by(dash_duo, "hq-nodes-grid", "signal_dbm")
    assert until(nodes, ["CHG-S1", "MTR-S1", "KGW-S1"]) == ["CHG-S1", "MTR-S1", "KGW-S1"]
    sort_by(dash_duo, "hq-nodes-grid", "signal_dbm")
    assert until(nodes, ["KGW-S1", "MTR-S1", "CHG-S1"]) == ["KGW-S1", "MTR-S1", "CHG-S1"]
    # Quick search, with its label.
    assert dash_duo.find_element("label[for='hq-nodes-grid-search']").text == "Search nodes"
    dash_duo.find_element("#hq-nodes-grid-search").send_keys("MTR")
    assert until(nodes, ["MTR-S1"]) == ["MTR-S1"]
    dash_duo.find_element("#hq-nodes-grid-search").send_keys(Keys.CONTROL, "a", Keys.BACKSPACE)
    assert until(lambda: len(nodes() or []), 3) == 3
    # "Only problems" filters on the server: CHG's node is offline.
    click(dash_duo, "#hq-nodes-problems input")
    assert until(nodes, ["CHG-S1"]) == ["CHG-S1"]
    assert dash_duo.find_element("#hq-nodes-grid-export").text == "Export CSV"
    assert until(lambda: shown(dash_duo, "hq-nodes-listener-grid", "instance"), ["host:1"]) == ["host:1"]
    errors = [e["message"] for e in dash_duo.driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors[:3]
    # The node id opens the node's page.
    click(dash_duo, "#hq-nodes-grid a[href='/hq/node?device=CHG-S1']")
    dash_duo.wait_for_element("#hq-node-facts")
    assert dash_duo.driver.current_url.endswith("/hq/node?device=CHG-S1")


def test_wnodegrid002_command_and_calibration_grids_keep_their_search_across_refreshes(dash_duo, site):  # noqa: F811
    app, Session, _ = site
    now = utcnow().astimezone(DEFAULT_TZ).replace(second=0, microsecond=0)
    with Session() as s:
        send_command(s, ADMIN, "KGW-S1", "reboot")
        send_command(s, ADMIN, "KGW-S1", "set_interval", {"interval_s": 120})
        send_command(s, ADMIN, "KGW-S1", "status")
        for hours, measured in ((3, 80_900), (2, 81_500), (1, 80_200)):
            record_check(s, ADMIN, "KGW-S1", "span", 80_000, measured, 100_000,
                         checked_at=(now - timedelta(hours=hours)).strftime("%Y-%m-%d %H:%M"))
        s.commit()
    base = start(dash_duo, app)
    sign_in(dash_duo, base, "admin")
    dash_duo.driver.get(base + "/hq/node?device=KGW-S1")
    dash_duo.wait_for_element("#hq-node-command-table .ag-row")
    commands = lambda: shown(dash_duo, "hq-node-command-table", "command")  # noqa: E731
    assert until(lambda: len(commands() or []), 3) == 3
    sort_by(dash_duo, "hq-node-command-table", "command")
    assert until(commands, ["Reboot", "Request status", "Set sampling interval"]) == [
        "Reboot", "Request status", "Set sampling interval"]
    sort_by(dash_duo, "hq-node-command-table", "command")
    assert until(commands, ["Set sampling interval", "Request status", "Reboot"]) == [
        "Set sampling interval", "Request status", "Reboot"]
    dash_duo.find_element("#hq-node-command-table-search").send_keys("interval")
    assert until(commands, ["Set sampling interval"]) == ["Set sampling interval"]
    # A new command arrives with the 2-second refresh; the search and the sort stay as the user left them.
    with Session() as s:
        send_command(s, ADMIN, "KGW-S1", "set_interval", {"interval_s": 300})
    args = lambda: shown(dash_duo, "hq-node-command-table", "args")  # noqa: E731
    assert until(lambda: sorted(args() or []), ["interval_s=120", "interval_s=300"]) == [
        "interval_s=120", "interval_s=300"]
    time.sleep(2.5)  # one more refresh with nothing new
    assert dash_duo.find_element("#hq-node-command-table-search").get_attribute("value") == "interval"
    assert len(args()) == 2
    # The calibration log: newest first; sorted by the error (a number), searched by its result.
    errors = lambda: shown(dash_duo, "hq-node-cal-table", "error_pct")  # noqa: E731
    assert until(errors, [0.2, 1.5, 0.9]) == [0.2, 1.5, 0.9]
    sort_by(dash_duo, "hq-node-cal-table", "error_pct")
    assert until(errors, [0.2, 0.9, 1.5]) == [0.2, 0.9, 1.5]
    dash_duo.find_element("#hq-node-cal-table-search").send_keys("1.5")
    assert until(errors, [1.5]) == [1.5]
    idle(dash_duo)
    logs = [e["message"] for e in dash_duo.driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not logs, logs[:3]

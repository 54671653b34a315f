"""Browser tests (headless Chromium) for the Admin page's four grids and the Firmware page's two.

Each grid shows its rows, sorts on a header click and narrows to the quick search. The Admin
grids sit in tabs: a grid drawn while its tab was hidden must show its rows at full width once its
tab is opened. The Firmware page refreshes every 3 s: the refresh replaces the rows, not the grids,
so the reader's sort and search stay.
"""

from __future__ import annotations

import hashlib
import time

import pytest
import sqlalchemy as sa
from grid_helpers import shown, until
from selenium.webdriver.common.by import By
from test_web_browser import click, sign_in, site, start, wait_idle  # noqa: F401 - `site` is a fixture

from core.fleet import ota
from core.models import Device, EmissionFactor, Factory, Stack, User

pytestmark = pytest.mark.browser




def shown_cells(dash_duo, grid_id: str, field: str) -> list[str]:
    """The text of a column's cells the browser has drawn (visible rows only)."""
    return [c.text for c in dash_duo.driver.find_elements(
        By.CSS_SELECTOR, f"#{grid_id} .ag-center-cols-container .ag-row [col-id='{field}'], "
                         f"#{grid_id} .ag-pinned-left-cols-container .ag-row [col-id='{field}']") if c.text]


def open_tab(dash_duo, label: str) -> None:
    """Click one of the Admin page's tabs by its label."""
    tab = next(a for a in dash_duo.driver.find_elements(By.CSS_SELECTOR, "#admin-tabs .nav-link") if a.text == label)
    dash_duo.driver.execute_script("arguments[0].click()", tab)


def assert_grid_drawn(dash_duo, grid_id: str, field: str, expected: set[str]) -> None:
    """The grid is visible at a real width and has drawn cells holding `expected` (some of its rows)."""
    deadline = time.time() + 10
    while time.time() < deadline:
        width = dash_duo.driver.execute_script(
            "var g = document.getElementById(arguments[0]); return g ? g.getBoundingClientRect().width : 0", grid_id)
        if width > 300 and expected <= set(shown_cells(dash_duo, grid_id, field)):
            break
        time.sleep(0.2)
    assert width > 300, f"{grid_id} is {width} px wide"
    assert expected <= set(shown_cells(dash_duo, grid_id, field)), shown_cells(dash_duo, grid_id, field)


def test_wadgr001_admin_tabs_grids_show_sort_and_search(dash_duo, site):  # noqa: F811
    app, Session, _ = site
    with Session() as s:
        usernames = sorted(s.scalars(sa.select(User.username)))
        codes = sorted(s.scalars(sa.select(Factory.code)))
        n_stacks = s.scalar(sa.select(sa.func.count()).select_from(Stack))
        factor_codes = set(s.scalars(sa.select(EmissionFactor.code)))
    base = start(dash_duo, app)
    sign_in(dash_duo, base, "admin")
    dash_duo.wait_for_element("#nav-user")
    dash_duo.driver.get(base + "/admin")
    dash_duo.wait_for_element("#admin-user-grid .ag-row")
    wait_idle(dash_duo)
    # Users: every user; the username header sorts ascending, then descending.
    assert until(lambda: sorted(shown(dash_duo, "admin-user-grid", "username") or []), usernames) == usernames
    header = "#admin-user-grid .ag-header-cell[col-id='username'] .ag-header-cell-label"
    click(dash_duo, header)
    assert until(lambda: shown(dash_duo, "admin-user-grid", "username"), usernames) == usernames
    click(dash_duo, header)
    assert until(lambda: shown(dash_duo, "admin-user-grid", "username"), usernames[::-1]) == usernames[::-1]
    # Active is a coloured badge that says yes.
    badge = dash_duo.driver.find_element(By.CSS_SELECTOR, "#admin-user-grid .ag-row [col-id='active'] .badge")
    assert badge.text == "yes" and "text-bg-success" in badge.get_attribute("class")
    assert dash_duo.find_element("label[for='admin-user-grid-search']").text == "Search users"
    dash_duo.find_element("#admin-user-grid-search").send_keys("kagwe")
    assert until(lambda: shown(dash_duo, "admin-user-grid", "username"), ["kagwe"]) == ["kagwe"]

    # Factories: drawn while its tab was hidden; opened, the grid has its width and rows.
    open_tab(dash_duo, "Factories")
    assert_grid_drawn(dash_duo, "admin-factory-grid", "code", set(codes))
    header = "#admin-factory-grid .ag-header-cell[col-id='target'] .ag-header-cell-label"
    click(dash_duo, header)
    with Session() as s:
        by_target = [c for c, _t in sorted(s.execute(sa.select(Factory.code, Factory.target_kg_co2e_per_kg)),
                                           key=lambda x: (x[1], x[0]))]
    codes_by_target = until(lambda: shown(dash_duo, "admin-factory-grid", "code"), by_target)
    targets = shown(dash_duo, "admin-factory-grid", "target")
    assert targets == sorted(targets) and all(isinstance(t, (int, float)) for t in targets), (codes_by_target, targets)
    dash_duo.find_element("#admin-factory-grid-search").send_keys(codes[0])
    assert until(lambda: shown(dash_duo, "admin-factory-grid", "code"), [codes[0]]) == [codes[0]]

    # Stacks and devices, then the emission factors: the same on opening.
    open_tab(dash_duo, "Stacks and devices")
    assert_grid_drawn(dash_duo, "admin-stack-grid", "factory", set(codes))
    assert len(shown(dash_duo, "admin-stack-grid", "stack")) == n_stacks
    open_tab(dash_duo, "Emission factors")
    assert_grid_drawn(dash_duo, "admin-factor-grid", "code", {"diesel"})
    assert set(shown(dash_duo, "admin-factor-grid", "code")) == factor_codes
    dash_duo.find_element("#admin-factor-grid-search").send_keys("diesel")
    assert until(lambda: set(shown(dash_duo, "admin-factor-grid", "code")), {"diesel"}) == {"diesel"}
    # Numbers read with thousands separated (74,100 kg CO2/TJ, IPCC 2006 diesel), a year does not.
    dash_duo.driver.set_window_size(1440, 900)  # priority-3 columns shown
    with Session() as s:
        co2, year = s.execute(sa.select(EmissionFactor.co2_kg_per_tj, EmissionFactor.year)
                              .where(EmissionFactor.code == "diesel").order_by(EmissionFactor.version.desc())).first()
    cell = "#admin-factor-grid .ag-center-cols-container .ag-row [col-id='{}']"
    assert until(lambda: dash_duo.find_element(cell.format("co2")).text, f"{co2:,.0f}") == f"{co2:,.0f}" == "74,100"
    assert dash_duo.find_element(cell.format("year")).text == str(year)
    errors = [e["message"] for e in dash_duo.driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors[:3]


def test_wotag001_firmware_grids_sort_search_and_keep_them_across_refreshes(dash_duo, site):  # noqa: F811
    app, Session, _ = site
    with Session() as s:
        admin = s.scalar(sa.select(User).where(User.username == "admin"))
        image_bytes = bytes([0xE9]) + b"fw-browser" * 100
        image = ota.store_image(s, admin, app.server.config["CT_CONFIG"].data_dir, "7.0.0", image_bytes,
                                hashlib.sha256(image_bytes).hexdigest())
        ota.create_campaign(s, admin, image.id, "all", None)
        nodes = sorted(s.scalars(sa.select(Device.id)))
    base = start(dash_duo, app)
    sign_in(dash_duo, base, "admin")
    dash_duo.wait_for_element("#nav-user")
    dash_duo.driver.get(base + "/hq/firmware")
    dash_duo.wait_for_element("#ota-campaign-nodes-grid .ag-row")
    assert_grid_drawn(dash_duo, "ota-campaign-nodes-grid", "node", set(nodes))
    assert_grid_drawn(dash_duo, "ota-inventory-grid", "node", set(nodes))
    badge = dash_duo.driver.find_element(By.CSS_SELECTOR, "#ota-campaign-nodes-grid .ag-row [col-id='state'] .badge")
    assert badge.text == "pending"
    # Sort the inventory by node, descending (two clicks), and search the campaign nodes.
    header = "#ota-inventory-grid .ag-header-cell[col-id='node'] .ag-header-cell-label"
    click(dash_duo, header)
    click(dash_duo, header)
    assert until(lambda: shown(dash_duo, "ota-inventory-grid", "node"), nodes[::-1]) == nodes[::-1]
    dash_duo.find_element("#ota-campaign-nodes-grid-search").send_keys(nodes[0])
    assert until(lambda: shown(dash_duo, "ota-campaign-nodes-grid", "node"), [nodes[0]]) == [nodes[0]]
    # Two refreshes later (every 3 s) the sort and the search still hold.
    time.sleep(7)
    assert shown(dash_duo, "ota-inventory-grid", "node") == nodes[::-1]
    assert shown(dash_duo, "ota-campaign-nodes-grid", "node") == [nodes[0]]
    assert dash_duo.find_element("#ota-campaign-nodes-grid-search").get_attribute("value") == nodes[0]
    errors = [e["message"] for e in dash_duo.driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors[:3]

"""Browser tests (headless Chromium) for issue 17's data grids and the HQ submission grid.

The grid is sorted by a header click and filtered by its labelled quick-search box, its CSV
export button is there, every script and style comes from this site (AG Grid served from the
dash-ag-grid package), and a submission cell opens that factory-month's entry page.
"""

from __future__ import annotations

import time

import pytest
from grid_helpers import until
from selenium.webdriver.common.by import By
from test_web_browser import click, sign_in, site, start, wait_idle  # noqa: F401 - `site` is a fixture

from core.timeutil import DEFAULT_TZ, add_months, local_date, month_start, utcnow

pytestmark = pytest.mark.browser


def grid_codes(dash_duo, grid_id: str) -> list[str] | None:
    """Row codes in the order the grid shows them, after its sort and filters (None until it is ready)."""
    return dash_duo.driver.execute_script(
        "try { var out = []; dash_ag_grid.getApi(arguments[0]).forEachNodeAfterFilterAndSort("
        "function (n) { out.push(n.data.code); }); return out; } catch (e) { return null; }", grid_id)



def test_wgrid001_sort_search_export_and_nothing_from_outside(dash_duo, site):  # noqa: F811
    app, _, _ = site
    base = start(dash_duo, app)
    sign_in(dash_duo, base, "hq")
    dash_duo.wait_for_element("#nav-user")
    dash_duo.driver.get(base + "/hq/leaderboard")
    dash_duo.wait_for_element("#hq-leaderboard-grid .ag-header-cell")
    assert until(lambda: grid_codes(dash_duo, "hq-leaderboard-grid"), ["KGW", "MTR", "CHG"]) == ["KGW", "MTR", "CHG"]
    # Sort: a click on the intensity header sorts ascending, a second descending.
    header = "#hq-leaderboard-grid .ag-header-cell[col-id='intensity'] .ag-header-cell-label"
    click(dash_duo, header)
    click(dash_duo, header)
    assert until(lambda: grid_codes(dash_duo, "hq-leaderboard-grid"), ["CHG", "MTR", "KGW"]) == ["CHG", "MTR", "KGW"]
    # Quick search: a labelled box filters the rows in the browser.
    label = dash_duo.find_element("label[for='hq-leaderboard-grid-search']")
    assert label.text == "Search factories"
    dash_duo.find_element("#hq-leaderboard-grid-search").send_keys("Chinga")
    assert until(lambda: grid_codes(dash_duo, "hq-leaderboard-grid"), ["CHG"]) == ["CHG"]
    assert dash_duo.find_element("#hq-leaderboard-grid-export").text == "Export CSV"
    # The first column (the factory) is pinned left.
    assert dash_duo.driver.find_elements(By.CSS_SELECTOR, "#hq-leaderboard-grid .ag-pinned-left-header [col-id='factory']")
    # Everything the page loaded came from this site: no CDN, no fonts or tiles from outside.
    urls = dash_duo.driver.execute_script(
        "return performance.getEntriesByType('resource').map(function (e) { return e.name; })")
    assert any("dash_ag_grid" in u for u in urls), "AG Grid's script is served by the app"
    outside = [u for u in urls if not u.startswith(base) and not u.startswith("data:")]
    assert not outside, outside[:5]
    errors = [e["message"] for e in dash_duo.driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors[:3]
    # The audit log's grid pages from the server as an auditor scrolls.
    dash_duo.driver.delete_all_cookies()
    sign_in(dash_duo, base, "auditor")
    dash_duo.wait_for_element("#nav-user")
    dash_duo.driver.get(base + "/audit")
    dash_duo.wait_for_element("#audit-grid .ag-row")
    assert "hq" in dash_duo.find_element("#audit-grid").text or "auditor" in dash_duo.find_element("#audit-grid").text


def test_wgrid002_submission_cell_opens_the_entry_month(dash_duo, site):  # noqa: F811
    app, _, fx = site
    base = start(dash_duo, app)
    sign_in(dash_duo, base, "hq")
    dash_duo.wait_for_element("#nav-user")
    click(dash_duo, "#nav-hq-submissions")
    dash_duo.wait_for_element("#hq-submissions-grid .ag-row")
    last = add_months(month_start(local_date(utcnow(), DEFAULT_TZ)), -1)  # web_helpers: last month is submitted
    href = f"/factory/entry?factory={fx.factory_ids['MTR']}&month={last:%Y-%m}"
    cell = f"#hq-submissions-grid a.ct-cell-link[href='{href}']"
    dash_duo.wait_for_element(cell)
    assert dash_duo.find_element(cell).text == "submitted"  # the status in words, not only a colour
    click(dash_duo, cell)
    dash_duo.wait_for_element("#factory-entry-month")
    assert dash_duo.driver.current_url.endswith(href)
    wait_idle(dash_duo)
    dash_duo.wait_for_contains_text("#factory-entry-month", last.strftime("%B %Y"))
    dash_duo.wait_for_contains_text("#factory-entry-factory", "Mataara")


def _add_reports(Session, fx, months: int) -> int:  # noqa: ANN001, N803
    """`months` months of finished workbooks for the three factories and the network (rows only: the
    download route itself is tested in test_reports_page.py)."""
    from core.models import Report

    this = month_start(local_date(utcnow(), DEFAULT_TZ))
    n = 0
    with Session() as s:
        for i in range(1, months + 1):
            m = add_months(this, -i)
            for code in ("KGW", "MTR", "CHG", "NETWORK"):
                s.add(Report(kind="network" if code == "NETWORK" else "factory", scope_key=code, period="month",
                             factory_id=fx.factory_ids.get(code), month=m, version=1, status="done",
                             path=f"x/{code}-{m}.xlsx", sha256=f"{n:064x}", requested_by="scheduler",
                             generated_at=utcnow()))
                n += 1
        s.commit()
    return n


def loaded_codes(dash_duo, grid_id: str) -> list[str] | None:
    """Codes of the rows an infinite grid holds so far, in order (None until it is ready)."""
    return dash_duo.driver.execute_script(
        "try { var out = []; dash_ag_grid.getApi(arguments[0]).forEachNode("
        "function (n) { if (n.data) { out.push(n.data.code); } }); return out; } catch (e) { return null; }", grid_id)


def test_wgrid003_reports_grid_pages_from_the_server_and_filters(dash_duo, site):  # noqa: F811
    app, Session, fx = site
    total = _add_reports(Session, fx, 35)  # 140 rows, as many as the 137 seen: more than one block of 100
    base = start(dash_duo, app)
    sign_in(dash_duo, base, "hq")
    dash_duo.wait_for_element("#nav-user")
    dash_duo.driver.get(base + "/reports")
    dash_duo.wait_for_element("#reports-table .ag-row")
    # The first answer holds one block: the browser holds 100 rows, not all 140.
    assert until(lambda: len(loaded_codes(dash_duo, "reports-table") or []), 100) == 100
    time.sleep(0.5)
    assert len(loaded_codes(dash_duo, "reports-table")) == 100  # and stays so until one scrolls
    # Names beside the codes, the month's data status, and the download link of a visible row.
    text = dash_duo.find_element("#reports-table").text
    assert "Kagwe (KGW)" in text or "Mataara (MTR)" in text or "Chinga (CHG)" in text
    # web_helpers: the last 12 months approved or submitted; older ones have no data ("missing").
    assert any(word in text.split("\n") for word in ("approved", "submitted", "missing"))
    links = dash_duo.driver.find_elements(By.CSS_SELECTOR, "#reports-table a[id^='reports-download-']")
    assert links and all(a.get_attribute("href").startswith(base + "/reports/download/") for a in links)
    # Scrolling to the end asks the server for the next block.
    api = "dash_ag_grid.getApi('reports-table')"
    dash_duo.driver.execute_script(f"{api}.ensureIndexVisible(99, 'bottom');")
    assert until(lambda: len(loaded_codes(dash_duo, "reports-table") or []), total, timeout=15) == total
    # The grid's own filters narrow the rows on the server.
    dash_duo.select_dcc_dropdown("#reports-filter-scope", "Mataara (MTR)")
    assert until(lambda: sorted(set(loaded_codes(dash_duo, "reports-table") or [])), ["MTR"]) == ["MTR"]
    assert until(lambda: len(loaded_codes(dash_duo, "reports-table") or []), 35) == 35
    # CSV: the button is there, and AG Grid's export holds the rows loaded, with the names.
    assert dash_duo.find_element("#reports-table-export").text == "Export CSV"
    csv = dash_duo.driver.execute_script(f"return {api}.getDataAsCsv({{allColumns: true}});")
    assert csv.count("Mataara (MTR)") == 35 and "Kagwe" not in csv
    urls = dash_duo.driver.execute_script(
        "return performance.getEntriesByType('resource').map(function (e) { return e.name; })")
    outside = [u for u in urls if not u.startswith(base) and not u.startswith("data:")]
    assert not outside, outside[:5]
    errors = [e["message"] for e in dash_duo.driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors[:3]
    # A factory manager's grid holds their own factory's workbooks only (chosen on the server).
    dash_duo.driver.delete_all_cookies()
    sign_in(dash_duo, base, "kagwe")
    dash_duo.wait_for_element("#nav-user")
    dash_duo.driver.get(base + "/reports")
    dash_duo.wait_for_element("#reports-table .ag-row")
    assert until(lambda: set(loaded_codes(dash_duo, "reports-table") or []), {"KGW"}) == {"KGW"}
    assert until(lambda: len(loaded_codes(dash_duo, "reports-table") or []), 35) == 35

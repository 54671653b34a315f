"""Browser tests (headless Chromium) for the grids on refreshing pages (issue 17, item 1): the live page's
node grid, the HQ overview's data-availability and reminders grids, the Reports page's scheduler runs.

Each grid sorts by a header click and narrows to the quick search; on the live page and the overview
a refresh sends new rows into the mounted grid, and the user's sort and search text survive it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from grid_helpers import shown, until
from test_web_browser import click, sign_in, site, start, wait_idle  # noqa: F401 - `site` is a fixture

from core.models import Alert, AlertNotification, Device, JobRun, Stack, User
from core.timeutil import DEFAULT_TZ, add_months, local_date, month_start, utcnow

pytestmark = pytest.mark.browser



def clear_search(dash_duo, grid_id: str) -> None:
    """Empty a grid's quick-search box the way typing does (React sees the input event)."""
    dash_duo.driver.execute_script(
        "var box = document.getElementById(arguments[0] + '-search');"
        "Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set.call(box, '');"
        "box.dispatchEvent(new Event('input', {bubbles: true}));", grid_id)


def severe(dash_duo) -> list[str]:
    return [e["message"] for e in dash_duo.driver.get_log("browser") if e["level"] == "SEVERE"]


def test_wgrid101_live_node_grid_keeps_sort_and_search_across_refreshes(dash_duo, site):  # noqa: F811
    app, Session, fx = site
    with Session() as s:  # a second, offline node on Kagwe's second stack
        st = Stack(factory_id=fx.factory_ids["KGW"], name="Boiler 2", diameter_m=0.8)
        s.add(st)
        s.flush()
        s.add(Device(id="KGW-S2", factory_id=fx.factory_ids["KGW"], stack_id=st.id, sample_interval_s=60.0,
                     firmware="1.0.0", status="online", last_seen_at=utcnow() - timedelta(hours=2), rssi_dbm=-80,
                     buffered=12))
        s.commit()
    base = start(dash_duo, app)
    sign_in(dash_duo, base, "kagwe")
    dash_duo.wait_for_element("#factory-live-node-table .ag-row")
    grid = "factory-live-node-table"
    assert until(lambda: sorted(shown(dash_duo, grid, "node") or []), ["KGW-S1", "KGW-S2"]) == ["KGW-S1", "KGW-S2"]
    assert sorted(shown(dash_duo, grid, "status")) == ["offline", "online"]
    # Sort by signal: a header click puts the weak (-80 dBm) node first.
    assert shown(dash_duo, grid, "node") == ["KGW-S1", "KGW-S2"]
    dash_duo.driver.set_window_size(1440, 900)  # priority-3 columns are shown at a desktop's width
    click(dash_duo, f"#{grid} .ag-header-cell[col-id='signal_dbm'] .ag-header-cell-label")
    assert until(lambda: shown(dash_duo, grid, "node"), ["KGW-S2", "KGW-S1"]) == ["KGW-S2", "KGW-S1"]
    assert dash_duo.find_element(f"label[for='{grid}-search']").text == "Search nodes"
    dash_duo.find_element(f"#{grid}-search").send_keys("KGW-S2")
    assert until(lambda: shown(dash_duo, grid, "node"), ["KGW-S2"]) == ["KGW-S2"]
    # New data for the filtered-in node; the next ticks send it into the same grid.
    with Session() as s:
        s.get(Device, "KGW-S2").firmware = "2.0.1"
        s.commit()
    assert until(lambda: shown(dash_duo, grid, "firmware"), ["2.0.1"], timeout=20) == ["2.0.1"]
    before = dash_duo.find_element("#factory-live-updated").text
    assert until(lambda: dash_duo.find_element("#factory-live-updated").text != before, True, timeout=20)
    # After the refreshes: the search text is still in its box and still narrows, the sort still holds.
    assert dash_duo.find_element(f"#{grid}-search").get_attribute("value") == "KGW-S2"
    assert shown(dash_duo, grid, "node") == ["KGW-S2"]
    clear_search(dash_duo, grid)
    assert until(lambda: shown(dash_duo, grid, "node"), ["KGW-S2", "KGW-S1"]) == ["KGW-S2", "KGW-S1"]  # still sorted
    assert dash_duo.driver.execute_script(  # rows are known by their node id (getRowId): updated in place
        "var n = dash_ag_grid.getApi(arguments[0]).getRowNode('KGW-S2'); return n ? n.data.firmware : null;",
        grid) == "2.0.1"
    assert severe(dash_duo) == []  # getRowId needs no eval: nothing the CSP refused


def test_wgrid102_overview_grids_sort_search_and_survive_a_refresh(dash_duo, site):  # noqa: F811
    app, Session, fx = site
    last_month = add_months(month_start(local_date(utcnow(), DEFAULT_TZ)), -1)
    with Session() as s:  # one energy-data reminder to each factory's manager (Kagwe and Mataara)
        for code, username, minutes in (("KGW", "kagwe", 30), ("MTR", "mataara", 10)):
            alert = Alert(rule="energy_due", key=f"energy_due:{code}:{last_month:%Y-%m}",
                          factory_id=fx.factory_ids[code], audience="factory", title="due")
            s.add(alert)
            s.flush()
            user = s.scalars(sa.select(User).where(User.username == username)).one()
            s.add(AlertNotification(alert_id=alert.id, user_id=user.id, channel="email", occasion="day:x",
                                    status="sent", sent_at=utcnow() - timedelta(minutes=minutes)))
        s.commit()
    base = start(dash_duo, app)
    sign_in(dash_duo, base, "hq")
    dash_duo.wait_for_element("#nav-user")
    dash_duo.driver.get(base + "/hq")
    up = "hq-overview-uptime-table"
    dash_duo.wait_for_element(f"#{up} .ag-row")
    assert until(lambda: sorted(shown(dash_duo, up, "code") or []), ["CHG", "KGW", "MTR"]) == ["CHG", "KGW", "MTR"]
    assert shown(dash_duo, up, "code")[0] == "CHG"  # worst data availability first
    header = f"#{up} .ag-header-cell[col-id='availability_pct'] .ag-header-cell-label"
    click(dash_duo, header)
    click(dash_duo, header)  # descending: the lowest share last
    assert until(lambda: (shown(dash_duo, up, "code") or [None])[-1], "CHG") == "CHG"
    dash_duo.find_element(f"#{up}-search").send_keys("Chinga")
    assert until(lambda: shown(dash_duo, up, "code"), ["CHG"]) == ["CHG"]
    # The reminders grid: newest first; sort by factory, then search.
    rem = "hq-overview-reminders"
    dash_duo.wait_for_element(f"#{rem} .ag-row")
    assert until(lambda: shown(dash_duo, rem, "user"), ["mataara", "kagwe"]) == ["mataara", "kagwe"]
    click(dash_duo, f"#{rem} .ag-header-cell[col-id='factory'] .ag-header-cell-label")
    assert until(lambda: shown(dash_duo, rem, "user"), ["kagwe", "mataara"]) == ["kagwe", "mataara"]
    dash_duo.find_element(f"#{rem}-search").send_keys("Mataara")
    assert until(lambda: shown(dash_duo, rem, "user"), ["mataara"]) == ["mataara"]
    # A refresh (a picked month runs the same callback as the minute's tick) sends new rows into both grids and
    # keeps them as the user left them: a new reminder to Mataara shows, still searched and sorted.
    with Session() as s:
        alert = s.scalars(sa.select(Alert).where(Alert.factory_id == fx.factory_ids["MTR"])).one()
        user = s.scalars(sa.select(User).where(User.username == "mataara")).one()
        s.add(AlertNotification(alert_id=alert.id, user_id=user.id, channel="sms", occasion="day:y", status="sent",
                                sent_at=utcnow()))
        s.commit()
    calls = dash_duo.driver.execute_script("return performance.getEntriesByType('resource').length")
    click(dash_duo, "#hq-overview-from")
    option = dash_duo.wait_for_element(".dash-dropdown-options .dash-dropdown-option")
    dash_duo.driver.execute_script("arguments[0].click()", option)
    assert until(lambda: dash_duo.driver.execute_script(
        "return performance.getEntriesByType('resource').length") > calls, True)
    wait_idle(dash_duo)
    assert dash_duo.find_element(f"#{up}-search").get_attribute("value") == "Chinga"
    assert shown(dash_duo, up, "code") == ["CHG"]
    assert until(lambda: shown(dash_duo, rem, "channel"), ["sms", "email"]) == ["sms", "email"]
    assert dash_duo.find_element(f"#{rem}-search").get_attribute("value") == "Mataara"
    clear_search(dash_duo, up)
    assert until(lambda: len(shown(dash_duo, up, "code") or []), 3) == 3
    assert shown(dash_duo, up, "code")[-1] == "CHG"  # still sorted by availability, descending
    assert severe(dash_duo) == []


def test_wgrid103_reports_runs_grid_sorts_and_searches(dash_duo, site):  # noqa: F811
    app, Session, _ = site
    now = utcnow()
    with Session() as s:
        s.add_all([JobRun(job="monthly_workbooks", period="2026-09", status="done", attempts=1, owner="host:1",
                          started_at=now - timedelta(days=40), finished_at=now - timedelta(days=40)),
                   JobRun(job="monthly_workbooks", period="2026-10", status="failed", attempts=2, owner="host:2",
                          error="OperationalError: could not connect", started_at=now - timedelta(days=10))])
        s.commit()
    base = start(dash_duo, app)
    sign_in(dash_duo, base, "hq")
    dash_duo.wait_for_element("#nav-user")
    dash_duo.driver.get(base + "/reports")
    grid = "reports-runs-table"
    dash_duo.wait_for_element(f"#{grid} .ag-row")
    assert until(lambda: shown(dash_duo, grid, "period"), ["2026-10", "2026-09"]) == ["2026-10", "2026-09"]
    badge = dash_duo.find_element(f"#{grid} .ag-row [col-id='status'] .badge.text-bg-danger")
    assert badge.text == "failed"
    click(dash_duo, f"#{grid} .ag-header-cell[col-id='period'] .ag-header-cell-label")
    assert until(lambda: shown(dash_duo, grid, "period"), ["2026-09", "2026-10"]) == ["2026-09", "2026-10"]
    dash_duo.find_element(f"#{grid}-search").send_keys("could not connect")
    assert until(lambda: shown(dash_duo, grid, "period"), ["2026-10"]) == ["2026-10"]
    assert dash_duo.find_element(f"#{grid}-export").text == "Export CSV"
    assert severe(dash_duo) == []


def test_wgrid104_alerts_grid_keeps_search_and_sort_when_the_list_refreshes(dash_duo, site):  # noqa: F811
    """The alerts page refreshes every 15 s (and on Show resolved, and after an acknowledgement): its grid
    stays mounted, so the reader's search and sort survive; a refresh that brings a new alert adds it."""
    app, Session, fx = site
    kgw = fx.factory_ids["KGW"]
    with Session() as s:
        s.add_all([Alert(rule="node_offline", key=f"node_offline:KGW-S{i}", factory_id=kgw, audience="factory",
                         title=f"Node KGW-S{i} at Kagwe (KGW) is offline", state="firing",
                         fired_at=utcnow() - timedelta(hours=i)) for i in (1, 2, 3)])
        s.commit()
    base = start(dash_duo, app)
    sign_in(dash_duo, base, "kagwe")
    dash_duo.wait_for_element("#nav-user")
    dash_duo.driver.get(base + "/alerts")
    grid = "alerts-table"
    dash_duo.wait_for_element(f"#{grid} .ag-row")
    titles = [f"Node KGW-S{i} at Kagwe (KGW) is offline" for i in (1, 2, 3)]
    assert until(lambda: sorted(shown(dash_duo, grid, "alert") or []), titles) == titles
    click(dash_duo, f"#{grid} .ag-header-cell[col-id='alert'] .ag-header-cell-label")  # A→Z
    assert until(lambda: shown(dash_duo, grid, "alert"), titles) == titles
    click(dash_duo, f"#{grid} .ag-header-cell[col-id='alert'] .ag-header-cell-label")  # Z→A
    assert until(lambda: shown(dash_duo, grid, "alert"), titles[::-1]) == titles[::-1]
    dash_duo.find_element(f"#{grid}-search").send_keys("S2")
    assert until(lambda: shown(dash_duo, grid, "alert"), [titles[1]]) == [titles[1]]
    # A new alert, then a refresh (Show resolved: the same callback the 15 s timer runs).
    with Session() as s:
        s.add(Alert(rule="node_offline", key="node_offline:KGW-S22", factory_id=kgw, audience="factory",
                    title="Node KGW-S22 at Kagwe (KGW) is offline", state="firing", fired_at=utcnow()))
        s.commit()
    click(dash_duo, "#alerts-show-resolved input[type='checkbox']")
    both = ["Node KGW-S22 at Kagwe (KGW) is offline", titles[1]]
    assert until(lambda: shown(dash_duo, grid, "alert"), both, timeout=20) == both  # still narrowed and Z→A
    assert dash_duo.find_element(f"#{grid}-search").get_attribute("value") == "S2"
    clear_search(dash_duo, grid)
    everything = sorted(titles + both[:1], reverse=True)
    assert until(lambda: shown(dash_duo, grid, "alert"), everything) == everything
    # The grid is as tall as its rows (it was built empty, before the rows came): all four in view.
    rows_px = dash_duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('#' + arguments[0] + ' .ag-center-cols-container .ag-row'))"
        ".map(r => r.getBoundingClientRect()).filter(b => b.height > 0).length;", grid)
    body = dash_duo.driver.execute_script(
        "var v = document.querySelector('#' + arguments[0] + ' .ag-body'); return v.clientHeight;", grid)
    assert rows_px == 4 and body >= 4 * 40, (rows_px, body)
    assert severe(dash_duo) == []

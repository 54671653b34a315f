"""Browser test (headless Chromium): HQ records a calibration check on the node page; a refused value is
shown under its field and stores nothing, a good one appears in the node's calibration log."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from test_fleet_browser import click, idle, sign_in, site, start  # noqa: F401 - `site` is a fixture

from core.models import CalibrationCheck
from core.timeutil import DEFAULT_TZ, utcnow

pytestmark = pytest.mark.browser


def _type(dash_duo, selector: str, text: str) -> None:
    el = dash_duo.find_element(selector)
    el.clear()
    el.send_keys(text)


def test_wqaqc001_hq_records_a_calibration_check(dash_duo, site):  # noqa: F811
    app, Session, _ = site
    base = start(dash_duo, app)
    sign_in(dash_duo, base, "hq")
    dash_duo.driver.get(base + "/hq/node?device=KGW-S1")
    dash_duo.wait_for_element("#hq-node-quality-facts")
    dash_duo.wait_for_contains_text("#hq-node-quality-facts", "Calibration overdue", timeout=10)
    when = (utcnow().astimezone(DEFAULT_TZ) - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M")
    _type(dash_duo, "#hq-node-cal-checked-at", when)
    _type(dash_duo, "#hq-node-cal-reference", "80000")
    _type(dash_duo, "#hq-node-cal-measured", "80900")
    _type(dash_duo, "#hq-node-cal-span", "0")  # refused: the span must be above 0
    click(dash_duo, "#hq-node-cal-save")
    dash_duo.wait_for_contains_text("#hq-node-cal-span-error", "Span", timeout=10)
    with Session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(CalibrationCheck)) == 0
    _type(dash_duo, "#hq-node-cal-span", "100000")
    click(dash_duo, "#hq-node-cal-save")
    dash_duo.wait_for_element("#hq-node-cal-ok")
    idle(dash_duo)
    # |80,900 − 80,000| ÷ 100,000 = 0.9 % of span, a number in the grid's error column.
    dash_duo.wait_for_text_to_equal("#hq-node-cal-table .ag-row [col-id='error_pct']", "0.9", timeout=10)
    assert dash_duo.find_element("#hq-node-cal-table .ag-row [col-id='result']").text == "pass"
    assert dash_duo.find_element("#hq-node-cal-span-error").text == ""
    dash_duo.wait_for_contains_text("#hq-node-quality-facts", "Calibration current", timeout=10)
    with Session() as s:
        (row,) = s.scalars(sa.select(CalibrationCheck)).all()
        assert (row.passed, row.recorded_by, row.source) == (True, "hq", "portal")

"""The history and overview pages made faster (issue 17, item 6) show the same things: charts built
whole carry the same traces and axes, the callbacks still check the user, answers are compressed."""

from __future__ import annotations

import gzip
import json
from datetime import date

import pytest
import sqlalchemy as sa
from flask_login import login_user
from web_helpers import client_as, module_web_app, post_callback

from callbacks.factory_history import month_axis, month_labels
from callbacks.figures import (
    SUBSTITUTED_COLOR,
    SUBSTITUTED_PATTERN,
    daily_figure,
    intensity_figure,
    monthly_figure,
    reconciliation_figure,
    region_figure,
    trend_figure,
)
from core.accounts.auth import WebUser
from core.models import User

SEP, OCT, NOV = date(2026, 9, 1), date(2026, 10, 1), date(2026, 11, 1)


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    yield from module_web_app(tmp_path_factory, "speed")


def history_inputs(factory_id: int, start: str = "2026-09-01", end: str = "2026-11-27") -> list[dict]:
    return [{"id": "factory-history-factory", "property": "value", "value": factory_id},
            {"id": "factory-history-range", "property": "start_date", "value": start},
            {"id": "factory-history-range", "property": "end_date", "value": end}]


def test_speed001_daily_figure_stacks_substituted_bars_last():
    days = [date(2026, 9, 1), date(2026, 9, 2), date(2026, 9, 3)]
    fig = daily_figure(days, [1000.0, None, 3000.0], [0.5, 0.0, 1.0], [0.25, None, None],
                       {date(2026, 9, 2): (500.0, 3)})
    names = [t.name for t in fig.data]
    assert names == ["measured fossil CO2 (t)", "measured biogenic CO2 (t)", "measured CO2, month without fuel log (t)",
                     "data coverage (%)", "substituted CO2 (t), hours without valid data"]
    fossil, biogenic, unsplit, coverage, substituted = fig.data
    assert list(fossil.y) == [0.25, None, None] and list(biogenic.y) == [0.75, None, None]  # 1 t split 1:3
    assert list(unsplit.y) == [None, None, 3.0]
    assert list(coverage.y) == [50.0, 0.0, 100.0] and coverage.yaxis == "y2"
    assert list(substituted.y) == [None, 0.5, None] and list(substituted.customdata) == [0, 3, 0]
    assert substituted.marker.color == SUBSTITUTED_COLOR and substituted.marker.pattern.shape == SUBSTITUTED_PATTERN
    assert fig.layout.barmode == "stack" and fig.layout.yaxis2.range == (0, 105)
    # Without substituted hours there is no substituted trace.
    assert [t.name for t in daily_figure(days, [1000.0, None, 3000.0], [0.5, 0.0, 1.0]).data] == names[:4]


def test_speed002_month_labels_make_one_category_per_month():
    rows = [{"month": SEP, "scope1_kg": 2000.0, "scope2_kg": 500.0, "intensity": 1.5, "calculated_co2_kg": 1800.0,
             "measured_co2_kg": 1900.0},
            {"month": OCT, "scope1_kg": None, "scope2_kg": None, "intensity": None, "calculated_co2_kg": None,
             "measured_co2_kg": 0.0}]
    labels = month_labels([SEP, OCT], partial=OCT)
    assert list(labels.values()) == ["Sep 2026", "Oct 2026 (to date)"]
    for fig in (monthly_figure(rows, labels), intensity_figure(rows, 2.0, labels), reconciliation_figure(rows, labels)):
        assert fig.layout.xaxis.type == "category"
        assert list(fig.layout.xaxis.categoryarray) == ["Sep 2026", "Oct 2026 (to date)"]
        assert fig.layout.xaxis.tickformat is None
        assert all(list(t.x) == ["Sep 2026", "Oct 2026 (to date)"] for t in fig.data)
    monthly = monthly_figure(rows, labels)
    assert list(monthly.data[0].y) == [2.0, None] and list(monthly.data[1].y) == [0.5, None]  # tonnes
    recon = reconciliation_figure(rows, labels)
    assert list(recon.data[0].y) == [1.8, None] and list(recon.data[1].y) == [1.9, None]  # 0 measured is no bar
    # Without labels the months stay dates on a date axis.
    plain = monthly_figure(rows)
    assert list(plain.data[0].x) == [SEP, OCT] and plain.layout.xaxis.tickformat == "%b %Y"
    # month_axis gives any built figure the same axis as the labels do.
    assert month_axis(plain, [SEP, OCT], OCT).to_plotly_json() == monthly.to_plotly_json()


def test_speed003_intensity_target_line_and_titles():
    rows = [{"month": SEP, "intensity": 1.5}, {"month": OCT, "intensity": 2.5}]
    fig = intensity_figure(rows, 2.0)
    (line,) = fig.layout.shapes
    assert (line.y0, line.y1, line.xref, line.x0, line.x1) == (2.0, 2.0, "x domain", 0, 1)
    assert fig.layout.annotations[0].text == "target 2.00"
    assert fig.layout.yaxis.rangemode == "tozero"
    assert not intensity_figure(rows, None).layout.shapes
    trend = trend_figure([SEP, OCT], [1000.0, None], [2000.0, None], [5000.0, None], [0.0, 3000.0],
                         title="Network trend, Sep 2026 – Oct 2026")
    assert trend.layout.title.text == "Network trend, Sep 2026 – Oct 2026"
    assert list(trend.data[3].y) == [None, 3.0]  # no measurement is a gap, not a zero
    assert trend.layout.yaxis.rangemode == "tozero" and trend.layout.yaxis2.rangemode == "tozero"
    assert trend_figure([SEP], [1.0], [1.0], [1.0], [1.0]).layout.title.text == "Network trend, last 13 months"
    regions = region_figure([1, 2], [4000.0, 6000.0], [1000.0, 0.0], [1.2, None], title="Sep 2026 by region")
    assert regions.layout.title.text == "Sep 2026 by region" and list(regions.data[0].y) == [4.0, 6.0]


def test_speed004_history_callback_checks_the_user_and_is_compressed(web):
    app, _Session, fx = web
    kgw, mtr = fx.factory_ids["KGW"], fx.factory_ids["MTR"]
    plain = client_as(app, "kagwe")
    shown = post_callback(plain, app, "factory-history-kpis", history_inputs(kgw))
    assert shown.status_code == 200 and "Content-Encoding" not in shown.headers  # no Accept-Encoding: none
    assert "You may not see" not in shown.get_data(as_text=True)
    other = post_callback(plain, app, "factory-history-kpis", history_inputs(mtr))
    assert "You may not see this factory." in other.get_data(as_text=True)

    zipped = client_as(app, "kagwe")
    zipped.environ_base["HTTP_ACCEPT_ENCODING"] = "gzip, deflate, br"
    answer = post_callback(zipped, app, "factory-history-kpis", history_inputs(kgw))
    assert answer.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in answer.headers["Vary"]
    assert len(answer.data) < len(shown.data) / 3
    assert json.loads(gzip.decompress(answer.data)) == shown.get_json()


def test_speed005_small_answers_scripts_and_proxied_apps_are_not_compressed(web, tmp_path):
    import dataclasses

    import flask
    from web_helpers import web_config

    from app import create_app, gzip_response

    app, Session, _fx = web
    with app.server.test_request_context(headers={"Accept-Encoding": "gzip"}):
        assert "Content-Encoding" not in gzip_response(flask.Response("{}", mimetype="application/json")).headers
        script = gzip_response(flask.Response("x" * 5000, mimetype="application/javascript"))
        assert "Content-Encoding" not in script.headers  # scripts: cached by the browser, not compressed here
        big = gzip_response(flask.Response("x" * 5000, mimetype="application/json"))
        assert big.headers["Content-Encoding"] == "gzip" and gzip.decompress(big.get_data()) == b"x" * 5000
        assert int(big.headers["Content-Length"]) == len(big.get_data())
    with app.server.test_request_context():  # the browser did not ask for gzip
        assert "Content-Encoding" not in gzip_response(flask.Response("x" * 5000, mimetype="text/html")).headers

    url = str(Session.kw["bind"].url)
    behind = create_app(dataclasses.replace(web_config(url, tmp_path), proxy_hops=1), Session)
    proxied = client_as(behind, "kagwe")
    proxied.environ_base["HTTP_ACCEPT_ENCODING"] = "gzip"
    answer = proxied.get("/_dash-dependencies")
    assert answer.status_code == 200 and "Content-Encoding" not in answer.headers  # nginx compresses there


def test_speed006_history_raw_link_names_the_factory(web):
    app, Session, fx = web
    import pages.factory_history as page

    with Session() as s:
        hq = WebUser.from_row(s.scalars(sa.select(User).where(User.username == "hq")).one())
    mtr = fx.factory_ids["MTR"]
    with app.server.test_request_context(f"/factory/history?factory={mtr}"):
        login_user(hq)
        found = [c for c in page.layout(factory=str(mtr)).children if getattr(c, "id", None) == "factory-history-raw-link"]
    assert found[0].href == f"/factory/raw?factory={mtr}"

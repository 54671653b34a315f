"""CARBONTRACK_GWP_SET reaches every figure a user reads (issue 14, deliverable 7).

The workbooks used the configured GWP-100 set while the portal pages and the API computed with
AR5 whatever the setting: with AR6 chosen, a factory's Scope 1 on its history page and in the
API differed from its workbook. Here the same database is served twice, once per GWP set, and
the history page's callback, the HQ overview, the leaderboard and the API inventory must each
equal the core inventory computed with that set (whose GWP arithmetic is checked against the
IPCC tables in test_emissions) — and differ between the two sets, so the test can fail.
"""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest
import sqlalchemy as sa
from api_helpers import bearer, make_tokens
from conftest import migrated_sqlite
from web_helpers import NOW, build_small_db, web_config

from app import create_app
from callbacks.factory_history import history_data
from callbacks.hq_leaderboard import leaderboard_rows
from callbacks.hq_overview import overview_data
from core.accounts.auth import WebUser
from core.db import make_engine, make_session_factory
from core.inventory.factors import load_factor_set
from core.inventory.monthly import monthly_inventory
from core.models import User
from core.timeutil import DEFAULT_TZ, add_months, local_date, month_start

MONTH = add_months(month_start(local_date(NOW, DEFAULT_TZ)), -1)  # the fixture's last closed month


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gwp")
    url = migrated_sqlite(tmp / "gwp.db")
    engine = make_engine(url)
    Session = make_session_factory(engine)  # noqa: N806
    fx = build_small_db(Session)
    toks = make_tokens(Session)
    apps = {g: create_app(dataclasses.replace(web_config(url, tmp / g), gwp_set=g), Session) for g in ("AR5", "AR6")}
    yield apps, Session, fx, toks
    engine.dispose()


def _core_scope1(Session, factory_id: int, month: date, gwp: str) -> float:  # noqa: N803
    with Session() as s:
        inv = monthly_inventory(s, [month], load_factor_set(s), [factory_id], gwp=gwp, tz=DEFAULT_TZ, now=NOW)
    return inv[0].combustion.co2e_kg


def _hq(Session):  # noqa: ANN202, N803
    with Session() as s:
        row = s.scalar(sa.select(User).where(User.username == "hq"))
        return WebUser(row.id, row.username, row.role, row.factory_id, True)


@pytest.mark.parametrize("gwp", ["AR5", "AR6"])
def test_portal_and_api_use_the_configured_gwp_set(served, gwp):
    apps, Session, fx, toks = served  # noqa: N806
    kgw = fx.factory_ids["KGW"]
    expected = _core_scope1(Session, kgw, MONTH, gwp)
    other = _core_scope1(Session, kgw, MONTH, "AR6" if gwp == "AR5" else "AR5")
    assert abs(expected - other) > 1.0  # the sets differ on this month's CH4 and N2O

    server = apps[gwp].server
    with server.test_request_context("/"):
        data = history_data(_hq(Session), kgw, MONTH.isoformat(), add_months(MONTH, 1).isoformat(),
                            Session, DEFAULT_TZ, NOW)
    months = {m["month"]: m for m in data["monthly"]}
    assert months[MONTH]["scope1_kg"] == pytest.approx(expected)

    item = server.test_client().get(f"/api/v1/factories/{kgw}/inventories?first={MONTH:%Y-%m}&last={MONTH:%Y-%m}",
                                    headers=bearer(toks["hq"])).get_json()["items"][0]
    assert item["scope1_kg"] == pytest.approx(expected)


def test_overview_and_leaderboard_follow_the_setting(served):
    apps, Session, fx, _ = served  # noqa: N806
    hq = _hq(Session)
    totals = {}
    for gwp, app in apps.items():
        with app.server.test_request_context("/"):
            ov = overview_data(hq, Session, DEFAULT_TZ, NOW)
            rows = leaderboard_rows(hq, "emissions", "latest", None, Session, DEFAULT_TZ, NOW)
        totals[gwp] = (ov.ytd.total_kg, {r.code: r.total_kg for r in rows})
    assert totals["AR5"][0] != pytest.approx(totals["AR6"][0])
    ranked = {code for code, kg in totals["AR5"][1].items() if kg is not None}
    assert ranked  # the latest approved month ranks at least one factory
    for code in ranked:
        assert totals["AR5"][1][code] != pytest.approx(totals["AR6"][1][code])

"""Energy entry page, called as plain functions with what a browser sends (text fields: strings).

Covers the data-loss bugs found by hand: invalid values reaching the server as "empty" and deleting
stored data, a refused save followed by a submit of stale figures, Save draft un-submitting a month,
the stored unit not loaded; the HQ approval checks; and the History charts' month axis.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

import plotly
import pytest
import sqlalchemy as sa
from test_web_browser import click, sign_in, start
from web_helpers import NOW, build_small_db

from callbacks.factory_entry import approval_panel, form_values, load_month, preview_panel, run_action
from callbacks.factory_history import month_axis, render_history
from core.accounts.auth import WebUser
from core.db import make_engine, make_session_factory
from core.inventory.entry import UNITS_BY_SOURCE, get_submission
from core.models import ENERGY_SOURCES, AuditLog
from core.timeutil import DEFAULT_TZ, add_months, local_date, month_start

THIS_MONTH = month_start(local_date(NOW, DEFAULT_TZ))
MONTH = THIS_MONTH.strftime("%Y-%m")
LAST = add_months(THIS_MONTH, -1).strftime("%Y-%m")


@pytest.fixture
def db(sqlite_url):
    engine = make_engine(sqlite_url)
    Session = make_session_factory(engine)
    fx = build_small_db(Session, readings=False)
    ids = fx.factory_ids
    users = {
        "kagwe": WebUser(4, "kagwe", "factory_manager", ids["KGW"], True),
        "hq": WebUser(2, "hq", "hq", None, True),
    }
    yield Session, ids["KGW"], users
    engine.dispose()


def dump(component) -> str:
    return json.dumps(component, cls=plotly.utils.PlotlyJSONEncoder)


def screen(**over) -> dict:
    """What the form holds, as the browser sends it (text fields send strings)."""
    values = {
        "qty": {"firewood": "816210", "diesel": "2000", "grid_electricity": "120000"},
        "unit": {"firewood": "kg", "diesel": "L", "grid_electricity": "kWh"},
        "moisture": "30", "density": None, "green_leaf": "1000000", "made_tea": "220000", "note": "October",
    }
    for k, v in over.items():
        if k in ENERGY_SOURCES:
            values["qty"] = dict(values["qty"], **{k: v})
        else:
            values[k] = v
    return values


def act(Session, user, fid, action, values, month=MONTH):  # noqa: N803
    for src in ENERGY_SOURCES:  # every field is sent, empty ones as None (never typed) or ""
        values["qty"].setdefault(src, None)
    return run_action(action, user, fid, month, values["qty"], values["unit"], values["moisture"],
                      values["density"], values["green_leaf"], values["made_tea"], values["note"], None, Session,
                      DEFAULT_TZ, NOW)


def stored(Session, user, fid, month=THIS_MONTH):  # noqa: N803
    with Session() as s:
        sub = get_submission(s, user, fid, month)
        return {
            "status": sub.status, "made_tea": sub.made_tea_kg, "note": sub.note,
            **{e.source: (e.quantity, e.unit) for e in sub.entries},
            "moisture": next((e.moisture_fraction for e in sub.entries if e.source == "firewood"), None),
        }


def audit_count(Session) -> int:  # noqa: N803
    with Session() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(AuditLog))


@pytest.fixture
def draft(db):
    """Kagwe's draft for this month with firewood 816,210 kg at 30 % moisture."""
    Session, fid, users = db
    msg, done = act(Session, users["kagwe"], fid, "save", screen())
    assert done, dump(msg)
    assert stored(Session, users["kagwe"], fid)["firewood"] == (816210, "kg")
    return db


@pytest.mark.parametrize(("field", "typed", "message"), [
    ("firewood", "-5000", "negative"),
    ("firewood", "\u22125000", "negative"),  # typographic minus
    ("firewood", "lots", "not a number"),
    ("diesel", "-5", "negative"),
    ("made_tea", "-100", "negative"),
    ("moisture", "95", "moisture"),
    ("firewood", "1,5", "not a number"),  # a decimal comma is not guessed at
])
def test_invalid_typed_value_is_refused_and_nothing_is_lost(draft, field, typed, message):
    Session, fid, users = draft
    before, n_audit = stored(Session, users["kagwe"], fid), audit_count(Session)
    _, msgs, _ = preview_panel(users["kagwe"], fid, MONTH, screen(**{field: typed})["qty"], screen()["unit"],
                            screen(**{field: typed})["moisture"], None, "1000000",
                            screen(**{field: typed})["made_tea"], Session, DEFAULT_TZ)
    assert message in dump(msgs)
    for action in ("save", "submit"):
        msg, done = act(Session, users["kagwe"], fid, action, screen(**{field: typed}))
        assert not done and "factory-entry-refused" in dump(msg) and message in dump(msg)
    after = stored(Session, users["kagwe"], fid)
    assert after == before and after["firewood"] == (816210, "kg") and after["moisture"] == pytest.approx(0.3)
    assert audit_count(Session) == n_audit


def test_grouped_thousands_are_read(draft):
    Session, fid, users = draft
    msg, done = act(Session, users["kagwe"], fid, "save", screen(firewood="820,000"))
    assert done, dump(msg)
    assert stored(Session, users["kagwe"], fid)["firewood"] == (820000, "kg")


@pytest.mark.parametrize("emptied", ["", None])
def test_emptied_field_does_not_delete_a_stored_source(draft, emptied):
    Session, fid, users = draft
    for field in ("firewood", "made_tea"):
        values = screen(**{field: emptied})
        _, msgs, _ = preview_panel(users["kagwe"], fid, MONTH, values["qty"], values["unit"], "30", None, "1000000",
                                values["made_tea"], Session, DEFAULT_TZ)
        assert "is stored" in dump(msgs)  # said while typing, not only on save
        msg, done = act(Session, users["kagwe"], fid, "save", values)
        assert not done and "is stored" in dump(msg)
    assert stored(Session, users["kagwe"], fid)["firewood"] == (816210, "kg")
    assert stored(Session, users["kagwe"], fid)["made_tea"] == 220000


def test_zero_removes_a_source_and_audits_its_moisture_too(draft):
    Session, fid, users = draft
    msg, done = act(Session, users["kagwe"], fid, "save", screen(firewood="0"))
    assert done, dump(msg)
    assert "firewood" not in stored(Session, users["kagwe"], fid)
    with Session() as s:
        rows = {r.field: (r.old_value, r.new_value) for r in
                s.scalars(sa.select(AuditLog).where(AuditLog.action == "delete"))}
    assert rows == {"firewood.quantity": ("816210 kg", None), "firewood.moisture_fraction": ("0.3", None)}


def test_reload_shows_the_stored_unit_and_figures(draft):
    Session, fid, users = draft
    data = load_month(users["kagwe"], fid, MONTH, Session)
    sources = list(ENERGY_SOURCES)
    qty, units, moisture, density, leaf, tea, note = form_values(data, sources)
    by = dict(zip(sources, zip(qty, units, strict=True), strict=True))
    assert UNITS_BY_SOURCE["firewood"][0] == "m3"  # the default would be m³: the stored kg must win
    assert by["firewood"] == ("816210", "kg") and by["diesel"] == ("2000", "L") and by["lpg"] == (None, "kg")
    assert (moisture, density, leaf, tea, note) == ("30", None, "1000000", "220000", "October")


def test_refused_save_then_submit_sends_what_is_on_screen(draft):
    Session, fid, users = draft
    typed = screen(firewood="820,000", note="corrected by invoice")
    typed["unit"]["firewood"] = "m3"  # 820,000 m³ ≈ 369,000 t: not possible
    msg, done = act(Session, users["kagwe"], fid, "save", typed)
    assert not done and "not possible" in dump(msg)  # not done: the page keeps the typed values (no reload)
    msg, done = act(Session, users["kagwe"], fid, "submit", typed)
    assert not done and "not possible" in dump(msg) and "Submitted" not in dump(msg)
    assert stored(Session, users["kagwe"], fid)["status"] == "draft"
    typed["unit"]["firewood"] = "kg"  # the user fixes the unit; submit takes exactly the screen
    msg, done = act(Session, users["kagwe"], fid, "submit", typed)
    assert done and "Submitted to HQ" in dump(msg)
    after = stored(Session, users["kagwe"], fid)
    assert after["status"] == "submitted" and after["firewood"] == (820000, "kg")
    assert after["note"] == "corrected by invoice"


def test_submitted_month_save_draft_refused_and_disabled(draft):
    Session, fid, users = draft
    assert act(Session, users["kagwe"], fid, "submit", screen())[1]
    data = load_month(users["kagwe"], fid, MONTH, Session)
    assert data["can_edit"] and not data["can_save"]  # the page disables Save draft, keeps Submit
    msg, done = act(Session, users["kagwe"], fid, "save", screen(diesel="2100"))
    assert not done and "submit again" in dump(msg)
    assert stored(Session, users["kagwe"], fid)["status"] == "submitted"
    msg, done = act(Session, users["kagwe"], fid, "submit", screen(diesel="2100"))
    assert done
    assert stored(Session, users["kagwe"], fid)["diesel"] == (2100, "L")


def test_hq_sees_checks_before_approving(db):
    Session, fid, users = db
    no_wood = screen(firewood=None, diesel="20000")  # no firewood; diesel 10× the usual
    assert act(Session, users["kagwe"], fid, "submit", no_wood)[1]
    assert load_month(users["hq"], fid, MONTH, Session)["can_approve"]
    panel = dump(approval_panel(users["hq"], fid, MONTH, Session, DEFAULT_TZ, NOW))
    assert "Check before approving" in panel
    assert "Firewood is missing" in panel and "Diesel" in panel and "far from" in panel
    assert approval_panel(users["kagwe"], fid, MONTH, Session, DEFAULT_TZ, NOW) is None  # HQ only


def test_hq_sees_measured_vs_calculated_far_off(db):
    Session, fid, users = db
    # Last month (submitted by build_small_db) has about 20 t/day measured at the stack; a fuel log
    # ten times the usual firewood makes the calculated CO2 far above the measured.
    assert "Nothing unusual" in dump(approval_panel(users["hq"], fid, LAST, Session, DEFAULT_TZ, NOW))
    with Session() as s:
        sub = get_submission(s, users["hq"], fid, add_months(THIS_MONTH, -1))
        next(e for e in sub.entries if e.source == "firewood").quantity *= 10
        s.commit()
    panel = dump(approval_panel(users["hq"], fid, LAST, Session, DEFAULT_TZ, NOW))
    assert "Measured stack CO2" in panel and "against the combustion" in panel


# History charts: one label per month, in order, each bar at its own month.

def _row(m: date, v: float) -> dict:
    return {"month": m, "status": "approved", "scope1_kg": v, "scope2_kg": v, "biogenic_co2_kg": v,
            "measured_co2_kg": v, "measured_fossil_co2_kg": v / 2, "measured_biogenic_co2_kg": v / 2,
            "calculated_co2_kg": v, "reconciliation_pct": 0.0, "made_tea_kg": 1000.0, "intensity": 1.0,
            "target_met": True, "coverage": 0.9, "fossil_share": 0.5}


@pytest.mark.parametrize("n_months", [1, 2, 3, 14])
def test_history_month_charts_have_one_label_per_month(n_months):
    months = [add_months(date(2026, 8, 1), i) for i in range(n_months)]
    rows = [_row(m, 1000.0 * (i + 1)) for i, m in enumerate(months)]
    data = {"denied": False, "first": months[0], "last": add_months(months[-1], 1) - timedelta(days=1),
            "days": [], "monthly": rows, "target": 1.5}
    _, _, monthly, intensity, recon, _ = render_history(data)
    labels = [m.strftime("%b %Y") for m in months]
    for fig in (monthly, intensity, recon):
        axis = fig.layout.xaxis
        assert axis.type == "category" and list(axis.categoryarray) == labels
        for trace in fig.data:
            assert list(trace.x) == labels
    if n_months >= 2:
        sep = [t for t in recon.data if t.name.startswith("calculated")][0]
        assert sep.x[1] == "Sep 2026" and sep.y[1] == pytest.approx(2.0)  # September's bar at September


def test_month_axis_leaves_other_figures_alone():
    import plotly.graph_objects as go

    fig = go.Figure(go.Scatter(x=[1, 2], y=[3, 4]))
    assert list(month_axis(fig, []).data[0].x) == [1, 2]


# In the browser: what is typed reaches the server; the stored unit is shown.

@pytest.mark.browser
def test_browser_negative_firewood_refused_and_kept(dash_duo, sqlite_url, tmp_path, monkeypatch):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from web_helpers import web_config

    import core.accounts.auth as auth
    from app import create_app
    from core.timeutil import utcnow

    monkeypatch.setattr(auth, "FAILURE_DELAY_S", 0.0)
    auth.IP_THROTTLE.reset()
    engine = make_engine(sqlite_url)
    Session = make_session_factory(engine)  # noqa: N806
    now = utcnow()
    fx = build_small_db(Session, now=now, readings=False)
    fid = fx.factory_ids["KGW"]
    kagwe = WebUser(4, "kagwe", "factory_manager", fid, True)
    month = month_start(local_date(now, DEFAULT_TZ))
    msg, done = run_action("save", kagwe, fid, month.strftime("%Y-%m"), screen()["qty"], screen()["unit"], "30",
                           None, "1000000", "220000", "draft", None, Session, DEFAULT_TZ, now)
    assert done, dump(msg)
    app = create_app(web_config(sqlite_url, tmp_path), Session)
    base = start(dash_duo, app)  # a free port, so parallel runs do not collide
    sign_in(dash_duo, base, "kagwe")
    dash_duo.wait_for_element("#nav-user")
    dash_duo.driver.get(f"{base}/factory/entry?month={month:%Y-%m}")
    dash_duo.wait_for_contains_text("#factory-entry-status", "draft")
    firewood = '[id*="\\"source\\":\\"firewood\\""][id*="factory-entry-qty"]'
    unit = '[id*="\\"source\\":\\"firewood\\""][id*="factory-entry-unit"]'
    dash_duo.wait_for_text_to_equal(unit, "kg")  # the stored unit, not the default m³
    el = dash_duo.wait_for_element(firewood)
    assert el.get_attribute("value") == "816210" and el.get_attribute("type") == "text"
    el.clear()
    el.send_keys("-5000", Keys.TAB)
    dash_duo.wait_for_contains_text("#factory-entry-messages", "Firewood: the quantity cannot be negative")
    click(dash_duo, "#factory-entry-save")
    dash_duo.wait_for_contains_text("#factory-entry-result", "cannot be negative", timeout=10)
    dash_duo.driver.save_screenshot(str(tmp_path / "entry-refused.png"))
    assert dash_duo.find_element(firewood).get_attribute("value") == "-5000"  # the screen is kept
    assert "Draft saved" not in dash_duo.find_element("#factory-entry-result").text
    assert stored(Session, kagwe, fid, month)["firewood"] == (816210, "kg")
    assert not dash_duo.driver.find_elements(By.CSS_SELECTOR, "#factory-entry-save[disabled]")
    # Correct the figure and submit straight away (no Tab): exactly what is on screen is submitted.
    el = dash_duo.find_element(firewood)
    el.clear()
    el.send_keys("820,000")
    click(dash_duo, "#factory-entry-submit")
    from selenium.webdriver.support import expected_conditions as EC  # noqa: N812
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(dash_duo.driver, 10).until(EC.alert_is_present())  # the month in progress: asked first
    dash_duo.driver.switch_to.alert.accept()
    dash_duo.wait_for_contains_text("#factory-entry-result", "Submitted to HQ", timeout=10)
    dash_duo.wait_for_contains_text("#factory-entry-status", "submitted")
    after = stored(Session, kagwe, fid, month)
    assert after["status"] == "submitted" and after["firewood"] == (820000, "kg")
    dash_duo.wait_for_element("#factory-entry-save[disabled]")  # no Save draft on a submitted month
    engine.dispose()

"""Optimistic concurrency on a factory-month (issue 18): two sessions racing on PostgreSQL.

Each race is made truly concurrent and deterministic: the first writer performs its change and
flushes (holding the row or the unique-key lock), the second starts and the test waits until
PostgreSQL shows it waiting on a lock, then the first commits. Under READ COMMITTED the second
must then be refused (StaleEdit), never commit over the first. A free-for-all behind a barrier
checks the same invariant without ordering. Page (run_action) and API paths are checked for
the message a person sees: who changed the month and when, never a 500.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from api_helpers import bearer, make_tokens
from conftest import create_pg_database, drop_pg_database, require_or_skip
from sqlalchemy.orm.exc import StaleDataError
from web_helpers import NOW, build_small_db, web_config

from core.accounts.auth import WebUser
from core.audit import StaleEdit
from core.db import make_engine, make_session_factory, upgrade_to_head
from core.inventory.entry import approve, get_submission, parse_form, reopen, save_entry
from core.inventory.factors import load_factor_set
from core.models import AuditLog, MonthlySubmission, User
from core.timeutil import DEFAULT_TZ, add_months, local_date, month_start

THIS_MONTH = month_start(local_date(NOW, DEFAULT_TZ))
LOCK_WAIT_S = 10.0


@pytest.fixture(scope="module")
def pg(pg_available):
    require_or_skip(pg_available, "PostgreSQL")
    url = create_pg_database("ct_conc")
    engine = None
    try:
        upgrade_to_head(url)
        engine = make_engine(url)
        Session = make_session_factory(engine)  # noqa: N806
        fx = build_small_db(Session, readings=False)
        with Session() as s:
            uid = {u.username: u.id for u in s.scalars(sa.select(User))}
        ids = fx.factory_ids
        users = {
            "kagwe": WebUser(uid["kagwe"], "kagwe", "factory_manager", ids["KGW"], True),
            "hq": WebUser(uid["hq"], "hq", "hq", None, True),
            "admin": WebUser(uid["admin"], "admin", "admin", None, True),
        }
        yield engine, Session, ids, users, url
    finally:
        if engine is not None:
            engine.dispose()
        drop_pg_database(url)


_months = iter(range(1, 60))


def fresh_month() -> object:
    """A month nobody has touched yet in this module's database (each test takes its own)."""
    return add_months(THIS_MONTH, -20 - next(_months))


def form(month, diesel_l: float = 2000.0):  # noqa: ANN001, ANN201
    return parse_form(month, {"diesel": diesel_l, "grid_electricity": 120_000}, {"diesel": "L",
                      "grid_electricity": "kWh"}, green_leaf=1_000_000, made_tea=220_000)


class Hold:
    """Keep a writer's transaction open after its flush: `flushed` is set, then it waits for `release`."""

    def __init__(self) -> None:
        self.flushed, self.release = threading.Event(), threading.Event()

    def pause(self) -> None:
        self.flushed.set()
        assert self.release.wait(LOCK_WAIT_S)


def do_save(Session, user, fid, month, diesel_l, version, submit=True, hold=None):  # noqa: ANN001, ANN201, N803
    """Save in one session; with `hold`, flush and keep the transaction open until released."""
    with Session() as s:
        sub, _ = save_entry(s, user, fid, form(month, diesel_l), load_factor_set(s), submit=submit,
                            now=NOW, expected_version=version)
        if hold is not None:
            hold.pause()
        s.commit()
        return sub.version


def do_approve(Session, user, fid, month, version, hold=None):  # noqa: ANN001, ANN201, N803
    with Session() as s:
        sub = approve(s, user, fid, month, now=NOW + timedelta(minutes=5), expected_version=version)
        if hold is not None:
            hold.pause()
        s.commit()
        return sub.approved_version


def run_thread(results: dict, key: str, fn, *args, **kw) -> threading.Thread:  # noqa: ANN001
    def target() -> None:
        try:
            results[key] = ("ok", fn(*args, **kw))
        except Exception as exc:  # noqa: BLE001 - the test inspects what each side raised
            results[key] = ("error", exc)

    t = threading.Thread(target=target, daemon=True)
    t.start()
    return t


def wait_for_lock_waiter(engine: sa.Engine) -> None:
    """Poll until a backend of this database waits on a lock (the second writer is blocked)."""
    deadline = time.monotonic() + LOCK_WAIT_S
    with engine.connect() as conn:
        while time.monotonic() < deadline:
            n = conn.scalar(sa.text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                    "AND wait_event_type = 'Lock'"))
            conn.rollback()
            if n:
                return
            time.sleep(0.02)
    raise AssertionError("the second writer never waited on the first one's lock")


def submitted(Session, users, fid, month) -> int:  # noqa: ANN001, N803
    return do_save(Session, users["kagwe"], fid, month, 2000.0, 0)


def state(Session, fid, month):  # noqa: ANN001, ANN201, N803
    with Session() as s:
        sub = s.scalar(sa.select(MonthlySubmission).where(MonthlySubmission.factory_id == fid,
                                                          MonthlySubmission.month == month))
        diesel = next(e.quantity for e in sub.entries if e.source == "diesel")
        approvals = s.scalar(sa.select(sa.func.count()).select_from(AuditLog).where(
            AuditLog.entity == "monthly_submission", AuditLog.action == "approve",
            AuditLog.entity_id.like(f"%/{month:%Y-%m}")))
        return sub.status, sub.version, sub.approved_version, diesel, approvals


@pytest.mark.parametrize("first", ["save", "approve"])
def test_save_and_approve_racing_never_both_commit(pg, first):
    engine, Session, ids, users, _ = pg
    fid, month = ids["KGW"], fresh_month()
    v = submitted(Session, users, fid, month)
    hold, results = Hold(), {}
    ops = {"save": lambda h=None: do_save(Session, users["kagwe"], fid, month, 2500.0, v, hold=h),
           "approve": lambda h=None: do_approve(Session, users["hq"], fid, month, v, hold=h)}
    second = "approve" if first == "save" else "save"
    t1 = run_thread(results, first, ops[first], hold)
    assert hold.flushed.wait(LOCK_WAIT_S), results  # the first writer has changed the row, not committed
    t2 = run_thread(results, second, ops[second])
    wait_for_lock_waiter(engine)  # the second waits for the first's row lock (SELECT … FOR UPDATE)
    hold.release.set()
    t1.join(LOCK_WAIT_S)
    t2.join(LOCK_WAIT_S)
    assert results[first][0] == "ok", results[first]
    assert results[second][0] == "error" and isinstance(results[second][1], StaleEdit), results[second]
    message = results[second][1].message
    assert "changed by" in message and "reload" in message
    status, version, approved_version, diesel, approvals = state(Session, fid, month)
    if first == "save":
        assert (status, version, approved_version, diesel, approvals) == ("submitted", v + 1, None, 2500.0, 0)
        assert "kagwe" in message
    else:  # HQ approved exactly the figures it saw: version v, diesel 2,000 L
        assert (status, version, approved_version, diesel, approvals) == ("approved", v + 1, v, 2000.0, 1)
        assert "hq" in message


def test_save_and_approve_behind_a_barrier_exactly_one_commits(pg):
    _, Session, ids, users, _ = pg
    fid = ids["KGW"]
    for _ in range(4):
        month = fresh_month()
        v = submitted(Session, users, fid, month)
        barrier, results = threading.Barrier(2), {}

        def go(op, barrier=barrier):  # noqa: ANN001, ANN202
            barrier.wait(LOCK_WAIT_S)
            return op()

        threads = [run_thread(results, "save", go, lambda m=month, v=v: do_save(Session, users["kagwe"], fid, m,
                                                                                 2500.0, v)),
                   run_thread(results, "approve", go, lambda m=month, v=v: do_approve(Session, users["hq"], fid, m,
                                                                                      v))]
        for t in threads:
            t.join(LOCK_WAIT_S)
        outcomes = sorted(r[0] for r in results.values())
        assert outcomes == ["error", "ok"], results
        assert all(isinstance(r[1], StaleEdit) for r in results.values() if r[0] == "error")
        status, version, approved_version, diesel, _ = state(Session, fid, month)
        assert version == v + 1
        assert (status, diesel, approved_version) in (("approved", 2000.0, v), ("submitted", 2500.0, None))


def test_two_first_saves_racing_one_is_refused_with_who_saved(pg):
    engine, Session, ids, users, _ = pg
    fid, month = ids["KGW"], fresh_month()
    hold, results = Hold(), {}
    t1 = run_thread(results, "kagwe", do_save, Session, users["kagwe"], fid, month, 2000.0, 0, False, hold)
    assert hold.flushed.wait(LOCK_WAIT_S), results  # kagwe's INSERT is flushed, not committed
    t2 = run_thread(results, "admin", do_save, Session, users["admin"], fid, month, 3000.0, 0, False)
    wait_for_lock_waiter(engine)  # the admin's INSERT waits on kagwe's uncommitted key
    hold.release.set()
    t1.join(LOCK_WAIT_S)
    t2.join(LOCK_WAIT_S)
    assert results["kagwe"] == ("ok", 1)
    kind, exc = results["admin"]
    assert kind == "error" and isinstance(exc, StaleEdit), results["admin"]
    assert "changed by kagwe" in exc.message and exc.current_version == 1
    with Session() as s:
        sub = get_submission(s, users["admin"], fid, month)
        assert [(e.source, e.quantity) for e in sub.entries if e.source == "diesel"] == [("diesel", 2000.0)]


def test_version_is_checked_in_the_update_where_clause(pg):
    """Two sessions read version 1; the first commits; the second's UPDATE matches no row."""
    _, Session, ids, users, _ = pg
    fid, month = ids["KGW"], fresh_month()
    v = do_save(Session, users["kagwe"], fid, month, 2000.0, 0, submit=False)
    with Session() as a, Session() as b:
        sub_a = a.scalar(sa.select(MonthlySubmission).where(MonthlySubmission.factory_id == fid,
                                                            MonthlySubmission.month == month))
        sub_b = b.scalar(sa.select(MonthlySubmission).where(MonthlySubmission.factory_id == fid,
                                                            MonthlySubmission.month == month))
        assert sub_a.version == sub_b.version == v
        sub_a.note = "first"
        a.commit()
        sub_b.note = "second"
        with pytest.raises(StaleDataError):
            b.commit()
    with Session() as s:
        assert s.scalar(sa.select(MonthlySubmission.note).where(MonthlySubmission.factory_id == fid,
                                                                MonthlySubmission.month == month)) == "first"


def test_stale_page_version_is_refused_and_the_current_one_accepted(pg):
    _, Session, ids, users, _ = pg
    fid, month = ids["KGW"], fresh_month()
    v1 = do_save(Session, users["kagwe"], fid, month, 2000.0, 0, submit=False)
    v2 = do_save(Session, users["kagwe"], fid, month, 2100.0, v1, submit=False)
    assert v2 == v1 + 1  # an entries-only change is a new version too
    with pytest.raises(StaleEdit) as err:
        do_save(Session, users["admin"], fid, month, 9000.0, v1, submit=True)
    assert "changed by kagwe" in err.value.message and err.value.current_version == v2
    v3 = do_save(Session, users["kagwe"], fid, month, 2200.0, v2, submit=True)
    with pytest.raises(StaleEdit):
        do_approve(Session, users["hq"], fid, month, v2)
    with Session() as s, pytest.raises(StaleEdit):
        reopen(s, users["hq"], fid, month, "figures look wrong", now=NOW, expected_version=v2)
    assert do_approve(Session, users["hq"], fid, month, v3) == v3
    with Session() as s:
        row = s.scalar(sa.select(AuditLog).where(AuditLog.action == "approve",
                                                 AuditLog.entity_id == f"KGW/{month:%Y-%m}"))
        assert row.detail == f"approved version {v3}"


def test_page_shows_the_stale_message_not_an_error(pg):
    from callbacks.factory_entry import load_month, run_action

    _, Session, ids, users, _ = pg
    fid, month = ids["KGW"], fresh_month()
    do_save(Session, users["kagwe"], fid, month, 2000.0, 0, submit=False)
    seen = load_month(users["kagwe"], fid, f"{month:%Y-%m}", Session)
    do_save(Session, users["admin"], fid, month, 2100.0, seen["version"], submit=False)  # another tab/person
    msg, done = run_action("submit", users["kagwe"], fid, f"{month:%Y-%m}", {"diesel": "2050"}, {"diesel": "L"},
                           None, None, "1000000", "220000", None, None, Session, version=seen["version"])
    assert not done and msg.id == "factory-entry-stale"
    text = str(msg.children)
    assert "changed by admin" in text and "reload" in text
    fresh = load_month(users["kagwe"], fid, f"{month:%Y-%m}", Session)
    assert fresh["version"] == seen["version"] + 1 and fresh["qty"]["diesel"] == 2100.0


def test_api_if_match_and_version_conflicts_are_409_problems(pg, tmp_path):
    from app import create_app

    _, Session, ids, users, url = pg
    fid, month = ids["KGW"], fresh_month()
    server = create_app(web_config(url, tmp_path), Session).server
    toks = make_tokens(Session, ("kagwe", "hq"))
    client = server.test_client()
    path = f"/api/v1/factories/{fid}/months/{month:%Y-%m}/entry"
    body = {"sources": [{"source": "diesel", "quantity": 2000, "unit": "L"}], "green_leaf_kg": 1_000_000,
            "made_tea_kg": 220_000}
    got = client.get(path, headers=bearer(toks["kagwe"]))
    assert got.status_code == 200 and got.json["version"] == 0 and got.headers["ETag"] == '"0"'
    r = client.post(f"{path}/submit", json=body, headers={**bearer(toks["kagwe"]), "If-Match": '"0"'})
    assert r.status_code == 200, r.json
    v = r.json["version"]
    assert r.headers["ETag"] == f'"{v}"'
    stale = client.put(path, json={**body, "version": 0}, headers=bearer(toks["kagwe"]))
    assert stale.status_code == 409 and stale.mimetype == "application/problem+json"
    assert "changed by kagwe" in stale.json["detail"] and stale.headers["ETag"] == f'"{v}"'
    assert client.post(f"{path}/approve", headers={**bearer(toks["hq"]), "If-Match": '"0"'}).status_code == 409
    assert client.post(f"{path}/approve", headers={**bearer(toks["hq"]), "If-Match": "nonsense"}).status_code == 400
    ok = client.post(f"{path}/approve", headers={**bearer(toks["hq"]), "If-Match": f'"{v}"'})
    assert ok.status_code == 200 and ok.json["approved_version"] == v and ok.json["version"] == v + 1


def test_workbook_names_the_version_hq_approved(sqlite_url, tmp_path):
    """The factory workbook's DataQuality sheet shows the version approve() recorded."""
    from openpyxl import load_workbook
    from reports_helpers import MONTH, config_for, find_value, seed_known_month
    from reports_helpers import NOW as REPORT_NOW

    from core.accounts.users import create_user
    from core.models import Factory
    from core.reporting.reports import generate_reports

    engine = make_engine(sqlite_url)
    Session = make_session_factory(engine)  # noqa: N806
    try:
        seed_known_month(Session)
        with Session() as s:
            f = s.scalar(sa.select(Factory).where(Factory.code == "TST"))
            sub = s.scalar(sa.select(MonthlySubmission).where(MonthlySubmission.factory_id == f.id))
            sub.status, sub.note = "submitted", "corrected twice"  # one change since the seed: version 2
            s.commit()
            hq = create_user(s, "hq2", "a long enough password 1", "hq", None)
            s.commit()
            hq_user, fid = WebUser(hq.id, "hq2", "hq", None, True), f.id
        with Session() as s:
            seen = get_submission(s, hq_user, fid, MONTH).version
            assert seen == 2
            approve(s, hq_user, fid, MONTH, now=REPORT_NOW, expected_version=seen)
            s.commit()
        (rep,) = generate_reports(Session, config_for(sqlite_url, tmp_path), MONTH, ["TST"], requested_by="test",
                                  now=REPORT_NOW).reports
        assert rep.status == "done", rep.error
        ws = load_workbook(rep.path)["DataQuality"]
        assert find_value(ws, "Approved version") == seen
        assert find_value(ws, "Approved by").startswith("hq2")
    finally:
        engine.dispose()


# --- admin records: factories, stacks, nodes, users, factor versions ------------------------------


def test_admin_edit_with_a_stale_version_is_refused_and_versions_count_edits(pg):
    from core.models import Device, Factory, Stack
    from core.registry.admin import set_device_active, set_factory_target, update_stack, update_user

    _, Session, ids, users, _ = pg
    admin = users["admin"]
    with Session() as s:
        stack_id = s.scalar(sa.select(Stack.id).where(Stack.factory_id == ids["MTR"]))
        seen = s.get(Stack, stack_id).version
    with Session() as s:  # another admin saves first
        update_stack(s, admin, stack_id, expected_version=seen, diameter_m=0.91)
        s.commit()
    with Session() as s, pytest.raises(StaleEdit) as err:
        update_stack(s, admin, stack_id, expected_version=seen, diameter_m=0.75)
    assert "changed by admin" in err.value.message and err.value.current_version == seen + 1
    with Session() as s:  # saving the same values again is not an edit
        update_stack(s, admin, stack_id, expected_version=seen + 1, diameter_m=0.91)
        s.commit()
        assert s.get(Stack, stack_id).version == seen + 1 and s.get(Stack, stack_id).diameter_m == 0.91
    with Session() as s:
        f_seen = s.get(Factory, ids["MTR"]).version
        set_factory_target(s, admin, ids["MTR"], 0.35, expected_version=f_seen)
        s.commit()
    with Session() as s, pytest.raises(StaleEdit):
        set_factory_target(s, admin, ids["MTR"], 0.5, expected_version=f_seen)
    with Session() as s:
        d_seen = s.get(Device, "MTR-S1").version
        set_device_active(s, admin, "MTR-S1", False, expected_version=d_seen)
        s.commit()
    with Session() as s, pytest.raises(StaleEdit):
        set_device_active(s, admin, "MTR-S1", True, expected_version=d_seen)
    with Session() as s:
        set_device_active(s, admin, "MTR-S1", True, expected_version=d_seen + 1)
        s.commit()
    with Session() as s:
        u_seen = s.get(User, users["kagwe"].id).version
        update_user(s, admin, users["kagwe"].id, active=True, expected_version=u_seen)  # no change: no new version
        s.commit()
        assert s.get(User, users["kagwe"].id).version == u_seen


def test_two_admins_editing_a_stack_at_once_the_second_is_refused(pg):
    from core.models import Stack
    from core.registry.admin import update_stack

    engine, Session, ids, users, _ = pg
    with Session() as s:
        stack_id = s.scalar(sa.select(Stack.id).where(Stack.factory_id == ids["CHG"]))
        seen = s.get(Stack, stack_id).version
    hold, results = Hold(), {}

    def edit(diameter, hold=None):  # noqa: ANN001, ANN202
        with Session() as s:
            update_stack(s, users["admin"], stack_id, expected_version=seen, diameter_m=diameter)
            s.flush()
            if hold is not None:
                hold.pause()
            s.commit()
            return diameter

    t1 = run_thread(results, "first", edit, 0.66, hold)
    assert hold.flushed.wait(LOCK_WAIT_S), results
    t2 = run_thread(results, "second", edit, 0.77)
    wait_for_lock_waiter(engine)  # SELECT … FOR UPDATE waits for the first admin's transaction
    hold.release.set()
    t1.join(LOCK_WAIT_S)
    t2.join(LOCK_WAIT_S)
    assert results["first"] == ("ok", 0.66)
    assert results["second"][0] == "error" and isinstance(results["second"][1], StaleEdit), results["second"]
    with Session() as s:
        st = s.get(Stack, stack_id)
        assert (st.diameter_m, st.version) == (0.66, seen + 1)
        old_values = list(s.scalars(sa.select(AuditLog.old_value).where(
            AuditLog.entity == "stack", AuditLog.entity_id == str(stack_id), AuditLog.field == "diameter_m")))
    assert len(old_values) == 1  # the refused edit left no audit row with a stale old value


def test_two_admins_adding_the_same_factor_version_one_is_refused_not_a_500(pg):
    from core.models import EmissionFactor
    from core.registry.admin import admin_add_factor_version

    engine, Session, _, users, _ = pg
    with Session() as s:
        newest = s.scalar(sa.select(sa.func.max(EmissionFactor.version)).where(EmissionFactor.code == "diesel"))
    hold, results = Hold(), {}

    def add(ncv, hold=None):  # noqa: ANN001, ANN202
        with Session() as s:
            row = admin_add_factor_version(s, users["admin"], "diesel", expected_version=newest, ncv_mj_per_kg=ncv)
            if hold is not None:
                hold.pause()
            s.commit()
            return row.version

    t1 = run_thread(results, "first", add, 43.0, hold)
    assert hold.flushed.wait(LOCK_WAIT_S), results
    t2 = run_thread(results, "second", add, 42.5)
    wait_for_lock_waiter(engine)  # the second INSERT waits on the first's uncommitted (code, version)
    hold.release.set()
    t1.join(LOCK_WAIT_S)
    t2.join(LOCK_WAIT_S)
    assert results["first"] == ("ok", newest + 1)
    assert results["second"][0] == "error" and isinstance(results["second"][1], StaleEdit), results["second"]
    assert "changed by admin" in results["second"][1].message
    with Session() as s, pytest.raises(StaleEdit):  # a page that still shows the old newest version
        admin_add_factor_version(s, users["admin"], "diesel", expected_version=newest, ncv_mj_per_kg=42.0)


# --- in the browser -------------------------------------------------------------------------------


def test_wconc001_hq_approving_a_month_changed_since_sees_who_changed_it(dash_duo, sqlite_url, tmp_path,
                                                                          monkeypatch):
    """HQ opens a submitted month; the factory re-submits new figures; HQ's Approve is refused."""
    from test_web_browser import click, sign_in, start

    import core.accounts.auth as auth
    from app import create_app
    from core.inventory.entry import EntryForm, SourceInput
    from core.timeutil import utcnow

    monkeypatch.setattr(auth, "FAILURE_DELAY_S", 0.0)
    auth.IP_THROTTLE.reset()
    engine = make_engine(sqlite_url)
    Session = make_session_factory(engine)  # noqa: N806
    try:
        now = utcnow()
        fx = build_small_db(Session, now=now)
        app = create_app(web_config(sqlite_url, tmp_path), Session)
        month = add_months(month_start(local_date(now, DEFAULT_TZ)), -1)  # submitted in build_small_db
        fid = fx.factory_ids["KGW"]
        base = start(dash_duo, app)
        sign_in(dash_duo, base, "hq")
        dash_duo.wait_for_element("#nav-factory-entry", timeout=15)
        dash_duo.driver.get(f"{base}/factory/entry?factory={fid}&month={month:%Y-%m}")
        dash_duo.wait_for_contains_text("#factory-entry-status", "submitted", timeout=15)
        with Session() as s:  # meanwhile the factory corrects its diesel and submits again
            kagwe_id = s.scalar(sa.select(User.id).where(User.username == "kagwe"))
            kagwe = WebUser(kagwe_id, "kagwe", "factory_manager", fid, True)
            sub = get_submission(s, kagwe, fid, month)
            form = EntryForm(month, {e.source: SourceInput(e.quantity * (3 if e.source == "diesel" else 1), e.unit,
                                                           e.moisture_fraction, e.density_kg_m3)
                                     for e in sub.entries}, sub.green_leaf_kg, sub.made_tea_kg, sub.note)
            save_entry(s, kagwe, fid, form, load_factor_set(s), submit=True, now=now)
            s.commit()
        click(dash_duo, "#factory-entry-approve")
        dash_duo.wait_for_contains_text("#factory-entry-stale", "changed by kagwe", timeout=15)
        with Session() as s:
            assert get_submission(s, kagwe, fid, month).status == "submitted"  # nothing approved
    finally:
        engine.dispose()


def test_admin_page_sends_the_version_its_form_loaded(pg):
    from callbacks.admin import admin_action, current_values
    from core.models import Factory

    _, Session, ids, users, _ = pg
    admin = users["admin"]
    *_, loaded = current_values(admin, "factory", ids["KGW"], Session, with_version=True)
    with Session() as s:
        assert loaded == s.get(Factory, ids["KGW"]).version
    msg = admin_action("factory", admin, {"factory_pick": ids["KGW"], "target": 1.1, "factory_version": loaded},
                       Session)
    assert msg.startswith("Saved KGW")
    with pytest.raises(StaleEdit) as err:  # a second tab still holding the old form
        admin_action("factory", admin, {"factory_pick": ids["KGW"], "target": 1.2, "factory_version": loaded},
                     Session)
    assert "changed by admin" in str(err.value) and isinstance(err.value, ValueError)  # shown, never a 500
    with Session() as s:
        assert s.get(Factory, ids["KGW"]).target_kg_co2e_per_kg == 1.1

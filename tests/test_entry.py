"""Energy entry: validation, warnings against history, preview = inventory, workflow, audit, locking."""

from __future__ import annotations

import math
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from web_helpers import NOW, build_small_db, web_users

from core.access import AccessDenied
from core.accounts.auth import WebUser
from core.db import make_engine, make_session_factory
from core.inventory.entry import (
    EntryError,
    EntryForm,
    SourceInput,
    approve,
    get_submission,
    parse_form,
    pending_approvals,
    preview,
    reopen,
    save_entry,
    validate,
)
from core.inventory.factors import load_factor_set
from core.inventory.monthly import monthly_inventory
from core.models import AuditLog, Factory, MonthlySubmission
from core.timeutil import DEFAULT_TZ, add_months, local_date, month_start

THIS_MONTH = month_start(local_date(NOW, DEFAULT_TZ))
LAST_MONTH = add_months(THIS_MONTH, -1)


@pytest.fixture
def db(sqlite_url):
    engine = make_engine(sqlite_url)
    Session = make_session_factory(engine)
    fx = build_small_db(Session, readings=False)
    ids = fx.factory_ids
    users = {**web_users(ids), "mataara": WebUser(5, "mataara", "factory_manager", ids["MTR"], True)}
    with Session() as s:
        factors = load_factor_set(s)
    yield Session, ids, users, factors
    engine.dispose()


def typical(month=THIS_MONTH, **over) -> EntryForm:
    form = parse_form(month, {"firewood": 1400, "diesel": 2000, "grid_electricity": 120_000},
                      {"firewood": "m3", "diesel": "L", "grid_electricity": "kWh"},
                      moisture_pct=30, density=None, green_leaf=1_000_000, made_tea=220_000)
    for k, v in over.items():
        setattr(form, k, v)
    return form


@pytest.mark.parametrize(("source", "qty", "unit", "message"), [
    ("diesel", -5, "L", "cannot be negative"),
    ("diesel", "abc", "L", "not a number"),
    ("diesel", 100, "kWh", "not allowed"),
    ("grid_electricity", 1e12, "kWh", "not possible"),
    ("firewood", 1e9, "t", "not possible"),
])
def test_impossible_values_refused(db, source, qty, unit, message):
    _, _, _, factors = db
    form = parse_form(THIS_MONTH, {source: qty}, {source: unit})
    v = validate(form, factors)
    assert not v.ok and any(message in e for e in v.errors)


@pytest.mark.parametrize(("moisture", "density", "message"), [
    (95, None, "moisture"), (30, 50, "density"),
])
def test_firewood_extras_checked(db, moisture, density, message):
    _, _, _, factors = db
    form = parse_form(THIS_MONTH, {"firewood": 100}, {"firewood": "m3"}, moisture, density)
    v = validate(form, factors, default_density=450)
    assert any(message in e for e in v.errors)


def test_firewood_m3_needs_a_density(db):
    _, _, _, factors = db
    form = parse_form(THIS_MONTH, {"firewood": 100}, {"firewood": "m3"}, 30)
    assert any("density" in e for e in validate(form, factors, default_density=None).errors)
    assert validate(form, factors, default_density=450).ok


def test_made_tea_above_green_leaf_refused(db):
    _, _, _, factors = db
    v = validate(typical(green_leaf_kg=100.0, made_tea_kg=200.0), factors)
    assert any("exceed" in e for e in v.errors)


def test_future_month_refused(db):
    _, _, _, factors = db
    v = validate(typical(month=add_months(THIS_MONTH, 1)), factors, today=local_date(NOW, DEFAULT_TZ))
    assert any("future" in e for e in v.errors)


def test_unusual_values_warned_against_history(db):
    Session, ids, users, factors = db
    from core.inventory.entry import history_medians

    with Session() as s:
        medians = history_medians(s, ids["KGW"], THIS_MONTH, factors, 450.0)
    assert medians["diesel"] == pytest.approx(2000 * 0.844)
    ok = validate(typical(), factors, medians, 450.0)
    assert ok.ok and not ok.warnings
    form = typical()
    form.sources["diesel"] = SourceInput(20_000, "L")  # 10×
    warned = validate(form, factors, medians, 450.0)
    assert warned.ok and any("Diesel" in w for w in warned.warnings)
    low = validate(typical(made_tea_kg=10_000.0), factors, medians, 450.0)
    assert any("Made tea" in w for w in low.warnings)


def test_preview_equals_inventory(db):
    Session, ids, users, factors = db
    form = typical()
    with Session() as s:
        density = s.get(Factory, ids["KGW"]).firewood_density_kg_m3  # the factory's default, as the inventory uses
    p = preview(form, factors, default_density=density)
    with Session() as s:
        save_entry(s, users["kagwe"], ids["KGW"], form, factors, now=NOW)
        s.commit()
        inv = monthly_inventory(s, [THIS_MONTH], factors, [ids["KGW"]], now=NOW)[0]
    assert p.combustion.co2e_kg == pytest.approx(inv.scope1_kg)
    assert p.combustion.biogenic_co2_kg == pytest.approx(inv.biogenic_co2_kg)
    assert p.scope2_kg == pytest.approx(inv.scope2_kg)
    assert p.intensity_kg_per_kg == pytest.approx(inv.intensity_kg_per_kg)
    assert p.ch4_n2o_co2e_kg > 0


def test_save_submit_approve_lock_reopen_with_audit(db):
    Session, ids, users, factors = db
    fid = ids["KGW"]
    with Session() as s:
        save_entry(s, users["kagwe"], fid, typical(), factors, now=NOW)
        s.commit()
        changed = typical()
        changed.sources["diesel"] = SourceInput(2500, "L")
        sub, _ = save_entry(s, users["kagwe"], fid, changed, factors, submit=True, now=NOW + timedelta(minutes=5))
        s.commit()
        assert sub.status == "submitted" and sub.submitted_by_id == users["kagwe"].id
        rows = list(s.scalars(sa.select(AuditLog).where(AuditLog.field == "diesel.quantity").order_by(AuditLog.id)))
        assert [(r.old_value, r.new_value) for r in rows] == [(None, "2000 L"), ("2000 L", "2500 L")]
        assert rows[-1].username == "kagwe" and rows[-1].factory_id == fid
        assert [p[0].id for p in pending_approvals(s, users["hq"])].count(sub.id) == 1
        approve(s, users["hq"], fid, THIS_MONTH, now=NOW)
        s.commit()
        with pytest.raises(EntryError, match="locked"):
            save_entry(s, users["kagwe"], fid, typical(), factors, now=NOW)
        with pytest.raises(AccessDenied):
            reopen(s, users["hq"], fid, THIS_MONTH, "typo in diesel")
        with pytest.raises(EntryError, match="reason"):
            reopen(s, users["admin"], fid, THIS_MONTH, "")
        reopen(s, users["admin"], fid, THIS_MONTH, "diesel invoice corrected")
        s.commit()
        assert get_submission(s, users["kagwe"], fid, THIS_MONTH).status == "draft"
        reasons = list(s.scalars(sa.select(AuditLog.detail).where(AuditLog.action == "reopen")))
        assert reasons == ["diesel invoice corrected"]


def test_hq_returns_a_submitted_month_to_the_factory(db):
    Session, ids, users, factors = db
    fid = ids["KGW"]
    with Session() as s:
        save_entry(s, users["kagwe"], fid, typical(), factors, submit=True, now=NOW)
        s.commit()
        with pytest.raises(AccessDenied):
            reopen(s, users["kagwe"], fid, THIS_MONTH, "I want to change it")
        with pytest.raises(AccessDenied):
            reopen(s, users["auditor"], fid, THIS_MONTH, "looks wrong to me")
        reopen(s, users["hq"], fid, THIS_MONTH, "firewood missing, please add it")
        s.commit()
        assert get_submission(s, users["kagwe"], fid, THIS_MONTH).status == "draft"
        save_entry(s, users["kagwe"], fid, typical(), factors, now=NOW)  # the manager can edit again


def test_removing_a_source_is_audited(db):
    Session, ids, users, factors = db
    with Session() as s:
        save_entry(s, users["kagwe"], ids["KGW"], typical(), factors, now=NOW)
        less = typical()
        del less.sources["diesel"]
        sub, _ = save_entry(s, users["kagwe"], ids["KGW"], less, factors, now=NOW)
        s.commit()
        assert "diesel" not in {e.source for e in sub.entries}
        row = s.scalar(sa.select(AuditLog).where(AuditLog.action == "delete"))
        assert row.field == "diesel.quantity" and row.old_value == "2000 L" and row.new_value is None


@pytest.mark.parametrize("who", ["mataara", "hq", "auditor"])
def test_who_may_not_enter_kagwe_data(db, who):
    Session, ids, users, factors = db
    with Session() as s, pytest.raises(AccessDenied):
        save_entry(s, users[who], ids["KGW"], typical(), factors, now=NOW)


def test_admin_may_correct_any_factory(db):
    Session, ids, users, factors = db
    with Session() as s:
        sub, _ = save_entry(s, users["admin"], ids["MTR"], typical(), factors, now=NOW)
        s.commit()
        assert sub.factory_id == ids["MTR"]


def test_errors_stop_the_save(db):
    Session, ids, users, factors = db
    form = typical()
    form.sources["diesel"] = SourceInput(-1, "L")
    with Session() as s:
        with pytest.raises(EntryError, match="negative"):
            save_entry(s, users["kagwe"], ids["KGW"], form, factors, now=NOW)
        assert s.scalar(sa.select(MonthlySubmission).where(MonthlySubmission.month == THIS_MONTH)) is None


def test_only_submitted_months_are_approved(db):
    Session, ids, users, factors = db
    with Session() as s:
        save_entry(s, users["kagwe"], ids["KGW"], typical(), factors, now=NOW)
        with pytest.raises(EntryError):
            approve(s, users["hq"], ids["KGW"], THIS_MONTH)
        with pytest.raises(AccessDenied):
            approve(s, users["kagwe"], ids["KGW"], LAST_MONTH)


def test_parse_form_reads_text():
    form = parse_form(date(2026, 10, 5), {"diesel": "12.5", "lpg": "", "firewood": None}, {"diesel": "L"},
                      moisture_pct="25", green_leaf="x")
    assert form.month == date(2026, 10, 1)
    assert list(form.sources) == ["diesel"] and form.sources["diesel"].quantity == 12.5
    assert math.isnan(form.green_leaf_kg)


# Data-loss fixes: what the browser sends is checked, empty fields never delete, submitted stays submitted.

def kagwe_draft(Session, ids, users, factors):  # noqa: N803
    form = parse_form(THIS_MONTH, {"firewood": "816210", "diesel": "2000"}, {"firewood": "kg", "diesel": "L"},
                      moisture_pct="30", green_leaf="1000000", made_tea="220000")
    with Session() as s:
        save_entry(s, users["kagwe"], ids["KGW"], form, factors, now=NOW)
        s.commit()
    return form


def stored_entries(Session, ids, users):  # noqa: N803
    with Session() as s:
        sub = get_submission(s, users["kagwe"], ids["KGW"], THIS_MONTH)
        return sub.status, {e.source: (e.quantity, e.unit, e.moisture_fraction) for e in sub.entries}


@pytest.mark.parametrize(("typed", "message"), [("-5000", "negative"), ("\u22125000", "negative"),
                                                 ("x", "not a number")])
def test_negative_text_on_a_stored_source_is_refused_and_nothing_changes(db, typed, message):
    Session, ids, users, factors = db
    kagwe_draft(Session, ids, users, factors)
    before = stored_entries(Session, ids, users)
    with Session() as s:
        n = s.scalar(sa.select(sa.func.count()).select_from(AuditLog))
        form = parse_form(THIS_MONTH, {"firewood": typed, "diesel": "2000"}, {"firewood": "kg", "diesel": "L"},
                          moisture_pct="30", green_leaf="1000000", made_tea="220000")
        with pytest.raises(EntryError, match=message):
            save_entry(s, users["kagwe"], ids["KGW"], form, factors, now=NOW)
        s.rollback()
        assert s.scalar(sa.select(sa.func.count()).select_from(AuditLog)) == n
    assert stored_entries(Session, ids, users) == before
    assert before[1]["firewood"] == (816210, "kg", pytest.approx(0.3))


def test_empty_field_never_deletes_zero_does(db):
    Session, ids, users, factors = db
    kagwe_draft(Session, ids, users, factors)
    emptied = parse_form(THIS_MONTH, {"firewood": "", "diesel": "2000"}, {"firewood": "kg", "diesel": "L"},
                         moisture_pct="30", green_leaf="1000000", made_tea="")
    assert {"firewood", "made_tea_kg"} <= emptied.blank
    with Session() as s, pytest.raises(EntryError, match="type 0") as err:
        save_entry(s, users["kagwe"], ids["KGW"], emptied, factors, now=NOW)
    assert "816,210 kg is stored" in str(err.value) and "Made tea" in str(err.value)
    zero = parse_form(THIS_MONTH, {"firewood": "0", "diesel": "2000"}, {"firewood": "kg", "diesel": "L"},
                      moisture_pct="30", green_leaf="1000000", made_tea="220000")
    with Session() as s:
        save_entry(s, users["kagwe"], ids["KGW"], zero, factors, now=NOW)
        s.commit()
        deleted = {r.field: r.old_value for r in s.scalars(sa.select(AuditLog).where(AuditLog.action == "delete"))}
    assert deleted == {"firewood.quantity": "816210 kg", "firewood.moisture_fraction": "0.3"}
    assert "firewood" not in stored_entries(Session, ids, users)[1]


def test_submitted_month_cannot_be_saved_as_draft_but_can_be_resubmitted(db):
    Session, ids, users, factors = db
    form = kagwe_draft(Session, ids, users, factors)
    with Session() as s:
        save_entry(s, users["kagwe"], ids["KGW"], form, factors, submit=True, now=NOW)
        s.commit()
        changed = parse_form(THIS_MONTH, {"firewood": "816210", "diesel": "2100"}, {"firewood": "kg", "diesel": "L"},
                             moisture_pct="30", green_leaf="1000000", made_tea="220000")
        with pytest.raises(EntryError, match="submitted; change it and submit again"):
            save_entry(s, users["kagwe"], ids["KGW"], changed, factors, now=NOW + timedelta(hours=1))
        s.rollback()
        assert get_submission(s, users["kagwe"], ids["KGW"], THIS_MONTH).status == "submitted"
        later = NOW + timedelta(hours=2)
        sub, _ = save_entry(s, users["kagwe"], ids["KGW"], changed, factors, submit=True, now=later)
        s.commit()
        assert sub.status == "submitted" and sub.submitted_at.replace(tzinfo=None) == later.replace(tzinfo=None)
        rows = [(r.field, r.old_value, r.new_value, r.detail) for r in
                s.scalars(sa.select(AuditLog).where(AuditLog.at >= later.replace(tzinfo=None)).order_by(AuditLog.id))]
        assert ("diesel.quantity", "2000 L", "2100 L", None) in rows
        assert ("status", "submitted", "submitted", "re-submitted with corrections") in rows
        assert [p[0].id for p in pending_approvals(s, users["hq"])].count(sub.id) == 1


def test_approval_warnings_missing_source_and_history(db):
    Session, ids, users, factors = db
    from core.inventory.entry import approval_warnings

    form = parse_form(THIS_MONTH, {"diesel": "2000", "grid_electricity": "120000"},
                      {"diesel": "L", "grid_electricity": "kWh"}, green_leaf="1000000", made_tea="22000")
    with Session() as s:
        save_entry(s, users["kagwe"], ids["KGW"], form, factors, submit=True, now=NOW)
        s.commit()
        warnings = approval_warnings(s, users["hq"], ids["KGW"], THIS_MONTH, factors, now=NOW)
    assert any(w.startswith("Firewood is missing") for w in warnings)
    assert any(w.startswith("Made tea") and "far from" in w for w in warnings)
    assert not any(w.startswith("Diesel") for w in warnings)


def test_nobody_approves_a_month_they_entered_or_submitted(db):
    """Four-eyes check (issue 14): whoever keyed in or submitted the figures cannot approve them."""
    Session, ids, users, factors = db
    fid = ids["KGW"]
    with Session() as s:
        # The admin keys in Kagwe's month and submits it: the admin may not approve it, HQ may.
        save_entry(s, users["admin"], fid, typical(), factors, submit=True, now=NOW)
        s.commit()
        with pytest.raises(EntryError, match="four-eyes"):
            approve(s, users["admin"], fid, THIS_MONTH, now=NOW)
        s.rollback()
        assert s.scalars(sa.select(MonthlySubmission.status).where(MonthlySubmission.factory_id == fid,
                                                                   MonthlySubmission.month == THIS_MONTH)).one() \
            == "submitted"
        approve(s, users["hq"], fid, THIS_MONTH, now=NOW)
        s.commit()
    with Session() as s:
        # The admin corrects a figure in Mataara's draft; the manager submits. The admin changed the
        # figures, so the admin may not approve them; HQ may.
        mid = ids["MTR"]
        save_entry(s, users["mataara"], mid, typical(), factors, now=NOW)
        s.commit()
        changed = typical()
        changed.sources["diesel"] = SourceInput(2100, "L")
        save_entry(s, users["admin"], mid, changed, factors, now=NOW)
        s.commit()
        save_entry(s, users["mataara"], mid, changed, factors, submit=True, now=NOW)
        s.commit()
        with pytest.raises(EntryError, match="four-eyes"):
            approve(s, users["admin"], mid, THIS_MONTH, now=NOW)
        s.rollback()
        approve(s, users["hq"], mid, THIS_MONTH, now=NOW)
        s.commit()

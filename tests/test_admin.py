"""Admin functions: only admins change things; every change is audited; factor versions never edited."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from web_helpers import build_small_db

from core.access import AccessDenied
from core.accounts.auth import WebUser
from core.accounts.users import verify_password
from core.db import make_engine, make_session_factory
from core.models import AuditLog, EmissionFactor, Stack, User
from core.registry.admin import (
    AdminError,
    add_device,
    admin_add_factor_version,
    admin_create_user,
    factor_versions,
    list_users,
    reset_password,
    set_device_active,
    set_factory_target,
    update_stack,
    update_user,
)


@pytest.fixture
def db(sqlite_url):
    engine = make_engine(sqlite_url)
    Session = make_session_factory(engine)
    fx = build_small_db(Session, readings=False)
    with Session() as s:
        ids = {u.username: u.id for u in s.scalars(sa.select(User))}
    users = {
        "admin": WebUser(ids["admin"], "admin", "admin", None, True),
        "hq": WebUser(ids["hq"], "hq", "hq", None, True),
        "auditor": WebUser(ids["auditor"], "auditor", "auditor", None, True),
        "kagwe": WebUser(ids["kagwe"], "kagwe", "factory_manager", fx.factory_ids["KGW"], True),
    }
    yield Session, fx, users, ids
    engine.dispose()


def audit(s, **where):
    q = sa.select(AuditLog)
    for k, v in where.items():
        q = q.where(getattr(AuditLog, k) == v)
    return list(s.scalars(q))


@pytest.mark.parametrize("who", ["hq", "auditor", "kagwe"])
def test_non_admins_change_nothing(db, who):
    Session, fx, users, ids = db
    u = users[who]
    with Session() as s:
        stack_id = s.scalar(sa.select(Stack.id))
        calls = [
            lambda: admin_create_user(s, u, "x1", "password-123", "hq"),
            lambda: reset_password(s, u, ids["kagwe"], "password-123"),
            lambda: update_user(s, u, ids["kagwe"], role="admin"),
            lambda: set_factory_target(s, u, fx.factory_ids["KGW"], 1.0),
            lambda: update_stack(s, u, stack_id, diameter_m=2.0),
            lambda: add_device(s, u, "KGW-S9", stack_id),
            lambda: set_device_active(s, u, "KGW-S1", False),
            lambda: admin_add_factor_version(s, u, "diesel", co2_kg_per_tj=74_000),
        ]
        for call in calls:
            with pytest.raises(AccessDenied):
                call()


def test_create_and_change_user(db):
    Session, fx, users, ids = db
    with Session() as s:
        row = admin_create_user(s, users["admin"], "chinga", "chinga-pass-1", "factory_manager", "CHG")
        s.commit()
        update_user(s, users["admin"], row.id, factory_id=fx.factory_ids["MTR"])
        update_user(s, users["admin"], row.id, active=False)
        reset_password(s, users["admin"], row.id, "another-pass-1")
        s.commit()
        s.refresh(row)
        assert row.factory_id == fx.factory_ids["MTR"] and not row.active
        assert verify_password(row, "another-pass-1")
        fields = [a.field for a in audit(s, entity="user", entity_id="chinga")]
        assert fields == ["role", "factory_id", "active", "password"]
        assert all("another-pass" not in (a.new_value or "") for a in audit(s))


def test_user_errors(db):
    Session, _, users, ids = db
    with Session() as s:
        with pytest.raises(AdminError):
            admin_create_user(s, users["admin"], "kagwe", "password-123", "hq")
        with pytest.raises(AdminError):
            admin_create_user(s, users["admin"], "fm", "password-123", "factory_manager")
        with pytest.raises(AdminError):
            reset_password(s, users["admin"], ids["kagwe"], "short")
        with pytest.raises(AdminError):
            update_user(s, users["admin"], ids["admin"], active=False)
        with pytest.raises(AdminError):
            update_user(s, users["admin"], ids["hq"], role="factory_manager")


def test_stack_changes_recorded(db):
    Session, fx, users, _ = db
    with Session() as s:
        stack_id = s.scalar(sa.select(Stack.id).where(Stack.factory_id == fx.factory_ids["KGW"]))
        update_stack(s, users["admin"], stack_id, diameter_m=1.2, dry_basis=True, moisture_fraction=None)
        s.commit()
        rows = audit(s, entity="stack")
        assert {(r.field, r.old_value, r.new_value) for r in rows} == {("diameter_m", "1", "1.2"),
                                                                      ("dry_basis", "False", "True")}
        with pytest.raises(AdminError):
            update_stack(s, users["admin"], stack_id, diameter_m=50)


def test_factory_target_and_devices(db):
    Session, fx, users, _ = db
    with Session() as s:
        stack_id = s.scalar(sa.select(Stack.id).where(Stack.factory_id == fx.factory_ids["KGW"]))
        set_factory_target(s, users["admin"], fx.factory_ids["KGW"], 1.2)
        d = add_device(s, users["admin"], "KGW-S2", stack_id, 30)
        set_device_active(s, users["admin"], "KGW-S1", False)
        s.commit()
        assert d.factory_id == fx.factory_ids["KGW"]
        assert {r.entity for r in audit(s)} >= {"factory", "device"}
        with pytest.raises(AdminError):
            add_device(s, users["admin"], "bad/id", stack_id)
        with pytest.raises(AdminError):
            set_factory_target(s, users["admin"], fx.factory_ids["KGW"], -1)


def test_factor_versions_append_only(db):
    Session, _, users, _ = db
    with Session() as s:
        before = {(f.code, f.version): f.co2_kg_per_tj for f in factor_versions(s, users["auditor"])}
        row = admin_add_factor_version(s, users["admin"], "diesel", co2_kg_per_tj="74000")
        s.commit()
        assert row.version == 2 and row.co2_kg_per_tj == 74_000 and row.created_by == "admin"
        after = {(f.code, f.version): f.co2_kg_per_tj for f in factor_versions(s, users["auditor"])}
        assert all(after[k] == v for k, v in before.items())
        assert s.scalar(sa.select(EmissionFactor).where(EmissionFactor.code == "diesel",
                                                        EmissionFactor.version == 1)).co2_kg_per_tj == 74_100
        with pytest.raises(AdminError):
            admin_add_factor_version(s, users["admin"], "diesel", biomass_fraction=2)
        with pytest.raises(AdminError):
            admin_add_factor_version(s, users["admin"], "nope", co2_kg_per_tj=1)


def test_list_users_roles(db):
    Session, _, users, _ = db
    with Session() as s:
        assert len(list_users(s, users["auditor"])) == 5
        with pytest.raises(AccessDenied):
            list_users(s, users["hq"])


# --- Issue 16, findings 1-2: every numeric field refuses NaN, infinities, 1e308 and crafted types ---
from core.models import Device, Factory  # noqa: E402
from core.registry.admin import FACTOR_RANGES, FACTORY_FIELDS, STACK_FIELDS  # noqa: E402

BAD_NUMBERS = ["nan", "NaN", float("nan"), "inf", "-inf", float("inf"), "1e308", 1e308, 10**30, -1e308,
               [1], {"a": 1}, True, "12abc"]


def _factor_rows(s):
    return [(f.code, f.version) for f in s.scalars(sa.select(EmissionFactor))]


@pytest.mark.parametrize("field", sorted(FACTOR_RANGES) + ["year"])
def test_admin001_factor_numeric_fields_refuse_bad_numbers(db, field):
    Session, _, users, _ = db
    with Session() as s:
        before = _factor_rows(s)
        for bad in BAD_NUMBERS:
            with pytest.raises(AdminError):
                admin_add_factor_version(s, users["admin"], "diesel", **{field: bad})
            s.rollback()
            assert _factor_rows(s) == before, bad


@pytest.mark.parametrize("field", sorted(FACTOR_RANGES))
def test_admin002_factor_range_edges(db, field):
    Session, _, users, _ = db
    lo, hi, _unit = FACTOR_RANGES[field]
    with Session() as s:
        for outside in (lo - 1e-6 * max(1.0, abs(lo)) - 1e-9, hi * 1.001 + 1e-9):
            with pytest.raises(AdminError, match=field):
                admin_add_factor_version(s, users["admin"], "diesel", **{field: outside})
        row = admin_add_factor_version(s, users["admin"], "diesel", **{field: str(hi)})
        s.commit()
        assert getattr(row, field) == hi


def test_admin003_factor_year_10_to_23_refused(db):
    Session, _, users, _ = db
    with Session() as s, pytest.raises(AdminError, match="year"):
        admin_add_factor_version(s, users["admin"], "diesel", year=str(10**23))


@pytest.mark.parametrize("field", sorted(FACTORY_FIELDS))
def test_admin004_factory_fields_refuse_bad_numbers(db, field):
    Session, fx, users, _ = db
    fid = fx.factory_ids["KGW"]
    with Session() as s:
        before = (s.get(Factory, fid).target_kg_co2e_per_kg, s.get(Factory, fid).firewood_density_kg_m3)
        for bad in BAD_NUMBERS + [-1, 0, 5000]:
            kwargs = {"target": bad} if field == "target_kg_co2e_per_kg" else {"target": None,
                                                                                "firewood_density_kg_m3": bad}
            with pytest.raises(AdminError):
                set_factory_target(s, users["admin"], fid, **kwargs)
            s.rollback()
            f = s.get(Factory, fid)
            assert (f.target_kg_co2e_per_kg, f.firewood_density_kg_m3) == before, bad


@pytest.mark.parametrize("field", sorted(STACK_FIELDS))
def test_admin005_stack_fields_refuse_bad_numbers(db, field):
    Session, fx, users, _ = db
    with Session() as s:
        st = s.scalar(sa.select(Stack).where(Stack.factory_id == fx.factory_ids["KGW"]))
        st_id, before = st.id, getattr(st, field)
        for bad in BAD_NUMBERS:
            with pytest.raises(AdminError):
                update_stack(s, users["admin"], st_id, **{field: bad})
            s.rollback()
            assert getattr(s.get(Stack, st_id), field) == before, bad


def test_admin006_sample_interval_refused_not_replaced(db):
    Session, fx, users, _ = db
    with Session() as s:
        stack_id = s.scalar(sa.select(Stack.id).where(Stack.factory_id == fx.factory_ids["KGW"]))
        for bad in BAD_NUMBERS + [0, -5, 3601]:
            with pytest.raises(AdminError, match="Sample interval"):
                add_device(s, users["admin"], "KGW-S9", stack_id, bad)
            s.rollback()
            assert s.get(Device, "KGW-S9") is None, bad


def test_admin007_usernames_refused(db):
    Session, _, users, _ = db
    with Session() as s:
        n = s.scalar(sa.select(sa.func.count()).select_from(User))
        for name in ["with space", "", " ", "a", "x" * 41, "tab\there", "名前", ["admin"], {"a": 1}, "new\nline",
                     "-dash-first", None]:
            with pytest.raises(AdminError):
                admin_create_user(s, users["admin"], name, "password-123", "hq")
            s.rollback()
            assert s.scalar(sa.select(sa.func.count()).select_from(User)) == n, name


@pytest.mark.parametrize("field,limit", [("label", 200), ("source", 300), ("table_ref", 200), ("citation", 1000)])
def test_admin008_factor_text_limits(db, field, limit):
    Session, _, users, _ = db
    with Session() as s:
        with pytest.raises(AdminError, match=f"at most {limit:,}"):
            admin_add_factor_version(s, users["admin"], "diesel", **{field: "x" * (limit + 1)})
        with pytest.raises(AdminError, match="control"):
            admin_add_factor_version(s, users["admin"], "diesel", **{field: "a\x00b"})
        row = admin_add_factor_version(s, users["admin"], "diesel", **{field: "y" * limit})
        s.commit()
        assert getattr(row, field) == "y" * limit

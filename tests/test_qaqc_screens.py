"""Issue 12 screens: node page calibration form, log, badges, assignments and availability; the nodes
table's availability and calibration columns; admin lifecycle forms; the history page's availability.

Callback functions called as plain functions on a small SQLite database (web_helpers), with time
pinned to web_helpers.NOW. Expected numbers are computed here, not taken from the code under test.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
import time_machine
from web_helpers import NOW, make_web_db, web_users

from callbacks.admin_nodes import field_for, lifecycle_change, register_node
from callbacks.factory_history import history_data, render_history
from callbacks.hq_nodes import node_columns, nodes_data, render_nodes
from callbacks.node_quality import node_quality, render_quality, save_calibration
from core.access import AccessDenied
from core.accounts.auth import WebUser
from core.models import (
    AuditLog,
    CalibrationCheck,
    Device,
    DeviceAssignment,
    DeviceHourly,
    FactoryAlertSetting,
    Stack,
)
from core.registry.admin import AdminError
from core.timeutil import DEFAULT_TZ


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    # One database for the module (1-3 s to build): only the first test writes checks, on CHG's node.
    engine, Session, fx, _ = make_web_db(tmp_path_factory.mktemp("screens") / "screens.db")
    ids = fx.factory_ids
    users = {**web_users(ids), "mataara": WebUser(5, "mataara", "factory_manager", ids["MTR"], True)}
    with time_machine.travel(NOW, tick=False):
        yield Session, ids, fx, users
    engine.dispose()


def dump(component) -> str:
    return json.dumps(component, cls=__import__("plotly").utils.PlotlyJSONEncoder)


def grid_rows(component, grid_id: str) -> list[dict]:
    """The rowData of the data grid `grid_id` inside a rendered component."""
    found = []

    def walk(c) -> None:  # noqa: ANN001
        if getattr(c, "id", None) == grid_id and hasattr(c, "rowData"):
            found.append(c.rowData)
        kids = getattr(c, "children", None)
        for k in kids if isinstance(kids, list | tuple) else [kids] if kids is not None else []:
            walk(k)

    walk(component)
    assert len(found) == 1, f"no grid {grid_id}"
    return found[0]


def _form(**kw) -> dict:
    base = {"kind": "span", "checked-at": "2026-11-27 10:00", "reference": 80000, "certificate": "CERT-1",
            "measured": 80000, "span": 100000, "note": None}
    base.update(kw)
    return base


def test_calibration_form_records_and_shows_pass_and_fail(db):
    Session, ids, fx, users = db
    dev = fx.device_ids["CHG"]
    # Error 2,400 ppm of a 100,000 ppm span = 2.4 % ≤ 2.5 %: passes (40 CFR 75 App. A §3.1).
    errors, msg, ok = save_calibration(users["hq"], dev, _form(measured=82400), Session, DEFAULT_TZ)
    assert ok and errors == {} and "passed" in msg and "2.40 %" in msg
    # 2,600 ppm = 2.6 %: fails, and the node is out of control from its last passed check.
    errors, msg, ok = save_calibration(users["admin"], dev, _form(**{"checked-at": "2026-11-28 08:00",
                                                                     "measured": 77400}), Session, DEFAULT_TZ)
    assert ok and "FAILED" in msg and "2.60 %" in msg
    q = node_quality(users["auditor"], dev, Session, DEFAULT_TZ, NOW)
    top, table, assignments = render_quality(q, DEFAULT_TZ)
    shown = dump(top)
    assert "Out of control" in shown and "Calibration current" in shown  # a pass 1 day ago: not overdue
    rows = grid_rows(table, "hq-node-cal-table")
    # Newest first; the result in words (coloured by its tone), the error a number of percent.
    assert [(r["result"], r["result__tone"], r["error_pct"]) for r in rows] == [("FAIL", "failed", 2.6),
                                                                                ("pass", "ok", 2.4)]
    assert {r["certificate"] for r in rows} == {"CERT-1"} and {r["by"] for r in rows} == {"hq", "admin"}
    with Session() as s:
        rows = s.scalars(sa.select(CalibrationCheck).order_by(CalibrationCheck.checked_at)).all()
        assert [(r.passed, r.recorded_by, r.source) for r in rows] == [(True, "hq", "portal"),
                                                                       (False, "admin", "portal")]
        assert s.scalar(sa.select(sa.func.count()).select_from(AuditLog)
                        .where(AuditLog.entity == "calibration_check")) == 2


@pytest.mark.parametrize(("field", "value", "where"), [
    ("reference", "abc", "reference"), ("span", 0, "span"), ("measured", 10**30, "measured"),
    ("kind", "drift", "kind"), ("checked-at", "2099-01-01 00:00", "checked-at"), ("checked-at", "yesterday",
                                                                                    "checked-at"),
    ("certificate", "x" * 200, "certificate"), ("measured", None, "measured"), ("reference", [1, 2], "reference"),
])
def test_calibration_form_errors_next_to_the_field_nothing_stored(db, field, value, where):
    Session, ids, fx, users = db
    errors, msg, ok = save_calibration(users["hq"], fx.device_ids["KGW"], _form(**{field: value}), Session,
                                       DEFAULT_TZ)
    assert not ok and list(errors) == [where] and "Not recorded" in msg
    with Session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(CalibrationCheck)
                        .where(CalibrationCheck.device_id == fx.device_ids["KGW"])) == 0


@pytest.mark.parametrize("who", ["kagwe", "auditor"])
def test_calibration_form_refused_for_managers_and_auditors(db, who):
    Session, ids, fx, users = db
    errors, msg, ok = save_calibration(users[who], fx.device_ids["KGW"], _form(), Session, DEFAULT_TZ)
    assert not ok and "Only HQ and administrators" in msg
    with Session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(CalibrationCheck)
                        .where(CalibrationCheck.device_id == fx.device_ids["KGW"])) == 0


def test_node_quality_denied_for_another_factory(db):
    Session, ids, fx, users = db
    assert node_quality(users["mataara"], fx.device_ids["KGW"], Session, DEFAULT_TZ, NOW) == "You may not see this node."
    errors, msg, ok = save_calibration(users["mataara"], fx.device_ids["KGW"], _form(), Session, DEFAULT_TZ)
    assert not ok


def test_node_availability_30_days_and_no_check_badges(db):
    Session, ids, fx, users = db
    dev = fx.device_ids["MTR"]
    q = node_quality(users["hq"], dev, Session, DEFAULT_TZ, NOW)
    # Independent count: the device has no assignment rows, so it counts for the whole 30-day window
    # (30 local days ending today, cut at NOW); valid hours are rollup hours with ≥ 2,700 s covered.
    lo = datetime(2026, 10, 30, 0, 0, tzinfo=DEFAULT_TZ).astimezone(UTC)
    with Session() as s:
        valid = s.scalar(sa.select(sa.func.count()).select_from(DeviceHourly).where(
            DeviceHourly.device_id == dev, DeviceHourly.hour >= lo, DeviceHourly.hour < NOW,
            DeviceHourly.covered_s >= 2700))
    assigned_h = (NOW - lo).total_seconds() / 3600
    assert q.availability.assigned_hours == pytest.approx(assigned_h)
    assert q.availability.valid_hours == valid
    top, table, assignments = render_quality(q, DEFAULT_TZ)
    assert f"{valid / assigned_h * 100:.1f} %" in dump(top)
    assert "No calibration check recorded" in dump(top) and "Calibration overdue" in dump(top)


def test_nodes_table_availability_and_calibration_columns(db):
    Session, ids, fx, users = db
    nodes, listeners = nodes_data(users["hq"], Session, DEFAULT_TZ, NOW)
    summary, grid, _ = render_nodes(nodes, listeners, False, DEFAULT_TZ)
    headers = [c["headerName"] for c in node_columns()]
    assert "Data availability 30 d (%)" in headers and "Calibration" in headers
    by_id = {n.device_id: n for n in nodes}
    rows = {r["node"]: r for r in grid.rows}
    for dev in fx.device_ids.values():
        n = by_id[dev]
        assert rows[dev]["availability_hours"] == f"{n.valid_hours_30d:,.0f} of {n.assigned_hours_30d:,.0f} h"
        assert rows[dev]["availability_30d_pct"] == pytest.approx(n.availability_30d * 100, abs=0.05)
    # CHG's node failed its newest check (first test) -> "out of control" in words; the others never checked.
    with Session() as s:
        failed = set(s.scalars(sa.select(CalibrationCheck.device_id).where(CalibrationCheck.passed.is_(False))))
    assert {d for d, r in rows.items() if r["calibration"].startswith("out of control")} == failed
    assert all(r["calibration__tone"] == "failed" for d, r in rows.items() if d in failed)
    assert {d for d, r in rows.items() if r["calibration"] == "overdue: never checked"} == set(rows) - failed
    assert f"{len(failed)} out of control" in dump(summary)


def _stack_of(Session, fid):  # noqa: N803
    with Session() as s:
        return s.scalar(sa.select(Stack.id).where(Stack.factory_id == fid))


def test_admin_registers_moves_replaces_and_retires_with_times_and_reasons(db):
    Session, ids, fx, users = db
    kgw, mtr = _stack_of(Session, ids["KGW"]), _stack_of(Session, ids["MTR"])
    msg = register_node(users["admin"], {"device-id": "KGW-S5", "device-stack": kgw, "device-interval": 30,
                                         "device-commissioned": "2026-11-20 08:00", "device-reason": "second boiler"},
                        Session, DEFAULT_TZ)
    assert "Registered node KGW-S5" in msg and "2026-11-20 08:00 EAT" in msg
    msg = lifecycle_change(users["admin"], {"device-pick": "KGW-S5", "lifecycle-action": "move",
                                            "lifecycle-stack": mtr, "lifecycle-at": "2026-11-22 08:00",
                                            "lifecycle-reason": "moved to Mataara"}, Session, DEFAULT_TZ)
    assert "moved to MTR" in msg and "2026-11-22 08:00 EAT" in msg
    msg = lifecycle_change(users["admin"], {"device-pick": "KGW-S5", "lifecycle-action": "replace",
                                            "lifecycle-new-id": "MTR-S6", "lifecycle-at": "2026-11-25 08:00",
                                            "lifecycle-reason": "NDIR failed"}, Session, DEFAULT_TZ)
    assert "replaced by MTR-S6" in msg
    msg = lifecycle_change(users["admin"], {"device-pick": "MTR-S6", "lifecycle-action": "retire",
                                            "lifecycle-at": "2026-11-27 08:00", "lifecycle-reason": "season over"},
                           Session, DEFAULT_TZ)
    assert "retired" in msg and "2026-11-27 08:00 EAT" in msg
    eat = DEFAULT_TZ
    with Session() as s:
        rows = s.execute(sa.select(DeviceAssignment.device_id, DeviceAssignment.stack_id,
                                   DeviceAssignment.commissioned_at, DeviceAssignment.retired_at,
                                   DeviceAssignment.commission_reason, DeviceAssignment.retire_reason)
                         .where(DeviceAssignment.device_id.in_(["KGW-S5", "MTR-S6"]))
                         .order_by(DeviceAssignment.commissioned_at)).all()
        audits = s.scalar(sa.select(sa.func.count()).select_from(AuditLog).where(
            AuditLog.entity == "device", AuditLog.entity_id.in_(["KGW-S5", "MTR-S6"])))
    t = [datetime(2026, 11, d, 8, 0, tzinfo=eat).astimezone(UTC) for d in (20, 22, 25, 27)]
    got = [(d, st, c.replace(tzinfo=UTC) if c.tzinfo is None else c, r if r is None or r.tzinfo else r.replace(tzinfo=UTC),
            cr, rr) for d, st, c, r, cr, rr in rows]
    assert got == [("KGW-S5", kgw, t[0], t[1], "second boiler", "moved to Mataara"),
                   ("KGW-S5", mtr, t[1], t[2], "moved to Mataara", "NDIR failed"),
                   ("MTR-S6", mtr, t[2], t[3], "NDIR failed", "season over")]
    assert audits == 5  # create, move, retire (replaced), create (replacement), retire
    # The node page shows the history, newest first, with who and why.
    q = node_quality(users["hq"], "KGW-S5", Session, DEFAULT_TZ, NOW)
    hist = dump(render_quality(q, DEFAULT_TZ)[2])
    assert hist.index("NDIR failed") < hist.index("second boiler") and "admin" in hist


@pytest.mark.parametrize(("form", "values", "field"), [
    ("register", {"device-id": "bad/id"}, "device-id"),
    ("register", {"device-id": "KGW-S1"}, "device-id"),  # exists already
    ("register", {"device-id": "KGW-S8", "device-interval": 0}, "device-interval"),
    ("register", {"device-id": "KGW-S8", "device-commissioned": "2099-01-01 00:00"}, "device-commissioned"),
    ("register", {"device-id": "KGW-S8", "device-commissioned": "next week"}, "device-commissioned"),
    ("register", {"device-id": "KGW-S8", "device-reason": "x" * 300}, "device-reason"),
    ("register", {"device-id": "KGW-S8", "device-stack": None}, "device-stack"),
    ("lifecycle", {"device-pick": None, "lifecycle-action": "retire"}, "device-pick"),
    ("lifecycle", {"device-pick": "KGW-S1", "lifecycle-action": "explode"}, "lifecycle-action"),
    ("lifecycle", {"device-pick": "KGW-S1", "lifecycle-action": "move"}, "lifecycle-stack"),
    ("lifecycle", {"device-pick": "KGW-S1", "lifecycle-action": "replace", "lifecycle-new-id": "MTR-S1"},
     "lifecycle-new-id"),
    ("lifecycle", {"device-pick": "KGW-S1", "lifecycle-action": "retire", "lifecycle-at": "2099-01-01 00:00"},
     "lifecycle-at"),
])
def test_admin_node_forms_refuse_next_to_the_field(db, form, values, field):
    Session, ids, fx, users = db
    if form == "register" and "device-stack" not in values:
        values = {**values, "device-stack": _stack_of(Session, ids["KGW"])}
    fn = register_node if form == "register" else lifecycle_change
    with Session() as s:
        before = s.execute(sa.select(Device.id, Device.active, Device.stack_id).order_by(Device.id)).all()
        n_assign = s.scalar(sa.select(sa.func.count()).select_from(DeviceAssignment))
    with pytest.raises(AdminError) as exc:
        fn(users["admin"], values, Session, DEFAULT_TZ)
    assert field_for(form, str(exc.value)) == field
    with Session() as s:
        assert s.execute(sa.select(Device.id, Device.active, Device.stack_id).order_by(Device.id)).all() == before
        assert s.scalar(sa.select(sa.func.count()).select_from(DeviceAssignment)) == n_assign


@pytest.mark.parametrize("who", ["hq", "auditor", "kagwe"])
def test_admin_node_forms_are_admin_only(db, who):
    Session, ids, fx, users = db
    with pytest.raises(AccessDenied):
        register_node(users[who], {"device-id": "KGW-S9", "device-stack": _stack_of(Session, ids["KGW"])}, Session)
    with pytest.raises(AccessDenied):
        lifecycle_change(users[who], {"device-pick": "KGW-S1", "lifecycle-action": "retire"}, Session)
    with Session() as s:
        assert s.get(Device, "KGW-S9") is None and s.get(Device, "KGW-S1").active


def test_history_shows_the_ranges_data_availability_beside_coverage(db):
    Session, ids, fx, users = db
    fid = ids["CHG"]  # never moved or replaced in this module (the admin test moves nodes onto KGW and MTR)
    data = history_data(users["hq"], fid, "2026-11-01", "2026-11-28", Session, DEFAULT_TZ, NOW)
    # Independent: CHG's node has no assignment rows (counts for all time): assigned hours = the range up to NOW.
    lo = datetime(2026, 11, 1, tzinfo=DEFAULT_TZ).astimezone(UTC)
    with Session() as s:
        valid = s.scalar(sa.select(sa.func.count()).select_from(DeviceHourly).where(
            DeviceHourly.factory_id == fid, DeviceHourly.hour >= lo, DeviceHourly.hour < NOW,
            DeviceHourly.covered_s >= 2700))
    assigned = (NOW - lo).total_seconds() / 3600
    a = data["availability"]
    assert 0 < valid < assigned
    assert (a.valid_hours, a.assigned_hours) == (valid, pytest.approx(assigned))
    kpis = dump(render_history(data)[0])
    assert "Data availability (40 CFR 75.32)" in kpis and f"{valid / assigned * 100:.1f} %" in kpis
    assert f"{valid:,} valid of {assigned:,.0f} assigned node-hours" in kpis


def test_availability_alert_counts_a_new_node_only_since_its_commissioning(Session):  # noqa: N803
    from ingest_helpers import seed_fleet

    from core.accounts.users import create_user
    from core.alerts.rules import data_availability
    from core.registry.admin import add_device

    (node,) = seed_fleet(Session, n_factories=1, prefix="AV")
    now = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
    hour = now.replace(minute=0)
    with Session() as s, time_machine.travel(now, tick=False):
        admin = create_user(s, "av-admin", "av-admin-pass-1", "admin")
        s.flush()
        stack_id = s.get(Device, node.device_id).stack_id
        add_device(s, admin, "AV-S2", stack_id, 60.0, commissioned_at=hour - timedelta(hours=2))
        for d, hours in ((node.device_id, 24), ("AV-S2", 2)):
            s.get(Device, d).last_seen_at = now - timedelta(seconds=30)
            for h in range(1, hours + 1):
                s.add(DeviceHourly(device_id=d, factory_id=node.factory_id, hour=hour - timedelta(hours=h),
                                   covered_s=3600.0, n_readings=60, n_valid=60))
        s.commit()
        # Counting both nodes for 24 h would give 26 of 48 h (54 %, an alert); assigned: 26 of 26 h.
        assert data_availability(s, now, DEFAULT_TZ) == []
        # The new node silent: 24 of 26 h = 92 %, below a factory threshold of 95 %.
        s.query(DeviceHourly).filter(DeviceHourly.device_id == "AV-S2").delete()
        s.add(FactoryAlertSetting(factory_id=node.factory_id, availability_min=0.95))
        s.commit()
        (cond,) = data_availability(s, now, DEFAULT_TZ)
    assert cond.rule == "data_availability" and "92%" in cond.title and "24 valid of 26 node-hours" in cond.detail

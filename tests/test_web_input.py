"""Hostile input to every callback and form (issue 16, findings 1-3): refused, never a 500, nothing stored.

The callbacks are discovered from the app's callback map, not listed by hand: each input and state
of each callback gets each crafted value in turn (lists, objects, huge integers, NaN, 1e308, long
text, odd characters) while the others stay empty, sent as raw /_dash-update-component POSTs the
way an attacker would. Then the dashboards must still render.
"""

from __future__ import annotations

import json
import math

import pytest
import sqlalchemy as sa
from web_helpers import NOW, client_as, make_web_db, module_web_app, post_callback, web_config

import core.accounts.auth as auth
from app import create_app
from core.models import (
    AuditLog,
    Device,
    EmissionFactor,
    EnergyEntry,
    Factory,
    MonthlySubmission,
    Stack,
    User,
)

HOSTILE = [[1, 2], {"a": 1}, 10**30, -(10**30), "nan", float("nan"), "inf", "1e308", 1e308, "x" * 3000, "²",
           True, -1, "0001-01", "1900-01", "../../etc", ""]
SOURCES_FOR_PATTERNS = ("firewood", "diesel")


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    yield from module_web_app(tmp_path_factory, "input")


@pytest.fixture(autouse=True)
def _no_delay(monkeypatch):
    monkeypatch.setattr(auth, "FAILURE_DELAY_S", 0.0)
    auth.IP_THROTTLE.reset()


def fingerprint(Session) -> dict:
    """Everything a write could change, except the audit log (sign-ins are audited)."""
    with Session() as s:
        def rows(model, *cols):
            return sorted(tuple(repr(getattr(r, c)) for c in cols) for r in s.scalars(sa.select(model)))
        return {
            "factors": rows(EmissionFactor, "code", "version", "ncv_mj_per_kg", "co2_kg_per_tj", "year", "label"),
            "users": rows(User, "username", "role", "factory_id", "active", "password_hash"),
            "factories": rows(Factory, "code", "target_kg_co2e_per_kg", "firewood_density_kg_m3", "name"),
            "stacks": rows(Stack, "id", "diameter_m", "moisture_fraction", "velocity_profile_factor", "dry_basis"),
            "devices": rows(Device, "id", "active", "sample_interval_s"),
            "months": rows(MonthlySubmission, "factory_id", "month", "status", "note", "made_tea_kg"),
            "entries": rows(EnergyEntry, "submission_id", "source", "quantity", "unit"),
        }


def _is_pattern(cid: str) -> bool:
    return cid.startswith("{")


def _concrete_ids(cid: str) -> list[dict]:
    pattern = json.loads(cid)
    out = []
    for src in SOURCES_FOR_PATTERNS:
        out.append({k: (src if isinstance(v, list) else v) for k, v in pattern.items()})
    return out


def _arg(spec: dict, value) -> dict | list:  # noqa: ANN001
    if _is_pattern(spec["id"]):
        return [{"id": i, "property": spec["property"], "value": value} for i in _concrete_ids(spec["id"])]
    return {"id": spec["id"], "property": spec["property"], "value": value}


def _outputs(key: str, cb: dict) -> list | dict:
    outs = []
    multi = key.startswith("..")
    for o in key.strip(".").split("...") if multi else [key]:
        cid, prop = o.rsplit(".", 1)
        if _is_pattern(cid):
            outs.append([{"id": i, "property": prop} for i in _concrete_ids(cid)])
        else:
            outs.append({"id": cid, "property": prop})
    return outs if multi else outs[0]


def crafted_requests(app):
    """Yield (callback key, body) for every callback, every argument, every hostile value."""
    for key, cb in app.callback_map.items():
        if "callback" not in cb or cb.get("background") or cb.get("long"):
            continue  # report generation runs in the background runner (see test_reports_page)
        specs = list(cb["inputs"]) + list(cb["state"])
        n_in = len(cb["inputs"])
        for pos, _spec in enumerate(specs):
            for value in HOSTILE:
                args = [_arg(sp, value if i == pos else None) for i, sp in enumerate(specs)]
                trigger = specs[pos] if pos < n_in else specs[0]
                changed = (f"{json.dumps(_concrete_ids(trigger['id'])[0], separators=(',', ':'), sort_keys=True)}"
                           if _is_pattern(trigger["id"]) else trigger["id"]) + f".{trigger['property']}"
                yield key, {"output": key, "outputs": _outputs(key, cb), "inputs": args[:n_in],
                            "state": args[n_in:], "changedPropIds": [changed]}


@pytest.mark.parametrize("username", ["admin", "kagwe"])
def test_input001_every_callback_survives_hostile_values(web, username):
    app, Session, _ = web
    client = client_as(app, username)
    before = fingerprint(Session)
    failures = []
    n = 0
    for key, body in crafted_requests(app):
        n += 1
        resp = client.post("/_dash-update-component", data=json.dumps(body, allow_nan=True),
                           content_type="application/json")
        if resp.status_code >= 500:
            failures.append((key, body["inputs"], body["state"], resp.status_code))
    for f in failures:
        print("FAIL", repr(f)[:600])
    assert n > 500  # every callback, every argument
    assert not failures, f"{len(failures)} of {n} crafted requests gave a server error; first: {failures[0]!r:.1500}"
    assert fingerprint(Session) == before


# --- One test per finding (issue 16, findings 1-3), as the user or attacker sent it ---

ADMIN_STATES = ("admin-user-new-name", "admin-user-new-full", "admin-user-new-role", "admin-user-new-factory",
                "admin-user-new-password", "admin-user-pick", "admin-user-role", "admin-user-factory",
                "admin-user-active", "admin-user-password", "admin-factory-pick", "admin-factory-target",
                "admin-factory-density", "admin-stack-pick", "admin-stack-diameter", "admin-stack-moisture",
                "admin-stack-profile", "admin-stack-dry", "admin-factor-code", "admin-factor-field",
                "admin-factor-value")


def admin_post(client, app, button: str, **values):
    """Press an admin button with the given form values (ids without the "admin-" prefix)."""
    key = next(k for k in app.callback_map if "admin-user-result." in k)
    cb = app.callback_map[key]
    inputs = [{"id": i["id"], "property": "n_clicks", "value": 1 if i["id"] == button else None} for i in cb["inputs"]]
    state = [{"id": sid, "property": "value", "value": values.get(sid.removeprefix("admin-"))} for sid in ADMIN_STATES]
    state.append({"id": "admin-changed", "property": "data", "value": 0})
    state += [{"id": f"admin-{what}-version", "property": "data", "value": values.get(f"{what}_version")}
              for what in ("factory", "stack", "user")]
    body = {"output": key, "outputs": _outputs(key, cb), "inputs": inputs, "state": state,
            "changedPropIds": [f"{button}.n_clicks"]}
    resp = client.post("/_dash-update-component", json=body)
    assert resp.status_code == 200, resp.status_code
    return json.dumps(resp.get_json(), ensure_ascii=False)


def node_post(client, app, button: str, **values):
    """Press a node button of the admin page (callbacks/admin_nodes.py) with the given form values."""
    key = next(k for k in app.callback_map if "admin-node-result." in k)
    cb = app.callback_map[key]
    inputs = [{"id": i["id"], "property": "n_clicks", "value": 1 if i["id"] == button else None} for i in cb["inputs"]]
    state = [{"id": st["id"], "property": st["property"],
              "value": 0 if st["id"] == "admin-changed" else values.get(st["id"].removeprefix("admin-"))}
             for st in cb["state"]]
    body = {"output": key, "outputs": _outputs(key, cb), "inputs": inputs, "state": state,
            "changedPropIds": [f"{button}.n_clicks"]}
    resp = client.post("/_dash-update-component", json=body)
    assert resp.status_code == 200, resp.status_code
    return json.dumps(resp.get_json(), ensure_ascii=False)


def dashboards_render(client, app, fid) -> None:
    """Overview, leaderboard and history answer 200 with figures (not a 500)."""
    for output, inputs in (
        ("hq-overview-kpis", [{"id": "hq-overview-interval", "property": "n_intervals", "value": 0},
                              {"id": "hq-overview-from", "property": "value", "value": None},
                              {"id": "hq-overview-to", "property": "value", "value": None}]),
        ("hq-leaderboard-table", [{"id": "hq-leaderboard-metric", "property": "value", "value": "intensity"},
                                  {"id": "hq-leaderboard-period", "property": "value", "value": "last_12"},
                                  {"id": "hq-leaderboard-region", "property": "value", "value": None},
                                  {"id": "hq-leaderboard-from", "property": "value", "value": None},
                                  {"id": "hq-leaderboard-to", "property": "value", "value": None}]),
        ("factory-history-kpis", [{"id": "factory-history-factory", "property": "value", "value": fid},
                                  {"id": "factory-history-range", "property": "start_date", "value": "2026-06-01"},
                                  {"id": "factory-history-range", "property": "end_date", "value": "2026-11-28"}]),
    ):
        resp = post_callback(client, app, output, inputs)
        assert resp.status_code == 200, (output, resp.status_code)
        assert "nan" not in json.dumps(resp.get_json()).lower().replace("nanyuki", ""), output


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "1e308", "-1"])
def test_finding1_nan_factor_refused_and_dashboards_still_work(web, value):
    app, Session, fx = web
    client = client_as(app, "admin")
    before = fingerprint(Session)
    shown = admin_post(client, app, "admin-factor-add", **{"factor-code": "diesel", "factor-field": "co2_kg_per_tj",
                                                           "factor-value": value})
    assert "admin-factor-error" in shown and "Added" not in shown
    assert fingerprint(Session) == before
    dashboards_render(client, app, fx.factory_ids["KGW"])


def test_finding1_factor_year_10_to_23_refused(web):
    app, Session, _ = web
    client = client_as(app, "admin")
    before = fingerprint(Session)
    shown = admin_post(client, app, "admin-factor-add", **{"factor-code": "diesel", "factor-field": "year",
                                                           "factor-value": "1" + "0" * 23})
    assert "year: the number is too large; must be from 1990 to 2100" in shown
    assert fingerprint(Session) == before


def test_finding1_nan_already_stored_does_not_break_dashboards_or_reports(tmp_path):
    from core.config import Config
    from core.inventory.factors import latest_factors, load_factor_set
    from core.reporting.reports import generate_reports

    engine, Session, fx, url = make_web_db(tmp_path / "nan.db")
    with Session() as s:  # as a version written before input was validated
        v1 = latest_factors(s)["diesel"]
        s.add(EmissionFactor(code="diesel", version=2, kind="fuel", label=v1.label, ncv_mj_per_kg=float("nan"),
                             co2_kg_per_tj=float("inf"), ch4_kg_per_tj=3, n2o_kg_per_tj=0.6, biomass_fraction=0,
                             density_kg_per_l=0.844, source="x", table_ref="x", year=2006, citation="x", created_by="admin"))
        s.commit()
        fs = load_factor_set(s)
        assert fs.versions["diesel"] == 1 and fs.fuels["diesel"].co2_kg_per_tj == 74_100
    app = create_app(web_config(url, tmp_path), Session)
    client = client_as(app, "admin")
    dashboards_render(client, app, fx.factory_ids["KGW"])
    cfg = Config(database_url=url, secret_key="k" * 40, data_dir=tmp_path / "data", embedded=True)
    result = generate_reports(Session, cfg, __import__("datetime").date(2026, 10, 1), factory_codes=["KGW"],
                              network=False, now=NOW)
    assert result.ok and result.reports
    # The next version an admin adds follows the bad one (versions are never reused).
    with Session() as s:
        from core.inventory.factors import add_factor_version
        assert add_factor_version(s, "diesel", "admin", year=2019).version == 3
    engine.dispose()


@pytest.mark.parametrize("field,value,message", [
    ("factory-target", -1, "Target: must be above 0"),
    ("factory-density", 5000, "Firewood density: must be from 150 to 1,000 kg/m³"),
    ("factory-target", "nan", "not a number"),
    ("factory-density", "1e308", "too large"),
])
def test_finding2_factory_form_refuses_and_does_not_say_saved(web, field, value, message):
    app, Session, fx = web
    client = client_as(app, "admin")
    before = fingerprint(Session)
    shown = admin_post(client, app, "admin-factory-save", **{"factory-pick": fx.factory_ids["KGW"], field: value})
    assert message in shown and "Saved" not in shown
    assert fingerprint(Session) == before


def test_finding2_saved_shows_the_stored_value(web):
    app, Session, fx = web
    client = client_as(app, "admin")
    shown = admin_post(client, app, "admin-factory-save", **{"factory-pick": fx.factory_ids["CHG"],
                                                             "factory-target": "1.55"})
    assert "Saved CHG: target 1.55 kg CO2e/kg made tea" in shown
    with Session() as s:
        assert s.get(Factory, fx.factory_ids["CHG"]).target_kg_co2e_per_kg == 1.55


def test_finding2_sample_interval_zero_refused_not_60(web):
    app, Session, fx = web
    client = client_as(app, "admin")
    with Session() as s:
        stack_id = s.scalar(sa.select(Stack.id).where(Stack.factory_id == fx.factory_ids["KGW"]))
    shown = node_post(client, app, "admin-device-add", **{"device-id": "KGW-S7", "device-stack": stack_id,
                                                           "device-interval": 0})
    assert "Sample interval: must be from 1 to 3,600 s" in shown and "Registered" not in shown
    with Session() as s:
        assert s.get(Device, "KGW-S7") is None


def test_finding2_username_with_space_refused_and_password_cleared(web):
    app, Session, _ = web
    client = client_as(app, "admin")
    shown = admin_post(client, app, "admin-user-create", **{"user-new-name": "new user", "user-new-role": "hq",
                                                            "user-new-password": "password-123"})
    assert "Username: 2–40 letters" in shown and "Created" not in shown
    resp = json.loads(admin_post(client, app, "admin-user-create", **{
        "user-new-name": "new.user", "user-new-role": "hq", "user-new-password": "password-123"}))
    assert "Created new.user (hq)" in json.dumps(resp)
    assert resp["response"]["admin-user-new-password"]["value"] == ""
    with Session() as s:
        assert s.scalar(sa.select(User).where(User.username == "new.user")).role == "hq"


def test_finding2_admin_forms_show_current_values(web):
    app, Session, fx = web
    client = client_as(app, "admin")
    resp = post_callback(client, app, "admin-factory-target", [
        {"id": "admin-factory-pick", "property": "value", "value": fx.factory_ids["MTR"]},
        {"id": "admin-changed", "property": "data", "value": 0}])
    out = resp.get_json()["response"]
    # build_small_db: MTR target 1.4, density 367 (tests/web_helpers.py)
    assert out["admin-factory-target"]["value"] == 1.4 and out["admin-factory-density"]["value"] == 367.0
    resp = post_callback(client, app, "admin-stack-diameter", [
        {"id": "admin-stack-pick", "property": "value", "value": 1},
        {"id": "admin-changed", "property": "data", "value": 0}])
    assert resp.get_json()["response"]["admin-stack-diameter"]["value"] > 0
    # A factory manager crafting the same request learns nothing.
    resp = post_callback(client_as(app, "kagwe"), app, "admin-factory-target", [
        {"id": "admin-factory-pick", "property": "value", "value": fx.factory_ids["MTR"]},
        {"id": "admin-changed", "property": "data", "value": 0}])
    assert "1.4" not in json.dumps(resp.get_json())


def test_finding3_crafted_types_are_not_500(web):
    app, _, fx = web
    client = client_as(app, "admin")
    cases = [
        ("hq-leaderboard-table", [{"id": "hq-leaderboard-metric", "property": "value", "value": "intensity"},
                                  {"id": "hq-leaderboard-period", "property": "value", "value": "last_12"},
                                  {"id": "hq-leaderboard-region", "property": "value", "value": 10**30},
                                  {"id": "hq-leaderboard-from", "property": "value", "value": ["2026-01"]},
                                  {"id": "hq-leaderboard-to", "property": "value", "value": 10**30}]),
        ("audit-table", [{"id": "audit-action", "property": "value", "value": None},
                         {"id": "audit-search", "property": "value", "value": ["a", "b"]}]),
        ("factory-history-kpis", [{"id": "factory-history-factory", "property": "value", "value": fx.factory_ids["KGW"]},
                                  {"id": "factory-history-range", "property": "start_date", "value": None},
                                  {"id": "factory-history-range", "property": "end_date", "value": 20261128}]),
    ]
    for output, inputs in cases:
        assert post_callback(client, app, output, inputs).status_code == 200, output
    assert client.get("/factory/live?factory=%C2%B2").status_code == 200
    # A body that is not a callback request at all: refused, not parsed into a 500.
    for body in ([1, 2], {"output": "nope.children", "inputs": []}, {"output": ["x"]}, "text"):
        assert client.post("/_dash-update-component", json=body).status_code == 400


def test_finding3_request_size_limit(web):
    app, _, _ = web
    client = client_as(app, "admin")
    big = b'{"output": "audit-table.children", "inputs": [], "pad": "' + b"x" * (20 * 1024 * 1024) + b'"}'
    resp = client.post("/_dash-update-component", data=big, content_type="application/json")
    assert resp.status_code == 413


def _entry_body(app, button, fid, month, note=None, qty=None, units=None):
    sources = ["firewood", "briquettes", "charcoal", "diesel", "furnace_oil", "lpg", "grid_electricity",
               "own_hydro", "own_solar"]
    qty = qty or {}
    units = units or {}
    buttons = ["factory-entry-save", "factory-entry-submit-go", "factory-entry-approve", "factory-entry-reopen",
               "factory-entry-confirm"]
    key = next(k for k in app.callback_map if "factory-entry-result." in k)
    state = [
        {"id": "factory-entry-factory", "property": "value", "value": fid},
        {"id": "factory-entry-month", "property": "value", "value": month},
        [{"id": {"type": "factory-entry-qty", "source": s}, "property": "value", "value": qty.get(s)} for s in sources],
        [{"id": {"type": "factory-entry-unit", "source": s}, "property": "value", "value": units.get(s)}
         for s in sources],
        *[{"id": f"factory-entry-{n}", "property": "value", "value": None}
          for n in ("moisture", "density", "green-leaf", "made-tea")],
        {"id": "factory-entry-note", "property": "value", "value": note},
        {"id": "factory-entry-reopen-reason", "property": "value", "value": None},
        {"id": "factory-entry-saved", "property": "data", "value": 0},
        {"id": "factory-entry-version", "property": "data", "value": None},
    ]
    from web_helpers import _outputs as outs

    return {"output": key, "outputs": outs(key), "state": state, "changedPropIds": [f"{button}.n_clicks"],
            "inputs": [{"id": b, "property": {"factory-entry-submit-go": "data",
                                              "factory-entry-confirm": "submit_n_clicks"}.get(b, "n_clicks"),
                        "value": 1 if b == button else None} for b in buttons]}


@pytest.mark.parametrize("month,note,qty", [
    ("0001-01", None, {"diesel": 10}),
    ("1900-01", None, {"diesel": 10}),
    ("2026-11", "x" * 200_000, {"diesel": 10}),
    ("2026-11", {"a": 1}, {"diesel": 10}),
    ("2026-11", "bell\x07", {"diesel": 10}),
    ("2026-11", None, {"diesel": [1]}),
    ("2026-11", None, {"firewood": 99_999_999_999}),
])
def test_finding3_entry_refuses_bad_months_notes_and_quantities(web, month, note, qty):
    app, Session, fx = web
    client = client_as(app, "kagwe")
    before = fingerprint(Session)
    n_audit = _audit_count(Session)
    resp = client.post("/_dash-update-component", json=_entry_body(app, "factory-entry-save", fx.factory_ids["KGW"],
                                                                   month, note, qty, {"firewood": "kg"}))
    assert resp.status_code == 200
    shown = json.dumps(resp.get_json())
    assert "Draft saved" not in shown and ("factory-entry-refused" in shown or "Pick a factory and a month" in shown)
    assert fingerprint(Session) == before
    assert _audit_count(Session) == n_audit  # nothing (not even a 200,000-character note) copied to the audit log


def test_finding3_unknown_source_id_is_ignored(web):
    app, Session, fx = web
    client = client_as(app, "kagwe")
    body = _entry_body(app, "factory-entry-save", fx.factory_ids["KGW"], "2026-11", None, {"diesel": 10})
    body["state"][2].append({"id": {"type": "factory-entry-qty", "source": "plutonium"}, "property": "value",
                             "value": 5})
    resp = client.post("/_dash-update-component", json=body)
    assert resp.status_code in (200, 400)


def _audit_count(Session) -> int:
    with Session() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(AuditLog))


def test_nan_in_callbacks_is_not_in_any_response():
    assert math.isnan(float("nan"))  # HOSTILE carries real NaN floats; json.dumps(allow_nan) sends them


def test_input002_bodies_with_too_few_or_too_many_arguments_are_refused_not_500(web):
    """Every callback: a body with one input or state missing (or one extra) is a 400, never a 500."""
    app, Session, _ = web
    client = client_as(app, "admin")
    seen, failures = set(), []
    for key, body in crafted_requests(app):
        if key in seen:
            continue
        seen.add(key)
        for name in ("inputs", "state"):
            for args in (body[name][:-1], [*body[name], {"id": "x", "property": "value", "value": None}]):
                if args == body[name]:
                    continue  # nothing to drop
                resp = client.post("/_dash-update-component", json={**body, name: args})
                if resp.status_code != 400:
                    failures.append((key, name, len(args), resp.status_code))
    assert len(seen) >= 30  # every server-side callback of the app (39 when written)
    assert not failures, f"{len(failures)} malformed bodies not refused; first: {failures[:3]}"

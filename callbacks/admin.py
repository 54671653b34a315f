"""Admin callbacks: tables for admins and auditors; every write goes through core.registry.admin (admins only)."""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
import sqlalchemy as sa
from dash import Input, Output, State, ctx, html

from callbacks.common import app_tz, fmt_eat, fmt_num, web_user
from callbacks.common import session_factory as app_session_factory
from core.access import AccessDenied
from core.models import Device, Factory, Stack
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
from core.timeutil import DEFAULT_TZ

ACTIONS = {
    "admin-user-create": ("user", "create_user"),
    "admin-user-save": ("user", "update_user"),
    "admin-factory-save": ("factory", "factory"),
    "admin-stack-save": ("stack", "stack"),
    "admin-device-add": ("stack", "add_device"),
    "admin-device-toggle": ("stack", "toggle_device"),
    "admin-factor-add": ("factor", "factor"),
}


def _table(head: tuple[str, ...], rows: list[list], table_id: str) -> dbc.Table:
    return dbc.Table([html.Thead(html.Tr([html.Th(h) for h in head])),
                      html.Tbody([html.Tr([html.Td(c) for c in r]) for r in rows])],
                     size="sm", striped=True, responsive=True, id=table_id)


def admin_tables(user, session_factory, tz: Any = DEFAULT_TZ) -> dict | None:  # noqa: ANN001
    """Return tables and dropdown options for the admin page; None for roles that may not read it."""
    if user is None or user.role not in ("admin", "auditor"):
        return None
    try:
        with session_factory() as s:
            users = list_users(s, user)
            factors = factor_versions(s, user)
            factories = list(s.scalars(sa.select(Factory).order_by(Factory.code)))
            stacks = s.execute(sa.select(Stack, Factory.code).join(Factory).order_by(Factory.code, Stack.id)).all()
            devices = list(s.scalars(sa.select(Device).order_by(Device.id)))
    except AccessDenied:
        return None
    code_by_id = {f.id: f.code for f in factories}
    fopts = [{"label": f"{f.name} ({f.code})", "value": f.id} for f in factories]
    sopts = [{"label": f"{code} · {st.name} (#{st.id})", "value": st.id} for st, code in stacks]
    return {
        "users": _table(("Username", "Name", "Role", "Factory", "Active", "Last sign-in (EAT)", "Locked until"),
                        [[u.username, u.full_name or "", u.role, code_by_id.get(u.factory_id, ""),
                          "yes" if u.active else "no", fmt_eat(u.last_login_at, tz),
                          fmt_eat(u.locked_until, tz) if u.locked_until else ""] for u in users], "admin-user-grid"),
        "factories": _table(("Code", "Name", "Region", "County", "Target (kg CO2e/kg)", "Firewood density (kg/m³)"),
                            [[f.code, f.name, f.region, f.county, fmt_num(f.target_kg_co2e_per_kg, "", 2),
                              fmt_num(f.firewood_density_kg_m3)] for f in factories], "admin-factory-grid"),
        "stacks": _table(("Factory", "Stack", "Diameter (m)", "Flue moisture", "Profile factor", "Basis", "Nodes"),
                         [[code, f"{st.name} (#{st.id})", fmt_num(st.diameter_m, "m", 2),
                           fmt_num(st.moisture_fraction, "", 2), fmt_num(st.velocity_profile_factor, "", 2),
                           "dry" if st.dry_basis else "wet",
                           ", ".join(d.id + ("" if d.active else " (retired)") for d in devices if d.stack_id == st.id)]
                          for st, code in stacks], "admin-stack-grid"),
        "factors": _table(("Code", "Version", "Label", "NCV (MJ/kg)", "CO2 (kg/TJ)", "CH4 (kg/TJ)", "N2O (kg/TJ)",
                           "Biomass share", "Grid (kg CO2/kWh)", "Source", "Year", "Added (EAT)", "By"),
                          [[f.code, f.version, f.label, fmt_num(f.ncv_mj_per_kg, "", 2), fmt_num(f.co2_kg_per_tj),
                            fmt_num(f.ch4_kg_per_tj, "", 1), fmt_num(f.n2o_kg_per_tj, "", 2),
                            fmt_num(f.biomass_fraction, "", 2), fmt_num(f.kg_co2_per_kwh, "", 4), f.source, f.year,
                            fmt_eat(f.created_at, tz), f.created_by or ""] for f in factors], "admin-factor-grid"),
        "factory_options": fopts,
        "user_options": [{"label": f"{u.username} ({u.role})", "value": u.id} for u in users],
        "stack_options": sopts,
        "device_options": [{"label": d.id + ("" if d.active else " (retired)"), "value": d.id} for d in devices],
        "factor_options": sorted({f.code for f in factors}),
    }


def _float(v) -> float | None:  # noqa: ANN001
    if v in (None, ""):
        return None
    try:
        return float(v)
    except (TypeError, ValueError) as exc:
        raise AdminError(f"not a number: {v!r}") from exc


def admin_action(action: str, user, values: dict, session_factory) -> str:  # noqa: ANN001
    """Carry out one admin action; return what happened (raises AccessDenied or AdminError)."""
    with session_factory() as s:
        if action == "create_user":
            factory_code = None
            if values.get("new_factory") is not None:
                f = s.get(Factory, int(values["new_factory"]))
                factory_code = f.code if f else None
            row = admin_create_user(s, user, values.get("new_name") or "", values.get("new_password") or "",
                                    values.get("new_role") or "", factory_code, values.get("new_full") or None)
            msg = f"Created {row.username}."
        elif action == "update_user":
            if values.get("pick") is None:
                raise AdminError("pick a user")
            uid = int(values["pick"])
            active = {"yes": True, "no": False}.get(values.get("active"))
            fid = int(values["factory"]) if values.get("factory") is not None else None
            row = update_user(s, user, uid, values.get("role") or None, fid, active)
            if values.get("password"):
                reset_password(s, user, uid, values["password"])
            msg = f"Saved {row.username}."
        elif action == "factory":
            if values.get("factory_pick") is None:
                raise AdminError("pick a factory")
            f = set_factory_target(s, user, int(values["factory_pick"]), _float(values.get("target")),
                                   _float(values.get("density")))
            msg = f"Saved {f.code}."
        elif action == "stack":
            if values.get("stack_pick") is None:
                raise AdminError("pick a stack")
            dry = {"dry": True, "wet": False}.get(values.get("dry"))
            st = update_stack(s, user, int(values["stack_pick"]), diameter_m=_float(values.get("diameter")),
                              moisture_fraction=_float(values.get("moisture")),
                              velocity_profile_factor=_float(values.get("profile")), dry_basis=dry)
            msg = f"Saved stack #{st.id}; new readings use the new parameters."
        elif action == "add_device":
            if values.get("device_stack") is None:
                raise AdminError("pick the node's stack")
            d = add_device(s, user, values.get("device_id") or "", int(values["device_stack"]),
                           _float(values.get("device_interval")) or 60.0)
            msg = f"Registered node {d.id}."
        elif action == "toggle_device":
            if not values.get("device_pick"):
                raise AdminError("pick a node")
            d = s.get(Device, values["device_pick"])
            if d is None:
                raise AdminError("no such node")
            d = set_device_active(s, user, d.id, not d.active)
            msg = f"Node {d.id} is now {'active' if d.active else 'retired'}."
        elif action == "factor":
            if not values.get("factor_code") or not values.get("factor_field"):
                raise AdminError("pick a factor and a field")
            row = admin_add_factor_version(s, user, values["factor_code"],
                                           **{values["factor_field"]: values.get("factor_value")})
            msg = f"Added {row.code} version {row.version}."
        else:
            raise AdminError("unknown action")
        s.commit()
    return msg


def register(app: dash.Dash) -> None:
    """Attach the admin page's callbacks to `app`."""

    @app.callback(
        Output("admin-user-table", "children"), Output("admin-factory-table", "children"),
        Output("admin-stack-table", "children"), Output("admin-factor-table", "children"),
        Output("admin-user-new-factory", "options"), Output("admin-user-factory", "options"),
        Output("admin-user-pick", "options"), Output("admin-factory-pick", "options"),
        Output("admin-stack-pick", "options"), Output("admin-device-stack", "options"),
        Output("admin-device-pick", "options"), Output("admin-factor-code", "options"),
        Input("admin-changed", "data"),
    )
    def _tables(_changed):  # noqa: ANN001, ANN202
        data = admin_tables(web_user(), app_session_factory(), app_tz())
        if data is None:
            denied = dbc.Alert("Not allowed.", color="danger")
            return denied, denied, denied, denied, [], [], [], [], [], [], [], []
        return (data["users"], data["factories"], data["stacks"], data["factors"], data["factory_options"],
                data["factory_options"], data["user_options"], data["factory_options"], data["stack_options"],
                data["stack_options"], data["device_options"], data["factor_options"])

    @app.callback(
        Output("admin-user-result", "children"), Output("admin-factory-result", "children"),
        Output("admin-stack-result", "children"), Output("admin-factor-result", "children"),
        Output("admin-changed", "data"),
        *[Input(k, "n_clicks") for k in ACTIONS],
        State("admin-user-new-name", "value"), State("admin-user-new-full", "value"),
        State("admin-user-new-role", "value"), State("admin-user-new-factory", "value"),
        State("admin-user-new-password", "value"), State("admin-user-pick", "value"),
        State("admin-user-role", "value"), State("admin-user-factory", "value"),
        State("admin-user-active", "value"), State("admin-user-password", "value"),
        State("admin-factory-pick", "value"), State("admin-factory-target", "value"),
        State("admin-factory-density", "value"), State("admin-stack-pick", "value"),
        State("admin-stack-diameter", "value"), State("admin-stack-moisture", "value"),
        State("admin-stack-profile", "value"), State("admin-stack-dry", "value"),
        State("admin-device-id", "value"), State("admin-device-stack", "value"),
        State("admin-device-interval", "value"), State("admin-device-pick", "value"),
        State("admin-factor-code", "value"), State("admin-factor-field", "value"),
        State("admin-factor-value", "value"), State("admin-changed", "data"),
        prevent_initial_call=True,
    )
    def _act(*args):  # noqa: ANN002, ANN202
        names = ("new_name", "new_full", "new_role", "new_factory", "new_password", "pick", "role", "factory",
                 "active", "password", "factory_pick", "target", "density", "stack_pick", "diameter", "moisture",
                 "profile", "dry", "device_id", "device_stack", "device_interval", "device_pick", "factor_code",
                 "factor_field", "factor_value", "changed")
        values = dict(zip(names, args[len(ACTIONS):], strict=True))
        area, action = ACTIONS.get(ctx.triggered_id, (None, None))
        if action is None:
            return (dash.no_update,) * 5
        try:
            text = admin_action(action, web_user(), values, app_session_factory())
            msg = dbc.Alert(text, color="success", duration=6000, id=f"admin-{area}-ok")
            changed = (values["changed"] or 0) + 1
        except AccessDenied as exc:
            msg = dbc.Alert(f"Not allowed: {exc}.", color="danger", id=f"admin-{area}-denied")
            changed = dash.no_update
        except (AdminError, ValueError) as exc:
            msg = dbc.Alert(str(exc), color="danger", id=f"admin-{area}-error")
            changed = dash.no_update
        out = {"user": dash.no_update, "factory": dash.no_update, "stack": dash.no_update, "factor": dash.no_update}
        out[area] = msg
        return out["user"], out["factory"], out["stack"], out["factor"], changed

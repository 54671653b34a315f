"""Admin callbacks: data grids for admins and auditors; every write goes through core.registry.admin (admins only).

Node registration and lifecycle (move, replace, retire) are in callbacks/admin_nodes.py.
"""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
import sqlalchemy as sa
from dash import Input, Output, State, ctx

from callbacks.common import ROLE_LABELS, app_tz, fmt_eat, fmt_num, web_user
from callbacks.common import session_factory as app_session_factory
from callbacks.grid import data_grid, grid_controls, status_cell
from callbacks.i18n import N_, current_language, ngettext, tr_message
from callbacks.i18n import gettext as _
from core.access import AccessDenied
from core.models import Device, Factory, Stack, User
from core.registry.admin import (
    AdminError,
    admin_add_factor_version,
    admin_create_user,
    admin_end_sessions,
    factor_versions,
    list_users,
    reset_password,
    set_factory_target,
    update_stack,
    update_user,
)
from core.timeutil import DEFAULT_TZ
from core.validation import FieldError, optional_id, parse_number

ACTIONS = {
    "admin-user-create": ("user", "create_user"),
    "admin-user-save": ("user", "update_user"),
    "admin-factory-save": ("factory", "factory"),
    "admin-stack-save": ("stack", "stack"),
    "admin-factor-add": ("factor", "factor"),
    "admin-user-signout": ("user", "sign_out_everywhere"),
}


USER_GRID, FACTORY_GRID, STACK_GRID, FACTOR_GRID = ("admin-user-grid", "admin-factory-grid", "admin-stack-grid",
                                                   "admin-factor-grid")
GRID_IDS = (USER_GRID, FACTORY_GRID, STACK_GRID, FACTOR_GRID)
_NUMBER = {"filter": "agNumberColumnFilter", "type": "numericColumn"}
USER_COLUMNS = [
    {"field": "username", "headerName": N_("Username"), "minWidth": 100, "maxWidth": 160},
    {"field": "name", "headerName": N_("Name"), "minWidth": 150, "priority": 2},
    {"field": "role", "headerName": N_("Role"), "minWidth": 110},
    {"field": "factory", "headerName": N_("Factory"), "maxWidth": 130, "priority": 2},
    {"field": "active", "headerName": N_("Active"), "cellRenderer": "CtStatus", "minWidth": 80, "maxWidth": 110},
    {"field": "last_login", "headerName": N_("Last sign-in (EAT)"), "minWidth": 160, "priority": 3},
    {"field": "locked_until", "headerName": N_("Locked until"), "minWidth": 160, "priority": 3},
]
FACTORY_COLUMNS = [
    {"field": "code", "headerName": N_("Code"), "minWidth": 80, "maxWidth": 100},
    {"field": "name", "headerName": N_("Name"), "minWidth": 120},
    {"field": "region", "headerName": N_("Region"), "priority": 3},
    {"field": "county", "headerName": N_("County"), "priority": 3},
    {"field": "target", "headerName": N_("Target (kg CO2e/kg)"), "minWidth": 100, **_NUMBER},
    {"field": "density", "headerName": N_("Firewood density (kg/m³)"), "minWidth": 130, "priority": 2, **_NUMBER},
]
STACK_COLUMNS = [
    {"field": "factory", "headerName": N_("Factory"), "minWidth": 80, "maxWidth": 100},
    {"field": "stack", "headerName": N_("Stack"), "minWidth": 120},
    {"field": "diameter", "headerName": N_("Diameter (m)"), "priority": 2, **_NUMBER},
    {"field": "moisture", "headerName": N_("Flue moisture"), "priority": 3, **_NUMBER},
    {"field": "profile", "headerName": N_("Profile factor"), "priority": 3, **_NUMBER},
    {"field": "basis", "headerName": N_("Basis"), "maxWidth": 110, "priority": 3},
    {"field": "nodes", "headerName": N_("Nodes"), "minWidth": 110, "wrapText": True, "autoHeight": True},
]
FACTOR_COLUMNS = [
    {"field": "code", "headerName": N_("Code"), "minWidth": 100, "maxWidth": 170},
    {"field": "version", "headerName": N_("Version"), "maxWidth": 110, **_NUMBER, "grouped": False},
    {"field": "label", "headerName": N_("Label"), "minWidth": 160, "priority": 2},
    {"field": "ncv", "headerName": N_("NCV (MJ/kg)"), "priority": 2, **_NUMBER},
    {"field": "co2", "headerName": N_("CO2 (kg/TJ)"), "priority": 2, **_NUMBER},
    {"field": "ch4", "headerName": N_("CH4 (kg/TJ)"), "priority": 3, **_NUMBER},
    {"field": "n2o", "headerName": N_("N2O (kg/TJ)"), "priority": 3, **_NUMBER},
    {"field": "biomass", "headerName": N_("Biomass share"), "priority": 3, **_NUMBER},
    {"field": "grid", "headerName": N_("Grid (kg CO2/kWh)"), "priority": 3, **_NUMBER},
    {"field": "source", "headerName": N_("Source"), "minWidth": 150, "priority": 3},
    {"field": "year", "headerName": N_("Year"), "maxWidth": 100, "priority": 3, **_NUMBER, "grouped": False},
    {"field": "added", "headerName": N_("Added (EAT)"), "minWidth": 160, "priority": 3},
    {"field": "by", "headerName": N_("By"), "priority": 3},
]


def _grid(grid_id: str, columns: list[dict], rows: list[dict], export_name: str, search_label: str) -> Any:
    """One of the page's four data grids, headers in the page's language (the lists are built at import)."""
    return data_grid(grid_id, [{**c, "headerName": _(c["headerName"])} for c in columns], rows,
                     export_name=export_name, search_label=_(search_label))


def _n(value: float | None) -> float | None:
    """A stored number for a grid cell: a number (it sorts and filters), to 12 significant digits (as stored,
    without the float noise of arithmetic such as 0.30000000000000004)."""
    return None if value is None else float(f"{value:.12g}")


def user_rows(users: list[User], code_by_id: dict[int, str], tz: Any) -> list[dict]:
    """The users as grid rows; Active is a status cell ("yes" in green, "no" in grey, in the page's language)."""
    return [status_cell({"username": u.username, "name": u.full_name or "", "role": _role_cell(u.role),
                         "factory": code_by_id.get(u.factory_id, ""), "last_login": fmt_eat(u.last_login_at, tz),
                         "locked_until": fmt_eat(u.locked_until, tz) if u.locked_until else ""},
                        "active", "active" if u.active else "no", _("yes") if u.active else _("no"))
            for u in users]


def _role(role: str) -> str:
    """A role in words ("factory manager")."""
    return _(ROLE_LABELS.get(role, role.replace("_", " ")))


def _role_cell(role: str) -> str:
    """A role in the users table: as stored in English (as before), in words in Swahili."""
    return role if current_language() == "en" else _role(role)


def _device_label(device: Device) -> str:
    """A node's id, marked when it is retired."""
    return device.id if device.active else _("{id} (retired)", id=device.id)


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
        "users": _grid(USER_GRID, USER_COLUMNS, user_rows(users, code_by_id, tz), "users", N_("Search users")),
        "factories": _grid(FACTORY_GRID, FACTORY_COLUMNS, [
            {"code": f.code, "name": f.name, "region": f.region, "county": f.county,
             "target": _n(f.target_kg_co2e_per_kg), "density": _n(f.firewood_density_kg_m3)} for f in factories],
            "factories", N_("Search factories")),
        "stacks": _grid(STACK_GRID, STACK_COLUMNS, [
            {"factory": code, "stack": f"{st.name} (#{st.id})", "diameter": _n(st.diameter_m),
             "moisture": _n(st.moisture_fraction), "profile": _n(st.velocity_profile_factor),
             "basis": _("dry") if st.dry_basis else _("wet"),
             "nodes": ", ".join(_device_label(d) for d in devices if d.stack_id == st.id)} for st, code in stacks],
            "stacks", N_("Search stacks")),
        "factors": _grid(FACTOR_GRID, FACTOR_COLUMNS, [
            {"code": f.code, "version": f.version, "label": f.label, "ncv": _n(f.ncv_mj_per_kg), "co2": _n(f.co2_kg_per_tj),
             "ch4": _n(f.ch4_kg_per_tj), "n2o": _n(f.n2o_kg_per_tj), "biomass": _n(f.biomass_fraction),
             "grid": _n(f.kg_co2_per_kwh), "source": f.source, "year": f.year, "added": fmt_eat(f.created_at, tz),
             "by": f.created_by or ""} for f in factors], "emission-factors", N_("Search emission factors")),
        "factory_options": fopts,
        "user_options": [{"label": f"{u.username} ({u.role})", "value": u.id} for u in users],  # role as stored
        "stack_options": sopts,
        "device_options": [{"label": _device_label(d), "value": d.id} for d in devices],
        "factor_options": sorted({f.code for f in factors}),
    }


def _pick(values: dict, key: str, what: str) -> int:
    """Return the id picked in a dropdown; a crafted or missing value is refused, never converted."""
    picked = optional_id(values.get(key))
    if picked is None:
        raise AdminError(f"pick {what}")  # English: tr_message shows it translated
    return picked


def _num(v) -> float | None:  # noqa: ANN001
    """Return the typed number (validated again, with its range, in core.registry.admin)."""
    try:
        return parse_number(v, "value")
    except FieldError as exc:
        raise AdminError(exc.message) from exc


def admin_action(action: str, user, values: dict, session_factory) -> str:  # noqa: ANN001
    """Carry out one admin action; return what happened, read back after the commit (raises AccessDenied or AdminError)."""
    with session_factory() as s:
        if action == "create_user":
            factory_code = None
            if values.get("new_factory") is not None:
                f = s.get(Factory, _pick(values, "new_factory", N_("a factory")))
                factory_code = f.code if f else None
            row = admin_create_user(s, user, values.get("new_name"), values.get("new_password"),
                                    values.get("new_role") or "", factory_code, values.get("new_full"))
            s.commit()
            msg = _("Created {user} ({role}).", user=row.username, role=_role(row.role))
        elif action == "update_user":
            uid = _pick(values, "pick", N_("a user"))
            active = {"yes": True, "no": False}.get(values.get("active")) if isinstance(values.get("active"), str) else None
            fid = optional_id(values.get("factory"))
            role = values.get("role") if isinstance(values.get("role"), str) and values.get("role") else None
            row = update_user(s, user, uid, role, fid, active, expected_version=_version(values.get("user_version")))
            if values.get("password"):
                reset_password(s, user, uid, values["password"])
            s.commit()
            state = _("active") if row.active else _("deactivated")
            msg = (_("Saved {user}: {role}, {state}, new password set (their sessions are ended).", user=row.username,
                     role=_role(row.role), state=state) if values.get("password") else
                   _("Saved {user}: {role}, {state}.", user=row.username, role=_role(row.role), state=state))
        elif action == "factory":
            f = set_factory_target(s, user, _pick(values, "factory_pick", N_("a factory")), _num(values.get("target")),
                                   _num(values.get("density")),
                                   expected_version=_version(values.get("factory_version")))
            s.commit()
            s.refresh(f)
            msg = _("Saved {code}: target {target} kg CO2e/kg made tea, firewood density {density} kg/m³.",
                    code=f.code, target=fmt_num(f.target_kg_co2e_per_kg, "", 2), density=fmt_num(f.firewood_density_kg_m3))
        elif action == "stack":
            dry = {"dry": True, "wet": False}.get(values.get("dry")) if isinstance(values.get("dry"), str) else None
            st = update_stack(s, user, _pick(values, "stack_pick", N_("a stack")),
                              expected_version=_version(values.get("stack_version")),
                              diameter_m=_num(values.get("diameter")),
                              moisture_fraction=_num(values.get("moisture")),
                              velocity_profile_factor=_num(values.get("profile")), dry_basis=dry)
            s.commit()
            s.refresh(st)
            msg = _("Saved stack #{id}: diameter {diameter} m, flue moisture {moisture}, profile factor {profile}, "
                    "{basis} basis; new readings use these parameters.", id=st.id, diameter=_g(st.diameter_m),
                    moisture=_g(st.moisture_fraction), profile=_g(st.velocity_profile_factor),
                    basis=_("dry") if st.dry_basis else _("wet"))
        elif action == "factor":
            code, field_name = values.get("factor_code"), values.get("factor_field")
            if not isinstance(code, str) or not isinstance(field_name, str) or not code or not field_name:
                raise AdminError(N_("pick a factor and a field"))
            row = admin_add_factor_version(s, user, code, **{field_name: values.get("factor_value")})
            s.commit()
            shown = getattr(row, field_name)
            msg = _("Added {code} version {version}: {field} = {value}.", code=row.code, version=row.version,
                    field=field_name, value=_shown(shown))
        elif action == "sign_out_everywhere":
            row, n = admin_end_sessions(s, user, _pick(values, "pick", N_("a user")))
            s.commit()
            msg = ngettext("Signed {user} out everywhere ({n} session ended).",
                           "Signed {user} out everywhere ({n} sessions ended).", n, user=row.username)
        else:
            raise AdminError(N_("unknown action"))
    return msg


def _version(value: object) -> int | None:
    """The version the form loaded (a store the browser sends back: anything but a small int is none)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31:
        return value
    return None


def _shown(value) -> str:  # noqa: ANN001
    return f"{value:,.10g}" if isinstance(value, float) else str(value)


def _g(value: float) -> str:
    """A stack parameter as typed ("0.08", "1.2")."""
    return f"{value:g}"


def register(app: dash.Dash) -> None:
    """Attach the admin page's callbacks to `app`."""
    for grid_id in GRID_IDS:
        grid_controls(app, grid_id)

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
            denied = dbc.Alert(_("Not allowed."), color="danger")
            return denied, denied, denied, denied, [], [], [], [], [], [], [], []
        return (data["users"], data["factories"], data["stacks"], data["factors"], data["factory_options"],
                data["factory_options"], data["user_options"], data["factory_options"], data["stack_options"],
                data["stack_options"], data["device_options"], data["factor_options"])

    @app.callback(
        Output("admin-user-result", "children"), Output("admin-factory-result", "children"),
        Output("admin-stack-result", "children"), Output("admin-factor-result", "children"),
        Output("admin-changed", "data"),
        Output("admin-user-new-password", "value"), Output("admin-user-password", "value"),
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
        State("admin-factor-code", "value"), State("admin-factor-field", "value"),
        State("admin-factor-value", "value"), State("admin-changed", "data"),
        State("admin-factory-version", "data"), State("admin-stack-version", "data"),
        State("admin-user-version", "data"),
        prevent_initial_call=True,
    )
    def _act(*args):  # noqa: ANN002, ANN202
        names = ("new_name", "new_full", "new_role", "new_factory", "new_password", "pick", "role", "factory",
                 "active", "password", "factory_pick", "target", "density", "stack_pick", "diameter", "moisture",
                 "profile", "dry", "factor_code", "factor_field", "factor_value", "changed", "factory_version",
                 "stack_version", "user_version")
        values = dict(zip(names, args[len(ACTIONS):], strict=True))
        area, action = ACTIONS.get(ctx.triggered_id, (None, None))
        if action is None:
            return (dash.no_update,) * 7
        try:
            text = admin_action(action, web_user(), values, app_session_factory())
            msg = dbc.Alert(text, color="success", duration=6000, id=f"admin-{area}-ok")
            before = values["changed"]
            changed = (before if isinstance(before, int) and not isinstance(before, bool) and 0 <= before < 10**9
                       else 0) + 1
        except AccessDenied as exc:
            msg = dbc.Alert(_("Not allowed: {reason}.", reason=tr_message(str(exc))), color="danger",
                            id=f"admin-{area}-denied")
            changed = dash.no_update
        except (AdminError, ValueError) as exc:
            msg = dbc.Alert(tr_message(str(exc)), color="danger", id=f"admin-{area}-error")
            changed = dash.no_update
        out = {"user": dash.no_update, "factory": dash.no_update, "stack": dash.no_update, "factor": dash.no_update}
        out[area] = msg
        # A password never stays in the form once the change is made.
        clear = "" if changed is not dash.no_update and area == "user" else dash.no_update
        return out["user"], out["factory"], out["stack"], out["factor"], changed, clear, clear

    @app.callback(
        Output("admin-factory-target", "value"), Output("admin-factory-density", "value"),
        Output("admin-factory-version", "data"),
        Input("admin-factory-pick", "value"), Input("admin-changed", "data"),
    )
    def _factory_values(picked, _changed):  # noqa: ANN001, ANN202
        return current_values(web_user(), "factory", picked, app_session_factory(), with_version=True)

    @app.callback(
        Output("admin-stack-diameter", "value"), Output("admin-stack-moisture", "value"),
        Output("admin-stack-profile", "value"), Output("admin-stack-dry", "value"),
        Output("admin-stack-version", "data"),
        Input("admin-stack-pick", "value"), Input("admin-changed", "data"),
    )
    def _stack_values(picked, _changed):  # noqa: ANN001, ANN202
        return current_values(web_user(), "stack", picked, app_session_factory(), with_version=True)

    @app.callback(
        Output("admin-user-role", "value"), Output("admin-user-factory", "value"),
        Output("admin-user-active", "value"), Output("admin-user-version", "data"),
        Input("admin-user-pick", "value"), Input("admin-changed", "data"),
    )
    def _user_values(picked, _changed):  # noqa: ANN001, ANN202
        return current_values(web_user(), "user", picked, app_session_factory(), with_version=True)


CURRENT_FIELDS = {"factory": 2, "stack": 4, "user": 3}


def current_values(user, what: str, picked, session_factory, with_version: bool = False) -> tuple:  # noqa: ANN001
    """Return the stored values of the picked factory, stack or user for the form (admins and auditors).

    `with_version` adds the record's version last: the form sends it back, so a save of a record
    another admin changed since is refused instead of overwriting it.
    """
    empty = (None,) * (CURRENT_FIELDS[what] + with_version)
    pid = optional_id(picked)
    if pid is None or user is None or user.role not in ("admin", "auditor") or not user.active:
        return empty
    with session_factory() as s:
        row = s.get({"factory": Factory, "stack": Stack, "user": User}[what], pid)
        if row is None:
            return empty
        if what == "factory":
            values = (row.target_kg_co2e_per_kg, row.firewood_density_kg_m3)
        elif what == "stack":
            values = (row.diameter_m, row.moisture_fraction, row.velocity_profile_factor,
                      "dry" if row.dry_basis else "wet")
        else:
            values = (row.role, row.factory_id, "yes" if row.active else "no")
        return (*values, row.version) if with_version else values

"""Energy entry callbacks: load a month, live validation and preview, save/submit/approve/reopen."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import dash
import dash_bootstrap_components as dbc
import sqlalchemy as sa
from dash import ALL, Input, Output, State, ctx, html
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from callbacks.common import app_tz, fmt_num, parse_factory_id, web_user
from callbacks.common import session_factory as app_session_factory
from callbacks.i18n import format_day, format_month, tr_message
from callbacks.i18n import gettext as _
from core.access import AccessDenied, can_approve, can_enter_data, require_factory
from core.audit import StaleEdit
from core.inventory.entry import (
    FIRST_MONTH,
    UNITS_BY_SOURCE,
    EntryError,
    approval_warnings,
    approve,
    blank_over_stored,
    can_reopen,
    get_submission,
    history_medians,
    parse_form,
    preview,
    reopen,
    save_entry,
    submission_version,
    validate,
)
from core.inventory.factors import load_factor_set
from core.models import ENERGY_SOURCES, STATUS_APPROVED, STATUS_SUBMITTED, Factory
from core.timeutil import DEFAULT_TZ, add_months, local_date, month_start, utcnow
from core.validation import FieldError, month_in

STATUS_COLORS = {"draft": "secondary", "submitted": "info", "approved": "success", "missing": "light"}
N_MONTHS = 13


def month_options(now: datetime | None = None, tz: Any = DEFAULT_TZ) -> list[dict]:
    """Return the current month and the twelve before it, newest first."""
    this = month_start(local_date(now or utcnow(), tz))
    months = [add_months(this, -i) for i in range(N_MONTHS)]
    return [{"label": format_month(m), "value": m.strftime("%Y-%m")} for m in months]


def _month(value: str | None, now: datetime | None = None, tz: Any = DEFAULT_TZ) -> date | None:
    """Return the month picked when it is a real month from FIRST_MONTH to this month, else None.

    The page offers the last 13 months; older months (linked from History, or corrected by HQ)
    are still readable and, with the usual rights, writable. Future months and years like 0001 or
    1900 are refused.
    """
    this = month_start(local_date(now or utcnow(), tz))
    try:
        return month_in(value, "Month", FIRST_MONTH, this)
    except FieldError:
        return None


def load_month(user, factory_id: int | None, month_text: str | None, session_factory) -> dict:  # noqa: ANN001
    """Return form values and workflow state for one factory-month (empty when the user may not see it)."""
    empty = {"qty": {s: None for s in ENERGY_SOURCES}, "unit": {}, "moisture": None, "density": None,
             "green_leaf": None, "made_tea": None, "note": None, "status": "missing", "denied": False,
             "can_edit": False, "can_save": False, "can_approve": False, "can_reopen": False, "version": None}
    month = _month(month_text)
    if factory_id is None or month is None:
        return empty
    try:
        with session_factory() as s:
            sub = get_submission(s, user, factory_id, month)
    except AccessDenied:
        return dict(empty, denied=True)
    out = dict(empty)
    out["unit"] = dict(previous_units(session_factory, factory_id, month))
    status = sub.status if sub else "missing"
    out["status"] = status
    out["version"] = submission_version(sub)  # what the page saw: save/approve/return send it back
    if sub is not None:
        out["qty"] = {s: None for s in ENERGY_SOURCES}
        for e in sub.entries:
            out["qty"][e.source] = e.quantity
            out["unit"][e.source] = e.unit
            if e.source == "firewood":
                out["moisture"] = None if e.moisture_fraction is None else round(e.moisture_fraction * 100, 2)
                out["density"] = e.density_kg_m3
        out.update(green_leaf=sub.green_leaf_kg, made_tea=sub.made_tea_kg, note=sub.note)
    out["can_edit"] = can_enter_data(user, factory_id) and status != STATUS_APPROVED
    # A submitted month is corrected by submitting again; Save draft would take it out of HQ's queue.
    out["can_save"] = out["can_edit"] and status != STATUS_SUBMITTED
    out["can_approve"] = can_approve(user) and status == STATUS_SUBMITTED
    out["can_reopen"] = can_reopen(user, status)
    return out


def previous_units(session_factory, factory_id: int, month: date) -> dict[str, str]:  # noqa: ANN001
    """Return the unit each source was last logged in before `month` (a new month starts with those, not m³)."""
    from core.models import EnergyEntry, MonthlySubmission

    with session_factory() as s:
        rows = s.execute(
            sa.select(EnergyEntry.source, EnergyEntry.unit)
            .join(MonthlySubmission, MonthlySubmission.id == EnergyEntry.submission_id)
            .where(MonthlySubmission.factory_id == factory_id, MonthlySubmission.month < month,
                   MonthlySubmission.month >= add_months(month, -12))
            .order_by(MonthlySubmission.month)
        ).all()
    return {src: unit for src, unit in rows if unit in UNITS_BY_SOURCE.get(src, ())}


def as_text(value: float | None) -> str | None:
    """A stored number as the text field shows it (no exponent, no trailing .0)."""
    if value is None:
        return None
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.10g}"


def form_values(data: dict, sources: list[str]) -> tuple:
    """Return what the load callback puts in the fields: (qty texts, units, moisture, density, leaf, tea, note).

    The unit is the stored unit of the source; the source's first unit only when nothing is stored.
    """
    qty = [as_text(data["qty"].get(s)) for s in sources]
    units = [data["unit"].get(s) or UNITS_BY_SOURCE.get(s, ("",))[0] for s in sources]
    return (qty, units, as_text(data["moisture"]), as_text(data["density"]), as_text(data["green_leaf"]),
            as_text(data["made_tea"]), data["note"])


def approval_panel(user, factory_id: int | None, month_text: str | None, session_factory,  # noqa: ANN001
                   tz: Any = DEFAULT_TZ, now: datetime | None = None) -> Any:
    """What HQ should check before approving a submitted month (None when nothing to say or not HQ)."""
    month = _month(month_text)
    if factory_id is None or month is None or not can_approve(user):
        return None
    try:
        with session_factory() as s:
            sub = get_submission(s, user, factory_id, month)
            if sub is None or sub.status != STATUS_SUBMITTED:
                return None
            warnings = approval_warnings(s, user, factory_id, month, load_factor_set(s), now=now, tz=tz)
    except AccessDenied:
        return None
    if not warnings:
        return dbc.Alert(_("Nothing unusual against this factory's history."), color="light", className="border",
                         id="factory-entry-approval-checks")
    return dbc.Alert([html.Strong(_("Check before approving:")), *[html.Div(tr_message(w)) for w in warnings]],
                     color="warning", id="factory-entry-approval-checks")


def status_badge(status: str, denied: bool = False) -> Any:
    """Return the month's workflow status."""
    if denied:
        return dbc.Alert(_("You may not see this factory."), color="danger", className="py-1 mb-0")
    label = {"missing": _("nothing entered yet"), "approved": _("approved · locked")}.get(status) or _(status)
    return dbc.Badge(label, color=STATUS_COLORS.get(status, "secondary"), id="factory-entry-status-badge",
                     className="fs-6", text_color="dark" if status == "missing" else None)


def preview_panel(user, factory_id: int | None, month_text: str | None, qty: dict, unit: dict,  # noqa: ANN001
                  moisture, density, green_leaf, made_tea, session_factory, tz: Any = DEFAULT_TZ) -> tuple[Any, Any]:
    """Return (preview, messages) for what is typed: the implied emissions and the validation results."""
    month = _month(month_text, None, tz)
    if factory_id is None or month is None:
        return html.Div(_("Pick a factory and a month.")), None, {}
    form = parse_form(month, qty, unit, moisture, density, green_leaf, made_tea)
    try:
        with session_factory() as s:
            require_factory(user, factory_id)  # a preview reads the factory's history: readers may
            factory = s.get(Factory, factory_id)
            if factory is None:
                raise AccessDenied("no")
            factors = load_factor_set(s)
            medians = history_medians(s, factory_id, month, factors, factory.firewood_density_kg_m3)
            density_default = factory.firewood_density_kg_m3
            sub = get_submission(s, user, factory_id, month)
            kept = blank_over_stored(form, sub, {e.source: e for e in sub.entries} if sub else {})
    except AccessDenied:
        return dbc.Alert(_("You may not see this factory."), color="danger"), None, {}
    check = validate(form, factors, medians, density_default, local_date(utcnow(), tz))
    check.errors.extend(kept)
    p = preview(form, factors, default_density=density_default, refused=check.fields)
    rows = [
        (_("Fossil CO2"), fmt_num(p.combustion.fossil_co2_kg / 1000, "t", 2)),
        (_("CH4 + N2O as CO2e"), fmt_num(p.ch4_n2o_co2e_kg / 1000, "t CO2e", 2)),
        (_("Scope 1 (fossil CO2 + CH4 + N2O)"), fmt_num(p.combustion.co2e_kg / 1000, "t CO2e", 2)),
        (_("Biogenic CO2 (memo, outside scopes)"), fmt_num(p.combustion.biogenic_co2_kg / 1000, "t", 2)),
        (_("Grid electricity"), fmt_num(p.grid_kwh, "kWh")),
        (_("Scope 2 (location-based)"), fmt_num(p.scope2_kg / 1000, "t CO2e", 2)),
        (_("Own hydro / solar"), fmt_num(p.own_kwh, "kWh")),
        (_("Intensity (Scope 1 + 2)"), fmt_num(p.intensity_kg_per_kg, _("kg CO2e/kg made tea"), 3)),
    ]
    table = dbc.Table(html.Tbody([html.Tr([html.Td(k), html.Td(v, className="text-end fw-semibold")])
                                  for k, v in rows]), size="sm", id="factory-entry-preview-table")
    msgs = []
    if check.errors:
        msgs.append(dbc.Alert([*[html.Div(tr_message(e)) for e in check.errors],
                               html.Div(_("Lines with errors (marked red) are left out of the figures above; nothing "
                                        "is saved until they are corrected."), className="small mt-1")],
                              color="danger", id="factory-entry-errors"))
    if check.warnings:
        msgs.append(dbc.Alert([html.Div(tr_message(w)) for w in check.warnings], color="warning", id="factory-entry-warnings"))
    return table, msgs or None, check.fields


def field_messages(fields: dict, sources: list[str]) -> tuple:
    """Return each field's own error text (quantities by source, then moisture, density, leaf, tea), shown under it."""
    return ([fields.get(s) for s in sources], fields.get("moisture"), fields.get("density"), fields.get("green_leaf_kg"),
            fields.get("made_tea_kg"))


def invalid_flags(fields: dict, sources: list[str]) -> tuple:
    """Return the `invalid` flag of each quantity field and of moisture, density, leaf and tea."""
    return ([s in fields for s in sources], "moisture" in fields, "density" in fields, "green_leaf_kg" in fields,
            "made_tea_kg" in fields)


def do_action(action: str, user, factory_id: int | None, month_text: str | None, qty: dict, unit: dict,  # noqa: ANN001
              moisture, density, green_leaf, made_tea, note, reason, session_factory,
              tz: Any = DEFAULT_TZ, now: datetime | None = None, version: int | None = None) -> Any:
    """Save, submit, approve or reopen; return a message for the user."""
    return run_action(action, user, factory_id, month_text, qty, unit, moisture, density, green_leaf, made_tea,
                      note, reason, session_factory, tz, now, version)[0]


def _version(value: object) -> int | None:
    """The version the page saw (a store the browser sends back: anything but a small int is no version)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31:
        return value
    return None


def run_action(action: str, user, factory_id: int | None, month_text: str | None, qty: dict, unit: dict,  # noqa: ANN001
               moisture, density, green_leaf, made_tea, note, reason, session_factory,
               tz: Any = DEFAULT_TZ, now: datetime | None = None, version: int | None = None) -> tuple[Any, bool]:
    """Save, submit, approve or reopen exactly the values given (what is on screen).

    `version` is the month's version when the page loaded it: a month changed since (by another
    tab, another person, or the API) is refused with who changed it and when. Return (message,
    done). Only when done does the page reload the month from the database: a refused save or
    submit leaves what the user typed on screen.
    """
    version = _version(version)
    month = _month(month_text, now, tz)
    if factory_id is None or month is None:
        return dbc.Alert(_("Pick a factory and a month first."), color="warning"), False
    try:
        with session_factory() as s:
            factors = load_factor_set(s)
            if action in ("save", "submit"):
                form = parse_form(month, qty, unit, moisture, density, green_leaf, made_tea, note)
                _entry, check = save_entry(s, user, factory_id, form, factors, submit=action == "submit", now=now, tz=tz,
                                      expected_version=version)
                text = _("Submitted to HQ.") if action == "submit" else _("Draft saved.")
                if check.warnings:
                    text += " " + _("Note the warnings above.")
            elif action == "approve":
                sub = approve(s, user, factory_id, month, now=now, expected_version=version, tz=tz)
                text = _("Approved version {n}; the month is now locked.", n=sub.approved_version)
            elif action == "reopen":
                reopen(s, user, factory_id, month, reason or "", now=now, expected_version=version, tz=tz)
                text = _("Reopened as a draft; the reason is in the audit log.")
            else:
                return None, False
            s.commit()
    except AccessDenied as exc:
        return dbc.Alert(_("Not allowed: {reason}.", reason=tr_message(str(exc))), color="danger",
                         id="factory-entry-denied"), False
    except StaleEdit as exc:
        return dbc.Alert(tr_message(exc.message), color="warning", id="factory-entry-stale"), False
    except (IntegrityError, StaleDataError):
        # Backstop: core turns a racing writer into StaleEdit at flush; one that surfaces at commit
        # is the same conflict, never a 500.
        return dbc.Alert(_("This month was changed by someone else at the same moment: reload the page to see the "
                         "current figures, then try again."), color="warning", id="factory-entry-stale"), False
    except EntryError as exc:
        return dbc.Alert(tr_message(str(exc)), color="danger", id="factory-entry-refused"), False
    return dbc.Alert(text, color="success", id="factory-entry-ok", duration=8000), True


def submit_question(month_text: str | None, tz: Any = DEFAULT_TZ, now: datetime | None = None) -> str | None:
    """Return the question to ask before submitting the month still in progress (None for a finished month)."""
    now = now or utcnow()
    month = _month(month_text, now, tz)
    this = month_start(local_date(now, tz))
    if month is None or month != this:
        return None
    last_day = add_months(this, 1) - timedelta(days=1)
    return _("{month} is still in progress (until {day}). Figures submitted now cover only part of the month. "
             "Submit it to HQ anyway?", month=format_month(month), day=format_day(last_day).rsplit(" ", 1)[0])


QTY = {"type": "factory-entry-qty", "source": ALL}
QTY_ERROR = {"type": "factory-entry-qty-error", "source": ALL}
UNIT = {"type": "factory-entry-unit", "source": ALL}


def _by_source(items: list[dict]) -> dict:
    """Return {source: value} from a pattern-matching input list (unknown sources dropped)."""
    out = {}
    for item in items if isinstance(items, list) else ():
        src = item.get("id", {}).get("source") if isinstance(item, dict) and isinstance(item.get("id"), dict) else None
        if isinstance(src, str) and src in ENERGY_SOURCES:
            out[src] = item.get("value")
    return out


def register(app: dash.Dash) -> None:
    """Attach the entry page's callbacks to `app`."""

    @app.callback(
        Output(QTY, "value"), Output(UNIT, "value"),
        Output("factory-entry-moisture", "value"), Output("factory-entry-density", "value"),
        Output("factory-entry-green-leaf", "value"), Output("factory-entry-made-tea", "value"),
        Output("factory-entry-note", "value"), Output("factory-entry-status", "children"),
        Output("factory-entry-save", "disabled"), Output("factory-entry-submit", "disabled"),
        Output("factory-entry-approve", "style"), Output("factory-entry-reopen-group", "style"),
        Output("factory-entry-approval", "children"), Output("factory-entry-version", "data"),
        Input("factory-entry-factory", "value"), Input("factory-entry-month", "value"),
        Input("factory-entry-saved", "data"),
        State(UNIT, "id"),
    )
    def _load(factory, month, _saved, unit_ids):  # noqa: ANN001, ANN202
        user, fid = web_user(), parse_factory_id(factory)
        data = load_month(user, fid, month, app_session_factory())
        # The fields on screen, from the request's outputs (a crafted `unit_ids` state is ignored).
        fields = form_values(data, [o["id"].get("source") for o in ctx.outputs_list[0]])
        hide = {"display": "none"}
        checks = approval_panel(user, fid, month, app_session_factory(), app_tz()) if data["can_approve"] else None
        return (*fields, status_badge(data["status"], data["denied"]), not data["can_save"], not data["can_edit"],
                None if data["can_approve"] else hide, None if data["can_reopen"] else hide, checks, data["version"])

    @app.callback(
        Output("factory-entry-preview", "children"), Output("factory-entry-messages", "children"),
        Output(QTY, "invalid"), Output("factory-entry-moisture", "invalid"), Output("factory-entry-density", "invalid"),
        Output("factory-entry-green-leaf", "invalid"), Output("factory-entry-made-tea", "invalid"),
        # Each error also under its own field (issue 17: on a phone the list sat below the preview).
        Output(QTY_ERROR, "children"), Output("factory-entry-moisture-error", "children"),
        Output("factory-entry-density-error", "children"), Output("factory-entry-green-leaf-error", "children"),
        Output("factory-entry-made-tea-error", "children"),
        Input(QTY, "value"), Input(UNIT, "value"),
        Input("factory-entry-moisture", "value"), Input("factory-entry-density", "value"),
        Input("factory-entry-green-leaf", "value"), Input("factory-entry-made-tea", "value"),
        State("factory-entry-factory", "value"), State("factory-entry-month", "value"),
    )
    def _preview(_q, _u, moisture, density, green_leaf, made_tea, factory, month):  # noqa: ANN001, ANN202
        qty = _by_source(ctx.inputs_list[0])
        unit = _by_source(ctx.inputs_list[1])
        table, msgs, fields = preview_panel(web_user(), parse_factory_id(factory), month, qty, unit, moisture,
                                            density, green_leaf, made_tea, app_session_factory(), app_tz())
        sources = [item["id"]["source"] for item in ctx.outputs_list[2]]
        return (table, msgs, *invalid_flags(fields, sources), *field_messages(fields, sources))

    @app.callback(
        Output("factory-entry-confirm", "displayed"), Output("factory-entry-confirm", "message"),
        Output("factory-entry-submit-go", "data"),
        Input("factory-entry-submit", "n_clicks"),
        State("factory-entry-month", "value"), State("factory-entry-submit-go", "data"),
        prevent_initial_call=True,
    )
    def _ask(_n, month, go):  # noqa: ANN001, ANN202
        question = submit_question(month, app_tz())
        if question:
            return True, question, dash.no_update
        go = go if isinstance(go, int) and not isinstance(go, bool) and 0 <= go < 10**9 else 0
        return False, "", go + 1

    @app.callback(
        Output("factory-entry-result", "children"), Output("factory-entry-saved", "data"),
        Input("factory-entry-save", "n_clicks"), Input("factory-entry-submit-go", "data"),
        Input("factory-entry-approve", "n_clicks"), Input("factory-entry-reopen", "n_clicks"),
        Input("factory-entry-confirm", "submit_n_clicks"),
        State("factory-entry-factory", "value"), State("factory-entry-month", "value"),
        State(QTY, "value"), State(UNIT, "value"),
        State("factory-entry-moisture", "value"), State("factory-entry-density", "value"),
        State("factory-entry-green-leaf", "value"), State("factory-entry-made-tea", "value"),
        State("factory-entry-note", "value"), State("factory-entry-reopen-reason", "value"),
        State("factory-entry-saved", "data"), State("factory-entry-version", "data"),
        prevent_initial_call=True,
    )
    def _act(_s, _sub, _a, _r, _c, factory, month, _q, _u, moisture, density, green_leaf, made_tea, note,  # noqa: ANN001, ANN202
             reason, saved, version):
        action = {"factory-entry-save": "save", "factory-entry-submit-go": "submit", "factory-entry-confirm": "submit",
                  "factory-entry-approve": "approve", "factory-entry-reopen": "reopen"}.get(ctx.triggered_id)
        if action is None:
            return dash.no_update, dash.no_update
        qty = _by_source(ctx.states_list[2])
        unit = _by_source(ctx.states_list[3])
        if not isinstance(saved, int) or isinstance(saved, bool) or not 0 <= saved < 10**9:
            saved = 0
        msg, done = run_action(action, web_user(), parse_factory_id(factory), month, qty, unit, moisture, density,
                               green_leaf, made_tea, note, reason, app_session_factory(), app_tz(),
                               version=_version(version))
        return msg, (saved or 0) + 1 if done else dash.no_update

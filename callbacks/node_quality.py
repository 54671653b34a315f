"""Node page, measured-data quality (issue 12): calibration form and log, status badges, assignment history,
data availability over 30 days.

Reads go through core.measurement (calibration, availability) and core.fleet.lifecycle after the
caller's factory is checked (core.access); the form writes through
core.measurement.calibration.record_check, which checks the role (HQ, admin) and validates every
field again on the server. Badges carry their meaning in text, never in colour alone.

The calibration log and the assignment history are data grids (sort, filter, quick search, CSV
export); they are built again only when the node changes or a check is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, html

from callbacks.common import app_tz, empty_state, fmt_eat, fmt_pct, web_user
from callbacks.common import session_factory as app_session_factory
from callbacks.grid import data_grid, grid_controls, status_cell
from callbacks.i18n import N_, format_number, tr_message
from callbacks.i18n import gettext as _
from core.access import AccessDenied, can_read_factory, require_factory
from core.fleet.lifecycle import history
from core.insights.queries import UPTIME_DAYS
from core.measurement.availability import Availability, days_window, device_availability
from core.measurement.calibration import (
    CAL_ERROR_LIMIT_PCT,
    CalibrationError,
    CalibrationStatus,
    calibration_status,
    device_checks,
    record_check,
)
from core.models import CalibrationCheck, Device, Factory, Stack
from core.timeutil import DEFAULT_TZ, local_date, utcnow

# Form fields: (component id suffix, the field name core.measurement.calibration reports errors under).
CAL_FIELDS = {
    "kind": N_("Kind"),
    "checked-at": N_("Checked at"),
    "reference": N_("Reference gas"),
    "certificate": N_("Certificate"),
    "measured": N_("Measured"),
    "span": N_("Span"),
    "note": N_("Note"),
}
DENIED = N_("You may not see this node.")
NO_NODE = N_("No such node. Open a node from the Nodes page.")
CHECK_KINDS = {"span": N_("span"), "zero": N_("zero")}  # a calibration check's kind, as stored
CHECK_SOURCES = {"portal": N_("portal"), "node": N_("node")}  # who recorded it (core.measurement.calibration)
CAL_GRID_ID = "hq-node-cal-table"  # the old tables' ids: the QA/QC browser test selects on the first
ASSIGNMENT_GRID_ID = "hq-node-assignment-table"
NUMBER = {"filter": "agNumberColumnFilter", "type": "numericColumn"}


@dataclass
class AssignmentRow:
    """One assignment as the node page shows it."""

    factory: str
    stack: str
    commissioned_at: datetime
    commissioned_by: str | None
    commission_reason: str | None
    retired_at: datetime | None
    retired_by: str | None
    retire_reason: str | None


@dataclass
class NodeQuality:
    """What the node page shows about a node's data quality."""

    device_id: str
    status: CalibrationStatus | None
    availability: Availability
    checks: list[CalibrationCheck] = field(default_factory=list)
    assignments: list[AssignmentRow] = field(default_factory=list)
    hidden_assignments: int = 0  # rows on factories the user may not see


def node_quality(user: Any, device_id: object, session_factory: Any, tz: Any = DEFAULT_TZ,
                 now: datetime | None = None) -> NodeQuality | str:
    """The node's quality facts, or a sentence saying why there are none (no such node, not allowed)."""
    now = now or utcnow()
    if not isinstance(device_id, str) or not device_id or len(device_id) > 40:
        return NO_NODE
    with session_factory() as s:
        device = s.get(Device, device_id)
        if device is None:
            return NO_NODE
        try:
            require_factory(user, device.factory_id)
        except AccessDenied:
            return DENIED
        status = calibration_status(s, [device.id], now).get(device.id)
        lo, hi = days_window(local_date(now, tz), UPTIME_DAYS, now, tz)
        avail = device_availability(s, [device.id], lo, hi, now)[device.id]
        checks = list(reversed(device_checks(s, device.id)))
        names = {f.id: f.code for f in s.query(Factory)}
        stacks = {st.id: st.name for st in s.query(Stack)}
        rows, hidden = [], 0
        for a in reversed(history(s, device.id)):
            if not can_read_factory(user, a.factory_id):
                hidden += 1
                continue
            rows.append(AssignmentRow(names.get(a.factory_id, "?"), f"{stacks.get(a.stack_id, '?')} (#{a.stack_id})",
                                      a.commissioned_at, a.commissioned_by, a.commission_reason, a.retired_at,
                                      a.retired_by, a.retire_reason))
    return NodeQuality(device.id, status, avail, checks, rows, hidden)


def status_badges(status: CalibrationStatus | None) -> list:
    """Calibration badges in words: out of control / in control, overdue / current."""
    if status is None or status.last_check_at is None:
        return [dbc.Badge(_("No calibration check recorded"), color="warning", className="me-2",
                          id="hq-node-badge-nocheck"),
                dbc.Badge(_("Calibration overdue"), color="warning", className="me-2", id="hq-node-badge-overdue")]
    out = []
    if status.out_of_control:
        out.append(dbc.Badge(_("Out of control: readings excluded until a check passes"), color="danger",
                             className="me-2", id="hq-node-badge-ooc"))
    else:
        out.append(dbc.Badge(_("In control"), color="success", className="me-2", id="hq-node-badge-incontrol"))
    if status.overdue:
        out.append(dbc.Badge(_("Calibration overdue"), color="warning", className="me-2", id="hq-node-badge-overdue"))
    else:
        out.append(dbc.Badge(_("Calibration current"), color="success", className="me-2", id="hq-node-badge-current"))
    return out


def render_quality(q: NodeQuality | str, tz: Any) -> tuple:
    """(badges and availability, calibration table, assignment table) for the page."""
    if isinstance(q, str):
        alert = dbc.Alert(_(q), color="warning", id="hq-node-quality-denied")
        return alert, None, None
    st = q.status
    a = q.availability
    facts = [
        (_("Data availability (30 d, 40 CFR 75.32)"), fmt_pct(a.share, 1), "hq-node-availability"),
        (_("Valid / assigned hours (30 d)"), _("{valid} h of {assigned} h", valid=format_number(a.valid_hours),
                                               assigned=format_number(a.assigned_hours, 1)), "hq-node-hours"),
        (_("Last calibration check"), fmt_eat(st.last_check_at, tz) if st else _("never"), None),
        (_("Last passed check"), fmt_eat(st.last_passed_at, tz) if st else _("never"), None),
    ]
    top = html.Div([
        html.Div(status_badges(st), className="mb-2"),
        dbc.Row([dbc.Col([html.Div(k, className="small text-muted"),
                          html.Div(v, className="fw-semibold", **({"id": i} if i else {}))], xs=6, md=3)
                  for k, v, i in facts]),
    ], className="mb-3", id="hq-node-quality-facts")
    return top, calibration_table(q.checks, tz), assignment_table(q.assignments, q.hidden_assignments, tz)


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def calibration_columns() -> list[dict]:
    """The calibration grid's columns, headers in the page's language; when it was checked is first and pinned."""
    return [
        {"field": "checked", "headerName": _("Checked (EAT)"), "minWidth": 150},
        {"field": "kind", "headerName": _("Kind"), "priority": 2, "minWidth": 90},
        {"field": "reference_ppm", "headerName": _("Reference (ppm)"), "priority": 3, **NUMBER},
        {"field": "certificate", "headerName": _("Certificate"), "priority": 3},
        {"field": "measured_ppm", "headerName": _("Measured (ppm)"), "priority": 3, **NUMBER},
        {"field": "span_ppm", "headerName": _("Span (ppm)"), "priority": 3, **NUMBER},
        {"field": "error_pct", "headerName": _("Error (% of span; limit {limit} %)", limit=CAL_ERROR_LIMIT_PCT),
         "minWidth": 120, **NUMBER},
        {"field": "result", "headerName": _("Result"), "cellRenderer": "CtStatus", "minWidth": 90},
        {"field": "by", "headerName": _("By"), "priority": 3},
        {"field": "source", "headerName": _("Source"), "priority": 3},
        {"field": "note", "headerName": _("Note"), "priority": 2, "minWidth": 160, "wrapText": True,
         "autoHeight": True},
    ]


def calibration_rows(checks: list[CalibrationCheck], tz: Any) -> list[dict]:
    """The checks as grid rows, in the order given (newest first); numbers stay numbers, the result in words."""
    return [status_cell({
        "checked": fmt_eat(c.checked_at, tz), "kind": _(CHECK_KINDS.get(c.kind, c.kind)),
        "reference_ppm": _round(c.reference_ppm, 1), "certificate": c.certificate or "—",
        "measured_ppm": _round(c.measured_ppm, 1), "span_ppm": _round(c.span_ppm, 0), "error_pct": _round(c.error_pct, 2),
        "by": c.recorded_by or "—", "source": _(CHECK_SOURCES.get(c.source, c.source)), "note": c.note or "",
    }, "result", "ok" if c.passed else "failed", _("pass") if c.passed else _("FAIL")) for c in checks]


def calibration_table(checks: list[CalibrationCheck], tz: Any) -> Any:
    """The node's checks as a data grid, newest first, with the result in words."""
    if not checks:
        return empty_state(_("No calibration check recorded for this node."), "hq-node-no-checks")
    return data_grid(CAL_GRID_ID, calibration_columns(), calibration_rows(checks, tz), export_name="calibration-checks",
                     search_label=_("Search calibration checks"))


def assignment_columns() -> list[dict]:
    """The assignment grid's columns, headers in the page's language; the factory is first and pinned."""
    return [
        {"field": "factory", "headerName": _("Factory"), "minWidth": 100},
        {"field": "stack", "headerName": _("Stack"), "priority": 2},
        {"field": "commissioned", "headerName": _("Commissioned (EAT)"), "minWidth": 150},
        {"field": "commissioned_by", "headerName": _("Commissioned by"), "priority": 3},
        {"field": "commission_reason", "headerName": _("Why commissioned"), "priority": 3, "wrapText": True,
         "autoHeight": True},
        {"field": "retired", "headerName": _("Retired (EAT)"), "priority": 2, "minWidth": 150},
        {"field": "retired_by", "headerName": _("Retired by"), "priority": 3},
        {"field": "retire_reason", "headerName": _("Why retired"), "priority": 3, "wrapText": True,
         "autoHeight": True},
    ]


def assignment_rows(rows: list[AssignmentRow], tz: Any) -> list[dict]:
    """The assignments as grid rows, in the order given (newest first)."""
    return [{"factory": r.factory, "stack": r.stack, "commissioned": fmt_eat(r.commissioned_at, tz),
             "commissioned_by": r.commissioned_by or "—", "commission_reason": r.commission_reason or "",
             "retired": _("assigned now") if r.retired_at is None else fmt_eat(r.retired_at, tz),
             "retired_by": r.retired_by or ("" if r.retired_at is None else "—"), "retire_reason": r.retire_reason or ""}
            for r in rows]


def assignment_table(rows: list[AssignmentRow], hidden: int, tz: Any) -> Any:
    """Where the node was assigned, newest first (commissioned/retired, stack, who and why), as a data grid."""
    if not rows:
        return empty_state(_("No assignment recorded: the node counts while it is active (registered before "
                           "lifecycles were kept)."), "hq-node-no-assignments")
    note = [html.Div(_("{n} earlier assignment(s) at factories you may not see are not shown.", n=hidden),
                     className="small text-muted")] if hidden else []
    return html.Div([data_grid(ASSIGNMENT_GRID_ID, assignment_columns(), assignment_rows(rows, tz),
                               export_name="node-assignments", search_label=_("Search assignments")), *note])


def save_calibration(user: Any, device_id: object, values: dict, session_factory: Any,
                     tz: Any = DEFAULT_TZ) -> tuple[dict[str, str], str, bool]:
    """Record one check from the form: (field errors by form field, message, saved)."""
    if not isinstance(device_id, str) or not device_id or len(device_id) > 40:
        return {}, _("No such node."), False
    try:
        with session_factory() as s:
            device = s.get(Device, device_id)
            if device is None:
                return {}, _("No such node."), False
            require_factory(user, device.factory_id)
            row = record_check(s, user, device.id, values.get("kind"), values.get("reference"),
                               values.get("measured"), values.get("span"), certificate=values.get("certificate"),
                               checked_at=values.get("checked-at"), note=values.get("note"), tz=tz)
            s.commit()
            values = {"kind": _(CHECK_KINDS.get(row.kind, row.kind)), "when": fmt_eat(row.checked_at, tz),
                      "error": format_number(row.error_pct, 2)}
            msg = (_("Recorded a {kind} check at {when}: error {error} % of span, passed.", **values) if row.passed else
                   _("Recorded a {kind} check at {when}: error {error} % of span, FAILED (limit {limit} %): the node's "
                     "readings since its last passed check are out of control until a check passes.",
                     limit=CAL_ERROR_LIMIT_PCT, **values))
            return {}, msg, True
    except AccessDenied:
        return {}, _("Only HQ and administrators record calibration checks."), False
    except CalibrationError as exc:
        form_field = next((k for k, v in CAL_FIELDS.items() if v == exc.field), None)
        if form_field is None:
            return {}, tr_message(exc.message), False
        return {form_field: tr_message(exc.message)}, _("Not recorded: correct the field marked below."), False


def register(app: dash.Dash) -> None:
    """Attach the node page's quality callbacks to `app`."""
    grid_controls(app, CAL_GRID_ID)
    grid_controls(app, ASSIGNMENT_GRID_ID)

    @app.callback(Output("hq-node-quality", "children"), Output("hq-node-cal-history", "children"),
                  Output("hq-node-assignments", "children"),
                  Input("hq-node-device", "data"), Input("hq-node-cal-saved", "data"))
    def _render(device_id, _saved):  # noqa: ANN001, ANN202
        tz = app_tz()
        return render_quality(node_quality(web_user(), device_id, app_session_factory(), tz), tz)

    @app.callback(Output("hq-node-cal-feedback", "children"), Output("hq-node-cal-saved", "data"),
                  *[Output(f"hq-node-cal-{k}-error", "children") for k in CAL_FIELDS],
                  *[Output(f"hq-node-cal-{k}", "invalid") for k in CAL_FIELDS if k != "kind"],
                  Input("hq-node-cal-save", "n_clicks"),
                  State("hq-node-device", "data"), *[State(f"hq-node-cal-{k}", "value") for k in CAL_FIELDS],
                  State("hq-node-cal-saved", "data"),
                  prevent_initial_call=True)
    def _save(_clicks, device_id, *args):  # noqa: ANN001, ANN002, ANN202
        values = dict(zip(CAL_FIELDS, args[:len(CAL_FIELDS)], strict=True))
        before = args[len(CAL_FIELDS)]
        errors, msg, ok = save_calibration(web_user(), device_id, values, app_session_factory(), app_tz())
        if ok:
            saved = (before if isinstance(before, int) and not isinstance(before, bool) and 0 <= before < 10**9
                     else 0) + 1
            passed = "FAIL" not in msg and _("FAILED") not in msg
            feedback = dbc.Alert(msg, color="success" if passed else "warning", id="hq-node-cal-ok")
        else:
            saved = dash.no_update
            feedback = dbc.Alert(msg, color="danger", id="hq-node-cal-error")
        texts = [errors.get(k) for k in CAL_FIELDS]
        invalid = [k in errors for k in CAL_FIELDS if k != "kind"]
        return feedback, saved, *texts, *invalid

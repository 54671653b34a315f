"""Node page, measured-data quality (issue 12): calibration form and log, status badges, assignment history,
data availability over 30 days.

Reads go through core.measurement (calibration, availability) and core.fleet.lifecycle after the
caller's factory is checked (core.access); the form writes through
core.measurement.calibration.record_check, which checks the role (HQ, admin) and validates every
field again on the server. Badges carry their meaning in text, never in colour alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, html

from callbacks.common import app_tz, empty_state, fmt_eat, fmt_num, fmt_pct, web_user
from callbacks.common import session_factory as app_session_factory
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


def calibration_table(checks: list[CalibrationCheck], tz: Any) -> Any:
    """The node's checks, newest first, with the result in words."""
    if not checks:
        return empty_state(_("No calibration check recorded for this node."), "hq-node-no-checks")
    head = (_("Checked (EAT)"), _("Kind"), _("Reference (ppm)"), _("Certificate"), _("Measured (ppm)"), _("Span (ppm)"),
            _("Error (% of span; limit {limit} %)", limit=CAL_ERROR_LIMIT_PCT), _("Result"), _("By"), _("Source"),
            _("Note"))
    body = [html.Tr([
        html.Td(fmt_eat(c.checked_at, tz)), html.Td(_(CHECK_KINDS.get(c.kind, c.kind))), html.Td(fmt_num(c.reference_ppm, "", 1)),
        html.Td(c.certificate or "—"), html.Td(fmt_num(c.measured_ppm, "", 1)), html.Td(fmt_num(c.span_ppm)),
        html.Td(f"{format_number(c.error_pct, 2)} %"),
        html.Td(dbc.Badge(_("pass") if c.passed else _("FAIL"), color="success" if c.passed else "danger")),
        html.Td(c.recorded_by or "—"), html.Td(_(CHECK_SOURCES.get(c.source, c.source))), html.Td(c.note or "", className="small"),
    ]) for c in checks]
    return dbc.Table([html.Thead(html.Tr([html.Th(h) for h in head])), html.Tbody(body)], size="sm", striped=True,
                     responsive=True, id="hq-node-cal-table")


def assignment_table(rows: list[AssignmentRow], hidden: int, tz: Any) -> Any:
    """Where the node was assigned, newest first (commissioned/retired, stack, who and why)."""
    if not rows:
        return empty_state(_("No assignment recorded: the node counts while it is active (registered before "
                           "lifecycles were kept)."), "hq-node-no-assignments")
    head = (_("Factory"), _("Stack"), _("Commissioned (EAT)"), _("By"), _("Why"), _("Retired (EAT)"), _("By"), _("Why"))
    body = [html.Tr([
        html.Td(r.factory), html.Td(r.stack), html.Td(fmt_eat(r.commissioned_at, tz)),
        html.Td(r.commissioned_by or "—"), html.Td(r.commission_reason or "", className="small"),
        html.Td(_("assigned now") if r.retired_at is None else fmt_eat(r.retired_at, tz)),
        html.Td(r.retired_by or ("" if r.retired_at is None else "—")),
        html.Td(r.retire_reason or "", className="small"),
    ]) for r in rows]
    note = [html.Div(_("{n} earlier assignment(s) at factories you may not see are not shown.", n=hidden),
                     className="small text-muted")] if hidden else []
    return html.Div([dbc.Table([html.Thead(html.Tr([html.Th(h) for h in head])), html.Tbody(body)], size="sm",
                               striped=True, responsive=True, id="hq-node-assignment-table"), *note])


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

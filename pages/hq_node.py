"""One sensor node: its health, firmware history, and remote commands with their results (/hq/node?device=…)."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from callbacks.common import not_permitted, page_header, web_user
from callbacks.hq_node import commands_grid
from callbacks.i18n import N_, page_title, tr_message
from callbacks.i18n import gettext as _
from core.access import is_admin
from core.fleet.commands import COMMAND_KINDS, KIND_LABELS
from core.measurement.calibration import CAL_ERROR_LIMIT_PCT, CAN_RECORD

dash.register_page(__name__, path="/hq/node", title=page_title(N_("Node")), name="Node")

# Which argument each command takes: (label, placeholder, unit).
ARG_HELP = {
    "set_interval": (N_("Sampling interval"), N_("10 to 3,600"), "s"),
    "payload_size": (N_("Largest payload"), N_("1,024 to 16,384"), N_("bytes")),
    "calibrate_span": (N_("Test gas concentration"), N_("up to 300,000"), "ppm"),
}


def layout(device: str | None = None, **kwargs) -> html.Div:
    """Render the node page (HQ, admin, auditor; a factory manager for their own factory's nodes)."""
    user = web_user()
    if user is None:
        return not_permitted(_("this node"))
    children = [
        page_header(_("Node {id}", id=device).strip() if device else _("Node"), _("Times in EAT. Commands are sent by administrators only; a node "
                    "answers within a minute or the command shows 'timeout'.")),
        dcc.Store(id="hq-node-device", data=device),
        dcc.Interval(id="hq-node-interval", interval=2_000, n_intervals=0),
        html.Div(id="hq-node-info"),
    ]
    if is_admin(user):  # the callback checks again: hiding the form is not the protection
        children.append(dbc.Card(dbc.CardBody([
            html.H3(_("Send a command"), className="h6"),
            dbc.Row([
                dbc.Col(dcc.Dropdown(id="hq-node-cmd", clearable=False, value="status",
                                     options=[{"label": tr_message(KIND_LABELS[k]), "value": k} for k in COMMAND_KINDS]),
                        xs=12, md=4),
                dbc.Col(dbc.Input(id="hq-node-arg", type="number", placeholder=_("value (if the command takes one)")),
                        xs=12, md=3),
                dbc.Col(dbc.Button(_("Send"), id="hq-node-send", color="primary"), xs=12, md=2),
            ], className="g-2"),
            html.Div(", ".join(_("{command}: {what} in {unit} ({range})", command=tr_message(KIND_LABELS[k]),
                                 what=_(label), unit=_(unit), range=_(hint))
                               for k, (label, hint, unit) in ARG_HELP.items()), className="small text-muted mt-1"),
            html.Div(id="hq-node-feedback", className="mt-2"),
        ]), className="mb-3 shadow-sm"))
    children += quality_section(user)
    # The command grid is placed once; the refresh sends its rows (callbacks/hq_node.py).
    children += [html.H3(_("Commands"), className="h6 mt-3"), html.Div(id="hq-node-commands"), commands_grid(),
                 html.H3(_("Firmware history"), className="h6 mt-3"), html.Div(id="hq-node-firmware")]
    return dbc.Container(children, fluid=True)


def _cal_field(key: str, label: str, component, width: int = 3) -> dbc.Col:  # noqa: ANN001
    """A calibration form field with its label and the place its server-side error appears."""
    return dbc.Col([dbc.Label(label, html_for=f"hq-node-cal-{key}", className="small text-muted mb-0"), component,
                    html.Div(id=f"hq-node-cal-{key}-error", className="small text-danger", role="alert")],
                   xs=12, md=width, className="mb-2")


def calibration_form() -> dbc.Card:
    """Record a zero or span check (HQ and admins; the callback checks the role again)."""
    return dbc.Card(dbc.CardBody([
        html.H3(_("Record a calibration check"), className="h6"),
        html.Div(_("Calibration error = |measured − reference| ÷ span; a check fails above {limit} % of span "
                   "(40 CFR Part 75 App. A §3.1). A failed check puts the node's readings since its last passed check "
                   "of that kind out of control until a check passes.", limit=CAL_ERROR_LIMIT_PCT),
                 className="small text-muted mb-2"),
        dbc.Row([
            _cal_field("kind", _("Kind"), dbc.Select(id="hq-node-cal-kind", value="span", options=[
                {"label": _("span"), "value": "span"}, {"label": _("zero"), "value": "zero"}]), 2),
            _cal_field("checked-at", _("Checked at (EAT, YYYY-MM-DD HH:MM; empty = now)"),
                       dbc.Input(id="hq-node-cal-checked-at", placeholder="2026-11-14 09:30"), 3),
            _cal_field("reference", _("Reference gas (ppm)"), dbc.Input(id="hq-node-cal-reference", type="number"), 2),
            _cal_field("certificate", _("Gas certificate"), dbc.Input(id="hq-node-cal-certificate", maxLength=80), 2),
            _cal_field("measured", _("Measured (ppm)"), dbc.Input(id="hq-node-cal-measured", type="number"), 2),
            _cal_field("span", _("Span (ppm)"), dbc.Input(id="hq-node-cal-span", type="number"), 2),
            _cal_field("note", _("Note"), dbc.Input(id="hq-node-cal-note", maxLength=300), 5),
        ], className="g-2"),
        dbc.Button(_("Record check"), id="hq-node-cal-save", color="primary"),
        html.Div(id="hq-node-cal-feedback", className="mt-2"),
    ]), className="mb-3 shadow-sm")


def quality_section(user) -> list:  # noqa: ANN001
    """Calibration status, availability, the calibration log (and its form) and the assignment history."""
    out = [dcc.Store(id="hq-node-cal-saved", data=0),
           html.H3(_("Measured-data quality"), className="h6 mt-3"), html.Div(id="hq-node-quality")]
    if user.role in CAN_RECORD:  # the callback checks again: hiding the form is not the protection
        out.append(calibration_form())
    out += [html.H3(_("Calibration checks"), className="h6 mt-3"), html.Div(id="hq-node-cal-history"),
            html.H3(_("Assignment history"), className="h6 mt-3"), html.Div(id="hq-node-assignments")]
    return out

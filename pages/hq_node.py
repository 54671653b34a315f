"""One sensor node: its health, firmware history, and remote commands with their results (/hq/node?device=…)."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from callbacks.common import not_permitted, page_header, web_user
from core.access import is_admin
from core.fleet.commands import COMMAND_KINDS, KIND_LABELS

dash.register_page(__name__, path="/hq/node", title="Node · Carbon Track", name="Node")

# Which argument each command takes: (label, placeholder, unit).
ARG_HELP = {
    "set_interval": ("Sampling interval", "10 to 3,600", "s"),
    "payload_size": ("Largest payload", "1,024 to 16,384", "bytes"),
    "calibrate_span": ("Test gas concentration", "up to 300,000", "ppm"),
}


def layout(device: str | None = None, **kwargs) -> html.Div:
    """Render the node page (HQ, admin, auditor; a factory manager for their own factory's nodes)."""
    user = web_user()
    if user is None:
        return not_permitted("this node")
    children = [
        page_header(f"Node {device or ''}".strip(), "Times in EAT. Commands are sent by administrators only; a node "
                    "answers within a minute or the command shows 'timeout'."),
        dcc.Store(id="hq-node-device", data=device),
        dcc.Interval(id="hq-node-interval", interval=2_000, n_intervals=0),
        html.Div(id="hq-node-info"),
    ]
    if is_admin(user):  # the callback checks again: hiding the form is not the protection
        children.append(dbc.Card(dbc.CardBody([
            html.H3("Send a command", className="h6"),
            dbc.Row([
                dbc.Col(dcc.Dropdown(id="hq-node-cmd", clearable=False, value="status",
                                     options=[{"label": KIND_LABELS[k], "value": k} for k in COMMAND_KINDS]),
                        xs=12, md=4),
                dbc.Col(dbc.Input(id="hq-node-arg", type="number", placeholder="value (if the command takes one)"),
                        xs=12, md=3),
                dbc.Col(dbc.Button("Send", id="hq-node-send", color="primary"), xs=12, md=2),
            ], className="g-2"),
            html.Div(", ".join(f"{KIND_LABELS[k]}: {label} in {unit} ({hint})"
                               for k, (label, hint, unit) in ARG_HELP.items()), className="small text-muted mt-1"),
            html.Div(id="hq-node-feedback", className="mt-2"),
        ]), className="mb-3 shadow-sm"))
    children += [html.H3("Commands", className="h6 mt-3"), html.Div(id="hq-node-commands"),
                 html.H3("Firmware history", className="h6 mt-3"), html.Div(id="hq-node-firmware")]
    return dbc.Container(children, fluid=True)

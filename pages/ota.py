"""Firmware: upload images, run OTA campaigns (one node, a factory, a region, all, a canary share), watch each node."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from callbacks.common import not_permitted, page_header, web_user
from callbacks.i18n import N_, page_title
from callbacks.i18n import gettext as _
from callbacks.ota import campaign_nodes_section, inventory_section
from core.access import is_admin

dash.register_page(__name__, path="/hq/firmware", title=page_title(N_("Firmware")), name="Firmware")


def layout(**kwargs) -> html.Div:
    """Render the firmware page (admins act; HQ and auditors look)."""
    user = web_user()
    if user is None or user.role not in ("admin", "hq", "auditor"):
        return not_permitted(_("firmware updates"))
    children = [
        page_header(_("Firmware"), _("Images, update campaigns and which version runs where. Times in EAT.")),
        dcc.Interval(id="ota-interval", interval=3_000, n_intervals=0),
    ]
    if is_admin(user):  # the callbacks check again
        children.append(dbc.Card(dbc.CardBody([
            html.H3(_("Upload an image"), className="h6"),
            dbc.Row([
                dbc.Col(dbc.Input(id="ota-version", placeholder=_("version, e.g. 1.2.0")), xs=12, md=2),
                dbc.Col(dbc.Input(id="ota-sha256", placeholder=_("SHA-256 (sha256sum firmware.bin)")), xs=12, md=5),
                dbc.Col(dcc.Upload(id="ota-file", children=html.Div(_("Drop firmware.bin or click")), max_size=2_000_000,
                                   className="border rounded p-2 text-center small"), xs=12, md=3),
                dbc.Col(dbc.Button(_("Upload"), id="ota-upload", color="primary"), xs=12, md=2),
            ], className="g-2"),
            html.Div(id="ota-upload-feedback", className="mt-2"),
            html.H3(_("Start a campaign"), className="h6 mt-3"),
            dbc.Row([
                dbc.Col(dcc.Dropdown(id="ota-image", placeholder=_("image")), xs=12, md=2),
                dbc.Col(dcc.Dropdown(id="ota-target-kind", clearable=False, value="device", options=[
                    {"label": _("one node"), "value": "device"}, {"label": _("a factory"), "value": "factory"},
                    {"label": _("a region"), "value": "region"}, {"label": _("all nodes"), "value": "all"}]), xs=12, md=2),
                dbc.Col(dbc.Input(id="ota-target-value", placeholder=_("node id, factory code or region")), xs=12, md=3),
                dbc.Col(dbc.Input(id="ota-canary", type="number", placeholder=_("canary % (optional)")), xs=12, md=2),
                dbc.Col(dbc.Button(_("Start"), id="ota-start", color="warning"), xs=12, md=2),
            ], className="g-2"),
            html.Div(id="ota-start-feedback", className="mt-2"),
        ]), className="mb-3 shadow-sm"))
    # The two grids are part of the layout: the refresh (every 3 s) replaces their rows, not the grids,
    # so a reader's sort and search stay put.
    children += [html.H3(_("Campaigns"), className="h6"), html.Div(id="ota-campaigns"),
                 html.Div(id="ota-action-feedback"), campaign_nodes_section(), inventory_section()]
    return dbc.Container(children, fluid=True)

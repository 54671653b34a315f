"""Evidence: supporting files for the monthly energy data and the biomass supplier register."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from callbacks.common import app_tz, factory_options, not_permitted, page_header, session_factory, web_user
from callbacks.evidence import evidence_list
from callbacks.i18n import N_, page_title
from core.access import can_approve
from core.emissions import SOLID_FUELS
from core.evidence.files import MAX_BYTES
from core.models import ENERGY_SOURCES, ROLE_ADMIN, ROLE_FACTORY_MANAGER
from core.timeutil import add_months, local_date, month_start, utcnow

dash.register_page(__name__, path="/evidence", title=page_title(N_("Evidence")), name="Evidence")


def _upload_panel(user, factories: list[dict]) -> dbc.Card:  # noqa: ANN001
    current = month_start(local_date(utcnow(), app_tz()))
    months = [add_months(current, -i) for i in range(13)]
    return dbc.Card(dbc.CardBody([
        html.H3("Attach a file to a month's energy data", className="h6"),
        dbc.Row([
            dbc.Col(dcc.Dropdown(id="evidence-month", options=[{"label": f"{m:%B %Y}", "value": f"{m:%Y-%m}"}
                                                                for m in months], value=f"{months[1]:%Y-%m}"), md=4),
            dbc.Col(dcc.Dropdown(id="evidence-source", options=list(ENERGY_SOURCES), placeholder="energy source"),
                    md=4),
            dbc.Col(dbc.Input(id="evidence-description", placeholder="description (optional)", maxLength=200), md=4),
        ]),
        dcc.Upload(id="evidence-upload", max_size=MAX_BYTES, className="border rounded p-3 mt-2 text-center",
                   children=html.Div("Drop or choose a PDF, PNG, JPEG or .xlsx file (at most 10 MB)")),
        html.Div(id="evidence-upload-status", className="mt-2"),
    ]), className="mb-3 shadow-sm")


def _register_panel(factories: list[dict]) -> dbc.Card:
    return dbc.Card(dbc.CardBody([
        html.H3("Supplier sustainability declaration (biomass)", className="h6"),
        dbc.Row([
            dbc.Col(dcc.Dropdown(id="evidence-decl-source", options=sorted(SOLID_FUELS), placeholder="fuel"), md=2),
            dbc.Col(dbc.Input(id="evidence-decl-supplier", placeholder="supplier", maxLength=120), md=3),
            dbc.Col(dbc.Input(id="evidence-decl-scheme", placeholder="scheme (e.g. RED II Art. 29)", maxLength=120),
                    md=3),
            dbc.Col(dbc.Input(id="evidence-decl-reference", placeholder="reference", maxLength=120), md=2),
        ]),
        dbc.Row([
            dbc.Col(dcc.DatePickerSingle(id="evidence-decl-from", placeholder="valid from"), md="auto"),
            dbc.Col(dcc.DatePickerSingle(id="evidence-decl-to", placeholder="valid to"), md="auto"),
            dbc.Col(dbc.Button("Record declaration", id="evidence-declare", color="success"), md="auto"),
        ], className="mt-2"),
        html.Div(id="evidence-declare-status", className="mt-2"),
        html.Div("The factory is the one chosen above.", className="small text-muted"),
        html.H4("Attach the certificate to a declaration", className="h6 mt-3"),
        dbc.Input(id="evidence-decl-id", type="number", placeholder="declaration id", min=1),
        dcc.Upload(id="evidence-decl-upload", max_size=MAX_BYTES, className="border rounded p-2 mt-2 text-center",
                   children=html.Div("Drop or choose the declaration document")),
        html.Div(id="evidence-decl-upload-status", className="mt-2"),
        html.H4("Laboratory NCV of a fuel lot (replaces the IPCC default for the lot's months)",
                className="h6 mt-3"),
        dbc.Row([
            dbc.Col(dbc.Input(id="evidence-lab-decl-id", type="number", placeholder="declaration (lot) id", min=1),
                    md=2),
            dbc.Col(dbc.Input(id="evidence-lab-ncv", type="number", placeholder="NCV MJ/kg", min=5, max=60,
                              step="any"), md=2),
            dbc.Col(dcc.Dropdown(id="evidence-lab-basis", options=[
                {"label": "dry basis", "value": "dry"},
                {"label": "as received (give moisture)", "value": "as_received"}], placeholder="moisture basis"),
                md=3),
            dbc.Col(dbc.Input(id="evidence-lab-moisture", type="number", placeholder="moisture (fraction, wet basis)",
                              min=0, max=0.7, step="any"), md=3),
        ]),
        dbc.Row([
            dbc.Col(dbc.Input(id="evidence-lab-name", placeholder="laboratory", maxLength=120), md=3),
            dbc.Col(dbc.Input(id="evidence-lab-cert", placeholder="certificate number", maxLength=120), md=3),
            dbc.Col(dbc.Input(id="evidence-lab-file", type="number", min=1,
                              placeholder="certificate file id (attached above)"), md=3),
            dbc.Col(dcc.DatePickerSingle(id="evidence-lab-sampled", placeholder="sampled on"), md="auto"),
            dbc.Col(dbc.Button("Record lab NCV", id="evidence-lab-record", color="success"), md="auto"),
        ], className="mt-2"),
        html.Div(id="evidence-lab-status", className="mt-2"),
    ]), className="mb-3 shadow-sm")


def layout(**kwargs) -> html.Div:
    """The Evidence page for the signed-in user (files of the factories they may see)."""
    user = web_user()
    if user is None or not getattr(user, "active", False):
        return not_permitted("evidence")
    with session_factory()() as s:
        factories = factory_options(s, user)
    children = [page_header("Evidence", "Invoices, weighbridge tickets, meter readings and supplier declarations "
                                        "behind the figures; listed with their SHA-256 in the workbooks.")]
    may_upload = user.role in (ROLE_FACTORY_MANAGER, ROLE_ADMIN)  # who enters data (core.access.can_enter_data)
    if may_upload or can_approve(user):
        children.append(dbc.Row(dbc.Col(dcc.Dropdown(
            id="evidence-factory", options=factories, placeholder="factory",
            value=factories[0]["value"] if len(factories) == 1 else None), md=4), className="mb-2"))
    if may_upload:
        children.append(_upload_panel(user, factories))
    if can_approve(user):
        children.append(_register_panel(factories))
    children.append(html.Div(evidence_list(user, app_tz()), id="evidence-list"))
    return dbc.Container(children, fluid=True)

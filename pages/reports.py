"""Reports: the compliance workbooks a user may see, downloads, and (HQ/admin) generating a month."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from callbacks.common import app_tz, not_permitted, page_allowed, page_header, session_factory, web_user
from callbacks.i18n import N_, page_title
from callbacks.reports import (
    default_month,
    month_options,
    period_options,
    render_lists,
    scope_options,
    verify_panel,
)
from core.access import can_approve
from core.reporting.verification import can_verify
from core.timeutil import local_date, utcnow

dash.register_page(__name__, path="/reports", title=page_title(N_("Reports")), name="Reports")


def _generate_panel(user) -> dbc.Card:  # noqa: ANN001
    tz = app_tz()
    with session_factory()() as s:
        scopes = scope_options(s, user)
    return dbc.Card(dbc.CardBody([
        html.H3("Generate a month, a CBAM quarter or a year", className="h6"),
        dbc.Row([
            dbc.Col([dbc.Label("Period", html_for="reports-month", className="small text-muted mb-0"),
                     dcc.Dropdown(id="reports-month", options=period_options(local_date(utcnow(), tz)),
                                  value=default_month(tz), clearable=False)], xs=12, md=4),
            dbc.Col([dbc.Label("Workbooks", html_for="reports-scope", className="small text-muted mb-0"),
                     dcc.Dropdown(id="reports-scope", options=scopes, value="ALL", clearable=False)], xs=12, md=5),
            dbc.Col(dbc.Button("Generate", id="reports-generate", color="success", className="mt-4 w-100"),
                    xs=12, md=3),
        ]),
        # Shown from the click on: "starting" until the job's first report (a min-width in
        # carbontrack.css keeps the label readable at 0 %); role=status announces it to screen readers.
        dbc.Progress(id="reports-progress", value=0, label="starting…", striped=True, animated=True,
                     className="mt-3 ct-progress", style={"visibility": "hidden"}),
        html.Div(id="reports-generate-status", className="mt-2"),
        html.Div("Regenerating a month adds a new version; earlier versions and their files are kept.",
                 className="small text-muted"),
    ]), className="mb-3 shadow-sm")


def layout(**kwargs) -> html.Div:
    """The Reports page for the signed-in user."""
    user = web_user()
    if not page_allowed(user, "/reports"):
        return not_permitted("reports")
    table, runs = render_lists(user)
    children = [
        page_header("Reports", "Monthly, quarterly (CBAM quarters) and annual compliance workbooks: GHG Protocol "
                    "figures with a voluntary CBAM-shaped disclosure. Times in EAT."),
    ]
    if can_approve(user):
        children.append(_generate_panel(user))
    if can_verify(user):
        children.append(verify_panel(user))
    children += [
        dcc.Store(id="reports-generated"),
        dcc.Store(id="reports-verified"),
        dbc.Row([dbc.Col(html.H3("Workbooks", className="h6 mt-2")),
                 dbc.Col(dcc.Dropdown(id="reports-filter", options=[{"label": "All months", "value": "ALL"}]
                                      + month_options(local_date(utcnow(), app_tz())), value="ALL",
                                      clearable=False, style={"minWidth": "12rem"}), width="auto"),
                 dbc.Col(dbc.Button("Refresh", id="reports-refresh", size="sm", color="secondary", outline=True),
                         width="auto")], className="mb-2"),
        html.Div(table, id="reports-list"),
        html.Div([html.H3("Scheduled runs", className="h6 mt-3"), html.Div(runs, id="reports-runs")]
                 if runs is not None else html.Div(id="reports-runs"), id="reports-runs-section"),
    ]
    return dbc.Container(children, fluid=True)

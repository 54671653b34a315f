"""Reports: the compliance workbooks a user may see, downloads, and (HQ/admin) generating a month."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from callbacks.common import app_tz, not_permitted, page_allowed, page_header, session_factory, web_user
from callbacks.i18n import N_, page_title
from callbacks.i18n import gettext as _
from callbacks.reports import (
    FILTER_ALL,
    default_month,
    filter_options,
    period_options,
    render_lists,
    scope_options,
    verify_panel,
)
from core.access import can_approve
from core.reporting.reports import RESTATEMENT_REASON_MAX_CHARS
from core.reporting.verification import can_verify
from core.timeutil import local_date, utcnow

dash.register_page(__name__, path="/reports", title=page_title(N_("Reports")), name="Reports")


def _generate_panel(user) -> dbc.Card:  # noqa: ANN001
    tz = app_tz()
    with session_factory()() as s:
        scopes = scope_options(s, user)
    return dbc.Card(dbc.CardBody([
        html.H3(_("Generate a month, a CBAM quarter or a year"), className="h6"),
        dbc.Row([
            dbc.Col([dbc.Label(_("Period"), html_for="reports-month", className="small text-muted mb-0"),
                     dcc.Dropdown(id="reports-month", options=period_options(local_date(utcnow(), tz)),
                                  value=default_month(tz), clearable=False)], xs=12, md=4),
            dbc.Col([dbc.Label(_("Workbooks"), html_for="reports-scope", className="small text-muted mb-0"),
                     dcc.Dropdown(id="reports-scope", options=scopes, value="ALL", clearable=False)], xs=12, md=5),
            dbc.Col(dbc.Button(_("Generate"), id="reports-generate", color="success", className="mt-4 w-100"),
                    xs=12, md=3),
        ]),
        # Shown from the click on: "starting" until the job's first report (a min-width in
        # carbontrack.css keeps the label readable at 0 %); role=status announces it to screen readers.
        dbc.Progress(id="reports-progress", value=0, label=_("starting…"), striped=True, animated=True,
                     className="mt-3 ct-progress", style={"visibility": "hidden"}),
        dbc.Row([dbc.Col([
            dbc.Label(_("Restatement reason (only to restate)"), html_for="reports-restate-reason",
                      className="small text-muted mb-0 mt-2"),
            dbc.Input(id="reports-restate-reason", maxLength=RESTATEMENT_REASON_MAX_CHARS, debounce=False,
                      placeholder=_("what changed and why; empty: repeat the recorded basis")),
            html.Div(_("Left empty, a regenerated period repeats the factors and parameters recorded for it. With a "
                       "reason it is restated: the versions in force now, old against new and the reason in the "
                       "workbook."), className="small text-muted"),
        ], xs=12, md=9)]),
        html.Div(id="reports-generate-status", className="mt-2"),
        html.Div(_("Regenerating a month adds a new version; earlier versions and their files are kept."),
                 className="small text-muted"),
    ]), className="mb-3 shadow-sm")


def _filters(user) -> dbc.Row:  # noqa: ANN001
    """The grid's own filters (applied on the server: the grid holds one block of rows at a time)."""
    with session_factory()() as s:
        options = filter_options(s, user, local_date(utcnow(), app_tz()))
    labels = {"scope": _("Workbook"), "period": _("Period"), "year": _("Year"), "status": _("Workbook status")}
    cols = [dbc.Col([dbc.Label(labels[name], html_for=f"reports-filter-{name}", className="small text-muted mb-0"),
                     dcc.Dropdown(id=f"reports-filter-{name}", options=options[name], value=FILTER_ALL,
                                  clearable=False)], xs=6, md=3 if name == "scope" else 2)
            for name in ("scope", "period", "year", "status")]
    cols.append(dbc.Col(dbc.Button(_("Refresh"), id="reports-refresh", size="sm", color="secondary", outline=True,
                                   className="mt-md-4"), xs=12, md=3, className="d-flex align-items-end"))
    return dbc.Row(cols, className="mb-2 g-2")


def layout(**kwargs) -> html.Div:
    """The Reports page for the signed-in user."""
    user = web_user()
    if not page_allowed(user, "/reports"):
        return not_permitted(_("reports"))
    table, runs = render_lists(user)
    children = [
        page_header(_("Reports"), _("Monthly, quarterly (CBAM quarters) and annual compliance workbooks: GHG "
                                    "Protocol figures with a voluntary CBAM-shaped disclosure. Times in EAT.")),
    ]
    if can_approve(user):
        children.append(_generate_panel(user))
    if can_verify(user):
        children.append(verify_panel(user))
    children += [
        dcc.Store(id="reports-generated"),
        dcc.Store(id="reports-verified"),
        html.H3(_("Workbooks"), className="h6 mt-2"),
        _filters(user),
        html.Div(table, id="reports-list"),
        html.Div([html.H3(_("Scheduled runs"), className="h6 mt-3"), html.Div(runs, id="reports-runs")]
                 if runs is not None else html.Div(id="reports-runs"), id="reports-runs-section"),
    ]
    return dbc.Container(children, fluid=True)

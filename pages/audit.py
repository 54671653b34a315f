"""Audit log: who changed what and when (admins and auditors; read-only), paged from the server as you scroll."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from callbacks.common import not_permitted, page_allowed, page_header, web_user
from callbacks.i18n import N_, page_title
from callbacks.i18n import gettext as _

dash.register_page(__name__, path="/audit", title=page_title(N_("Audit log")), name="Audit log")

ACTIONS = ("login", "login_failed", "login_refused", "logout", "create", "update", "delete", "submit", "approve",
           "reopen")
# What each recorded action means, for the filter (the log itself keeps the action's name).
ACTION_LABELS = {"login": N_("login"), "login_failed": N_("login failed"), "login_refused": N_("login refused"),
                 "logout": N_("logout"), "create": N_("create"), "update": N_("update"), "delete": N_("delete"),
                 "submit": N_("submit"), "approve": N_("approve"), "reopen": N_("reopen")}


def layout(**kwargs) -> html.Div:
    """Render the audit log page."""
    user = web_user()
    if not page_allowed(user, "/audit"):
        return not_permitted(_("the audit log"))
    return dbc.Container(
        [
            page_header(_("Audit log"), _("Newest first; times in EAT. Nothing here can be changed.")),
            dbc.Row([
                dbc.Col([dbc.Label(_("Action"), html_for="audit-action", className="small text-muted mb-0"),
                         dcc.Dropdown(id="audit-action", placeholder=_("All actions"),
                                      options=[{"label": _(ACTION_LABELS[a]), "value": a} for a in ACTIONS])], xs=12, md=3),
                dbc.Col([dbc.Label(_("Search the whole log"), html_for="audit-search", className="small text-muted mb-0"),
                         dbc.Input(id="audit-search", placeholder=_("user, entity, field or detail contains…"),
                                   debounce=True)], xs=12, md=5),
            ], className="mb-3"),
            dcc.Loading(html.Div(id="audit-table")),
        ],
        fluid=True,
    )

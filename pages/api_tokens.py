"""API tokens: the signed-in user's personal tokens for the REST API (create, see last use, revoke)."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from callbacks.api_tokens import expiry_options
from callbacks.common import page_header, web_user
from callbacks.i18n import N_, page_title
from callbacks.i18n import gettext as _

dash.register_page(__name__, path="/account/api-tokens", title=page_title(N_("API tokens")), name="API tokens")


def layout(**kwargs) -> html.Div:
    """Render the API tokens page (every signed-in user manages their own tokens)."""
    if web_user() is None:
        return html.Div()
    return dbc.Container(
        [
            page_header(_("API tokens"), _("Personal tokens for the REST API (/api/docs). A token acts as you: "
                                           "same role, same factories. It is shown once; only its hash is kept.")),
            dbc.Row([
                dbc.Col([dbc.Label(_("Token name"), html_for="api-tokens-name", className="small text-muted mb-0"),
                         dbc.Input(id="api-tokens-name", placeholder=_("What is it for? e.g. ERP sync"),
                                   maxLength=80)], xs=12, md=5),
                dbc.Col([dbc.Label(_("Expiry"), html_for="api-tokens-expires", className="small text-muted mb-0"),
                         dcc.Dropdown(id="api-tokens-expires", clearable=False, value=90, options=expiry_options())],
                        xs=12, md=3),
                dbc.Col(dbc.Button(_("Create token"), id="api-tokens-create", color="success"), xs=12, md=2,
                        className="d-flex align-items-end"),
            ], className="mb-3 g-2"),
            html.Div(id="api-tokens-new"),
            dcc.Store(id="api-tokens-refresh", data=0),
            html.Div(id="api-tokens-feedback"),
            html.Div(id="api-tokens-table"),
        ],
        fluid=True,
    )

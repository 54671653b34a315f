"""Home: sends each role to its first page (the server redirects GET / too)."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from callbacks.common import HOME_BY_ROLE, NAV_ITEMS, web_user
from callbacks.i18n import gettext as _

dash.register_page(__name__, path="/", title="Carbon Track", name="Home")


def layout(**kwargs) -> html.Div:
    """Return links to the role's pages."""
    user = web_user()
    if user is None:
        return html.Div()
    items = [dbc.ListGroupItem(dcc.Link(_(label), href=path)) for label, path in NAV_ITEMS.get(user.role, ())]
    return dbc.Container([html.H2("Carbon Track", className="h4 mt-3"),
                          html.P(_("Start at {path}.", path=HOME_BY_ROLE.get(user.role, "/")), className="text-muted"),
                          dbc.ListGroup(items, id="home-links")], fluid=True)

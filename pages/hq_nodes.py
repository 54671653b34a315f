"""Node health: every node's status, signal, firmware, buffer and coverage; listener health."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from callbacks.common import not_permitted, page_allowed, page_header, web_user
from callbacks.hq_nodes import listener_grid, nodes_grid
from callbacks.i18n import N_, page_title
from callbacks.i18n import gettext as _

dash.register_page(__name__, path="/hq/nodes", title=page_title(N_("Nodes")), name="Nodes")


def layout(**kwargs) -> html.Div:
    """Render the node health page (HQ, admin, auditor)."""
    user = web_user()
    if not page_allowed(user, "/hq/nodes"):
        return not_permitted(_("node health"))
    return dbc.Container(
        [
            page_header(_("Node health"), _("Every sensor node. Times in EAT; online = heard from within 3 sample "
                        "intervals (at least 5 minutes), and no 'offline' last will since.")),
            dcc.Interval(id="hq-nodes-interval", interval=30_000, n_intervals=0),
            dbc.Row([dbc.Col(dbc.Checklist(id="hq-nodes-problems", options=[
                {"label": _("Only nodes offline or below 50 % coverage (24 h)"), "value": "problems"}], value=[],
                switch=True), xs=12)], className="mb-2"),
            dcc.Loading(html.Div(id="hq-nodes-summary")),
            # The grids are placed here once; the refresh sends their rows (callbacks/hq_nodes.py), so a
            # search, sort or filter survives it. Their empty-state messages show in the Divs beside them.
            html.Div(id="hq-nodes-table"),
            nodes_grid(),
            html.H3(_("Listeners"), className="h6 mt-4"),
            html.Div(id="hq-nodes-listeners"),
            listener_grid(),
        ],
        fluid=True,
    )

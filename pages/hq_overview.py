"""HQ overview: network totals, success metrics, trend, regions and an offline map."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from callbacks.common import not_permitted, page_allowed, page_header, web_user

dash.register_page(__name__, path="/hq", title="Overview · Carbon Track", name="Overview")


def layout(**kwargs) -> html.Div:
    """Render the overview page (HQ, admin, auditor)."""
    user = web_user()
    if not page_allowed(user, "/hq"):
        return not_permitted("the HQ overview")
    return dbc.Container(
        [
            page_header("Network overview", "All factories. Months are local months (EAT); tonnes of CO2e."),
            dcc.Interval(id="hq-overview-interval", interval=60_000, n_intervals=0),
            dcc.Location(id="hq-overview-go", refresh="callback-nav"),
            dcc.Loading(html.Div(id="hq-overview-kpis"), type="dot"),
            dbc.Row([
                dbc.Col(dcc.Loading(dcc.Graph(id="hq-overview-trend", config={"displaylogo": False})), xs=12, lg=7),
                dbc.Col(dcc.Loading(dcc.Graph(id="hq-overview-map", config={"displaylogo": False})), xs=12, lg=5),
            ]),
            dbc.Row([
                dbc.Col(dcc.Graph(id="hq-overview-regions", config={"displaylogo": False}), xs=12, lg=6),
                dbc.Col([html.H3("Sensor uptime, last 30 days", className="h6 mt-2"),
                         html.Div(id="hq-overview-uptime")], xs=12, lg=6),
            ]),
        ],
        fluid=True,
    )

"""HQ overview: network totals, success metrics, trend, regions and an offline map."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from callbacks.common import app_tz, not_permitted, page_allowed, page_header, web_user
from callbacks.hq_overview import reminders_grid, uptime_grid
from callbacks.i18n import N_, graph_config, page_title
from callbacks.i18n import gettext as _
from callbacks.ranges import month_range_picker
from core.timeutil import local_date, utcnow

dash.register_page(__name__, path="/hq", title=page_title(N_("Overview")), name="Overview")


def layout(**kwargs) -> html.Div:
    """Render the overview page (HQ, admin, auditor)."""
    user = web_user()
    if not page_allowed(user, "/hq"):
        return not_permitted(_("the HQ overview"))
    return dbc.Container(
        [
            page_header(_("Network overview"), _("All factories. Months are local months (EAT); tonnes of CO2e. "
                        "Click a region or a month to open its leaderboard.")),
            dbc.Row([*month_range_picker("hq-overview", local_date(utcnow(), app_tz())),
                     dbc.Col(html.Div(_("Empty: year to date and the last 13 months."), className="small text-muted"),
                             xs=12, md=4, className="align-self-end")], className="mb-2"),
            dcc.Interval(id="hq-overview-interval", interval=60_000, n_intervals=0),
            dcc.Location(id="hq-overview-go", refresh="callback-nav"),
            dcc.Loading(html.Div(id="hq-overview-kpis"), type="dot"),
            dbc.Row([
                dbc.Col(dcc.Loading(dcc.Graph(id="hq-overview-trend", config=graph_config())), xs=12, lg=7),
                dbc.Col(dcc.Loading(dcc.Graph(id="hq-overview-map", config=graph_config())), xs=12, lg=5),
            ]),
            dbc.Row([
                dbc.Col(dcc.Graph(id="hq-overview-regions", config=graph_config()), xs=12, lg=6),
                # The grids stay mounted: the minute's refresh sends only their rows, so sort and search survive.
                dbc.Col([html.H3(_("Sensor uptime, last 30 days"), className="h6 mt-2"),
                         html.Div(id="hq-overview-uptime"), uptime_grid(),
                         html.Div([html.H3(_("Energy-data reminders sent"), className="h6 mt-3"),
                                   html.Div(id="hq-overview-reminders-note"), reminders_grid()],
                                  id="hq-overview-reminders-section", hidden=True)], xs=12, lg=6),
            ]),
        ],
        fluid=True,
    )

"""Factory Live: current stack values, the last hour and 24 h, today's CO2, node status."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from callbacks.common import (
    app_tz,
    factory_picker,
    not_permitted,
    page_allowed,
    page_header,
    parse_factory_id,
    web_user,
)
from callbacks.factory_live import REFRESH_MS, node_grid
from callbacks.i18n import N_, graph_config, page_title
from callbacks.i18n import gettext as _
from core.timeutil import utcnow

dash.register_page(__name__, path="/factory/live", title=page_title(N_("Live")), name="Live")


def layout(factory: str | None = None, **kwargs) -> html.Div:
    """Render the live page; `?factory=<id>` preselects a factory for roles that may pick one."""
    user = web_user()
    if not page_allowed(user, "/factory/live"):
        return not_permitted(_("the live page"))
    picker, _selected = factory_picker("factory-live", user, parse_factory_id(factory))
    return dbc.Container(
        [
            page_header(_("Live"), _("Stack CO2 as it is measured; refreshes every few seconds. Times in "
                                     "{zone} (CARBONTRACK_TZ).", zone=utcnow().astimezone(app_tz()).tzname())),
            dbc.Row([picker, dbc.Col(html.Div(id="factory-live-updated", className="small text-muted mt-4"),
                                     xs=12, md=7, lg=8)], className="mb-3"),
            dcc.Interval(id="factory-live-interval", interval=REFRESH_MS, n_intervals=0),
            dcc.Store(id="factory-live-state"),
            dcc.Loading(html.Div(id="factory-live-kpis"), type="dot", delay_show=1000),
            dbc.Row(
                [
                    # delay_show: a 5 s tick takes well under a second, so no spinner flashes.
                    dbc.Col(dcc.Loading(dcc.Graph(id="factory-live-hour", config=graph_config()),
                                        delay_show=1000), xs=12, lg=6),
                    dbc.Col(dcc.Loading(dcc.Graph(id="factory-live-day", config=graph_config()),
                                        delay_show=1000), xs=12, lg=6),
                ]
            ),
            html.H3(_("Nodes"), className="h6 mt-3"),
            html.Div(id="factory-live-nodes"),  # a sentence when there are no nodes
            node_grid(),  # stays mounted: a refresh sends only its rows, so sort and search survive
        ],
        fluid=True,
    )

"""Factory history: daily and monthly emissions, intensity vs target, reconciliation, coverage, export."""

from __future__ import annotations

from datetime import timedelta

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
from callbacks.i18n import N_, graph_config, page_title
from callbacks.i18n import gettext as _
from core.timeutil import local_date, utcnow

dash.register_page(__name__, path="/factory/history", title=page_title(N_("History")), name="History")


def layout(factory: str | None = None, **kwargs) -> html.Div:
    """Render the history page; `?factory=<id>` preselects a factory (the leaderboard links here)."""
    user = web_user()
    if not page_allowed(user, "/factory/history"):
        return not_permitted(_("the history page"))
    picker, selected = factory_picker("factory-history", user, parse_factory_id(factory))
    tz = app_tz()  # CARBONTRACK_TZ: the days and months the callbacks and reports use
    now = utcnow()
    today = local_date(now, tz)
    return dbc.Container(
        [
            page_header(_("History"), _("Measured stack CO2 by local day ({zone}); monthly inventory as in the "
                                        "reports. Days without data are gaps, not zeros.",
                                        zone=now.astimezone(tz).tzname())),
            html.A(_("Raw sensor channels (CO2 ppm, flue °C, velocity m/s) →"), href="/factory/raw" + (f"?factory={selected}" if selected else ""), className="small", id="factory-history-raw-link"),  # noqa: E501
            dbc.Row(
                [
                    picker,
                    dbc.Col([dbc.Label(_("Dates (local days)"), className="small text-muted mb-0"),
                             html.Div(dcc.DatePickerRange(id="factory-history-range",
                                                          start_date=(today - timedelta(days=89)).isoformat(),
                                                          end_date=today.isoformat(), max_date_allowed=today,
                                                          display_format="YYYY-MM-DD", minimum_nights=0,
                                                          start_date_placeholder_text=_("Start date"),
                                                          end_date_placeholder_text=_("End date")))],
                            xs=12, md=4),
                    dbc.Col([dbc.Button(_("CSV"), id="factory-history-csv", color="secondary", outline=True,
                                        className="me-2 mt-4"),
                             dbc.Button(_("Excel"), id="factory-history-xlsx", color="secondary", outline=True,
                                        className="mt-4"),
                             dcc.Download(id="factory-history-download")], xs=12, md=3),
                ],
                className="mb-3",
            ),
            dcc.Loading(html.Div(id="factory-history-kpis")),
            dbc.Row([
                dbc.Col(dcc.Loading(dcc.Graph(id="factory-history-daily", config=graph_config())), xs=12,
                        lg=6),
                dbc.Col(dcc.Loading(dcc.Graph(id="factory-history-monthly", config=graph_config())),
                        xs=12, lg=6),
            ]),
            dbc.Row([
                dbc.Col(dcc.Graph(id="factory-history-intensity", config=graph_config()), xs=12, lg=6),
                dbc.Col(dcc.Graph(id="factory-history-reconciliation", config=graph_config()), xs=12, lg=6),
            ]),
            html.H3(_("Months"), className="h6 mt-3"),
            dcc.Loading(html.Div(id="factory-history-table")),
        ],
        fluid=True,
    )

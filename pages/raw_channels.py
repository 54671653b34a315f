"""Raw channels: CO2 ppm, flue °C and velocity m/s per node over chosen days (linked from History)."""

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
from callbacks.raw_channels import CHART_HEIGHT_PX, DEFAULT_DAYS
from core.timeutil import local_date, utcnow

dash.register_page(__name__, path="/factory/raw", title=page_title(N_("Raw channels")), name="Raw channels")


def layout(factory: str | None = None, **kwargs) -> html.Div:
    """Render the raw channels page; the same roles as History; `?factory=<id>` preselects."""
    user = web_user()
    if not page_allowed(user, "/factory/history"):
        return not_permitted(_("the raw channels"))
    picker, selected = factory_picker("raw-channels", user, parse_factory_id(factory))
    today = local_date(utcnow(), app_tz())
    return dbc.Container(
        [
            page_header(_("Raw channels"), _("What each node measured: CO2 (ppm), flue gas temperature (°C) and "
                        "velocity (m/s). Long ranges are reduced on the server to at most 2,000 points per line.")),
            html.A(_("← History"), href="/factory/history" + (f"?factory={selected}" if selected else ""),
                   className="small", id="raw-channels-back"),
            dbc.Row([
                picker,
                dbc.Col([dbc.Label(_("Dates (local days)"), html_for="raw-channels-range",
                                   className="small text-muted mb-0"),
                         html.Div(dcc.DatePickerRange(id="raw-channels-range",
                                                      start_date=(today - timedelta(days=DEFAULT_DAYS - 1)).isoformat(),
                                                      end_date=today.isoformat(), max_date_allowed=today,
                                                      display_format="YYYY-MM-DD", minimum_nights=0,
                                                      start_date_placeholder_text=_("Start date"),
                                                      end_date_placeholder_text=_("End date")))],
                        xs=12, md=5),
            ], className="mb-3"),
            # Responsive: the chart follows its container's width, also when a scrollbar appears after
            # it was drawn (a fixed-height figure would keep its first width and overflow by the bar).
            dcc.Loading(dcc.Graph(id="raw-channels-graph", config=graph_config(), responsive=True,
                                  style={"height": f"{CHART_HEIGHT_PX}px"})),
            html.Div(id="raw-channels-note", className="mb-4"),
        ],
        fluid=True,
    )

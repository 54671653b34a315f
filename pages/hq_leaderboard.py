"""Leaderboard: every factory ranked by intensity, emissions or change on last year."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
import sqlalchemy as sa
from dash import dcc, html

from callbacks.common import app_tz, not_permitted, page_allowed, page_header, session_factory, web_user
from callbacks.hq_leaderboard import url_choices
from callbacks.i18n import N_, page_title
from callbacks.i18n import gettext as _
from callbacks.ranges import month_range_picker
from core.insights.queries import METRICS, PERIODS
from core.models import Factory
from core.timeutil import local_date, utcnow

dash.register_page(__name__, path="/hq/leaderboard", title=page_title(N_("Leaderboard")), name="Leaderboard")


def layout(**kwargs) -> html.Div:
    """Render the leaderboard page (HQ, admin, auditor)."""
    user = web_user()
    if not page_allowed(user, "/hq/leaderboard"):
        return not_permitted(_("the leaderboard"))
    with session_factory()() as s:
        regions = list(s.scalars(sa.select(Factory.region).distinct().order_by(Factory.region)))
    today = local_date(utcnow(), app_tz())
    region, first, last = url_choices(kwargs, today)
    return dbc.Container(
        [
            page_header(_("Leaderboard"), _("Lower is better. Click a factory to open its history. "
                        "Pick From/To months for any range; it replaces the period.")),
            dbc.Row([
                dbc.Col([dbc.Label(_("Rank by"), html_for="hq-leaderboard-metric", className="small text-muted mb-0"),
                         dcc.Dropdown(id="hq-leaderboard-metric", clearable=False, value="intensity",
                                      options=[{"label": _(v), "value": k} for k, v in METRICS.items()])], xs=12, md=3),
                dbc.Col([dbc.Label(_("Period"), html_for="hq-leaderboard-period", className="small text-muted mb-0"),
                         dcc.Dropdown(id="hq-leaderboard-period", clearable=False, value="latest",
                                      options=[{"label": _(v), "value": k} for k, v in PERIODS.items()])], xs=6, md=2),
                *month_range_picker("hq-leaderboard", today, first, last),
                dbc.Col([dbc.Label(_("Region"), html_for="hq-leaderboard-region", className="small text-muted mb-0"),
                         dcc.Dropdown(id="hq-leaderboard-region", placeholder=_("All regions"),
                                      value=region if region in regions else None,
                                      options=[{"label": _("Region {n}", n=r), "value": r} for r in regions])],
                        xs=6, md=3),
            ], className="mb-3"),
            dcc.Loading(html.Div(id="hq-leaderboard-table")),
        ],
        fluid=True,
    )

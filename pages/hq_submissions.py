"""HQ submission grid: every factory × month, the month's status, due days and late marks."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from callbacks.common import not_permitted, page_allowed, page_header, web_user
from callbacks.i18n import N_, page_title
from callbacks.i18n import gettext as _

dash.register_page(__name__, path="/hq/submissions", title=page_title(N_("Submissions")), name="Submissions")


def layout(**kwargs) -> html.Div:
    """Render the submission grid page (HQ, admin, auditor)."""
    user = web_user()
    if not page_allowed(user, "/hq/submissions"):
        return not_permitted(_("the submission grid"))
    return dbc.Container(
        [
            page_header(_("Submissions"), _("Energy data per factory and local month (EAT); due by the 10th of the "
                        "next month.")),
            dbc.Row([
                dbc.Col([dbc.Label(_("Months shown"), html_for="hq-submissions-months",
                                   className="small text-muted mb-0"),
                         dcc.Dropdown(id="hq-submissions-months", clearable=False, value="12",
                                      options=[{"label": _("last 6 months"), "value": "6"},
                                               {"label": _("last 12 months"), "value": "12"}])], xs=12, md=3),
            ], className="mb-3"),
            dcc.Loading(html.Div(id="hq-submissions-table")),
        ],
        fluid=True,
    )

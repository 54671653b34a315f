"""Alerts: the signed-in user's notification list, acknowledgement, and their own alert contact settings."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from callbacks.alerts import alerts_grid, reminders_grid
from callbacks.common import not_permitted, page_header, web_user
from callbacks.i18n import N_, page_title
from callbacks.i18n import gettext as _
from core.models import UserContact

dash.register_page(__name__, path="/alerts", title=page_title(N_("Alerts")), name="Alerts")


def layout(**kwargs) -> html.Div:
    """Render the alerts page (every signed-in role; each sees the alerts of their own factories)."""
    user = web_user()
    if user is None:
        return not_permitted(_("alerts"))
    from callbacks.common import session_factory

    with session_factory()() as s:
        c = s.get(UserContact, user.id) or UserContact()
    contact = dbc.Card(dbc.CardBody([
        html.H3(_("How you are told"), className="h6"),
        dbc.Row([
            dbc.Col(dbc.Input(id="alerts-email", type="email", value=c.email, placeholder=_("email")), xs=12, md=3),
            dbc.Col(dbc.Input(id="alerts-phone", value=c.phone, placeholder=_("phone, e.g. +254712345678")), xs=12, md=3),
            dbc.Col(dbc.Checklist(id="alerts-optout", value=[v for v, on in (("email", c.email_opt_out),
                                                                                 ("sms", c.sms_opt_out)) if on],
                                  options=[{"label": _("no email"), "value": "email"},
                                           {"label": _("no SMS/WhatsApp"), "value": "sms"}], inline=True), xs=12, md=2),
            dbc.Col(dbc.InputGroup([dbc.Label(_("quiet from"), html_for="alerts-quiet-from", className="input-group-text mb-0"),
                                    dbc.Input(id="alerts-quiet-from", type="number", value=c.quiet_from_hour),
                                    dbc.Label(_("to"), html_for="alerts-quiet-to", className="input-group-text mb-0"),
                                    dbc.Input(id="alerts-quiet-to", type="number", value=c.quiet_to_hour),
                                    dbc.InputGroupText(_("h EAT"))]), xs=12, md=3),
            dbc.Col(dbc.Button(_("Save"), id="alerts-save", color="secondary"), xs=12, md=1),
        ], className="g-2"),
        html.Div(id="alerts-save-feedback", className="mt-2"),
    ]), className="mb-3 shadow-sm")
    return dbc.Container([
        page_header(_("Alerts"), _("Firing and acknowledged alerts of the factories you look after; resolved ones "
                                  "below. Times in EAT.")),
        dcc.Interval(id="alerts-interval", interval=15_000, n_intervals=0),
        html.Div(id="alerts-badge-line", className="mb-2"),
        dbc.Checklist(id="alerts-show-resolved", options=[{"label": _("Show resolved"), "value": "yes"}], value=[],
                      switch=True),
        html.Div(id="alerts-list"), alerts_grid(), html.Div(id="alerts-ack-feedback"),
        html.H3(_("Energy-data reminders sent"), className="h6 mt-4"), html.Div(id="alerts-reminders"),
        reminders_grid(),
        contact,
    ], fluid=True)

"""Alerts page callbacks: the list with its badge, acknowledging, reminders sent, the user's contact settings."""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, ctx, html

from callbacks.common import app_tz, empty_state, fmt_eat, web_user
from callbacks.common import session_factory as app_session_factory
from core.access import AccessDenied
from core.alerts.notify import reminders_sent, save_contact
from core.alerts.state import AlertView, acknowledge, badge_count, list_alerts

STATE_COLORS = {"firing": "danger", "acknowledged": "warning", "resolved": "success"}


def render_alerts(views: list[AlertView], can_ack: bool, tz: Any) -> Any:
    """The alert table; an Acknowledge button on firing alerts for roles that may."""
    if not views:
        return empty_state("No alerts. All quiet.", "alerts-none")
    rows = []
    for v in views:
        who = []
        if v.acknowledged_by:
            who.append(f"acknowledged by {v.acknowledged_by} {fmt_eat(v.acknowledged_at, tz)}")
        if v.resolved_at:
            who.append(f"resolved by {v.resolved_by} {fmt_eat(v.resolved_at, tz)}")
        button = (dbc.Button("Acknowledge", size="sm", id={"type": "alerts-ack", "index": v.id})
                  if can_ack and v.state == "firing" else None)
        rows.append(html.Tr([html.Td(fmt_eat(v.fired_at, tz)), html.Td(dbc.Badge(v.state, color=STATE_COLORS[v.state])),
                             html.Td([html.Div(v.title), html.Div(v.detail or "", className="small text-muted")]),
                             html.Td("; ".join(who) or "—", className="small"), html.Td(button)]))
    head = ("Since (EAT)", "State", "Alert", "Who and when", "")
    return dbc.Table([html.Thead(html.Tr([html.Th(h) for h in head])), html.Tbody(rows)], size="sm",
                     responsive=True, id="alerts-table")


def register(app: dash.Dash) -> None:
    """Attach the alerts page's callbacks to `app`."""

    @app.callback(Output("alerts-list", "children"), Output("alerts-badge-line", "children"),
                  Output("alerts-reminders", "children"),
                  Input("alerts-interval", "n_intervals"), Input("alerts-show-resolved", "value"),
                  Input("alerts-ack-feedback", "children"))
    def _render(_n, resolved, _fb):  # noqa: ANN001, ANN202
        user, tz = web_user(), app_tz()
        with app_session_factory()() as s:
            # A checklist sends a list; anything else a crafted request sends means "not ticked".
            show_resolved = isinstance(resolved, list) and "yes" in resolved
            views = list_alerts(s, user, include_resolved=show_resolved)
            firing = badge_count(s, user)
            reminded = reminders_sent(s, user)[:200]
        badge = html.Span(["Firing ", dbc.Badge(f"{firing:,}", color="danger" if firing else "secondary",
                                                id="alerts-badge")])
        rem = (dbc.Table([html.Thead(html.Tr([html.Th(h) for h in ("Factory", "Month", "Reminded", "How", "When (EAT)")])),
                          html.Tbody([html.Tr([html.Td(f"{r.factory_name} ({r.factory_code})"),
                                               html.Td(f"{r.month:%B %Y}"), html.Td(r.username), html.Td(r.channel),
                                               html.Td(fmt_eat(r.sent_at, tz))]) for r in reminded])],
                         size="sm", id="alerts-reminder-table")
               if reminded else empty_state("No reminders sent yet."))
        can_ack = user is not None and user.role in ("factory_manager", "hq", "admin")
        return render_alerts(views, can_ack, tz), badge, rem

    @app.callback(Output("alerts-ack-feedback", "children"), Input({"type": "alerts-ack", "index": ALL}, "n_clicks"),
                  prevent_initial_call=True)
    def _ack(clicks):  # noqa: ANN001, ANN202
        trigger = ctx.triggered_id
        if not trigger or not any(clicks or []):
            return dash.no_update
        try:
            with app_session_factory()() as s:
                a = acknowledge(s, web_user(), int(trigger.get("index")))
        except (AccessDenied, TypeError, ValueError):
            return dbc.Alert("You cannot acknowledge this alert.", color="warning", id="alerts-ack-refused")
        return html.Div(f"Acknowledged: {a.title}", className="small text-muted", id="alerts-ack-ok")

    @app.callback(Output("alerts-save-feedback", "children"), Input("alerts-save", "n_clicks"),
                  State("alerts-email", "value"), State("alerts-phone", "value"), State("alerts-optout", "value"),
                  State("alerts-quiet-from", "value"), State("alerts-quiet-to", "value"), prevent_initial_call=True)
    def _save(_n, email, phone, optout, quiet_from, quiet_to):  # noqa: ANN001, ANN202
        optout = optout if isinstance(optout, list) else []
        try:
            with app_session_factory()() as s:
                save_contact(s, web_user(), None if email is None else str(email), None if phone is None else str(phone),
                             "email" in optout, "sms" in optout, quiet_from, quiet_to)
        except PermissionError:
            return dbc.Alert("Sign in first.", color="danger")
        except ValueError as exc:
            return dbc.Alert(str(exc), color="warning", id="alerts-save-invalid")
        return dbc.Alert("Saved.", color="success", id="alerts-save-ok")

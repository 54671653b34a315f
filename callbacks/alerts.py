"""Alerts page callbacks: the list with its badge, acknowledging, reminders sent, the user's contact settings."""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, html

from callbacks.common import app_tz, empty_state, fmt_eat, web_user
from callbacks.common import session_factory as app_session_factory
from callbacks.grid import grid_controls, grid_view, standing_grid
from callbacks.i18n import N_, current_language, format_number, tr_message
from callbacks.i18n import gettext as _
from core.access import AccessDenied
from core.alerts.notify import alert_words, reminders_sent, save_contact
from core.alerts.state import AlertView, acknowledge, badge_count, list_alerts

STATE_COLORS = {"firing": "danger", "acknowledged": "warning", "resolved": "success"}


GRID_ID = "alerts-table"
COLUMNS = [
    {"field": "alert", "headerName": N_("Alert"), "minWidth": 180, "tooltipField": "detail", "wrapText": True,
     "autoHeight": True},
    {"field": "state", "headerName": N_("State"), "cellRenderer": "CtStatus", "minWidth": 110, "maxWidth": 150},
    {"field": "action", "headerName": N_("Action"), "cellRenderer": "CtButton", "sortable": False, "filter": False,
     "minWidth": 130, "maxWidth": 150},
    {"field": "since", "headerName": N_("Since (EAT)"), "minWidth": 150, "priority": 2},
    {"field": "who", "headerName": N_("Who and when"), "minWidth": 200, "priority": 3, "wrapText": True, "autoHeight": True},
    {"field": "detail", "headerName": N_("Detail"), "minWidth": 200, "priority": 3},
]


REMINDER_GRID_ID = "alerts-reminder-table"
REMINDER_COLUMNS = [
    {"field": "factory", "headerName": N_("Factory"), "minWidth": 150},
    {"field": "month", "headerName": N_("Month"), "maxWidth": 120},
    {"field": "when", "headerName": N_("When (EAT)"), "minWidth": 150, "priority": 2},
    {"field": "user", "headerName": N_("Reminded"), "priority": 3},
    {"field": "channel", "headerName": N_("How"), "priority": 3},
]


STATE_WORDS = {"firing": N_("firing"), "acknowledged": N_("acknowledged"), "resolved": N_("resolved")}
CHANNEL_WORDS = {"email": N_("email"), "sms": N_("sms")}  # how a reminder went, as stored


def translated(columns: list[dict]) -> list[dict]:
    """The column definitions with their headers in this request's language (the lists are built at import)."""
    return [{**c, "headerName": _(c["headerName"])} for c in columns]


def alert_text(text: str | None) -> str:
    """An alert's stored English title or detail (core.alerts.rules) in this request's language.

    The catalog holds each rule's sentence with {placeholders}; the month names the rules write
    ("November 2026", "10 December") are given in the language's own names.
    """
    if not text or current_language() == "en":
        return text or ""
    return alert_words(text, current_language())


def alert_rows(views: list[AlertView], can_ack: bool, tz: Any) -> list[dict]:
    """Alerts as grid rows; an Acknowledge button (CtButton) on firing alerts for roles that may."""
    rows = []
    for v in views:
        who = []
        if v.acknowledged_by:
            who.append(_("acknowledged by {user} {when}", user=v.acknowledged_by, when=fmt_eat(v.acknowledged_at, tz)))
        if v.resolved_at:
            who.append(_("resolved by {user} {when}", user=v.resolved_by, when=fmt_eat(v.resolved_at, tz)))
        row = {"id": v.id, "since": fmt_eat(v.fired_at, tz), "state": _(STATE_WORDS.get(v.state, v.state)),
               "state__tone": v.state, "alert": alert_text(v.title), "detail": alert_text(v.detail),
               "who": "; ".join(who) or "—", "action": ""}
        if can_ack and v.state == "firing":
            row.update(action=_("Acknowledge"), action__arg=v.id, action__id=f"alerts-ack-{v.id}")
        rows.append(row)
    return rows


def alerts_grid() -> html.Div:
    """The alerts grid for the page's layout (hidden until the refresh sends rows; see `standing_grid`)."""
    return standing_grid(GRID_ID, translated(COLUMNS), row_key="id", export_name="alerts",
                         search_label=_("Search alerts"))


def reminders_grid() -> html.Div:
    """The reminders grid for the page's layout (hidden until the refresh sends rows)."""
    return standing_grid(REMINDER_GRID_ID, translated(REMINDER_COLUMNS), export_name="reminders",
                         search_label=_("Search reminders"))


def render_alerts(views: list[AlertView], can_ack: bool, tz: Any) -> tuple[Any, list[dict], bool]:
    """(message, rows, grid hidden) for the alerts grid; a click on Acknowledge sends the alert's id to the
    server (checked there)."""
    return grid_view(alert_rows(views, can_ack, tz), empty_state(_("No alerts. All quiet."), "alerts-none"))


def reminder_rows(reminded: list, tz: Any) -> list[dict]:
    """Reminders sent as grid rows (month as YYYY-MM and the time in local time: text that sorts)."""
    return [{"factory": f"{r.factory_name} ({r.factory_code})", "month": f"{r.month:%Y-%m}", "user": r.username,
             "channel": _(CHANNEL_WORDS.get(r.channel, r.channel)), "when": fmt_eat(r.sent_at, tz)} for r in reminded]


def acknowledge_view(user, renderer_data: Any, session_factory) -> Any:  # noqa: ANN001
    """Acknowledge the alert a grid button named (`cellRendererData`), if `user` may (core.alerts checks)."""
    alert_id = renderer_data.get("value") if isinstance(renderer_data, dict) else None
    if isinstance(alert_id, bool) or not isinstance(alert_id, int):
        return dash.no_update
    try:
        with session_factory() as s:
            a = acknowledge(s, user, alert_id)
    except (AccessDenied, TypeError, ValueError):
        return dbc.Alert(_("You cannot acknowledge this alert."), color="warning", id="alerts-ack-refused")
    return html.Div(_("Acknowledged: {title}", title=alert_text(a.title)), className="small text-muted", id="alerts-ack-ok")


def register(app: dash.Dash) -> None:
    """Attach the alerts page's callbacks to `app`."""
    grid_controls(app, GRID_ID)
    grid_controls(app, REMINDER_GRID_ID)

    # The grids stay in the layout: every 15 s the refresh sends their rows only, so a search, sort or
    # filter the reader set survives it (callbacks.grid.standing_grid).
    @app.callback(Output("alerts-list", "children"), Output(GRID_ID, "rowData"), Output(f"{GRID_ID}-wrap", "hidden"),
                  Output("alerts-badge-line", "children"),
                  Output("alerts-reminders", "children"), Output(REMINDER_GRID_ID, "rowData"),
                  Output(f"{REMINDER_GRID_ID}-wrap", "hidden"),
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
        badge = html.Span([_("Firing") + " ", dbc.Badge(format_number(firing), color="danger" if firing else "secondary",
                                                id="alerts-badge")])
        can_ack = user is not None and user.role in ("factory_manager", "hq", "admin")
        return (*render_alerts(views, can_ack, tz), badge,
                *grid_view(reminder_rows(reminded, tz), empty_state(_("No reminders sent yet."))))

    @app.callback(Output("alerts-ack-feedback", "children"), Input(GRID_ID, "cellRendererData"),
                  prevent_initial_call=True)
    def _ack(data):  # noqa: ANN001, ANN202
        return acknowledge_view(web_user(), data, app_session_factory())

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
            return dbc.Alert(_("Sign in first."), color="danger")
        except ValueError as exc:
            return dbc.Alert(tr_message(str(exc)), color="warning", id="alerts-save-invalid")
        return dbc.Alert(_("Saved."), color="success", id="alerts-save-ok")

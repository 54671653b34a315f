"""API tokens page callbacks: create (shown once), list with last use, revoke — own tokens only (core checks)."""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
import sqlalchemy as sa
from dash import ALL, Input, Output, State, ctx, html

from callbacks.common import app_tz, empty_state, fmt_eat, web_user
from callbacks.common import session_factory as app_session_factory
from callbacks.i18n import gettext as _
from core.accounts.tokens import TokenError, create_token, list_tokens, revoke_token
from core.models import User
from core.timeutil import DEFAULT_TZ, utcnow


def create_view(user, name: str | None, expires: Any, session_factory) -> tuple[Any, int]:  # noqa: ANN001
    """Create a token for the signed-in user; return the one-time display and a refresh stamp."""
    if user is None:
        return dbc.Alert(_("Sign in first."), color="danger"), dash.no_update
    try:
        days = int(expires) if expires not in (None, "", 0, "0") else None
    except (TypeError, ValueError):
        return dbc.Alert(_("Choose an expiry."), color="danger"), dash.no_update
    with session_factory() as s:
        row = s.scalar(sa.select(User).where(User.id == user.id))
        try:
            token, text = create_token(s, row, name or "", days)
        except TokenError as exc:
            return dbc.Alert(str(exc)[:1].upper() + str(exc)[1:] + ".", color="danger", id="api-tokens-error"), dash.no_update
        s.commit()
        prefix = token.prefix
    return dbc.Alert([
        html.Div(f"Token {prefix}… created. Copy it now: it is not shown again.", className="mb-2"),
        html.Code(text, id="api-tokens-value", className="user-select-all fs-6"),
    ], color="success"), int(utcnow().timestamp() * 1000)


def table_view(user, revoke_id: int | None, session_factory, tz: Any = DEFAULT_TZ) -> Any:  # noqa: ANN001
    """Revoke `revoke_id` if given (own tokens only), then return the user's token table."""
    if user is None:
        return dbc.Alert(_("Sign in first."), color="danger")
    message = None
    with session_factory() as s:
        if revoke_id is not None:
            try:
                revoke_token(s, user, revoke_id)
                s.commit()
            except TokenError as exc:
                message = dbc.Alert(f"Not revoked: {exc}.", color="danger", id="api-tokens-error")
        rows = list_tokens(s, user)
    if not rows:
        return [message, empty_state(_("No API tokens yet."))]
    now = utcnow()
    body = []
    for t in rows:
        if t.revoked_at is not None:
            state = f"revoked {fmt_eat(t.revoked_at, tz)}"
        elif t.expires_at is not None and t.expires_at <= now:
            state = "expired"
        else:
            state = "active"
        action = (dbc.Button(_("Revoke"), id={"type": "api-tokens-revoke", "id": t.id}, size="sm", color="outline-danger")
                  if state == "active" else "")
        body.append(html.Tr([html.Td(html.Code(f"{t.prefix}…")), html.Td(t.name), html.Td(fmt_eat(t.created_at, tz)),
                             html.Td(fmt_eat(t.expires_at, tz) if t.expires_at else "never"),
                             html.Td(f"{fmt_eat(t.last_used_at, tz)} from {t.last_used_ip}" if t.last_used_at else "never"),
                             html.Td(state), html.Td(action)]))
    head = ("Token", "Name", "Created (EAT)", "Expires (EAT)", "Last used (EAT)", "State", "")
    return [message, dbc.Table([html.Thead(html.Tr([html.Th(h) for h in head])), html.Tbody(body)], size="sm",
                               striped=True, responsive=True, id="api-tokens-grid")]


def register(app: dash.Dash) -> None:
    """Attach the API tokens page's callbacks to `app`."""

    @app.callback(
        Output("api-tokens-new", "children"), Output("api-tokens-refresh", "data"),
        Input("api-tokens-create", "n_clicks"), State("api-tokens-name", "value"), State("api-tokens-expires", "value"),
        prevent_initial_call=True,
    )
    def _create(n_clicks, name, expires):  # noqa: ANN001, ANN202
        if not n_clicks:
            return dash.no_update, dash.no_update
        return create_view(web_user(), name if isinstance(name, str) else None, expires, app_session_factory())

    @app.callback(
        Output("api-tokens-table", "children"),
        Input("api-tokens-refresh", "data"), Input({"type": "api-tokens-revoke", "id": ALL}, "n_clicks"),
    )
    def _table(_refresh, _revoke_clicks):  # noqa: ANN001, ANN202
        revoke_id = None
        trigger = ctx.triggered_id
        clicked = bool(ctx.triggered and ctx.triggered[0].get("value"))  # not a button merely (re)appearing
        if isinstance(trigger, dict) and trigger.get("type") == "api-tokens-revoke" and clicked:
            try:
                revoke_id = int(trigger.get("id"))
            except (TypeError, ValueError):
                revoke_id = None
        return table_view(web_user(), revoke_id, app_session_factory(), app_tz())

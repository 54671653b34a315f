"""API tokens page callbacks: create (shown once), list with last use as a data grid, revoke — own tokens
only (core.accounts.tokens checks, whatever the browser sends)."""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
import sqlalchemy as sa
from dash import Input, Output, State, html

from callbacks.common import app_tz, empty_state, fmt_eat, web_user
from callbacks.common import session_factory as app_session_factory
from callbacks.grid import data_grid, grid_controls
from callbacks.i18n import N_, tr_message
from callbacks.i18n import gettext as _
from core.accounts.tokens import TokenError, create_token, list_tokens, revoke_token
from core.models import User
from core.timeutil import DEFAULT_TZ, utcnow

GRID_ID = "api-tokens-grid"
STATE_WORDS = {"active": N_("active"), "expired": N_("expired"), "revoked": N_("revoked")}


def expiry_options() -> list[dict]:
    """The expiry choices in this request's language (days; 0 = never)."""
    return [{"label": _("expires in {n} days", n=30), "value": 30}, {"label": _("expires in {n} days", n=90), "value": 90},
            {"label": _("expires in 1 year"), "value": 365}, {"label": _("never expires"), "value": 0}]


def columns() -> list[dict]:
    """The token grid's columns in this request's language."""
    return [
        {"field": "token", "headerName": _("Token"), "minWidth": 130, "cellClass": "font-monospace"},
        {"field": "name", "headerName": _("Name"), "minWidth": 140},
        {"field": "state", "headerName": _("State"), "cellRenderer": "CtStatus", "minWidth": 110},
        {"field": "action", "headerName": _("Revoke"), "cellRenderer": "CtButton", "sortable": False,
         "filter": False, "minWidth": 110, "maxWidth": 140,
         "cellRendererParams": {"className": "btn btn-sm btn-outline-danger py-0"}},
        {"field": "created", "headerName": _("Created (EAT)"), "minWidth": 150, "priority": 3},
        {"field": "expires", "headerName": _("Expires (EAT)"), "minWidth": 150, "priority": 2},
        {"field": "last_used", "headerName": _("Last used (EAT)"), "minWidth": 180, "priority": 3},
    ]


def _sentence(message: str) -> str:
    text = tr_message(message)
    return text[:1].upper() + text[1:] + "."


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
            return dbc.Alert(_sentence(str(exc)), color="danger", id="api-tokens-error"), dash.no_update
        s.commit()
        prefix = token.prefix
    return dbc.Alert([
        html.Div(_("Token {prefix}… created. Copy it now: it is not shown again.", prefix=prefix), className="mb-2"),
        html.Code(text, id="api-tokens-value", className="user-select-all fs-6"),
    ], color="success"), int(utcnow().timestamp() * 1000)


def token_rows(tokens: list, tz: Any, now: Any = None) -> list[dict]:
    """The user's tokens as grid rows; active ones carry a Revoke button (CtButton: the token id to the server)."""
    now = now or utcnow()
    rows = []
    for t in tokens:
        if t.revoked_at is not None:
            tone, state = "revoked", _("revoked {when}", when=fmt_eat(t.revoked_at, tz))
        elif t.expires_at is not None and t.expires_at <= now:
            tone, state = "expired", _(STATE_WORDS["expired"])
        else:
            tone, state = "active", _(STATE_WORDS["active"])
        row = {"id": t.id, "token": f"{t.prefix}…", "name": t.name, "state": state, "state__tone": tone,
               "created": fmt_eat(t.created_at, tz),
               "expires": fmt_eat(t.expires_at, tz) if t.expires_at else _("never"),
               "last_used": _("{when} from IP {ip}", when=fmt_eat(t.last_used_at, tz), ip=t.last_used_ip or "?")
               if t.last_used_at else _("never"), "action": ""}
        if tone == "active":
            row.update(action=_("Revoke"), action__arg=t.id, action__id=f"api-tokens-revoke-{t.id}")
        rows.append(row)
    return rows


def table_view(user, session_factory, tz: Any = DEFAULT_TZ) -> Any:  # noqa: ANN001
    """The signed-in user's tokens as a data grid (few rows: sorted and searched in the browser)."""
    if user is None:
        return dbc.Alert(_("Sign in first."), color="danger")
    with session_factory() as s:
        tokens = list_tokens(s, user)
    if not tokens:
        return empty_state(_("No API tokens yet."))
    return data_grid(GRID_ID, columns(), token_rows(tokens, tz), export_name="api-tokens",
                     search_label=_("Search tokens"))


def revoke_view(user, renderer_data: Any, session_factory) -> Any:  # noqa: ANN001
    """Revoke the token a grid button named (`cellRendererData`); core allows the owner (or an admin) only."""
    token_id = renderer_data.get("value") if isinstance(renderer_data, dict) else None
    if isinstance(token_id, bool) or not isinstance(token_id, int):
        return dash.no_update
    if user is None:
        return dbc.Alert(_("Sign in first."), color="danger")
    with session_factory() as s:
        try:
            prefix = revoke_token(s, user, token_id).prefix
            s.commit()
        except TokenError as exc:
            return dbc.Alert(_("Not revoked: {reason}.", reason=tr_message(str(exc))), color="danger",
                             id="api-tokens-error")
    return dbc.Alert(_("Token {prefix}… revoked: it no longer opens the API.", prefix=prefix), color="success",
                     id="api-tokens-revoked")


def register(app: dash.Dash) -> None:
    """Attach the API tokens page's callbacks to `app`."""
    grid_controls(app, GRID_ID)

    @app.callback(
        Output("api-tokens-new", "children"), Output("api-tokens-refresh", "data"),
        Input("api-tokens-create", "n_clicks"), State("api-tokens-name", "value"), State("api-tokens-expires", "value"),
        prevent_initial_call=True,
    )
    def _create(n_clicks, name, expires):  # noqa: ANN001, ANN202
        if not n_clicks:
            return dash.no_update, dash.no_update
        return create_view(web_user(), name if isinstance(name, str) else None, expires, app_session_factory())

    @app.callback(Output("api-tokens-feedback", "children"), Input(GRID_ID, "cellRendererData"),
                  prevent_initial_call=True)
    def _revoke(data):  # noqa: ANN001, ANN202
        return revoke_view(web_user(), data, app_session_factory())

    @app.callback(
        Output("api-tokens-table", "children"),
        Input("api-tokens-refresh", "data"), Input("api-tokens-feedback", "children"),
    )
    def _table(_refresh, _feedback):  # noqa: ANN001, ANN202
        return table_view(web_user(), app_session_factory(), app_tz())

"""Audit log callback."""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, html

from callbacks.common import app_tz, empty_state, fmt_eat, web_user
from callbacks.common import session_factory as app_session_factory
from core.access import AccessDenied
from core.insights.queries import audit_entries
from core.timeutil import DEFAULT_TZ
from core.validation import FieldError, int_in


def audit_view(user, action: str | None, text: str | None, limit, session_factory, tz: Any = DEFAULT_TZ) -> Any:  # noqa: ANN001
    """Return the audit table for the filters, or a refusal."""
    try:
        n = int_in(limit, "Limit", 1, 5000) or 200
    except FieldError:
        n = 200
    action = action if isinstance(action, str) and len(action) <= 40 else None
    text = text if isinstance(text, str) else None
    try:
        with session_factory() as s:
            rows = audit_entries(s, user, n, action=action or None, text=text or None)
    except AccessDenied as exc:
        return dbc.Alert(f"Not allowed: {exc}.", color="danger")
    if not rows:
        return empty_state("No audit entries match.")
    head = ("When (EAT)", "User", "Action", "Entity", "Field", "Old value", "New value", "Detail")
    body = [html.Tr([html.Td(fmt_eat(r.at, tz)), html.Td(r.username or "—"), html.Td(r.action),
                     html.Td(f"{r.entity} {r.entity_id or ''}".strip()), html.Td(r.field or ""),
                     html.Td(r.old_value or ""), html.Td(r.new_value or ""), html.Td(r.detail or "", className="small")])
            for r in rows]
    return dbc.Table([html.Thead(html.Tr([html.Th(h) for h in head])), html.Tbody(body)], size="sm", striped=True,
                     responsive=True, id="audit-grid")


def register(app: dash.Dash) -> None:
    """Attach the audit page's callback to `app`."""

    @app.callback(
        Output("audit-table", "children"),
        Input("audit-action", "value"), Input("audit-search", "value"), Input("audit-limit", "value"),
    )
    def _render(action, text, limit):  # noqa: ANN001, ANN202
        return audit_view(web_user(), action, text, limit, app_session_factory(), app_tz())

"""Audit log callback."""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output

from callbacks.common import app_tz, empty_state, fmt_eat, web_user
from callbacks.common import session_factory as app_session_factory
from callbacks.html_table import Cell, html_table
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
    # One component for the whole table (callbacks/html_table.py): 200 rows of Dash cells took 4–5 s to draw.
    body = [[fmt_eat(r.at, tz), r.username or "—", r.action, f"{r.entity} {r.entity_id or ''}".strip(),
             r.field or "", r.old_value or "", r.new_value or "", Cell((r.detail or "",), "small")] for r in rows]
    return html_table(head, body, "audit-grid", label="Audit log")


def register(app: dash.Dash) -> None:
    """Attach the audit page's callback to `app`."""

    @app.callback(
        Output("audit-table", "children"),
        Input("audit-action", "value"), Input("audit-search", "value"), Input("audit-limit", "value"),
    )
    def _render(action, text, limit):  # noqa: ANN001, ANN202
        return audit_view(web_user(), action, text, limit, app_session_factory(), app_tz())

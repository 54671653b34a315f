"""Audit log callbacks: the filters render an infinite data grid; the grid asks the server for one
block of rows at a time (the audit log grows without bound), and each block re-checks the user."""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, html

from callbacks.common import app_tz, empty_state, fmt_eat, web_user
from callbacks.common import session_factory as app_session_factory
from callbacks.grid import (
    EMPTY_BLOCK,
    MAX_BLOCK,
    PAGE_SIZE,
    block_response,
    data_grid,
    grid_controls,
    requested_block,
)
from callbacks.i18n import gettext as _
from callbacks.i18n import tr_message
from core.access import AccessDenied
from core.insights.queries import audit_entries
from core.timeutil import DEFAULT_TZ
from core.validation import FieldError, int_in

GRID_ID = "audit-grid"


def columns() -> list[dict]:
    """The grid's columns, headers in the page's language."""
    return [
        {"field": "at", "headerName": _("When (EAT)"), "minWidth": 150},
        {"field": "user", "headerName": _("User"), "cellClass": "notranslate"},
        {"field": "action", "headerName": _("Action"), "cellClass": "notranslate", "priority": 1},
        {"field": "entity", "headerName": _("Entity"), "cellClass": "notranslate", "priority": 2},
        {"field": "field", "headerName": _("Field"), "cellClass": "notranslate", "priority": 2},
        {"field": "old", "headerName": _("Old value"), "cellClass": "notranslate", "priority": 3},
        {"field": "new", "headerName": _("New value"), "cellClass": "notranslate", "priority": 3},
        {"field": "detail", "headerName": _("Detail"), "cellClass": "notranslate", "priority": 3, "minWidth": 200},
    ]


def _filters(action: Any, text: Any) -> tuple[str | None, str | None]:
    action = action if isinstance(action, str) and 0 < len(action) <= 40 else None
    text = text if isinstance(text, str) and text.strip() else None
    return action, text


def audit_view(user, action: str | None, text: str | None, limit, session_factory, tz: Any = DEFAULT_TZ) -> Any:  # noqa: ANN001
    """Return the audit grid for the filters (rows come block by block), an empty state, or a refusal.

    `limit` is the rows per block the grid fetches (default PAGE_SIZE).
    """
    try:
        block = int_in(limit, "Limit", 1, MAX_BLOCK) or PAGE_SIZE
    except FieldError:
        block = PAGE_SIZE
    action, text = _filters(action, text)
    try:
        with session_factory() as s:
            first = audit_entries(s, user, 1, action=action, text=text)
    except AccessDenied as exc:
        return dbc.Alert(_("Not allowed: {reason}.", reason=tr_message(str(exc))), color="danger")
    if not first:
        return empty_state(_("No audit entries match."))
    return html.Div([
        data_grid(GRID_ID, columns(), infinite=True, export_name="audit-log",
                  extra_options={"cacheBlockSize": block}),
        html.Div(_("Rows load as you scroll, newest first. The CSV export holds the rows loaded so far."),
                 className="small text-muted"),
    ])


def audit_block(user, action: Any, text: Any, request: Any, session_factory, tz: Any = DEFAULT_TZ) -> dict:  # noqa: ANN001
    """Answer the grid's getRowsRequest: rows startRow..endRow of the filtered log, and the total once known."""
    block = requested_block(request)
    if block is None:
        return dict(EMPTY_BLOCK)
    start, n = block
    action, text = _filters(action, text)
    try:
        with session_factory() as s:
            rows = audit_entries(s, user, n + 1, action=action, text=text, offset=start)
    except AccessDenied:
        return dict(EMPTY_BLOCK)
    data = [{"at": fmt_eat(r.at, tz), "user": r.username or "—", "action": r.action,
             "entity": f"{r.entity} {r.entity_id or ''}".strip(), "field": r.field or "",
             "old": r.old_value or "", "new": r.new_value or "", "detail": r.detail or ""} for r in rows[:n]]
    return block_response(data, start, n, len(rows))


def register(app: dash.Dash) -> None:
    """Attach the audit page's callbacks to `app`."""

    @app.callback(
        Output("audit-table", "children"),
        Input("audit-action", "value"), Input("audit-search", "value"),
    )
    def _render(action, text):  # noqa: ANN001, ANN202
        return audit_view(web_user(), action, text, PAGE_SIZE, app_session_factory(), app_tz())

    @app.callback(
        Output(GRID_ID, "getRowsResponse"),
        Input(GRID_ID, "getRowsRequest"), State("audit-action", "value"), State("audit-search", "value"),
        prevent_initial_call=True,
    )
    def _rows(request, action, text):  # noqa: ANN001, ANN202
        return audit_block(web_user(), action, text, request, app_session_factory(), app_tz())

    grid_controls(app, GRID_ID, search=False)

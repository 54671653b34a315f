"""Shell callbacks: the navbar's menu button on narrow screens (runs in the browser)."""

from __future__ import annotations

import dash
from dash import Input, Output, State


def register(app: dash.Dash) -> None:
    """Attach the navbar toggle to `app` (a clientside callback: no server round trip)."""
    app.clientside_callback(
        "function(n, isOpen) { return n ? !isOpen : isOpen; }",
        Output("nav-collapse", "is_open"),
        Input("nav-toggler", "n_clicks"),
        State("nav-collapse", "is_open"),
        prevent_initial_call=True,
    )

"""Node page callbacks: node facts, firmware history, the command list, and sending a command (admins).

The command list is a data grid placed once in the page's layout (`commands_grid`); the 2-second
refresh sends its rows only when they changed (callbacks.grid.GridUpdate), so the grid keeps
the user's sort, filters and quick search while answers arrive.
"""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, html

from callbacks.common import app_tz, empty_state, fmt_eat, fmt_num, web_user
from callbacks.common import session_factory as app_session_factory
from callbacks.grid import GridUpdate, boxed_grid, grid_controls, grid_outputs, grid_update, status_cell
from callbacks.i18n import N_, tr_message
from callbacks.i18n import gettext as _
from core.access import AccessDenied, require_factory
from core.fleet.commands import CommandError, CommandView, device_commands, send_command
from core.fleet.health import offline_timeout_s
from core.fleet.ota import firmware_history
from core.models import Device, Factory
from core.timeutil import utcnow

GRID_ID = "hq-node-command-table"  # the old table's id: the fleet browser tests select on it
# A command's state -> the colour word of its badge (assets/ct_grid.js COLOURS; queued and sending are grey).
STATE_TONES = {"timeout (late answer)": "timeout"}
ARG_NAME = {"set_interval": "interval_s", "payload_size": "max_payload", "calibrate_span": "ppm"}
DENIED = N_("You may not see this node.")
# A command's state as core.fleet.commands names it (shown in words; the badge colour repeats it).
STATE_WORDS = {"ok": N_("ok"), "failed": N_("failed"), "timeout": N_("timeout"),
               "timeout (late answer)": N_("timeout (late answer)"), "sent": N_("sent"), "queued": N_("queued"),
               "sending": N_("sending")}


def node_info(user: Any, device_id: str | None, tz: Any) -> Any:
    """The node's factory, status and firmware, if `user` may see it."""
    with app_session_factory()() as s:
        device = s.get(Device, str(device_id or ""))
        if device is None:
            return empty_state(_("No such node. Open a node from the Nodes page."), "hq-node-missing")
        try:
            require_factory(user, device.factory_id)
        except AccessDenied:
            return dbc.Alert(_(DENIED), color="warning", id="hq-node-denied")
        factory = s.get(Factory, device.factory_id)
        now = utcnow()
        online = (device.status != "offline" and device.last_seen_at is not None
                  and (now - device.last_seen_at).total_seconds() <= offline_timeout_s(device.sample_interval_s))
        facts = [(_("Factory"), f"{factory.name} ({factory.code})"),
                 (_("Status"), _("online") if online else _("offline")),
                 (_("Last seen"), fmt_eat(device.last_seen_at, tz)), (_("Firmware"), device.firmware or "—"),
                 (_("Sample interval (registry)"), fmt_num(device.sample_interval_s, "s")),
                 (_("Signal"), fmt_num(device.rssi_dbm, "dBm"))]
    return dbc.Row([dbc.Col([html.Div(k, className="small text-muted"), html.Div(v, className="fw-semibold")],
                            xs=6, md=2) for k, v in facts], className="mb-3", id="hq-node-facts")


def command_columns() -> list[dict]:
    """The command grid's columns, headers in the page's language; when it was sent is first and pinned."""
    return [
        {"field": "sent", "headerName": _("Sent (EAT)"), "minWidth": 150},
        {"field": "command", "headerName": _("Command"), "minWidth": 140},
        {"field": "args", "headerName": _("Arguments"), "priority": 2},
        {"field": "by", "headerName": _("By"), "priority": 3},
        {"field": "state", "headerName": _("State"), "cellRenderer": "CtStatus", "minWidth": 110},
        {"field": "answer", "headerName": _("Answer"), "priority": 2, "minWidth": 160, "wrapText": True,
         "autoHeight": True},
        {"field": "answered", "headerName": _("Answered (EAT)"), "priority": 3, "minWidth": 150},
    ]


def command_rows(views: list[CommandView], tz: Any) -> list[dict]:
    """The commands as grid rows, newest first; the state in words, coloured by its English word."""
    return [status_cell({"sent": fmt_eat(v.sent_at or v.created_at, tz), "command": tr_message(v.label),
                         "args": v.args, "by": v.requested_by or "—", "answer": v.result_detail or "—",
                         "answered": fmt_eat(v.result_at, tz) if v.result_at else "—"},
                        "state", STATE_TONES.get(v.state, v.state), _(STATE_WORDS.get(v.state, v.state)))
            for v in views]


def render_commands(views: list[CommandView], tz: Any, current: Any = None) -> GridUpdate:
    """The command grid's refresh (rows newest first), or the sentence saying none was sent."""
    empty = empty_state(_("No commands sent to this node yet."), "hq-node-no-commands")
    return grid_update(command_rows(views, tz), bool(views), empty, current)


def commands_grid() -> html.Div:
    """The command grid for the page's layout (hidden until the first refresh fills it)."""
    return boxed_grid(GRID_ID, command_columns(), export_name="node-commands", search_label=_("Search commands"))


def register(app: dash.Dash) -> None:
    """Attach the node page's callbacks to `app`."""

    grid_controls(app, GRID_ID)

    @app.callback(Output("hq-node-info", "children"), *grid_outputs(GRID_ID, "hq-node-commands"),
                  Output("hq-node-firmware", "children"),
                  Input("hq-node-interval", "n_intervals"), Input("hq-node-device", "data"),
                  State(GRID_ID, "rowData"))
    def _render(_n, device_id, current):  # noqa: ANN001, ANN202
        user, tz = web_user(), app_tz()
        info = node_info(user, device_id, tz)
        try:
            with app_session_factory()() as s:
                views = device_commands(s, user, device_id)
                history = firmware_history(s, user, device_id)
        except AccessDenied:
            return info, *grid_update([], False, None, current), None
        fw = (html.Ul([html.Li(_("{version} since {when}", version=version, when=fmt_eat(since, tz)))
                       for version, since in history],
                      id="hq-node-firmware-list")
              if history else empty_state(_("No firmware version recorded yet.")))
        return info, *render_commands(views, tz, current), fw

    @app.callback(Output("hq-node-feedback", "children"),
                  Input("hq-node-send", "n_clicks"),
                  State("hq-node-device", "data"), State("hq-node-cmd", "value"), State("hq-node-arg", "value"),
                  prevent_initial_call=True)
    def _send(_clicks, device_id, kind, arg):  # noqa: ANN001, ANN202
        user = web_user()
        kind = kind if isinstance(kind, str) else ""
        params = {ARG_NAME[kind]: arg} if kind in ARG_NAME else None
        try:
            with app_session_factory()() as s:
                row = send_command(s, user, device_id, kind, params)
        except AccessDenied:
            return dbc.Alert(_("Only administrators may send commands to nodes."), color="danger", id="hq-node-refused")
        except CommandError as exc:
            return dbc.Alert(tr_message(str(exc)), color="warning", id="hq-node-invalid")
        return dbc.Alert(_("Command {id} queued; its answer appears below.", id=row.id), color="success",
                         id="hq-node-queued")

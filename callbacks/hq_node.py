"""Node page callbacks: node facts, firmware history, the command list, and sending a command (admins)."""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, html

from callbacks.common import app_tz, empty_state, fmt_eat, fmt_num, web_user
from callbacks.common import session_factory as app_session_factory
from callbacks.i18n import N_, tr_message
from callbacks.i18n import gettext as _
from core.access import AccessDenied, require_factory
from core.fleet.commands import CommandError, CommandView, device_commands, send_command
from core.fleet.health import offline_timeout_s
from core.fleet.ota import firmware_history
from core.models import Device, Factory
from core.timeutil import utcnow

STATE_COLORS = {"ok": "success", "failed": "danger", "timeout": "warning", "timeout (late answer)": "warning",
                "sent": "info", "queued": "secondary", "sending": "secondary"}
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


def render_commands(views: list[CommandView], tz: Any) -> Any:
    """The command table, newest first."""
    if not views:
        return empty_state(_("No commands sent to this node yet."), "hq-node-no-commands")
    head = (_("Sent (EAT)"), _("Command"), _("Arguments"), _("By"), _("State"), _("Answer"), _("Answered (EAT)"))
    body = [html.Tr([html.Td(fmt_eat(v.sent_at or v.created_at, tz)), html.Td(tr_message(v.label)), html.Td(v.args),
                     html.Td(v.requested_by or "—"),
                     html.Td(dbc.Badge(_(STATE_WORDS.get(v.state, v.state)),
                                       color=STATE_COLORS.get(v.state, "secondary"))),
                     html.Td(v.result_detail or "—", className="small"),
                     html.Td(fmt_eat(v.result_at, tz) if v.result_at else "—")]) for v in views]
    return dbc.Table([html.Thead(html.Tr([html.Th(h) for h in head])), html.Tbody(body)], size="sm", striped=True,
                     responsive=True, id="hq-node-command-table")


def register(app: dash.Dash) -> None:
    """Attach the node page's callbacks to `app`."""

    @app.callback(Output("hq-node-info", "children"), Output("hq-node-commands", "children"),
                  Output("hq-node-firmware", "children"),
                  Input("hq-node-interval", "n_intervals"), Input("hq-node-device", "data"))
    def _render(_n, device_id):  # noqa: ANN001, ANN202
        user, tz = web_user(), app_tz()
        info = node_info(user, device_id, tz)
        try:
            with app_session_factory()() as s:
                views = device_commands(s, user, device_id)
                history = firmware_history(s, user, device_id)
        except AccessDenied:
            return info, None, None
        fw = (html.Ul([html.Li(_("{version} since {when}", version=version, when=fmt_eat(since, tz)))
                       for version, since in history],
                      id="hq-node-firmware-list")
              if history else empty_state(_("No firmware version recorded yet.")))
        return info, render_commands(views, tz), fw

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

"""Node health callback."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, html

from callbacks.common import app_tz, empty_state, fmt_eat, fmt_num, fmt_pct, kpi_card, web_user
from callbacks.common import session_factory as app_session_factory
from callbacks.html_table import Badge, Cell, html_table
from callbacks.i18n import N_, format_number, ngettext
from callbacks.i18n import gettext as _
from core.insights.queries import ListenerHealth, NodeStatus, listener_health, node_health
from core.timeutil import DEFAULT_TZ


def nodes_data(user, session_factory, tz: Any = DEFAULT_TZ,  # noqa: ANN001
               now: datetime | None = None) -> tuple[list[NodeStatus], list[ListenerHealth]]:
    """Return nodes and listeners visible to `user`."""
    with session_factory() as s:
        return node_health(s, user, now, tz), listener_health(s, user, now)


def _cov_badge(v: float | None) -> Any:
    if v is None:
        return "—"
    return Badge(fmt_pct(v), "success" if v >= 0.9 else ("warning" if v >= 0.5 else "danger"))


def render_nodes(nodes: list[NodeStatus], listeners: list[ListenerHealth], only_problems: bool, tz: Any) -> tuple:
    """Return (summary, table, listeners) for the page."""
    if not nodes:
        empty = empty_state(_("No sensor nodes are registered yet (Admin → Devices)."))
        return None, empty, _listeners(listeners, tz)
    online = sum(n.online for n in nodes)
    low = sum(1 for n in nodes if (n.coverage_24h or 0) < 0.5)
    summary = dbc.Row([kpi_card(_("Nodes online"), _("{n} of {total}", n=format_number(online), total=format_number(len(nodes))),
                                card_id="hq-nodes-online"),
                       kpi_card(_("Coverage below 50 % (24 h)"), ngettext("{n} node", "{n} nodes", low)),
                       kpi_card(_("Readings buffered on nodes"), fmt_num(sum(n.buffered or 0 for n in nodes))),
                       calibration_kpi(nodes)])
    shown = [n for n in nodes if not only_problems or not n.online or (n.coverage_24h or 0) < 0.5]
    head = (_("Node"), _("Factory"), _("Stack"), _("Status"), _("MQTT (last will)"), _("Last seen (EAT)"), _("Signal"),
            _("Firmware"), _("Buffered"), _("Coverage 24 h"), _("Coverage 30 d"), _("Data availability 30 d"),
            _("Calibration"))
    # One component for the whole table (callbacks/html_table.py): 77 rows of cells as Dash
    # components took 3–4 s to draw.
    rows = [[n.device_id, n.factory_code, n.stack_name,
             Badge(_("online") if n.online else _("offline"), "success" if n.online else "danger"),
             Cell((_(n.status or "unknown"),), "small text-muted"),
             fmt_eat(n.last_seen_at, tz), fmt_num(n.rssi_dbm, "dBm"), n.firmware or "—",
             fmt_num(n.buffered), _cov_badge(n.coverage_24h), _cov_badge(n.coverage_30d),
             availability_cell(n), calibration_cell(n)] for n in shown]
    table = html_table(head, rows, "hq-nodes-grid", label=_("Sensor nodes"))
    return summary, table, _listeners(listeners, tz)


def availability_cell(n: NodeStatus) -> Any:
    """Percent monitor data availability (40 CFR 75.32) over 30 days with its hours, so the share is checkable."""
    if n.availability_30d is None:
        return "—"
    return Cell((_cov_badge(n.availability_30d), " " + _("{valid} of {assigned} h", valid=format_number(n.valid_hours_30d),
                                                          assigned=format_number(n.assigned_hours_30d))))


def calibration_cell(n: NodeStatus) -> Any:
    """The node's calibration state in words (never colour alone): out of control, overdue, or in control."""
    cal = n.calibration
    if cal is None or cal.last_check_at is None:
        return Badge(_("overdue: never checked"), "warning")
    parts: list = []
    if cal.out_of_control:
        parts += [Badge(_("out of control"), "danger"), " "]
    if cal.overdue:
        parts += [Badge(_("overdue"), "warning"), " "]
    if not parts:
        parts += [Badge(_("in control"), "success"), " "]
    last = (_("last check {pct} % of span", pct=format_number(cal.last_error_pct, 1))
            if cal.last_error_pct is not None else "")
    return Cell((*parts, last), "small")


def calibration_kpi(nodes: list[NodeStatus]) -> Any:
    """How many nodes are out of control or overdue for a calibration check."""
    ooc = sum(1 for n in nodes if n.calibration is not None and n.calibration.out_of_control)
    overdue = sum(1 for n in nodes if n.calibration is None or n.calibration.overdue)
    return kpi_card(_("Calibration"), _("{n} out of control", n=format_number(ooc)),
                    _("{n} overdue for a check", n=format_number(overdue)),
                    card_id="hq-nodes-calibration")


_LISTENER_COLOURS = {"reporting": "success", "silent": "danger", "stopped": "secondary"}
# The listener's counters (mqtt_listener/status.py) in words, in the order an operator reads them;
# a counter not named here is shown by its key.
COUNTER_LABELS = {
    "received": N_("messages received"), "readings_received": N_("readings received"), "stored": N_("stored"),
    "invalid": N_("flagged invalid"), "duplicates": N_("duplicates"), "rejected": N_("rejected"),
    "queue_depth": N_("waiting to be stored"), "latency_p50_ms": N_("latency p50 (ms)"),
    "latency_p99_ms": N_("latency p99 (ms)"), "batches": N_("batches"), "db_errors": N_("database errors"),
    "db_retries": N_("database retries"), "store_errors": N_("store errors"), "unstorable": N_("unstorable"),
    "status_messages": N_("status messages"), "status_unknown_device": N_("status of unknown nodes"),
    "status_retained": N_("retained status"), "acks_published": N_("acks sent"), "writer_errors": N_("writer errors"),
}


def counters_text(counters: dict) -> str:
    """A listener's counters as "messages received: 1,000 · stored: 990 · rejected: 10 (bad_json 10)":
    named, in a fixed order, zero error counters left out, rejections with their reasons."""
    if "error" in counters and len(counters) == 1:
        return _(str(counters["error"]))
    quiet_when_zero = {"db_errors", "db_retries", "store_errors", "unstorable", "writer_errors", "duplicates",
                       "status_unknown_device", "status_retained", "invalid"}
    parts = []
    order = [k for k in COUNTER_LABELS if k in counters] + sorted(
        k for k in counters if k not in COUNTER_LABELS and k != "rejected_by_reason")
    for key in order:
        value = counters[key]
        if value is None or (key in quiet_when_zero and value == 0):
            continue
        label = _(COUNTER_LABELS[key]) if key in COUNTER_LABELS else key
        text = format_number(value, 1 if isinstance(value, float) and not value.is_integer() else 0) \
            if isinstance(value, int | float) else str(value)
        if key == "rejected" and counters.get("rejected_by_reason"):
            reasons = ", ".join(f"{reason} {format_number(n)}" for reason, n in
                                sorted(counters["rejected_by_reason"].items()) if isinstance(n, int | float))
            text += f" ({reasons})" if reasons else ""
        parts.append(f"{label}: {text}")
    return " · ".join(parts)


def _listeners(listeners: list[ListenerHealth], tz: Any) -> Any:
    if not listeners:
        return empty_state(_("No listener has reported yet: is `carbontrack listen` (or `carbontrack run`) running?"))
    body = [html.Tr([html.Td(li.instance),
                     html.Td(dbc.Badge(_(li.state), color=_LISTENER_COLOURS.get(li.state, "secondary"))),
                     html.Td(fmt_eat(li.updated_at, tz)), html.Td(fmt_eat(li.started_at, tz)),
                     html.Td(counters_text(li.counters), className="small")])
            for li in listeners]
    head = (_("Instance"), _("State"), _("Last report (EAT)"), _("Started (EAT)"), _("Counters"))
    return dbc.Table([html.Thead(html.Tr([html.Th(h) for h in head])), html.Tbody(body)], size="sm",
                     responsive=True, id="hq-nodes-listener-table")


def register(app: dash.Dash) -> None:
    """Attach the node page's callback to `app`."""

    @app.callback(
        Output("hq-nodes-summary", "children"), Output("hq-nodes-table", "children"),
        Output("hq-nodes-listeners", "children"),
        Input("hq-nodes-interval", "n_intervals"), Input("hq-nodes-problems", "value"),
    )
    def _render(_n, problems):  # noqa: ANN001, ANN202
        nodes, listeners = nodes_data(web_user(), app_session_factory(), app_tz())
        return render_nodes(nodes, listeners, isinstance(problems, list) and "problems" in problems, app_tz())

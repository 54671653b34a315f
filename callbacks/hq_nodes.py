"""Nodes page callbacks: every node's health as a data grid (sort, filter, quick search, CSV export),
the listeners' health as a second grid, and the KPI cards above them.

Both grids are placed once in the page's layout (`nodes_grid`, `listener_grid`) and the 30-second
refresh sends only their rows, and only when the rows changed: a refresh that rebuilt the grids
would clear what the user typed in the quick search, their sort and their filters twice a minute.
`callbacks.grid.GridUpdate` is that refresh for one grid (the node page's command grid refreshes the same way).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, html

from callbacks.common import app_tz, empty_state, fmt_eat, fmt_num, kpi_card, web_user
from callbacks.common import session_factory as app_session_factory
from callbacks.grid import GridUpdate, boxed_grid, grid_controls, grid_outputs, grid_update, status_cell
from callbacks.i18n import N_, format_number, ngettext
from callbacks.i18n import gettext as _
from core.insights.queries import ListenerHealth, NodeStatus, listener_health, node_health
from core.timeutil import DEFAULT_TZ

GRID_ID = "hq-nodes-grid"
LISTENER_GRID_ID = "hq-nodes-listener-grid"
NUMBER = {"filter": "agNumberColumnFilter", "type": "numericColumn"}
# Coverage and availability as coloured levels (assets/ct_grid.js CtLevel): green from 90 %, amber from
# 50 % (below it a node counts as a problem, `is_problem`), red below; the number is always written.
COVERAGE_GOOD_PCT, COVERAGE_FAIR_PCT = 90, 50
LEVEL = {**NUMBER, "cellRenderer": "CtLevel", "cellRendererParams": {"good": COVERAGE_GOOD_PCT, "fair": COVERAGE_FAIR_PCT}}


def nodes_data(user, session_factory, tz: Any = DEFAULT_TZ,  # noqa: ANN001
               now: datetime | None = None) -> tuple[list[NodeStatus], list[ListenerHealth]]:
    """Return nodes and listeners visible to `user`."""
    with session_factory() as s:
        return node_health(s, user, now, tz), listener_health(s, user, now)


def _pct(share: float | None) -> float | None:
    """A 0..1 share as a number of percent (one decimal), so the column sorts and filters as numbers."""
    return None if share is None else round(share * 100, 1)


def node_columns() -> list[dict]:
    """The nodes grid's columns, headers in the page's language; the node id is first and pinned.

    On a phone (priority 1) a row reads: node, status, coverage over 24 hours.
    """
    return [
        {"field": "node", "headerName": _("Node"), "cellRenderer": "CtLink", "minWidth": 110},
        {"field": "factory", "headerName": _("Factory"), "priority": 2, "minWidth": 100},
        {"field": "stack", "headerName": _("Stack"), "priority": 3},
        {"field": "status", "headerName": _("Status"), "cellRenderer": "CtStatus", "minWidth": 100},
        {"field": "mqtt", "headerName": _("MQTT (last will)"), "priority": 3},
        {"field": "last_seen", "headerName": _("Last seen (EAT)"), "priority": 2, "minWidth": 150},
        {"field": "signal_dbm", "headerName": _("Signal (dBm)"), "priority": 3, **NUMBER},
        {"field": "firmware", "headerName": _("Firmware"), "priority": 3},
        {"field": "buffered", "headerName": _("Buffered"), "priority": 3, **NUMBER},
        {"field": "coverage_24h_pct", "headerName": _("Coverage 24 h (%)"), "minWidth": 100, **LEVEL},
        {"field": "coverage_30d_pct", "headerName": _("Coverage 30 d (%)"), "priority": 3, **LEVEL},
        {"field": "availability_30d_pct", "headerName": _("Data availability 30 d (%)"), "priority": 2, **LEVEL},
        {"field": "availability_hours", "headerName": _("Valid / assigned hours (30 d)"), "priority": 3,
         "minWidth": 130},
        {"field": "calibration", "headerName": _("Calibration"), "cellRenderer": "CtStatus", "priority": 2,
         "minWidth": 150},
        {"field": "calibration_error_pct", "headerName": _("Last check error (% of span)"), "priority": 3, **NUMBER},
    ]


def is_problem(n: NodeStatus) -> bool:
    """Offline, or below 50 % coverage over 24 hours: what "only problems" keeps."""
    return not n.online or (n.coverage_24h or 0) * 100 < COVERAGE_FAIR_PCT


def node_rows(nodes: list[NodeStatus], only_problems: bool, tz: Any) -> list[dict]:
    """The nodes as grid rows: numbers stay numbers, the node id links to the node's page."""
    out = []
    for n in nodes:
        if only_problems and not is_problem(n):
            continue
        row = {"node": n.device_id, "node__href": f"/hq/node?device={quote(n.device_id, safe='')}",
               "factory": n.factory_code, "stack": n.stack_name, "mqtt": _(n.status or "unknown"),
               "last_seen": fmt_eat(n.last_seen_at, tz), "signal_dbm": n.rssi_dbm, "firmware": n.firmware or "—",
               "buffered": n.buffered, "coverage_24h_pct": _pct(n.coverage_24h),
               "coverage_30d_pct": _pct(n.coverage_30d), "availability_30d_pct": _pct(n.availability_30d),
               "availability_hours": availability_hours(n)}
        status_cell(row, "status", "online" if n.online else "offline", _("online") if n.online else _("offline"))
        calibration_cell(row, n)
        out.append(row)
    return out


def render_nodes(nodes: list[NodeStatus], listeners: list[ListenerHealth], only_problems: bool, tz: Any,
                 current: Any = None, current_listeners: Any = None) -> tuple[Any, GridUpdate, GridUpdate]:
    """Return (summary, nodes grid update, listeners grid update) for the page.

    `current`/`current_listeners` are the rows the grids hold (from the browser): unchanged rows are not sent again.
    """
    listeners_update = listener_update(listeners, tz, current_listeners)
    if not nodes:
        empty = empty_state(_("No sensor nodes are registered yet (Admin → Devices)."))
        return None, grid_update([], False, empty, current), listeners_update
    online = sum(n.online for n in nodes)
    low = sum(1 for n in nodes if (n.coverage_24h or 0) * 100 < COVERAGE_FAIR_PCT)
    summary = dbc.Row([kpi_card(_("Nodes online"), _("{n} of {total}", n=format_number(online), total=format_number(len(nodes))),
                                card_id="hq-nodes-online"),
                       kpi_card(_("Coverage below 50 % (24 h)"), ngettext("{n} node", "{n} nodes", low)),
                       kpi_card(_("Readings buffered on nodes"), fmt_num(sum(n.buffered or 0 for n in nodes))),
                       calibration_kpi(nodes)])
    return summary, grid_update(node_rows(nodes, only_problems, tz), True, None, current), listeners_update


def availability_hours(n: NodeStatus) -> str:
    """The hours behind the 30-day data availability (40 CFR 75.32), so the share is checkable."""
    if n.availability_30d is None:
        return "—"
    return _("{valid} of {assigned} h", valid=format_number(n.valid_hours_30d),
             assigned=format_number(n.assigned_hours_30d))


def calibration_cell(row: dict, n: NodeStatus) -> dict:
    """Put the node's calibration state into `row` in words (never colour alone) and its last check's error.

    Out of control (its newest check of a kind failed) is shown red with the tone "failed", overdue
    for a check amber, in control green.
    """
    cal = n.calibration
    row["calibration_error_pct"] = None
    if cal is None or cal.last_check_at is None:
        return status_cell(row, "calibration", "overdue", _("overdue: never checked"))
    words = []
    if cal.out_of_control:
        words.append(_("out of control"))
    if cal.overdue:
        words.append(_("overdue"))
    tone = "failed" if cal.out_of_control else ("overdue" if cal.overdue else "ok")
    status_cell(row, "calibration", tone, " · ".join(words) or _("in control"))
    if cal.last_error_pct is not None:
        row["calibration_error_pct"] = round(cal.last_error_pct, 2)
    return row


def calibration_kpi(nodes: list[NodeStatus]) -> Any:
    """How many nodes are out of control or overdue for a calibration check."""
    ooc = sum(1 for n in nodes if n.calibration is not None and n.calibration.out_of_control)
    overdue = sum(1 for n in nodes if n.calibration is None or n.calibration.overdue)
    return kpi_card(_("Calibration"), _("{n} out of control", n=format_number(ooc)),
                    _("{n} overdue for a check", n=format_number(overdue)),
                    card_id="hq-nodes-calibration")


# A listener's state (core.insights.queries.listener_health) in words; the English word colours it.
LISTENER_STATES = {"reporting": N_("reporting"), "silent": N_("silent"), "stopped": N_("stopped")}
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


def listener_columns() -> list[dict]:
    """The listeners grid's columns, headers in the page's language; the instance is first and pinned."""
    return [
        {"field": "instance", "headerName": _("Instance"), "minWidth": 130},
        {"field": "state", "headerName": _("State"), "cellRenderer": "CtStatus", "minWidth": 110},
        {"field": "updated", "headerName": _("Last report (EAT)"), "priority": 2, "minWidth": 150},
        {"field": "started", "headerName": _("Started (EAT)"), "priority": 3, "minWidth": 150},
        {"field": "counters", "headerName": _("Counters"), "priority": 2, "minWidth": 320, "flex": 3,
         "wrapText": True, "autoHeight": True},
    ]


def listener_rows(listeners: list[ListenerHealth], tz: Any) -> list[dict]:
    """The listeners as grid rows: state in words (reporting, silent, stopped), coloured by the English word."""
    return [status_cell({"instance": li.instance, "updated": fmt_eat(li.updated_at, tz),
                         "started": fmt_eat(li.started_at, tz), "counters": counters_text(li.counters)},
                        "state", li.state, _(LISTENER_STATES.get(li.state, li.state))) for li in listeners]


def listener_update(listeners: list[ListenerHealth], tz: Any, current: Any = None) -> GridUpdate:
    """The listeners grid's refresh, or the sentence saying none has reported."""
    empty = empty_state(_("No listener has reported yet: is `carbontrack listen` (or `carbontrack run`) running?"))
    return grid_update(listener_rows(listeners, tz), bool(listeners), empty, current)


def nodes_grid() -> html.Div:
    """The nodes grid for the page's layout (hidden until the first refresh fills it)."""
    return boxed_grid(GRID_ID, node_columns(), export_name="nodes", search_label=_("Search nodes"))


def listener_grid() -> html.Div:
    """The listeners grid for the page's layout (hidden until a listener has reported)."""
    return boxed_grid(LISTENER_GRID_ID, listener_columns(), export_name="listeners", search_label=_("Search listeners"))


def register(app: dash.Dash) -> None:
    """Attach the nodes page's callbacks to `app`."""
    grid_controls(app, GRID_ID)
    grid_controls(app, LISTENER_GRID_ID)

    @app.callback(
        Output("hq-nodes-summary", "children"), *grid_outputs(GRID_ID, "hq-nodes-table"),
        *grid_outputs(LISTENER_GRID_ID, "hq-nodes-listeners"),
        Input("hq-nodes-interval", "n_intervals"), Input("hq-nodes-problems", "value"),
        State(GRID_ID, "rowData"), State(LISTENER_GRID_ID, "rowData"),
    )
    def _render(_n, problems, current, current_listeners):  # noqa: ANN001, ANN202
        nodes, listeners = nodes_data(web_user(), app_session_factory(), app_tz())
        summary, grid, lst = render_nodes(nodes, listeners, isinstance(problems, list) and "problems" in problems,
                                          app_tz(), current, current_listeners)
        return summary, *grid, *lst

"""Factory Live callbacks: a full render on factory change, then partial updates every tick.

The node status grid sits in the page's layout (`node_grid`), hidden until the factory has nodes;
the callbacks only send its `rowData` (and whether to show it), never the grid itself. A refresh
every few seconds therefore keeps what the user set in the grid: sort, column filters and the
quick-search text (the grid and its search box stay mounted; AG Grid re-sorts and re-filters the
new rows). `getRowId` (the node id, a dash-ag-grid expression parsed by esprima, not eval) lets
AG Grid update the rows in place instead of redrawing them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, ctx, html

from callbacks.common import (
    app_tz,
    empty_state,
    fmt_eat,
    fmt_num,
    fmt_pct,
    fmt_t,
    kpi_card,
    parse_factory_id,
    web_user,
)
from callbacks.common import session_factory as app_session_factory
from callbacks.figures import empty_figure, live_day_figure, live_hour_figure, local_naive
from callbacks.grid import NO_ROWS, grid_controls, grid_view, standing_grid, status_cell
from callbacks.i18n import N_, format_day_month
from callbacks.i18n import gettext as _
from core.access import AccessDenied
from core.insights.queries import NodeStatus, live_readings_since, live_snapshot, reading_watermark
from core.timeutil import DEFAULT_TZ, local_day_bounds_utc, utcnow

REFRESH_MS = 5000
FULL_REDRAW_EVERY = 60  # ticks between whole redraws (trims the hour window, refreshes the 24 h chart)
DENIED = N_("You may not see this factory.")


NODE_GRID_ID = "factory-live-node-table"
NODE_GRID_WRAP_ID = "factory-live-nodes-grid"


def node_columns() -> list[dict]:
    """The node grid's columns in this request's language (numbers stay numbers, units in the headers)."""
    num = {"filter": "agNumberColumnFilter", "type": "numericColumn"}
    return [
        {"field": "node", "headerName": _("Node"), "flex": None, "width": 120},  # pinned: sized, not stretched
        {"field": "stack", "headerName": _("Stack"), "minWidth": 110, "priority": 2},
        {"field": "status", "headerName": _("Status"), "cellRenderer": "CtStatus", "minWidth": 100, "maxWidth": 140},
        {"field": "last_seen", "headerName": _("Last seen"), "minWidth": 150},  # the times carry their zone
        {"field": "signal_dbm", "headerName": _("Signal (dBm)"), **num, "priority": 3},
        {"field": "firmware", "headerName": _("Firmware"), "priority": 3},
        {"field": "buffered", "headerName": _("Buffered (readings)"), **num, "priority": 3},
    ]


def node_grid() -> html.Div:
    """The node grid for the page's layout: empty and hidden until a render sends rows (`node_view`)."""
    return standing_grid(NODE_GRID_ID, node_columns(), row_key="node", wrap_id=NODE_GRID_WRAP_ID, export_name="nodes",
                         search_label=_("Search nodes"))


def node_rows(nodes: list[NodeStatus], tz: Any) -> list[dict]:
    """The nodes as grid rows: online or offline as a coloured badge, last seen in local time."""
    rows = []
    for n in nodes:
        row = {"node": n.device_id, "stack": n.stack_name, "last_seen": fmt_eat(n.last_seen_at, tz),
               "signal_dbm": n.rssi_dbm, "firmware": n.firmware or "—", "buffered": n.buffered}
        # Tones from assets/ct_grid.js COLOURS: "ok" is green, "missing" red.
        rows.append(status_cell(row, "status", "ok" if n.online else "missing",
                                _("online") if n.online else _("offline")))
    return rows


def node_view(nodes: list[NodeStatus], tz: Any) -> tuple[Any, list[dict], bool]:
    """(message, grid rows, grid hidden) for the nodes: the grid's rows, or a sentence when there are none."""
    return grid_view(node_rows(nodes, tz), empty_state(_("No sensor nodes are registered for this factory yet.")))


def kpi_row(snap) -> dbc.Row:  # noqa: ANN001
    """Return current values per stack plus today's CO2 so far."""
    cards = []
    total_kg_s = 0.0
    any_valid = False
    for n in snap.nodes:
        r = snap.latest.get(n.device_id)
        if r is None:
            cards.append(kpi_card(f"{n.stack_name} ({n.device_id})", _("no data"), _("no reading stored yet")))
            continue
        if r["valid"] and r["co2_kg_s"] is not None:
            total_kg_s += r["co2_kg_s"]
            any_valid = True
        value = fmt_num(r["co2_kg_s"], "kg/s", 3) if r["valid"] else _("invalid reading")
        sub = (f"{fmt_num(r['co2_ppm'], 'ppm')} · {fmt_num(r['flue_temp_c'], '°C', 1)} · "
               f"{fmt_num(r['velocity_m_s'], 'm/s', 1)} · {fmt_eat(r['ts'], None, with_date=False)}")
        cards.append(kpi_card(f"{n.stack_name} ({n.device_id})", value, sub))
    today_cov = None
    if snap.nodes:
        start, _end = local_day_bounds_utc(snap.today)
        elapsed = max(1.0, (snap.now - start).total_seconds())
        today_cov = min(1.0, snap.today_covered_s / (elapsed * len(snap.nodes)))
    cards.insert(0, kpi_card(_("Factory CO2 now"), fmt_num(total_kg_s if any_valid else None, "kg/s", 3),
                             _("sum of stacks, latest valid readings"), card_id="factory-live-now"))
    cards.insert(1, kpi_card(_("Today so far ({day})", day=format_day_month(snap.today)), fmt_t(snap.today_co2_kg, 2),
                             _("measured stack CO2; data coverage {pct}", pct=fmt_pct(today_cov)), card_id="factory-live-today"))
    return dbc.Row(cards)


def render_live(user, factory_id: int | None, session_factory, now: datetime | None = None,  # noqa: ANN001
                tz: Any = None) -> tuple:
    """Return everything on the page for one factory: kpis, hour figure, day figure, the nodes (message,
    grid rows, grid hidden), state, note."""
    now = now or utcnow()
    if factory_id is None:
        msg = empty_state(_("Pick a factory to see its stacks."))
        return msg, empty_figure(_("no factory")), empty_figure(_("no factory")), *NO_ROWS, None, ""
    try:
        with session_factory() as s:
            last_id = reading_watermark(s)  # before the snapshot: a reading stored in between is read twice, never lost
            snap = live_snapshot(s, user, factory_id, now, tz or DEFAULT_TZ)
    except AccessDenied:
        denied = dbc.Alert(_(DENIED), color="danger")
        return denied, empty_figure(_(DENIED)), empty_figure(_(DENIED)), *NO_ROWS, None, ""
    if not snap.nodes:
        hour = empty_figure(_("No sensor nodes registered for this factory."))
        day = hour
    else:
        hour = live_hour_figure(snap.recent, now) if any(snap.recent.values()) else empty_figure(
            _("No readings in the last hour: the nodes may be offline (see below)."))
        day = live_day_figure(snap.hourly) if any(snap.hourly.values()) else empty_figure(
            _("No readings in the last 24 hours."))
    last_ts = max((p["ts"] for ser in snap.recent.values() for p in ser), default=now - timedelta(hours=1))
    state = {"factory": factory_id, "devices": list(snap.recent), "last_ts": last_ts.isoformat(), "ticks": 0,
             "has_hour": any(snap.recent.values()), "last_id": last_id}
    note = _("{factory} ({code}) · updated {time}", factory=snap.factory_name, code=snap.factory_code,
               time=fmt_eat(now, tz, with_date=False))
    return kpi_row(snap), hour, day, *node_view(snap.nodes, tz), state, note


def parse_state(state: Any) -> dict | None:
    """Return the live page's client-side state checked and typed, or None when it is missing or malformed.

    The result has "factory" (int), "devices" (list of str), "since" (aware datetime),
    "last_ts" (str), "ticks" (int), "has_hour" (bool) and "last_id" (int: the highest reading id
    already on the chart; a state without it is redrawn).
    """
    if not isinstance(state, dict):
        return None
    factory, devices, ticks, last_ts = (state.get(k) for k in ("factory", "devices", "ticks", "last_ts"))
    if (not isinstance(factory, int) or isinstance(factory, bool) or not isinstance(devices, list)
            or not all(isinstance(d, str) for d in devices) or not isinstance(last_ts, str)):
        return None
    if ticks is None:
        ticks = 0
    if not isinstance(ticks, int) or isinstance(ticks, bool):
        return None
    last_id = state.get("last_id")
    if not isinstance(last_id, int) or isinstance(last_id, bool) or not 0 <= last_id < 2**63:
        return None
    try:
        since = datetime.fromisoformat(last_ts)
    except ValueError:
        return None
    if since.tzinfo is None:
        return None
    return {"factory": factory, "devices": devices, "since": since, "last_ts": last_ts, "ticks": ticks,
            "has_hour": bool(state.get("has_hour")), "last_id": last_id}


def tick_live(user, factory_id: int | None, state: dict | None, session_factory,  # noqa: ANN001
              now: datetime | None = None, tz: Any = None) -> tuple:
    """A refresh: new readings appended to the hour chart with a Patch; cards redrawn, the nodes' rows sent."""
    now = now or utcnow()
    state = parse_state(state)  # it comes from the browser: anything malformed counts as no state
    if (factory_id is None or state is None or state["factory"] != factory_id or not state["has_hour"]
            or state["ticks"] >= FULL_REDRAW_EVERY):
        return render_live(user, factory_id, session_factory, now, tz)
    since = state["since"]
    try:
        with session_factory() as s:
            # New = stored since the last tick (id watermark), whatever its ts: late (buffered)
            # readings too; clamped to the live window there.
            new = live_readings_since(s, user, factory_id, since, now, after_id=state["last_id"])
            # Cards and nodes only need the newest reading per device, not the hour again.
            snap = live_snapshot(s, user, factory_id, now, tz or DEFAULT_TZ, with_recent=False)
    except AccessDenied:
        denied = dbc.Alert(_(DENIED), color="danger")
        return denied, empty_figure(_(DENIED)), empty_figure(_(DENIED)), *NO_ROWS, None, ""
    if any(p["ts"] <= since for pts in new.values() for p in pts):
        # Late (buffered) readings belong before points already drawn: appending them would draw
        # the line back in time, so the hour is redrawn in order.
        return render_live(user, factory_id, session_factory, now, tz)
    patch = dash.Patch()

    last_ts, last_id = since, state["last_id"]
    for i, dev in enumerate(state["devices"]):
        pts = new.get(dev, [])
        if not pts:
            continue
        patch["data"][i]["x"].extend([local_naive(p["ts"]) for p in pts])
        patch["data"][i]["y"].extend([p["co2_kg_s"] if p["valid"] else None for p in pts])
        last_ts = max(last_ts, pts[-1]["ts"])
        last_id = max(last_id, *(p["id"] for p in pts))
    patch["layout"]["xaxis"]["range"] = [local_naive(now - timedelta(hours=1)), local_naive(now)]
    new_state = {k: v for k, v in state.items() if k != "since"}
    new_state.update(last_ts=last_ts.isoformat(), ticks=state["ticks"] + 1, last_id=last_id)
    note = _("{factory} ({code}) · updated {time}", factory=snap.factory_name, code=snap.factory_code,
               time=fmt_eat(now, tz, with_date=False))
    return kpi_row(snap), patch, dash.no_update, *node_view(snap.nodes, tz), new_state, note


def register(app: dash.Dash) -> None:
    """Attach the live page's callback to `app`."""
    grid_controls(app, NODE_GRID_ID)

    @app.callback(
        Output("factory-live-kpis", "children"),
        Output("factory-live-hour", "figure"),
        Output("factory-live-day", "figure"),
        Output("factory-live-nodes", "children"),
        Output(NODE_GRID_ID, "rowData"),
        Output(NODE_GRID_WRAP_ID, "hidden"),
        Output("factory-live-state", "data"),
        Output("factory-live-updated", "children"),
        Input("factory-live-factory", "value"),
        Input("factory-live-interval", "n_intervals"),
        State("factory-live-state", "data"),
    )
    def _update(factory, _n, state):  # noqa: ANN001, ANN202
        user = web_user()
        fid = parse_factory_id(factory)
        if ctx.triggered_id == "factory-live-interval":
            return tick_live(user, fid, state, app_session_factory(), tz=app_tz())
        return render_live(user, fid, app_session_factory(), tz=app_tz())

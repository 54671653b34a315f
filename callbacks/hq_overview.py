"""HQ overview callbacks.

The two grids (data availability per factory, energy-data reminders sent) sit in the page's layout
(`uptime_grid`, `reminders_grid`), hidden until there are rows; the minute's refresh sends only
their `rowData` (and whether to show them), so the grids and their search boxes stay mounted and
keep the user's sort, filters and quick-search text.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, html

from callbacks.common import app_gwp, app_tz, empty_state, fmt_eat, fmt_num, fmt_pct, kpi_card, web_user
from callbacks.common import session_factory as app_session_factory
from callbacks.figures import empty_figure, map_figure, region_figure, trend_figure
from callbacks.grid import NO_ROWS, grid_controls, grid_view, standing_grid, status_cell
from callbacks.i18n import format_day_month, format_month, format_month_range, format_number, ngettext
from callbacks.i18n import gettext as _
from callbacks.ranges import parse_range_month
from core.alerts.notify import reminders_sent
from core.insights.queries import UPTIME_THRESHOLD, Overview, hq_overview
from core.inventory.factors import load_factor_set
from core.inventory.monthly import due_datetime
from core.timeutil import DEFAULT_TZ, add_months, local_date, utcnow


def overview_data(user, session_factory, tz: Any = DEFAULT_TZ, now: datetime | None = None,  # noqa: ANN001
                  first: Any = None, last: Any = None) -> Overview:
    """Return the overview numbers for `user` (scoped to the factories they may see).

    `first`/`last` are picked months ("YYYY-MM", junk ignored): the totals, regions and trend cover them.
    """
    today = local_date(now or utcnow(), tz)
    with session_factory() as s:
        return hq_overview(s, user, load_factor_set(s), now, tz, gwp=app_gwp(),
                           first=parse_range_month(first, today), last=parse_range_month(last, today))


UPTIME_GRID_ID = "hq-overview-uptime-table"
REMINDERS_GRID_ID = "hq-overview-reminders"
MAX_REMINDERS = 200  # newest reminders in the grid (the Alerts page keeps the same cap); sent again every minute


def uptime_columns() -> list[dict]:
    """The data-availability grid's columns in this request's language."""
    return [
        # The pinned name column is sized, not stretched: on a phone the other columns get the width.
        {"field": "factory", "headerName": _("Factory"), "flex": None, "width": 150, "tooltipField": "factory"},
        {"field": "region", "headerName": _("Region"), "minWidth": 100, "priority": 3},
        {"field": "availability_pct", "headerName": _("Data availability (%)"), "filter": "agNumberColumnFilter",
         "type": "numericColumn", "minWidth": 110},
        {"field": "result", "headerName": _("Status"), "cellRenderer": "CtStatus", "minWidth": 110},
    ]


def uptime_grid() -> html.Div:
    """The data-availability grid for the layout: empty and hidden until the overview sends rows."""
    return standing_grid(UPTIME_GRID_ID, uptime_columns(), row_key="code", export_name="data-availability",
                         search_label=_("Search factories"), height="420px")


def uptime_rows(ov: Overview) -> list[dict]:
    """Every factory the user may see, worst data availability first (the ones to visit); numbers stay numbers."""
    factories = sorted(ov.factories, key=lambda f: (f["uptime"] is not None, f["uptime"] or 0.0))
    threshold = fmt_pct(UPTIME_THRESHOLD)
    rows = []
    for f in factories:
        u = f["uptime"]
        row = {"code": f["code"], "factory": f"{f['name']} ({f['code']})", "region": _("Region {n}", n=f["region"]),
               "availability_pct": None if u is None else round(u * 100)}
        # Tones from assets/ct_grid.js COLOURS: "ok" green, "missed" red, "no" grey.
        if u is None:
            status_cell(row, "result", "no", _("no sensors"))
        elif u >= UPTIME_THRESHOLD:
            status_cell(row, "result", "ok", _("at least {threshold}", threshold=threshold))
        else:
            status_cell(row, "result", "missed", _("below {threshold}", threshold=threshold))
        rows.append(row)
    return rows


def uptime_view(ov: Overview) -> tuple[Any, list[dict], bool]:
    """(message, grid rows, grid hidden) for the data-availability grid."""
    return grid_view(uptime_rows(ov) if ov.factories else [], empty_state(_("No factories yet.")))


def reminders_columns() -> list[dict]:
    """The reminders grid's columns in this request's language."""
    return [
        {"field": "factory", "headerName": _("Factory"), "flex": None, "width": 150, "tooltipField": "factory"},
        {"field": "month", "headerName": _("Month"), "minWidth": 100},
        {"field": "user", "headerName": _("Reminded"), "minWidth": 100, "priority": 2},
        {"field": "channel", "headerName": _("Channel"), "minWidth": 90, "priority": 3},
        {"field": "sent", "headerName": _("Sent"), "minWidth": 150},
    ]


def reminders_grid() -> html.Div:
    """The reminders grid for the layout: empty and hidden until the overview sends rows."""
    return standing_grid(REMINDERS_GRID_ID, reminders_columns(), export_name="reminders",
                         search_label=_("Search reminders"), height="320px")


def reminder_rows(rows: list, tz: Any = DEFAULT_TZ) -> list[dict]:  # noqa: ANN001
    """Reminders as grid rows, newest first: month and send time as text that sorts (YYYY-MM, local time)."""
    return [{"factory": f"{r.factory_name} ({r.factory_code})", "month": f"{r.month:%Y-%m}", "user": r.username,
             "channel": _(r.channel), "sent": fmt_eat(r.sent_at, tz)} for r in rows[:MAX_REMINDERS]]


def reminders_view(rows: list, tz: Any = DEFAULT_TZ) -> tuple[Any, list[dict], bool]:  # noqa: ANN001
    """(message, grid rows, grid hidden): who was reminded to submit energy data, how and when."""
    if not rows:
        return (html.Div(_("No energy-data reminders sent for these months."), className="small text-muted",
                         id="hq-overview-reminders-none"), [], True)
    note = None
    if len(rows) > MAX_REMINDERS:
        note = html.Div(_("Showing the {n} newest of {total} reminders.", n=MAX_REMINDERS, total=len(rows)),
                        className="small text-muted")
    return note, reminder_rows(rows, tz), False


def ytd_basis(ov: Overview) -> str:
    """What the year-to-date figures count: approved factory-months, and what waits for approval."""
    pending = ov.ytd_pending.n if ov.ytd_pending is not None else 0
    text = _("{n} approved factory-months", n=format_number(ov.ytd.n)) + (
        f", {format_month_range(ov.range_months)}" if ov.range_months else "")
    return text + (_("; {n} awaiting approval, not included", n=format_number(pending)) if pending else "")



def _t(kg: float | None, unit: str) -> str:
    """Kilograms as whole tonnes with the unit once ("15,908 t CO2e", never "15,908 t / t CO2e")."""
    return fmt_num(None if kg is None else kg / 1000, unit, 0)


def submission_card(ov: Overview, tz: Any = DEFAULT_TZ) -> Any:
    """Last month's submissions: until the due day, plainly what is pending; after it, the on-time share."""
    due_day = (due_datetime(ov.last_month, tz) - timedelta(seconds=1)).astimezone(tz).date()
    lm = format_month(ov.last_month, abbreviated=True)
    submitted = sum(1 for f in ov.factories if f.get("status") in ("submitted", "approved"))
    approved = sum(1 for f in ov.factories if f.get("status") == "approved")
    if ov.today <= due_day:
        return kpi_card(_("{month} data", month=lm), _("{n} of {total} submitted", n=submitted, total=ov.n_factories),
                        _("{n} approved; due {day}", n=approved, day=format_day_month(due_day).lstrip("0")),
                        card_id="hq-overview-on-time")
    return kpi_card(_("Submitted {month} on schedule", month=lm), fmt_pct(ov.submitted_on_time_share),
                    _("energy data by the due day"), card_id="hq-overview-on-time")


def render_overview(ov: Overview) -> tuple:
    """Return (kpis, trend, map, regions, uptime message, uptime grid rows, uptime grid hidden) for the overview."""
    if ov.n_factories == 0:
        e = empty_figure(_("No factories yet: load the demo data or add factories in Admin."))
        return empty_state(_("No factories yet: load the demo data or add factories in Admin.")), e, e, e, *NO_ROWS
    lm = format_month(ov.last_month, abbreviated=True)
    span = format_month_range(ov.range_months) if ov.range_months else _("year to date")
    kpis = dbc.Row([
        kpi_card(_("Scope 1 fossil, {span}", span=span), _t(ov.ytd.scope1_kg, "t CO2e"), ytd_basis(ov),
                 card_id="hq-overview-ytd-scope1"),
        kpi_card(_("Scope 2, {span}", span=span), _t(ov.ytd.scope2_kg, "t CO2e"), _("location-based"),
                 card_id="hq-overview-ytd-scope2"),
        kpi_card(_("Biogenic CO2, {span} (memo)", span=span), _t(ov.ytd.biogenic_co2_kg, "t CO2"), _("outside scopes")),
        kpi_card(_("Network intensity, {span}", span=span), fmt_num(ov.ytd.intensity_kg_per_kg, "kg CO2e/kg", 3),
                 _("Σ Scope 1+2 ÷ Σ made tea"), card_id="hq-overview-intensity"),
        kpi_card(_("Scope 1 fossil, month to date"), _t(ov.mtd.scope1_kg, "t CO2e"),
                 _("{n} of {total} factories have entered this month", n=ov.mtd.n, total=ov.n_factories)),
        kpi_card(_("Scope 2, month to date"), _t(ov.mtd.scope2_kg, "t CO2e"), _("location-based")),
        kpi_card(_("Biogenic CO2, month to date (memo)"), _t(ov.mtd.biogenic_co2_kg, "t CO2"), _("outside scopes")),
        kpi_card(_("Measured stack CO2, month to date"), _t(ov.mtd_measured_co2_kg, "t CO2"), _("all sensors")),
        kpi_card(_("Factories with sensor uptime ≥ 50 %"), fmt_pct(ov.uptime_ok_share),
                 _("data availability (40 CFR 75.32), last 30 days; fleet-wide {pct} ({valid} of {assigned} "
                   "node-hours valid)", pct=fmt_pct(ov.fleet_availability), valid=format_number(ov.fleet_valid_hours),
                   assigned=format_number(ov.fleet_assigned_hours)),
                 card_id="hq-overview-uptime-share"),
        submission_card(ov),
        kpi_card(_("Meeting target in {month}", month=lm),
                 fmt_pct(ov.target_met_share) if ov.n_with_target_result else "—",
                 (ngettext("of {n} approved month", "of {n} approved months", ov.n_with_target_result)
                  if ov.n_with_target_result else _("no approved month yet"))
                 + (_("; {n} awaiting approval", n=ov.n_target_pending) if ov.n_target_pending else ""),
                 card_id="hq-overview-target"),
        kpi_card(_("Nodes online"), _("{n} of {total}", n=format_number(ov.nodes_online), total=format_number(ov.nodes_total)), _("heard from within 3 sample intervals (≥ 5 min)"),
                 card_id="hq-overview-nodes"),
    ])
    return kpis, *overview_figures(ov), *uptime_view(ov)


def overview_figures(ov: Overview) -> tuple:
    """Return the overview's (trend, map, regions) figures."""
    span = format_month_range(ov.range_months) if ov.range_months else None
    trend = trend_figure([m for m, _ in ov.trend], [t.scope1_kg if t.n else None for _, t in ov.trend],
                         [t.scope2_kg if t.n else None for _, t in ov.trend],
                         [t.biogenic_co2_kg if t.n else None for _, t in ov.trend],
                         [t.measured_co2_kg for _, t in ov.trend], title=span and _("Network trend, {span}", span=span))
    regions = list(ov.by_region)
    reg = region_figure(regions, [ov.by_region[r].scope1_kg for r in regions],
                        [ov.by_region[r].scope2_kg for r in regions],
                        [ov.by_region[r].intensity_kg_per_kg for r in regions],
                        title=span and _("{span} by region", span=span)) if regions else empty_figure(
        _("No energy data in these months yet.") if ov.range_months else _("No energy data this year yet."))
    return trend, map_figure(ov.factories), reg


def _range_query(first: Any, last: Any, today) -> str:  # noqa: ANN001
    """'&from=2026-01&to=2026-06' for the picked months that are valid, '' otherwise."""
    parts = [f"&{key}={value}" for key, value in (("from", first), ("to", last))
             if parse_range_month(value, today) is not None]
    return "".join(parts)


def region_click_target(click_data: dict | None, first: Any = None, last: Any = None, today=None) -> str | None:  # noqa: ANN001
    """Return the leaderboard filtered to the region clicked on the region chart (and the picked months)."""
    try:
        label = click_data["points"][0]["x"]
        region = int(re.findall(r"\d+", str(label))[-1])  # "Region 2" / "Kanda 2": the label's number
    except (TypeError, KeyError, IndexError, ValueError):
        return None
    if not 1 <= region <= 99:
        return None
    return f"/hq/leaderboard?region={region}" + _range_query(first, last, today or local_date(utcnow()))


def trend_click_target(click_data: dict | None, today=None) -> str | None:  # noqa: ANN001
    """Return the leaderboard for the month clicked on the trend chart."""
    try:
        x = str(click_data["points"][0]["x"])
    except (TypeError, KeyError, IndexError):
        return None
    month = x[:7]
    if parse_range_month(month, today or local_date(utcnow())) is None:
        return None
    return f"/hq/leaderboard?month={month}"


def map_click_target(click_data: dict | None) -> str | None:
    """Return the history page of the factory clicked on the map, or None."""
    try:
        factory_id = int(click_data["points"][0]["customdata"])
    except (TypeError, KeyError, IndexError, ValueError):
        return None
    return f"/factory/history?factory={factory_id}"


def register(app: dash.Dash) -> None:
    """Attach the overview's callback to `app`."""

    grid_controls(app, UPTIME_GRID_ID)
    grid_controls(app, REMINDERS_GRID_ID)

    @app.callback(
        Output("hq-overview-kpis", "children"), Output("hq-overview-trend", "figure"),
        Output("hq-overview-map", "figure"), Output("hq-overview-regions", "figure"),
        Output("hq-overview-uptime", "children"), Output(UPTIME_GRID_ID, "rowData"),
        Output(f"{UPTIME_GRID_ID}-wrap", "hidden"),
        Output("hq-overview-reminders-section", "hidden"), Output("hq-overview-reminders-note", "children"),
        Output(REMINDERS_GRID_ID, "rowData"), Output(f"{REMINDERS_GRID_ID}-wrap", "hidden"),
        Input("hq-overview-interval", "n_intervals"), Input("hq-overview-from", "value"),
        Input("hq-overview-to", "value"),
    )
    def _render(_n, first, last):  # noqa: ANN001, ANN202
        user, sf, tz = web_user(), app_session_factory(), app_tz()
        ov = overview_data(user, sf, tz, first=first, last=last)
        if not ov.n_factories:
            return *render_overview(ov), True, *NO_ROWS
        with sf() as s:
            sent = reminders_sent(s, user, [ov.last_month, add_months(ov.last_month, 1)])
        return *render_overview(ov), False, *reminders_view(sent, tz)

    @app.callback(Output("hq-overview-go", "href"), Input("hq-overview-map", "clickData"),
                  Input("hq-overview-regions", "clickData"), Input("hq-overview-trend", "clickData"),
                  State("hq-overview-from", "value"), State("hq-overview-to", "value"), prevent_initial_call=True)
    def _drill_down(map_click, region_click, trend_click, first, last):  # noqa: ANN001, ANN202
        # The target pages check access themselves; this only navigates.
        today = local_date(utcnow(), app_tz())
        target = {"hq-overview-map": lambda: map_click_target(map_click),
                  "hq-overview-regions": lambda: region_click_target(region_click, first, last, today),
                  "hq-overview-trend": lambda: trend_click_target(trend_click, today)}.get(
            dash.ctx.triggered_id, lambda: None)()
        return target or dash.no_update

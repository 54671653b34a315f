"""Leaderboard callback: rank on the server, render a data grid with links to each factory's history."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import dash
from dash import Input, Output, html

from callbacks.common import TONNE_KG, app_gwp, app_tz, empty_state, web_user
from callbacks.common import session_factory as app_session_factory
from callbacks.grid import data_grid, grid_controls, md_link, status_cell
from callbacks.i18n import format_day_month, format_month, format_month_range
from callbacks.i18n import gettext as _
from callbacks.ranges import parse_range_month
from core.insights.queries import (
    METRICS,
    PERIODS,
    LeaderRow,
    leaderboard,
    month_progress,
    month_range,
)
from core.inventory.factors import load_factor_set
from core.timeutil import DEFAULT_TZ, add_months, local_date, month_start, utcnow
from core.validation import FieldError, int_in

MAX_REGION = 99  # KTDA has 7 regions; a larger number is not a region
GRID_ID = "hq-leaderboard-grid"


def columns() -> list[dict]:
    """The grid's columns, headers in the page's language."""
    return [
        {"field": "factory", "headerName": _("Factory"), "cellRenderer": "markdown", "minWidth": 150},
        {"field": "rank", "headerName": "#", "filter": "agNumberColumnFilter", "maxWidth": 80, "minWidth": 60},
        {"field": "intensity", "headerName": _("Intensity (kg CO2e/kg made tea)"), "filter": "agNumberColumnFilter",
         "type": "numericColumn"},
        {"field": "result", "headerName": _("Target result"), "cellRenderer": "CtStatus"},
        {"field": "target", "headerName": _("Target (kg CO2e/kg)"), "filter": "agNumberColumnFilter",
         "type": "numericColumn", "priority": 3},
        {"field": "emissions_t", "headerName": _("Emissions (t CO2e)"), "filter": "agNumberColumnFilter",
         "type": "numericColumn", "priority": 2},
        {"field": "change_pct", "headerName": _("Change vs last year (%)"), "filter": "agNumberColumnFilter",
         "type": "numericColumn", "priority": 3},
        {"field": "months_compared", "headerName": _("Months compared"), "priority": 3},
        {"field": "region", "headerName": _("Region"), "priority": 2},
        {"field": "approved", "headerName": _("Months approved"), "priority": 3},
        {"field": "status", "headerName": _("Data status"), "priority": 2, "minWidth": 160},
    ]


def leaderboard_rows(user, metric: str | None, period: str | None, region, session_factory,  # noqa: ANN001
                     tz: Any = DEFAULT_TZ, now: datetime | None = None, first: Any = None,
                     last: Any = None) -> list[LeaderRow]:
    """Ranked rows for the filters (unknown filter values fall back to the defaults).

    `first`/`last` are picked months ("YYYY-MM"); when either is set it replaces the period.
    """
    metric = metric if isinstance(metric, str) and metric in METRICS else "intensity"
    period = period if isinstance(period, str) and period in PERIODS else "latest"
    try:
        region_i = int_in(region, "Region", 1, MAX_REGION)
    except FieldError:
        region_i = None
    today = local_date(now or utcnow(), tz)
    first_m, last_m = parse_range_month(first, today), parse_range_month(last, today)
    with session_factory() as s:
        return leaderboard(s, user, load_factor_set(s), period, region_i, metric, now, tz, gwp=app_gwp(),
                           first=first_m, last=last_m)


def url_choices(kwargs: dict, today: date) -> tuple[int | None, str | None, str | None]:
    """Region and month range from the address (drill-down from the overview): ?region=2, ?month=2026-05,
    ?from=2026-01&to=2026-06. Junk is ignored."""
    try:
        region = int_in(kwargs.get("region"), "Region", 1, MAX_REGION)
    except FieldError:
        region = None
    month = kwargs.get("month")
    first = month if parse_range_month(month, today) else kwargs.get("from")
    last = month if parse_range_month(month, today) else kwargs.get("to")
    first = first if parse_range_month(first, today) else None
    last = last if parse_range_month(last, today) else None
    return region, first, last


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def grid_rows(rows: list[LeaderRow]) -> list[dict]:
    """The ranking as grid rows: numbers stay numbers (they sort), names link to the history."""
    out = []
    for r in rows:
        out.append({
            "code": r.code, "factory_id": r.factory_id,
            "factory": md_link(f"{r.name} ({r.code})", f"/factory/history?factory={r.factory_id}"),
            "rank": r.rank, "region": _("Region {n}", n=r.region),
            "intensity": _round(r.intensity, 3), "target": _round(r.target, 2),
            "emissions_t": None if r.total_kg is None else round(r.total_kg / TONNE_KG, 1),
            "change_pct": _round(r.change_pct, 1),
            "months_compared": r.months_compared if r.change_pct is not None else None,
            "approved": _("{n} of {total}", n=r.months_reported, total=r.months),
            "status": status_note(r),
        })
        status_cell(out[-1], "result", {True: "met", False: "missed"}.get(r.target_met, "no data"))
    return out


def leaderboard_table(rows: list[LeaderRow], months_label: str = "") -> Any:
    """Return the ranking as a data grid; names link to the factory's history."""
    if not rows:
        return empty_state(_("No factories match these filters."))
    note = html.Div(_("Ranked on months HQ has approved; months submitted and awaiting approval, and drafts, "
                    "are counted in the Data status column only."), className="small text-muted",
                    id="hq-leaderboard-basis")
    parts = []
    if months_label:
        parts.append(html.Div(_("Months: {months}.", months=months_label), className="small mb-1", id="hq-leaderboard-months"))
    parts += [data_grid(GRID_ID, columns(), grid_rows(rows), export_name="leaderboard",
                        search_label=_("Search factories")), note]
    if all(r.change_pct is None for r in rows):
        parts.append(html.Div(_("Change vs last year: no factory has energy data for the same months a year "
                              "earlier yet."), className="small text-muted", id="hq-leaderboard-change-note"))
    return html.Div(parts)


def status_note(r: LeaderRow) -> str:
    """Return what is not (yet) in a row's figures: months awaiting approval and drafts."""
    parts = []
    if r.months_pending:
        parts.append(_("{n} submitted, awaiting approval", n=r.months_pending))
    if r.months_draft:
        parts.append(_("{n} draft", n=r.months_draft))
    missing = r.months - r.months_reported - r.months_pending - r.months_draft
    if missing > 0:
        parts.append(_("{n} not started", n=missing))
    return "; ".join(parts) or _("all approved")


def register(app: dash.Dash) -> None:
    """Attach the leaderboard's callback to `app`."""

    @app.callback(
        Output("hq-leaderboard-table", "children"),
        Input("hq-leaderboard-metric", "value"), Input("hq-leaderboard-period", "value"),
        Input("hq-leaderboard-region", "value"), Input("hq-leaderboard-from", "value"),
        Input("hq-leaderboard-to", "value"),
    )
    def _render(metric, period, region, first, last):  # noqa: ANN001, ANN202
        tz = app_tz()
        rows = leaderboard_rows(web_user(), metric, period, region, app_session_factory(), tz, first=first, last=last)
        today = local_date(utcnow(), tz)
        chosen = month_range(parse_range_month(first, today), parse_range_month(last, today), today)
        return html.Div([pending_message(web_user(), app_session_factory(), tz),
                         leaderboard_table(rows, format_month_range(chosen) if chosen else "")])

    grid_controls(app, GRID_ID)


def pending_message(user, session_factory, tz: Any = DEFAULT_TZ, now: datetime | None = None) -> Any:  # noqa: ANN001
    """Say plainly where last month's submissions stand ("0 of 67 submitted, due 10 Dec")."""
    last = add_months(month_start(local_date(now or utcnow(), tz)), -1)
    with session_factory() as s:
        p = month_progress(s, user, last, tz)
    if p.n_factories == 0:
        return None
    due = (p.due_at - timedelta(seconds=1)).astimezone(tz)
    text = _("{month}: {n} of {total} submitted, {approved} approved; due {day}.", month=format_month(last),
             n=p.n_submitted, total=p.n_factories, approved=p.n_approved,
             day=format_day_month(due.date()).lstrip("0"))
    return html.Div(text, className="small mb-2", id="hq-leaderboard-pending")

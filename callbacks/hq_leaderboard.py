"""Leaderboard callback: rank on the server, render a table with links to each factory's history."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import dash
from dash import Input, Output, html

from callbacks.common import app_gwp, app_tz, empty_state, fmt_num, fmt_t, web_user
from callbacks.common import session_factory as app_session_factory
from callbacks.html_table import Badge, Cell, Link, html_table
from core.insights.queries import METRICS, PERIODS, LeaderRow, leaderboard, month_progress
from core.inventory.factors import load_factor_set
from core.timeutil import DEFAULT_TZ, add_months, local_date, month_start, utcnow
from core.validation import FieldError, int_in

MAX_REGION = 99  # KTDA has 7 regions; a larger number is not a region


def leaderboard_rows(user, metric: str | None, period: str | None, region, session_factory,  # noqa: ANN001
                     tz: Any = DEFAULT_TZ, now: datetime | None = None) -> list[LeaderRow]:
    """Ranked rows for the filters (unknown filter values fall back to the defaults)."""
    metric = metric if isinstance(metric, str) and metric in METRICS else "intensity"
    period = period if isinstance(period, str) and period in PERIODS else "latest"
    try:
        region_i = int_in(region, "Region", 1, MAX_REGION)
    except FieldError:
        region_i = None
    with session_factory() as s:
        return leaderboard(s, user, load_factor_set(s), period, region_i, metric, now, tz, gwp=app_gwp())


def leaderboard_table(rows: list[LeaderRow]) -> Any:
    """Return the ranking as a table; names link to the factory's history."""
    if not rows:
        return empty_state("No factories match these filters.")
    head = ("#", "Factory", "Region", "Intensity (kg CO2e/kg made tea)", "Target", "Emissions (t CO2e)",
            "Change vs last year", "Months approved", "Status")
    body = []
    for r in rows:
        badge = {True: Badge("met", "success"), False: Badge("missed", "danger")}.get(
            r.target_met, Badge("no data", "secondary"))
        change = "—" if r.change_pct is None else f"{r.change_pct:+.1f} % ({r.months_compared} mo)"
        body.append([r.rank, Link(f"{r.name} ({r.code})", f"/factory/history?factory={r.factory_id}"),
                     r.region, fmt_num(r.intensity, "", 3), Cell((fmt_num(r.target, "", 2), " ", badge)),
                     fmt_t(r.total_kg), change, f"{r.months_reported} of {r.months}",
                     Cell((status_note(r),), "small")])
    note = html.Div("Ranked on months HQ has approved; months submitted and awaiting approval, and drafts, "
                    "are counted in the Status column only.", className="small text-muted",
                    id="hq-leaderboard-basis")
    # One component for the whole table (callbacks/html_table.py): 67 rows of Dash cells took 2.7–3.6 s to draw.
    table = html_table(head, body, "hq-leaderboard-grid", hover=True, label="Leaderboard")
    if all(r.change_pct is None for r in rows):
        return html.Div([table, note, html.Div("Change vs last year: no factory has energy data for the same "
                                                "months a year earlier yet.", className="small text-muted",
                                                id="hq-leaderboard-change-note")])
    return html.Div([table, note])


def status_note(r: LeaderRow) -> str:
    """Return what is not (yet) in a row's figures: months awaiting approval and drafts."""
    parts = []
    if r.months_pending:
        parts.append(f"{r.months_pending} submitted, awaiting approval")
    if r.months_draft:
        parts.append(f"{r.months_draft} draft")
    missing = r.months - r.months_reported - r.months_pending - r.months_draft
    if missing > 0:
        parts.append(f"{missing} not started")
    return "; ".join(parts) or "all approved"


def register(app: dash.Dash) -> None:
    """Attach the leaderboard's callback to `app`."""

    @app.callback(
        Output("hq-leaderboard-table", "children"),
        Input("hq-leaderboard-metric", "value"), Input("hq-leaderboard-period", "value"),
        Input("hq-leaderboard-region", "value"),
    )
    def _render(metric, period, region):  # noqa: ANN001, ANN202
        rows = leaderboard_rows(web_user(), metric, period, region, app_session_factory(), app_tz())
        return html.Div([pending_message(web_user(), app_session_factory(), app_tz()), leaderboard_table(rows)])


def pending_message(user, session_factory, tz: Any = DEFAULT_TZ, now: datetime | None = None) -> Any:  # noqa: ANN001
    """Say plainly where last month's submissions stand ("0 of 67 submitted, due 10 Dec")."""
    last = add_months(month_start(local_date(now or utcnow(), tz)), -1)
    with session_factory() as s:
        p = month_progress(s, user, last, tz)
    if p.n_factories == 0:
        return None
    due = (p.due_at - timedelta(seconds=1)).astimezone(tz)
    text = (f"{last:%B %Y}: {p.n_submitted} of {p.n_factories} submitted, {p.n_approved} approved; "
            f"due {due.day} {due:%b}.")
    return html.Div(text, className="small mb-2", id="hq-leaderboard-pending")

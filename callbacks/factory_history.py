"""History callbacks: figures and tables for a factory and a date range; CSV and Excel export."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, ctx, dcc

from callbacks.common import (
    TONNE_KG,
    app_gwp,
    app_tz,
    empty_state,
    fmt_pct,
    fmt_t,
    kpi_card,
    parse_factory_id,
    web_user,
)
from callbacks.common import session_factory as app_session_factory
from callbacks.figures import (
    daily_figure,
    empty_figure,
    intensity_figure,
    monthly_figure,
    reconciliation_figure,
)
from callbacks.grid import data_grid, grid_controls, status_cell
from callbacks.i18n import N_, format_day, format_month, format_number
from callbacks.i18n import gettext as _
from core.access import AccessDenied
from core.insights.queries import daily_history, monthly_history
from core.inventory.factors import load_factor_set
from core.measurement.availability import Availability, factory_availability
from core.measurement.substitution import substituted_by_local_day
from core.models import Factory
from core.reporting.xlsx import is_formula_like, put
from core.timeutil import DEFAULT_TZ, iter_months, local_date, local_day_bounds_utc, month_start, utcnow
from core.validation import iso_date

MAX_DAYS = 400  # longest range shown at daily resolution
DENIED = N_("You may not see this factory.")


def safe_cell(value: Any) -> Any:
    """Return a CSV cell: text a spreadsheet would run as a formula gets a leading apostrophe.

    Only for CSV, which has no cell types; the workbook uses core.reporting.xlsx.put (Excel's quote-prefix
    flag, so the text itself is unchanged).
    """
    if isinstance(value, str) and is_formula_like(value):
        return "'" + value
    return value


def parse_range(start: str | None, end: str | None, today: date) -> tuple[date, date]:
    """Return the chosen [first, last] local days, clipped to MAX_DAYS and to today."""
    last = iso_date(end, "End date") or today
    first = iso_date(start, "Start date") or last - timedelta(days=89)
    last = min(last, today)
    if first > last:
        first, last = last, first
    if (last - first).days >= MAX_DAYS:
        first = last - timedelta(days=MAX_DAYS - 1)
    return first, last


def history_data(user, factory_id: int | None, start: str | None, end: str | None, session_factory,  # noqa: ANN001
                 tz: Any = DEFAULT_TZ, now: datetime | None = None) -> dict | None:
    """Return daily points and monthly rows for the factory and range; None when the user may not see it."""
    now = now or utcnow()
    if factory_id is None:
        return None
    first, last = parse_range(start, end, local_date(now, tz))
    try:
        with session_factory() as s:
            days = daily_history(s, user, factory_id, first, last, now, tz)  # checks the user may see it
            subst = substituted_by_local_day(s, [factory_id], first, last, tz)
            availability = range_availability(s, factory_id, first, last, tz, now)
            factors = load_factor_set(s)
            inv = monthly_history(s, user, factory_id, list(iter_months(first, last)), factors, tz, now, gwp=app_gwp())
            factory = s.get(Factory, factory_id)
    except AccessDenied:
        return {"denied": True}
    if factory is None:
        return {"denied": True}
    monthly = []
    for i in inv:
        monthly.append({
            "month": i.month, "status": i.submission_status,
            "scope1_kg": i.scope1_kg if i.has_energy_data else None,
            "scope2_kg": i.scope2_kg if i.has_energy_data else None,
            "biogenic_co2_kg": i.biogenic_co2_kg if i.has_energy_data else None,
            "measured_co2_kg": i.measured_co2_kg or None,
            "measured_fossil_co2_kg": i.measured_fossil_co2_kg if i.measured_co2_kg else None,
            "measured_biogenic_co2_kg": i.measured_biogenic_co2_kg if i.measured_co2_kg else None,
            "calculated_co2_kg": i.calculated_co2_kg if i.has_energy_data else None,
            "reconciliation_pct": i.reconciliation_pct,
            "made_tea_kg": i.made_tea_kg, "intensity": i.intensity_kg_per_kg, "target_met": i.target_met,
            "coverage": i.coverage, "fossil_share": i.fossil_share,
            "substituted_co2_kg": i.substituted_co2_kg or None, "substituted_hours": i.substituted_hours,
            "measured_total_co2_kg": i.measured_co2_full_month_kg,
            "substitution_methods": i.substitution_method_text if i.substitution_methods else None,
        })
    today = local_date(now, tz)
    partial = month_start(today) if month_start(last) == month_start(today) else None
    substituted = {day: (t.co2_kg, t.hours) for (_f, day), t in subst.items() if t.hours}
    return {"denied": False, "first": first, "last": last, "days": days, "monthly": monthly, "partial_month": partial,
            "substituted": substituted, "availability": availability,
            "factory_code": factory.code, "factory_name": factory.name, "target": factory.target_kg_co2e_per_kg}


def range_availability(session: Any, factory_id: int, first: date, last: date, tz: Any,
                       now: datetime) -> Availability:
    """Percent monitor data availability (40 CFR 75.32, core.measurement.availability) over the local days."""
    lo, _lo_end = local_day_bounds_utc(first, tz)
    _hi_start, hi = local_day_bounds_utc(last, tz)
    return factory_availability(session, [factory_id], lo, hi, now)[factory_id]


def availability_card(a: Availability | None) -> Any:
    """The range's data availability with its node-hours, beside coverage."""
    if a is None:
        return kpi_card(_("Data availability (40 CFR 75.32)"), "—")
    return kpi_card(_("Data availability (40 CFR 75.32)"), fmt_pct(a.share, 1),
                    _("{valid} valid of {assigned} assigned node-hours", valid=format_number(a.valid_hours),
                      assigned=format_number(a.assigned_hours)),
                    card_id="factory-history-availability")


def month_labels(months: list[date], partial: date | None = None) -> dict[date, str]:
    """One label per month ("Sep 2026"), in order; the month still running is marked "(to date)"."""
    # The month still running is labelled so its lower total does not read as a fall.
    return {m: format_month(m, abbreviated=True) + (_(" (to date)") if m == partial else "") for m in months}


def month_axis(fig: Any, months: list[date], partial: date | None = None) -> Any:
    """Put a monthly figure on a category axis: one label per month ("Sep 2026"), in order.

    On a date axis Plotly picks its own tick spacing, which repeated labels ("Aug 2026, Aug 2026")
    and drew bars between ticks, so a September bar could read as August. Traces whose x are the
    month-start dates get the month labels; other figures (no months) are returned unchanged.
    The page's own charts get the labels when they are built (the figure builders' `labels`),
    which is cheaper than changing a built figure; this is for any other figure.
    """
    import plotly.graph_objects as go

    if not months:
        return fig
    label = month_labels(months, partial)
    spec = fig.to_dict()
    for trace in spec["data"]:
        if trace.get("x") is not None:
            trace["x"] = [label.get(x, x) for x in trace["x"]]
    xaxis = spec["layout"].setdefault("xaxis", {})
    xaxis.pop("tickformat", None)
    xaxis.update(type="category", categoryorder="array", categoryarray=list(label.values()))
    return go.Figure(spec)


MONTH_GRID_ID = "factory-history-month-table"


def month_columns() -> list[dict]:
    """The month grid's columns, headers in the page's language."""
    return [
        {"field": "month", "headerName": _("Month"), "minWidth": 100, "maxWidth": 130},
        {"field": "status", "headerName": _("Status"), "cellRenderer": "CtStatus", "minWidth": 100},
        {"field": "scope1_t", "headerName": _("Scope 1 (t CO2e)"), "filter": "agNumberColumnFilter", "type": "numericColumn"},
        {"field": "intensity", "headerName": _("Intensity (kg CO2e/kg)"), "filter": "agNumberColumnFilter",
         "type": "numericColumn", "priority": 2},
        {"field": "target", "headerName": _("Target"), "cellRenderer": "CtStatus", "priority": 2},
        {"field": "scope2_t", "headerName": _("Scope 2 (t CO2e)"), "filter": "agNumberColumnFilter", "type": "numericColumn",
         "priority": 2},
        {"field": "made_tea_t", "headerName": _("Made tea (t)"), "filter": "agNumberColumnFilter", "type": "numericColumn",
         "priority": 3},
        {"field": "biogenic_t", "headerName": _("Biogenic (t CO2)"), "filter": "agNumberColumnFilter",
         "type": "numericColumn", "priority": 3},
        {"field": "measured_t", "headerName": _("Measured (t CO2)"), "filter": "agNumberColumnFilter",
         "type": "numericColumn", "priority": 3},
        # Substituted figures are always set apart (issue 12): their own columns, shaded like the hatched
        # bars (a static class: AG Grid's class rules compile expressions, which the CSP forbids).
        {"field": "substituted_t", "headerName": _("Substituted (t CO2)"), "filter": "agNumberColumnFilter",
         "type": "numericColumn", "tooltipField": "substitution_methods", "priority": 3, "cellClass": "substituted"},
        {"field": "substituted_h", "headerName": _("Substituted sensor-hours"), "filter": "agNumberColumnFilter",
         "type": "numericColumn", "priority": 3, "cellClass": "substituted"},
        {"field": "reconciliation_pct", "headerName": _("Measured vs calculated (%)"), "filter": "agNumberColumnFilter",
         "type": "numericColumn", "priority": 3},
        {"field": "coverage_pct", "headerName": _("Coverage (%)"), "filter": "agNumberColumnFilter", "type": "numericColumn",
         "priority": 3},
    ]


def _t(kg: float | None) -> float | None:
    return None if kg is None else round(kg / TONNE_KG, 1)


def month_grid_rows(rows: list[dict]) -> list[dict]:
    """The monthly numbers as grid rows: numbers stay numbers (they sort and filter), units in the headers."""
    out = []
    for r in rows:
        out.append({
            "month": r["month"].strftime("%Y-%m"),
            "scope1_t": _t(r["scope1_kg"]), "scope2_t": _t(r["scope2_kg"]), "biogenic_t": _t(r["biogenic_co2_kg"]),
            "measured_t": _t(r["measured_co2_kg"]), "substituted_t": _t(r.get("substituted_co2_kg")),
            "substituted_h": r.get("substituted_hours") or 0, "substitution_methods": r.get("substitution_methods") or "",
            "reconciliation_pct": None if r["reconciliation_pct"] is None else round(r["reconciliation_pct"]),
            "made_tea_t": _t(r["made_tea_kg"]),
            "intensity": None if r["intensity"] is None else round(r["intensity"], 3),
            "coverage_pct": None if r["coverage"] is None else round(r["coverage"] * 100),
        })
        status_cell(out[-1], "status", r["status"])
        status_cell(out[-1], "target", {True: "met", False: "missed"}.get(r["target_met"]))
    return out


def monthly_table(rows: list[dict]) -> Any:
    """Return the monthly numbers as a data grid (units in the headers; on a phone the key columns only)."""
    if not rows:
        return empty_state(_("No months in this range."))
    return data_grid(MONTH_GRID_ID, month_columns(), month_grid_rows(rows), export_name="months",
                     search_label=_("Search months"))


def render_history(data: dict | None) -> tuple:
    """Return (kpis, daily fig, monthly fig, intensity fig, reconciliation fig, table) for `data`."""
    if data is None:
        e = empty_figure(_("Pick a factory."))
        return empty_state(_("Pick a factory.")), e, e, e, e, None
    if data["denied"]:
        e = empty_figure(_(DENIED))
        return dbc.Alert(_(DENIED), color="danger"), e, e, e, e, None
    days = data["days"]
    monthly = data["monthly"]
    measured = sum(d.co2_kg for d in days if d.co2_kg is not None)
    gaps = sum(1 for d in days if d.co2_kg is None)
    covs = [d.coverage for d in days if d.coverage is not None]
    with_energy = [r for r in monthly if r["scope1_kg"] is not None]
    subst = data.get("substituted") or {}
    kpis = dbc.Row([
        kpi_card(_("Measured stack CO2"), fmt_t(measured), f"{format_day(data['first'])} – {format_day(data['last'])}",
                 card_id="factory-history-measured"),
        kpi_card(_("Substituted stack CO2"), fmt_t(sum(v for v, _h in subst.values())) if subst else "—",
                 _("{hours} sensor-hours on {days} days", hours=format_number(sum(h for _h, h in subst.values())),
                   days=format_number(len(subst))),
                 card_id="factory-history-substituted"),
        kpi_card(_("Days without data"), f"{format_number(gaps)} d", _("of {n} days", n=format_number(len(days)))),
        kpi_card(_("Mean data coverage"), fmt_pct(sum(covs) / len(covs) if covs else None), _("valid sensor-seconds")),
        availability_card(data.get("availability")),
        kpi_card(_("Scope 1 + 2 (energy log)"), fmt_t(sum(r["scope1_kg"] + r["scope2_kg"] for r in with_energy))
                 if with_energy else "—", _("{n} of {total} months reported", n=len(with_energy), total=len(monthly))),
    ])
    share = {r["month"]: r["fossil_share"] for r in monthly}
    substituted = data.get("substituted") or {}
    daily = daily_figure([d.day for d in days], [d.co2_kg for d in days], [d.coverage for d in days],
                         [share.get(month_start(d.day)) for d in days], substituted) \
        if any(d.co2_kg is not None for d in days) or substituted else empty_figure(_("No stack data in this range."))
    labels = month_labels([r["month"] for r in monthly], data.get("partial_month"))
    month_fig = monthly_figure(monthly, labels) if monthly else empty_figure(_("No months in this range."))
    inten = intensity_figure(monthly, data["target"], labels) if any(r["intensity"] for r in monthly) else empty_figure(
        _("No intensity: the months have no energy log or no made tea."))
    recon = reconciliation_figure(monthly, labels) if monthly else empty_figure(_("No months in this range."))
    return kpis, daily, month_fig, inten, recon, monthly_table(monthly)


def export_rows(data: dict) -> tuple[list[str], list[list], list[str], list[list]]:
    """Return (monthly header, monthly rows, daily header, daily rows) of what the page shows."""
    mh = ["factory", "month", "status", "scope1_t_co2e", "scope2_t_co2e", "biogenic_t_co2", "measured_t_co2",
          "measured_fossil_t_co2", "measured_biogenic_t_co2", "substituted_t_co2", "substituted_hours",
          "calculated_t_co2", "reconciliation_pct",
          "made_tea_kg", "intensity_kg_co2e_per_kg", "target_met", "coverage_pct"]

    def t(v):  # noqa: ANN001, ANN202
        return None if v is None else round(v / 1000, 3)

    mrows = [[data["factory_code"], r["month"].strftime("%Y-%m"), r["status"], t(r["scope1_kg"]), t(r["scope2_kg"]),
              t(r["biogenic_co2_kg"]), t(r["measured_co2_kg"]), t(r["measured_fossil_co2_kg"]),
              t(r["measured_biogenic_co2_kg"]), t(r.get("substituted_co2_kg")), r.get("substituted_hours") or 0,
              t(r["calculated_co2_kg"]),
              None if r["reconciliation_pct"] is None else round(r["reconciliation_pct"], 1), r["made_tea_kg"],
              None if r["intensity"] is None else round(r["intensity"], 4), r["target_met"],
              None if r["coverage"] is None else round(r["coverage"] * 100, 1)] for r in data["monthly"]]
    share = {r["month"]: r.get("fossil_share") for r in data["monthly"]}

    def split(d, fossil: bool):  # noqa: ANN001, ANN202
        sh = share.get(month_start(d.day))
        if d.co2_kg is None or sh is None:
            return None
        return t(d.co2_kg * (sh if fossil else 1.0 - sh))

    subst = data.get("substituted") or {}
    dh = ["factory", "day_eat", "measured_t_co2", "measured_fossil_t_co2", "measured_biogenic_t_co2", "coverage_pct",
          "substituted_t_co2", "substituted_hours"]
    drows = [[data["factory_code"], d.day.isoformat(), t(d.co2_kg), split(d, True), split(d, False),
              None if d.coverage is None else round(d.coverage * 100, 1),
              t(subst[d.day][0]) if d.day in subst else None, subst[d.day][1] if d.day in subst else 0]
             for d in data["days"]]
    return mh, mrows, dh, drows


def to_csv(data: dict) -> str:
    """Return monthly rows, a blank line, then daily rows; empty cells for gaps."""
    mh, mrows, dh, drows = export_rows(data)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([f"{safe_cell(data['factory_name'])} ({data['factory_code']}) — days are local days (EAT)"])
    w.writerow(mh)
    w.writerows([[safe_cell(c) if c is not None else "" for c in row] for row in mrows])
    w.writerow([])
    w.writerow(dh)
    w.writerows([[safe_cell(c) if c is not None else "" for c in row] for row in drows])
    return buf.getvalue()


def to_xlsx(data: dict) -> bytes:
    """A workbook with a Monthly and a Daily sheet; text is written by core.reporting.xlsx.put, never as a formula."""
    from openpyxl import Workbook

    mh, mrows, dh, drows = export_rows(data)
    wb = Workbook()
    ws = wb.active
    ws.title = "Monthly"
    put(ws, 1, 1, f"{data['factory_name']} ({data['factory_code']})")
    for r, row in enumerate([mh, *mrows], start=2):
        for c, value in enumerate(row, start=1):
            put(ws, r, c, value)
    ws2 = wb.create_sheet("Daily")
    for r, row in enumerate([dh, *drows], start=1):
        for c, value in enumerate(row, start=1):
            put(ws2, r, c, value)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def register(app: dash.Dash) -> None:
    """Attach the history page's callbacks to `app`."""
    grid_controls(app, MONTH_GRID_ID)

    @app.callback(
        Output("factory-history-kpis", "children"), Output("factory-history-daily", "figure"),
        Output("factory-history-monthly", "figure"), Output("factory-history-intensity", "figure"),
        Output("factory-history-reconciliation", "figure"), Output("factory-history-table", "children"),
        Input("factory-history-factory", "value"), Input("factory-history-range", "start_date"),
        Input("factory-history-range", "end_date"),
    )
    def _render(factory, start, end):  # noqa: ANN001, ANN202
        data = history_data(web_user(), parse_factory_id(factory), start, end, app_session_factory(), app_tz())
        return render_history(data)

    @app.callback(
        Output("factory-history-download", "data"),
        Input("factory-history-csv", "n_clicks"), Input("factory-history-xlsx", "n_clicks"),
        State("factory-history-factory", "value"), State("factory-history-range", "start_date"),
        State("factory-history-range", "end_date"),
        prevent_initial_call=True,
    )
    def _export(_c, _x, factory, start, end):  # noqa: ANN001, ANN202
        data = history_data(web_user(), parse_factory_id(factory), start, end, app_session_factory(), app_tz())
        if not data or data.get("denied"):
            return dash.no_update
        name = f"carbontrack_{data['factory_code']}_{data['first']}_{data['last']}"
        if ctx.triggered_id == "factory-history-xlsx":
            return dcc.send_bytes(to_xlsx(data), f"{name}.xlsx")
        return dcc.send_string(to_csv(data), f"{name}.csv")

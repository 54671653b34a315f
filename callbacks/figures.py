"""Pure figure builders: data in, go.Figure out (no database, no Dash state)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import plotly.graph_objects as go

EAT = ZoneInfo("Africa/Nairobi")
COLORS = ("#198754", "#0d6efd", "#fd7e14", "#6f42c1", "#d63384", "#20c997", "#6c757d")
# A simplified outline of Kenya (lon, lat), enough to place factories without any map tiles.
KENYA_OUTLINE = (
    (33.91, 4.23), (35.28, 5.49), (35.82, 5.34), (36.04, 4.45), (37.77, 4.26), (38.12, 3.60), (39.56, 3.42),
    (39.86, 3.84), (40.77, 4.26), (41.17, 3.92), (41.86, 3.92), (40.99, 2.78), (40.99, -0.86), (41.56, -1.68),
    (40.89, -2.08), (40.26, -2.57), (40.12, -3.28), (39.60, -4.35), (39.20, -4.68), (37.77, -3.68),
    (37.70, -3.10), (33.92, -1.00), (33.90, 0.11), (34.18, 0.52), (34.67, 1.18), (35.03, 1.91), (34.59, 3.05),
    (34.48, 3.56), (33.91, 4.23),
)
LAKE_VICTORIA_KE = ((33.92, -1.00), (34.10, -0.45), (34.40, -0.35), (34.70, -0.15), (34.20, 0.05),
                    (33.90, 0.11), (33.92, -1.00))


# A small template instead of "plotly_white": assigning a built-in template deep-copies it, which
# cost ~20 ms per figure (measured) — most of a callback's time budget.
LIGHT_TEMPLATE = go.layout.Template(layout={
    "paper_bgcolor": "white", "plot_bgcolor": "white", "font": {"color": "#2a3f5f"},
    "xaxis": {"gridcolor": "#ebf0f8", "linecolor": "#ebf0f8", "zerolinecolor": "#ebf0f8", "automargin": True},
    "yaxis": {"gridcolor": "#ebf0f8", "linecolor": "#ebf0f8", "zerolinecolor": "#ebf0f8", "automargin": True},
})


def _base_layout(fig: go.Figure, title: str = "", y_title: str = "", height: int = 340) -> go.Figure:
    fig.update_layout(
        title={"text": title, "font": {"size": 14}, "x": 0.01, "xanchor": "left"}, height=height,
        margin={"l": 50, "r": 10, "t": 40, "b": 40}, template=LIGHT_TEMPLATE, yaxis_title=y_title,
        # Legend below the x-axis title, left-aligned, so it never covers the axis labels.
        legend={"orientation": "h", "y": -0.3, "yanchor": "top", "x": 0, "xanchor": "left"},
        hovermode="x unified",
    )
    return fig


def local_naive(ts: datetime) -> datetime:
    """A UTC instant as naive local time (the axis is labelled EAT)."""
    return ts.astimezone(EAT).replace(tzinfo=None)


def live_hour_figure(series: dict[str, list[dict]], now: datetime, window_s: int = 3600) -> go.Figure:
    """CO2 mass flow per node over the last hour at full resolution (invalid readings left out)."""
    fig = go.Figure()
    for i, (dev, points) in enumerate(series.items()):
        fig.add_trace(go.Scatter(
            x=[local_naive(p["ts"]) for p in points],
            y=[p["co2_kg_s"] if p["valid"] else None for p in points],
            mode="lines", name=dev, connectgaps=False, line={"color": COLORS[i % len(COLORS)]},
            hovertemplate="%{y:.3f} kg/s",
        ))
    start = local_naive(now) - timedelta(seconds=window_s)
    fig.update_xaxes(range=[start, local_naive(now)], title="time (EAT)")
    return _base_layout(fig, "Last hour, every reading", "CO2 mass flow (kg/s)")


def live_day_figure(hourly: dict[str, list[dict]]) -> go.Figure:
    """Return hourly mean CO2 mass flow per node over the last 24 h; hours without data are gaps."""
    fig = go.Figure()
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
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", name=dev, connectgaps=False,
                                 line={"color": COLORS[i % len(COLORS)]}, hovertemplate="%{y:.3f} kg/s"))
    fig.update_xaxes(title="hour (EAT)")
    return _base_layout(fig, "Last 24 hours, hourly mean", "CO2 mass flow (kg/s)")


def daily_figure(days: Sequence[date], co2_kg: Sequence[float | None], coverage: Sequence[float | None],
                 fossil_share: Sequence[float | None] | None = None) -> go.Figure:
    """Daily measured stack CO2 (t), split fossil/biogenic by the month's fuel mix where known, with
    coverage (%); missing days are gaps, not zeros."""
    days = list(days)
    shares = list(fossil_share) if fossil_share is not None else [None] * len(days)

    pairs = list(zip(co2_kg, shares, strict=True))
    fossil = [None if v is None or sh is None else v / 1000 * sh for v, sh in pairs]
    biogenic = [None if v is None or sh is None else v / 1000 * (1.0 - sh) for v, sh in pairs]
    unsplit = [None if v is None or sh is not None else v / 1000 for v, sh in pairs]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=days, y=fossil, name="measured fossil CO2 (t)", marker_color=COLORS[3],
                         hovertemplate="%{y:,.2f} t"))
    fig.add_trace(go.Bar(x=days, y=biogenic, name="measured biogenic CO2 (t)", marker_color=COLORS[0],
                         hovertemplate="%{y:,.2f} t"))
    if any(v is not None for v in unsplit):
        fig.add_trace(go.Bar(x=days, y=unsplit, name="measured CO2, month without fuel log (t)",
                             marker_color=COLORS[6], hovertemplate="%{y:,.2f} t"))
    fig.add_trace(go.Scatter(x=days, y=[None if c is None else c * 100 for c in coverage],
                             name="data coverage (%)", yaxis="y2", mode="lines+markers", connectgaps=False,
                             line={"color": COLORS[6], "dash": "dot"}, hovertemplate="%{y:.0f} %"))
    fig.update_layout(barmode="stack", yaxis2={"title": "coverage (%)", "overlaying": "y", "side": "right",
                                               "range": [0, 105], "dtick": 25, "showgrid": False})
    fig.update_xaxes(title="local day (EAT)")
    return _base_layout(fig, "Daily measured stack CO2 (split by the month's fuel mix)", "CO2 (t)")


def monthly_figure(rows: Sequence[dict]) -> go.Figure:
    """Return monthly Scope 1, Scope 2 and measured fossil CO2 (left axis, t) and biogenic CO2 (right axis, t).

    Biogenic CO2 from firewood is some 50× the fossil figures: on one axis it flattened Scope 1
    and 2 to a line at zero, so it has its own axis.
    """
    months = [r["month"] for r in rows]

    def col(key: str) -> list:
        return [None if r.get(key) is None else r[key] / 1000 for r in rows]

    fig = go.Figure()
    fig.add_trace(go.Bar(x=months, y=col("scope1_kg"), name="Scope 1 fossil (t CO2e)", marker_color=COLORS[2],
                         offsetgroup="fossil"))
    fig.add_trace(go.Bar(x=months, y=col("scope2_kg"), name="Scope 2 (t CO2e)", marker_color=COLORS[1],
                         offsetgroup="scope2"))
    fig.add_trace(go.Scatter(x=months, y=col("measured_fossil_co2_kg"), name="measured fossil CO2 (t)",
                             mode="lines+markers", connectgaps=False, line={"color": COLORS[3]}))
    fig.add_trace(go.Bar(x=months, y=col("biogenic_co2_kg"), name="biogenic CO2, memo (t, right axis)",
                         marker_color=COLORS[0], opacity=0.35, yaxis="y2", offsetgroup="bio"))
    fig.add_trace(go.Scatter(x=months, y=col("measured_biogenic_co2_kg"), name="measured biogenic CO2 (t, right axis)",
                             mode="lines+markers", connectgaps=False, line={"color": COLORS[5], "dash": "dot"},
                             yaxis="y2"))
    fig.update_layout(barmode="group", yaxis2={"title": "biogenic CO2 (t)", "overlaying": "y", "side": "right",
                                               "rangemode": "tozero", "showgrid": False})
    fig.update_yaxes(rangemode="tozero")
    fig.update_xaxes(title="month", tickformat="%b %Y")
    fig = _base_layout(fig, "Monthly emissions: energy log vs stack", "fossil CO2 / CO2e (t)")
    fig.update_layout(margin={"l": 50, "r": 60, "t": 40, "b": 40})
    return fig


def intensity_figure(rows: Sequence[dict], target: float | None) -> go.Figure:
    """Return monthly intensity (kg CO2e per kg made tea) against the target; no data is a gap."""
    months = [r["month"] for r in rows]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=months, y=[r.get("intensity") for r in rows], mode="lines+markers",
                             name="intensity (kg CO2e/kg)", connectgaps=False, line={"color": COLORS[0]}))
    if target is not None:
        fig.add_hline(y=target, line_dash="dash", line_color="#dc3545", annotation_text=f"target {target:.2f}")
    fig.update_yaxes(rangemode="tozero")  # from 0: a small change must not look like a large one
    fig.update_xaxes(title="month", tickformat="%b %Y")
    return _base_layout(fig, "Intensity against target", "kg CO2e per kg made tea", height=280)


def reconciliation_figure(rows: Sequence[dict]) -> go.Figure:
    """Return measured vs calculated combustion CO2 (t) per month."""
    months = [r["month"] for r in rows]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=months, y=[None if r.get("calculated_co2_kg") is None else r["calculated_co2_kg"] / 1000
                                      for r in rows], name="calculated from fuel log (t)", marker_color=COLORS[2]))
    fig.add_trace(go.Bar(x=months, y=[None if not r.get("measured_co2_kg") else r["measured_co2_kg"] / 1000
                                      for r in rows], name="measured at stack (t)", marker_color=COLORS[0]))
    fig.update_layout(barmode="group")
    fig.update_xaxes(title="month", tickformat="%b %Y")
    return _base_layout(fig, "Measured vs calculated combustion CO2", "CO2 (t)", height=280)


def trend_figure(months: Sequence[date], scope1_kg: Sequence[float | None], scope2_kg: Sequence[float | None],
                 biogenic_kg: Sequence[float | None], measured_kg: Sequence[float | None]) -> go.Figure:
    """Network monthly totals, tonnes; a month nobody reported is a gap (None), not a zero."""

    def t(values: Sequence[float | None]) -> list[float | None]:
        return [None if v is None else v / 1000 for v in values]

    fig = go.Figure()
    fig.add_trace(go.Bar(x=list(months), y=t(scope1_kg), name="Scope 1 fossil (t CO2e)", marker_color=COLORS[2]))
    fig.add_trace(go.Bar(x=list(months), y=t(scope2_kg), name="Scope 2 (t CO2e)", marker_color=COLORS[1]))
    fig.add_trace(go.Scatter(x=list(months), y=t(biogenic_kg), name="biogenic CO2, memo (t, right axis)",
                             mode="lines+markers", line={"color": COLORS[0]}, connectgaps=False, yaxis="y2"))
    fig.add_trace(go.Scatter(x=list(months), y=t([v or None for v in measured_kg]),
                             name="measured stack CO2 (t)", mode="lines", line={"color": COLORS[6], "dash": "dot"}))
    fig.update_layout(barmode="stack", yaxis2={"title": "biogenic CO2 (t)", "overlaying": "y", "side": "right",
                                               "rangemode": "tozero", "showgrid": False})
    fig.update_yaxes(rangemode="tozero")
    fig.update_xaxes(tickformat="%b %Y")
    fig = _base_layout(fig, "Network trend, last 13 months", "fossil CO2 / CO2e (t)")
    fig.update_layout(margin={"l": 50, "r": 60, "t": 40, "b": 40})
    return fig


def region_figure(regions: Sequence[int], scope1_kg: Sequence[float], scope2_kg: Sequence[float],
                  intensity: Sequence[float | None]) -> go.Figure:
    """Year-to-date emissions by region (t CO2e) with intensity in the hover."""
    labels = [f"Region {r}" for r in regions]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=labels, y=[v / 1000 for v in scope1_kg], name="Scope 1 fossil (t CO2e)",
                         marker_color=COLORS[2], customdata=list(intensity),
                         hovertemplate="%{y:,.0f} t; intensity %{customdata:.2f} kg/kg"))
    fig.add_trace(go.Bar(x=labels, y=[v / 1000 for v in scope2_kg], name="Scope 2 (t CO2e)",
                         marker_color=COLORS[1]))
    fig.update_layout(barmode="stack")
    return _base_layout(fig, "Year to date by region", "t CO2e", height=300)


def map_figure(factories: Sequence[dict]) -> go.Figure:
    """Return factories on a plain lon/lat plot over a simplified outline of Kenya (no tiles, works offline)."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[p[0] for p in KENYA_OUTLINE], y=[p[1] for p in KENYA_OUTLINE], mode="lines",
                             line={"color": "#adb5bd", "width": 1}, fill="toself", fillcolor="rgba(25,135,84,0.04)",
                             hoverinfo="skip", showlegend=False))
    fig.add_trace(go.Scatter(x=[p[0] for p in LAKE_VICTORIA_KE], y=[p[1] for p in LAKE_VICTORIA_KE], mode="lines",
                             line={"color": "#9ec5fe", "width": 1}, fill="toself", fillcolor="rgba(13,110,253,0.15)",
                             hoverinfo="skip", showlegend=False))
    groups = (("target met", True, "#198754"), ("target missed", False, "#dc3545"), ("no result", None, "#6c757d"))
    for label, flag, color in groups:
        pts = [f for f in factories if f.get("target_met") is flag]
        if not pts:
            continue
        fig.add_trace(go.Scatter(
            x=[f["lon"] for f in pts], y=[f["lat"] for f in pts], mode="markers", name=label,
            marker={"size": 9, "color": color, "line": {"width": 1, "color": "white"}},
            text=[f"{f['name']} ({f['code']}), region {f['region']}<br>intensity "
                  + ("—" if f.get("intensity") is None else f"{f['intensity']:.2f} kg CO2e/kg") for f in pts],
            hovertemplate="%{text}<extra></extra>", customdata=[f["id"] for f in pts],
        ))
    fig.update_xaxes(range=[33.8, 38.6], title="longitude (°E)", showgrid=False, zeroline=False)
    fig.update_yaxes(range=[-1.9, 1.3], title="latitude (°)", scaleanchor="x", scaleratio=1, showgrid=False,
                     zeroline=False)
    fig = _base_layout(fig, "Factories (last month's target result)", "", height=380)
    fig.update_layout(hovermode="closest")
    return fig


def empty_figure(message: str) -> go.Figure:
    """A blank figure that says what is missing."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                       font={"color": "#6c757d"})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _base_layout(fig, height=200)

"""Raw channels page callbacks: CO2 ppm, flue °C and velocity m/s per node over chosen local days,
downsampled on the server (core.insights.channels), flagged readings drawn as red crosses."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import dash
import plotly.graph_objects as go
from dash import Input, Output, html
from plotly.subplots import make_subplots

from callbacks.common import app_tz, empty_state, parse_factory_id, web_user
from callbacks.common import session_factory as app_session_factory
from callbacks.figures import COLORS, LIGHT_TEMPLATE, empty_figure, local_naive
from callbacks.i18n import N_, current_language, format_day, format_number
from callbacks.i18n import gettext as _
from core.access import AccessDenied
from core.insights.channels import CHANNELS, Series, raw_channels
from core.timeutil import DEFAULT_TZ, local_date, local_day_bounds_utc, utcnow
from core.validation import iso_date

MAX_DAYS = 366  # a range longer than a year is cut to its last year
DEFAULT_DAYS = 2
CHART_HEIGHT_PX = 640  # three stacked charts
FIRST_DAY = date(2000, 1, 1)
LABELS = {"co2_ppm": N_("CO2 (ppm)"), "flue_temp_c": N_("flue gas (°C)"), "velocity_m_s": N_("velocity (m/s)")}
FLAGGED = "#dc3545"
MODE_TEXT = {"raw": N_("every reading"), "minmax": N_("min and max per time bucket"), "hourly": N_("hourly means"),
             "daily": N_("daily means")}


def day_range(start: Any, end: Any, tz: Any = DEFAULT_TZ, now: datetime | None = None) -> tuple[date, date]:
    """The local days picked (junk falls back to the last DEFAULT_DAYS days; at most MAX_DAYS days)."""
    today = local_date(now or utcnow(), tz)
    last = iso_date(end, "End date", FIRST_DAY, today) or today
    first = iso_date(start, "Start date", FIRST_DAY, today) or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        first, last = last, first
    return max(first, last - timedelta(days=MAX_DAYS - 1)), last


def channels_figure(series: list[Series], tz: Any = DEFAULT_TZ) -> go.Figure:
    """Three stacked charts sharing the time axis; one colour per node; flagged readings as red crosses."""
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        subplot_titles=[_(LABELS[c]) for c in CHANNELS])
    for n, s in enumerate(series):
        colour = COLORS[n % len(COLORS)]
        xs = [local_naive(t) for t in s.ts]
        fx = [local_naive(t) for t in s.flagged_ts]
        flagged_name = _("{node} flagged (excluded)", node=s.device_id)
        flagged_hover = _("{node} flagged:", node=s.device_id) + " %{y:,.1f}<extra></extra>"
        for row, c in enumerate(CHANNELS, 1):
            fig.add_trace(go.Scatter(x=xs, y=s.values[c], mode="lines", name=f"{s.device_id}",
                                       legendgroup=s.device_id, showlegend=row == 1, line={"color": colour,
                                                                                         "width": 1.2},
                                       hovertemplate=f"{s.device_id}: %{{y:,.1f}}<extra></extra>"),
                          row=row, col=1)
            if fx:
                fig.add_trace(go.Scatter(
                    x=fx, y=s.flagged_values[c], mode="markers", name=flagged_name,
                    legendgroup=f"{s.device_id}-flagged", showlegend=row == 1,
                    marker={"color": FLAGGED, "symbol": "x", "size": 7},
                    hovertemplate=flagged_hover), row=row, col=1)
    fig.update_layout(template=LIGHT_TEMPLATE, height=CHART_HEIGHT_PX, margin={"l": 55, "r": 10, "t": 30, "b": 40},
                      legend={"orientation": "h", "y": -0.08, "yanchor": "top", "x": 0}, hovermode="x unified")
    fig.update_xaxes(title_text=_("local time (EAT)"), row=3, col=1)
    return fig


def _day(day: date) -> str:
    """A day as "05 Nov 2026" (English, as before) or "5 Novemba 2026" (the locale's month names)."""
    return f"{day:%d %b %Y}" if current_language() == "en" else format_day(day)


def channels_view(user, factory: Any, start: Any, end: Any, session_factory, tz: Any = DEFAULT_TZ,  # noqa: ANN001
                  now: datetime | None = None) -> tuple[go.Figure, Any]:
    """Return (figure, note) for the picks; another factory than the user's gets a refusal and nothing else."""
    fid = parse_factory_id(factory)
    if fid is None:
        return empty_figure(_("Pick a factory.")), empty_state(_("Pick a factory."))
    first, last = day_range(start, end, tz, now)
    lo, _lo_end = local_day_bounds_utc(first, tz)
    _hi_start, hi = local_day_bounds_utc(last, tz)
    try:
        with session_factory() as s:
            series = raw_channels(s, user, fid, lo, hi)
    except AccessDenied:
        return empty_figure(_("You may not see this factory.")), empty_state(_("You may not see this factory."),
                                                                         "raw-channels-denied")
    if not series:
        return (empty_figure(_("No readings from {first} to {last}.", first=_day(first), last=_day(last))),
                empty_state(_("No readings in these days.")))
    notes = [html.Li(_("{node}: {n} readings, drawn as {mode} ({points} points); {flagged} flagged and excluded from "
                       "totals", node=s.device_id, n=format_number(s.n_readings), mode=_(MODE_TEXT[s.mode]),
                       points=format_number(len(s.ts)), flagged=format_number(s.n_flagged)))
             for s in series]
    note = html.Div([html.Div(_("{first} – {last} (local days, EAT). Red crosses: readings flagged invalid (out of "
                                "range or by the node's or the server's checks); in hourly or daily means, the hours "
                                "or days that held them.", first=_day(first), last=_day(last)), className="small"),
                     html.Ul(notes, className="small text-muted mb-0")], id="raw-channels-summary")
    return channels_figure(series, tz), note


def register(app: dash.Dash) -> None:
    """Attach the raw channels page's callback to `app`."""

    @app.callback(
        Output("raw-channels-graph", "figure"), Output("raw-channels-note", "children"),
        Input("raw-channels-factory", "value"), Input("raw-channels-range", "start_date"),
        Input("raw-channels-range", "end_date"),
    )
    def _render(factory, start, end):  # noqa: ANN001, ANN202
        return channels_view(web_user(), factory, start, end, app_session_factory(), app_tz())

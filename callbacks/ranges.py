"""Month-range pickers for Overview and Leaderboard (issue 17): "From" and "To" local months.

The months offered are the last `core.insights.queries.MAX_RANGE_MONTHS` up to the current one;
a value outside them (a hand-made callback) counts as no choice.
"""

from __future__ import annotations

from datetime import date

import dash_bootstrap_components as dbc
from dash import dcc

from callbacks.i18n import N_, format_month
from callbacks.i18n import gettext as _
from core.insights.queries import MAX_RANGE_MONTHS
from core.timeutil import add_months, month_start
from core.validation import FieldError, month_in


def range_bounds(today: date) -> tuple[date, date]:
    """The first and last month a range may use."""
    this = month_start(today)
    return add_months(this, -(MAX_RANGE_MONTHS - 1)), this


def range_month_options(today: date) -> list[dict]:
    """Dropdown options, newest first: {"label": "Nov 2026", "value": "2026-11"}."""
    lo, hi = range_bounds(today)
    out = []
    m = hi
    while m >= lo:
        out.append({"label": format_month(m, abbreviated=True), "value": f"{m:%Y-%m}"})
        m = add_months(m, -1)
    return out


def parse_range_month(value: object, today: date) -> date | None:
    """A picked month ("YYYY-MM" among the offered ones), or None for empty and junk."""
    if value is None or value == "":
        return None
    lo, hi = range_bounds(today)
    try:
        return month_in(value, "Month", lo, hi)
    except FieldError:
        return None


def month_range_picker(prefix: str, today: date, first: str | None = None, last: str | None = None) -> list[dbc.Col]:
    """Two labelled dropdowns, `{prefix}-from` and `{prefix}-to`; empty means the period choice applies."""
    options = range_month_options(today)
    values = {o["value"] for o in options}
    cols = []
    for key, label, value in (("from", N_("From month"), first), ("to", N_("To month"), last)):
        cols.append(dbc.Col([
            dbc.Label(_(label), html_for=f"{prefix}-{key}", className="small text-muted mb-0"),
            dcc.Dropdown(id=f"{prefix}-{key}", options=options, value=value if value in values else None,
                         placeholder="—", clearable=True),
        ], xs=6, md=2))
    return cols

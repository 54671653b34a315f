"""HQ submission grid callbacks: factories × months, each cell the month's status in colour and words,
a link to the energy-entry page for that factory and month (`/factory/entry?factory=…&month=YYYY-MM`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import dash
from dash import Input, Output, html

from callbacks.common import app_tz, empty_state, web_user
from callbacks.common import session_factory as app_session_factory
from callbacks.grid import data_grid, grid_controls, md_link
from callbacks.i18n import N_, format_month
from callbacks.i18n import gettext as _
from core.insights.submissions import CELL_STATUSES, FactoryRow, submission_grid
from core.inventory.monthly import due_datetime
from core.timeutil import DEFAULT_TZ, add_months, local_date, month_start, utcnow
from core.validation import FieldError, choice

GRID_ID = "hq-submissions-grid"
MONTH_CHOICES = {"6": 6, "12": 12}  # the entry page offers the current month and the twelve before it
KEY_MONTHS = 3  # the newest months stay visible on a phone
# A cell's status and late mark as core.insights.submissions names them (the grid colours by the English word).
STATUS_WORDS = {"approved": N_("approved"), "submitted": N_("submitted"), "draft": N_("draft"),
                "missing": N_("missing"), "not yet due": N_("not yet due")}
LATE_WORDS = {"late": N_("late"), "overdue": N_("overdue")}
STATUS_COUNTS = {"approved": N_("{n} approved"), "submitted": N_("{n} submitted"), "draft": N_("{n} draft"),
                 "missing": N_("{n} missing"), "not yet due": N_("{n} not yet due")}


def _field(m) -> str:  # noqa: ANN001
    return f"m{m:%Y_%m}"


def grid_months(n_months: Any, now: datetime | None = None, tz: Any = DEFAULT_TZ) -> list:
    """The months shown, oldest first, ending with the current month (6 or 12; junk is 12)."""
    try:
        n = MONTH_CHOICES[choice(n_months, "Months", MONTH_CHOICES)]
    except FieldError:
        n = 12
    this = month_start(local_date(now or utcnow(), tz))
    return [add_months(this, -i) for i in range(n - 1, -1, -1)]


def columns(months: list, tz: Any = DEFAULT_TZ) -> list[dict]:
    """Factory (pinned), region, then one column per month, newest first, headed with its due day."""
    cols = [{"field": "factory", "headerName": _("Factory"), "cellRenderer": "markdown", "minWidth": 150},
            {"field": "region", "headerName": _("Region"), "priority": 3, "maxWidth": 110},
            {"field": "late", "headerName": _("Late or overdue"), "priority": 2, "filter": "agNumberColumnFilter",
             "maxWidth": 130}]
    for n, m in enumerate(reversed(months)):
        cols.append({"field": _field(m), "headerName": _("{month} · due {day}", month=format_month(m, abbreviated=True),
                                                          day=_due_day(m, tz)), "cellRenderer": "CtStatus",
                     "minWidth": 130, "priority": 1 if n < KEY_MONTHS else 3})
    return cols


def _due_day(m, tz: Any) -> str:  # noqa: ANN001
    d = (due_datetime(m, tz) - timedelta(seconds=1)).astimezone(tz)
    return f"{d.day} {format_month(d, abbreviated=True).split()[0]}"  # "10 Dec" / "10 Des"


def grid_rows(rows: list[FactoryRow], months: list) -> list[dict]:
    """One dict per factory: the cells' words, and each cell's link to the entry page."""
    out = []
    for r in rows:
        d: dict[str, Any] = {"factory": md_link(f"{r.name} ({r.code})", f"/factory/history?factory={r.factory_id}"),
                             "code": r.code, "factory_id": r.factory_id, "region": _("Region {n}", n=r.region),
                             "late": sum(1 for c in r.cells.values() if c.late)}
        for m in months:
            cell = r.cells[m]
            d[_field(m)] = cell_text(cell)
            d[_field(m) + "__tone"] = cell.status.split()[0]  # CtStatus colours by the English word
            d[_field(m) + "__href"] = f"/factory/entry?factory={r.factory_id}&month={m:%Y-%m}"
        out.append(d)
    return out


def cell_text(cell) -> str:  # noqa: ANN001
    """What a cell says, in words ("approved · late"), in this request's language."""
    status = _(STATUS_WORDS.get(cell.status, cell.status))
    if not cell.late:
        return status
    return f"{status} · {_(LATE_WORDS['late' if cell.submitted_at is not None else 'overdue'])}"


def month_summary(rows: list[FactoryRow], months: list) -> str:
    """The newest complete month in words: how many factories stand where."""
    if not rows or len(months) < 2:
        return ""
    m = months[-2]
    counts = {s: 0 for s in CELL_STATUSES}
    for r in rows:
        counts[r.cells[m].status] += 1
    parts = ", ".join(_(STATUS_COUNTS[s], n=n) if s in STATUS_COUNTS else f"{n} {s}" for s, n in counts.items() if n)
    late = sum(1 for r in rows if r.cells[m].late)
    if late:
        return _("{month}: {parts}; {n} late or overdue.", month=format_month(m), parts=parts, n=late)
    return f"{format_month(m)}: {parts}."  # no words of its own (a "{month}: {parts}." entry would match any "a: b.")


def submissions_view(user, n_months: Any, session_factory, tz: Any = DEFAULT_TZ,  # noqa: ANN001
                     now: datetime | None = None) -> Any:
    """The grid for `user`'s factories (scoped in core.insights.submissions), or an empty state."""
    months = grid_months(n_months, now, tz)
    with session_factory() as s:
        rows = submission_grid(s, user, months, now, tz)
    if not rows:
        return empty_state(_("No factories to show."))
    return html.Div([
        html.Div(month_summary(rows, months), className="small mb-2", id="hq-submissions-summary"),
        data_grid(GRID_ID, columns(months, tz), grid_rows(rows, months), export_name="submissions",
                  search_label=_("Search factories")),
        html.Div(_("Each cell says the month's status in words: approved, submitted (awaiting approval), draft, "
                 "missing (due day passed, nothing entered) or not yet due; “late” means submitted after the due "
                 "day, “overdue” not submitted although it has passed. Click a status to open that month's "
                 "energy entry."), className="small text-muted", id="hq-submissions-legend"),
    ])


def register(app: dash.Dash) -> None:
    """Attach the submission grid's callback to `app`."""

    @app.callback(Output("hq-submissions-table", "children"), Input("hq-submissions-months", "value"))
    def _render(n_months):  # noqa: ANN001, ANN202
        return submissions_view(web_user(), n_months, app_session_factory(), app_tz())

    grid_controls(app, GRID_ID)

"""Reports page callbacks and the download route.

- `register(app)` (called by app.create_app for every callbacks module) attaches the callbacks
  and the `/reports/download/<id>` route; `register_report_routes(server)` adds only the route.
- Generating a month is a Dash background callback: the request returns at once, the job runs
  in the background-callback manager's worker process and reports progress. That process has no
  Flask request, so the signed-in user and the database settings travel with the callback
  context through a `dash.hooks.custom_data` hook evaluated at request time; the job checks the
  role again there (server-side), never trusting the page.
- Downloads check, on the server, that the signed-in user may read that report's factory, and read
  the workbook from shared storage (core.storage), so any web host serves what another one wrote.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import dash
import dash_bootstrap_components as dbc
import flask
import sqlalchemy as sa
from dash import Input, Output, State, ctx, dcc, html
from dash.exceptions import PreventUpdate

from callbacks.common import app_config, app_tz, empty_state, fmt_eat, session_factory, web_user
from callbacks.grid import EMPTY_BLOCK, block_response, data_grid, grid_controls, requested_block, status_cell
from callbacks.i18n import (
    DEFAULT_LANGUAGE,
    LANGUAGES,
    N_,
    current_language,
    format_month,
    locale,
    ngettext,
    tr_message,
)
from callbacks.i18n import gettext as _
from core.access import AccessDenied, can_approve
from core.models import ROLE_FACTORY_MANAGER, Factory, Report
from core.reporting.periods import PERIOD_MONTH, PERIOD_QUARTER, PERIOD_YEAR, Period, quarter_of
from core.reporting.reports import (
    NETWORK_SCOPE,
    STATUS_DONE,
    STATUS_FAILED,
    STATUS_PENDING,
    STATUS_RUNNING,
    ReportError,
    check_period,
    generate_reports,
    read_report_file,
    recent_job_runs,
    report_for_download,
    visible_reports,
)
from core.reporting.scheduler import MAX_ATTEMPTS
from core.reporting.verification import (
    OPINIONS,
    STATEMENT_MAX_CHARS,
    VerificationError,
    sign_off,
    verifications_for,
)
from core.storage import cached_store
from core.timeutil import add_months, local_date, month_start, utcnow

log = logging.getLogger(__name__)

CONTEXT_NAMESPACE = "carbontrack_reports"
SCOPE_ALL = "ALL"
DOWNLOAD_RULE = "/reports/download/<int:report_id>"
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MONTHS_OFFERED = 13
QUARTERS_OFFERED = 4
YEARS_OFFERED = 2


def download_url(report_id: int) -> str:
    """The download link of one report."""
    return f"/reports/download/{report_id}"


def month_name(month: date) -> str:
    """The month's name alone in this request's language ("October" / "Oktoba")."""
    if current_language() == DEFAULT_LANGUAGE:
        return f"{month:%B}"
    from babel.dates import format_date

    return format_date(month, "LLLL", locale=locale())


def period_title(period: Period) -> str:
    """`October 2026`, `Q4 2026 (October-December)` or `calendar year 2026`, in this request's language."""
    if period.kind == PERIOD_MONTH:
        return format_month(period.start)
    if period.kind == PERIOD_QUARTER:
        return _("Q{q} {year} ({first}-{last})", q=(period.start.month - 1) // 3 + 1, year=period.start.year,
                 first=month_name(period.start), last=month_name(period.last_month))
    return _("calendar year {year}", year=period.start.year)


def _so_far(label: str, current: bool) -> str:
    return _("{period} (so far)", period=label) if current else label


def month_options(today: date, n: int = MONTHS_OFFERED) -> list[dict]:
    """The last `n` complete months and the current one, newest first."""
    current = month_start(today)
    months = [add_months(current, -i) for i in range(0, n + 1)]
    return [{"label": _so_far(format_month(m), m == current), "value": f"{m:%Y-%m}"} for m in months]


def period_options(today: date) -> list[dict]:
    """Months (as month_options), then the last CBAM quarters and calendar years, each newest first."""
    opts = month_options(today)
    current_q = quarter_of(today)
    for i in range(QUARTERS_OFFERED + 1):
        q = Period("quarter", add_months(current_q.start, -3 * i))
        opts.append({"label": _so_far(period_title(q), i == 0), "value": q.label})
    for i in range(YEARS_OFFERED + 1):
        y = Period("year", date(today.year - i, 1, 1))
        opts.append({"label": _so_far(_("Year {year}", year=y.start.year), i == 0), "value": y.label})
    return opts


def scope_options(session, user) -> list[dict]:  # noqa: ANN001
    """Everything, the network only, or one factory."""
    opts = [{"label": _("Every factory and the network"), "value": SCOPE_ALL},
            {"label": _("Network workbook only"), "value": NETWORK_SCOPE}]
    return opts + [{"label": f"{name} ({code})", "value": code} for code, name in _visible_factories(session, user)]


def _visible_factories(session, user) -> list[tuple[str, str]]:  # noqa: ANN001
    """(code, name) of the factories `user` may read, by name."""
    from callbacks.common import factory_options

    ids = {o["value"] for o in factory_options(session, user)}
    return [(code, name) for fid, code, name in
            session.execute(sa.select(Factory.id, Factory.code, Factory.name).order_by(Factory.name)) if fid in ids]


def _verification_text(verifs: list, tz) -> str:  # noqa: ANN001
    if not verifs:
        return "—"
    v = verifs[-1]
    return f"{tr_message(v.opinion)} — {v.verifier_username}, {fmt_eat(v.verified_at, tz)}"


GRID_ID = "reports-table"
FILTER_ALL = "ALL"
# Words shown in cells; the English word stays the cell's colour key (`<field>__tone`, CtStatus).
STATUS_WORDS = {STATUS_DONE: N_("done"), STATUS_FAILED: N_("failed"), STATUS_RUNNING: N_("running"),
                STATUS_PENDING: N_("pending")}
DATA_STATUS_WORDS = {"missing": N_("missing"), "draft": N_("draft"), "submitted": N_("submitted"),
                     "approved": N_("approved")}
# "2 approved" inside a quarter's or year's status: one message per word (a bare "{n} {status}"
# would match any two words when core messages are translated by pattern).
DATA_STATUS_COUNTS = {"missing": N_("{n} missing"), "draft": N_("{n} draft"), "submitted": N_("{n} submitted"),
                      "approved": N_("{n} approved")}
PERIOD_KIND_WORDS = {PERIOD_MONTH: N_("Months"), PERIOD_QUARTER: N_("CBAM quarters"), PERIOD_YEAR: N_("Years")}


def columns() -> list[dict]:
    """The reports grid's columns in this request's language (built per request, not at import)."""
    return [
        {"field": "factory", "headerName": _("Workbook"), "minWidth": 170, "tooltipField": "factory"},
        {"field": "period", "headerName": _("Period"), "minWidth": 100},
        {"field": "download", "headerName": _("File"), "cellRenderer": "CtLink", "sortable": False, "filter": False,
         "cellRendererParams": {"className": "btn btn-sm btn-outline-success py-0"}, "minWidth": 110,
         "maxWidth": 130},
        {"field": "data_status", "headerName": _("Month's data"), "cellRenderer": "CtStatus", "minWidth": 120,
         "priority": 2,
         "headerTooltip": _("The factory's data for the period: approved, submitted, draft or missing")},
        {"field": "version", "headerName": _("Version"), "maxWidth": 110, "priority": 3},
        {"field": "status", "headerName": _("Workbook status"), "cellRenderer": "CtStatus", "priority": 2},
        {"field": "generated", "headerName": _("Generated (EAT)"), "minWidth": 150, "priority": 3},
        {"field": "requested_by", "headerName": _("Requested by"), "priority": 3},
        {"field": "sha256", "headerName": _("SHA-256"), "tooltipField": "sha256_full", "priority": 3},
        {"field": "verification", "headerName": _("Verification"), "minWidth": 180, "priority": 3,
         "tooltipField": "verification"},
    ]


def data_statuses(session, reports: list) -> dict[int, str]:  # noqa: ANN001
    """The data status of each factory report's period: approved / submitted / draft / missing.

    A quarter or year whose months differ reads e.g. "submitted · 2 approved, 1 submitted" (the least
    advanced month first, so it sorts and colours by what still needs doing). The network workbook
    has no one status (""). The text is English; `data_status_text` shows it in the user's language.
    """
    from core.models import MonthlySubmission

    wanted = {r.id: (r.factory_id, Period(r.period or "month", r.month).months) for r in reports
              if r.factory_id is not None}
    if not wanted:
        return {}
    factory_ids = {f for f, _m in wanted.values()}
    months = {m for _f, ms in wanted.values() for m in ms}
    found = {(f, m): st for f, m, st in session.execute(
        sa.select(MonthlySubmission.factory_id, MonthlySubmission.month, MonthlySubmission.status)
        .where(MonthlySubmission.factory_id.in_(factory_ids), MonthlySubmission.month.in_(months)))}
    order = tuple(DATA_STATUS_WORDS)
    out: dict[int, str] = {}
    for rid, (fid, ms) in wanted.items():
        statuses = [found.get((fid, m)) or "missing" for m in ms]
        counts = {s: statuses.count(s) for s in order if s in statuses}
        worst = next(iter(counts))
        out[rid] = worst if len(counts) == 1 else f"{worst} · " + ", ".join(f"{n} {s}" for s, n in counts.items())
    return out


def data_status_text(english: str) -> str:
    """A data status made by `data_statuses` ("submitted · 2 approved, 1 submitted") in this request's language."""
    if not english:
        return ""
    worst, _sep, rest = english.partition(" · ")
    text = _(DATA_STATUS_WORDS.get(worst, worst))
    if not rest:
        return text
    parts = []
    for part in rest.split(", "):
        n, _space, word = part.partition(" ")
        parts.append(_(DATA_STATUS_COUNTS[word], n=n) if word in DATA_STATUS_COUNTS else part)
    return f"{text} · " + ", ".join(parts)


def grid_rows(reports: list, tz, verifications: dict | None = None, names: dict | None = None,  # noqa: ANN001
              statuses: dict | None = None) -> list[dict]:
    """The report versions as grid rows: the workbook's factory name, the period's data status, the
    download link (finished workbooks only; the route checks the user again) or why there is none.

    Status cells carry the English word as `<field>__tone` (the badge's colour) beside the text shown.
    """
    verifications, names, statuses = verifications or {}, names or {}, statuses or {}
    rows = []
    for r in reports:
        data_status = statuses.get(r.id, "")
        row = {
            "id": r.id, "code": r.scope_key,
            "factory": _("Network") if r.scope_key == NETWORK_SCOPE else f"{names.get(r.factory_id, r.scope_key)} "
                                                                           f"({r.scope_key})",
            "period": Period(r.period or "month", r.month).label, "version": r.version,
            "status": _(STATUS_WORDS.get(r.status, r.status)), "status__tone": r.status,
            "data_status": data_status_text(data_status), "data_status__tone": data_status.split(" ")[0],
            "generated": fmt_eat(r.generated_at, tz) if r.generated_at else "—",
            "requested_by": r.requested_by or "", "sha256": r.sha256[:12] if r.sha256 else "—",
            "sha256_full": r.sha256 or "", "verification": _verification_text(verifications.get(r.id, []), tz),
        }
        if r.status == STATUS_DONE:
            row.update(download=_("Download"), download__href=download_url(r.id),
                       download__id=f"reports-download-{r.id}")
        elif r.status == STATUS_FAILED:
            row["download"] = tr_message(r.error) if r.error else _("failed")
        else:
            row["download"] = _("in progress")
        rows.append(row)
    return rows


def report_rows(session, user, reports: list, tz) -> list[dict]:  # noqa: ANN001
    """Grid rows for `reports` (already chosen for `user`): names, data statuses and sign-offs looked up."""
    names = dict(session.execute(sa.select(Factory.id, Factory.name).where(
        Factory.id.in_({r.factory_id for r in reports if r.factory_id is not None}))).all())
    return grid_rows(reports, tz, verifications_for(session, [r.id for r in reports]), names,
                     data_statuses(session, reports))


# --- the grid's own filters, and its server-side paging -------------------------------------------

def report_filters(scope: Any = None, period: Any = None, year: Any = None, status: Any = None) -> dict:
    """The filters as `visible_reports` keywords; anything a crafted request sends that is not offered means "all"."""
    out: dict[str, Any] = {}
    if isinstance(scope, str) and scope != FILTER_ALL and 0 < len(scope) <= 20:
        out["scope_key"] = scope
    if isinstance(period, str) and period in PERIOD_KIND_WORDS:
        out["period"] = period
    if isinstance(year, (int, str)) and not isinstance(year, bool) and re.fullmatch(r"[0-9]{4}", str(year)) \
            and 2000 <= int(year) <= 2100:
        out["year"] = int(year)
    if isinstance(status, str) and status in STATUS_WORDS:
        out["status"] = status
    return out


def filter_options(session, user, today: date) -> dict[str, list[dict]]:  # noqa: ANN001
    """The options of the grid's filters: workbooks (factories the user may read, the network for HQ),
    period kinds, years with reports, workbook statuses; each starts with "all"."""
    workbooks = [{"label": _("All workbooks"), "value": FILTER_ALL}]
    if user is not None and user.role != ROLE_FACTORY_MANAGER:
        workbooks.append({"label": _("Network"), "value": NETWORK_SCOPE})
    workbooks += [{"label": f"{name} ({code})", "value": code} for code, name in _visible_factories(session, user)]
    first = session.scalar(sa.select(sa.func.min(Report.month)))
    years = range(today.year, (first.year if first else today.year) - 1, -1)
    return {
        "scope": workbooks,
        "period": [{"label": _("All periods"), "value": FILTER_ALL}]
        + [{"label": _(word), "value": kind} for kind, word in PERIOD_KIND_WORDS.items()],
        "year": [{"label": _("All years"), "value": FILTER_ALL}] + [{"label": str(y), "value": y} for y in years],
        "status": [{"label": _("Every status"), "value": FILTER_ALL}]
        + [{"label": _(word), "value": st} for st, word in STATUS_WORDS.items()],
    }


def reports_view(user, filters: dict, session_factory, tz) -> Any:  # noqa: ANN001
    """The reports grid for `filters` (rows come from the server block by block), or a sentence saying why not."""
    with session_factory() as s:
        first = visible_reports(s, user, limit=1, **filters)
        anything = bool(first) or bool(filters and visible_reports(s, user, limit=1))
    if not first:
        if anything:
            return empty_state(_("No workbooks match these filters."), "reports-empty")
        return empty_state(_("No reports yet. The scheduler writes last month's workbooks on the 1st at 02:00."),
                           "reports-empty")
    # A new key remounts the grid, so it asks for its rows again (new filters, a new version).
    return html.Div([
        data_grid(GRID_ID, columns(), infinite=True, export_name="reports", height="60vh"),
        html.Div(_("Rows load as you scroll, newest first. The CSV export holds the rows loaded so far."),
                 className="small text-muted"),
    ], key=f"reports-grid-{utcnow().timestamp()}")


def reports_block(user, filters: dict, request: Any, session_factory, tz) -> dict:  # noqa: ANN001
    """Answer the grid's getRowsRequest: rows startRow..endRow of the user's filtered reports, and the total once known."""
    block = requested_block(request)
    if block is None:
        return dict(EMPTY_BLOCK)
    start, n = block
    with session_factory() as s:
        # One row more than asked for says there are more; the user is checked in visible_reports.
        reports = visible_reports(s, user, limit=n + 1, offset=start, **filters)
        data = report_rows(s, user, reports[:n], tz)
    return block_response(data, start, n, len(reports))


RUNS_GRID_ID = "reports-runs-table"


def runs_columns() -> list[dict]:
    """The scheduler runs grid's columns in this request's language."""
    return [
        {"field": "period", "headerName": _("Period"), "minWidth": 100},
        {"field": "status", "headerName": _("Status"), "cellRenderer": "CtStatus", "minWidth": 100, "maxWidth": 140},
        {"field": "attempts", "headerName": _("Attempts"), "filter": "agNumberColumnFilter", "type": "numericColumn",
         "minWidth": 90, "priority": 3},
        {"field": "started", "headerName": _("Started"), "minWidth": 150, "priority": 2},
        {"field": "finished", "headerName": _("Finished"), "minWidth": 150, "priority": 3},
        {"field": "owner", "headerName": _("Process"), "minWidth": 110, "priority": 3},
        {"field": "error", "headerName": _("Error"), "minWidth": 220, "wrapText": True, "autoHeight": True,
         "tooltipField": "error", "cellClass": "text-danger small", "priority": 2},
    ]


def runs_rows(runs: list, tz) -> list[dict]:  # noqa: ANN001
    """The runs as grid rows: the status as a coloured badge (tone = the stored status), times in local time."""
    rows = []
    for r in runs:
        row = {"period": r.period, "attempts": r.attempts, "started": fmt_eat(r.started_at, tz),
               "finished": fmt_eat(r.finished_at, tz) if r.finished_at else "—", "owner": r.owner or "",
               "error": tr_message(r.error or "")}
        rows.append(status_cell(row, "status", r.status, _(STATUS_WORDS.get(r.status, r.status))))
    return rows


def runs_table(runs: list, tz) -> html.Div:  # noqa: ANN001
    """The scheduler's runs as a data grid, with attempts and the reason of a failure."""
    if not runs:
        return html.Div(_("The scheduler has not run yet."), className="text-muted small", id="reports-runs-empty")
    table = data_grid(RUNS_GRID_ID, runs_columns(), runs_rows(runs, tz), export_name="scheduled-runs",
                      search_label=_("Search runs"))
    latest = runs[0]
    if latest.status != "failed":
        return table
    if latest.attempts < MAX_ATTEMPTS:
        text = _("The scheduled run for {period} failed (attempt {attempt}; it will be retried automatically): "
                 "{error}", period=latest.period, attempt=latest.attempts, error=tr_message(latest.error or ""))
    else:
        text = _("The scheduled run for {period} failed (attempt {attempt}; no automatic retries left: generate "
                 "the month here): {error}", period=latest.period, attempt=latest.attempts,
                 error=tr_message(latest.error or ""))
    return html.Div([dbc.Alert(text, color="danger", id="reports-run-failed"), table])


def render_lists(user, filters: dict | None = None) -> tuple[Any, Any]:  # noqa: ANN001
    """The reports grid (narrowed by `filters`) and, for HQ, admin and auditor, the scheduler runs."""
    tz = app_tz()
    table = reports_view(user, filters or {}, session_factory(), tz)
    with session_factory()() as s:
        runs = recent_job_runs(s) if user is not None and user.role != ROLE_FACTORY_MANAGER else None
        run_view = runs_table(runs, tz) if runs is not None else None
    return table, run_view


# --- the user and settings carried into the background job ------------------------------------

def _request_context(_g) -> dict:  # noqa: ANN001
    """Evaluated per callback request: who is signed in, and where the database is."""
    try:
        user = web_user()
        cfg = app_config()
    except Exception:  # outside an app context
        return {}
    # The job has no request: it answers (progress, result) in the language of the one that started it.
    info: dict[str, Any] = {"tz": cfg.tz_name, "gwp_set": cfg.gwp_set, "language": current_language()}
    if not cfg.redis_url:
        # diskcache: the job runs in a child of this process and gets the settings from here. With
        # Celery the job runs in `carbontrack worker`, which reads its own environment: the database
        # URL (and its password) never travels through Redis.
        info.update(database_url=cfg.database_url, data_dir=str(cfg.data_dir), storage=cfg.storage,
                    s3_endpoint_url=cfg.s3_endpoint_url)
    if user is not None:
        info["user"] = {"id": user.id, "username": user.username, "role": user.role,
                        "factory_id": user.factory_id, "active": bool(user.active)}
    return info


dash.hooks.custom_data(CONTEXT_NAMESPACE)(_request_context)


@contextmanager
def answering_in(language: Any) -> Iterator[None]:
    """Make `_`, `format_month` ... answer in `language` where there is no web request (the background job)."""
    app = flask.Flask(__name__)
    with app.test_request_context():
        flask.g.ct_language = language if language in LANGUAGES else DEFAULT_LANGUAGE
        yield


def generate_month(info: dict, month_text: str | None, scope: str | None, set_progress=None,  # noqa: ANN001
                   restate_reason: Any = None) -> tuple[Any, int]:
    """Run one on-demand generation (a month, CBAM quarter or year) for the user in `info`; return (message, count).

    With a `restate_reason` (text) the workbooks are restated: the factor and parameter versions in
    force now instead of those recorded for the period, old against new and the reason in the workbook.
    """
    with answering_in(info.get("language")):
        return _generate(info, month_text, scope, set_progress, restate_reason)


def _generate(info: dict, month_text: str | None, scope: str | None, set_progress=None,  # noqa: ANN001
              restate_reason: Any = None) -> tuple[Any, int]:
    from core.config import Config
    from core.db import open_database

    if set_progress is not None:  # at once: the bar says the job has started (issue 17: it sat empty for 65 s)
        set_progress((0, _("starting…")))
    user_info = info.get("user")
    user = SimpleNamespace(**user_info) if user_info else None
    if not can_approve(user):
        return dbc.Alert(_("Only HQ and administrators may generate reports."), color="danger",
                         id="reports-generate-denied"), 0
    if "database_url" in info:
        cfg = Config(database_url=info["database_url"], data_dir=Path(info["data_dir"]), tz_name=info["tz"],
                     secret_key="unused", gwp_set=info.get("gwp_set", "AR5"), storage=info.get("storage", "auto"),
                     s3_endpoint_url=info.get("s3_endpoint_url"))
    else:  # a Celery worker (`carbontrack worker`): its own environment names the database and storage
        from core.config import load_config

        cfg = load_config(require_secret=False)
    try:
        period = check_period(month_text or "", cfg)
    except ReportError as exc:
        return dbc.Alert(tr_message(str(exc)), color="warning"), 0
    month = period.start
    scope = scope or SCOPE_ALL
    reason = restate_reason.strip() if isinstance(restate_reason, str) else ""
    codes, network = (None, True) if scope == SCOPE_ALL else ([], True) if scope == NETWORK_SCOPE else ([scope], False)

    def progress(done: int, total: int, label: str) -> None:
        if set_progress is not None:
            set_progress((round(100 * done / total), _("{done} of {total} workbooks", done=done, total=total)))

    engine, sf = open_database(cfg.database_url)
    try:
        if set_progress is not None:
            set_progress((0, _("collecting the month's data…")))
        result = generate_reports(sf, cfg, month, codes, network=network, requested_by=user.username,
                                  progress=progress, period=period.kind, restate=bool(reason),
                                  restatement_reason=reason or None)
        from core.audit import record_audit

        with sf() as s:
            record_audit(s, user, "generate", "report", entity_id=period.label,
                         detail=f"scope {scope}: {len(result.reports)} workbooks, {len(result.failed)} failed"
                         + (f"; restated: {reason}" if reason else ""))
            s.commit()
    except ReportError as exc:
        return dbc.Alert(tr_message(str(exc)), color="warning"), 0
    except Exception as exc:
        log.exception("on-demand report generation failed")
        error = f"{type(exc).__name__}: {exc}"
        return dbc.Alert(_("Generation failed: {error}", error=error), color="danger",
                         id="reports-generate-failed"), 0
    finally:
        engine.dispose()
    made = len(result.reports)
    title = period_title(period)
    if result.failed:
        names = ", ".join(r.scope_key for r in result.failed)
        return dbc.Alert(_("{written} of {made} workbooks for {period} written; failed: {names} (reasons in the list "
                           "below).", written=made - len(result.failed), made=made, period=title, names=names),
                         color="danger", id="reports-generate-failed"), made
    text = ngettext("{n} workbook for {period} written.", "{n} workbooks for {period} written.", made, period=title)
    return dbc.Alert(text, color="success", id="reports-generate-done"), made


# --- verifier sign-off (auditors) --------------------------------------------------------------

def verify_options(session, user) -> list[dict]:  # noqa: ANN001
    """The finished annual reports `user` may see, newest first, as dropdown options."""
    return [{"label": f"{r.scope_key} {r.month.year} v{r.version} (sha256 {r.sha256[:12]})", "value": r.id}
            for r in visible_reports(session, user, period=PERIOD_YEAR, status=STATUS_DONE)]


def verify_panel(user) -> dbc.Card:  # noqa: ANN001
    """The auditor's sign-off form: an annual report, an opinion and the statement."""
    with session_factory()() as s:
        options = verify_options(s, user)
    return dbc.Card(dbc.CardBody([
        html.H3(_("Verify an annual report"), className="h6"),
        dbc.Row([
            dbc.Col([dbc.Label(_("Annual report"), html_for="reports-verify-report", className="small text-muted mb-0"),
                     dcc.Dropdown(id="reports-verify-report", options=options,
                                  placeholder=_("no annual report yet") if not options else _("choose a report"))],
                    xs=12, md=6),
            dbc.Col([dbc.Label(_("Opinion"), html_for="reports-verify-opinion", className="small text-muted mb-0"),
                     dcc.Dropdown(id="reports-verify-opinion",
                                  options=[{"label": tr_message(o), "value": o} for o in OPINIONS])],
                    xs=12, md=6),
        ]),
        dbc.Label(_("Verification statement"), html_for="reports-verify-statement", className="small text-muted mt-2"),
        dbc.Textarea(id="reports-verify-statement", maxLength=STATEMENT_MAX_CHARS, rows=4),
        dbc.Button(_("Sign off"), id="reports-verify", color="primary", className="mt-2"),
        html.Div(id="reports-verify-status", className="mt-2"),
        html.Div(_("The sign-off is tied to the file's SHA-256 and written to the audit log."),
                 className="small text-muted"),
    ]), className="mb-3 shadow-sm")


def verify_report(user, report_id: int | None, opinion: str | None, statement: str | None) -> dbc.Alert:  # noqa: ANN001
    """Record the signed-in auditor's sign-off (rules checked in core.reporting.verification)."""
    if report_id is None:
        return dbc.Alert(_("Choose an annual report."), color="warning")
    with session_factory()() as s:
        try:
            row = sign_off(s, user, int(report_id), opinion or "", statement or "")
            s.commit()
        except AccessDenied as exc:
            return dbc.Alert(tr_message(str(exc)), color="danger", id="reports-verify-denied")
        except VerificationError as exc:
            return dbc.Alert(tr_message(str(exc)), color="warning", id="reports-verify-invalid")
        return dbc.Alert(_("Signed off: {opinion} (file sha256 {sha}…).", opinion=tr_message(row.opinion),
                           sha=row.report_sha256[:12]), color="success", id="reports-verify-done")


# --- the download route ------------------------------------------------------------------------

def _download(report_id: int) -> flask.Response:
    user = web_user()
    if user is None:
        return flask.Response(_("sign in required"), status=401)
    with session_factory()() as s:
        try:
            rep = report_for_download(s, user, report_id)
        except AccessDenied:
            return flask.Response(_("you may not download this report"), status=403)
        except LookupError as exc:
            return flask.Response(tr_message(str(exc)), status=404)
        name = Path(rep.path).name
        try:  # shared storage: the workbook may have been written on another host (core.storage)
            data = read_report_file(cached_store(app_config(), session_factory(), flask.current_app.extensions), rep)
        except LookupError:
            return flask.Response(_("the report file is not available"), status=404)
    return flask.send_file(io.BytesIO(data), mimetype=XLSX_MIME, as_attachment=True, download_name=name, max_age=0)


def register_report_routes(server: flask.Flask) -> None:
    """Add `/reports/download/<id>` to the Flask server (idempotent)."""
    if "reports_download" in server.view_functions:
        return
    server.add_url_rule(DOWNLOAD_RULE, endpoint="reports_download", view_func=_download)


def register(app: dash.Dash) -> None:
    """Attach the Reports page's callbacks and the download route to `app`."""
    register_report_routes(app.server)
    grid_controls(app, GRID_ID, search=False)
    grid_controls(app, RUNS_GRID_ID)

    @app.callback(
        Output("reports-verify-status", "children"),
        Output("reports-verified", "data"),
        Input("reports-verify", "n_clicks"),
        State("reports-verify-report", "value"),
        State("reports-verify-opinion", "value"),
        State("reports-verify-statement", "value"),
        prevent_initial_call=True,
    )
    def verify(n_clicks, report_id, opinion, statement):  # noqa: ANN001, ANN202
        if not n_clicks:
            raise PreventUpdate
        return verify_report(web_user(), report_id, opinion, statement), utcnow().isoformat()

    filters = [State("reports-filter-scope", "value"), State("reports-filter-period", "value"),
               State("reports-filter-year", "value"), State("reports-filter-status", "value")]

    @app.callback(
        Output("reports-list", "children"),
        Output("reports-runs", "children"),
        Input("reports-refresh", "n_clicks"),
        Input("reports-generated", "data"),
        Input("reports-verified", "data"),
        Input("reports-filter-scope", "value"),
        Input("reports-filter-period", "value"),
        Input("reports-filter-year", "value"),
        Input("reports-filter-status", "value"),
        prevent_initial_call=True,
    )
    def refresh(_clicks, _generated, _verified, scope, period, year, status):  # noqa: ANN001, ANN202
        user = web_user()
        if user is None:
            raise PreventUpdate
        return render_lists(user, report_filters(scope, period, year, status))

    @app.callback(
        Output(GRID_ID, "getRowsResponse"),
        Input(GRID_ID, "getRowsRequest"),
        *filters,
        prevent_initial_call=True,
    )
    def rows(request, scope, period, year, status):  # noqa: ANN001, ANN202
        return reports_block(web_user(), report_filters(scope, period, year, status), request, session_factory(),
                             app_tz())

    @app.callback(
        Output("reports-generate-status", "children"),
        Output("reports-generated", "data"),
        Input("reports-generate", "n_clicks"),
        State("reports-month", "value"),
        State("reports-scope", "value"),
        State("reports-restate-reason", "value"),
        background=True,
        running=[(Output("reports-generate", "disabled"), True, False),
                 (Output("reports-progress", "style"), {"visibility": "visible"}, {"visibility": "hidden"})],
        progress=[Output("reports-progress", "value"), Output("reports-progress", "label")],
        prevent_initial_call=True,
    )
    def generate(set_progress, n_clicks, month_text, scope, restate_reason):  # noqa: ANN001, ANN202
        if not n_clicks:
            raise PreventUpdate
        info = (ctx.custom_data or {}).get(CONTEXT_NAMESPACE) or {}
        message, made = generate_month(info, month_text, scope, set_progress, restate_reason)
        return message, {"made": made, "at": utcnow().isoformat()}


def default_month(tz) -> str:  # noqa: ANN001
    """The month the page offers first: last month."""
    return f"{add_months(month_start(local_date(utcnow(), tz)), -1):%Y-%m}"

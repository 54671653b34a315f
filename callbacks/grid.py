"""One data grid for every table a user reads (issue 17, item 1): dash-ag-grid with sort, filter,
a labelled quick-search box, a pinned first column, CSV export and column priorities for phones.

`data_grid(...)` builds the grid and its toolbar; `grid_controls(app, grid_id)` attaches the
grid's browser-side callbacks (functions in assets/ct_grid.js: no inline script, no eval, so the
Content-Security-Policy stays strict). AG Grid's own scripts are served by Dash from the
dash-ag-grid package (`serve_locally=True`): nothing is fetched from outside.

Column dicts are AG Grid column definitions plus one key of ours, `priority`:
1 = always shown, 2 = hidden below 768 px, 3 = hidden below 576 px (a 390 px phone shows the
priority-1 columns without sideways scrolling). `priority` is taken out before AG Grid sees it.

Grids that grow without bound (the audit log) use `infinite=True`: AG Grid's infinite row model
asks the server for one block of rows at a time (`getRowsRequest` → `getRowsResponse`), and the
page's own callback answers it after checking the user, like every callback.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import dash
import dash_ag_grid as dag
from dash import ClientsideFunction, Input, Output, State, dcc, html

from callbacks.i18n import gettext as _

PRIORITY_BREAKPOINTS = {2: 768, 3: 576}  # hide a column of this priority below this viewport width (px)
MIN_COLUMN_PX = 90
HEADER_CHAR_PX = 8.5  # a header character at the grid's 14 px bold font, a little generous
HEADER_ICONS_PX = 62  # the header cell's padding, sort arrow and filter button
PAGE_SIZE = 100  # client-side pagination; infinite grids fetch this many rows per block
MAX_BLOCK = 500  # rows one getRowsRequest of an infinite grid may ask for
MAX_OFFSET = 10**7
EMPTY_BLOCK = {"rowData": [], "rowCount": 0}
# A dash-ag-grid function expression: parsed and run by dash-ag-grid's own evaluator (no eval, so the
# CSP holds), calling `ctNumber` from assets/ct_grid.js.
NUMBER_FORMATTER = {"function": "ctNumber(params)"}
_registered: set[tuple[int, str]] = set()


def columns_and_priorities(columns: list[dict]) -> tuple[list[dict], dict[str, int]]:
    """Split our keys off AG Grid's column definitions; the first column is pinned left.

    Ours: `priority` (see the module docstring) and `grouped` — number columns show thousands
    separated ("112,000", as `format_number` writes numbers elsewhere; the row keeps the number, so it
    sorts, filters and exports as one), except those marked `"grouped": False` (years, versions, ids).
    """
    defs: list[dict] = []
    priorities: dict[str, int] = {}
    for n, col in enumerate(columns):
        c = dict(col)
        prio = int(c.pop("priority", 1))
        if c.pop("grouped", True) and c.get("type") == "numericColumn":
            c.setdefault("valueFormatter", NUMBER_FORMATTER)
        c["minWidth"] = max(c.get("minWidth", MIN_COLUMN_PX), header_min_width(c.get("headerName", "")))
        if n == 0:
            c.setdefault("pinned", "left")
            prio = 1  # the pinned key column is always shown
        priorities[c["field"]] = prio
        c.setdefault("headerTooltip", c.get("headerName", c["field"]))
        defs.append(c)
    return defs, priorities


def header_min_width(header: str) -> int:
    """The narrowest a column may get and still fit its header's longest word on one line, with the
    header's sort and filter icons (headers wrap between words; "Coverage" must not break as "Covera-ge")."""
    longest = max((len(word) for word in header.split()), default=0)
    return round(longest * HEADER_CHAR_PX + HEADER_ICONS_PX)


def data_grid(grid_id: str, columns: list[dict], rows: list[dict] | None = None, *, export_name: str = "table",
              infinite: bool = False, search_label: str | None = None, height: str | None = None,
              search: bool = True, extra_options: dict | None = None) -> html.Div:
    """Return the grid and its toolbar (quick search with a label, CSV export).

    `rows` are plain dicts keyed by the columns' `field`. With `infinite=True` `rows` is ignored:
    the page answers `getRowsRequest` itself (and its own filters replace the quick search, which
    AG Grid only applies to rows it holds).
    """
    defs, priorities = columns_and_priorities(columns)
    options: dict[str, Any] = {
        "enableCellTextSelection": True,
        "ensureDomOrder": True,
        "tooltipShowDelay": 300,
        "suppressDragLeaveHidesColumns": True,
    }
    if infinite:
        options.update({"rowModelType": "infinite", "cacheBlockSize": PAGE_SIZE, "maxBlocksInCache": 20,
                        "infiniteInitialRowCount": 1})
    else:
        options.update({"pagination": True, "paginationPageSize": PAGE_SIZE,
                        "paginationPageSizeSelector": [25, 100, 500]})
    options.update(extra_options or {})
    locale_text = grid_locale_text()
    if locale_text:
        options["localeText"] = locale_text
    n = len(rows or [])
    grid_kwargs: dict[str, Any] = {
        "id": grid_id,
        "columnDefs": defs,
        "defaultColDef": {"sortable": not infinite, "filter": not infinite, "resizable": True,
                          "minWidth": MIN_COLUMN_PX, "flex": 1, "wrapHeaderText": True, "autoHeaderHeight": True},
        "dashGridOptions": options,
        "csvExportParams": {"fileName": f"{export_name}.csv", "allColumns": True},
        "className": "ct-grid",  # AG Grid's default (Theming API) quartz theme; no legacy CSS class
        "style": {"height": height, "width": "100%"} if height else grid_size(n, infinite),
    }
    if infinite:
        grid_kwargs["rowModelType"] = "infinite"
    else:
        grid_kwargs["rowData"] = rows or []
    toolbar = []
    if search and not infinite:
        toolbar.append(html.Div([
            html.Label(search_label or _("Quick search"), htmlFor=f"{grid_id}-search",
                       className="small text-muted mb-0 me-2 text-nowrap"),
            # The box takes the room there is, from 8 to 18 rem (a phone: the rest of the line).
            dcc.Input(id=f"{grid_id}-search", type="search", debounce=False, placeholder=_("type to filter rows…"),
                      className="form-control form-control-sm", style={"flex": "1 1 12rem", "minWidth": "8rem",
                                                                       "maxWidth": "18rem"}),
        ], className="d-flex align-items-center me-auto flex-grow-1"))
    else:
        toolbar.append(html.Div(className="me-auto"))
    toolbar.append(html.Button(_("Export CSV"), id=f"{grid_id}-export", n_clicks=0, type="button",
                               className="btn btn-outline-secondary btn-sm",
                               title=_("Download the rows shown as CSV (all columns)")))
    return html.Div([
        html.Div(toolbar, className="d-flex flex-wrap gap-2 align-items-center mb-2"),
        dcc.Store(id=f"{grid_id}-priorities", data=priorities),
        dcc.Store(id=f"{grid_id}-layout"),
        dag.AgGrid(**grid_kwargs),
    ], className="ct-grid-wrap")


def grid_size(n: int, infinite: bool = False) -> dict:
    """A grid's style for `n` rows: up to 15 rows all in view, more (or an infinite grid) in 70 % of the
    window, where the grid scrolls. Pages whose rows change while open send it with the new rows."""
    return {"height": "70vh" if infinite or n > 15 else f"{max(3, n) * 42 + 110}px", "width": "100%"}


NO_ROWS: tuple[Any, list, bool] = (None, [], True)  # a standing grid's view with nothing to show


def standing_grid(grid_id: str, columns: list[dict], *, row_key: str | None = None, wrap_id: str | None = None,
                  **grid_kwargs: Any) -> html.Div:
    """A grid placed once in a page's layout, empty and hidden until a callback sends its rows (`grid_view`).

    Pages that refresh on a timer send only the rows (`rowData`) and whether to show the grid, never a
    new grid: the grid and its search box stay mounted, so the reader's sort, column filters and
    quick-search text survive every refresh (AG Grid sorts and filters the new rows). `row_key` names
    the field that identifies a row (AG Grid's `getRowId`, an expression dash-ag-grid parses without
    eval), so rows are updated in place. The wrapper's id is `wrap_id`, by default `<grid_id>-wrap`.

    Its rows are not known when the layout is built, so without a `height` the grid takes the height
    of the rows it is sent (AG Grid's autoHeight layout, a page of at most PAGE_SIZE rows) instead of
    the three-row height an empty grid would get.
    """
    extra = dict(grid_kwargs.pop("extra_options", None) or {})
    if row_key:
        extra["getRowId"] = f"params.data.{row_key}"
    if not grid_kwargs.get("height"):
        extra["domLayout"] = "autoHeight"
        grid_kwargs["height"] = "auto"
    grid_kwargs["extra_options"] = extra
    return html.Div(data_grid(grid_id, columns, [], **grid_kwargs), id=wrap_id or f"{grid_id}-wrap", hidden=True)


def grid_view(rows: list[dict], empty: Any) -> tuple[Any, list[dict], bool]:
    """(message, rows, grid hidden) for a `standing_grid`: its rows, or the `empty` message when there are none."""
    return (None, rows, False) if rows else (empty, [], True)


HIDDEN = {"display": "none"}  # a boxed grid's box while its empty message shows
SHOWN: dict = {}


class GridUpdate(NamedTuple):
    """One refresh of a `boxed_grid`, in the order of `grid_outputs`: `standing_grid` for pages that poll
    fast and should not resend rows that did not change (the browser sends back the rows it holds).

    `empty` is the empty-state message (None while the grid shows), `box_style` hides the grid's box
    while that message shows; `rows` and `grid_style` (its height for that many rows) are
    `dash.no_update` when the rows did not change, so the grid keeps its sort, filters and search.
    """

    empty: Any
    box_style: dict
    rows: Any
    grid_style: Any


def grid_update(rows: list[dict], shown: bool, empty: Any, current: Any) -> GridUpdate:
    """The refresh of one grid: `rows` when `shown`, else the `empty` message; `current` is the rows it holds."""
    if not shown:
        return GridUpdate(empty, HIDDEN, [] if current else dash.no_update, dash.no_update)
    if rows == current:
        return GridUpdate(None, SHOWN, dash.no_update, dash.no_update)
    return GridUpdate(None, SHOWN, rows, grid_size(len(rows)))



def boxed_grid(grid_id: str, columns: list[dict], **grid_kwargs: Any) -> html.Div:
    """A grid in a box (`<grid_id>-box`) placed once in a page's layout, hidden until `grid_update` shows it."""
    return html.Div(data_grid(grid_id, columns, [], **grid_kwargs), id=f"{grid_id}-box", style=HIDDEN)


def grid_outputs(grid_id: str, empty_id: str) -> list[Output]:
    """The outputs a `GridUpdate` fills, in its order (`empty_id` holds the empty-state message)."""
    return [Output(empty_id, "children"), Output(f"{grid_id}-box", "style"), Output(grid_id, "rowData"),
            Output(grid_id, "style")]


# AG Grid's own words (pagination, filter menus, column menu, empty grid) in Swahili: AG Grid's
# localeText keys (ag-grid-community's AG_GRID_LOCALE_EN). English needs none: it is AG Grid's default.
_GRID_LOCALE_SW = {
    "page": "Ukurasa", "of": "kati ya", "to": "hadi", "more": "zaidi", "next": "Inayofuata",
    "last": "Mwisho", "first": "Mwanzo", "previous": "Iliyotangulia", "pageSizeSelectorLabel": "Safu kwa ukurasa:",
    "firstPage": "Ukurasa wa kwanza", "lastPage": "Ukurasa wa mwisho", "nextPage": "Ukurasa unaofuata",
    "previousPage": "Ukurasa uliotangulia", "loadingOoo": "Inapakia…", "noRowsToShow": "Hakuna safu za kuonyesha",
    "filterOoo": "Chuja…", "searchOoo": "Tafuta…", "equals": "Sawa na", "notEqual": "Si sawa na",
    "blank": "Tupu", "notBlank": "Si tupu", "empty": "Chagua moja", "lessThan": "Chini ya",
    "greaterThan": "Zaidi ya", "lessThanOrEqual": "Chini ya au sawa na",
    "greaterThanOrEqual": "Zaidi ya au sawa na", "inRange": "Kati ya", "inRangeStart": "Kutoka",
    "inRangeEnd": "Hadi", "contains": "Ina", "notContains": "Haina", "startsWith": "Inaanza na",
    "endsWith": "Inaishia na", "before": "Kabla ya", "after": "Baada ya", "andCondition": "NA",
    "orCondition": "AU", "applyFilter": "Tumia", "resetFilter": "Weka upya", "clearFilter": "Futa",
    "cancelFilter": "Ghairi", "dateFormatOoo": "yyyy-mm-dd", "selectAll": "(Chagua zote)",
    "pinColumn": "Bandika safu wima", "pinLeft": "Bandika kushoto", "pinRight": "Bandika kulia",
    "noPin": "Usibandike", "autosizeThisColumn": "Panua safu wima hii", "autosizeAllColumns": "Panua safu wima zote",
    "resetColumns": "Rudisha safu wima", "sortAscending": "Panga kwa kupanda", "sortDescending": "Panga kwa kushuka",
    "sortUnSort": "Ondoa mpangilio", "columnFilter": "Chujio la safu wima", "ariaFilterInput": "Chujio",
    "ariaSearch": "Tafuta", "ariaRowSelect": "Chagua safu", "ariaPageSizeSelectorLabel": "Safu kwa ukurasa",
}


def grid_locale_text() -> dict[str, str]:
    """AG Grid's own words for this request's language ({} in English: AG Grid's defaults)."""
    from callbacks.i18n import current_language

    return dict(_GRID_LOCALE_SW) if current_language() == "sw" else {}


def grid_controls(app: dash.Dash, grid_id: str, search: bool = True) -> None:
    """Attach the grid's browser-side callbacks (quick search, CSV export, column priorities) once per app."""
    key = (id(app), grid_id)
    if key in _registered:
        return
    _registered.add(key)
    if search:
        app.clientside_callback(ClientsideFunction("ctGrid", "quickFilter"),
                                Output(grid_id, "dashGridOptions", allow_duplicate=True),
                                Input(f"{grid_id}-search", "value"), State(grid_id, "dashGridOptions"),
                                prevent_initial_call=True)
    app.clientside_callback(ClientsideFunction("ctGrid", "exportCsv"),
                            Output(grid_id, "exportDataAsCsv"), Input(f"{grid_id}-export", "n_clicks"),
                            prevent_initial_call=True)
    app.clientside_callback(ClientsideFunction("ctGrid", "priorities"),
                            Output(f"{grid_id}-layout", "data"), Input(f"{grid_id}-priorities", "data"),
                            State(grid_id, "id"))


def requested_block(request: Any) -> tuple[int, int] | None:
    """(first row, number of rows) an infinite grid's getRowsRequest asks for, checked (None: not a request).

    The browser sends it, so it is data like any other: rows start at 0 to MAX_OFFSET and a block holds
    1 to MAX_BLOCK rows whatever it asks.
    """
    from core.validation import FieldError, int_in

    if not isinstance(request, dict):
        return None
    try:
        start = int_in(request.get("startRow"), "startRow", 0, MAX_OFFSET, required=True)
        end = int_in(request.get("endRow"), "endRow", 1, MAX_OFFSET + MAX_BLOCK, required=True)
    except FieldError:
        return None
    return start, min(MAX_BLOCK, max(1, end - start))


def block_response(data: list[dict], start: int, n: int, fetched: int) -> dict:
    """The getRowsResponse for a block: `fetched` rows were read for `n` asked (one more than asked
    says there are more; otherwise this block ends the list and its length is the total)."""
    return {"rowData": data, "rowCount": None if fetched > n else start + len(data)}


def status_cell(row: dict, field: str, key: str | None, label: str | None = None) -> dict:
    """Put a status into `row` for a `CtStatus` column: the words in the page's language, the colour
    from the English key (`<field>__tone`), so a translated status keeps its colour."""
    if key is None:
        row[field] = label or "—"
        return row
    row[field] = label if label is not None else _(key)
    row[f"{field}__tone"] = key
    return row


def as_text(value: Any) -> str:
    """A cell value as text for the grid ('' for None)."""
    return "" if value is None else str(value)


def md_link(text: str, href: str) -> str:
    """A Markdown link for a column with `cellRenderer: "markdown"` (text escaped for Markdown)."""
    safe = "".join("\\" + ch if ch in "\\[]*_`<>#!|" else ch for ch in text)
    return f"[{safe}]({href})"

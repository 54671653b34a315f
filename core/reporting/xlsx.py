"""Small openpyxl helpers shared by the report workbooks: safe text, tables, formats, widths.

Every string goes through `put`: a value that a spreadsheet would read as a formula
(starting with =, +, -, @, tab or CR; OWASP "CSV/formula injection") is stored as a plain string
cell with Excel's quote-prefix flag, so opening the file never evaluates text a user typed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

# Number formats (numbers stay numbers; only the display changes).
FMT_T = "#,##0.000"  # tonnes, full precision kept in the value
FMT_T_ROUNDED = "#,##0"  # reported totals: rounded tonnes (EU MRR 2018/2066 Art. 72 principle)
FMT_KG = "#,##0.0"
FMT_INT = "#,##0"
FMT_SEE = "0.0000"  # t CO2e per t
FMT_RATIO = "0.0000"
FMT_PCT = "0.0%"
FMT_HOURS = "#,##0.0"
FMT_FACTOR = "#,##0.#####"
FMT_DATE = "yyyy-mm-dd"
FMT_DATETIME = "yyyy-mm-dd hh:mm"

HEADER_FONT = Font(bold=True, color="FFFFFF")
HEADER_FILL = PatternFill("solid", fgColor="2E5E4E")
TITLE_FONT = Font(bold=True, size=14)
SECTION_FONT = Font(bold=True, size=11, color="2E5E4E")
NOTE_FONT = Font(italic=True, color="555555")
LABEL_FONT = Font(bold=True)
WRAP = Alignment(wrap_text=True, vertical="top")
MAX_COL_WIDTH = 60


def is_formula_like(text: str) -> bool:
    """Whether a spreadsheet would treat `text` as a formula or command."""
    return text.startswith(FORMULA_PREFIXES)


def put(ws: Worksheet, row: int, col: int, value: Any, fmt: str | None = None, font: Font | None = None) -> Any:
    """Write one cell: strings as inert text, numbers as numbers with `fmt`; return the cell."""
    cell = ws.cell(row=row, column=col)
    if isinstance(value, str):
        # Control characters are not allowed in XML: openpyxl would refuse the whole workbook.
        cell.value = ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)
        cell.data_type = "s"  # never "f": text is never a formula
        if is_formula_like(value):
            cell.quotePrefix = True
    else:
        if isinstance(value, datetime) and value.tzinfo is not None:
            value = value.replace(tzinfo=None)  # Excel has no time zones; callers pass local time
        cell.value = value
        if fmt and value is not None:
            cell.number_format = fmt
        elif isinstance(value, datetime):
            cell.number_format = FMT_DATETIME
        elif isinstance(value, date):
            cell.number_format = FMT_DATE
    if font is not None:
        cell.font = font
    return cell


def title(ws: Worksheet, text: str, subtitle: str | None = None) -> int:
    """Write a sheet title (and subtitle); return the next free row."""
    put(ws, 1, 1, text, font=TITLE_FONT)
    if subtitle:
        put(ws, 2, 1, subtitle, font=NOTE_FONT)
        return 4
    return 3


def section(ws: Worksheet, row: int, text: str) -> int:
    """Write a section heading; return the next row."""
    put(ws, row, 1, text, font=SECTION_FONT)
    return row + 1


def note(ws: Worksheet, row: int, text: str, col: int = 1) -> int:
    """Write an explanatory note; return the next row."""
    put(ws, row, col, text, font=NOTE_FONT)
    return row + 1


def key_values(ws: Worksheet, row: int, items: Iterable[Sequence[Any]]) -> int:
    """Write (label, value[, unit[, fmt[, note]]]) rows in columns A–D; return the next row.

    Labels are in column A, values in B, units in C, notes in D, so a reader (or a test) can find
    a figure by its label.
    """
    for item in items:
        label, value = item[0], item[1]
        unit = item[2] if len(item) > 2 else None
        fmt = item[3] if len(item) > 3 else None
        remark = item[4] if len(item) > 4 else None
        put(ws, row, 1, label, font=LABEL_FONT)
        put(ws, row, 2, value, fmt)
        if unit:
            put(ws, row, 3, unit)
        if remark:
            put(ws, row, 4, remark, font=NOTE_FONT)
        row += 1
    return row


def table(
    ws: Worksheet,
    row: int,
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    formats: Sequence[str | None] | None = None,
    freeze: bool = True,
) -> tuple[int, int]:
    """Write a header row and data rows from column A; return (header_row, next_free_row).

    With `freeze`, the sheet's panes are frozen below the header so it stays visible.
    """
    header_row = row
    for col, header in enumerate(headers, start=1):
        cell = put(ws, row, col, header, font=HEADER_FONT)
        cell.fill = HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    row += 1
    for values in rows:
        for col, value in enumerate(values, start=1):
            fmt = formats[col - 1] if formats and col - 1 < len(formats) else None
            put(ws, row, col, value, fmt)
        row += 1
    if freeze:
        ws.freeze_panes = ws.cell(row=header_row + 1, column=1)
    return header_row, row + 1


def size_columns(ws: Worksheet, minimum: int = 8, maximum: int = MAX_COL_WIDTH, skip_rows: int = 2) -> None:
    """Set each column's width from its longest value (titles in the first rows are ignored)."""
    widths: dict[int, int] = {}
    for r_index, row in enumerate(ws.iter_rows(), start=1):
        if r_index <= skip_rows:
            continue
        for cell in row:
            if cell.value is None:
                continue
            value = cell.value
            if isinstance(value, float):
                length = len(f"{value:,.3f}")
            elif isinstance(value, (date, datetime)):
                length = 16
            else:
                length = len(str(value))
            widths[cell.column] = max(widths.get(cell.column, 0), length)
    for col, width in widths.items():
        ws.column_dimensions[get_column_letter(col)].width = max(minimum, min(maximum, width + 2))


def wrap_column(ws: Worksheet, col: int, width: int = MAX_COL_WIDTH) -> None:
    """Wrap long text in a column at a fixed width."""
    letter = get_column_letter(col)
    ws.column_dimensions[letter].width = width
    for (cell,) in ws.iter_rows(min_col=col, max_col=col):
        if isinstance(cell.value, str) and len(cell.value) > width:
            cell.alignment = WRAP


def show_axes(chart) -> None:  # noqa: ANN001
    """Make both axes visible: openpyxl 3.1 writes them as deleted, and Excel then hides them."""
    chart.x_axis.delete = False
    chart.y_axis.delete = False


def print_setup(ws: Worksheet) -> None:
    """Landscape A4, fit to one page wide, and the rows above the frozen pane repeated on every page.

    Without this a factory workbook printed to 51 pages with labels, values and units on different
    pages; fitting the width keeps each row on one page and the repeated rows keep its headers.
    """
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0  # as many pages tall as needed
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_options.gridLines = False
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.oddFooter.center.text = "&A: page &P of &N"
    frozen = ws.freeze_panes
    if frozen:
        first_data_row = ws[frozen].row
        if first_data_row > 1:
            ws.print_title_rows = f"1:{first_data_row - 1}"


def finish_workbook(wb: Workbook, title_text: str) -> Workbook:
    """Set the print layout of every sheet and the document properties; return the workbook."""
    for ws in wb.worksheets:
        print_setup(ws)
    wb.properties.title = title_text
    wb.properties.creator = "Carbon Track"
    return wb

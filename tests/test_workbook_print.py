"""Print set-up (issue 14, deliverable 8): every sheet landscape, fit to width, header rows repeated,
and a factory workbook printed to PDF by LibreOffice headless comes out at a readable page count.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import require_or_skip
from openpyxl import load_workbook
from reports_helpers import MONTH, NOW, config_for, seed_known_month

from core.reporting.reports import generate_reports

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
# 11-12 sheets, each fitted to one page wide (the test month prints to 11 pages); a long sheet may take 2-3.
# Before the print set-up the same workbook printed to 51 pages.
MAX_PAGES = 20


def _workbooks(Session, db_url, tmp_path, period="month", start=MONTH):  # noqa: N803
    seed_known_month(Session)
    result = generate_reports(Session, config_for(db_url, tmp_path), start, requested_by="test", now=NOW,
                              period=period)
    assert result.ok
    return {r.scope_key: r.path for r in result.reports}


@pytest.mark.parametrize("period", ["month", "year"])
def test_every_sheet_prints_landscape_fit_to_width_with_header_rows(Session, db_url, tmp_path, period):
    paths = _workbooks(Session, db_url, tmp_path, period)
    for code in ("TST", "NETWORK"):
        wb = load_workbook(paths[code])
        for ws in wb.worksheets:
            assert ws.page_setup.orientation == "landscape", ws.title
            assert ws.page_setup.fitToWidth == 1 and ws.page_setup.fitToHeight == 0, ws.title
            assert ws.sheet_properties.pageSetUpPr.fitToPage, ws.title
            assert ws.print_title_rows, ws.title  # the title (and a table's header) on every page
        # A table sheet repeats its header row, not only the title.
        table_sheet = wb["Leaderboard"] if code == "NETWORK" and period == "month" else wb.worksheets[-1]
        header_row = int(table_sheet.freeze_panes[1:]) - 1
        assert table_sheet.print_title_rows.replace("$", "") == f"1:{header_row}"


def _pdf_pages(pdf: Path) -> int:
    return len(re.findall(rb"/Type\s*/Page(?!s)", pdf.read_bytes()))


def test_libreoffice_prints_a_factory_workbook_to_a_reasonable_number_of_pages(Session, db_url, tmp_path):
    require_or_skip(SOFFICE is not None, "LibreOffice (libreoffice-calc-nogui)")
    paths = _workbooks(Session, db_url, tmp_path)
    out = tmp_path / "pdf"
    profile = tmp_path / "lo-profile"  # own profile: other LibreOffice runs on the machine do not collide
    subprocess.run([SOFFICE, f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to", "pdf",
                    "--outdir", str(out), paths["TST"]], check=True, timeout=180, capture_output=True)
    pdf = out / (Path(paths["TST"]).stem + ".pdf")
    pages = _pdf_pages(pdf)
    sheets = len(load_workbook(paths["TST"]).sheetnames)
    print(f"{Path(paths['TST']).name}: {sheets} sheets, {pages} PDF pages")
    assert sheets <= pages <= MAX_PAGES, pages

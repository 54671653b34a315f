"""The `Evidence` sheet: every supporting file behind a workbook's figures, with its SHA-256.

A verifier checks a listed file by hashing the copy they receive (`sha256sum`) and comparing it with
the hash here; the portal serves the files only to those who may see the factory.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, tzinfo

from openpyxl import Workbook
from sqlalchemy.orm import Session

from core.evidence.files import evidence_for
from core.models import SupplierDeclaration
from core.reporting.xlsx import FMT_DATETIME, FMT_INT, note, size_columns, table, title

SHEET_EVIDENCE = "Evidence"


@dataclass(frozen=True)
class EvidenceInfo:
    """One evidence file as a workbook lists it."""

    evidence_id: int
    attached_to: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    uploaded_by: str | None
    uploaded_at: datetime
    description: str | None


def collect_evidence(session: Session, factory_ids: Iterable[int], first: date, last: date) -> dict[int, list[EvidenceInfo]]:
    """Evidence per factory for months in [first, last] and declarations valid then (two queries)."""
    rows = evidence_for(session, list(factory_ids), first, last)
    decl_ids = {r.declaration_id for r in rows if r.declaration_id is not None}
    decls = {d.id: d for d in session.query(SupplierDeclaration).filter(SupplierDeclaration.id.in_(decl_ids))} \
        if decl_ids else {}
    out: dict[int, list[EvidenceInfo]] = defaultdict(list)
    for r in rows:
        if r.declaration_id is not None:
            d = decls.get(r.declaration_id)
            what = (f"declaration {d.reference} ({d.source}, {d.supplier}, {d.valid_from} to {d.valid_to})"
                    if d else f"declaration {r.declaration_id}")
        else:
            what = f"{r.source}, {r.month:%Y-%m}"
        out[r.factory_id].append(EvidenceInfo(r.id, what, r.filename, r.content_type, r.size_bytes, r.sha256,
                                              r.uploaded_by, r.uploaded_at, r.description))
    return out


def write_evidence(wb: Workbook, files: list[EvidenceInfo], tz: tzinfo) -> None:
    """Add the Evidence sheet listing `files` (a note when there are none)."""
    ws = wb.create_sheet(SHEET_EVIDENCE)
    row = title(ws, "Evidence: supporting files and their SHA-256",
                "Fuel invoices, weighbridge tickets, meter readings and supplier declarations attached in Carbon "
                "Track; download them from the portal (access checked per factory) and compare with sha256sum.")
    rows = [(f.evidence_id, f.attached_to, f.filename, f.content_type, f.size_bytes, f.sha256, f.uploaded_by,
             f.uploaded_at.astimezone(tz).replace(tzinfo=None), f.description) for f in files]
    _, row = table(ws, row, ["Evidence id", "Attached to", "File name", "Type", "Size (bytes)", "SHA-256",
                             "Uploaded by", "Uploaded at (local)", "Description"], rows,
                   [FMT_INT, None, None, None, FMT_INT, None, None, FMT_DATETIME, None])
    if not files:
        note(ws, row, "No evidence files are attached to this period's data.")
    size_columns(ws)

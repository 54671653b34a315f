"""Evidence files: checked, stored once by content hash, listed, and downloaded only by those who may see the factory.

A file is accepted when (1) it is at most MAX_BYTES, (2) its bytes are a PDF, PNG, JPEG or an Excel
workbook (.xlsx) — the type is detected from the content, never trusted from the name or the
browser — and (3) its name's extension matches that type. It is written to
`<data_dir>/evidence/<factory id>/<sha256>.<ext>` through a temporary name and a rename, so no reader
sees half a file and the same bytes are stored once, and to shared storage under the same relative
key (core.storage), so every web host can serve it. Every upload is audit-logged.

Who may attach: energy evidence — whoever may enter the factory's data (its manager, an admin);
declaration evidence — HQ and admins (who keep the register) or the factory's manager.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import zipfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.access import AccessDenied, UserLike, can_approve, can_enter_data, can_read_factory
from core.audit import record_audit
from core.models import ENERGY_SOURCES, EvidenceFile, Factory, SupplierDeclaration
from core.storage import BlobStore, publish, read_with_fallback
from core.timeutil import month_start

MAX_BYTES = 10 * 1024 * 1024  # a scanned multi-page invoice is 1-5 MB; larger files are usually photos of many
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Detected type -> (accepted extensions, the extension stored).
TYPES = {
    "application/pdf": ((".pdf",), ".pdf"),
    "image/png": ((".png",), ".png"),
    "image/jpeg": ((".jpg", ".jpeg"), ".jpg"),
    XLSX_TYPE: ((".xlsx",), ".xlsx"),
}
_UNSAFE = re.compile(r"[^A-Za-z0-9._ ()-]+")


class EvidenceError(ValueError):
    """A file or an attachment that cannot be accepted; the message says why, for the uploader."""


def detect_type(data: bytes) -> str | None:
    """The content type of `data` from its bytes (PDF, PNG, JPEG, XLSX), or None."""
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                names = set(zf.namelist())
        except zipfile.BadZipFile:
            return None
        if "[Content_Types].xml" in names and any(n.startswith("xl/") for n in names):
            return XLSX_TYPE
    return None


def safe_filename(name: str) -> str:
    """The uploaded name without any directory part or unusual characters (at most 200 characters)."""
    base = Path(name.replace("\\", "/")).name.strip()
    base = _UNSAFE.sub("_", base).lstrip(".") or "file"
    return base[-200:]


def check_file(filename: str, data: bytes) -> tuple[str, str]:
    """(content type, stored extension) for an acceptable file; EvidenceError with the reason otherwise."""
    if not data:
        raise EvidenceError("the file is empty")
    if len(data) > MAX_BYTES:
        raise EvidenceError(f"the file is {len(data) / 1e6:.1f} MB; the limit is {MAX_BYTES // (1024 * 1024)} MB")
    kind = detect_type(data)
    if kind is None:
        raise EvidenceError("only PDF, PNG, JPEG and Excel (.xlsx) files are accepted")
    accepted, stored_ext = TYPES[kind]
    ext = Path(filename).suffix.lower()
    if ext not in accepted:
        raise EvidenceError(f"the file's content is {kind} but its name ends in {ext or '(nothing)'}; "
                            f"expected {' or '.join(accepted)}")
    return kind, stored_ext


@dataclass(frozen=True)
class Attachment:
    """What a file is evidence for: a factory-month's energy source, or a supplier declaration."""

    factory_id: int
    month: date | None = None
    source: str | None = None
    declaration_id: int | None = None


def _authorise(session: Session, user: UserLike | None, att: Attachment) -> Attachment:
    if att.declaration_id is not None:
        decl = session.get(SupplierDeclaration, att.declaration_id)
        if decl is None:
            raise EvidenceError("no such supplier declaration")
        if not (can_approve(user) or (can_enter_data(user, decl.factory_id))):
            raise AccessDenied("you may not attach files to this declaration")
        return Attachment(decl.factory_id, declaration_id=decl.id)
    if att.month is None or att.source not in ENERGY_SOURCES:
        raise EvidenceError(f"say which month and energy source the file is for ({', '.join(ENERGY_SOURCES)})")
    if session.get(Factory, att.factory_id) is None:
        raise EvidenceError("no such factory")
    if not can_enter_data(user, att.factory_id):
        raise AccessDenied("you may not attach files to this factory's data")
    return Attachment(att.factory_id, month_start(att.month), att.source)


def store_bytes(directory: Path, sha: str, ext: str, data: bytes) -> Path:
    """Write `data` as `<sha><ext>` in `directory` (once; atomically) and return the path."""
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"{sha}{ext}"
    if not final.exists():
        tmp = directory / f".{sha}.{os.getpid()}.tmp"
        tmp.write_bytes(data)
        os.replace(tmp, final)
    return final


def add_evidence(session: Session, data_dir: Path, user: UserLike | None, attachment: Attachment, filename: str,
                 data: bytes, description: str | None = None, store: BlobStore | None = None) -> EvidenceFile:
    """Check, store and record one evidence file, audit-logged (the caller commits).

    With `store` (core.storage) the file also goes to shared storage, for the other web hosts.
    """
    att = _authorise(session, user, attachment)
    kind, ext = check_file(filename, data)
    sha = hashlib.sha256(data).hexdigest()
    path = store_bytes(Path(data_dir) / "evidence" / str(att.factory_id), sha, ext, data)
    if store is not None:
        publish(store, f"evidence/{att.factory_id}/{path.name}", path)
    desc = (description or "").strip()[:200] or None
    row = EvidenceFile(factory_id=att.factory_id, month=att.month, source=att.source,
                       declaration_id=att.declaration_id, filename=safe_filename(filename), content_type=kind,
                       size_bytes=len(data), sha256=sha, stored_path=str(path.resolve()), description=desc,
                       uploaded_by=getattr(user, "username", None))
    session.add(row)
    session.flush()
    what = (f"declaration {att.declaration_id}" if att.declaration_id is not None
            else f"{att.source} {att.month:%Y-%m}")
    record_audit(session, user, "upload", "evidence", entity_id=str(row.id), factory_id=att.factory_id,
                 detail=f"{row.filename} ({kind}, {len(data)} bytes, sha256={sha}) for {what}")
    return row


def evidence_for_download(session: Session, user: UserLike | None, evidence_id: int) -> EvidenceFile:
    """The evidence row if `user` may see its factory and the file is there; AccessDenied / LookupError otherwise."""
    row = session.get(EvidenceFile, evidence_id)
    if row is None:
        raise LookupError("no such file")
    if not can_read_factory(user, row.factory_id):
        raise AccessDenied("you may not download this file")
    return row


def evidence_key(row: EvidenceFile) -> str:
    """The shared-storage key of an evidence file: `evidence/<factory id>/<sha256>.<ext>`."""
    return f"evidence/{row.factory_id}/{Path(row.stored_path).name}"


def read_evidence_file(store: BlobStore, row: EvidenceFile) -> bytes:
    """The file's bytes from shared storage, else from its old local path (copied into the store on the way).

    core.storage.BlobMissing (a LookupError) when neither has it.
    """
    return read_with_fallback(store, evidence_key(row), row.stored_path)


def evidence_for(session: Session, factory_ids: list[int], first: date, last: date) -> list[EvidenceFile]:
    """Evidence of the factories' months in [first, last] and of their declarations valid in that range."""
    if not factory_ids:
        return []
    decl_ids = sa.select(SupplierDeclaration.id).where(
        SupplierDeclaration.factory_id.in_(factory_ids), SupplierDeclaration.valid_from <= last,
        SupplierDeclaration.valid_to >= first)
    q = sa.select(EvidenceFile).where(
        EvidenceFile.factory_id.in_(factory_ids),
        sa.or_(sa.and_(EvidenceFile.month >= first, EvidenceFile.month <= last),
               EvidenceFile.declaration_id.in_(decl_ids)),
    ).order_by(EvidenceFile.factory_id, EvidenceFile.month, EvidenceFile.source, EvidenceFile.id)
    return list(session.scalars(q))

"""Evidence page callbacks and the download route.

- Upload: a file for a factory-month's energy source, or for a supplier declaration. The browser's
  upload arrives base64-encoded; `core.evidence.files.add_evidence` checks who may attach, the
  size and the type (from the bytes), stores it by SHA-256 and audit-logs it.
- The supplier register: HQ and admins record a declaration (`core.evidence.declarations`) and a
  laboratory NCV for a declaration's fuel lot (issue 14).
- `/evidence/download/<id>` serves a file only to a signed-in user who may see its factory.
Every rule is checked on the server with the signed-in user, never taken from the page.
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
from datetime import date
from typing import Any

import dash
import dash_bootstrap_components as dbc
import flask
from dash import Input, Output, State, html
from dash.exceptions import PreventUpdate

from callbacks.common import app_config, fmt_eat, session_factory, web_user
from callbacks.grid import data_grid, grid_controls
from callbacks.i18n import N_, current_language, format_number, tr_message
from callbacks.i18n import gettext as _
from core.access import AccessDenied, allowed_factory_ids
from core.evidence.declarations import add_declaration, add_lab_ncv, visible_declarations, visible_lab_ncvs
from core.evidence.files import (
    Attachment,
    EvidenceError,
    add_evidence,
    evidence_for,
    evidence_for_download,
    read_evidence_file,
)
from core.inventory.entry import SOURCE_LABELS
from core.storage import BlobStore, cached_store
from core.timeutil import add_months, local_date, month_start, parse_month, utcnow

log = logging.getLogger(__name__)

DOWNLOAD_RULE = "/evidence/download/<int:evidence_id>"
LIST_MONTHS = 13
BASIS_WORDS = {"dry": N_("dry"), "as_received": N_("as_received")}  # a lab NCV's moisture basis, as stored
# With the sample's moisture: one sentence per basis (a bare "{basis} at {moisture}" entry would match any "a at b").
BASIS_AT = {"dry": N_("dry at {moisture}"), "as_received": N_("as_received at {moisture}")}
FILES_GRID_ID, DECL_GRID_ID, LAB_GRID_ID = "evidence-table", "evidence-declarations", "evidence-lab-ncvs"
FILE_COLUMNS = [
    {"field": "for", "headerName": N_("For"), "minWidth": 140},
    {"field": "file", "headerName": N_("File"), "cellRenderer": "CtLink", "minWidth": 150, "tooltipField": "file"},
    {"field": "at", "headerName": N_("Uploaded (EAT)"), "minWidth": 150, "priority": 2},
    {"field": "by", "headerName": N_("By"), "priority": 2},
    {"field": "type", "headerName": N_("Type"), "priority": 3},
    {"field": "bytes", "headerName": N_("Bytes"), "filter": "agNumberColumnFilter", "type": "numericColumn", "priority": 3},
    {"field": "sha256", "headerName": N_("SHA-256"), "tooltipField": "sha256_full", "priority": 3},
]
DECL_COLUMNS = [
    {"field": "reference", "headerName": N_("Reference"), "minWidth": 130},
    {"field": "supplier", "headerName": N_("Supplier")},
    {"field": "status", "headerName": N_("Status"), "cellRenderer": "CtStatus", "priority": 2},
    {"field": "id", "headerName": N_("Id"), "filter": "agNumberColumnFilter", "maxWidth": 90, "priority": 2},
    {"field": "source", "headerName": N_("Fuel"), "priority": 3},
    {"field": "scheme", "headerName": N_("Scheme"), "priority": 3},
    {"field": "validity", "headerName": N_("Validity"), "minWidth": 180, "priority": 3},
]
LAB_COLUMNS = [
    {"field": "lot", "headerName": N_("Lot"), "filter": "agNumberColumnFilter", "maxWidth": 100},
    {"field": "ncv", "headerName": N_("NCV (MJ/kg)"), "filter": "agNumberColumnFilter", "type": "numericColumn"},
    {"field": "basis", "headerName": N_("Basis"), "priority": 2},
    {"field": "status", "headerName": N_("Status"), "cellRenderer": "CtStatus", "priority": 2},
    {"field": "source", "headerName": N_("Fuel"), "priority": 3},
    {"field": "lab", "headerName": N_("Laboratory"), "priority": 3},
    {"field": "certificate", "headerName": N_("Certificate"), "priority": 3},
    {"field": "file", "headerName": N_("File id"), "priority": 3},
]


def translated(columns: list[dict]) -> list[dict]:
    """The column definitions with their headers in this request's language (the lists are built at import)."""
    return [{**c, "headerName": _(c["headerName"])} for c in columns]


def source_label(source: str | None) -> str:
    """An energy source as the page names it: the code in English (as before), its label in Swahili."""
    if not source:
        return ""
    if current_language() == "en":
        return source
    return tr_message(SOURCE_LABELS.get(source, source))


def lab_basis(basis: str, moisture: float | None) -> str:
    """A lab NCV's moisture basis, with the sample's moisture when given ("as_received at 0.3")."""
    if moisture is None:
        return _(BASIS_WORDS.get(basis, basis))
    if basis not in BASIS_AT:
        return f"{basis} {moisture:g}"
    return _(BASIS_AT[basis], moisture=format(moisture, "g"))


def status_words(status: str) -> dict:
    """A register row's status in words; the grid colours it by the English word (`status__tone`, CtStatus)."""
    return {"status": _(status), "status__tone": status.split()[0]}


def _store() -> BlobStore:
    """The app's shared storage (core.storage): local directory, database or S3."""
    return cached_store(app_config(), session_factory(), flask.current_app.extensions)


def download_url(evidence_id: int) -> str:
    """The download link of one evidence file."""
    return f"/evidence/download/{evidence_id}"


def decode_upload(contents: str | None) -> bytes:
    """The bytes of a dcc.Upload value (`data:<type>;base64,<data>`); EvidenceError if it is not one."""
    if not contents or "," not in contents:
        raise EvidenceError(N_("choose a file to upload"))
    try:
        return base64.b64decode(contents.split(",", 1)[1], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise EvidenceError(N_("the upload could not be read; try again")) from exc


def _alert(exc: Exception) -> dbc.Alert:
    color = "danger" if isinstance(exc, AccessDenied) else "warning"
    return dbc.Alert(tr_message(str(exc)), color=color, id="evidence-error")


def upload_energy_evidence(user, factory_id: int | None, month_text: str | None, source: str | None,  # noqa: ANN001
                           contents: str | None, filename: str | None, description: str | None = None) -> dbc.Alert:
    """Attach an uploaded file to a factory-month's energy source for the signed-in user."""
    try:
        if factory_id is None:
            raise EvidenceError(N_("choose a factory"))
        try:
            month = parse_month(month_text or "")
        except ValueError as exc:
            raise EvidenceError(str(exc)) from exc
        data = decode_upload(contents)
        with session_factory()() as s:
            row = add_evidence(s, app_config().data_dir, user, Attachment(int(factory_id), month, source),
                               filename or "", data, description, store=_store())
            s.commit()
            return dbc.Alert(_("Stored {name} ({size} bytes, SHA-256 {sha}…).", name=row.filename,
                               size=format_number(row.size_bytes), sha=row.sha256[:16]),
                             color="success", id="evidence-stored")
    except (EvidenceError, AccessDenied) as exc:
        return _alert(exc)


def upload_declaration_evidence(user, declaration_id: int | None, contents: str | None,  # noqa: ANN001
                                filename: str | None) -> dbc.Alert:
    """Attach an uploaded certificate or declaration document to a register entry."""
    try:
        if declaration_id is None:
            raise EvidenceError(N_("choose a declaration"))
        data = decode_upload(contents)
        with session_factory()() as s:
            row = add_evidence(s, app_config().data_dir, user, Attachment(0, declaration_id=int(declaration_id)),
                               filename or "", data, store=_store())
            s.commit()
            return dbc.Alert(_("Stored {name} for the declaration (SHA-256 {sha}…).", name=row.filename,
                               sha=row.sha256[:16]),
                             color="success", id="evidence-stored")
    except (EvidenceError, AccessDenied) as exc:
        return _alert(exc)


def record_declaration(user, factory_id: int | None, source: str | None, supplier: str | None,  # noqa: ANN001
                       scheme: str | None, reference: str | None, valid_from: str | None,
                       valid_to: str | None) -> dbc.Alert:
    """Add a supplier declaration to the register for the signed-in user (HQ and admins)."""
    try:
        if factory_id is None:
            raise EvidenceError(N_("choose a factory"))
        try:
            start, end = date.fromisoformat(valid_from or ""), date.fromisoformat(valid_to or "")
        except ValueError as exc:
            raise EvidenceError(N_("give 'valid from' and 'valid to' as dates")) from exc
        with session_factory()() as s:
            row = add_declaration(s, user, int(factory_id), source or "", supplier or "", scheme or "",
                                  reference or "", start, end)
            s.commit()
            return dbc.Alert(_("Declaration {reference} recorded.", reference=row.reference), color="success",
                             id="evidence-declared")
    except (EvidenceError, AccessDenied) as exc:
        return _alert(exc)


def record_lab_ncv(user, declaration_id: int | None, ncv: float | None, basis: str | None,  # noqa: ANN001
                   moisture: float | None, lab: str | None, certificate: str | None, file_id: int | None,
                   sampled_on: str | None) -> dbc.Alert:
    """Record a laboratory NCV for a fuel lot for the signed-in user (HQ and admins)."""
    try:
        if declaration_id is None:
            raise EvidenceError(N_("give the declaration (lot) id"))
        try:
            sampled = date.fromisoformat(sampled_on) if sampled_on else None
        except ValueError as exc:
            raise EvidenceError(N_("sampled on: a date")) from exc
        with session_factory()() as s:
            row = add_lab_ncv(s, user, int(declaration_id), ncv, basis or "", lab or "", certificate or "",
                              moisture_fraction=moisture, evidence_file_id=int(file_id) if file_id else None,
                              sampled_on=sampled)
            s.commit()
            return dbc.Alert(_("Lab NCV {ncv} MJ/kg ({basis}) recorded for lot {lot}.", ncv=format(row.ncv_mj_per_kg, "g"),
                               basis=_(BASIS_WORDS.get(row.basis, row.basis)), lot=row.declaration_id),
                             color="success", id="evidence-lab-recorded")
    except (EvidenceError, AccessDenied) as exc:
        return _alert(exc)


def evidence_list(user, tz) -> html.Div:  # noqa: ANN001
    """The evidence files and declarations of the factories `user` may see (last 13 months)."""
    today = month_start(local_date(utcnow(), tz))
    with session_factory()() as s:
        ids = allowed_factory_ids(s, user)
        files = evidence_for(s, ids, add_months(today, -LIST_MONTHS), add_months(today, 1))
        decls = visible_declarations(s, user)
        labs = visible_lab_ncvs(s, user)
    files_view: Any = (data_grid(FILES_GRID_ID, translated(FILE_COLUMNS), file_rows(files, tz),
                                 export_name="evidence-files", search_label=_("Search files")) if files else
                       html.Div(_("No evidence files yet."), className="text-muted small", id="evidence-empty"))
    decl_rows = [{"id": d.id, "source": source_label(d.source), "supplier": d.supplier, "scheme": d.scheme,
                  "reference": d.reference,
                  # Two ISO dates around one word (a bare "{start} to {end}" entry would match any "a to b").
                  "validity": f"{d.valid_from} {_('to')} {d.valid_to}",
                  **status_words(N_("withdrawn") if d.withdrawn_at else N_("valid"))}
                 for d in decls]
    lab_rows = [{"lot": x.declaration_id, "source": source_label(x.source), "ncv": x.ncv_mj_per_kg,
                 "basis": lab_basis(x.basis, x.moisture_fraction),
                 "lab": x.lab, "certificate": x.certificate_ref, "file": x.evidence_file_id,
                 **status_words(N_("withdrawn") if x.withdrawn_at else N_("in use"))} for x in labs]
    return html.Div([html.H3(_("Files"), className="h6"), files_view,
                     html.H3(_("Supplier sustainability declarations"), className="h6 mt-3"),
                     data_grid(DECL_GRID_ID, translated(DECL_COLUMNS), decl_rows, export_name="declarations",
                               search_label=_("Search declarations")),
                     html.H3(_("Laboratory NCVs of fuel lots"), className="h6 mt-3"),
                     data_grid(LAB_GRID_ID, translated(LAB_COLUMNS), lab_rows, export_name="lab-ncvs",
                               search_label=_("Search lab NCVs"))])


def file_rows(files: list, tz) -> list[dict]:  # noqa: ANN001
    """Evidence files as grid rows; the file name links to the download route (which checks the user)."""
    return [{"id": f.id, "for": (f"{source_label(f.source)} {f.month:%Y-%m}" if f.month else
                                 _("declaration {id}", id=f.declaration_id)),
             "file": f.filename, "file__href": download_url(f.id), "file__id": f"evidence-download-{f.id}",
             "type": f.content_type, "bytes": f.size_bytes, "sha256": f.sha256[:16], "sha256_full": f.sha256,
             "by": f.uploaded_by or "", "at": fmt_eat(f.uploaded_at, tz)} for f in files]


def _download(evidence_id: int) -> flask.Response:
    user = web_user()
    if user is None:
        return flask.Response("sign in required", status=401)
    with session_factory()() as s:
        try:
            row = evidence_for_download(s, user, evidence_id)
        except AccessDenied:
            return flask.Response("you may not download this file", status=403)
        except LookupError as exc:
            return flask.Response(str(exc), status=404)
        mime, name = row.content_type, row.filename
        try:  # shared storage: the file may have been uploaded on another web host
            data = read_evidence_file(_store(), row)
        except LookupError:
            return flask.Response("the file is missing from storage", status=404)
    return flask.send_file(io.BytesIO(data), mimetype=mime, as_attachment=True, download_name=name, max_age=0)


def register_evidence_routes(server: flask.Flask) -> None:
    """Add `/evidence/download/<id>` to the Flask server (idempotent)."""
    if "evidence_download" in server.view_functions:
        return
    server.add_url_rule(DOWNLOAD_RULE, endpoint="evidence_download", view_func=_download)


def register(app: dash.Dash) -> None:
    """Attach the Evidence page's callbacks and the download route to `app`."""
    register_evidence_routes(app.server)
    for grid_id in (FILES_GRID_ID, DECL_GRID_ID, LAB_GRID_ID):
        grid_controls(app, grid_id)

    @app.callback(
        Output("evidence-upload-status", "children"),
        Input("evidence-upload", "contents"),
        State("evidence-upload", "filename"),
        State("evidence-factory", "value"),
        State("evidence-month", "value"),
        State("evidence-source", "value"),
        State("evidence-description", "value"),
        prevent_initial_call=True,
    )
    def upload(contents, filename, factory_id, month_text, source, description):  # noqa: ANN001, ANN202
        if not contents:
            raise PreventUpdate
        return upload_energy_evidence(web_user(), factory_id, month_text, source, contents, filename, description)

    @app.callback(
        Output("evidence-declare-status", "children"),
        Input("evidence-declare", "n_clicks"),
        State("evidence-factory", "value"),
        State("evidence-decl-source", "value"),
        State("evidence-decl-supplier", "value"),
        State("evidence-decl-scheme", "value"),
        State("evidence-decl-reference", "value"),
        State("evidence-decl-from", "date"),
        State("evidence-decl-to", "date"),
        prevent_initial_call=True,
    )
    def declare(n_clicks, factory_id, source, supplier, scheme, reference, valid_from, valid_to):  # noqa: ANN001, ANN202
        if not n_clicks:
            raise PreventUpdate
        return record_declaration(web_user(), factory_id, source, supplier, scheme, reference, valid_from, valid_to)

    @app.callback(
        Output("evidence-decl-upload-status", "children"),
        Input("evidence-decl-upload", "contents"),
        State("evidence-decl-upload", "filename"),
        State("evidence-decl-id", "value"),
        prevent_initial_call=True,
    )
    def upload_declaration(contents, filename, declaration_id):  # noqa: ANN001, ANN202
        if not contents:
            raise PreventUpdate
        return upload_declaration_evidence(web_user(), declaration_id, contents, filename)

    @app.callback(
        Output("evidence-lab-status", "children"),
        Input("evidence-lab-record", "n_clicks"),
        State("evidence-lab-decl-id", "value"),
        State("evidence-lab-ncv", "value"),
        State("evidence-lab-basis", "value"),
        State("evidence-lab-moisture", "value"),
        State("evidence-lab-name", "value"),
        State("evidence-lab-cert", "value"),
        State("evidence-lab-file", "value"),
        State("evidence-lab-sampled", "date"),
        prevent_initial_call=True,
    )
    def lab_ncv(n_clicks, decl_id, ncv, basis, moisture, lab, cert, file_id, sampled):  # noqa: ANN001, ANN202
        if not n_clicks:
            raise PreventUpdate
        return record_lab_ncv(web_user(), decl_id, ncv, basis, moisture, lab, cert, file_id, sampled)

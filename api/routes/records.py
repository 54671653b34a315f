"""Node health, emission-factor versions, compliance reports and the audit log."""

from __future__ import annotations

import io
import json
from pathlib import Path

import flask
from flask_openapi3 import APIBlueprint, Tag

from api.deps import db, operation_id, page_info, tz, user
from api.problems import COMMON_RESPONSES, FORBIDDEN
from api.schemas import (
    AuditList,
    AuditOut,
    AuditQuery,
    FactorList,
    FactorOut,
    IdPath,
    NodeList,
    NodesQuery,
    ReportList,
    ReportsQuery,
)
from core.insights.api_queries import visible_factory_id
from core.insights.queries import audit_entries, node_health
from core.models import Report
from core.registry.admin import factor_versions
from core.reporting.reports import read_report_file, report_for_download, visible_reports
from core.storage import cached_store
from core.timeutil import parse_month

bp = APIBlueprint("records", __name__, url_prefix="/api/v1", abp_security=[{"bearer": []}], abp_responses=COMMON_RESPONSES,
                  operation_id_callback=operation_id)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@bp.get("/nodes", summary="Sensor node health", tags=[Tag(name="fleet")], responses={200: NodeList})
def list_nodes(query: NodesQuery):  # noqa: ANN201
    """Every visible active node: status, signal, firmware, buffer, and coverage over 24 h and 30 days."""
    with db() as s:
        if query.factory_id is not None:
            visible_factory_id(s, user(), query.factory_id)
        rows = node_health(s, user(), tz=tz(), factory_id=query.factory_id)
        items = [{k: getattr(n, k) for k in ("device_id", "factory_id", "factory_code", "stack_name", "status",
                                              "online", "rssi_dbm", "firmware", "buffered", "coverage_24h",
                                              "coverage_30d")}
                 | {"last_seen_at": n.last_seen_at.isoformat() if n.last_seen_at else None} for n in rows]
    return {"items": items}


@bp.get("/emission-factors", summary="Every version of every emission factor", tags=[Tag(name="reference")],
        responses={200: FactorList})
def list_emission_factors():  # noqa: ANN201
    """The factor library with citations; versions are never edited, a change is a new version."""
    with db() as s:
        return {"items": [FactorOut.model_validate(f).model_dump(mode="json") for f in factor_versions(s, user())]}


def _report_dict(r: Report) -> dict:
    try:
        versions = json.loads(r.factor_versions) if r.factor_versions else None
    except ValueError:
        versions = None
    return {"id": r.id, "kind": r.kind, "factory_id": r.factory_id, "scope_key": r.scope_key,
            "month": f"{r.month:%Y-%m}", "version": r.version, "status": r.status, "sha256": r.sha256,
            "gwp_set": r.gwp_set, "factor_versions": versions if isinstance(versions, dict) else None,
            "created_at": r.created_at.isoformat(), "generated_at": r.generated_at.isoformat() if r.generated_at else None,
            "download": f"/api/v1/reports/{r.id}/file" if r.status == "done" else None}


@bp.get("/reports", summary="Generated compliance workbooks the token may see", tags=[Tag(name="reports")],
        responses={200: ReportList})
def list_reports(query: ReportsQuery):  # noqa: ANN201
    """Newest first; a factory manager sees only their factory's workbooks (not the network one)."""
    month = parse_month(query.month) if query.month else None
    with db() as s:
        rows = visible_reports(s, user(), month=month, limit=100_000)
        start = (query.page - 1) * query.page_size
        items = [_report_dict(r) for r in rows[start:start + query.page_size]]
    return {"items": items, "paging": page_info(query.page, query.page_size, len(rows))}


@bp.get("/reports/<int:id>/file", summary="Download a workbook (Excel)", tags=[Tag(name="reports")],
        responses={200: {"description": "The .xlsx file; `X-Content-SHA256` is its SHA-256",
                         "content": {XLSX: {"schema": {"type": "string", "format": "binary"}}}}})
def download_report(path: IdPath):  # noqa: ANN201
    """The workbook file; 404 if it does not exist, is not done, or the token's user may not see it."""
    with db() as s:
        try:
            r = report_for_download(s, user(), path.id)
        except PermissionError as exc:  # AccessDenied: answer like a missing report
            raise LookupError(f"no report {path.id}") from exc
        name, sha = Path(r.path).name, r.sha256
        # Shared storage (core.storage): any web host serves a workbook another one (or the worker) wrote.
        app = flask.current_app
        data = read_report_file(cached_store(app.config["CT_CONFIG"], app.config["CT_SESSION_FACTORY"],
                                             app.extensions), r)
    resp = flask.send_file(io.BytesIO(data), mimetype=XLSX, as_attachment=True, download_name=name)
    if sha:
        resp.headers["X-Content-SHA256"] = sha
    return resp


@bp.get("/audit", summary="The audit log, newest first (admins and auditors)", tags=[Tag(name="audit")],
        responses={200: AuditList, **FORBIDDEN})
def list_audit_entries(query: AuditQuery):  # noqa: ANN201
    """Who changed what and when, with old and new values; other roles get 403."""
    with db() as s:
        rows = audit_entries(s, user(), limit=query.limit, factory_id=query.factory_id, action=query.action)
        return {"items": [AuditOut.model_validate(r).model_dump(mode="json") for r in rows]}

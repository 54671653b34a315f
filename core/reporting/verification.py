"""Verifier sign-off: the auditor records a verification statement on one version of an annual report.

Rules, enforced here for every caller (web or CLI): only an active user with the auditor role
signs; only a finished annual report (`period == "year"`, status done) can be signed; the opinion
is one of `OPINIONS`; the statement is 10-4000 characters. The sign-off keeps the SHA-256 of the
file signed, is never edited (a new statement is a new row) and is written to the audit log in
the same transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.access import AccessDenied, UserLike
from core.audit import record_audit
from core.models import ROLE_AUDITOR, Report, ReportVerification
from core.reporting.periods import PERIOD_YEAR
from core.timeutil import utcnow

OPINIONS = (
    "reasonable assurance: unmodified",
    "limited assurance: unmodified",
    "modified (qualified)",
    "adverse",
    "disclaimer of opinion",
)
STATEMENT_MIN_CHARS, STATEMENT_MAX_CHARS = 10, 4000


class VerificationError(ValueError):
    """A sign-off that cannot be recorded as asked; the message says why."""


def can_verify(user: UserLike | None) -> bool:
    """Whether `user` may sign off reports (an active auditor)."""
    return user is not None and bool(getattr(user, "active", False)) and user.role == ROLE_AUDITOR


def sign_off(session: Session, user: UserLike | None, report_id: int, opinion: str, statement: str,
             now: datetime | None = None) -> ReportVerification:
    """Record `user`'s verification of an annual report and audit-log it (the caller commits)."""
    if not can_verify(user):
        raise AccessDenied("only an auditor may sign off a report")
    report = session.get(Report, report_id)
    if report is None:
        raise VerificationError("no such report")
    if report.period != PERIOD_YEAR:
        raise VerificationError("only annual reports are signed off; this is a "
                                f"{report.period or 'month'} report")
    if report.status != "done" or not report.sha256:
        raise VerificationError("the report is not finished; sign the version that is done")
    if opinion not in OPINIONS:
        raise VerificationError(f"opinion must be one of: {'; '.join(OPINIONS)}")
    text = (statement or "").strip()
    if not STATEMENT_MIN_CHARS <= len(text) <= STATEMENT_MAX_CHARS:
        raise VerificationError(f"the statement must be {STATEMENT_MIN_CHARS} to {STATEMENT_MAX_CHARS} characters")
    now = now or utcnow()
    row = ReportVerification(report_id=report.id, report_sha256=report.sha256, verifier_id=getattr(user, "id", None),
                             verifier_username=user.username, opinion=opinion, statement=text, verified_at=now)
    session.add(row)
    record_audit(session, user, "verify", "report", entity_id=str(report.id), at=now,
                 detail=f"{report.scope_key} {report.month.year} v{report.version} sha256={report.sha256}: "
                        f"{opinion}")
    session.flush()
    return row


def verifications_for(session: Session, report_ids: Iterable[int]) -> dict[int, list[ReportVerification]]:
    """Sign-offs per report id, oldest first."""
    out: dict[int, list[ReportVerification]] = defaultdict(list)
    ids = list(report_ids)
    if not ids:
        return out
    for v in session.scalars(sa.select(ReportVerification).where(ReportVerification.report_id.in_(ids))
                             .order_by(ReportVerification.verified_at, ReportVerification.id)):
        out[v.report_id].append(v)
    return out

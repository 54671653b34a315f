"""The audit log: one row per change, written in the same transaction as the change it records."""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.models import AuditLog
from core.timeutil import utcnow


def record_audit(session: Session, user: Any, action: str, entity: str, **fields: Any) -> AuditLog:
    """Add one audit-log row (the caller commits); `user` is any object with `id` and `username`, or None."""
    row = AuditLog(
        at=fields.pop("at", None) or utcnow(),
        user_id=getattr(user, "id", None),
        username=fields.pop("username", None) or getattr(user, "username", None),
        action=action,
        entity=entity,
        **fields,
    )
    session.add(row)
    return row


class StaleEdit(ValueError):
    """The record changed since the page (or API client) read it: reload before saving again.

    Optimistic concurrency (issue 18): each editable record carries a version; a save, submit,
    approve or return names the version its author saw, and a different one is refused with who
    changed the record and when, never silently overwritten.
    """

    def __init__(self, message: str, current_version: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.current_version = current_version


def last_change(session: Session, entity: str, entity_id: str) -> AuditLog | None:
    """Return the newest audit-log row of one record (who changed it last, and when), if any."""
    return session.scalar(
        sa.select(AuditLog).where(AuditLog.entity == entity, AuditLog.entity_id == entity_id)
        .order_by(AuditLog.at.desc(), AuditLog.id.desc()).limit(1)
    )


def stale_message(session: Session, what: str, entity: str, entity_id: str, tz: tzinfo | None = None) -> str:
    """Return "<what> was changed by X at T — reload …" from the audit log (the session must be usable)."""
    row = last_change(session, entity, entity_id)
    if row is None:
        return f"{what} was changed by someone else since you opened it: reload the page and check it again."
    at = row.at.astimezone(tz) if tz is not None and row.at is not None else row.at
    when = f"{at:%Y-%m-%d %H:%M}" if at is not None else "an unknown time"
    who = row.username or "another user"
    return (f"{what} was changed by {who} at {when} ({row.action}) since you opened it: reload the page to "
            f"see the current figures, then try again.")

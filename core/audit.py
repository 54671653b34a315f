"""The audit log: one row per change, written in the same transaction as the change it records."""

from __future__ import annotations

from typing import Any

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

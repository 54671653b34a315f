"""Server-side web sessions: the signed cookie carries a random token; the database says whether it still counts.

A session is valid while its row has no `ended_at`, its user is active, it was used within
IDLE_TIMEOUT and started within ABSOLUTE_TIMEOUT. It ends on sign-out, on a password change, on
the account's deactivation and on an admin's "sign out everywhere"; a saved copy of the cookie
is worthless afterwards. Only the SHA-256 of the token is stored. The caller commits.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.models import User, WebSession
from core.timeutil import utcnow

IDLE_TIMEOUT = timedelta(hours=2)  # a workday's pause (lunch, a meeting) but not overnight
ABSOLUTE_TIMEOUT = timedelta(hours=12)  # one working day: sign in again every morning
TOUCH_EVERY = timedelta(minutes=1)  # write last_seen_at at most this often (not on every callback)


def token_id(token: str) -> str:
    """Return the stored id of a session token (its SHA-256)."""
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(session: Session, user_id: int, ip: str | None = None, user_agent: str | None = None,
                  now: datetime | None = None) -> str:
    """Record a new session for `user_id`; return the token for the cookie."""
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    session.add(WebSession(id=token_id(token), user_id=user_id, created_at=now, last_seen_at=now,
                           ip=(ip or "")[:64] or None, user_agent=(user_agent or "")[:200] or None))
    return token


def check_session(session: Session, token: str | None, now: datetime | None = None) -> tuple[WebSession, User] | None:
    """Return (session row, user) while the session counts; end it (and return None) once it timed out."""
    if not isinstance(token, str) or not token or len(token) > 100:
        return None
    now = now or utcnow()
    row = session.get(WebSession, token_id(token))
    if row is None or row.ended_at is not None:
        return None
    reason = None
    if now - row.created_at >= ABSOLUTE_TIMEOUT:
        reason = "absolute timeout"
    elif now - row.last_seen_at >= IDLE_TIMEOUT:
        reason = "idle timeout"
    user = session.get(User, row.user_id)
    if reason is None and (user is None or not user.active):
        reason = "account deactivated"
    if reason is not None:
        row.ended_at, row.ended_reason = now, reason
        session.commit()
        return None
    if now - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = now
        session.commit()
    return row, user


def end_session(session: Session, token: str | None, reason: str = "signed out", now: datetime | None = None) -> bool:
    """End the session of `token`; return whether one was open."""
    if not isinstance(token, str) or not token:
        return False
    row = session.get(WebSession, token_id(token))
    if row is None or row.ended_at is not None:
        return False
    row.ended_at, row.ended_reason = now or utcnow(), reason[:40]
    return True


def end_user_sessions(session: Session, user_id: int, reason: str, now: datetime | None = None) -> int:
    """End every open session of `user_id`; return how many."""
    result = session.execute(
        sa.update(WebSession)
        .where(WebSession.user_id == user_id, WebSession.ended_at.is_(None))
        .values(ended_at=now or utcnow(), ended_reason=reason[:40])
    )
    return result.rowcount or 0


def open_sessions(session: Session, user_id: int, now: datetime | None = None) -> int:
    """Return how many sessions of `user_id` are open and not timed out."""
    now = now or utcnow()
    return session.scalar(
        sa.select(sa.func.count()).select_from(WebSession).where(
            WebSession.user_id == user_id, WebSession.ended_at.is_(None),
            WebSession.created_at > now - ABSOLUTE_TIMEOUT, WebSession.last_seen_at > now - IDLE_TIMEOUT)
    ) or 0

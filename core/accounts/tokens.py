"""Personal API tokens: created once, stored hashed, revocable, each acting as its user.

- A token is `ct_` + 43 URL-safe characters (256 random bits). Only its SHA-256 is stored: with
  that much entropy a slow password hash buys nothing, and a fast one lets every request look the
  token up by an indexed column instead of checking hashes one by one.
- A token acts as its user: same role, same factory, same `core.access` scoping as the portals.
  A deactivated user's tokens stop working at once; a revoked or expired token never works again.
- Failed tokens are throttled like sign-ins: each failure costs FAILURE_DELAY_S and an address
  that has failed MAX_IP_FAILURES times within IP_WINDOW is refused (429) until the window passes.
- Last use is written at most once per LAST_USED_RESOLUTION per token, so reads do not turn every
  API call into a write.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.access import UserLike, is_admin
from core.accounts.auth import IP_WINDOW, MAX_IP_FAILURES, IpThrottle, WebUser
from core.audit import record_audit
from core.models import ApiToken, User
from core.timeutil import utcnow

TOKEN_PREFIX = "ct_"
PREFIX_SHOWN = 10  # characters of the token kept in clear to tell tokens apart in lists
MAX_EXPIRES_DAYS = 3650
MAX_NAME_LENGTH = 80
LAST_USED_RESOLUTION = timedelta(minutes=1)
FAILURE_DELAY_S = 0.5  # every failed token costs the guesser this long; tests patch it

TOKEN_THROTTLE = IpThrottle(MAX_IP_FAILURES, IP_WINDOW)


class TokenError(ValueError):
    """A token request a person can fix (bad name, unknown user, not theirs)."""


@dataclass(frozen=True)
class TokenCheck:
    """The outcome of checking a bearer token: a user, or why not (`status` 401 or 429)."""

    user: WebUser | None
    token_id: int | None
    message: str
    status: int


def hash_token(token: str) -> str:
    """Return the SHA-256 hex digest of `token`."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def create_token(session: Session, user_row: User, name: str, expires_days: int | None = None,
                 now: datetime | None = None, actor: UserLike | None = None) -> tuple[ApiToken, str]:
    """Create a token for `user_row`; return the row and the token text (shown once, never stored)."""
    now = now or utcnow()
    name = (name or "").strip()
    if not name or len(name) > MAX_NAME_LENGTH or any(ord(ch) < 0x20 for ch in name):
        raise TokenError(f"a token name is 1 to {MAX_NAME_LENGTH} printable characters")
    if expires_days is not None and not (1 <= expires_days <= MAX_EXPIRES_DAYS):
        raise TokenError(f"expiry is 1 to {MAX_EXPIRES_DAYS} days")
    if not user_row.active:
        raise TokenError(f"user {user_row.username} is not active")
    text = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user_row.id, name=name, token_sha256=hash_token(text), prefix=text[:PREFIX_SHOWN],
                   created_at=now, expires_at=now + timedelta(days=expires_days) if expires_days else None)
    session.add(row)
    session.flush()
    record_audit(session, actor or user_row, "create", "api_token", entity_id=str(row.id),
                 detail=f"token {row.prefix}… '{name}' for {user_row.username}"
                        + (f", expires in {expires_days} days" if expires_days else ", no expiry"))
    return row, text


def list_tokens(session: Session, user: UserLike) -> list[ApiToken]:
    """Return `user`'s own tokens, newest first (revoked ones included, marked)."""
    return list(session.scalars(sa.select(ApiToken).where(ApiToken.user_id == user.id)
                                .order_by(ApiToken.id.desc())))


def revoke_token(session: Session, user: UserLike, token_id: int, now: datetime | None = None) -> ApiToken:
    """Revoke one of `user`'s tokens (an admin may revoke anyone's); raise TokenError if not found."""
    row = session.get(ApiToken, token_id)
    if row is None or (row.user_id != user.id and not is_admin(user)):
        raise TokenError("no such token")
    if row.revoked_at is None:
        row.revoked_at = now or utcnow()
        record_audit(session, user, "revoke", "api_token", entity_id=str(row.id), detail=f"token {row.prefix}…")
    return row


def check_token(session: Session, token: str, ip: str = "unknown", now: datetime | None = None,
                throttle: IpThrottle = TOKEN_THROTTLE, sleep: Callable[[float], None] = time.sleep) -> TokenCheck:
    """Return the user a bearer token acts as, or a refusal; record last use; commit."""
    now = now or utcnow()
    if throttle.blocked(ip, now):
        return TokenCheck(None, None, "Too many failed tokens from this address. Try again in a few minutes.", 429)
    row = None
    if token.startswith(TOKEN_PREFIX) and len(token) <= 100:
        row = session.scalar(sa.select(ApiToken).where(ApiToken.token_sha256 == hash_token(token)))
    owner = session.get(User, row.user_id) if row is not None else None
    reason = None
    if row is None or owner is None:
        reason = "unknown token"
    elif row.revoked_at is not None:
        reason = "revoked token"
    elif row.expires_at is not None and row.expires_at <= now:
        reason = "expired token"
    elif not owner.active:
        reason = "inactive user"
    if reason is not None:
        throttle.fail(ip, now)
        record_audit(session, owner, "api_token_failed", "api_token",
                     entity_id=str(row.id) if row is not None else None, detail=f"{reason}; from {ip}")
        session.commit()
        sleep(FAILURE_DELAY_S)
        return TokenCheck(None, None, "The token is unknown, revoked or expired.", 401)
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION or row.last_used_ip != ip[:64]:
        row.last_used_at = now
        row.last_used_ip = ip[:64]
        session.commit()
    return TokenCheck(WebUser.from_row(owner), row.id, "ok", 200)

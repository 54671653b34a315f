"""Authorization in the data layer: which factories a user may see, and what they may change.

Every query that returns factory data is scoped with `allowed_factory_ids`; callbacks and routes
call `require_factory` before touching a factory. Hiding a page is never the protection.
"""

from __future__ import annotations

from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.models import ROLE_ADMIN, ROLE_AUDITOR, ROLE_FACTORY_MANAGER, ROLE_HQ, Factory


class AccessDenied(PermissionError):
    """The signed-in user may not see or do this."""


class UserLike(Protocol):
    id: int
    role: str
    factory_id: int | None
    active: bool


def allowed_factory_ids(session: Session, user: UserLike | None) -> list[int]:
    """Factory ids `user` may read: their own for a factory manager, all for HQ, admin, auditor."""
    if user is None or not getattr(user, "active", False):
        return []
    if user.role == ROLE_FACTORY_MANAGER:
        return [user.factory_id] if user.factory_id is not None else []
    if user.role in (ROLE_HQ, ROLE_ADMIN, ROLE_AUDITOR):
        return list(session.scalars(sa.select(Factory.id).order_by(Factory.id)))
    return []


def can_read_factory(user: UserLike | None, factory_id: int) -> bool:
    """Whether `user` may read data of factory `factory_id` (no query needed)."""
    if user is None or not getattr(user, "active", False):
        return False
    if user.role == ROLE_FACTORY_MANAGER:
        return user.factory_id == factory_id
    return user.role in (ROLE_HQ, ROLE_ADMIN, ROLE_AUDITOR)


def require_factory(user: UserLike | None, factory_id: int) -> None:
    """Raise AccessDenied unless `user` may read factory `factory_id`."""
    if not can_read_factory(user, factory_id):
        raise AccessDenied("you may not see this factory")


def can_enter_data(user: UserLike | None, factory_id: int) -> bool:
    """Factory managers enter their own factory's monthly data; admins may correct any."""
    if user is None or not getattr(user, "active", False):
        return False
    if user.role == ROLE_FACTORY_MANAGER:
        return user.factory_id == factory_id
    return user.role == ROLE_ADMIN


def can_approve(user: UserLike | None) -> bool:
    """HQ and admins approve monthly data and generate reports."""
    return user is not None and getattr(user, "active", False) and user.role in (ROLE_HQ, ROLE_ADMIN)


def is_admin(user: UserLike | None) -> bool:
    return user is not None and getattr(user, "active", False) and user.role == ROLE_ADMIN

"""Users and password hashing (werkzeug's salted scrypt/pbkdf2 hashes)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from core.models import ROLE_FACTORY_MANAGER, ROLES, Factory, User

MIN_PASSWORD_LENGTH = 8


class UserError(ValueError):
    """A user cannot be created or changed as asked; the message says why."""


def hash_password(password: str) -> str:
    """Return a salted hash of `password`."""
    return generate_password_hash(password)


def verify_password(user: User, password: str) -> bool:
    """Check `password` against the user's stored hash."""
    return check_password_hash(user.password_hash, password)


def create_user(
    session: Session,
    username: str,
    password: str,
    role: str,
    factory_code: str | None = None,
    full_name: str | None = None,
) -> User:
    """Create a user; a factory manager must name their factory."""
    username = username.strip()
    if not username:
        raise UserError("username is empty")
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    if session.scalar(sa.select(User.id).where(User.username == username)) is not None:
        raise UserError(f"user {username!r} exists already")
    factory_id = None
    if role == ROLE_FACTORY_MANAGER:
        if not factory_code:
            raise UserError("a factory manager needs a factory")
        factory_id = session.scalar(sa.select(Factory.id).where(Factory.code == factory_code))
        if factory_id is None:
            raise UserError(f"unknown factory {factory_code!r}")
    user = User(
        username=username,
        full_name=full_name,
        password_hash=hash_password(password),
        role=role,
        factory_id=factory_id,
    )
    session.add(user)
    session.flush()
    return user


LANGUAGE_CODES = ("en", "sw")  # the portal's languages (English is the source, Swahili the translation)


def set_language(session: Session, user_id: int, language: str | None) -> None:
    """Store the portal language a user chose (None: follow the browser again).

    A preference, not an admin edit: the row's version (issue 18) is left as it is.
    """
    if language is not None and language not in LANGUAGE_CODES:
        raise UserError(f"unknown language {language!r}; languages: {', '.join(LANGUAGE_CODES)}")
    session.execute(sa.update(User).where(User.id == user_id).values(language=language))

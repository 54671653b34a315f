"""Administration: users, factories, stacks, devices (their lifecycle) and emission factors, each change audited.

Every function checks that the caller is an admin (core.access.is_admin) before it changes
anything; the caller commits.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, tzinfo
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.access import AccessDenied, UserLike, is_admin
from core.accounts.sessions import end_user_sessions
from core.accounts.users import MIN_PASSWORD_LENGTH, UserError, create_user, hash_password
from core.audit import StaleEdit, record_audit, stale_message
from core.fleet import lifecycle
from core.inventory.factors import add_factor_version, latest_factors
from core.models import (
    ROLE_FACTORY_MANAGER,
    ROLES,
    Device,
    DeviceAssignment,
    EmissionFactor,
    Factory,
    FactorySiteVersion,
    Stack,
    StackVersion,
    User,
)
from core.timeutil import DEFAULT_TZ, local_date, utcnow
from core.validation import FieldError, int_in, local_datetime, number_in, text, username

# Every numeric field an admin can set, with its allowed range (inclusive) and unit. The ranges
# are the physically possible, with room: a value outside is a typing error, never a real figure.
STACK_FIELDS = {
    "diameter_m": (0.05, 10.0),
    "moisture_fraction": (0.0, 0.5),
    "velocity_profile_factor": (0.3, 1.5),
}
FACTORY_FIELDS = {  # (low, high, unit); the target's low end is open (a target of 0 is impossible)
    "target_kg_co2e_per_kg": (0.0, 100.0, "kg CO2e/kg made tea"),
    "firewood_density_kg_m3": (150.0, 1000.0, "kg/m³"),
}
SAMPLE_INTERVAL_RANGE_S = (1.0, 3600.0)
# Emission-factor fields (IPCC 2006 Vol 2 values sit well inside these; domain.md §2).
FACTOR_RANGES: dict[str, tuple[float, float, str]] = {
    "ncv_mj_per_kg": (1.0, 150.0, "MJ/kg"),
    "co2_kg_per_tj": (0.0, 150_000.0, "kg/TJ"),
    "ch4_kg_per_tj": (0.0, 1_000.0, "kg/TJ"),
    "n2o_kg_per_tj": (0.0, 100.0, "kg/TJ"),
    "biomass_fraction": (0.0, 1.0, ""),
    "density_kg_per_l": (0.3, 1.5, "kg/L"),
    "kg_co2_per_kwh": (0.0, 2.0, "kg CO2/kWh"),
}
FACTOR_NUMERIC_FIELDS = tuple(FACTOR_RANGES)
FACTOR_TEXT_LIMITS = {"label": 200, "source": 300, "table_ref": 200, "citation": 1000}
FACTOR_TEXT_FIELDS = tuple(FACTOR_TEXT_LIMITS)
FACTOR_YEAR_RANGE = (1990, 2100)
FULL_NAME_MAX_CHARS = 120
STACK_NAME_MAX_CHARS = 60
LIFECYCLE_REASON_MAX_CHARS = 200  # device_assignment.commission_reason / retire_reason


class AdminError(ValueError):
    """An admin change cannot be made as asked; the message says why."""


def _require_admin(user: UserLike | None) -> None:
    if not is_admin(user):
        raise AccessDenied("only admins change users, factories, stacks, devices and factors")


def _s(v) -> str | None:
    return None if v is None else (f"{v:g}" if isinstance(v, float) else str(v))


def list_users(session: Session, user: UserLike | None) -> list[User]:
    """Return all users (admins and auditors)."""
    if user is None or user.role not in ("admin", "auditor") or not user.active:
        raise AccessDenied("only admins and auditors list users")
    return list(session.scalars(sa.select(User).order_by(User.username)))


def _check_password(password: object) -> None:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise AdminError(f"Password: at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > PASSWORD_MAX_CHARS:
        raise AdminError(f"Password: at most {PASSWORD_MAX_CHARS} characters.")


PASSWORD_MAX_CHARS = 200


def admin_create_user(session: Session, user: UserLike | None, username_text: str, password: str, role: str,
                      factory_code: str | None = None, full_name: str | None = None) -> User:
    """Create a user and audit it."""
    _require_admin(user)
    try:
        name = username(username_text, "Username")
        full = text(full_name, "Full name", FULL_NAME_MAX_CHARS)
        _check_password(password)
        row = create_user(session, name, password, role if isinstance(role, str) else "", factory_code, full)
    except FieldError as exc:
        raise AdminError(exc.message) from exc
    except UserError as exc:
        raise AdminError(str(exc)) from exc
    record_audit(session, user, "create", "user", entity_id=row.username, factory_id=row.factory_id,
                 field="role", new_value=role)
    return row


def reset_password(session: Session, user: UserLike | None, user_id: int, new_password: str) -> User:
    """Set a new password (and unlock the account); the password itself is never logged."""
    _require_admin(user)
    row = session.get(User, user_id)
    if row is None:
        raise AdminError("no such user")
    _check_password(new_password)
    row.password_hash = hash_password(new_password)
    row.failed_logins = 0
    row.locked_until = None
    ended = end_user_sessions(session, row.id, "password changed")
    record_audit(session, user, "update", "user", entity_id=row.username, field="password",
                 old_value="***", new_value="***", detail=f"password reset; {ended} session(s) ended")
    return row


def admin_end_sessions(session: Session, user: UserLike | None, user_id: int) -> tuple[User, int]:
    """Sign a user out everywhere (every open session ends now); return the user and how many ended."""
    _require_admin(user)
    row = session.get(User, user_id)
    if row is None:
        raise AdminError("no such user")
    ended = end_user_sessions(session, row.id, "signed out by an admin")
    record_audit(session, user, "update", "user", entity_id=row.username, field="sessions",
                 detail=f"signed out everywhere; {ended} session(s) ended")
    return row, ended


def _for_edit(session: Session, model: type, key: Any, expected_version: int | None, entity: str,
              entity_id: Callable[[Any], str], what: str) -> Any:
    """Read a row for an admin edit: locked until the commit (a concurrent edit waits, then sees
    this one's result), and refused with StaleEdit when `expected_version` (the version the admin
    saw) is no longer the stored one. None when there is no such row."""
    row = session.get(model, key, with_for_update=True, populate_existing=True)
    if row is not None and expected_version is not None and expected_version != row.version:
        label = entity_id(row)
        raise StaleEdit(stale_message(session, f"{what} {label}", entity, label), row.version)
    return row


def _values(row: Any) -> tuple:
    """The row's column values but its version (to tell whether an edit changed anything)."""
    return tuple(getattr(row, c.key) for c in row.__table__.columns if c.key != "version")


def _bump(row: Any, before: tuple) -> None:
    """Count one admin edit of `row` when it changed anything."""
    if _values(row) != before:
        row.version = (row.version or 0) + 1


def update_user(session: Session, user: UserLike | None, user_id: int, role: str | None = None,
                factory_id: int | None = None, active: bool | None = None,
                expected_version: int | None = None) -> User:
    """Change a user's role, factory or active flag; audit each change.

    `expected_version`: the user's version the admin saw; a user changed since is refused (StaleEdit).
    """
    _require_admin(user)
    row = _for_edit(session, User, user_id, expected_version, "user", lambda r: r.username, "The user")
    if row is None:
        raise AdminError("no such user")
    before = _values(row)
    if role is not None:
        if role not in ROLES:
            raise AdminError(f"unknown role {role!r}")
        if row.id == user.id and role != row.role:
            raise AdminError("you cannot change your own role")
        if role != row.role:
            record_audit(session, user, "update", "user", entity_id=row.username, field="role",
                         old_value=row.role, new_value=role)
            row.role = role
    new_factory = factory_id if row.role == ROLE_FACTORY_MANAGER else None
    if row.role == ROLE_FACTORY_MANAGER and new_factory is None:
        new_factory = row.factory_id
    if row.role == ROLE_FACTORY_MANAGER and (new_factory is None or session.get(Factory, new_factory) is None):
        raise AdminError("a factory manager needs a factory")
    if new_factory != row.factory_id:
        record_audit(session, user, "update", "user", entity_id=row.username, field="factory_id",
                     old_value=_s(row.factory_id), new_value=_s(new_factory), factory_id=new_factory)
        row.factory_id = new_factory
    if active is not None and active != row.active:
        if row.id == user.id and not active:
            raise AdminError("you cannot deactivate yourself")
        record_audit(session, user, "update", "user", entity_id=row.username, field="active",
                     old_value=str(row.active), new_value=str(active))
        row.active = active
        if not active:
            end_user_sessions(session, row.id, "account deactivated")
    _bump(row, before)
    return row


def set_factory_target(session: Session, user: UserLike | None, factory_id: int, target: float | None,
                       firewood_density_kg_m3: float | None = None, expected_version: int | None = None) -> Factory:
    """Set a factory's intensity target (kg CO2e/kg made tea) and default firewood density."""
    _require_admin(user)
    f = _for_edit(session, Factory, factory_id, expected_version, "factory", lambda r: r.code, "The factory")
    if f is None:
        raise AdminError("no such factory")
    before = _values(f)
    try:
        lo, hi, unit = FACTORY_FIELDS["target_kg_co2e_per_kg"]
        target = number_in(target, "Target", lo, hi, unit, lo_open=True)
        lo, hi, unit = FACTORY_FIELDS["firewood_density_kg_m3"]
        firewood_density_kg_m3 = number_in(firewood_density_kg_m3, "Firewood density", lo, hi, unit)
    except FieldError as exc:
        raise AdminError(exc.message) from exc
    for name, new in (("target_kg_co2e_per_kg", target), ("firewood_density_kg_m3", firewood_density_kg_m3)):
        old = getattr(f, name)
        if new is not None and new != old:
            record_audit(session, user, "update", "factory", entity_id=f.code, factory_id=f.id, field=name,
                         old_value=_s(old), new_value=_s(new))
            setattr(f, name, new)
    _bump(f, before)
    return f


STACK_PARAMETERS = ("diameter_m", "moisture_fraction", "dry_basis", "velocity_profile_factor")
REASON_MAX_CHARS = 500


def stack_versions(session: Session, stack_id: int) -> list[StackVersion]:
    """Every parameter version of a stack, oldest first."""
    return list(session.scalars(sa.select(StackVersion).where(StackVersion.stack_id == stack_id)
                                .order_by(StackVersion.version)))


def _add_stack_version(session: Session, st: Stack, values: dict, valid_from: date | None, reason: str | None,
                       by: str | None) -> StackVersion:
    versions = stack_versions(session, st.id)
    if not versions:  # keep what was in force before the first recorded change
        base = StackVersion(stack_id=st.id, version=1, valid_from=None, reason="registered values before the first "
                            "recorded change", created_by=by, created_at=utcnow(),
                            **{k: getattr(st, k) for k in STACK_PARAMETERS})
        session.add(base)
        versions = [base]
    current = {k: getattr(st, k) for k in STACK_PARAMETERS}
    row = StackVersion(stack_id=st.id, version=versions[-1].version + 1, valid_from=valid_from, reason=reason,
                       created_by=by, created_at=utcnow(), **(current | values))
    session.add(row)
    return row


def update_stack(session: Session, user: UserLike | None, stack_id: int, valid_from: date | None = None,
                 reason: str | None = None, expected_version: int | None = None, **values) -> Stack:
    """Change a stack's parameters within physical bounds; every change is audited.

    A change of diameter, moisture, analyser basis or profile factor adds an effective-dated
    parameter version (in force from `valid_from`, default today; never a future date, since the
    listener converts with today's values) so reports of earlier months keep the values they used.
    """
    _require_admin(user)
    st = _for_edit(session, Stack, stack_id, expected_version, "stack", lambda r: str(r.id), "The stack")
    if st is None:
        raise AdminError("no such stack")
    before = _values(st)
    today = local_date(utcnow())
    if valid_from is not None and (not isinstance(valid_from, date) or valid_from > today):
        raise AdminError("In force from: a date on or before today")
    if reason is not None:
        reason = reason.strip()[:REASON_MAX_CHARS] or None
    param_changes: dict = {}
    for name, value in values.items():
        if value is None:
            continue
        if name == "dry_basis":
            new = bool(value)
        elif name == "name":
            try:
                new = text(value, "Stack name", STACK_NAME_MAX_CHARS, required=True)
            except FieldError as exc:
                raise AdminError(exc.message) from exc
        elif name in STACK_FIELDS:
            lo, hi = STACK_FIELDS[name]
            try:
                new = number_in(value, name, lo, hi)
            except FieldError as exc:
                raise AdminError(exc.message) from exc
        else:
            raise AdminError(f"not a stack parameter: {name}")
        old = getattr(st, name)
        if new != old:
            record_audit(session, user, "update", "stack", entity_id=str(st.id), factory_id=st.factory_id,
                         field=name, old_value=_s(old), new_value=_s(new),
                         detail=f"in force from {valid_from or today}" if name in STACK_PARAMETERS else None)
            if name in STACK_PARAMETERS:
                param_changes[name] = new
            else:
                setattr(st, name, new)
    if param_changes:
        _add_stack_version(session, st, param_changes, valid_from or today, reason, getattr(user, "username", None))
        for name, new in param_changes.items():
            setattr(st, name, new)
    _bump(st, before)
    return st


ALTITUDE_RANGE_M = (0.0, 4000.0)  # KTDA factories sit at about 1,200–2,300 m (domain.md §0.3)


def set_factory_altitude(session: Session, user: UserLike | None, factory_id: int, altitude_m: float,
                         valid_from: date | None = None, reason: str | None = None) -> Factory:
    """Change a factory's altitude (its ISA barometric pressure) from a date (default today; never later).

    Adds an effective-dated site version (the first change also keeps the registered altitude as
    the baseline), so reports of earlier months keep the pressure they used; audited.
    """
    _require_admin(user)
    f = session.get(Factory, factory_id)
    if f is None:
        raise AdminError("no such factory")
    try:
        altitude_m = number_in(altitude_m, "Altitude", *ALTITUDE_RANGE_M, "m", required=True)
    except FieldError as exc:
        raise AdminError(exc.message) from exc
    today = local_date(utcnow())
    if valid_from is not None and (not isinstance(valid_from, date) or valid_from > today):
        raise AdminError("In force from: a date on or before today")
    if altitude_m == f.altitude_m:
        return f
    by = getattr(user, "username", None)
    versions = list(session.scalars(sa.select(FactorySiteVersion).where(FactorySiteVersion.factory_id == f.id)
                                    .order_by(FactorySiteVersion.version)))
    if not versions:
        versions = [FactorySiteVersion(factory_id=f.id, version=1, valid_from=None, altitude_m=f.altitude_m,
                                       reason="registered altitude before the first recorded change", created_by=by,
                                       created_at=utcnow())]
        session.add(versions[0])
    session.add(FactorySiteVersion(factory_id=f.id, version=versions[-1].version + 1, valid_from=valid_from or today,
                                   altitude_m=altitude_m, reason=(reason or "").strip()[:REASON_MAX_CHARS] or None,
                                   created_by=by, created_at=utcnow()))
    record_audit(session, user, "update", "factory", entity_id=f.code, factory_id=f.id, field="altitude_m",
                 old_value=_s(f.altitude_m), new_value=_s(altitude_m), detail=f"in force from {valid_from or today}")
    f.altitude_m = altitude_m
    return f


def _check_device_id(device_id: object) -> str:
    try:
        device_id = text(device_id, "Device id", 40, required=True)
    except FieldError as exc:
        raise AdminError(exc.message) from exc
    if not device_id.isascii() or any(c in device_id for c in "/+# "):
        raise AdminError("Device id: 1–40 characters (ASCII) without spaces, '/', '+' or '#'.")
    return device_id


def _lifecycle_fields(at: object, reason: object, tz: tzinfo) -> tuple[datetime | None, str | None]:
    """Validate a lifecycle change's local time (empty: now) and reason."""
    try:
        when = local_datetime(at, "Effective time", tz) if not isinstance(at, datetime) else at
        why = text(reason, "Reason", LIFECYCLE_REASON_MAX_CHARS)
    except FieldError as exc:
        raise AdminError(exc.message) from exc
    return when, why


def _device(session: Session, device_id: object) -> Device:
    d = session.get(Device, device_id) if isinstance(device_id, str) else None
    if d is None:
        raise AdminError("no such device")
    return d


def add_device(session: Session, user: UserLike | None, device_id: str, stack_id: int, sample_interval_s: float = 60.0,
               commissioned_at: datetime | str | None = None, reason: str | None = None,
               tz: tzinfo = DEFAULT_TZ) -> Device:
    """Register a sensor node and commission it on a stack from `commissioned_at` (default now).

    Expected coverage counts the node only from its commissioning, so past figures do not change.
    """
    _require_admin(user)
    device_id = _check_device_id(device_id)
    try:
        lo, hi = SAMPLE_INTERVAL_RANGE_S
        sample_interval_s = number_in(sample_interval_s, "Sample interval", lo, hi, "s", required=True)
    except FieldError as exc:
        raise AdminError(exc.message) from exc
    at, why = _lifecycle_fields(commissioned_at, reason, tz)
    if session.get(Device, device_id) is not None:
        raise AdminError(f"device {device_id} exists already")
    st = session.get(Stack, stack_id) if isinstance(stack_id, int) else None
    if st is None:
        raise AdminError("no such stack")
    d = Device(id=device_id, factory_id=st.factory_id, stack_id=st.id, sample_interval_s=sample_interval_s, active=True)
    session.add(d)
    try:
        row = lifecycle.commission(session, d, st, at, user.username, why or "registered", new=True)
    except lifecycle.LifecycleError as exc:
        raise AdminError(str(exc)) from exc
    record_audit(session, user, "create", "device", entity_id=device_id, factory_id=st.factory_id,
                 field="stack_id", new_value=str(st.id),
                 detail=f"commissioned {row.commissioned_at:%Y-%m-%d %H:%M} UTC" + (f"; {why}" if why else ""))
    return d


def set_device_active(session: Session, user: UserLike | None, device_id: str, active: bool,
                      at: datetime | str | None = None, reason: str | None = None, tz: tzinfo = DEFAULT_TZ,
                      expected_version: int | None = None) -> Device:
    """Retire a node (close its assignment; readings are kept) or put it back on its stack."""
    _require_admin(user)
    d = _device(session, device_id)
    d = _for_edit(session, Device, d.id, expected_version, "device", lambda r: r.id, "The node")
    when, why = _lifecycle_fields(at, reason, tz)
    if d.active != active:
        try:
            if active:
                st = session.get(Stack, d.stack_id)
                lifecycle.commission(session, d, st, when, user.username, why or "reactivated")
            else:
                lifecycle.retire(session, d, when, user.username, why or "retired")
        except lifecycle.LifecycleError as exc:
            raise AdminError(str(exc)) from exc
        record_audit(session, user, "update", "device", entity_id=d.id, factory_id=d.factory_id, field="active",
                     old_value=str(not active), new_value=str(active), detail=why)
        d.version = (d.version or 0) + 1
    return d


def move_device(session: Session, user: UserLike | None, device_id: str, stack_id: int,
                at: datetime | str | None = None, reason: str | None = None, tz: tzinfo = DEFAULT_TZ) -> Device:
    """Move a node to another stack (any factory) from `at`: its history on the old stack is kept."""
    _require_admin(user)
    d = _device(session, device_id)
    st = session.get(Stack, stack_id) if isinstance(stack_id, int) else None
    if st is None:
        raise AdminError("no such stack")
    when, why = _lifecycle_fields(at, reason, tz)
    old_stack, old_factory = d.stack_id, d.factory_id
    try:
        lifecycle.move(session, d, st, when, user.username, why)
    except lifecycle.LifecycleError as exc:
        raise AdminError(str(exc)) from exc
    record_audit(session, user, "update", "device", entity_id=d.id, factory_id=st.factory_id, field="stack_id",
                 old_value=str(old_stack), new_value=str(st.id),
                 detail=f"moved from factory {old_factory} to {st.factory_id}" + (f"; {why}" if why else ""))
    return d


def replace_device(session: Session, user: UserLike | None, old_device_id: str, new_device_id: str,
                   sample_interval_s: float | None = None, at: datetime | str | None = None, reason: str | None = None,
                   tz: tzinfo = DEFAULT_TZ) -> Device:
    """Replace a node by a new one on the same stack at the same instant (old retired, new commissioned)."""
    _require_admin(user)
    old = _device(session, old_device_id)
    new_id = _check_device_id(new_device_id)
    if session.get(Device, new_id) is not None:
        raise AdminError(f"device {new_id} exists already")
    try:
        lo, hi = SAMPLE_INTERVAL_RANGE_S
        interval = number_in(sample_interval_s, "Sample interval", lo, hi, "s") or old.sample_interval_s
    except FieldError as exc:
        raise AdminError(exc.message) from exc
    when, why = _lifecycle_fields(at, reason, tz)
    new = Device(id=new_id, factory_id=old.factory_id, stack_id=old.stack_id, sample_interval_s=interval, active=True)
    session.add(new)
    try:
        row = lifecycle.replace(session, old, new, when, user.username, why)
    except lifecycle.LifecycleError as exc:
        raise AdminError(str(exc)) from exc
    record_audit(session, user, "update", "device", entity_id=old.id, factory_id=old.factory_id, field="active",
                 old_value="True", new_value="False", detail=f"replaced by {new_id}" + (f"; {why}" if why else ""))
    record_audit(session, user, "create", "device", entity_id=new_id, factory_id=new.factory_id, field="stack_id",
                 new_value=str(new.stack_id),
                 detail=f"replaces {old.id}; commissioned {row.commissioned_at:%Y-%m-%d %H:%M} UTC")
    return new


def device_history(session: Session, user: UserLike | None, device_id: str) -> list[DeviceAssignment]:
    """A node's assignments, oldest first (HQ, admins and auditors: they see every factory)."""
    if user is None or not user.active or user.role not in ("hq", "admin", "auditor"):
        raise AccessDenied("only HQ, admins and auditors read a node's history")
    return lifecycle.history(session, _device(session, device_id).id)


def factor_versions(session: Session, user: UserLike | None) -> list[EmissionFactor]:
    """Return every version of every factor (anyone signed in may read the library)."""
    if user is None or not user.active:
        raise AccessDenied("sign in first")
    return list(session.scalars(sa.select(EmissionFactor).order_by(EmissionFactor.code, EmissionFactor.version)))


def admin_add_factor_version(session: Session, user: UserLike | None, code: str, expected_version: int | None = None,
                             **values) -> EmissionFactor:
    """Add a new version of a factor with some values changed (never edits an old one).

    `expected_version`: the newest version of `code` the admin saw; one added since (or a
    concurrent add taking the same number) is refused with StaleEdit, not a database error.
    """
    _require_admin(user)
    if not isinstance(code, str) or code not in latest_factors(session):
        raise AdminError(f"unknown factor {str(code)[:40]!r}")
    newest = session.scalar(sa.select(sa.func.max(EmissionFactor.version)).where(EmissionFactor.code == code))
    if expected_version is not None and expected_version != newest:
        raise StaleEdit(_factor_stale(session, code), newest)
    clean: dict = {}
    for k, v in values.items():
        if v is None or v == "":
            continue
        try:
            if k in FACTOR_RANGES:
                lo, hi, unit = FACTOR_RANGES[k]
                clean[k] = number_in(v, k, lo, hi, unit)
            elif k in FACTOR_TEXT_LIMITS:
                clean[k] = text(v, k, FACTOR_TEXT_LIMITS[k], required=True)
            elif k == "year":
                clean[k] = int_in(v, "year", *FACTOR_YEAR_RANGE)
            elif k in ("valid_from", "valid_to"):
                if not isinstance(v, date):
                    raise AdminError(f"{k}: a date")
                clean[k] = v
            elif k == "change_reason":
                clean[k] = text(v, "Reason", REASON_MAX_CHARS, required=True)
            else:
                raise AdminError(f"not a factor field: {str(k)[:40]}")
        except FieldError as exc:
            raise AdminError(exc.message) from exc
    if not set(clean) - {"valid_from", "valid_to", "change_reason"}:
        raise AdminError("change at least one value for a new version")
    if clean.get("valid_from") and clean.get("valid_to") and clean["valid_to"] <= clean["valid_from"]:
        raise AdminError("valid_to must be after valid_from")
    row = add_factor_version(session, code, user.username, **clean)
    try:
        session.flush()
    except IntegrityError as exc:  # another admin added the same version number at the same moment
        session.rollback()
        raise StaleEdit(_factor_stale(session, code)) from exc
    record_audit(session, user, "create", "emission_factor", entity_id=f"{code} v{row.version}",
                 detail=", ".join(f"{k}={v}" for k, v in clean.items())[:2000])
    return row


def _factor_stale(session: Session, code: str) -> str:
    """"Factor X was changed by Y at T — reload" from the newest version's audit row."""
    newest = session.scalar(sa.select(sa.func.max(EmissionFactor.version)).where(EmissionFactor.code == code))
    return stale_message(session, f"The factor {code}", "emission_factor", f"{code} v{newest}")

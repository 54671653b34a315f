"""Device lifecycle: which stack a node is assigned to, from when to when (`device_assignment`).

A node is commissioned on a stack (an open assignment), may be moved to another stack or
factory (its assignment is closed and a new one opened at the same instant), replaced by another
node (the old one retired, the new one commissioned on the same stack at the same instant), or
retired (its assignment closed). Rows are history and are never edited except to close them.
Expected coverage and data availability (core.measurement.availability) count a node only
while it is assigned, so none of these changes alters a figure before its time.

A device without any assignment row (created behind the registry's back) gets its history
written on its first lifecycle change: an assignment from its earliest stored reading, so the
past it measured keeps counting.

The functions here check times, not permissions: core.registry.admin checks the caller is an
admin, validates input and audits; the caller commits.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.models import Device, DeviceAssignment, Reading, Stack
from core.timeutil import as_utc, utcnow

# How far ahead of the server clock a lifecycle time may lie (a browser's clock a little fast).
FUTURE_SLACK = timedelta(minutes=5)


class LifecycleError(ValueError):
    """A lifecycle change cannot be made as asked; the message says why."""


def history(session: Session, device_id: str) -> list[DeviceAssignment]:
    """The device's assignments, oldest first."""
    return list(session.scalars(
        sa.select(DeviceAssignment).where(DeviceAssignment.device_id == device_id)
        .order_by(DeviceAssignment.commissioned_at, DeviceAssignment.id)
    ))


def open_assignment(session: Session, device_id: str) -> DeviceAssignment | None:
    """The device's current (not retired) assignment, if any."""
    return session.scalars(
        sa.select(DeviceAssignment).where(DeviceAssignment.device_id == device_id, DeviceAssignment.retired_at.is_(None))
        .order_by(DeviceAssignment.commissioned_at.desc()).limit(1)
    ).first()


def _when(at: datetime | None, now: datetime | None = None) -> datetime:
    now = now or utcnow()
    at = now if at is None else as_utc(at)
    if at > now + FUTURE_SLACK:
        raise LifecycleError("A commissioning or retirement time cannot lie in the future.")
    return at


def _ensure_history(session: Session, device: Device, at: datetime) -> None:
    """Give a device without assignment rows one from its earliest reading (see module doc)."""
    if session.scalar(sa.select(sa.func.count()).where(DeviceAssignment.device_id == device.id)):
        return
    first = session.scalar(sa.select(sa.func.min(Reading.ts)).where(Reading.device_id == device.id))
    start = min(as_utc(first), at) if first is not None else at
    session.add(DeviceAssignment(
        device_id=device.id, factory_id=device.factory_id, stack_id=device.stack_id, commissioned_at=start,
        retired_at=None if device.active else start, commissioned_by="system",
        commission_reason="history before lifecycles: from the earliest stored reading",
    ))
    session.flush()


def commission(session: Session, device: Device, stack: Stack, at: datetime | None = None, by: str | None = None,
               reason: str | None = None, *, new: bool = False) -> DeviceAssignment:
    """Assign `device` to `stack` from `at` (default now); the device must not be assigned already.

    `new`: the device was just registered (no history to check).
    """
    at = _when(at)
    if not new:
        _ensure_history(session, device, at)
        current = open_assignment(session, device.id)
        if current is not None:
            raise LifecycleError(f"{device.id} is assigned to a stack already; move or retire it first.")
        last = session.scalar(sa.select(sa.func.max(DeviceAssignment.retired_at))
                              .where(DeviceAssignment.device_id == device.id))
        if last is not None and at < as_utc(last):
            raise LifecycleError(f"{device.id} was assigned until {as_utc(last):%Y-%m-%d %H:%M} UTC; "
                                 "it cannot be commissioned before that.")
    device.factory_id = stack.factory_id
    device.stack_id = stack.id
    device.active = True
    row = DeviceAssignment(device_id=device.id, factory_id=stack.factory_id, stack_id=stack.id, commissioned_at=at,
                           commissioned_by=by, commission_reason=reason)
    session.add(row)
    session.flush()
    return row


def retire(session: Session, device: Device, at: datetime | None = None, by: str | None = None,
           reason: str | None = None) -> DeviceAssignment | None:
    """Close the device's assignment at `at` (default now) and deactivate it; readings are kept."""
    at = _when(at)
    _ensure_history(session, device, at)
    current = open_assignment(session, device.id)
    if current is not None:
        if at < as_utc(current.commissioned_at):
            raise LifecycleError(f"{device.id} was commissioned at {as_utc(current.commissioned_at):%Y-%m-%d %H:%M} "
                                 "UTC; it cannot be retired before that.")
        current.retired_at = at
        current.retired_by = by
        current.retire_reason = reason
    device.active = False
    session.flush()
    return current


def move(session: Session, device: Device, stack: Stack, at: datetime | None = None, by: str | None = None,
         reason: str | None = None) -> DeviceAssignment:
    """Move the device to another stack (possibly another factory) at `at`: close one assignment, open the next."""
    if stack.id == device.stack_id and device.active:
        raise LifecycleError(f"{device.id} is on that stack already.")
    at = _when(at)
    retire(session, device, at, by, reason or "moved")
    return commission(session, device, stack, at, by, reason or "moved")


def replace(session: Session, old: Device, new: Device, at: datetime | None = None, by: str | None = None,
            reason: str | None = None) -> DeviceAssignment:
    """Retire `old` and commission `new` (a new Device, added by the caller) on old's stack at the same instant."""
    at = _when(at)
    stack = session.get(Stack, old.stack_id)
    if stack is None:
        raise LifecycleError(f"{old.id} has no stack.")
    retire(session, old, at, by, reason or f"replaced by {new.id}")
    return commission(session, new, stack, at, by, reason or f"replaces {old.id}", new=True)

"""Remote commands to sensor nodes: admin-only, audit-logged, sent through an outbox, answered by the node.

The web process never talks MQTT: `send_command` checks the user (admins only, in core, so a
crafted callback gets nothing), validates the arguments, writes the command (status `queued`)
and its audit row in one transaction. The fleet-ops process (`mqtt_listener.fleet_ops`) claims
queued commands, publishes them on `<prefix>/<factory>/<device>/cmd` with their id, and records
each node's answer from `.../cmd/result` (contract v1.1) with `record_result`. A command with no
answer by `expires_at` is marked `timeout` by `expire_commands`; a late answer is still kept.

Payloads follow the firmware's parser (`firmware/lib/carbontrack_core/.../command.cpp`): the
arguments are top-level keys (`{"cmd": "set", "key": "interval_s", "value": 60}`); the same
arguments are repeated under `args` as contract v1.1 writes them, so either parser finds them.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.access import AccessDenied, is_admin, require_factory
from core.audit import record_audit
from core.models import (
    CMD_FAILED,
    CMD_OK,
    CMD_QUEUED,
    CMD_SENDING,
    CMD_SENT,
    CMD_TIMEOUT,
    Device,
    DeviceCommand,
    Factory,
)
from core.timeutil import utcnow

# A node answers within seconds when it is online; a minute leaves room for a slow link.
RESULT_TIMEOUT = timedelta(seconds=60)
# An OTA command is answered after the download and hash check: minutes on a slow factory link.
OTA_RESULT_TIMEOUT = timedelta(minutes=15)
# A command nobody published (no fleet-ops process running) is given up after this long, so a
# reboot queued on Monday is not delivered on Friday.
QUEUE_TIMEOUT = timedelta(minutes=5)
# Limits the firmware enforces (docs/firmware.md, config keys).
INTERVAL_S_RANGE = (10, 3600)
PAYLOAD_BYTES_RANGE = (1024, 16384)  # the node caps its payload at 16 KiB (firmware payload.h, issue 11)
SPAN_PPM_RANGE = (1.0, 300_000.0)

KIND_LABELS = {
    "set_interval": "Set sampling interval",
    "reboot": "Reboot",
    "status": "Request status",
    "calibrate_zero": "Calibration check: zero (nitrogen)",
    "calibrate_span": "Calibration check: span (test gas)",
    "payload_size": "Set maximum payload size",
    "ota": "Firmware update",
}
COMMAND_KINDS = tuple(k for k in KIND_LABELS if k != "ota")  # what an admin sends by hand


class CommandError(ValueError):
    """The command or its arguments are not valid; the message says why."""


@dataclass(frozen=True)
class CommandView:
    """One command as the node page shows it."""

    id: str
    kind: str
    label: str
    args: str
    state: str  # queued, sending, sent (waiting), ok, failed, timeout, timeout (late answer)
    requested_by: str | None
    created_at: datetime
    sent_at: datetime | None
    result_at: datetime | None
    result_ok: bool | None
    result_detail: str | None


def _number(value: Any, name: str, lo: float, hi: float, integer: bool = True) -> float:
    try:
        num = float(value)
    except (TypeError, ValueError):
        raise CommandError(f"{name} must be a number") from None
    if num != num or not lo <= num <= hi:  # NaN fails the first test
        raise CommandError(f"{name} must be between {lo:g} and {hi:g}")
    if integer and num != int(num):
        raise CommandError(f"{name} must be a whole number")
    return int(num) if integer else num


def build_payload(kind: str, params: dict[str, Any] | None, command_id: str) -> dict[str, Any]:
    """The JSON object published for `kind` with validated `params`; raise CommandError when invalid."""
    params = params or {}
    if kind == "set_interval":
        fields: dict[str, Any] = {"cmd": "set", "key": "interval_s",
                                  "value": _number(params.get("interval_s"), "interval_s", *INTERVAL_S_RANGE)}
    elif kind == "payload_size":
        fields = {"cmd": "set", "key": "max_payload",
                  "value": _number(params.get("max_payload"), "max_payload", *PAYLOAD_BYTES_RANGE)}
    elif kind == "reboot":
        fields = {"cmd": "reboot"}
    elif kind == "status":
        fields = {"cmd": "status"}
    elif kind == "calibrate_zero":
        fields = {"cmd": "calibrate", "kind": "zero"}
    elif kind == "calibrate_span":
        fields = {"cmd": "calibrate", "kind": "span",
                  "ppm": _number(params.get("ppm"), "ppm", *SPAN_PPM_RANGE, integer=False)}
    elif kind == "ota":
        fields = {"cmd": "ota", "url": str(params["url"]), "sha256": str(params["sha256"]),
                  "version": str(params["version"])}
    else:
        raise CommandError(f"unknown command {kind!r}")
    args = {k: v for k, v in fields.items() if k != "cmd"}
    return {"id": command_id, **fields, "args": args}


def timeout_for(kind: str) -> timedelta:
    """How long a node has to answer a command of `kind`."""
    return OTA_RESULT_TIMEOUT if kind == "ota" else RESULT_TIMEOUT


def new_command_id() -> str:
    """A fresh command id (short enough for the node's 2 KiB command buffer and its logs)."""
    return f"c-{uuid.uuid4().hex[:16]}"


def queue_command(session: Session, device: Device, kind: str, params: dict[str, Any] | None, *,
                  requested_by: Any = None, campaign_id: int | None = None,
                  now: datetime | None = None) -> DeviceCommand:
    """Add a validated command to the outbox (no access check: callers are core code or `send_command`)."""
    command_id = new_command_id()
    payload = build_payload(kind, params, command_id)
    row = DeviceCommand(id=command_id, device_id=device.id, factory_id=device.factory_id, kind=kind,
                        payload=json.dumps(payload, separators=(",", ":")), status=CMD_QUEUED,
                        requested_by_id=getattr(requested_by, "id", None),
                        requested_by=getattr(requested_by, "username", None) or (requested_by if isinstance(
                            requested_by, str) else None),
                        created_at=now or utcnow(), campaign_id=campaign_id)
    session.add(row)
    return row


def send_command(session: Session, user: Any, device_id: str, kind: str, params: dict[str, Any] | None = None,
                 now: datetime | None = None) -> DeviceCommand:
    """Queue `kind` for `device_id` on behalf of `user` (admins only) and audit it; commits."""
    if not is_admin(user):
        raise AccessDenied("only administrators may send commands to nodes")
    if kind not in COMMAND_KINDS:
        raise CommandError(f"unknown command {kind!r}")
    device = session.get(Device, str(device_id or ""))
    if device is None:
        raise CommandError(f"no device {device_id!r}")
    now = now or utcnow()
    row = queue_command(session, device, kind, params, requested_by=user, now=now)
    record_audit(session, user, "command", "device", entity_id=device.id, factory_id=device.factory_id,
                 field=kind, new_value=row.payload, detail=f"command {row.id} queued", at=now)
    session.commit()
    return row


def claim_queued(session: Session, limit: int = 100, now: datetime | None = None) -> list[tuple[DeviceCommand, str]]:
    """Take queued commands for publishing (compare-and-set, so two publishers never both take one).

    Returns (command, factory code) pairs in creation order; each is now `sending`.
    """
    now = now or utcnow()
    rows = session.execute(
        sa.select(DeviceCommand.id, Factory.code).join(Factory, Factory.id == DeviceCommand.factory_id)
        .where(DeviceCommand.status == CMD_QUEUED, DeviceCommand.created_at >= now - QUEUE_TIMEOUT)
        .order_by(DeviceCommand.created_at).limit(limit)
    ).all()
    taken = []
    for command_id, code in rows:
        got = session.execute(
            sa.update(DeviceCommand).where(DeviceCommand.id == command_id, DeviceCommand.status == CMD_QUEUED)
            .values(status=CMD_SENDING).execution_options(synchronize_session=False)
        ).rowcount
        if got:
            taken.append((command_id, code))
    session.commit()
    return [(session.get(DeviceCommand, cid), code) for cid, code in taken]


def mark_sent(session: Session, command_id: str, now: datetime | None = None,
              timeout: timedelta | None = None) -> None:
    """Record that the broker took the command; the node's answer is due by `now + timeout`."""
    now = now or utcnow()
    timeout = timeout or RESULT_TIMEOUT
    # A fast node's answer may be stored before this runs: keep its status, still note when it went out.
    session.execute(sa.update(DeviceCommand).where(DeviceCommand.id == command_id, DeviceCommand.sent_at.is_(None))
                    .values(status=sa.case((DeviceCommand.status == CMD_SENDING, CMD_SENT), else_=DeviceCommand.status),
                            sent_at=now, expires_at=now + timeout))
    session.commit()


def mark_unsent(session: Session, command_id: str) -> None:
    """Put a command the broker did not take back into the outbox."""
    session.execute(sa.update(DeviceCommand).where(DeviceCommand.id == command_id, DeviceCommand.status == CMD_SENDING)
                    .values(status=CMD_QUEUED))
    session.commit()


def record_result(session: Session, device_id: str, payload: dict[str, Any],
                  now: datetime | None = None) -> DeviceCommand | None:
    """Store a node's `{"id", "ok", "detail"}` answer; None when the id is unknown or not this node's."""
    command_id = payload.get("id")
    if not isinstance(command_id, str):
        return None
    row = session.get(DeviceCommand, command_id)
    if row is None or row.device_id != device_id:  # a node answers only for its own commands
        return None
    ok = payload.get("ok")
    detail = payload.get("detail")
    row.result_at = now or utcnow()
    row.result_ok = bool(ok) if isinstance(ok, bool) else None
    row.result_detail = (detail if isinstance(detail, str) else json.dumps(detail))[:2000] if detail is not None else None
    if row.status in (CMD_QUEUED, CMD_SENDING, CMD_SENT):
        row.status = CMD_OK if row.result_ok else CMD_FAILED
    session.commit()
    return row


def expire_commands(session: Session, now: datetime | None = None) -> int:
    """Mark commands with no answer in time (or never published) as `timeout`; return how many."""
    now = now or utcnow()
    n = session.execute(sa.update(DeviceCommand).where(DeviceCommand.status == CMD_SENT, DeviceCommand.expires_at < now)
                        .values(status=CMD_TIMEOUT)).rowcount
    n += session.execute(
        sa.update(DeviceCommand)
        .where(DeviceCommand.status.in_((CMD_QUEUED, CMD_SENDING)), DeviceCommand.created_at < now - QUEUE_TIMEOUT)
        .values(status=CMD_TIMEOUT, result_detail="never published: is the fleet-ops process running?")
    ).rowcount
    session.commit()
    return n


def _args_text(payload: str) -> str:
    try:
        args = json.loads(payload).get("args") or {}
    except ValueError:
        return ""
    if "key" in args and "value" in args:  # a `set`: show the setting, not the envelope
        return f"{args['key']}={args['value']}"
    return ", ".join(f"{k}={v}" for k, v in args.items() if k not in ("url", "sha256")) or "—"


def command_state(row: DeviceCommand, now: datetime) -> str:
    """The state a person sees: a sent command past its deadline is `timeout` before any sweep ran."""
    if row.status == CMD_SENT and row.expires_at is not None and row.expires_at < now:
        return CMD_TIMEOUT
    if row.status == CMD_TIMEOUT and row.result_at is not None:
        return "timeout (late answer)"
    return row.status


def device_commands(session: Session, user: Any, device_id: str, limit: int = 50,
                    now: datetime | None = None) -> list[CommandView]:
    """The latest commands of a device `user` may see (HQ, admin, auditor, its factory's manager)."""
    device = session.get(Device, str(device_id or ""))
    if device is None:
        return []
    require_factory(user, device.factory_id)
    now = now or utcnow()
    rows = session.scalars(sa.select(DeviceCommand).where(DeviceCommand.device_id == device.id)
                           .order_by(DeviceCommand.created_at.desc()).limit(limit))
    return [CommandView(r.id, r.kind, KIND_LABELS.get(r.kind, r.kind), _args_text(r.payload), command_state(r, now),
                        r.requested_by, r.created_at, r.sent_at, r.result_at, r.result_ok, r.result_detail)
            for r in rows]

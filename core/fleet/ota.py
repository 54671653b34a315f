"""OTA campaigns: checked firmware images, target selection, per-node state, pause/abort; the firmware inventory.

An admin uploads an image (`store_image`: the version, size and SHA-256 are checked and the file
is kept under `<data dir>/firmware/`). A campaign (`create_campaign`) picks nodes — one, a
factory, a region, all, optionally a canary percentage of them — and gets a random token: the
image is served at `<public url>/ota/<token>/<device>/firmware.bin` only while the campaign
runs. `advance_campaigns` (run by the fleet-ops process) moves each node through the firmware's
states (docs/firmware.md, "Over-the-air update and rollback"):

    pending -> offered (ota command queued) -> downloading (the node fetched the image)
            -> trial_boot (the node answered ok: hash matched, rebooting into the new slot)
            -> confirmed (its telemetry reports the new `fw`)
             | rolled_back (it came back reporting the old `fw`: the trial failed 3 times)
             | failed (a negative answer, no answer, or it never came back)
    pending/offered -> aborted (the campaign was aborted)

`note_firmware_changes` keeps `firmware_install` (which version runs where, since when).
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.access import AccessDenied, allowed_factory_ids, is_admin, require_factory
from core.audit import record_audit
from core.fleet.commands import queue_command
from core.models import (
    CMD_FAILED,
    CMD_OK,
    CMD_TIMEOUT,
    Device,
    DeviceCommand,
    Factory,
    FirmwareImage,
    FirmwareInstall,
    OtaCampaign,
    OtaTarget,
)
from core.storage import BlobStore, publish, read_with_fallback
from core.timeutil import utcnow

# partitions.csv: each OTA app slot is 0x180000 bytes; a larger image cannot be written.
IMAGE_MAX_BYTES = 0x180000
# Every ESP32 application image starts with this magic byte (esp_image_header_t.magic).
ESP_IMAGE_MAGIC = 0xE9
VERSION_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._+-]{0,39}$")
SHA256_RE = re.compile(r"^[0-9a-fA-F]{64}$")
# Nodes updating at once per campaign: a bad image stops at a few nodes, the download server is not swamped.
MAX_IN_FLIGHT = 10
# A node that answered ok reboots into the trial image; it must report the new version within this.
TRIAL_TIMEOUT = timedelta(minutes=30)
TARGET_KINDS = ("device", "factory", "region", "all")
IN_FLIGHT = ("offered", "downloading", "trial_boot")
FINAL = ("confirmed", "rolled_back", "failed", "aborted")
TARGET_STATES = ("pending", *IN_FLIGHT, *FINAL)


class OtaError(ValueError):
    """An upload or campaign request is not valid; the message says why."""


def _require_admin(user: Any) -> None:
    if not is_admin(user):
        raise AccessDenied("only administrators may manage firmware updates")


def image_url(public_url: str, token: str, device_id: str) -> str:
    """The URL a node downloads its image from."""
    return f"{public_url.rstrip('/')}/ota/{token}/{device_id}/firmware.bin"


def store_image(session: Session, user: Any, data_dir: Path, version: str, data: bytes, sha256_hex: str,
                note: str | None = None, store: BlobStore | None = None) -> FirmwareImage:
    """Check and keep an uploaded image (admins only); commits.

    The file is written under `data_dir` and, given a `store` (core.storage: the database or S3 on
    several hosts), put there too under the same key, so every web host can serve it to the nodes.
    """
    _require_admin(user)
    version = (version or "").strip()
    if not VERSION_RE.match(version):
        raise OtaError("version: letters, digits and . _ + - only, at most 40 characters (e.g. 1.2.0)")
    sha256_hex = (sha256_hex or "").strip().lower()
    if not SHA256_RE.match(sha256_hex):
        raise OtaError("SHA-256: 64 hexadecimal digits (sha256sum firmware.bin)")
    if not data:
        raise OtaError("the image is empty")
    if len(data) > IMAGE_MAX_BYTES:
        raise OtaError(f"the image is {len(data):,} bytes; an OTA slot holds {IMAGE_MAX_BYTES:,}")
    if data[0] != ESP_IMAGE_MAGIC:
        raise OtaError("not an ESP32 application image (first byte is not 0xE9): upload firmware.bin")
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256_hex:
        raise OtaError(f"SHA-256 does not match: the file's is {actual}")
    if session.scalar(sa.select(FirmwareImage.id).where(FirmwareImage.version == version)) is not None:
        raise OtaError(f"version {version} was uploaded already")
    rel = Path("firmware") / f"carbontrack-{version}-{actual[:12]}.bin"
    path = Path(data_dir) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_bytes(data)
    tmp.replace(path)
    if store is not None:
        publish(store, rel.as_posix(), path)
    image = FirmwareImage(version=version, sha256=actual, size_bytes=len(data), path=str(rel),
                          note=(note or "").strip()[:2000] or None, uploaded_by=user.username)
    session.add(image)
    session.flush()
    record_audit(session, user, "create", "firmware_image", entity_id=str(image.id), field="version",
                 new_value=version, detail=f"{len(data):,} bytes, sha256 {actual}")
    session.commit()
    return image


def select_devices(session: Session, target_kind: str, target_value: Any) -> list[Device]:
    """Active devices for a target: one device id, a factory (code or id), a region number, or all."""
    q = sa.select(Device).join(Factory, Factory.id == Device.factory_id).where(Device.active.is_(True))
    value = str(target_value or "").strip()
    if target_kind == "device":
        q = q.where(Device.id == value)
    elif target_kind == "factory":
        q = q.where(sa.or_(Factory.code == value.upper(), Factory.id == (int(value) if value.isdigit() else -1)))
    elif target_kind == "region":
        if not value.isdigit():
            raise OtaError("region: a region number")
        q = q.where(Factory.region == int(value))
    elif target_kind != "all":
        raise OtaError(f"target must be one of {', '.join(TARGET_KINDS)}")
    return list(session.scalars(q.order_by(Device.id)))


def canary_subset(devices: list[Device], canary_pct: float | None, salt: str) -> list[Device]:
    """`canary_pct` % of `devices` (at least one), picked by a stable hash so the choice is reproducible."""
    if canary_pct is None or canary_pct >= 100:
        return devices
    n = max(1, math.ceil(len(devices) * canary_pct / 100.0))
    return sorted(devices, key=lambda d: hashlib.sha256(f"{salt}:{d.id}".encode()).hexdigest())[:n]


def create_campaign(session: Session, user: Any, image_id: int, target_kind: str, target_value: Any = None,
                    canary_pct: float | None = None, now: datetime | None = None) -> OtaCampaign:
    """Start rolling image `image_id` out to the chosen nodes (admins only); commits."""
    _require_admin(user)
    image = session.get(FirmwareImage, image_id)
    if image is None:
        raise OtaError("no such firmware image")
    if canary_pct is not None:
        try:
            canary_pct = float(canary_pct)
        except (TypeError, ValueError):
            raise OtaError("canary: a percentage between 1 and 100") from None
        if not 0 < canary_pct <= 100:
            raise OtaError("canary: a percentage between 1 and 100")
    devices = select_devices(session, target_kind, target_value)
    if not devices:
        raise OtaError("no active node matches this target")
    now = now or utcnow()
    campaign = OtaCampaign(image_id=image.id, token=secrets.token_urlsafe(32), status="running",
                           target_kind=target_kind, target_value=str(target_value or "") or None,
                           canary_pct=canary_pct, created_by=user.username, created_at=now, updated_at=now)
    session.add(campaign)
    session.flush()
    for d in canary_subset(devices, canary_pct, str(campaign.id)):
        already = d.firmware == image.version
        session.add(OtaTarget(campaign_id=campaign.id, device_id=d.id, from_version=d.firmware,
                              state="confirmed" if already else "pending",
                              detail="already running this version" if already else None, updated_at=now))
    record_audit(session, user, "create", "ota_campaign", entity_id=str(campaign.id), field="target",
                 new_value=f"{target_kind}={target_value or ''} canary={canary_pct or 100}%",
                 detail=f"firmware {image.version}", at=now)
    session.commit()
    return campaign


def set_campaign_status(session: Session, user: Any, campaign_id: int, action: str,
                        now: datetime | None = None) -> OtaCampaign:
    """Pause, resume or abort a campaign (admins only); aborting stops nodes not yet updating; commits."""
    _require_admin(user)
    campaign = session.get(OtaCampaign, campaign_id)
    if campaign is None:
        raise OtaError("no such campaign")
    now = now or utcnow()
    allowed = {"pause": ("running",), "resume": ("paused",), "abort": ("running", "paused")}
    if action not in allowed:
        raise OtaError("action: pause, resume or abort")
    if campaign.status not in allowed[action]:
        raise OtaError(f"a {campaign.status} campaign cannot {action}")
    old = campaign.status
    campaign.status = {"pause": "paused", "resume": "running", "abort": "aborted"}[action]
    campaign.updated_at = now
    if action == "abort":
        # Nodes already downloading or in their trial boot finish on their own; nothing new is offered.
        session.execute(sa.update(OtaTarget).where(OtaTarget.campaign_id == campaign.id,
                                                   OtaTarget.state.in_(("pending", "offered")))
                        .values(state="aborted", detail=f"campaign aborted by {user.username}", updated_at=now))
    record_audit(session, user, action, "ota_campaign", entity_id=str(campaign.id), field="status",
                 old_value=old, new_value=campaign.status, at=now)
    session.commit()
    return campaign


def _set(t: OtaTarget, state: str, detail: str | None, now: datetime) -> None:
    t.state, t.detail, t.updated_at = state, detail, now


def advance_campaigns(session: Session, public_url: str, now: datetime | None = None) -> int:
    """Move every running (and paused or aborted, for nodes in flight) campaign on; commits; return changes."""
    now = now or utcnow()
    changes = 0
    campaigns = list(session.scalars(sa.select(OtaCampaign).where(OtaCampaign.status.in_(("running", "paused",
                                                                                          "aborted")))))
    for c in campaigns:
        image = session.get(FirmwareImage, c.image_id)
        targets = list(session.scalars(sa.select(OtaTarget).where(OtaTarget.campaign_id == c.id)
                                       .order_by(OtaTarget.id)))
        for t in targets:
            if t.state in ("offered", "downloading"):
                cmd = session.get(DeviceCommand, t.command_id) if t.command_id else None
                if cmd is None:
                    continue
                if cmd.status == CMD_OK:
                    _set(t, "trial_boot", cmd.result_detail, cmd.result_at or now)
                    changes += 1
                elif cmd.status == CMD_FAILED:
                    _set(t, "failed", cmd.result_detail or "the node refused the update", now)
                    changes += 1
                elif cmd.status == CMD_TIMEOUT:
                    _set(t, "failed", "no answer from the node", now)
                    changes += 1
            if t.state == "trial_boot":
                device = session.get(Device, t.device_id)
                back = device.last_seen_at is not None and device.last_seen_at > t.updated_at
                if back and device.firmware == image.version:
                    _set(t, "confirmed", f"running {image.version}", now)
                    changes += 1
                elif back and device.firmware and device.firmware != image.version:
                    _set(t, "rolled_back", f"came back with {device.firmware}", now)
                    changes += 1
                elif now - t.updated_at > TRIAL_TIMEOUT:
                    _set(t, "failed", "did not come back after the update", now)
                    changes += 1
        if c.status == "running":
            in_flight = sum(t.state in IN_FLIGHT for t in targets)
            for t in targets:
                if in_flight >= MAX_IN_FLIGHT:
                    break
                if t.state != "pending":
                    continue
                # Compare-and-set: of two fleet-ops processes only one offers this node the update.
                taken = session.execute(sa.update(OtaTarget).where(OtaTarget.id == t.id, OtaTarget.state == "pending")
                                        .values(state="offered", updated_at=now)
                                        .execution_options(synchronize_session=False)).rowcount
                if not taken:
                    continue
                device = session.get(Device, t.device_id)
                cmd = queue_command(session, device, "ota", {"url": image_url(public_url, c.token, device.id),
                                                             "sha256": image.sha256, "version": image.version},
                                    requested_by=c.created_by, campaign_id=c.id, now=now)
                t.command_id = cmd.id
                _set(t, "offered", None, now)
                in_flight += 1
                changes += 1
        if c.status in ("running", "aborted") and all(t.state in FINAL for t in targets):
            c.status = "done" if c.status == "running" else c.status
            c.updated_at = now
    session.commit()
    return changes


def image_bytes(image: FirmwareImage, data_dir: Path, store: BlobStore | None = None) -> bytes:
    """The image's bytes from the shared store (when given), else the file under `data_dir` (an
    image uploaded before shared storage is copied into the store on first use)."""
    legacy = Path(data_dir) / image.path
    if store is None:
        return legacy.read_bytes()
    data = read_with_fallback(store, Path(image.path).as_posix(), legacy)
    if hashlib.sha256(data).hexdigest() != image.sha256:  # never hand a node a damaged image
        raise OtaError(f"stored image {image.version} does not match its SHA-256")
    return data


def image_for_download(session: Session, token: str, device_id: str, now: datetime | None = None) -> FirmwareImage | None:
    """The image a node may download with `token` (running campaign, node offered); marks it downloading."""
    c = session.scalars(sa.select(OtaCampaign).where(OtaCampaign.token == str(token))).one_or_none()
    if c is None or c.status != "running" or not secrets.compare_digest(c.token, str(token)):
        return None
    t = session.scalars(sa.select(OtaTarget).where(OtaTarget.campaign_id == c.id,
                                                   OtaTarget.device_id == str(device_id))).one_or_none()
    if t is None or t.state not in ("offered", "downloading"):
        return None
    if t.state == "offered":
        _set(t, "downloading", None, now or utcnow())
        session.commit()
    return session.get(FirmwareImage, c.image_id)


def note_firmware_changes(session: Session, now: datetime | None = None) -> int:
    """Record each node whose reported firmware differs from its last inventory row; commits; return how many."""
    now = now or utcnow()
    latest = sa.select(FirmwareInstall.device_id, sa.func.max(FirmwareInstall.id).label("id")) \
        .group_by(FirmwareInstall.device_id).subquery()
    rows = session.execute(
        sa.select(Device.id, Device.firmware, Device.last_seen_at, FirmwareInstall.version)
        .outerjoin(latest, latest.c.device_id == Device.id)
        .outerjoin(FirmwareInstall, FirmwareInstall.id == latest.c.id)
        .where(Device.firmware.is_not(None))
    ).all()
    n = 0
    for device_id, fw, last_seen, known in rows:
        if fw != known:
            # The first sighting of a node's version dates from when we last heard it, not from now.
            since = now if known is not None else (last_seen or now)
            session.add(FirmwareInstall(device_id=device_id, version=fw, since_at=min(since, now)))
            n += 1
    session.commit()
    return n


@dataclass(frozen=True)
class FirmwareRow:
    """Which version a node runs and since when."""

    device_id: str
    factory_code: str
    version: str | None
    since_at: datetime | None


def firmware_inventory(session: Session, user: Any) -> list[FirmwareRow]:
    """Every node `user` may see with its firmware version and since when (from `firmware_install`)."""
    ids = allowed_factory_ids(session, user)
    if not ids:
        return []
    latest = sa.select(FirmwareInstall.device_id, sa.func.max(FirmwareInstall.id).label("id")) \
        .group_by(FirmwareInstall.device_id).subquery()
    rows = session.execute(
        sa.select(Device.id, Factory.code, Device.firmware, FirmwareInstall.version, FirmwareInstall.since_at)
        .join(Factory, Factory.id == Device.factory_id)
        .outerjoin(latest, latest.c.device_id == Device.id)
        .outerjoin(FirmwareInstall, FirmwareInstall.id == latest.c.id)
        .where(Device.factory_id.in_(ids)).order_by(Factory.code, Device.id)
    ).all()
    return [FirmwareRow(d, code, fw, since if inv == fw else None) for d, code, fw, inv, since in rows]


def firmware_history(session: Session, user: Any, device_id: str) -> list[tuple[str, datetime]]:
    """(version, since) of a node, newest first, if `user` may see its factory."""
    device = session.get(Device, str(device_id or ""))
    if device is None:
        return []
    require_factory(user, device.factory_id)
    return [(r.version, r.since_at) for r in session.scalars(
        sa.select(FirmwareInstall).where(FirmwareInstall.device_id == device.id).order_by(FirmwareInstall.id.desc()))]


@dataclass(frozen=True)
class CampaignView:
    """A campaign with its image and the count of nodes in each state."""

    id: int
    version: str
    status: str
    target: str
    created_by: str | None
    created_at: datetime
    counts: dict[str, int]
    targets: list[tuple[str, str, str | None, datetime]]  # device, state, detail, updated_at


def campaigns(session: Session, user: Any) -> list[CampaignView]:
    """All campaigns, newest first (admin, HQ and auditor may look; only admins act)."""
    if user is None or not getattr(user, "active", False) or user.role not in ("admin", "hq", "auditor"):
        raise AccessDenied("firmware campaigns are for HQ, admins and auditors")
    out = []
    for c, version in session.execute(sa.select(OtaCampaign, FirmwareImage.version)
                                      .join(FirmwareImage, FirmwareImage.id == OtaCampaign.image_id)
                                      .order_by(OtaCampaign.id.desc())):
        ts = list(session.scalars(sa.select(OtaTarget).where(OtaTarget.campaign_id == c.id).order_by(OtaTarget.device_id)))
        counts = {s: sum(t.state == s for t in ts) for s in TARGET_STATES if any(t.state == s for t in ts)}
        target = f"{c.target_kind} {c.target_value or ''}".strip() + (f", canary {c.canary_pct:g} %" if c.canary_pct else "")
        out.append(CampaignView(c.id, version, c.status, target, c.created_by, c.created_at, counts,
                                [(t.device_id, t.state, t.detail, t.updated_at) for t in ts]))
    return out

"""Topics and telemetry payloads: decode, validate, convert to reading rows (docs/payload.md).

Pure functions, no I/O: the writer hands in the device registry and the clock. A payload is
either rejected as a whole (it cannot be trusted: not JSON, wrong envelope, unknown or
mismatched device) or split into readings; each reading is stored (valid, or flagged invalid
when a physical value is out of range) or rejected on its own (missing field, wrong type,
non-finite number, timestamp in the future or absurdly old), so one bad reading in a buffered
batch does not throw away the good ones.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from core.emissions import EmissionsError, stack_co2_kg_s
from core.models import QUALITY_INVALID, QUALITY_VALID

# A telemetry payload is at most 64 KiB (DESIGN.md sensor contract); the node splits bigger
# buffer flushes into several messages.
MAX_PAYLOAD_BYTES = 64 * 1024
# Raw bytes kept with a rejection: enough to see what was wrong, bounded so that a flood of
# bad 64 KiB payloads cannot fill the disk.
RAW_KEEP_BYTES = 2048
# Node clocks come from NTP; allow this much skew before a timestamp counts as "in the future".
MAX_FUTURE_SKEW_S = 300.0
# Oldest accepted reading: a node buffers hours to days, and a backfill from a site gateway may
# resend up to a year; older than this is a node without time sync (ts near 1970) or garbage.
MAX_AGE_S = 400 * 86400.0
# Column widths in core.models: longer strings are truncated so that an insert never fails.
FIRMWARE_MAX_LEN = 40
DEVICE_ID_MAX_LEN = 40
TOPIC_MAX_LEN = 300
# Integer envelope fields must fit their columns (Integer = 32 bit, BigInteger = 64 bit).
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1

# Rejection reason codes (stored in rejected_message.reason; documented in docs/payload.md).
R_OVERSIZED = "oversized"
R_MALFORMED_JSON = "malformed_json"
R_WRONG_TYPE = "wrong_type"
R_MISSING_FIELD = "missing_field"
R_NON_FINITE = "non_finite"
R_UNKNOWN_DEVICE = "unknown_device"
R_DEVICE_MISMATCH = "device_mismatch"
R_FACTORY_MISMATCH = "factory_mismatch"
R_TS_FUTURE = "ts_future"
R_TS_TOO_OLD = "ts_too_old"
R_BAD_TOPIC = "bad_topic"
R_BAD_STATUS = "bad_status"
R_DB_ERROR = "db_error"  # the database refused a message that passed validation (a bug)
R_INTERNAL = "internal_error"  # the decoder raised (a bug); the message is kept for replay
REASONS = (
    R_OVERSIZED,
    R_MALFORMED_JSON,
    R_WRONG_TYPE,
    R_MISSING_FIELD,
    R_NON_FINITE,
    R_UNKNOWN_DEVICE,
    R_DEVICE_MISMATCH,
    R_FACTORY_MISMATCH,
    R_TS_FUTURE,
    R_TS_TOO_OLD,
    R_BAD_TOPIC,
    R_BAD_STATUS,
    R_DB_ERROR,
    R_INTERNAL,
)

# Physical ranges: a reading outside is stored with quality=QUALITY_INVALID and excluded from
# totals. Limits are the sensors' measuring ranges, wide around the plausible values of
# reference/domain.md §1.5 so that a real but unusual reading is never discarded.
PHYSICAL_RANGES: dict[str, tuple[float, float]] = {
    # 0–30 %vol NDIR full scale; wood flue gas peaks at CO2max 19.8 % dry (§1.5).
    "co2_ppm": (0.0, 300_000.0),
    # Type-K probe from a cold stack (night, highlands) to well above 180–300 °C shell boilers (§1.5).
    "flue_temp_c": (-40.0, 600.0),
    # Anemometer range; typical stacks run 5–15 m/s (§1.5); 0 is a stopped fan.
    "velocity_m_s": (0.0, 40.0),
    # Absolute pressure; KTDA altitudes give 77–87 kPa barometric (§0 item 3, §1.1), plus draught.
    "pressure_pa": (50_000.0, 110_000.0),
}
REQUIRED_READING_FIELDS = ("ts", "co2_ppm", "flue_temp_c", "velocity_m_s")
STATUS_ONLINE = "online"
STATUS_OFFLINE = "offline"

_EPOCH = datetime(1970, 1, 1)


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What the writer needs to know about a registered device and its stack."""

    id: str
    factory_id: int
    factory_code: str
    sample_interval_s: float
    diameter_m: float
    moisture_fraction: float
    dry_basis: bool
    velocity_profile_factor: float
    barometric_pa: float  # the factory's pressure from its altitude, when a reading has none
    active: bool = True


@dataclass(slots=True)
class Rejection:
    """Why a payload (or one reading of it) was not stored."""

    reason: str
    detail: str
    device_id: str | None = None


@dataclass(slots=True)
class DeviceUpdate:
    """Envelope values that keep the device row current."""

    device_id: str
    firmware: str | None = None
    rssi_dbm: int | None = None
    uptime_s: int | None = None
    buffered: int | None = None
    last_seq: int | None = None
    last_reading_at: datetime | None = None


@dataclass(slots=True)
class Decoded:
    """The outcome of one telemetry message."""

    readings: list[dict] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    device: DeviceUpdate | None = None


def ts_to_utc(ts: float) -> datetime:
    """Unix seconds -> naive UTC datetime (microsecond resolution), the form readings store."""
    return _EPOCH + timedelta(seconds=ts)


def parse_topic(topic: str, prefix: str) -> tuple[str, str, str] | None:
    """Split `<prefix>/<factory_code>/<device_id>/<kind>` into its parts; None if it is not one."""
    if not topic.startswith(prefix) or topic[len(prefix) : len(prefix) + 1] != "/":
        return None
    parts = topic[len(prefix) + 1 :].split("/")
    if len(parts) != 3 or not all(parts):
        return None
    return parts[0], parts[1], parts[2]


def truncate_raw(payload: bytes) -> bytes:
    """The part of a rejected payload that is stored."""
    return payload[:RAW_KEEP_BYTES]


def _is_number(value: object) -> bool:
    # bool is an int subclass in Python, but `true` is not a number in the contract.
    return (type(value) is float or type(value) is int) and value is not True and value is not False


def _check_int(payload: dict, key: str, low: int, high: int) -> str | None:
    value = payload.get(key)
    if value is None:
        return None
    if type(value) is not int:
        if type(value) is float and not math.isfinite(value):
            return f"{key} is not finite"
        return f"{key} must be an integer, got {type(value).__name__}"
    if not low <= value <= high:
        return f"{key} {value} outside {low}..{high}"
    return None


def _reject(reason: str, detail: str, device_id: str | None = None) -> Decoded:
    return Decoded(rejections=[Rejection(reason, detail, device_id)])


def _non_finite_constant(name: str) -> float:
    # json.loads calls this for NaN / Infinity / -Infinity; keep them as floats so that the
    # reading they are in is rejected with its own reason (non_finite) rather than the message.
    return float(name.replace("Infinity", "inf"))


def parse_json(payload: bytes) -> object:
    """Decode UTF-8 JSON; NaN/Infinity become float nan/inf (checked later). ValueError if bad."""
    return json.loads(payload, parse_constant=_non_finite_constant)


def decode_telemetry(
    topic_factory: str,
    topic_device: str,
    payload: bytes,
    devices: Mapping[str, DeviceInfo],
    now_ts: float,
    received_at: datetime,
) -> Decoded:
    """Validate one telemetry payload and convert its readings to `reading` rows."""
    short_topic_device = topic_device[:DEVICE_ID_MAX_LEN]
    if len(payload) > MAX_PAYLOAD_BYTES:
        return _reject(R_OVERSIZED, f"{len(payload)} bytes > {MAX_PAYLOAD_BYTES}", short_topic_device)
    try:
        doc = parse_json(payload)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        return _reject(R_MALFORMED_JSON, str(exc)[:200], short_topic_device)
    if type(doc) is not dict:
        return _reject(R_WRONG_TYPE, f"payload must be a JSON object, got {type(doc).__name__}", short_topic_device)
    if "device_id" not in doc:
        return _reject(R_MISSING_FIELD, "device_id missing", short_topic_device)
    device_id = doc["device_id"]
    if type(device_id) is not str:
        return _reject(R_WRONG_TYPE, f"device_id must be a string, got {type(device_id).__name__}", short_topic_device)
    if device_id != topic_device:
        return _reject(
            R_DEVICE_MISMATCH, f"payload device_id {device_id[:60]!r} != topic {topic_device[:60]!r}", short_topic_device
        )
    info = devices.get(device_id)
    if info is None or not info.active:
        return _reject(R_UNKNOWN_DEVICE, f"device {device_id[:60]!r} is not registered (or inactive)", short_topic_device)
    if info.factory_code != topic_factory:
        return _reject(
            R_FACTORY_MISMATCH,
            f"device {device_id} is registered to factory {info.factory_code}, topic says {topic_factory[:40]!r}",
            device_id,
        )
    if "readings" not in doc:
        return _reject(R_MISSING_FIELD, "readings missing", device_id)
    readings = doc["readings"]
    if type(readings) is not list or not readings:
        return _reject(R_WRONG_TYPE, "readings must be a non-empty list", device_id)
    firmware = doc.get("fw")
    if firmware is not None and type(firmware) is not str:
        return _reject(R_WRONG_TYPE, f"fw must be a string, got {type(firmware).__name__}", device_id)
    for key, low, high in (("rssi", -200, 100), ("uptime_s", 0, INT64_MAX), ("buffered", 0, INT32_MAX)):
        problem = _check_int(doc, key, low, high)
        if problem:
            reason = R_NON_FINITE if "not finite" in problem else R_WRONG_TYPE
            return _reject(reason, problem, device_id)

    out = Decoded()
    rows = out.readings
    rejections = out.rejections
    earliest = now_ts - MAX_AGE_S
    latest = now_ts + MAX_FUTURE_SKEW_S
    ranges = PHYSICAL_RANGES
    co2_lo, co2_hi = ranges["co2_ppm"]
    t_lo, t_hi = ranges["flue_temp_c"]
    v_lo, v_hi = ranges["velocity_m_s"]
    p_lo, p_hi = ranges["pressure_pa"]
    max_seq: int | None = None
    max_ts: float | None = None
    for index, r in enumerate(readings):
        if type(r) is not dict:
            rejections.append(Rejection(R_WRONG_TYPE, f"readings[{index}] is not an object", device_id))
            continue
        problem = None
        reason = R_MISSING_FIELD
        for key in REQUIRED_READING_FIELDS:
            value = r.get(key)
            if value is None:
                problem = f"readings[{index}].{key} missing"
                break
            if not _is_number(value):
                reason, problem = R_WRONG_TYPE, f"readings[{index}].{key} must be a number, got {type(value).__name__}"
                break
            if not math.isfinite(value):
                reason, problem = R_NON_FINITE, f"readings[{index}].{key} is {value}"
                break
        if problem is None:
            pressure = r.get("pressure_pa")
            if pressure is not None:
                if not _is_number(pressure):
                    reason, problem = R_WRONG_TYPE, f"readings[{index}].pressure_pa must be a number"
                elif not math.isfinite(pressure):
                    reason, problem = R_NON_FINITE, f"readings[{index}].pressure_pa is {pressure}"
            seq = r.get("seq")
            if seq is not None and (type(seq) is not int or not 0 <= seq <= INT64_MAX):
                reason, problem = R_WRONG_TYPE, f"readings[{index}].seq must be a non-negative integer"
        if problem is None:
            ts = r["ts"]
            if ts > latest:
                reason, problem = R_TS_FUTURE, f"readings[{index}].ts {ts} is {ts - now_ts:.0f} s in the future"
            elif ts < earliest:
                reason, problem = R_TS_TOO_OLD, f"readings[{index}].ts {ts} is older than {MAX_AGE_S / 86400:.0f} days"
        if problem is not None:
            rejections.append(Rejection(reason, problem, device_id))
            continue

        co2 = float(r["co2_ppm"])
        temp = float(r["flue_temp_c"])
        vel = float(r["velocity_m_s"])
        bad = []
        if not co2_lo <= co2 <= co2_hi:
            bad.append(f"co2_ppm {co2:g} outside {co2_lo:g}..{co2_hi:g}")
        if not t_lo <= temp <= t_hi:
            bad.append(f"flue_temp_c {temp:g} outside {t_lo:g}..{t_hi:g}")
        if not v_lo <= vel <= v_hi:
            bad.append(f"velocity_m_s {vel:g} outside {v_lo:g}..{v_hi:g}")
        pressure_used = info.barometric_pa
        if pressure is not None:
            pressure = float(pressure)
            if p_lo <= pressure <= p_hi:
                pressure_used = pressure
            else:
                bad.append(f"pressure_pa {pressure:g} outside {p_lo:g}..{p_hi:g}")
        try:
            co2_kg_s: float | None = stack_co2_kg_s(
                co2,
                temp,
                vel,
                info.diameter_m,
                pressure_used,
                info.moisture_fraction,
                info.dry_basis,
                info.velocity_profile_factor,
            )
        except EmissionsError as exc:
            co2_kg_s = None
            if not bad:
                bad.append(str(exc))
        ts = r["ts"]
        rows.append(
            {
                "device_id": device_id,
                "factory_id": info.factory_id,
                "ts": ts_to_utc(ts),
                "seq": seq,
                "co2_ppm": co2,
                "flue_temp_c": temp,
                "velocity_m_s": vel,
                "pressure_pa": pressure,
                "co2_kg_s": co2_kg_s,
                "quality": QUALITY_INVALID if bad else QUALITY_VALID,
                "quality_reason": "; ".join(bad)[:120] if bad else None,
                "pressure_used_pa": pressure_used,
                "diameter_m": info.diameter_m,
                "moisture_fraction": info.moisture_fraction,
                "dry_basis": info.dry_basis,
                "velocity_profile_factor": info.velocity_profile_factor,
                "received_at": received_at,
            }
        )
        if seq is not None and (max_seq is None or seq > max_seq):
            max_seq = seq
        if max_ts is None or ts > max_ts:
            max_ts = ts
    out.device = DeviceUpdate(
        device_id=device_id,
        firmware=firmware[:FIRMWARE_MAX_LEN] if firmware else None,
        rssi_dbm=doc.get("rssi"),
        uptime_s=doc.get("uptime_s"),
        buffered=doc.get("buffered"),
        last_seq=max_seq,
        last_reading_at=ts_to_utc(max_ts) if max_ts is not None else None,
    )
    return out


def decode_status(payload: bytes) -> str | None:
    """`online` / `offline` from a status payload (plain text, or JSON {"status": …}); None if neither."""
    text = payload[:200].decode("utf-8", "replace").strip()
    if text.startswith("{"):
        try:
            doc = json.loads(text)
        except ValueError:
            return None
        text = str(doc.get("status", "")) if isinstance(doc, dict) else ""
    text = text.strip().strip('"').lower()
    return text if text in (STATUS_ONLINE, STATUS_OFFLINE) else None

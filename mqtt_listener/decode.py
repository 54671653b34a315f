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
import re
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
RESET_REASON_MAX_LEN = 32
COUNTER_NAME_MAX_LEN = 40
MAX_COUNTERS = 32
# Characters no stored string may contain: NUL (PostgreSQL text cannot hold it), the other C0
# and C1 control characters, and lone surrogates (JSON "\udc80" decodes to one; it cannot be
# encoded as UTF-8, so the database driver would raise).
_BAD_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
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
R_BAD_STRING = "bad_string"  # a string too long or with NUL / control characters / lone surrogates
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
    R_BAD_STRING,
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
# Contract v1.1: the node's sampling interval (s) and its per-reading quality flags.
INTERVAL_MIN_S = 1.0
INTERVAL_MAX_S = 86400.0
FLAGS_MAX = 65535
FLAG_NAMES = {
    1: "STUCK",
    2: "MISSING_SAMPLES",
    4: "NO_VALID_SAMPLE",
    8: "REVERSE_FLOW",
    16: "SENSOR_FAULT",
    32: "WARMUP",
    64: "OUT_OF_RANGE",
    128: "CLOCK_ESTIMATED",
}
# Bits that make a reading not valid (stored, but not counted as coverage or CO2); 2 and 128 are
# informational and unknown bits are stored and ignored (docs/payload.md).
FLAGS_INVALID_MASK = 1 | 4 | 8 | 16 | 32 | 64
CONV_KEYS = ("stack_diameter_m", "velocity_profile_factor", "pitot_k")
# Device health counters the node reports in a JSON status (stored as JSON text).
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
    acked_seq: int | None = None  # the end-to-end ack saved for it (contract v1.1)


@dataclass(slots=True)
class Rejection:
    """Why a payload (or one reading of it) was not stored."""

    reason: str
    detail: str
    device_id: str | None = None
    seq: int | None = None  # the rejected reading's seq (it counts as handled for the node's ack)


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


def as_finite(value: float | int) -> float | None:
    """`value` as a finite float, or None if it is NaN, infinite or an integer too big for a float (10**400)."""
    try:
        f = float(value)
    except OverflowError:
        return None
    return f if math.isfinite(f) else None


def string_problem(value: str, key: str, max_len: int) -> str | None:
    """Why `value` cannot be stored as the string field `key` (too long, control chars, surrogates); None if fine."""
    if len(value) > max_len:
        return f"{key} longer than {max_len} characters ({len(value)})"
    bad = _BAD_CHARS.search(value)
    if bad is not None:
        return f"{key} contains {bad.group()!r} at {bad.start()} (NUL, control character or lone surrogate)"
    return None


def clean_text(value: str) -> str:
    """`value` with every character a database text column cannot hold escaped (for rejection records)."""
    if _BAD_CHARS.search(value) is None:
        return value
    return _BAD_CHARS.sub(lambda m: m.group().encode("unicode_escape", "backslashreplace").decode("ascii"), value)


def _check_int(payload: dict, key: str, low: int, high: int) -> str | None:
    value = payload.get(key)
    if value is None:
        return None
    if type(value) is not int:
        if type(value) is float and not math.isfinite(value):
            return f"{key} is not finite"
        return f"{key} must be an integer, got {type(value).__name__}"
    if not low <= value <= high:
        return f"{key} {_short_number(value)} outside {low}..{high}"
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
    raw_horizon_ts: float | None = None,
) -> Decoded:
    """Validate one telemetry payload and convert its readings to `reading` rows.

    `raw_horizon_ts`: the instant before which retention dropped the raw readings (core.measurement
    .retention). A reading older than that is refused (ts_too_old): its month's rollups were built
    from readings that are gone, so it could only be counted twice, never checked.
    """
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
    if firmware is not None:
        if type(firmware) is not str:
            return _reject(R_WRONG_TYPE, f"fw must be a string, got {type(firmware).__name__}", device_id)
        problem = string_problem(firmware, "fw", FIRMWARE_MAX_LEN)
        if problem:
            return _reject(R_BAD_STRING, problem, device_id)
    interval_s = info.sample_interval_s  # v1: the registry's interval
    if doc.get("interval_s") is not None:
        raw_interval = doc["interval_s"]
        if not _is_number(raw_interval):
            return _reject(R_WRONG_TYPE, f"interval_s must be a number, got {type(raw_interval).__name__}", device_id)
        value = as_finite(raw_interval)
        if value is None:
            return _reject(R_NON_FINITE, "interval_s is not a finite number", device_id)
        if not INTERVAL_MIN_S <= value <= INTERVAL_MAX_S:
            return _reject(R_WRONG_TYPE, f"interval_s {value:g} outside {INTERVAL_MIN_S:g}..{INTERVAL_MAX_S:g}", device_id)
        interval_s = value
    conv = doc.get("conv")
    node_conv: dict[str, float | None] = dict.fromkeys(CONV_KEYS)
    if conv is not None:
        if type(conv) is not dict:
            return _reject(R_WRONG_TYPE, f"conv must be an object, got {type(conv).__name__}", device_id)
        for key in CONV_KEYS:
            value = conv.get(key)
            if value is None:
                continue
            if not _is_number(value) or as_finite(value) is None:
                return _reject(R_WRONG_TYPE, f"conv.{key} must be a finite number", device_id)
            node_conv[key] = float(value)
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
            if as_finite(value) is None:
                reason, problem = R_NON_FINITE, f"readings[{index}].{key} is not a finite number ({_short_number(value)})"
                break
        seq = r.get("seq")
        if seq is not None and (type(seq) is not int or not 0 <= seq <= INT64_MAX):
            if problem is None:
                reason, problem = R_WRONG_TYPE, f"readings[{index}].seq must be a non-negative integer"
            seq = None
        pressure = r.get("pressure_pa")
        dp_pa = r.get("dp_pa")
        flags = r.get("flags", 0)
        if flags is None:
            flags = 0
        if problem is None:
            for key, value in (("pressure_pa", pressure), ("dp_pa", dp_pa)):
                if value is None:
                    continue
                if not _is_number(value):
                    reason, problem = R_WRONG_TYPE, f"readings[{index}].{key} must be a number"
                elif as_finite(value) is None:
                    reason, problem = R_NON_FINITE, f"readings[{index}].{key} is not a finite number ({_short_number(value)})"
            if type(flags) is not int or not 0 <= flags <= FLAGS_MAX:
                reason, problem = R_WRONG_TYPE, f"readings[{index}].flags must be an integer 0..{FLAGS_MAX}"
        if problem is None:
            ts = r["ts"]
            if ts > latest:
                reason, problem = R_TS_FUTURE, f"readings[{index}].ts {ts} is {ts - now_ts:.0f} s in the future"
            elif ts < earliest:
                reason, problem = R_TS_TOO_OLD, f"readings[{index}].ts {ts} is older than {MAX_AGE_S / 86400:.0f} days"
            elif raw_horizon_ts is not None and ts < raw_horizon_ts:
                reason, problem = R_TS_TOO_OLD, (f"readings[{index}].ts {ts} is before the raw-data horizon "
                                                 f"{raw_horizon_ts:.0f} (retention): its month's rollups are final")
        if problem is not None:
            rejections.append(Rejection(reason, problem, device_id, seq))
            continue

        co2 = float(r["co2_ppm"])
        temp = float(r["flue_temp_c"])
        vel = float(r["velocity_m_s"])
        bad = []
        if flags & FLAGS_INVALID_MASK:
            names = [name for bit, name in FLAG_NAMES.items() if flags & bit & FLAGS_INVALID_MASK]
            bad.append("node flags " + ",".join(names))
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
                "flags": flags,
                "interval_s": interval_s,
                "covered_s": None,  # set by the writer: the interval capped by the gap to the next reading
                "dp_pa": None if dp_pa is None else float(dp_pa),
                "node_diameter_m": node_conv["stack_diameter_m"],
                "node_velocity_profile_factor": node_conv["velocity_profile_factor"],
                "node_pitot_k": node_conv["pitot_k"],
            }
        )
        if seq is not None and (max_seq is None or seq > max_seq):
            max_seq = seq
        if max_ts is None or ts > max_ts:
            max_ts = ts
    out.device = DeviceUpdate(
        device_id=device_id,
        firmware=firmware or None,
        rssi_dbm=doc.get("rssi"),
        uptime_s=doc.get("uptime_s"),
        buffered=doc.get("buffered"),
        last_seq=max_seq,
        last_reading_at=ts_to_utc(max_ts) if max_ts is not None else None,
    )
    return out


def _short_number(value: float | int) -> str:
    text = repr(value) if type(value) is float else f"integer of {len(str(value))} digits"
    return text[:40]


@dataclass(slots=True)
class StatusDoc:
    """A status message: the state and, for a v1.1 JSON status, the node's health fields."""

    state: str
    firmware: str | None = None
    reset_reason: str | None = None
    free_heap: int | None = None
    min_free_heap: int | None = None
    safe_mode: bool | None = None
    counters: dict[str, int] | None = None

    @property
    def has_health(self) -> bool:
        """Whether the status carries any health field."""
        return any(
            v is not None
            for v in (self.firmware, self.reset_reason, self.free_heap, self.min_free_heap, self.safe_mode, self.counters)
        )


def decode_status_doc(payload: bytes) -> tuple[StatusDoc | None, str]:
    """Decode a status payload (plain `online`/`offline`, or a v1.1 JSON object); (None, why) if bad."""
    stripped = payload.strip()
    if not stripped.startswith(b"{"):
        state = decode_status(payload)
        return (StatusDoc(state), "") if state else (None, "status payload must be online or offline")
    if len(payload) > MAX_PAYLOAD_BYTES:
        return None, f"status of {len(payload)} bytes > {MAX_PAYLOAD_BYTES}"
    try:
        doc = parse_json(payload)
    except (ValueError, RecursionError) as exc:
        return None, f"status is not JSON: {str(exc)[:120]}"
    if type(doc) is not dict:
        return None, "status must be a JSON object"
    state = doc.get("state", doc.get("status"))
    if type(state) is not str or state.strip().lower() not in (STATUS_ONLINE, STATUS_OFFLINE):
        return None, "status state must be online or offline"
    out = StatusDoc(state.strip().lower())
    for key, attr, max_len in (("fw", "firmware", FIRMWARE_MAX_LEN), ("reset_reason", "reset_reason", RESET_REASON_MAX_LEN)):
        value = doc.get(key)
        if value is None:
            continue
        if type(value) is not str:
            return None, f"{key} must be a string"
        problem = string_problem(value, key, max_len)
        if problem:
            return None, problem
        setattr(out, attr, value)
    for key in ("free_heap", "min_free_heap"):
        problem = _check_int(doc, key, 0, INT32_MAX)
        if problem:
            return None, problem
        setattr(out, key, doc.get(key))
    safe_mode = doc.get("safe_mode")
    if safe_mode is not None and type(safe_mode) is not bool:
        return None, "safe_mode must be true or false"
    out.safe_mode = safe_mode
    counters = doc.get("counters")
    if counters is not None:
        if type(counters) is not dict or len(counters) > MAX_COUNTERS:
            return None, f"counters must be an object of at most {MAX_COUNTERS} integers"
        for name, value in counters.items():
            problem = string_problem(name, "counter name", COUNTER_NAME_MAX_LEN)
            if problem:
                return None, problem
            if type(value) is not int or not 0 <= value <= INT64_MAX:
                return None, f"counters.{name} must be a non-negative integer"
        out.counters = counters
    return out, ""


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

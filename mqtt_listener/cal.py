"""Automatic calibration checks a node reports on `<prefix>/<factory>/<device>/cal` (docs/payload.md).

Payload (JSON object; contract addition, optional for nodes):

    {"kind": "span", "reference_ppm": 80000.0, "measured_ppm": 80950.0, "span_ppm": 100000.0,
     "ts": 1764331200.0, "certificate": "CAL-2026-114"}

Validated like telemetry: the device must be registered on the topic's factory, numbers finite and
inside the analyser's range (0–300,000 ppm, the CO2 range of decode.PHYSICAL_RANGES; span above 0),
`ts` Unix seconds not more than 300 s ahead of the server clock nor older than 400 days. A bad
message is set aside in `rejected_message` (the telemetry reasons, plus `bad_cal` for a value the
calibration log refuses) and acknowledged. A good one is stored with source = node through
core.measurement.calibration.record_node_check, which applies the drift rule (40 CFR 75 App. A §3.1)
to the node's stored readings; a message delivered again (same device, kind and time from the node)
is counted as a duplicate and not stored twice. Each message is its own transaction: checks are
rare (a few a day per node) and each may re-mark readings and rebuild rollups.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from core.measurement.calibration import CalibrationError, record_node_check
from core.models import CAL_KINDS, CAL_SOURCE_NODE, CalibrationCheck, Device, Factory, RejectedMessage
from core.timeutil import DEFAULT_TZ
from mqtt_listener.decode import (
    DEVICE_ID_MAX_LEN,
    MAX_AGE_S,
    MAX_FUTURE_SKEW_S,
    PHYSICAL_RANGES,
    R_BAD_STRING,
    R_BAD_TOPIC,
    R_FACTORY_MISMATCH,
    R_INTERNAL,
    R_MALFORMED_JSON,
    R_MISSING_FIELD,
    R_NON_FINITE,
    R_OVERSIZED,
    R_TS_FUTURE,
    R_TS_TOO_OLD,
    R_UNKNOWN_DEVICE,
    R_WRONG_TYPE,
    TOPIC_MAX_LEN,
    Rejection,
    clean_text,
    parse_json,
    parse_topic,
    string_problem,
    truncate_raw,
)
from mqtt_listener.status import ListenerStats
from mqtt_listener.writer import Message

log = logging.getLogger("mqtt_listener.cal")

CAL_KIND = "cal"  # the topic's last level
R_BAD_CAL = "bad_cal"  # a value the calibration log refuses (out of range, unknown kind)
# A calibration payload is a few dozen bytes; anything bigger is not one.
CAL_MAX_BYTES = 2048
CERTIFICATE_MAX_LEN = 80  # calibration_check.certificate
CO2_RANGE = PHYSICAL_RANGES["co2_ppm"]  # the analyser's range (0–300,000 ppm)
NUMBER_FIELDS = ("reference_ppm", "measured_ppm", "span_ppm", "ts")


@dataclass(frozen=True)
class CalDoc:
    """One validated automatic check."""

    kind: str
    reference_ppm: float
    measured_ppm: float
    span_ppm: float
    checked_at: datetime  # aware UTC
    certificate: str | None


def is_cal_topic(topic: str, prefix: str) -> bool:
    """Whether `topic` is `<prefix>/<factory>/<device>/cal`."""
    parts = parse_topic(topic, prefix.strip("/"))
    return parts is not None and parts[2] == CAL_KIND


def decode_cal(payload: bytes, now_ts: float) -> tuple[CalDoc | None, Rejection | None]:
    """Validate a cal payload (module doc); exactly one of the two is not None."""
    if len(payload) > CAL_MAX_BYTES:
        return None, Rejection(R_OVERSIZED, f"{len(payload)} bytes > {CAL_MAX_BYTES} for a calibration check")
    try:
        doc = parse_json(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        return None, Rejection(R_MALFORMED_JSON, str(exc)[:200])
    if not isinstance(doc, dict):
        return None, Rejection(R_WRONG_TYPE, f"payload must be a JSON object, got {type(doc).__name__}")
    for key in ("kind", *NUMBER_FIELDS):
        if key not in doc or doc[key] is None:
            return None, Rejection(R_MISSING_FIELD, f"{key} missing")
    kind = doc["kind"]
    if not isinstance(kind, str):
        return None, Rejection(R_WRONG_TYPE, f"kind must be a string, got {type(kind).__name__}")
    if kind not in CAL_KINDS:
        return None, Rejection(R_BAD_CAL, f"kind {kind[:20]!r} is not one of {', '.join(CAL_KINDS)}")
    values = {}
    for key in NUMBER_FIELDS:
        v = doc[key]
        if type(v) not in (int, float):  # bool is not a number in the contract
            return None, Rejection(R_WRONG_TYPE, f"{key} must be a number, got {type(v).__name__}")
        try:
            f = float(v)
        except OverflowError:
            f = math.inf
        if not math.isfinite(f):
            return None, Rejection(R_NON_FINITE, f"{key} is not finite")
        values[key] = f
    lo, hi = CO2_RANGE
    for key in ("reference_ppm", "measured_ppm"):
        if not lo <= values[key] <= hi:
            return None, Rejection(R_BAD_CAL, f"{key} {values[key]:g} outside {lo:g}..{hi:g} ppm")
    if not lo < values["span_ppm"] <= hi:
        return None, Rejection(R_BAD_CAL, f"span_ppm {values['span_ppm']:g} outside (0, {hi:g}] ppm")
    ts = values["ts"]
    if ts > now_ts + MAX_FUTURE_SKEW_S:
        return None, Rejection(R_TS_FUTURE, f"ts {ts:.0f} is {ts - now_ts:.0f} s ahead of the server clock")
    if ts < now_ts - MAX_AGE_S:
        return None, Rejection(R_TS_TOO_OLD, f"ts {ts:.0f} is older than {MAX_AGE_S / 86400:.0f} days")
    cert = doc.get("certificate")
    if cert is not None:
        if not isinstance(cert, str):
            return None, Rejection(R_WRONG_TYPE, f"certificate must be a string, got {type(cert).__name__}")
        problem = string_problem(cert, "certificate", CERTIFICATE_MAX_LEN)
        if problem:
            return None, Rejection(R_BAD_STRING, problem)
    return CalDoc(kind, values["reference_ppm"], values["measured_ppm"], values["span_ppm"],
                  datetime.fromtimestamp(ts, UTC), cert or None), None


class CalHandler:
    """Stores the cal messages of a batch (listener writer thread), one transaction each."""

    def __init__(self, session_factory: sessionmaker[Session], topic_prefix: str, stats: ListenerStats, *,
                 tz: tzinfo = DEFAULT_TZ, clock: Callable[[], float] | None = None) -> None:
        self.session_factory = session_factory
        self.prefix = topic_prefix.strip("/")
        self.stats = stats
        self.tz = tz
        self.clock = clock

    def handle(self, messages: Sequence[Message]) -> list[str]:
        """Store or reject each message; return the devices whose check was stored (their control state changed)."""
        changed: list[str] = []
        for m in messages:
            now_ts = (self.clock or time.time)()
            try:
                device_id = self._one(m, now_ts)
            except Exception as exc:  # noqa: BLE001 - whatever a message does, it must not stall ingest
                log.exception("calibration message on %r failed", m.topic[:120])
                self._reject(m, Rejection(R_INTERNAL, f"{type(exc).__name__}: {exc}"[:500]), now_ts)
                continue
            if device_id is not None:
                changed.append(device_id)
        return changed

    def _one(self, m: Message, now_ts: float) -> str | None:
        parts = parse_topic(m.topic, self.prefix)
        if parts is None or parts[2] != CAL_KIND:
            self._reject(m, Rejection(R_BAD_TOPIC, f"topic {m.topic[:200]!r} is not {self.prefix}/<factory>/<device>/cal"),
                         now_ts)
            return None
        factory_code, device_id, _ = parts
        short_id = device_id[:DEVICE_ID_MAX_LEN]
        if m.payload_size > CAL_MAX_BYTES:
            self._reject(m, Rejection(R_OVERSIZED, f"{m.payload_size} bytes > {CAL_MAX_BYTES}", short_id), now_ts)
            return None
        doc, rej = decode_cal(m.payload, now_ts)
        if rej is not None:
            self._reject(m, Rejection(rej.reason, rej.detail, short_id), now_ts)
            return None
        with self.session_factory() as s:
            row = s.execute(sa.select(Device.id, Factory.code).join(Factory, Factory.id == Device.factory_id)
                            .where(Device.id == device_id, Device.active.is_(True))).first() if len(device_id) <= DEVICE_ID_MAX_LEN else None
            if row is None:
                rej = Rejection(R_UNKNOWN_DEVICE, f"device {short_id!r} is not registered (or is retired)", short_id)
            elif row[1] != factory_code:
                rej = Rejection(R_FACTORY_MISMATCH, f"device {device_id} belongs to {row[1]}, not {factory_code[:40]}",
                                short_id)
            if rej is not None:
                s.rollback()
                self._reject(m, rej, now_ts)
                return None
            dup = s.scalar(sa.select(sa.func.count()).select_from(CalibrationCheck).where(
                CalibrationCheck.device_id == device_id, CalibrationCheck.source == CAL_SOURCE_NODE,
                CalibrationCheck.kind == doc.kind, CalibrationCheck.checked_at == doc.checked_at))
            if dup:
                self.stats.incr("cal_duplicates")
                return None
            try:
                check = record_node_check(s, device_id, doc.kind, doc.reference_ppm, doc.measured_ppm, doc.span_ppm,
                                          doc.checked_at, doc.certificate, self.tz)
            except CalibrationError as exc:
                s.rollback()
                self._reject(m, Rejection(R_BAD_CAL, exc.message, short_id), now_ts)
                return None
            s.commit()
            self.stats.incr("cal_checks")
            log.info("calibration check from %s: %s %.2f %% of span, %s", device_id, doc.kind, check.error_pct,
                     "pass" if check.passed else "FAIL")
        return device_id

    def _reject(self, m: Message, rej: Rejection, now_ts: float) -> None:
        with self.session_factory() as s:
            s.add(RejectedMessage(
                received_at=datetime.fromtimestamp(now_ts, UTC).replace(tzinfo=None), topic=clean_text(m.topic)[:TOPIC_MAX_LEN],
                reason=rej.reason, detail=clean_text(rej.detail), payload=truncate_raw(m.payload),
                payload_size=m.payload_size, device_id=clean_text(rej.device_id)[:DEVICE_ID_MAX_LEN] if rej.device_id
                else None))
            s.commit()
        self.stats.reject(rej.reason)
        log.info("rejected %s on %r: %s", rej.reason, m.topic[:120], clean_text(rej.detail[:200]))

"""The batch writer: decode a batch of MQTT messages and store it in one transaction.

`BatchWriter.write(batch)` returns only after the batch is committed (retrying database errors
with backoff for as long as it takes), so the caller may then acknowledge every message in it.
Errors are sorted the same way whether SQLAlchemy raised them or the PostgreSQL fast paths (COPY,
execute_values on the raw psycopg2 cursor): a lost or unusable connection is retried; a statement
the database refuses (DataError, IntegrityError, …) sends the batch down the one-by-one path, so
only the culprit message is set aside as a `db_error` rejection. Anything else propagates: the
caller must then make the broker redeliver the batch (it is neither stored nor acknowledged).
Readings are inserted with ON CONFLICT DO NOTHING … RETURNING, and only the rows that came back
(the new ones) are added to the rollups: duplicates are stored once and counted once.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

import psycopg2
import sqlalchemy as sa
from psycopg2.extras import execute_values
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from core.emissions import EmissionsError, barometric_pressure_pa
from core.measurement.calibration import apply_control_state, control_state, mark_rows
from core.measurement.rollups import RollupAccumulator, dbapi_cursor, raw_horizon, reading_coverage_s
from core.models import QUALITY_VALID, Device, Factory, Reading, RejectedMessage, Stack, UTCDateTime
from core.timeutil import DEFAULT_TZ
from mqtt_listener.ack import AckTracker
from mqtt_listener.decode import (
    DEVICE_ID_MAX_LEN,
    MAX_PAYLOAD_BYTES,
    R_BAD_STATUS,
    R_BAD_TOPIC,
    R_DB_ERROR,
    R_INTERNAL,
    R_OVERSIZED,
    TOPIC_MAX_LEN,
    DeviceInfo,
    DeviceUpdate,
    Rejection,
    StatusDoc,
    clean_text,
    decode_status_doc,
    decode_telemetry,
    parse_topic,
    truncate_raw,
    ts_to_utc,
)
from mqtt_listener.qa import DeviceWindow, QaSettings, check_rows, window_from_history
from mqtt_listener.status import STATUS_ONLINE, ListenerStats

log = logging.getLogger("mqtt_listener.writer")

# Reload the device registry at least this often, so edits to stacks and devices take effect.
REGISTRY_MAX_AGE_S = 60.0
# …and at most this often when an unknown device shows up (a flood of them must not hammer the DB).
REGISTRY_MIN_RELOAD_S = 2.0
# Backoff between retries of a batch after a database error (doubles up to the maximum).
RETRY_FIRST_S = 0.2
RETRY_MAX_S = 10.0
# Rows per INSERT … RETURNING statement.
INSERT_CHUNK = 1000
# Committed seqs fetched per device when a gap in its acks is looked up in the database.
ACK_DB_LOOKAHEAD = 20_000

# Columns of a reading row, in the order of the PostgreSQL fast-path INSERT.
READING_COLUMNS = (
    "device_id",
    "factory_id",
    "ts",
    "seq",
    "co2_ppm",
    "flue_temp_c",
    "velocity_m_s",
    "pressure_pa",
    "co2_kg_s",
    "quality",
    "quality_reason",
    "pressure_used_pa",
    "diameter_m",
    "moisture_fraction",
    "dry_basis",
    "velocity_profile_factor",
    "received_at",
    "flags",
    "interval_s",
    "covered_s",
    "dp_pa",
    "node_diameter_m",
    "node_velocity_profile_factor",
    "node_pitot_k",
    "server_flags",
)
_COLS = ", ".join(READING_COLUMNS)
# Staging table for COPY: lives as long as the pooled connection, emptied by every commit.
_PG_STAGING_DDL = (
    f"CREATE TEMP TABLE IF NOT EXISTS reading_in ON COMMIT DELETE ROWS AS SELECT {_COLS} FROM reading WITH NO DATA"
)
_PG_COPY = f"COPY reading_in ({_COLS}) FROM STDIN"
_PG_FROM_STAGING = (
    f"INSERT INTO reading ({_COLS}) SELECT {_COLS} FROM reading_in "
    "ON CONFLICT (device_id, ts) DO NOTHING RETURNING device_id, ts"
)
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_value(value: object) -> str:
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, str):
        return value.translate(_COPY_ESCAPES)
    return str(value)  # int, float (finite: validated), naive UTC datetime (ISO with a space)


def _copy_line(r: dict) -> str:
    """One reading row as a line of PostgreSQL COPY text format."""
    # _copy_value inlined: this runs for every column of every reading (profiled: the hottest loop).
    out = []
    for c in READING_COLUMNS:
        v = r[c]
        if v is None:
            out.append("\\N")
        elif type(v) is str:
            out.append(v.translate(_COPY_ESCAPES))
        elif v is True:
            out.append("t")
        elif v is False:
            out.append("f")
        else:
            out.append(str(v))
    return "\t".join(out) + "\n"
# Envelope values of many devices in one statement; seq and last reading time only move forward.
# Two writer threads may commit out of order: a batch older than what the row already shows
# (its time is before last_seen_at) leaves firmware, signal, uptime and buffer fill alone.
_PG_DEVICE_UPDATE = """
UPDATE device AS d SET
    firmware = CASE WHEN d.last_seen_at IS NULL OR v.now >= d.last_seen_at
                    THEN COALESCE(v.fw, d.firmware) ELSE d.firmware END,
    rssi_dbm = CASE WHEN d.last_seen_at IS NULL OR v.now >= d.last_seen_at
                    THEN COALESCE(v.rssi, d.rssi_dbm) ELSE d.rssi_dbm END,
    uptime_s = CASE WHEN d.last_seen_at IS NULL OR v.now >= d.last_seen_at
                    THEN COALESCE(v.uptime, d.uptime_s) ELSE d.uptime_s END,
    buffered = CASE WHEN d.last_seen_at IS NULL OR v.now >= d.last_seen_at
                    THEN COALESCE(v.buffered, d.buffered) ELSE d.buffered END,
    last_seq = CASE WHEN v.seq IS NOT NULL AND (d.last_seq IS NULL OR v.seq > d.last_seq) THEN v.seq ELSE d.last_seq END,
    last_reading_at = CASE WHEN v.last IS NOT NULL AND (d.last_reading_at IS NULL OR v.last > d.last_reading_at)
                           THEN v.last ELSE d.last_reading_at END,
    last_seen_at = GREATEST(v.now, COALESCE(d.last_seen_at, v.now))
FROM (VALUES %s) AS v(id, fw, rssi, uptime, buffered, seq, last, now)
WHERE d.id = v.id
"""
# Status changes (a reading or "online" -> online; the last will -> offline); a status message is
# also a sign of life, except the broker's "offline" on the node's behalf.
_PG_STATUS_UPDATE = """
UPDATE device AS d SET
    status = v.status,
    status_changed_at = CASE WHEN d.status IS DISTINCT FROM v.status THEN v.at ELSE d.status_changed_at END,
    last_seen_at = CASE WHEN v.status = 'online' AND (d.last_seen_at IS NULL OR d.last_seen_at < v.at)
                        THEN v.at ELSE d.last_seen_at END
FROM (VALUES %s) AS v(id, status, at)
WHERE d.id = v.id AND (d.status IS DISTINCT FROM v.status OR v.status = 'online')
  AND (d.status_changed_at IS NULL OR d.status_changed_at <= v.at)
"""



# Per device (d, first and last ts of the batch): its stored readings from the last one before
# the batch to the first one after it (coverage: each reading is capped by the gap to the next).
_PG_NEIGHBOURS = """
WITH v(d, lo, hi) AS (VALUES %s)
SELECT r.device_id, r.ts, r.factory_id, r.quality, r.co2_kg_s, r.interval_s, r.covered_s
FROM v JOIN reading r ON r.device_id = v.d
 AND r.ts >= COALESCE((SELECT max(p.ts) FROM reading p WHERE p.device_id = v.d AND p.ts < v.lo), v.lo)
 AND r.ts <= COALESCE((SELECT min(n.ts) FROM reading n WHERE n.device_id = v.d AND n.ts > v.hi), v.hi)
"""
_PG_COVERAGE_UPDATE = """
UPDATE reading AS r SET covered_s = v.cov FROM (VALUES %s) AS v(d, ts, cov) WHERE r.device_id = v.d AND r.ts = v.ts
"""


# One device's committed seqs in (acked, highest seen]: stored readings and rejected ones.
_ACK_SEQS = """
SELECT seq FROM reading WHERE device_id = :d AND seq > :lo AND seq <= :hi
UNION
SELECT seq FROM rejected_message WHERE device_id = :d AND seq > :lo AND seq <= :hi
"""


class ConnectionLost(Exception):
    """The database connection was lost during a raw psycopg2 fast path (the batch is retried)."""


# Errors that mean "the database is not reachable right now" (or a deadlock, a cancelled
# statement, a server shutting down): retry the same batch. The PostgreSQL fast paths use the raw
# psycopg2 cursor, so their errors are psycopg2's own classes, not SQLAlchemy's wrappers.
TRANSIENT_ERRORS = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
    psycopg2.OperationalError,
    psycopg2.InterfaceError,
    ConnectionLost,
)
# Errors that mean "the database refused something in this batch": store it message by message.
# (Checked after TRANSIENT_ERRORS, which are subclasses of these.)
REFUSED_ERRORS = (sa_exc.SQLAlchemyError, psycopg2.Error)


@dataclass(slots=True)
class Message:
    """One MQTT message as the network thread enqueued it."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    retain: bool
    received_mono: float
    received_wall: float
    generation: int = 0  # the connection it arrived on (see client.AckSequencer)
    committed: bool = False  # stored: its ack may go out once every earlier message's has
    size: int = -1  # the payload's size as received when `payload` was cut short (oversized); -1: whole

    @property
    def payload_size(self) -> int:
        """The payload's size as received."""
        return self.size if self.size >= 0 else len(self.payload)


class StopRequested(Exception):
    """The writer was asked to stop while waiting to retry; the batch stays unacknowledged."""


def load_registry(session: Session) -> dict[str, DeviceInfo]:
    """All devices with their stack and factory parameters, by device id."""
    rows = session.execute(
        sa.select(
            Device.id,
            Device.factory_id,
            Factory.code,
            Device.sample_interval_s,
            Stack.diameter_m,
            Stack.moisture_fraction,
            Stack.dry_basis,
            Stack.velocity_profile_factor,
            Factory.altitude_m,
            Device.active,
            Device.acked_seq,
        )
        .join(Factory, Factory.id == Device.factory_id)
        .join(Stack, Stack.id == Device.stack_id)
    ).all()
    out = {}
    for r in rows:
        try:
            baro = barometric_pressure_pa(r.altitude_m or 0.0)
        except EmissionsError:
            baro = barometric_pressure_pa(0.0)
        out[r.id] = DeviceInfo(
            id=r.id,
            factory_id=r.factory_id,
            factory_code=r.code,
            sample_interval_s=float(r.sample_interval_s or 60.0),
            diameter_m=float(r.diameter_m),
            moisture_fraction=float(r.moisture_fraction or 0.0),
            dry_basis=bool(r.dry_basis),
            velocity_profile_factor=float(r.velocity_profile_factor or 1.0),
            barometric_pa=baro,
            active=bool(r.active),
            acked_seq=r.acked_seq,
        )
    return out


def _naive(dt: datetime) -> datetime:
    return dt.replace(tzinfo=None) if dt.tzinfo is None else dt.astimezone(UTC).replace(tzinfo=None)


class BatchWriter:
    """Decodes and stores batches of messages; owns the device registry cache."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        topic_prefix: str,
        stats: ListenerStats,
        *,
        tz: tzinfo = DEFAULT_TZ,
        stop_event: threading.Event | None = None,
        clock: Callable[[], float] = time.time,
        on_acks: Callable[[dict[str, tuple[str, int]]], None] | None = None,
        ack_tracker: AckTracker | None = None,
        qa: QaSettings | None = None,
    ) -> None:
        self.session_factory = session_factory
        # Server quality checks (mqtt_listener/qa.py) and each device's recent values for them.
        self.qa = qa or QaSettings()
        self.windows: dict[str, DeviceWindow] = {}
        # Called after each commit with {device: (factory code, highest contiguous committed seq)}
        # for the devices whose ack moved (the listener publishes them on .../ack); None: no acks.
        self.on_acks = on_acks
        self.acks = ack_tracker or AckTracker()
        self.prefix = topic_prefix.strip("/")
        self.stats = stats
        self.tz = tz
        self.stop_event = stop_event or threading.Event()
        self.clock = clock
        self.registry: dict[str, DeviceInfo] = {}
        self._registry_loaded = 0.0
        self.raw_horizon_ts: float | None = None  # retention's horizon, reloaded with the registry
        self.control: dict[str, list] = {}
        self._control_loaded = False
        self._dialect: str | None = None
        self._insert_stmt = None

    # -- registry -------------------------------------------------------------------------

    def refresh_registry(self, session: Session, force: bool = False) -> None:
        """Reload the device registry if it is stale (or `force` and not reloaded just now)."""
        now = time.monotonic()
        age = now - self._registry_loaded
        if age > REGISTRY_MAX_AGE_S or (force and age > REGISTRY_MIN_RELOAD_S):
            self.registry = load_registry(session)
            self._registry_loaded = now
            horizon = raw_horizon(session)
            self.raw_horizon_ts = None if horizon is None else horizon.replace(tzinfo=UTC).timestamp()
            # Calibration out-of-control intervals (core.measurement.calibration), cached like the registry.
            state = control_state(session)
            changed = [d for d in set(state) | set(self.control) if state.get(d) != self.control.get(d)]
            self.control = state
            session.rollback()  # end the read transaction
            if changed and self._control_loaded:
                # Readings stored with the stale state since the last reload: mark them from the log.
                for device_id in changed:
                    apply_control_state(session, device_id, self.tz)
                session.commit()
            self._control_loaded = True

    def invalidate_registry(self) -> None:
        """Reload the registry and calibration control state with the next batch (a check was just stored)."""
        self._registry_loaded = float("-inf")

    # -- public -----------------------------------------------------------------------------

    def write(self, batch: Sequence[Message]) -> None:
        """Store one batch, retrying transient database errors until committed (or stopped)."""
        delay = RETRY_FIRST_S
        while True:
            try:
                self._write_once(batch)
                return
            except TRANSIENT_ERRORS as exc:
                self.stats.incr("db_errors")
                log.warning("database unavailable (%s); retrying batch of %d in %.1f s", _short(exc), len(batch), delay)
            except StopRequested:
                raise
            except Exception as exc:  # noqa: BLE001 - whatever a message does, it must not stall the rest
                # Not a connectivity problem: some message makes the batch fail (the database refused
                # it, the driver could not encode it, or a bug). Store the messages one by one so that
                # only the culprit is set aside as a rejection; it is acknowledged like the others.
                self.stats.incr("db_errors" if isinstance(exc, REFUSED_ERRORS) else "store_errors")
                log.exception("batch of %d failed (%s); storing its messages one by one", len(batch), _short(exc))
                if len(batch) > 1:
                    for message in batch:
                        self._write_single_or_reject(message)
                    return
                self._reject_after_error(batch[0], exc)
                return
            self.stats.incr("db_retries")
            if self.stop_event.wait(delay):
                raise StopRequested
            delay = min(delay * 2, RETRY_MAX_S)

    # -- internals --------------------------------------------------------------------------

    def _write_single_or_reject(self, message: Message) -> None:
        delay = RETRY_FIRST_S
        while True:
            try:
                self._write_once([message])
                return
            except TRANSIENT_ERRORS as exc:
                self.stats.incr("db_errors")
                log.warning("database unavailable (%s); retrying in %.1f s", _short(exc), delay)
            except StopRequested:
                raise
            except Exception as exc:  # noqa: BLE001 - see write()
                self._reject_after_error(message, exc)
                return
            self.stats.incr("db_retries")
            if self.stop_event.wait(delay):
                raise StopRequested
            delay = min(delay * 2, RETRY_MAX_S)

    def _reject_after_error(self, message: Message, exc: Exception) -> None:
        """Set aside a message that cannot be stored: a rejection with the reason, so it can be acknowledged."""
        reason = R_DB_ERROR if isinstance(exc, REFUSED_ERRORS) else R_INTERNAL
        detail = f"{type(exc).__name__}: {_short(exc)}"[:500]
        attempts = [
            (message, Rejection(reason, detail)),
            # If even the rejection cannot be stored (the topic itself is the problem): a bare one.
            (
                Message("?", b"", message.mid, message.qos, message.retain, 0.0, 0.0, size=message.payload_size),
                Rejection(reason, f"{detail[:300]} (topic not storable: {message.topic[:200]!r})"),
            ),
        ]
        for m, rej in attempts:
            delay = RETRY_FIRST_S
            while True:
                try:
                    with self.session_factory() as session:
                        self._insert_rejections(session, [(m, rej)], datetime.now(UTC))
                        session.commit()
                    self.stats.reject(reason)
                    return
                except TRANSIENT_ERRORS:
                    if self.stop_event.wait(delay):
                        raise StopRequested from None
                    delay = min(delay * 2, RETRY_MAX_S)
                except Exception:  # noqa: BLE001 - try the bare rejection, then give up on this message
                    log.exception("could not store the rejection of a message on %r", message.topic[:120])
                    break
        # Acknowledged although not recorded: holding it would stall every message behind it.
        self.stats.incr("unstorable")

    def _reading_insert(self, dialect: str):
        if self._insert_stmt is None or self._dialect != dialect:
            table = Reading.__table__
            insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
            self._insert_stmt = (
                insert(table).on_conflict_do_nothing(index_elements=["device_id", "ts"]).returning(table.c.device_id, table.c.ts)
            )
            self._dialect = dialect
        return self._insert_stmt

    def _write_once(self, batch: Sequence[Message]) -> None:
        try:
            with self.session_factory() as session:
                try:
                    inserted_rows, rows, in_batch_dups, n_status, rejections = self._store(session, batch)
                except psycopg2.Error as exc:
                    # Raised by a raw-cursor fast path, so SQLAlchemy has not seen it: if the
                    # connection is gone, drop it from the pool here (instead of relying on the
                    # rollback at close to fail) and retry the batch.
                    if _invalidate_if_closed(session, exc):
                        raise ConnectionLost(_short(exc)) from exc
                    raise
        except sa_exc.DBAPIError as exc:
            # SQLAlchemy recognised a disconnect in an error of another class (psycopg2 reports
            # some lost connections as DatabaseError): retry, do not blame the messages.
            if exc.connection_invalidated and not isinstance(exc, TRANSIENT_ERRORS):
                raise ConnectionLost(_short(exc)) from exc
            raise

        if self.on_acks is not None:
            try:
                self._send_acks(rows, inserted_rows, rejections)
            except Exception:  # noqa: BLE001 - the data is committed; the node resends, the next ack covers it
                log.exception("could not publish acks")
        stats = self.stats
        commit_mono = time.monotonic()
        n_invalid = sum(1 for r in inserted_rows if r["quality"] != QUALITY_VALID)
        stats.incr("received", len(batch))
        stats.incr("readings_received", len(rows) + in_batch_dups)
        stats.incr("stored", len(inserted_rows))
        stats.incr("invalid", n_invalid)
        stats.incr("duplicates", len(rows) - len(inserted_rows) + in_batch_dups)
        stats.incr("status_messages", n_status)
        for _, rej in rejections:
            stats.reject(rej.reason)
        stats.record_batch([commit_mono - m.received_mono for m in batch])

    def _store(self, session: Session, batch: Sequence[Message]):  # noqa: ANN202
        """Decode and write one batch in `session` and commit; return what the statistics need."""
        stats = self.stats
        dialect = session.get_bind().dialect.name
        self.refresh_registry(session)
        prefix = self.prefix
        parsed = []
        unknown = False
        for m in batch:
            parts = parse_topic(m.topic, prefix)
            parsed.append(parts)
            if parts is not None and parts[1] not in self.registry:
                unknown = True
        if unknown:
            self.refresh_registry(session, force=True)

        now_ts = self.clock()
        now = datetime.fromtimestamp(now_ts, UTC)
        received_at = now.replace(tzinfo=None)
        registry = self.registry
        rows: list[dict] = []
        rejections: list[tuple[Message, Rejection]] = []
        device_updates: dict[str, DeviceUpdate] = {}
        # Per device: arrival time of its newest telemetry in the batch (orders envelope updates).
        device_seen: dict[str, datetime] = {}
        # Per device: the status the batch ends with and when its deciding message arrived.
        final_status: dict[str, tuple[str, datetime]] = {}
        # Per device: the health fields of its newest JSON status in the batch.
        health: dict[str, tuple[StatusDoc, datetime]] = {}
        seen: set[tuple[str, datetime]] = set()
        in_batch_dups = 0
        n_status = 0
        for m, parts in zip(batch, parsed, strict=True):
            if parts is None:
                rejections.append((m, Rejection(R_BAD_TOPIC, f"topic {m.topic[:200]!r} is not {prefix}/<factory>/<device>/<kind>")))
                continue
            factory_code, device_id, kind = parts
            if m.payload_size > MAX_PAYLOAD_BYTES:
                # Cut short on receipt (client.Listener): never decoded, whatever its kind.
                rejections.append(
                    (m, Rejection(R_OVERSIZED, f"{m.payload_size} bytes > {MAX_PAYLOAD_BYTES}", device_id[:DEVICE_ID_MAX_LEN]))
                )
                continue
            if kind == "telemetry":
                try:
                    decoded = decode_telemetry(factory_code, device_id, m.payload, registry, now_ts, received_at,
                                               self.raw_horizon_ts)
                except Exception as exc:  # a decoder bug must not stop ingest: set the message aside
                    log.exception("decoder failed on %s", m.topic[:120])
                    rejections.append((m, Rejection(R_INTERNAL, f"{type(exc).__name__}: {exc}"[:500], device_id[:DEVICE_ID_MAX_LEN])))
                    continue
                for rej in decoded.rejections:
                    rejections.append((m, rej))
                for row in decoded.readings:
                    key = (row["device_id"], row["ts"])
                    if key in seen:
                        in_batch_dups += 1
                        continue
                    seen.add(key)
                    rows.append(row)
                upd = decoded.device
                if upd is not None:
                    prev = device_updates.get(upd.device_id)
                    if prev is not None:
                        upd = _merge_update(prev, upd)
                    device_updates[upd.device_id] = upd
                    arrived = ts_to_utc(m.received_wall)
                    if upd.device_id not in device_seen or arrived > device_seen[upd.device_id]:
                        device_seen[upd.device_id] = arrived
                    if decoded.readings:
                        final_status[upd.device_id] = (STATUS_ONLINE, ts_to_utc(m.received_wall))
            elif kind == "status":
                n_status += 1
                if not m.payload:
                    continue  # an empty retained message deletes the retained status: nothing to record
                doc, why = decode_status_doc(m.payload)
                info = registry.get(device_id)
                if doc is None:
                    rejections.append((m, Rejection(R_BAD_STATUS, why, device_id[:DEVICE_ID_MAX_LEN])))
                elif info is not None and info.factory_code == factory_code:
                    arrived = ts_to_utc(m.received_wall)
                    if doc.has_health:
                        health[device_id] = (doc, arrived)
                    if m.retain:
                        # A retained status is the broker replaying an old message (on every
                        # (re)subscription): it says nothing about the node now, so it neither
                        # revives a node nor moves last_seen_at.
                        stats.incr("status_retained")
                    else:
                        final_status[device_id] = (doc.state, arrived)
                else:
                    stats.incr("status_unknown_device")
            else:
                # Only telemetry and status are subscribed; anything else is a mis-published topic.
                rejections.append((m, Rejection(R_BAD_TOPIC, f"unexpected topic kind {kind[:40]!r}", device_id[:DEVICE_ID_MAX_LEN])))

        acc = RollupAccumulator(self.tz)
        fresh = rows
        if rows and self.control:
            mark_rows(rows, self.control)
        moved_windows: dict[str, DeviceWindow] = {}
        if rows:
            self._seed_windows(session, rows)
            moved_windows = check_rows(rows, self.windows, self.qa)
            fresh, adjusted = self._assign_coverage(session, dialect, rows)
            for device_id, factory_id, ts, co2_kg_s, old_s, new_s in adjusted:
                # An earlier reading now has a next one closer than its interval: it covers less.
                acc.add_coverage(device_id, factory_id, ts, -old_s, co2_kg_s)
                acc.add_coverage(device_id, factory_id, ts, new_s, co2_kg_s)
            if adjusted:
                self._update_coverage(session, dialect, adjusted)
        inserted_rows = self._insert_readings(session, dialect, fresh)
        acc.add_rows(inserted_rows)
        acc.upsert(session)
        if rejections:
            self._insert_rejections(session, rejections, now)
        if self.on_acks is not None:
            self._save_acked(session, dialect, device_updates.keys())
        if device_updates:
            self._update_devices(session, device_updates, device_seen)
        if final_status:
            self._update_status(session, final_status)
        if health:
            self._update_health(session, health)
        session.commit()
        self.windows.update(moved_windows)  # only now: a retried batch is checked from the same state
        return inserted_rows, rows, in_batch_dups, n_status, rejections

    def _seed_windows(self, session: Session, rows: list[dict]) -> None:
        """Give each device seen for the first time its quality-check window, from its last stored readings.

        One indexed query per device and process lifetime (ORDER BY ts DESC LIMIT n on the
        (device_id, ts) unique index), so ingest never runs a query per message.
        """
        new = {r["device_id"] for r in rows} - self.windows.keys()
        if not new:
            return
        t = Reading.__table__.c
        for device_id in sorted(new):
            history = session.execute(
                sa.select(t.ts, t.co2_ppm, t.velocity_m_s, t.server_flags)
                .where(t.device_id == device_id)
                .order_by(t.ts.desc())
                .limit(self.qa.seed_readings)
            ).all()
            self.windows[device_id] = window_from_history([(_naive(ts), c, v, f) for ts, c, v, f in reversed(history)])

    def _send_acks(self, rows: list[dict], inserted_rows: list[dict], rejections: list[tuple[Message, Rejection]]) -> None:
        """After a commit: advance each device's contiguous committed seq and hand the moved ones to on_acks."""
        handled: dict[str, set[int]] = {}
        for r in rows:
            if r["seq"] is not None:
                handled.setdefault(r["device_id"], set()).add(r["seq"])
        for _m, rej in rejections:
            if rej.seq is not None and rej.device_id in self.registry:
                handled.setdefault(rej.device_id, set()).add(rej.seq)
        if not handled:
            return
        fresh: dict[str, set[int]] = {}
        for r in inserted_rows:
            if r["seq"] is not None:
                fresh.setdefault(r["device_id"], set()).add(r["seq"])
        registry = self.registry
        # Devices this listener has not acked yet start from the acked seq saved in the database
        # (read now, not from the registry cache: with a shared subscription another listener may
        # have acked a node whose messages all went to it until it died).
        new = [d for d in handled if not self.acks.knows(d)]
        saved: dict[str, int | None] = {}
        if new:
            with self.session_factory() as session:
                t = Device.__table__.c
                saved = dict(session.execute(sa.select(t.id, t.acked_seq).where(t.id.in_(new))).all())

        def initial(device_id: str) -> int | None:
            return saved.get(device_id)

        moved, check = self.acks.committed(handled, fresh, initial)
        if check:
            # A gap stays open: another listener (shared subscription) may have stored the seqs.
            with self.session_factory() as session:
                for device_id in check:
                    gap = self.acks.gap(device_id)
                    if gap is None:
                        continue
                    lo, hi = gap
                    found = session.execute(sa.text(_ACK_SEQS), {"d": device_id, "lo": lo, "hi": min(hi, lo + ACK_DB_LOOKAHEAD)})
                    seq = self.acks.fill(device_id, [s for (s,) in found])
                    if seq is not None:
                        moved[device_id] = seq
        if moved:
            self.on_acks({d: (registry[d].factory_code, seq) for d, seq in moved.items() if d in registry})

    def save_acked_now(self) -> None:
        """Save every moved acked seq not saved yet (housekeeping and stop; errors only logged)."""
        devices = self.acks.unsaved_devices()
        if not devices:
            return
        try:
            with self.session_factory() as session:
                self._save_acked(session, session.get_bind().dialect.name, devices)
                session.commit()
        except Exception as exc:  # noqa: BLE001 - saved with the device's next batch instead
            log.warning("could not save acked seqs: %s", _short(exc))

    def _save_acked(self, session: Session, dialect: str, devices: Iterable[str]) -> None:
        """Save the moved acked seqs of this batch's devices (a restarted listener starts from them).

        Only this batch's devices: their rows are locked by this transaction anyway, so the other
        writer (which holds other devices) is never made to wait.
        """
        unsaved = self.acks.take_unsaved(devices)
        if not unsaved:
            return
        params = sorted(unsaved.items())
        if dialect == "postgresql":
            cur = dbapi_cursor(session)
            execute_values(
                cur,
                "UPDATE device AS d SET acked_seq = v.seq FROM (VALUES %s) AS v(id, seq) WHERE d.id = v.id",
                params,
                template="(%s, %s::bigint)",
                page_size=len(params),
            )
            cur.close()
            return
        t = Device.__table__.c
        session.execute(
            sa.update(Device.__table__).where(t.id == sa.bindparam("p_id")).values(acked_seq=sa.bindparam("p_seq")),
            [{"p_id": d, "p_seq": seq} for d, seq in params],
        )

    def _assign_coverage(self, session: Session, dialect: str, rows: list[dict]) -> tuple[list[dict], list[tuple]]:
        """Set covered_s on the new rows; return them (without already stored ones) and stored rows whose coverage shrinks.

        A reading covers its own interval capped by the gap to the device's next reading (and
        3,600 s). The stored neighbours that matter are, per device, those from the last one
        before the batch's first reading to the first one after its last: one query. On
        PostgreSQL the devices' rows are locked first, so two writers never compute the
        coverage of one device's readings from two different views of its neighbours.
        """
        by_device: dict[str, list[dict]] = {}
        for r in rows:
            by_device.setdefault(r["device_id"], []).append(r)
        bounds = [(d, min(r["ts"] for r in rs), max(r["ts"] for r in rs)) for d, rs in sorted(by_device.items())]
        stored: dict[str, list[tuple]] = {}
        if dialect == "postgresql":
            cur = dbapi_cursor(session)
            cur.execute("SELECT id FROM device WHERE id = ANY(%s) ORDER BY id FOR UPDATE", ([d for d, _, _ in bounds],))
            found = execute_values(cur, _PG_NEIGHBOURS, bounds, template="(%s, %s::timestamp, %s::timestamp)", fetch=True, page_size=len(bounds))
            cur.close()
        else:
            t = Reading.__table__.c
            found = []
            for d, lo, hi in bounds:
                pred = sa.select(sa.func.max(t.ts)).where(t.device_id == d, t.ts < lo).scalar_subquery()
                succ = sa.select(sa.func.min(t.ts)).where(t.device_id == d, t.ts > hi).scalar_subquery()
                found.extend(
                    session.execute(
                        sa.select(t.device_id, t.ts, t.factory_id, t.quality, t.co2_kg_s, t.interval_s, t.covered_s).where(
                            t.device_id == d,
                            t.ts >= sa.func.coalesce(pred, sa.literal(lo, UTCDateTime())),
                            t.ts <= sa.func.coalesce(succ, sa.literal(hi, UTCDateTime())),
                        )
                    ).all()
                )
        for device_id, ts, factory_id, quality, co2_kg_s, interval_s, covered_s in found:
            stored.setdefault(device_id, []).append((_naive(ts), factory_id, quality, co2_kg_s, interval_s, covered_s))
        new_rows: list[dict] = []
        adjusted: list[tuple] = []
        for device_id, rs in by_device.items():
            old = {ts: rest for ts, *rest in stored.get(device_id, [])}
            fresh = [r for r in rs if r["ts"] not in old]  # the others are duplicates: not inserted
            new_rows.extend(fresh)
            timeline = sorted([(ts, None) for ts in old] + [(r["ts"], r) for r in fresh], key=lambda x: x[0])
            for i, (ts, row) in enumerate(timeline):
                gap = (timeline[i + 1][0] - ts).total_seconds() if i + 1 < len(timeline) else None
                if row is not None:
                    valid = row["quality"] == QUALITY_VALID and row["co2_kg_s"] is not None
                    row["covered_s"] = reading_coverage_s(valid, row["interval_s"], gap)
                    continue
                if gap is None:
                    continue  # the last stored one: its next reading is not in this batch
                factory_id, quality, co2_kg_s, interval_s, covered_s = old[ts]
                if covered_s is None or interval_s is None:
                    continue  # stored before contract v1.1: its rollup used the registry interval
                valid = quality == QUALITY_VALID and co2_kg_s is not None
                cover = reading_coverage_s(valid, interval_s, gap)
                if cover != covered_s:
                    adjusted.append((device_id, factory_id, ts, co2_kg_s or 0.0, covered_s, cover))
        return new_rows, adjusted

    def _update_coverage(self, session: Session, dialect: str, adjusted: list[tuple]) -> None:
        params = [(d, ts, new) for d, _f, ts, _c, _old, new in adjusted]
        if dialect == "postgresql":
            cur = dbapi_cursor(session)
            execute_values(cur, _PG_COVERAGE_UPDATE, params, template="(%s, %s::timestamp, %s::float8)", page_size=len(params))
            cur.close()
            return
        t = Reading.__table__.c
        session.execute(
            sa.update(Reading.__table__)
            .where(t.device_id == sa.bindparam("p_id"), t.ts == sa.bindparam("p_ts", type_=UTCDateTime()))
            .values(covered_s=sa.bindparam("p_cov", type_=sa.Float)),
            [{"p_id": d, "p_ts": ts, "p_cov": c} for d, ts, c in params],
        )

    def _insert_readings(self, session: Session, dialect: str, rows: list[dict]) -> list[dict]:
        if not rows:
            return []
        if dialect == "postgresql":
            return self._insert_readings_pg(session, rows)
        stmt = self._reading_insert(dialect)
        new_keys: set[tuple[str, datetime]] = set()
        for i in range(0, len(rows), INSERT_CHUNK):
            result = session.execute(stmt, rows[i : i + INSERT_CHUNK])
            for device_id, ts in result:
                new_keys.add((device_id, _naive(ts)))
        if len(new_keys) == len(rows):
            return rows
        return [r for r in rows if (r["device_id"], r["ts"]) in new_keys]

    def _insert_readings_pg(self, session: Session, rows: list[dict]) -> list[dict]:
        # COPY into a per-connection temporary table, then one INSERT … SELECT … ON CONFLICT DO
        # NOTHING RETURNING: far less client CPU than binding 17 parameters per row, and one
        # statement for the server to parse (profiled: psycopg2 mogrify was 20 % of the writer).
        cur = dbapi_cursor(session)
        # Every time (a lookup when it exists): a rolled-back batch may have rolled back its creation.
        cur.execute(_PG_STAGING_DDL)
        buf = io.StringIO()
        buf.writelines(_copy_line(r) for r in rows)
        buf.seek(0)
        cur.copy_expert(_PG_COPY, buf)
        cur.execute(_PG_FROM_STAGING)
        new_keys = set(cur.fetchall())
        cur.close()
        if len(new_keys) == len(rows):
            return rows
        return [r for r in rows if (r["device_id"], r["ts"]) in new_keys]

    def _insert_rejections(self, session: Session, rejections: list[tuple[Message, Rejection]], now: datetime) -> None:
        session.execute(
            sa.insert(RejectedMessage.__table__),
            [
                {
                    "received_at": now.replace(tzinfo=None),
                    "topic": clean_text(m.topic)[:TOPIC_MAX_LEN],
                    "reason": rej.reason,
                    "detail": clean_text(rej.detail),
                    "payload": truncate_raw(m.payload),
                    "payload_size": m.payload_size,
                    "device_id": clean_text(rej.device_id)[:DEVICE_ID_MAX_LEN] if rej.device_id else None,
                    "seq": rej.seq,
                }
                for m, rej in rejections
            ],
        )
        for m, rej in rejections[:5]:
            log.info("rejected %s on %r: %s | %r", rej.reason, m.topic[:120], clean_text(rej.detail[:200]), m.payload[:120])

    def _update_devices(self, session: Session, updates: dict[str, DeviceUpdate], seen_at: dict[str, datetime]) -> None:
        """Keep each device's envelope current; `seen_at` is when its newest message in the batch arrived."""
        ordered = sorted(updates.values(), key=lambda u: u.device_id)
        if session.get_bind().dialect.name == "postgresql":
            cur = dbapi_cursor(session)
            execute_values(
                cur,
                _PG_DEVICE_UPDATE,
                [(u.device_id, u.firmware, u.rssi_dbm, u.uptime_s, u.buffered, u.last_seq, u.last_reading_at,
                  seen_at[u.device_id].replace(tzinfo=None)) for u in ordered],
                template="(%s, %s::varchar, %s::int, %s::bigint, %s::int, %s::bigint, %s::timestamp, %s::timestamp)",
                page_size=len(ordered),
            )
            cur.close()
            return
        t = Device.__table__.c
        p_seq = sa.bindparam("p_seq", type_=sa.BigInteger)
        p_last = sa.bindparam("p_last", type_=UTCDateTime())
        p_now = sa.bindparam("p_now", type_=UTCDateTime())
        newer = sa.or_(t.last_seen_at.is_(None), p_now >= t.last_seen_at)  # see _PG_DEVICE_UPDATE

        def envelope(name: str, type_, column):  # noqa: ANN001, ANN202
            return sa.case((newer, sa.func.coalesce(sa.bindparam(name, type_=type_), column)), else_=column)

        stmt = (
            sa.update(Device.__table__)
            .where(t.id == sa.bindparam("p_id"))
            .values(
                firmware=envelope("p_fw", sa.String, t.firmware),
                rssi_dbm=envelope("p_rssi", sa.Integer, t.rssi_dbm),
                uptime_s=envelope("p_uptime", sa.BigInteger, t.uptime_s),
                buffered=envelope("p_buffered", sa.Integer, t.buffered),
                last_seq=sa.case(
                    (sa.and_(p_seq.is_not(None), sa.or_(t.last_seq.is_(None), p_seq > t.last_seq)), p_seq),
                    else_=t.last_seq,
                ),
                last_reading_at=sa.case(
                    (sa.and_(p_last.is_not(None), sa.or_(t.last_reading_at.is_(None), p_last > t.last_reading_at)), p_last),
                    else_=t.last_reading_at,
                ),
                last_seen_at=sa.case((newer, p_now), else_=t.last_seen_at),
            )
        )
        session.execute(
            stmt,
            [
                {
                    "p_id": u.device_id,
                    "p_fw": u.firmware,
                    "p_rssi": u.rssi_dbm,
                    "p_uptime": u.uptime_s,
                    "p_buffered": u.buffered,
                    "p_seq": u.last_seq,
                    "p_last": u.last_reading_at,
                    "p_now": seen_at[u.device_id],
                }
                for u in ordered
            ],
        )

    def _update_status(self, session: Session, final_status: dict[str, tuple[str, datetime]]) -> None:
        # A status only replaces one that is not newer (two writer threads may commit out of
        # order): status_changed_at is the arrival time of the message that set it.
        ordered = sorted(final_status.items())
        if session.get_bind().dialect.name == "postgresql":
            cur = dbapi_cursor(session)
            execute_values(
                cur,
                _PG_STATUS_UPDATE,
                [(d, st, at) for d, (st, at) in ordered],
                template="(%s, %s::varchar, %s::timestamp)",
                page_size=len(ordered),
            )
            cur.close()
            return
        t = Device.__table__.c
        p_status = sa.bindparam("p_status", type_=sa.String)
        p_at = sa.bindparam("p_at", type_=UTCDateTime())
        stmt = (
            sa.update(Device.__table__)
            .where(
                t.id == sa.bindparam("p_id"),
                t.status != p_status,
                sa.or_(t.status_changed_at.is_(None), t.status_changed_at <= p_at),
            )
            .values(status=p_status, status_changed_at=p_at)
        )
        session.execute(stmt, [{"p_id": d, "p_status": st, "p_at": at} for d, (st, at) in ordered])
        # A status message is a sign of life too (the retained "offline" is the broker's, not the node's).
        online = [{"p_id": d, "p_at": at} for d, (st, at) in ordered if st == STATUS_ONLINE]
        if online:
            session.execute(
                sa.update(Device.__table__)
                .where(t.id == sa.bindparam("p_id"), sa.or_(t.last_seen_at.is_(None), t.last_seen_at < p_at))
                .values(last_seen_at=p_at),
                online,
            )


    def _update_health(self, session: Session, health: dict[str, tuple[StatusDoc, datetime]]) -> None:
        """Store the health fields of each device's newest JSON status (unless a newer one is stored)."""
        t = Device.__table__.c
        p_at = sa.bindparam("p_at", type_=UTCDateTime())
        stmt = (
            sa.update(Device.__table__)
            .where(t.id == sa.bindparam("p_id"), sa.or_(t.health_at.is_(None), t.health_at <= p_at))
            .values(
                reset_reason=sa.bindparam("p_reset", type_=sa.String),
                free_heap=sa.bindparam("p_heap", type_=sa.Integer),
                min_free_heap=sa.bindparam("p_min_heap", type_=sa.Integer),
                safe_mode=sa.bindparam("p_safe", type_=sa.Boolean),
                health_counters=sa.bindparam("p_counters", type_=sa.Text),
                firmware=sa.func.coalesce(sa.bindparam("p_fw", type_=sa.String), t.firmware),
                health_at=p_at,
            )
        )
        session.execute(
            stmt,
            [
                {
                    "p_id": d,
                    "p_reset": doc.reset_reason,
                    "p_heap": doc.free_heap,
                    "p_min_heap": doc.min_free_heap,
                    "p_safe": doc.safe_mode,
                    "p_counters": None if doc.counters is None else json.dumps(doc.counters, sort_keys=True),
                    "p_fw": doc.firmware,
                    "p_at": at,
                }
                for d, (doc, at) in sorted(health.items())
            ],
        )


def _merge_update(prev: DeviceUpdate, new: DeviceUpdate) -> DeviceUpdate:
    """Combine two envelopes of one device in one batch: the later message's values, maxima of seq/ts."""
    seqs = [s for s in (prev.last_seq, new.last_seq) if s is not None]
    tss = [t for t in (prev.last_reading_at, new.last_reading_at) if t is not None]
    return DeviceUpdate(
        device_id=new.device_id,
        firmware=new.firmware or prev.firmware,
        rssi_dbm=new.rssi_dbm if new.rssi_dbm is not None else prev.rssi_dbm,
        uptime_s=new.uptime_s if new.uptime_s is not None else prev.uptime_s,
        buffered=new.buffered if new.buffered is not None else prev.buffered,
        last_seq=max(seqs) if seqs else None,
        last_reading_at=max(tss) if tss else None,
    )


def _invalidate_if_closed(session: Session, exc: BaseException) -> bool:
    """If the session's psycopg2 connection is closed, invalidate it in the pool; return whether it was."""
    try:
        conn = session.connection()
        dbapi = conn.connection.dbapi_connection
        if dbapi is None or getattr(dbapi, "closed", 0):
            conn.invalidate(exc if isinstance(exc, Exception) else None)
            return True
    except Exception:  # noqa: BLE001 - a broken connection may fail in any way here
        log.debug("could not check the connection after %s", type(exc).__name__, exc_info=True)
    return False


def _short(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]

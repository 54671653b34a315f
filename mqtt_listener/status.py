"""Listener counters (logged and stored in listener_stat) and the device offline sweep.

`listener_stat.counters` is a JSON object, cumulative since `started_at`, rewritten every ~10 s
(`updated_at`; the node-health page shows a listener whose row is older than 2 minutes as
silent: gone or stuck):
  received            MQTT messages taken from the broker (telemetry + status)
  readings_received   readings in valid telemetry messages (before deduplication)
  stored              readings inserted;  invalid: of those, flagged out of range
  duplicates          readings already stored (QoS 1 redelivery, re-sent buffers)
  rejected            rejections (messages or single readings); rejected_by_reason: {reason: n}
  status_messages     status messages; status_unknown_device: status of unregistered devices
  batches             committed transactions
  latency_p50_ms, latency_p99_ms   receive-to-commit over the last 2,000 messages
  queue_depth         messages received but not yet stored
  db_errors, db_retries            failed batch attempts (outage, deadlock, refused statement) and retries
  store_errors        batches that failed with an error of no database class (a value the driver
                      cannot encode, a bug): stored again message by message, the culprit set aside
  unstorable          messages whose rejection could not be stored either (acknowledged, logged)
  status_retained     retained status messages (they never revive a node or move last_seen_at)
  acks_published      end-to-end acks sent to nodes (contract v1.1)
  writer_errors       errors that escaped the writer (a bug): the batch is neither stored nor
                      acknowledged, and the listener drops the broker connection so the broker
                      redelivers it
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from collections import Counter, deque
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core.fleet.health import STATUS_OFFLINE, STATUS_ONLINE, offline_timeout_s  # noqa: F401 (re-exported)
from core.models import Device, ListenerStat

log = logging.getLogger("mqtt_listener.status")

# Batch latencies kept for the p50/p99 figures (the most recent ones).
LATENCY_WINDOW = 2000


def instance_name() -> str:
    """`host:pid`, the listener_stat key of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


class ListenerStats:
    """Thread-safe counters of one listener."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counters: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()
        self.batch_latency_s: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self.queue_depth = 0
        self.started_at = datetime.now(UTC)

    def incr(self, name: str, n: int = 1) -> None:
        """Add `n` to a counter."""
        with self._lock:
            self.counters[name] += n

    def reject(self, reason: str, n: int = 1) -> None:
        """Count a rejection by reason."""
        with self._lock:
            self.rejected[reason] += n
            self.counters["rejected"] += n

    def record_batch(self, latencies_s: list[float]) -> None:
        """Record receive-to-commit latencies of one committed batch."""
        with self._lock:
            self.counters["batches"] += 1
            self.batch_latency_s.extend(latencies_s)

    def snapshot(self) -> dict:
        """The counters as a JSON-able dict."""
        with self._lock:
            lat = sorted(self.batch_latency_s)
            out = dict(self.counters)
            out["rejected_by_reason"] = dict(self.rejected)
            out["queue_depth"] = self.queue_depth
        p50 = _percentile(lat, 0.50)
        p99 = _percentile(lat, 0.99)
        out["latency_p50_ms"] = None if p50 is None else round(p50 * 1000, 1)
        out["latency_p99_ms"] = None if p99 is None else round(p99 * 1000, 1)
        for key in ("received", "stored", "duplicates", "rejected", "invalid", "batches", "db_errors", "db_retries"):
            out.setdefault(key, 0)
        return out


def save_stats(session: Session, instance: str, stats: ListenerStats) -> dict:
    """Upsert this listener's counters into listener_stat; return them."""
    snap = stats.snapshot()
    now = datetime.now(UTC)
    values = {
        "instance": instance,
        "updated_at": now.replace(tzinfo=None),
        "started_at": stats.started_at.replace(tzinfo=None),
        "counters": json.dumps(snap, sort_keys=True),
    }
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = insert(ListenerStat.__table__).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["instance"], set_={"updated_at": stmt.excluded.updated_at, "counters": stmt.excluded.counters}
    )
    session.execute(stmt)
    return snap


def sweep_offline(session: Session, now: datetime | None = None) -> list[str]:
    """Mark online devices with nothing received for their timeout as offline; return their ids.

    The change is stamped with the device's last sign of life (`last_seen_at`), not the sweep's
    time: the writer applies a status only from a message that arrived at or after
    `status_changed_at`, so a message received after the node's last one but committed after the
    sweep (a slow batch, a second writer) still brings the node back online. Stamping the sweep
    time refused it, and the node showed offline until its next message (issue 18). Each device
    is changed only if its `last_seen_at` is still the one read (a message committed meanwhile
    keeps it online).
    """
    now = now or datetime.now(UTC)
    rows = session.execute(
        sa.select(Device.id, Device.last_seen_at, Device.sample_interval_s).where(Device.status == STATUS_ONLINE)
    ).all()
    stale = []
    for device_id, last_seen, interval in rows:
        if last_seen is not None and now - last_seen <= timedelta(seconds=offline_timeout_s(interval)):
            continue
        seen = Device.last_seen_at.is_(None) if last_seen is None else Device.last_seen_at == last_seen
        changed = session.execute(
            sa.update(Device)
            .where(Device.id == device_id, Device.status == STATUS_ONLINE, seen)
            .values(status=STATUS_OFFLINE, status_changed_at=last_seen or now)
            .execution_options(synchronize_session=False)
        ).rowcount
        if changed:
            stale.append(device_id)
    return stale

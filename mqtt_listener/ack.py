"""End-to-end acknowledgement to the node (contract v1.1): the highest contiguous committed seq.

After every commit the listener tells each node, on `<prefix>/<factory>/<device>/ack` (retained,
QoS 1), the highest seq such that every seq up to it is committed (stored, a duplicate of a stored
reading, or rejected as a reading): the node deletes its buffered readings only up to there and
resends the rest after a timeout, so a broker crash or a lost session loses nothing.

`AckTracker` keeps, per device, the acked seq and the committed seqs above it, in memory (one per
listener process, shared by its writer threads). A gap that stays open is looked up in the
database after GAP_DB_CHECK_S (another listener of a shared subscription may have stored the
missing seqs) and given up after GAP_SKIP_S (the node resends within its timeout, so a seq still
missing then was lost on the node and would stall its acks for good). A fresh reading with a seq
at or below the acked one means the node's numbering restarted (flash wiped): a new run starts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

# Seconds a gap stays open before the database is asked for the missing seqs (and between asks).
GAP_DB_CHECK_S = 2.0
# Seconds after which an open gap is skipped (twice the firmware's resend timeout).
GAP_SKIP_S = 60.0
# Committed seqs kept above a gap per device, at most (beyond that the gap is skipped at once).
MAX_ABOVE = 20_000


@dataclass(slots=True)
class _Run:
    acked: int
    above: set[int] = field(default_factory=set)
    gap_since: float | None = None
    db_checked: float = 0.0


class AckTracker:
    """Highest contiguous committed seq per device, advanced after each commit (thread-safe)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, _Run] = {}
        self._clock = clock
        self._unsaved: dict[str, int] = {}

    def committed(
        self,
        handled: dict[str, set[int]],
        fresh: dict[str, set[int]],
        initial: Callable[[str], int | None],
    ) -> tuple[dict[str, int], list[str]]:
        """Record a committed batch's seqs; return (devices whose ack moved -> seq, devices to check in the database).

        `handled`: every seq the batch settled per device (stored, duplicate or rejected);
        `fresh`: the ones newly stored; `initial(device)`: the acked seq saved in the database.
        """
        moved: dict[str, int] = {}
        check: list[str] = []
        now = self._clock()
        with self._lock:
            for device_id, seqs in handled.items():
                if not seqs:
                    continue
                run = self._runs.get(device_id)
                if run is None:
                    saved = initial(device_id)
                    run = self._runs[device_id] = _Run(saved if saved is not None else min(seqs) - 1)
                restarted = [s for s in fresh.get(device_id, ()) if s <= run.acked]
                if restarted:
                    run.acked, run.above, run.gap_since = min(restarted) - 1, set(), None
                before = run.acked
                run.above.update(s for s in seqs if s > run.acked)
                self._advance(run, now)
                if run.acked != before:
                    moved[device_id] = run.acked
                if run.gap_since is not None and now - run.gap_since >= GAP_DB_CHECK_S and now - run.db_checked >= GAP_DB_CHECK_S:
                    run.db_checked = now
                    check.append(device_id)
            self._unsaved.update(moved)
        return moved, check

    def fill(self, device_id: str, seqs: Iterable[int]) -> int | None:
        """Add seqs found committed in the database; return the new acked seq if it moved."""
        with self._lock:
            run = self._runs.get(device_id)
            if run is None:
                return None
            before = run.acked
            run.above.update(s for s in seqs if s > run.acked)
            self._advance(run, self._clock())
            if run.acked == before:
                return None
            self._unsaved[device_id] = run.acked
            return run.acked

    def gap(self, device_id: str) -> tuple[int, int] | None:
        """(acked, highest committed seq above it) of a device with an open gap, else None."""
        with self._lock:
            run = self._runs.get(device_id)
            if run is None or not run.above:
                return None
            return run.acked, max(run.above)

    def take_unsaved(self, devices: Iterable[str]) -> dict[str, int]:
        """Acked seqs of `devices` that moved since they were last taken (saved in device.acked_seq)."""
        out = {}
        with self._lock:
            for d in devices:
                seq = self._unsaved.pop(d, None)
                if seq is not None:
                    out[d] = seq
        return out

    def knows(self, device_id: str) -> bool:
        """Whether the device has a run here (its acked seq is known)."""
        with self._lock:
            return device_id in self._runs

    def unsaved_devices(self) -> list[str]:
        """Devices whose moved acked seq is not saved yet."""
        with self._lock:
            return sorted(self._unsaved)

    def _advance(self, run: _Run, now: float) -> None:
        above = run.above
        while True:
            while run.acked + 1 in above:
                run.acked += 1
                above.discard(run.acked)
            if not above:
                run.gap_since = None
                return
            if run.gap_since is None:
                run.gap_since = now
            if now - run.gap_since < GAP_SKIP_S and len(above) < MAX_ABOVE:
                return
            run.acked = min(above) - 1  # give the missing seqs up
            run.gap_since = now

"""Server quality checks on decoded readings, before they are stored (docs/qaqc.md "Quality flags").

Every reading gets `server_flags` (bits `core.models.QA_*`, 0 = passed every check). Any bit makes
it not valid (`quality = QUALITY_INVALID`, the reason appended to `quality_reason`): it is stored,
counted in `n_readings`, and left out of coverage and CO2 totals. Stateless checks look at the
reading alone (physical range, node flags, conversion, velocity below the flow sensor's minimum);
the flat-line and spike checks need the device's recent values, kept in a small per-device
`DeviceWindow` that the writer holds in memory and seeds from the database the first time it
sees a device (one query per device per process, never one per message).

Order: a device's readings are checked in arrival order. A reading not newer than the newest one
the window has seen (a late or re-sent reading) gets the stateless checks only, and does not move
the window. The writer applies the windows `check_rows` returns only after its batch committed,
so a batch that is retried is checked again from the same state.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from core.config import (
    DEFAULT_QA_FLATLINE_SAMPLES,
    DEFAULT_QA_MIN_VELOCITY_M_S,
    DEFAULT_QA_SPIKE_CO2_PPM_PER_S,
    Config,
)
from core.models import (
    QA_CONVERSION,
    QA_FLATLINE,
    QA_LOW_VELOCITY,
    QA_NODE,
    QA_RANGE,
    QA_SPIKE,
    QUALITY_INVALID,
)
from mqtt_listener.decode import FLAGS_INVALID_MASK, PHYSICAL_RANGES

QA_NAMES = {
    QA_RANGE: "range",
    QA_NODE: "node flags",
    QA_FLATLINE: "flat line",
    QA_SPIKE: "spike",
    QA_LOW_VELOCITY: "low velocity",
    QA_CONVERSION: "conversion",
}
# Flags the server checks add on top of what decode already made invalid (with its own reason).
_NEW_REASONS = QA_FLATLINE | QA_SPIKE | QA_LOW_VELOCITY
# Readings seeded per device when the writer first sees it: enough for the flat-line run.
MIN_SEED = 2


@dataclass(frozen=True, slots=True)
class QaSettings:
    """Thresholds of the server checks (core.config; 0 turns a check off)."""

    flatline_samples: int = DEFAULT_QA_FLATLINE_SAMPLES
    spike_co2_ppm_per_s: float = DEFAULT_QA_SPIKE_CO2_PPM_PER_S
    min_velocity_m_s: float = DEFAULT_QA_MIN_VELOCITY_M_S

    @classmethod
    def from_config(cls, cfg: Config) -> QaSettings:
        return cls(cfg.qa_flatline_samples, cfg.qa_spike_co2_ppm_per_s, cfg.qa_min_velocity_m_s)

    @property
    def seed_readings(self) -> int:
        """How many of a device's last stored readings rebuild its window."""
        return max(MIN_SEED, self.flatline_samples)


@dataclass(slots=True)
class DeviceWindow:
    """What the stateful checks remember of one device: its newest reading and the runs ending there."""

    last_ts: datetime | None = None
    co2_value: float | None = None
    co2_run: int = 0  # consecutive readings with exactly co2_value, ending at the newest
    vel_value: float | None = None
    vel_run: int = 0
    ref_ts: datetime | None = None  # newest reading that was not a spike: what the next is compared with
    ref_co2: float | None = None
    last_spike: bool = False
    last_co2: float | None = None
    last_co2_ts: datetime | None = None

    def observe(self, ts: datetime, co2_ppm: float, velocity_m_s: float, spike: bool) -> None:
        """Move the window to a newer reading (its values and whether it was a spike)."""
        self.co2_run = self.co2_run + 1 if co2_ppm == self.co2_value else 1
        self.co2_value = co2_ppm
        self.vel_run = self.vel_run + 1 if velocity_m_s == self.vel_value else 1
        self.vel_value = velocity_m_s
        if not spike:
            self.ref_ts, self.ref_co2 = ts, co2_ppm
        self.last_spike = spike
        self.last_co2, self.last_co2_ts = co2_ppm, ts
        self.last_ts = ts


def window_from_history(rows: list[tuple[datetime, float, float, int | None]]) -> DeviceWindow:
    """Rebuild a window from a device's last stored readings (ts, co2_ppm, velocity_m_s, server_flags), oldest first."""
    w = DeviceWindow()
    for ts, co2, vel, flags in rows:
        w.observe(ts, co2, vel, bool((flags or 0) & QA_SPIKE))
    return w


def _rate(a: float, b: float, t_a: datetime, t_b: datetime) -> float:
    return abs(b - a) / max((t_b - t_a).total_seconds(), 1.0)


def stateless_flags(row: dict, settings: QaSettings) -> int:
    """Bits of the checks that need only the reading itself."""
    bits = 0
    for key in ("co2_ppm", "flue_temp_c", "velocity_m_s"):
        lo, hi = PHYSICAL_RANGES[key]
        if not lo <= row[key] <= hi:
            bits |= QA_RANGE
            break
    p = row["pressure_pa"]
    if p is not None and not PHYSICAL_RANGES["pressure_pa"][0] <= p <= PHYSICAL_RANGES["pressure_pa"][1]:
        bits |= QA_RANGE
    if row["flags"] & FLAGS_INVALID_MASK:
        bits |= QA_NODE
    if row["co2_kg_s"] is None:
        bits |= QA_CONVERSION
    if settings.min_velocity_m_s > 0 and row["velocity_m_s"] < settings.min_velocity_m_s:
        bits |= QA_LOW_VELOCITY
    return bits


def check_reading(row: dict, w: DeviceWindow | None, settings: QaSettings) -> int:
    """Flags for one reading; moves `w` (when given and the reading is newer than its newest)."""
    bits = stateless_flags(row, settings)
    ts = row["ts"]
    if w is None or (w.last_ts is not None and ts <= w.last_ts):
        return bits
    co2 = row["co2_ppm"]
    vel = row["velocity_m_s"]
    n = settings.flatline_samples
    if n:
        co2_run = w.co2_run + 1 if co2 == w.co2_value else 1
        vel_run = w.vel_run + 1 if vel == w.vel_value else 1
        if co2_run >= n or vel_run >= n:
            bits |= QA_FLATLINE
    spike = False
    limit = settings.spike_co2_ppm_per_s
    if limit and w.ref_co2 is not None and _rate(w.ref_co2, co2, w.ref_ts, ts) > limit:
        # A jump from the last good value. If the previous reading was a spike and this one agrees
        # with it, the level really moved (a step, not a spike): this reading is accepted.
        level_moved = (w.last_spike and w.last_co2 is not None
                       and _rate(w.last_co2, co2, w.last_co2_ts, ts) <= limit)
        spike = not level_moved
    if spike:
        bits |= QA_SPIKE
    w.observe(ts, co2, vel, spike)
    return bits


def describe(bits: int) -> str:
    """The names of the server checks a reading failed, e.g. "flat line, spike"."""
    return ", ".join(name for bit, name in QA_NAMES.items() if bits & bit)


def check_rows(rows: list[dict], windows: dict[str, DeviceWindow], settings: QaSettings) -> dict[str, DeviceWindow]:
    """Set server_flags (and quality, quality_reason) on decoded rows; return the devices' moved windows.

    `windows` holds every device of `rows` that has a window (seeded); it is not changed: the
    returned copies replace it after the commit.
    """
    moved: dict[str, DeviceWindow] = {}
    for row in rows:
        device_id = row["device_id"]
        w = moved.get(device_id)
        if w is None:
            base = windows.get(device_id)
            if base is not None:
                w = moved[device_id] = replace(base)
        bits = check_reading(row, w, settings)
        row["server_flags"] = bits
        new = bits & _NEW_REASONS
        if new:
            reason = "server check: " + describe(new)
            if row["quality_reason"]:
                reason = f"{row['quality_reason']}; {reason}"
            row["quality"] = QUALITY_INVALID
            row["quality_reason"] = reason[:120]
    return moved

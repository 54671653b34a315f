"""Alert rules: each turns the current data into the conditions that hold now.

A condition is keyed (rule + subject), so one condition is one alert for as long as it holds.
Rules read what ingest and the portals already store; none of them keeps state of its own:

- `node_offline`: the listener's offline rule (core.fleet.health), held for OFFLINE_ALERT_AFTER
  past the point the node went offline, so a reboot or a Wi-Fi blip does not page anybody;
  it resolves once the node has been back for the rule's RESOLVE_AFTER (hysteresis).
- `data_availability`: data availability (core.measurement.availability: valid node-hours ÷ assigned
  operating node-hours) of the last 24 whole hours below the factory's threshold.
- `calibration_failed` / `calibration_overdue`: by the calibration log (core.measurement.calibration,
  the same rule as the node page and the workbooks): out of control after a failed check, or no
  passed check in CAL_OVERDUE_DAYS; a failed remote calibration command also raises it.
- `co2_high`: every valid reading of a node over the last N minutes above the factory's CO2
  mass-flow threshold (factory_alert_setting; no threshold, no rule).
- `energy_due` / `energy_overdue`: a month's energy data not submitted ENERGY_DUE_SOON before its
  due date / after it. Reminders repeat daily until the month is submitted.
- `approval_waiting`: a submitted month not approved after APPROVAL_WAIT (HQ's task).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.fleet.health import STATUS_OFFLINE, offline_timeout_s
from core.inventory.monthly import due_datetime
from core.measurement.availability import factory_availability
from core.measurement.calibration import CAL_ERROR_LIMIT_PCT, CAL_OVERDUE_DAYS, calibration_status
from core.models import (
    CMD_FAILED,
    CMD_OK,
    QUALITY_VALID,
    STATUS_APPROVED,
    STATUS_SUBMITTED,
    Device,
    DeviceAssignment,
    DeviceCommand,
    Factory,
    FactoryAlertSetting,
    MonthlySubmission,
    Reading,
)
from core.timeutil import add_months, as_utc, local_date, month_start

OFFLINE_ALERT_AFTER = timedelta(minutes=10)
AVAILABILITY_MIN = 0.8  # availability of the last 24 h (valid ÷ assigned node-hours), unless the factory sets its own
AVAILABILITY_WINDOW = timedelta(hours=24)
CO2_WINDOW_MINUTES = 15
ENERGY_DUE_SOON = timedelta(days=3)
ENERGY_MONTHS_BACK = 2  # months checked for missing energy data (older ones are HQ's follow-up)
APPROVAL_WAIT = timedelta(days=1)
# How long a condition must stay false before its alert resolves (hysteresis against flapping).
RESOLVE_AFTER = {
    "node_offline": timedelta(minutes=2),
    "data_availability": timedelta(minutes=30),
    "co2_high": timedelta(minutes=5),
}
REMINDER_RULES = ("energy_due", "energy_overdue")  # these notify again every local day while they hold

AUDIENCE_FACTORY = "factory"  # the factory's managers
AUDIENCE_HQ = "hq"
AUDIENCE_ADMIN = "admin"


@dataclass(frozen=True)
class Condition:
    """A rule's finding that holds now."""

    rule: str
    key: str
    title: str
    detail: str = ""
    factory_id: int | None = None
    device_id: str | None = None
    audience: tuple[str, ...] = field(default=(AUDIENCE_FACTORY,))


def _factory_label(f: Factory) -> str:
    return f"{f.name} ({f.code})"


def node_offline(session: Session, now: datetime, tz: tzinfo) -> list[Condition]:
    """Nodes offline (health rule) for at least OFFLINE_ALERT_AFTER; never-seen nodes are not installed yet."""
    out = []
    for d, f in session.execute(sa.select(Device, Factory).join(Factory, Factory.id == Device.factory_id)
                                .where(Device.active.is_(True), Device.last_seen_at.is_not(None))):
        silent_from = d.last_seen_at + timedelta(seconds=offline_timeout_s(d.sample_interval_s))
        offline_since = silent_from if silent_from <= now else None
        # It said so (its last will, received after its last sign of life). The listener's sweep
        # stamps its own "offline" with the last sign of life instead (mqtt_listener.status), which
        # is not when the node went silent: for that one the timeout above holds.
        will = (d.status == STATUS_OFFLINE and d.status_changed_at is not None
                and d.status_changed_at > d.last_seen_at)
        if will:
            offline_since = min(offline_since or d.status_changed_at, d.status_changed_at)
        if offline_since is None or now - offline_since < OFFLINE_ALERT_AFTER:
            continue
        out.append(Condition("node_offline", f"node_offline:{d.id}",
                             f"Node {d.id} at {_factory_label(f)} is offline",
                             f"Last heard {d.last_seen_at:%Y-%m-%d %H:%M} UTC; its readings are buffered on the node "
                             "until it reconnects.", f.id, d.id, (AUDIENCE_FACTORY, AUDIENCE_ADMIN)))
    return out


def _settings(session: Session) -> dict[int, FactoryAlertSetting]:
    return {s.factory_id: s for s in session.scalars(sa.select(FactoryAlertSetting))}


def data_availability(session: Session, now: datetime, tz: tzinfo) -> list[Condition]:
    """Factories whose data availability over the last 24 whole hours is below their threshold.

    Availability as core.measurement.availability defines it (40 CFR 75.32): valid node-hours ÷
    the hours the nodes were assigned (and the stack operating), so a node commissioned or retired
    within the window counts only for its part of it. Factories none of whose nodes has ever been
    heard from are not installed yet and are left out, as node_offline leaves them out.
    """
    end = now.replace(minute=0, second=0, microsecond=0)
    start = end - AVAILABILITY_WINDOW
    settings = _settings(session)
    heard = list(session.scalars(
        sa.select(Device.factory_id).where(Device.active.is_(True), Device.last_seen_at.is_not(None)).distinct()))
    avail = factory_availability(session, heard, start, end)
    out = []
    for f in session.scalars(sa.select(Factory).where(Factory.id.in_(heard)).order_by(Factory.id)):
        a = avail.get(f.id)
        share = a.share if a is not None else None
        if share is None:
            continue  # no node assigned in the window
        threshold = (settings[f.id].availability_min if f.id in settings and settings[f.id].availability_min
                     is not None else AVAILABILITY_MIN)
        if share < threshold:
            out.append(Condition("data_availability", f"data_availability:{f.id}",
                                 f"Data availability at {_factory_label(f)} is {share:.0%} (below {threshold:.0%})",
                                 f"{a.valid_hours:,.0f} valid of {a.assigned_hours:,.0f} node-hours in the 24 hours to "
                                 f"{end:%Y-%m-%d %H:00} UTC (40 CFR 75.32; an hour is valid with ≥ 45 min of valid "
                                 "data).", f.id))
    return out


def calibration(session: Session, now: datetime, tz: tzinfo) -> list[Condition]:
    """Nodes whose calibration is in doubt: out of control or overdue by the calibration log, or whose
    latest remote calibration command failed.

    One rule with the node page and the verifier's data (core.measurement.calibration): a node is
    out of control from a failed check (error above 2.5 % of span) until a check passes, and
    overdue with no passed check in CAL_OVERDUE_DAYS. A remote `calibrate_zero`/`calibrate_span`
    command that answered ok counts as a passed check for "overdue"; one that failed raises
    `calibration_failed` until a later one passes. A node never checked is overdue only once it has
    been commissioned for CAL_OVERDUE_DAYS (a new node gets the same time as a checked one).
    """
    out = []
    rows = session.execute(
        sa.select(DeviceCommand.device_id, DeviceCommand.status, DeviceCommand.result_at, DeviceCommand.result_detail,
                  DeviceCommand.factory_id)
        .where(DeviceCommand.kind.in_(("calibrate_zero", "calibrate_span")),
               DeviceCommand.status.in_((CMD_OK, CMD_FAILED)))
        .order_by(DeviceCommand.device_id, DeviceCommand.result_at)).all()
    latest_cmd: dict[str, tuple] = {}
    last_ok: dict[str, datetime] = {}
    for device_id, status, result_at, detail, factory_id in rows:
        latest_cmd[device_id] = (status, result_at, detail, factory_id)
        if status == CMD_OK:
            last_ok[device_id] = as_utc(result_at)
    devices = {d.id: d for d in session.scalars(sa.select(Device).where(Device.active.is_(True)))}
    log = calibration_status(session, sorted(devices), now)
    commissioned = dict(session.execute(
        sa.select(DeviceAssignment.device_id, sa.func.min(DeviceAssignment.commissioned_at))
        .group_by(DeviceAssignment.device_id)).all())
    due = timedelta(days=CAL_OVERDUE_DAYS)
    audience = (AUDIENCE_FACTORY, AUDIENCE_ADMIN)
    for device_id, device in devices.items():
        st = log.get(device_id)
        cmd = latest_cmd.get(device_id)
        if st is not None and st.out_of_control:
            error = "" if st.last_error_pct is None else f"error {st.last_error_pct:.1f} % of span, "
            out.append(Condition("calibration_failed", f"calibration_failed:{device_id}",
                                 f"Calibration check failed on node {device_id}",
                                 f"Last check {as_utc(st.last_check_at):%Y-%m-%d %H:%M} UTC: {error}above the "
                                 f"{CAL_ERROR_LIMIT_PCT} % limit (40 CFR 75 App. A §3.1). Its readings are out of "
                                 "control until a check passes.", device.factory_id, device_id, audience))
            continue
        if cmd is not None and cmd[0] == CMD_FAILED:
            _status, result_at, detail, factory_id = cmd
            out.append(Condition("calibration_failed", f"calibration_failed:{device_id}",
                                 f"Calibration check failed on node {device_id}",
                                 f"{detail or 'no detail'} ({result_at:%Y-%m-%d %H:%M} UTC). Data since the last "
                                 "passed check is in doubt until a check passes.", factory_id, device_id, audience))
            continue
        passed = max((t for t in (st.last_passed_at if st else None, last_ok.get(device_id)) if t is not None),
                     default=None)
        if passed is not None:
            if now - passed > due:
                out.append(Condition("calibration_overdue", f"calibration_overdue:{device_id}",
                                     f"Calibration check overdue on node {device_id}",
                                     f"Last passed {passed:%Y-%m-%d}; due every {CAL_OVERDUE_DAYS} days.",
                                     device.factory_id, device_id, audience))
        elif device_id in commissioned and now - as_utc(commissioned[device_id]) > due:
            out.append(Condition("calibration_overdue", f"calibration_overdue:{device_id}",
                                 f"Calibration check overdue on node {device_id}",
                                 f"Never checked since commissioning on {as_utc(commissioned[device_id]):%Y-%m-%d}; "
                                 f"due every {CAL_OVERDUE_DAYS} days.", device.factory_id, device_id, audience))
    return out


def co2_high(session: Session, now: datetime, tz: tzinfo) -> list[Condition]:
    """Nodes whose valid CO2 mass flow stayed above the factory's threshold for the whole window."""
    out = []
    for st, f in session.execute(sa.select(FactoryAlertSetting, Factory).join(Factory, Factory.id ==
                                                                              FactoryAlertSetting.factory_id)
                                 .where(FactoryAlertSetting.co2_kg_s_max.is_not(None))):
        minutes = st.co2_minutes or CO2_WINDOW_MINUTES
        start = now - timedelta(minutes=minutes)
        rows = session.execute(
            sa.select(Reading.device_id, sa.func.min(Reading.co2_kg_s), sa.func.min(Reading.ts), sa.func.count(),
                      Device.sample_interval_s)
            .join(Device, Device.id == Reading.device_id)
            .where(Reading.factory_id == f.id, Reading.ts > start, Reading.ts <= now,
                   Reading.quality == QUALITY_VALID, Reading.co2_kg_s.is_not(None))
            .group_by(Reading.device_id, Device.sample_interval_s)).all()
        for device_id, min_kg_s, first_ts, n, interval_s in rows:
            # The window counts as covered when its first reading is within one interval of its start.
            covers = first_ts <= start + timedelta(seconds=float(interval_s or 60.0))
            if n and covers and min_kg_s > st.co2_kg_s_max:
                out.append(Condition("co2_high", f"co2_high:{device_id}",
                                     f"CO2 mass flow above {st.co2_kg_s_max:g} kg/s for {minutes} min at "
                                     f"{_factory_label(f)} ({device_id})",
                                     f"Lowest valid reading in the window: {min_kg_s:.3f} kg/s over {n} readings.",
                                     f.id, device_id))
    return out


def energy_due(session: Session, now: datetime, tz: tzinfo) -> list[Condition]:
    """Months whose energy data is not submitted and due within ENERGY_DUE_SOON, or overdue."""
    this_month = month_start(local_date(now, tz))
    months = [add_months(this_month, -i) for i in range(1, ENERGY_MONTHS_BACK + 1)]
    done = {(fid, m) for fid, m in session.execute(
        sa.select(MonthlySubmission.factory_id, MonthlySubmission.month)
        .where(MonthlySubmission.month.in_(months), MonthlySubmission.status.in_((STATUS_SUBMITTED, STATUS_APPROVED))))}
    out = []
    factories = list(session.scalars(sa.select(Factory).where(Factory.active.is_(True)).order_by(Factory.id)))
    for m in months:
        due = due_datetime(m, tz)
        if now < due - ENERGY_DUE_SOON:
            continue
        last_day = (due - timedelta(seconds=1)).astimezone(tz).date()
        for f in factories:
            if (f.id, m) in done:
                continue
            if now >= due:
                out.append(Condition("energy_overdue", f"energy_overdue:{f.id}:{m:%Y-%m}",
                                     f"{m:%B %Y} energy data for {_factory_label(f)} is overdue",
                                     f"It was due by {last_day:%d %B %Y}. Enter and submit it on the Energy entry page.",
                                     f.id))
            else:
                out.append(Condition("energy_due", f"energy_due:{f.id}:{m:%Y-%m}",
                                     f"{m:%B %Y} energy data for {_factory_label(f)} is due by {last_day:%d %B}",
                                     "Enter and submit it on the Energy entry page.", f.id))
    return out


def approval_waiting(session: Session, now: datetime, tz: tzinfo) -> list[Condition]:
    """Submitted months not yet approved after APPROVAL_WAIT (for HQ)."""
    out = []
    for sub, f in session.execute(sa.select(MonthlySubmission, Factory).join(Factory, Factory.id ==
                                                                             MonthlySubmission.factory_id)
                                  .where(MonthlySubmission.status == STATUS_SUBMITTED,
                                         MonthlySubmission.submitted_at <= now - APPROVAL_WAIT)):
        out.append(Condition("approval_waiting", f"approval_waiting:{f.id}:{sub.month:%Y-%m}",
                             f"{sub.month:%B %Y} data of {_factory_label(f)} is waiting for approval",
                             f"Submitted {sub.submitted_at:%Y-%m-%d %H:%M} UTC.", f.id, audience=(AUDIENCE_HQ,)))
    return out


RULES: dict[str, Callable[[Session, datetime, tzinfo], list[Condition]]] = {
    "node_offline": node_offline,
    "data_availability": data_availability,
    "calibration": calibration,
    "co2_high": co2_high,
    "energy_due": energy_due,
    "approval_waiting": approval_waiting,
}
# Which alert rules each rule function decides (an alert of these rules resolves when its function ran
# and did not find it).
RULE_OUTPUTS = {"calibration": ("calibration_failed", "calibration_overdue"),
                "energy_due": ("energy_due", "energy_overdue")}

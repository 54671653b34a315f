"""Alerts: rules fire and resolve on real data, emails are read back from a real SMTP server (aiosmtpd),
reminders repeat until the month is submitted, quiet hours and opt-outs hold, and two scheduler
processes never send anything twice."""

from __future__ import annotations

import email
import subprocess
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from email.header import decode_header, make_header
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from ingest_helpers import free_port, make_config, seed_fleet, wait_until

from core.access import AccessDenied
from core.accounts.users import create_user
from core.alerts import notify, state
from core.alerts.jobs import run_alert_job, senders_from_config
from core.config import Config
from core.models import (
    Alert,
    AlertNotification,
    Device,
    DeviceCommand,
    DeviceHourly,
    Factory,
    FactoryAlertSetting,
    MonthlySubmission,
    Reading,
    User,
    UserContact,
)
from core.timeutil import DEFAULT_TZ, add_months, local_date, month_start

ROOT = Path(__file__).resolve().parent.parent


class Inbox:
    """aiosmtpd handler keeping every message it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], email.message.Message]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802 - aiosmtpd's hook name
        self.messages.append((list(envelope.rcpt_tos), email.message_from_bytes(envelope.content)))
        return "250 OK"

    def to(self, address: str) -> list[email.message.Message]:
        return [m for rcpt, m in self.messages if address in rcpt]


@pytest.fixture
def smtp():
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, f"smtp://127.0.0.1:{port}"
    controller.stop()


def cfg_for(db_url: str, smtp_url: str) -> Config:
    return Config(database_url=db_url, smtp_url=smtp_url, secret_key="t", embedded=False,
                  public_url="https://carbontrack.example")


def add_user(Session, username, role, factory_code=None, email_addr=None, phone=None, **prefs):  # noqa: N803
    with Session() as s:
        u = create_user(s, username, f"{username}-pass-123", role, factory_code)
        s.flush()
        s.add(UserContact(user_id=u.id, email=email_addr, phone=phone, **prefs))
        s.commit()
        return s.get(User, u.id)


def submitted(Session, factory_ids, month=date(2026, 9, 1)):  # noqa: N803
    """Mark `month` approved for the factories, so only the month under test is due."""
    with Session() as s:
        for fid in factory_ids:
            s.add(MonthlySubmission(factory_id=fid, month=month, status="approved",
                                    submitted_at=datetime(2026, 10, 5, tzinfo=UTC)))
        s.commit()


def alerts(Session, rule=None):  # noqa: N803
    with Session() as s:
        q = sa.select(Alert).order_by(Alert.id)
        if rule:
            q = q.where(Alert.rule == rule)
        return list(s.scalars(q))


@pytest.mark.mqtt
def test_node_offline_fires_emails_and_resolves_when_data_flows_through_the_listener(Session, db_url, mosquitto,  # noqa: N803
                                                                                     topic_prefix, smtp):
    from mqtt_listener import Listener
    from mqtt_listener.sim_fleet_ops import SimFleetNode

    inbox, smtp_url = smtp
    host, port = mosquitto
    node = seed_fleet(Session, n_factories=1, prefix=f"O{uuid.uuid4().hex[:3].upper()}")[0]
    add_user(Session, "mgr", "factory_manager", node.factory_code, "mgr@factory.example", "+254712000001")
    add_user(Session, "ops", "admin", None, "ops@ktda.example")
    add_user(Session, "head", "hq", None, "head@ktda.example")  # node problems are not HQ's inbox
    now = datetime.now(UTC)
    this_month = month_start(local_date(now, DEFAULT_TZ))
    for back in (1, 2):  # only the node rule is under test here
        submitted(Session, [node.factory_id], add_months(this_month, -back))
    with Session() as s:
        s.get(Device, node.device_id).last_seen_at = now - timedelta(minutes=20)
        s.add(FactoryAlertSetting(factory_id=node.factory_id, availability_min=0.0))
        s.commit()
    cfg = cfg_for(db_url, smtp_url)
    sms = notify.LoggingSmsSender()
    senders = senders_from_config(cfg, sms)
    # Silent for 20 min: offline after 5 min (health rule), alert after 10 more.
    out = run_alert_job(Session, cfg, senders, now)
    assert out.status == "done" and out.fired == 1
    [a] = alerts(Session, "node_offline")
    assert a.state == "firing" and a.device_id == node.device_id
    assert [m["Subject"] for m in inbox.to("mgr@factory.example")] == [f"[Carbon Track] {a.title}"]
    assert len(inbox.to("ops@ktda.example")) == 1 and inbox.to("head@ktda.example") == []
    assert "https://carbontrack.example/alerts" in inbox.to("mgr@factory.example")[0].get_payload(decode=True).decode()
    assert sms.sent == [("+254712000001", a.title)]

    # The node comes back: telemetry through the real broker and listener moves last_seen_at.
    cfg_l = make_config(db_url, topic_prefix, host, port)
    listener = Listener(cfg_l, Session, client_id=f"alert-{uuid.uuid4().hex[:6]}", protocol="5")
    listener.start()
    sim = SimFleetNode(host, port, topic_prefix, node.factory_code, node.device_id)
    try:
        assert listener.wait_connected(10)
        sim.start()
        sim.publish_telemetry()

        def seen() -> bool:
            with Session() as s:
                d = s.get(Device, node.device_id)
                return d.last_seen_at is not None and d.last_seen_at > now - timedelta(minutes=1)

        assert wait_until(seen, 20)
    finally:
        sim.stop()
        listener.stop()
    back = datetime.now(UTC)
    assert run_alert_job(Session, cfg, senders, back + timedelta(minutes=1)).resolved == 0  # hysteresis: not yet
    assert alerts(Session, "node_offline")[0].clear_since is not None
    out = run_alert_job(Session, cfg, senders, back + timedelta(minutes=3, seconds=30))
    assert out.resolved == 1
    [a] = alerts(Session, "node_offline")
    assert (a.state, a.resolved_by) == ("resolved", "system")
    assert len(inbox.messages) == 2  # still one email each: nothing was sent twice


def _energy_setup(Session, due_soon: datetime):  # noqa: N803
    nodes = seed_fleet(Session, n_factories=2, prefix=f"E{uuid.uuid4().hex[:3].upper()}")
    with Session() as s:
        for n in nodes:
            s.get(Device, n.device_id).active = False  # no node alerts in this test
        s.commit()
    submitted(Session, [n.factory_id for n in nodes])
    add_user(Session, "m0", "factory_manager", nodes[0].factory_code, "m0@f.example")
    add_user(Session, "m1", "factory_manager", nodes[1].factory_code, "m1@f.example")
    return nodes


def _run_two_processes(db_url: str, smtp_url: str, now: datetime) -> list[str]:
    script = (
        "import sys, datetime\n"
        "from core.alerts.jobs import run_alert_job, senders_from_config\n"
        "from core.config import Config\n"
        "from core.db import open_database\n"
        "cfg = Config(database_url=sys.argv[1], smtp_url=sys.argv[2], secret_key='t', embedded=False)\n"
        "_, sf = open_database(cfg.database_url)\n"
        "now = datetime.datetime.fromisoformat(sys.argv[3])\n"
        "start = float(sys.argv[4])\n"
        "import time; time.sleep(max(0.0, start - time.time()))\n"
        "print(run_alert_job(sf, cfg, senders_from_config(cfg), now).status)\n"
    )
    start = time.time() + 3.0  # both processes are imported and connected by then, and race the claim
    procs = [subprocess.Popen([sys.executable, "-c", script, db_url, smtp_url, now.isoformat(), str(start)],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        outs.append(out.strip().splitlines()[-1])
    return sorted(outs)


@pytest.mark.postgres
def test_two_scheduler_processes_send_each_reminder_once_and_reminders_repeat_until_submitted(pg_url, smtp):
    from core.db import make_engine, make_session_factory

    inbox, smtp_url = smtp
    engine = make_engine(pg_url)
    Session = make_session_factory(engine)  # noqa: N806
    # October 2026 data is due by 10 November (EAT); 8 November 09:00 EAT is within the 3 days before.
    day1 = datetime(2026, 11, 8, 6, 0, tzinfo=UTC)
    nodes = _energy_setup(Session, day1)
    assert _run_two_processes(pg_url, smtp_url, day1) == ["done", "skipped"]
    assert len(inbox.to("m0@f.example")) == 1 and len(inbox.to("m1@f.example")) == 1
    assert "October 2026 energy data" in inbox.to("m0@f.example")[0]["Subject"]
    # A later minute the same day: both processes run (one each minute), nothing new is owed.
    assert _run_two_processes(pg_url, smtp_url, day1 + timedelta(minutes=1)) == ["done", "skipped"]
    assert len(inbox.messages) == 2
    # Next local day: a reminder again, still once each.
    assert _run_two_processes(pg_url, smtp_url, day1 + timedelta(days=1)) == ["done", "skipped"]
    assert len(inbox.to("m0@f.example")) == 2 and len(inbox.to("m1@f.example")) == 2
    # Factory 0 submits; factory 1 does not and becomes overdue after the 10th.
    with Session() as s:
        s.add(MonthlySubmission(factory_id=nodes[0].factory_id, month=date(2026, 10, 1), status="submitted",
                                submitted_at=day1 + timedelta(days=1, hours=2)))
        s.commit()
    cfg = cfg_for(pg_url, smtp_url)
    run_alert_job(Session, cfg, senders_from_config(cfg), day1 + timedelta(days=3))
    assert len(inbox.to("m0@f.example")) == 2  # submitted: no more reminders
    overdue = inbox.to("m1@f.example")[-1]["Subject"]
    assert len(inbox.to("m1@f.example")) == 3 and "overdue" in overdue
    due0 = [a for a in alerts(Session) if a.factory_id == nodes[0].factory_id]
    # Submitted two days ago: its reminder resolved, and HQ now has a month to approve.
    assert [(a.rule, a.state) for a in due0] == [("energy_due", "resolved"), ("approval_waiting", "firing")]
    with Session() as s:
        hq = create_user(s, "hq1", "hq1-pass-123", "hq")
        s.commit()
        reminded = notify.reminders_sent(s, hq, [date(2026, 10, 1)])
        per_factory = {(r.factory_code, r.username) for r in reminded}
        assert per_factory == {(nodes[0].factory_code, "m0"), (nodes[1].factory_code, "m1")}
        assert len(reminded) == 5  # m0 twice, m1 three times
        fm = s.scalars(sa.select(User).where(User.username == "m0")).one()
        assert {r.factory_code for r in notify.reminders_sent(s, fm)} == {nodes[0].factory_code}
    engine.dispose()


def test_quiet_hours_defer_and_opt_out_records_without_sending(Session, db_url, smtp):  # noqa: N803
    inbox, smtp_url = smtp
    day1 = datetime(2026, 11, 8, 19, 30, tzinfo=UTC)  # 22:30 EAT
    nodes = seed_fleet(Session, n_factories=1, prefix="Q")
    submitted(Session, [nodes[0].factory_id])
    add_user(Session, "night", "factory_manager", nodes[0].factory_code, "night@f.example",
             quiet_from_hour=21, quiet_to_hour=6)
    add_user(Session, "quit", "factory_manager", nodes[0].factory_code, "quit@f.example", "+254700000002",
             email_opt_out=True)
    cfg = cfg_for(db_url, smtp_url)
    sms = notify.LoggingSmsSender()
    run_alert_job(Session, cfg, senders_from_config(cfg, sms), day1)
    assert inbox.messages == []  # 22:30 EAT is quiet for one, the other opted out of email
    assert [p for p, _ in sms.sent] == ["+254700000002"]  # …but not of SMS
    with Session() as s:
        statuses = sorted((n.address, n.status) for n in s.scalars(sa.select(AlertNotification)))
    assert statuses == [("+254700000002", "sent"), ("night@f.example", "pending"), ("quit@f.example", "opted_out")]
    # 05:59 EAT next day: still quiet. 06:00 EAT: one reminder (today's replaces the one held back).
    run_alert_job(Session, cfg, senders_from_config(cfg, sms), datetime(2026, 11, 9, 2, 59, tzinfo=UTC))
    assert inbox.messages == []
    run_alert_job(Session, cfg, senders_from_config(cfg, sms), datetime(2026, 11, 9, 3, 0, tzinfo=UTC))
    run_alert_job(Session, cfg, senders_from_config(cfg, sms), datetime(2026, 11, 9, 3, 1, tzinfo=UTC))
    assert [r for r, _ in inbox.messages] == [["night@f.example"]]
    with Session() as s:
        held = s.scalars(sa.select(AlertNotification).where(AlertNotification.occasion == "day:2026-11-08",
                                                            AlertNotification.channel == "email")).all()
    assert sorted(n.status for n in held) == ["cancelled", "opted_out"]


def test_acknowledge_badge_and_visibility(Session):  # noqa: N803
    nodes = seed_fleet(Session, n_factories=2, prefix="K")
    submitted(Session, [n.factory_id for n in nodes])
    mgr0 = add_user(Session, "k0", "factory_manager", nodes[0].factory_code)
    mgr1 = add_user(Session, "k1", "factory_manager", nodes[1].factory_code)
    hq = add_user(Session, "hqk", "hq")
    aud = add_user(Session, "audk", "auditor")
    now = datetime(2026, 11, 8, 6, 0, tzinfo=UTC)
    with Session() as s:
        for n in nodes:
            s.get(Device, n.device_id).last_seen_at = now - timedelta(hours=1)
        s.commit()
        ev = state.evaluate(s, now)
    # Each factory: its month's energy data is due, its node is offline, so its last 24 h have no data.
    assert sorted(a.rule for a in ev.fired) == ["data_availability"] * 2 + ["energy_due"] * 2 + ["node_offline"] * 2
    with Session() as s:
        assert state.badge_count(s, mgr0) == 3 and state.badge_count(s, hq) == 6
        own = [a for a in state.list_alerts(s, mgr0) if a.rule == "node_offline"][0]
        other = [a for a in state.list_alerts(s, mgr1) if a.rule == "node_offline"][0]
        assert own.id != other.id
        with pytest.raises(AccessDenied):
            state.acknowledge(s, mgr0, other.id)  # another factory's alert: as if it did not exist
        with pytest.raises(AccessDenied):
            state.acknowledge(s, aud, own.id)  # auditors read only
        a = state.acknowledge(s, mgr0, own.id, now + timedelta(minutes=5))
        assert (a.state, a.acknowledged_by, a.acknowledged_at) == ("acknowledged", "k0", now + timedelta(minutes=5))
        assert state.badge_count(s, mgr0) == 2 and state.badge_count(s, hq) == 5
        assert all(v.title for v in state.list_alerts(s, hq))


def test_co2_availability_calibration_and_approval_rules(Session):  # noqa: N803
    nodes = seed_fleet(Session, n_factories=2, prefix="R")
    now = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)  # nothing due this week; October data is in
    n0, n1 = nodes
    with Session() as s:
        for n in nodes:
            s.get(Device, n.device_id).last_seen_at = now - timedelta(seconds=30)
            s.add(MonthlySubmission(factory_id=n.factory_id, month=date(2026, 10, 1), status="approved",
                                    submitted_at=now - timedelta(days=15)))
        s.add(FactoryAlertSetting(factory_id=n0.factory_id, co2_kg_s_max=0.30, co2_minutes=15))
        s.add(FactoryAlertSetting(factory_id=n1.factory_id, co2_kg_s_max=0.30, co2_minutes=15, availability_min=0.5))
        # 16 minutes of readings at 0.35 kg/s on n0; n1 has one reading of 0.25 in the window.
        for i in range(16):
            ts = now - timedelta(minutes=i)
            s.add(Reading(device_id=n0.device_id, factory_id=n0.factory_id, ts=ts, co2_ppm=1, flue_temp_c=1,
                          velocity_m_s=1, co2_kg_s=0.35, quality=0))
            s.add(Reading(device_id=n1.device_id, factory_id=n1.factory_id, ts=ts, co2_ppm=1, flue_temp_c=1,
                          velocity_m_s=1, co2_kg_s=0.25 if i == 7 else 0.35, quality=0))
        # Data availability of the last 24 h (40 CFR 75.32, valid hours ÷ assigned hours): 16 fully covered
        # hours of 24 = 67 % for both: n0 below the default 80 %, n1 above its own 50 %.
        hour = now.replace(minute=0, second=0, microsecond=0)
        for h in range(1, 17):
            for n in nodes:
                s.add(DeviceHourly(device_id=n.device_id, factory_id=n.factory_id, hour=hour - timedelta(hours=h),
                                   covered_s=3600.0, n_readings=60, n_valid=60))
        s.add(DeviceCommand(id="c-cal1", device_id=n1.device_id, factory_id=n1.factory_id, kind="calibrate_zero",
                            payload="{}", status="failed", result_at=now - timedelta(hours=2),
                            result_detail="drift 4 %"))
        s.add(MonthlySubmission(factory_id=n0.factory_id, month=date(2026, 9, 1), status="approved",
                                submitted_at=now - timedelta(days=40)))
        s.add(MonthlySubmission(factory_id=n1.factory_id, month=date(2026, 9, 1), status="submitted",
                                submitted_at=now - timedelta(days=2)))
        s.commit()
        ev = state.evaluate(s, now)
    got = sorted((a.rule, a.factory_id) for a in ev.fired)
    assert got == sorted([("co2_high", n0.factory_id), ("data_availability", n0.factory_id),
                          ("calibration_failed", n1.factory_id), ("approval_waiting", n1.factory_id)])
    with Session() as s:
        high = s.scalars(sa.select(Alert).where(Alert.rule == "co2_high")).one()
        assert "0.3 kg/s for 15 min" in high.title and "0.350 kg/s over 15 readings" in high.detail  # (now-15 min, now]
        approval = s.scalars(sa.select(Alert).where(Alert.rule == "approval_waiting")).one()
        assert approval.audience == "hq"
        # A passed check after the failed one clears the calibration alert (no hysteresis for it).
        s.add(DeviceCommand(id="c-cal2", device_id=n1.device_id, factory_id=n1.factory_id, kind="calibrate_zero",
                            payload="{}", status="ok", result_at=now - timedelta(hours=1)))
        s.commit()
        ev = state.evaluate(s, now + timedelta(minutes=1))
    assert [a.rule for a in ev.resolved] == ["calibration_failed"]


def test_failing_rule_leaves_its_alerts_alone(Session, monkeypatch):  # noqa: N803
    from core.alerts import rules

    nodes = seed_fleet(Session, n_factories=1, prefix="F")
    now = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
    with Session() as s:
        s.get(Device, nodes[0].device_id).last_seen_at = now - timedelta(hours=1)
        s.commit()
        assert "node_offline" in [a.rule for a in state.evaluate(s, now).fired]

    def broken(*_a):
        raise RuntimeError("database went away")

    monkeypatch.setitem(rules.RULES, "node_offline", broken)
    with Session() as s:
        ev = state.evaluate(s, now + timedelta(hours=1))
    assert ev.failed_rules == ["node_offline"] and ev.resolved == []
    assert alerts(Session, "node_offline")[0].state == "firing"


def test_smtp_failure_is_recorded_not_retried_into_a_storm(Session, db_url):  # noqa: N803
    nodes = seed_fleet(Session, n_factories=1, prefix="S")
    submitted(Session, [nodes[0].factory_id])
    add_user(Session, "sm", "factory_manager", nodes[0].factory_code, "sm@f.example")
    with Session() as s:
        s.get(Device, nodes[0].device_id).active = False
        s.commit()
    cfg = cfg_for(db_url, f"smtp://127.0.0.1:{free_port()}")  # nobody listens there
    out = run_alert_job(Session, cfg, senders_from_config(cfg), datetime(2026, 11, 8, 6, 0, tzinfo=UTC))
    assert out.status == "done" and out.sent == 0
    with Session() as s:
        [n] = s.scalars(sa.select(AlertNotification))
    assert n.status == "failed" and "Connection refused" in n.detail


@pytest.mark.parametrize(("env", "why"), [
    ({"CARBONTRACK_SMTP_URL": "http://mail.example"}, "CARBONTRACK_SMTP_URL"),
    ({"CARBONTRACK_SMTP_URL": "smtp://"}, "CARBONTRACK_SMTP_URL"),
    ({"CARBONTRACK_PUBLIC_URL": "ftp://x"}, "CARBONTRACK_PUBLIC_URL"),
    ({"CARBONTRACK_PUBLIC_URL": "carbontrack.example"}, "CARBONTRACK_PUBLIC_URL"),
])
def test_bad_smtp_and_public_urls_stop_the_process_with_the_variable_named(env, why):
    from core.config import ConfigError, load_config

    with pytest.raises(ConfigError, match=why) as err:
        load_config(env)
    assert "pass" not in str(err.value)


def test_smtp_settings_are_read():
    from core.config import load_config

    cfg = load_config({"CARBONTRACK_SMTP_URL": "smtp+starttls://alerts:s3cret@mail.example:587",
                       "CARBONTRACK_PUBLIC_URL": "https://ct.example/", "CARBONTRACK_MAIL_FROM": "CT <ct@x.example>"})
    assert (cfg.smtp_url, cfg.public_url, cfg.mail_from) == (
        "smtp+starttls://alerts:s3cret@mail.example:587", "https://ct.example", "CT <ct@x.example>")
    assert "s3cret" not in repr(cfg)
    mailer = notify.SmtpMailer(cfg.smtp_url, cfg.mail_from)
    assert (mailer.host, mailer.port, mailer.username, mailer.password) == ("mail.example", 587, "alerts", "s3cret")


def test_calibration_alerts_follow_the_calibration_log(Session):  # noqa: N803
    """The alert uses the node page's rule (issue 12's log): out of control after a failed check (error
    above 2.5 % of span, 40 CFR 75 App. A §3.1), overdue with no passed check in 31 days; a node never
    checked is overdue only once it has been commissioned for 31 days."""
    from core.measurement.calibration import record_node_check
    from core.models import DeviceAssignment, Stack

    nodes = seed_fleet(Session, n_factories=5, prefix="K")
    now = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
    late, failing, never_old, never_new, fresh = nodes
    with Session() as s:
        for n in nodes:
            d = s.get(Device, n.device_id)
            d.last_seen_at = now - timedelta(seconds=30)
            s.add(MonthlySubmission(factory_id=n.factory_id, month=date(2026, 10, 1), status="approved",
                                    submitted_at=now - timedelta(days=15)))
            commissioned = now - timedelta(days=10 if n is never_new else 60)
            s.add(DeviceAssignment(device_id=d.id, factory_id=d.factory_id, stack_id=d.stack_id,
                                   commissioned_at=commissioned))
        s.flush()
        assert s.scalar(sa.select(sa.func.count()).select_from(Stack)) == 5

        def check(n, days_ago: float, measured: float) -> None:  # noqa: ANN001
            # Span 2,000 ppm: 1,000 ppm reference read as 1,040 is a 2.0 % error (passes), as 1,060 3.0 % (fails).
            record_node_check(s, n.device_id, "span", 1000.0, measured, 2000.0, now - timedelta(days=days_ago))

        check(late, 40, 1040.0)        # passed 40 days ago: overdue
        check(failing, 5, 1040.0)      # passed, then failed yesterday: out of control
        check(failing, 1, 1060.0)
        check(fresh, 3, 1010.0)        # passed 3 days ago: nothing
        s.commit()
        ev = state.evaluate(s, now)
    fired = sorted((a.rule, a.device_id) for a in ev.fired if a.rule.startswith("calibration"))
    assert fired == sorted([("calibration_overdue", late.device_id), ("calibration_failed", failing.device_id),
                            ("calibration_overdue", never_old.device_id)])
    with Session() as s:
        failed = s.scalars(sa.select(Alert).where(Alert.rule == "calibration_failed")).one()
        assert "3.0 % of span" in failed.detail and "2.5 % limit" in failed.detail
        # Passed checks clear both (calibration alerts have no hysteresis).
        record_node_check(s, failing.device_id, "span", 1000.0, 1005.0, 2000.0, now - timedelta(hours=2))
        record_node_check(s, late.device_id, "zero", 0.0, 10.0, 2000.0, now - timedelta(hours=1))
        s.commit()
        ev = state.evaluate(s, now + timedelta(minutes=1))
    assert sorted((a.rule, a.device_id) for a in ev.resolved) == sorted(
        [("calibration_overdue", late.device_id), ("calibration_failed", failing.device_id)])


def test_node_offline_waits_for_the_timeout_after_the_sweep_and_not_after_a_last_will(Session):  # noqa: N803
    """The sweep stamps its "offline" with the node's last sign of life; the alert still waits for the
    health rule's timeout (3 intervals, at least 5 min: offline_timeout_s) plus OFFLINE_ALERT_AFTER
    (10 min). A last will received later counts from when it came."""
    from core.alerts.rules import OFFLINE_ALERT_AFTER
    from core.fleet.health import offline_timeout_s
    from mqtt_listener.status import sweep_offline

    swept, willed = seed_fleet(Session, n_factories=2, prefix="OW")
    last = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
    with Session() as s:
        for n in (swept, willed):
            d = s.get(Device, n.device_id)
            d.status, d.last_seen_at, d.sample_interval_s = "online", last, 60.0
        s.commit()
        timeout = timedelta(seconds=offline_timeout_s(60.0))
        assert timeout == timedelta(minutes=5)  # 3 × 60 s is below the 5-minute floor
        # The broker publishes the second node's will 2 minutes after its last message (keep-alive lost),
        # before the 5-minute silence rule; the sweep then marks the first one.
        will_at = last + timedelta(minutes=2)
        d = s.get(Device, willed.device_id)
        d.status, d.status_changed_at = "offline", will_at
        s.commit()
        assert sweep_offline(s, last + timeout + timedelta(seconds=1)) == [swept.device_id]
        s.commit()

        def offline_ids(at: datetime) -> list[str]:
            return sorted(a.device_id for a in state.evaluate(s, at).fired if a.rule == "node_offline")

        # 10 min after the last reading neither has been offline for 10 minutes yet.
        assert offline_ids(last + OFFLINE_ALERT_AFTER) == []
        assert offline_ids(will_at + OFFLINE_ALERT_AFTER) == [willed.device_id]  # 12 min after the last message
        assert offline_ids(last + timeout + OFFLINE_ALERT_AFTER - timedelta(seconds=1)) == []  # nothing new
        assert offline_ids(last + timeout + OFFLINE_ALERT_AFTER) == [swept.device_id]  # 15 min: the swept one


@pytest.mark.mqtt
def test_emails_and_sms_are_in_the_language_each_recipient_chose(Session, db_url, smtp):  # noqa: N803
    """Two managers of one factory: the one who chose Swahili in the portal reads the reminder in
    Swahili (the catalog's sentence, CLDR's month names), the other in English, by email and SMS."""
    inbox, smtp_url = smtp
    nodes = seed_fleet(Session, n_factories=1, prefix="L")
    submitted(Session, [nodes[0].factory_id])
    add_user(Session, "english", "factory_manager", nodes[0].factory_code, "en@f.example", "+254700000011")
    sw = add_user(Session, "swahili", "factory_manager", nodes[0].factory_code, "sw@f.example", "+254700000012")
    with Session() as s:
        s.get(User, sw.id).language = "sw"
        s.commit()
        label = f"{s.get(Factory, nodes[0].factory_id).name} ({nodes[0].factory_code})"
    cfg = cfg_for(db_url, smtp_url)
    sms = notify.LoggingSmsSender()
    run_alert_job(Session, cfg, senders_from_config(cfg, sms), datetime(2026, 11, 8, 7, 0, tzinfo=UTC))  # 10:00 EAT

    def due(messages: list[email.message.Message]) -> tuple[str, str]:
        """(subject unfolded, body) of the reminder about the factory's October."""
        found = [(str(make_header(decode_header(m["Subject"]))).replace("\n", "").replace("\r", ""),
                  m.get_payload(decode=True).decode(m.get_content_charset() or "utf-8")) for m in messages]
        (hit,) = [(subject, body) for subject, body in found if label in subject and "2026" in subject]
        return hit

    (en_subject, en_body), (sw_subject, body) = due(inbox.to("en@f.example")), due(inbox.to("sw@f.example"))
    assert en_subject == f"[Carbon Track] October 2026 energy data for {label} is due by 10 November"
    assert "Acknowledge it or see all alerts at https://carbontrack.example/alerts." in en_body
    # translations/sw messages.po: "Data ya nishati ya {month} ya {factory} inatakiwa kufikia {day}";
    # CLDR sw: Oktoba, Novemba.
    assert sw_subject == f"[Carbon Track] Data ya nishati ya Oktoba 2026 ya {label} inatakiwa kufikia 10 Novemba"
    assert "Iingize na uiwasilishe kwenye ukurasa wa Kuingiza nishati." in body
    assert "Ikubali au uone tahadhari zote kwenye https://carbontrack.example/alerts." in body
    assert "Unapokea ujumbe huu kwa sababu unawajibika kwa kiwanda hiki au mtandao" in body
    assert "Acknowledge" not in body and "energy data" not in body
    texts = {phone: text for phone, text in sms.sent if label in text and "2026" in text}
    assert texts["+254700000011"] == f"October 2026 energy data for {label} is due by 10 November"
    assert texts["+254700000012"] == f"Data ya nishati ya Oktoba 2026 ya {label} inatakiwa kufikia 10 Novemba"

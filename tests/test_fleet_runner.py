"""`carbontrack run` runs fleet operations too: a command queued in the database reaches a simulated node
over the embedded amqtt broker and its answer comes back; `carbontrack fleet` is a sub-command."""

from __future__ import annotations

import threading

import sqlalchemy as sa
from ingest_helpers import free_port, seed_fleet, wait_until

from carbontrack.cli import build_parser
from carbontrack.runner import run_all
from core.accounts.users import create_user
from core.config import Config
from core.db import make_engine, make_session_factory, upgrade_to_head
from core.fleet.commands import send_command
from core.models import DeviceCommand, JobRun, User


def test_run_all_answers_commands_and_runs_the_alert_job(tmp_path):
    url = f"sqlite:///{tmp_path / 'ct.db'}"
    upgrade_to_head(url)
    engine = make_engine(url)
    Session = make_session_factory(engine)  # noqa: N806
    nodes = seed_fleet(Session, n_factories=1, devices_per_factory=1)
    with Session() as s:
        create_user(s, "root", "root-pass-123", "admin")
        s.commit()
        admin = s.scalars(sa.select(User)).one()
    cfg = Config(database_url=url, mqtt_url=None, secret_key="x", data_dir=tmp_path, embedded=True)
    stop = threading.Event()
    ready: dict = {}
    checks: dict = {}

    def status(command_id: str) -> str:
        with Session() as s:
            return s.get(DeviceCommand, command_id).status

    def alert_runs() -> int:
        with Session() as s:
            return s.scalar(sa.select(sa.func.count()).select_from(JobRun).where(JobRun.job == "alert_rules"))

    def check() -> None:
        try:
            checks["ready"] = wait_until(lambda: bool(ready), 60)
            with Session() as s:
                cmd = send_command(s, admin, nodes[0].device_id, "reboot")
            checks["answered"] = wait_until(lambda: status(cmd.id) == "ok", 30)
            checks["alerts"] = wait_until(lambda: alert_runs() >= 1, 30)
        finally:
            stop.set()

    checker = threading.Thread(target=check, daemon=True)
    checker.start()
    assert run_all(cfg, "127.0.0.1", free_port(), True, stop_event=stop, on_ready=ready.update) == 0
    checker.join(60)
    engine.dispose()
    assert checks == {"ready": True, "answered": True, "alerts": True}


def test_fleet_subcommand_needs_an_external_broker(monkeypatch):
    from mqtt_listener.fleet_ops import run_fleet_ops_forever

    assert build_parser().parse_args(["fleet"]).func.__name__ == "_fleet"
    assert run_fleet_ops_forever(Config(database_url="sqlite://", secret_key="x")) == 2

"""`carbontrack run`: embedded broker + listener + simulated fleet (+ web when present), one process."""

from __future__ import annotations

import threading
import time
import urllib.request

import sqlalchemy as sa
from ingest_helpers import count_readings, free_port, seed_fleet, wait_until

from carbontrack.runner import run_all
from core.config import Config, MqttUrl
from core.db import make_engine, make_session_factory, upgrade_to_head
from core.models import Device


def test_run_all_embedded_default_ingests_simulated_fleet_and_stops(tmp_path):
    url = f"sqlite:///{tmp_path / 'ct.db'}"
    upgrade_to_head(url)
    engine = make_engine(url)
    Session = make_session_factory(engine)  # noqa: N806
    seed_fleet(Session, n_factories=2, devices_per_factory=1)  # not empty: the demo loader skips
    with Session() as s:
        s.execute(sa.update(Device).values(sample_interval_s=0.5))  # fast nodes for the test
        s.commit()
    cfg = Config(database_url=url, mqtt_url=None, topic_prefix="carbontrack/v1", secret_key="x", data_dir=tmp_path, embedded=True)
    port = free_port()
    stop = threading.Event()
    ready: dict = {}
    checks: dict = {}

    def check() -> None:
        # run_all stays in the main thread (Dash builds its pages there); this thread checks and stops it.
        try:
            checks["ready"] = wait_until(lambda: bool(ready), 60)
            checks["readings"] = wait_until(lambda: count_readings(Session) >= 6, 20)
            if ready.get("web"):
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as resp:
                    checks["web_status"] = resp.status
        finally:
            stop.set()

    checker = threading.Thread(target=check, daemon=True)
    checker.start()
    rc = run_all(cfg, "127.0.0.1", port, True, stop_event=stop, on_ready=ready.update)
    checker.join(30)
    engine.dispose()
    assert rc == 0
    assert checks["ready"] and checks["readings"]
    assert ready["broker"].host == "127.0.0.1"
    if ready["web"]:
        assert checks["web_status"] == 200
    with make_session_factory(make_engine(url))() as s:
        assert {d.status for d in s.scalars(sa.select(Device))} == {"offline"}


def test_run_all_with_external_broker_does_not_simulate(tmp_path, mosquitto, topic_prefix):
    """Against a real broker the fleet is not simulated: fake readings must never mix with real ones."""
    url = f"sqlite:///{tmp_path / 'ct.db'}"
    upgrade_to_head(url)
    engine = make_engine(url)
    Session = make_session_factory(engine)  # noqa: N806
    seed_fleet(Session, n_factories=1, devices_per_factory=1)
    with Session() as s:
        s.execute(sa.update(Device).values(sample_interval_s=0.2))
        s.commit()
    cfg = Config(database_url=url, mqtt_url=MqttUrl(*mosquitto), topic_prefix=topic_prefix, secret_key="x",
                 data_dir=tmp_path, embedded=False)
    stop = threading.Event()
    ready: dict = {}

    def check() -> None:
        try:
            if wait_until(lambda: bool(ready), 60):
                assert ready["listener"].wait_connected(10)
                time.sleep(1.5)
        finally:
            stop.set()

    checker = threading.Thread(target=check, daemon=True)
    checker.start()
    assert run_all(cfg, "127.0.0.1", free_port(), True, stop_event=stop, on_ready=ready.update) == 0
    checker.join(30)
    assert ready and count_readings(Session) == 0
    engine.dispose()

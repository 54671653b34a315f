"""Listener memory stays under 200 MB whatever the broker delivers; `carbontrack listen` is the listener.

The listener runs as `carbontrack listen` (without CARBONTRACK_SECRET_KEY, like
`python -m mqtt_listener`) against a private Mosquitto with no payload limit. It is paused
(SIGSTOP) while 2,200 legal 56 KiB messages and 300 illegal 200 KiB ones pile up, then resumed
to drain them at full speed; its peak RSS (VmHWM) is read from /proc.
"""

from __future__ import annotations

import getpass
import json
import math
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import require_or_skip
from ingest_helpers import (
    MOSQUITTO,
    Publisher,
    count_readings,
    free_port,
    reading,
    rejections,
    seed_fleet,
    topic,
    wait_until,
)

from core.db import make_engine, make_session_factory
from core.models import ListenerStat

pytestmark = pytest.mark.slow

RSS_LIMIT_MB = 200
N_LEGAL = 2200
N_HUGE = 300
LEGAL_BYTES = 56 * 1024
HUGE_BYTES = 200 * 1024
READINGS_PER_MESSAGE = 50
T0 = math.floor(time.time() / 3600) * 3600 - 30 * 86400  # a month ago: room for 110,000 distinct minutes


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc status")


def _padded(device_id: str, readings: list[dict], size: int) -> bytes:
    doc = {"device_id": device_id, "fw": "1.1.0", "interval_s": 60, "readings": readings, "pad": ""}
    base = len(json.dumps(doc).encode())
    doc["pad"] = "x" * (size - base)
    out = json.dumps(doc).encode()
    assert len(out) == size
    return out


@pytest.fixture
def open_broker(tmp_path):
    """A private Mosquitto that accepts any payload size (the worst case for the listener)."""
    require_or_skip(os.path.exists(MOSQUITTO), "mosquitto binary")
    port = free_port()
    conf = tmp_path / "open.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\nuser {getpass.getuser()}\npersistence false\n"
        "max_inflight_messages 0\nmax_queued_messages 0\nmax_queued_bytes 0\n"
        f"log_dest file {tmp_path}/mosquitto.log\n"
    )
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    yield port
    proc.terminate()
    proc.wait(10)


def test_listener_peak_rss_under_200_mb_and_carbontrack_listen_needs_no_secret(pg_url, open_broker, tmp_path):
    engine = make_engine(pg_url)
    Session = make_session_factory(engine)  # noqa: N806
    fleet = seed_fleet(Session, n_factories=2, devices_per_factory=2)
    prefix = f"cttest/{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARBONTRACK_")}
    env.update(
        CARBONTRACK_DATABASE_URL=pg_url,
        CARBONTRACK_MQTT_URL=f"mqtt://127.0.0.1:{open_broker}?protocol=5",
        CARBONTRACK_TOPIC_PREFIX=prefix,
        CARBONTRACK_LISTENER_ID=f"mem-{uuid.uuid4().hex[:6]}",
    )
    script = Path(sys.executable).parent / "carbontrack"
    require_or_skip(script.exists(), "carbontrack console script (pip install -e .)")
    log = open(tmp_path / "listener.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([str(script), "listen"], env=env, stdout=log, stderr=subprocess.STDOUT)
    pub = Publisher("127.0.0.1", open_broker)
    try:
        probe = fleet[0]
        # Until it has subscribed, the probe is lost (no session yet): resend it until stored.
        deadline = time.monotonic() + 30
        while count_readings(Session) == 0 and time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "listener.log").read_text()[-2000:]
            pub.publish(topic(prefix, probe), _padded(probe.device_id, [reading(T0 - 60, seq=0)], 300))
            time.sleep(0.5)
        assert count_readings(Session) == 1, "carbontrack listen did not start without CARBONTRACK_SECRET_KEY"
        os.kill(proc.pid, signal.SIGSTOP)
        try:
            expected = 1
            for k in range(N_LEGAL):
                node = fleet[k % len(fleet)]
                first = (k // len(fleet)) * READINGS_PER_MESSAGE
                rows = [reading(T0 + 60 * (first + j), seq=first + j) for j in range(READINGS_PER_MESSAGE)]
                pub.publish(topic(prefix, node), _padded(node.device_id, rows, LEGAL_BYTES))
                expected += READINGS_PER_MESSAGE
                if k < N_HUGE:
                    pub.publish(topic(prefix, node), _padded(node.device_id, [reading(T0 - 120, seq=0)], HUGE_BYTES))
            pub.wait_all(120)
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        assert wait_until(lambda: count_readings(Session) >= expected and len(rejections(Session)) >= N_HUGE, 180), (
            f"stored {count_readings(Session)} of {expected}"
        )
        peak_mb = _peak_rss_mb(proc.pid)
        assert count_readings(Session) == expected
        rej = rejections(Session)
        assert len(rej) == N_HUGE and {r.reason for r in rej} == {"oversized"}
        assert all(r.payload_size == HUGE_BYTES and len(r.payload) <= 2048 for r in rej)
        print(f"\nlistener peak RSS {peak_mb:.0f} MB after {N_LEGAL} x 56 KiB + {N_HUGE} x 200 KiB")
        assert peak_mb < RSS_LIMIT_MB
    finally:
        pub.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
        with Session() as s:
            assert s.scalar(sa.select(sa.func.count()).select_from(ListenerStat)) >= 1  # it saved its stats on SIGTERM
        engine.dispose()
    assert proc.returncode == 0

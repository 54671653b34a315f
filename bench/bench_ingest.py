"""Ingest benchmark: Mosquitto + PostgreSQL + listener + simulator on one machine.

Runs a private Mosquitto (deploy/mosquitto/carbontrack.conf) on a free loopback port, a fresh
PostgreSQL database, the listener in this process (so a commit hook can time every message) and
the simulator as a separate process (`python -m mqtt_listener.simulator`, load mode). Each
scenario publishes at a fixed rate for a fixed time, then waits until everything published is
committed, and checks that nothing was lost or duplicated (readings in the database == readings
published).

Scenarios (bench/RESULTS.md, "Ingest throughput and latency"):
  single   single-reading messages as fast as the listener takes them (target ≥ 5,000 msg/s)
  batched  messages of 50 readings (target ≥ 20,000 readings/s)
  latency  single-reading messages at 1,000 msg/s: p50/p99 publish-to-commit (target p99 < 2 s)
The listener's peak RSS is sampled throughout (target < 200 MB).

Usage: .venv/bin/python bench/bench_ingest.py [--scenarios single,batched,latency] [--duration 30]
       [--rate-single 6000] [--rate-batched 500] [--batch 50] [--profile out.pstats]
"""

from __future__ import annotations

import argparse
import cProfile
import getpass
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import sqlalchemy as sa

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import pgdb  # noqa: E402
from core.config import Config, MqttUrl  # noqa: E402
from core.db import make_engine, make_session_factory, upgrade_to_head  # noqa: E402
from core.models import Device, Factory, Reading, Stack  # noqa: E402
from mqtt_listener import Listener  # noqa: E402
from mqtt_listener.simulator import synthetic_nodes  # noqa: E402
from mqtt_listener.writer import BatchWriter  # noqa: E402

PG_ADMIN = os.environ.get("CARBONTRACK_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
PREFIX = "bench/v1"
FACTORIES = 67  # the real fleet: one node per factory


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_mosquitto(workdir: Path) -> tuple[subprocess.Popen, int]:
    """A private Mosquitto with the shipped config on a free port."""
    port = _free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        (REPO / "deploy/mosquitto/carbontrack.conf").read_text()
        + f"\nlistener {port} 127.0.0.1\nallow_anonymous true\nuser {getpass.getuser()}\n"
        f"persistence_location {workdir}/\nlog_dest none\n"
    )
    proc = subprocess.Popen([shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(conf)])
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("mosquitto did not start")


def create_database() -> str:
    url = pgdb.create_database(PG_ADMIN)
    upgrade_to_head(url)
    return url


def drop_database(url: str) -> None:
    pgdb.drop_database(url, PG_ADMIN)


def seed(session_factory) -> None:  # noqa: ANN001
    """Register the simulator's synthetic fleet (SIM000-S1 …)."""
    with session_factory() as s:
        for spec in synthetic_nodes(FACTORIES):
            f = Factory(code=spec.factory_code, name=spec.factory_code, region=1, county="x", latitude=0.0,
                        longitude=37.0, altitude_m=spec.altitude_m)
            s.add(f)
            s.flush()
            st = Stack(factory_id=f.id, name="Boiler", diameter_m=0.8, moisture_fraction=0.12)
            s.add(st)
            s.flush()
            s.add(Device(id=spec.device_id, factory_id=f.id, stack_id=st.id, sample_interval_s=60.0))
        s.commit()


class Recorder:
    """Commit hook: per message, commit time minus publish time (the last reading's ts)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with getattr(self, "lock", threading.Lock()):
            self.latencies: list[float] = []
            self.messages = 0
            self.first_commit: float | None = None
            self.last_commit: float | None = None

    def __call__(self, batch, commit_wall: float) -> None:  # noqa: ANN001
        lat = []
        for m in batch:
            p = m.payload
            i = p.rfind(b'"ts":')
            if i < 0:
                continue
            j = p.find(b",", i)
            lat.append(commit_wall - float(p[i + 5 : j]))
        with self.lock:
            self.latencies.extend(lat)
            # Telemetry only: counting the simulator's status messages too ended the wait up to
            # 134 messages early, which a listener running behind showed as "lost" readings.
            self.messages += len(lat)
            if self.first_commit is None:
                self.first_commit = commit_wall
            self.last_commit = commit_wall


class RssSampler(threading.Thread):
    """Peak resident memory of this (listener) process."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = 0
        self.stop = threading.Event()

    def run(self) -> None:
        proc = psutil.Process()
        while not self.stop.wait(0.25):
            self.peak = max(self.peak, proc.memory_info().rss)


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * (len(s) - 1) + 0.5))] if s else float("nan")


def run_scenario(name: str, port: int, session_factory, recorder: Recorder, rate: float, batch: int,  # noqa: ANN001
                 duration: float, before_publish=None, after_publish=None, publishers: int = 1) -> dict:  # noqa: ANN001
    """Publish `rate` × `duration` messages of `batch` readings and wait until all are committed."""
    with session_factory() as s:
        before = s.scalar(sa.select(sa.func.count()).select_from(Reading))
    recorder.reset()
    n_messages = int(rate * duration)
    stats_file = Path(tempfile.mkstemp(suffix=".json")[1])
    env = {**os.environ, "CARBONTRACK_TOPIC_PREFIX": PREFIX, "PYTHONPATH": str(REPO)}
    stats_files = [Path(f"{stats_file}.{i}") for i in range(publishers)]
    cmds = [
        [sys.executable, "-m", "mqtt_listener.simulator", "--broker", f"mqtt://127.0.0.1:{port}", "--no-db",
         "--factories", str(FACTORIES), "--rate", str(rate / publishers), "--messages", str(n_messages // publishers),
         "--batch-size", str(batch), "--stats-json", str(stats_files[i]), "--shard", f"{i}/{publishers}",
         "--seed", str(i + 1)]
        for i in range(publishers)
    ]
    if before_publish is not None:
        before_publish()
    cpu0 = psutil.Process().cpu_times()
    t0 = time.time()
    procs = [subprocess.Popen(c, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for c in cmds]
    for proc in procs:
        _, err = proc.communicate(timeout=duration * 20 + 120)
        if proc.returncode != 0:
            raise RuntimeError(f"simulator failed: {err[-2000:]}")
    t_published = time.time()
    parts = [json.loads(f.read_text()) for f in stats_files]
    for f in (stats_file, *stats_files):
        f.unlink(missing_ok=True)
    sim_stats = {k: sum(p[k] for p in parts) for k in ("messages", "readings", "acked", "status_messages")}
    sim_stats["started"] = min(p["started"] for p in parts)
    t_drain_start = time.time()
    if after_publish is not None:
        cpu0 = psutil.Process().cpu_times()
        after_publish()
    expected = sim_stats["readings"]
    deadline = time.time() + 600
    while time.time() < deadline:
        with recorder.lock:
            done = recorder.messages >= sim_stats["messages"]
        if done:
            break
        time.sleep(0.05)
    time.sleep(0.5)
    cpu1 = psutil.Process().cpu_times()
    with session_factory() as s:
        stored = s.scalar(sa.select(sa.func.count()).select_from(Reading)) - before
    first_pub = sim_stats["started"] if after_publish is None else t_drain_start
    last_commit = recorder.last_commit or time.time()
    span = last_commit - first_pub
    listener_cpu = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
    return {
        "scenario": name,
        "target_rate_msg_s": rate,
        "publisher_processes": publishers,
        "readings_per_msg": batch,
        "published_msgs": sim_stats["messages"],
        "broker_acked_msgs": sim_stats["acked"] - sim_stats["status_messages"],
        "published_readings": expected,
        "publish_rate_msg_s": round(sim_stats["messages"] / max(t_published - sim_stats["started"], 1e-9), 1),
        "stored_readings": stored,
        "lost": expected - stored,
        "end_to_end_msg_s": round(sim_stats["messages"] / span, 1),
        "end_to_end_readings_s": round(expected / span, 1),
        "drain_after_publish_s": round(last_commit - t_published, 2),
        "latency_p50_s": round(pct(recorder.latencies, 0.50), 3),
        "latency_p99_s": round(pct(recorder.latencies, 0.99), 3),
        "latency_max_s": round(max(recorder.latencies), 3) if recorder.latencies else None,
        "listener_cpu_s": round(listener_cpu, 1),
        "wall_s": round(time.time() - t0, 1),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the scenarios and print one JSON line each, then a summary."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenarios", default="latency,single,batched,drain_single,drain_batched")
    ap.add_argument("--duration", type=float, default=30.0, help="seconds of publishing per scenario")
    ap.add_argument("--rate-single", type=float, default=6000.0)
    ap.add_argument("--rate-batched", type=float, default=500.0)
    ap.add_argument("--rate-latency", type=float, default=1000.0)
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--publishers", type=int, default=2, help="simulator processes sharing the rate")
    ap.add_argument("--profile", help="write a cProfile of the writer thread to this file")
    ap.add_argument("--no-ack", action="store_true", help="listener without the contract v1.1 end-to-end ack (to measure its cost)")
    args = ap.parse_args(argv)

    print(f"machine: {platform.platform()}, {psutil.cpu_count()} CPUs, "
          f"{psutil.virtual_memory().total / 2**30:.0f} GiB, Python {platform.python_version()}", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="ct-bench-"))
    broker, port = start_mosquitto(workdir)
    url = create_database()
    engine = make_engine(url)
    session_factory = make_session_factory(engine)
    seed(session_factory)
    recorder = Recorder()
    profiler = cProfile.Profile() if args.profile else None
    if profiler is not None:
        original = BatchWriter.write

        def profiled(self, batch):  # noqa: ANN001, ANN202
            profiler.enable()
            try:
                return original(self, batch)
            finally:
                profiler.disable()

        BatchWriter.write = profiled  # type: ignore[method-assign]
    cfg = Config(database_url=url, mqtt_url=MqttUrl("127.0.0.1", port), topic_prefix=PREFIX, secret_key="x", embedded=False)
    holder: dict = {}

    def start_listener() -> None:
        holder["listener"] = Listener(
            cfg, session_factory, client_id="bench-listener", protocol="5", on_commit=recorder, ack=not args.no_ack
        )
        holder["listener"].start()
        if not holder["listener"].wait_connected(10):
            raise RuntimeError("listener did not connect")

    def stop_listener() -> None:
        holder["listener"].stop()

    rss = RssSampler()
    rss.start()
    results = []
    try:
        start_listener()
        plan = {
            "latency": (args.rate_latency, 1, None, None),
            "single": (args.rate_single, 1, None, None),
            "batched": (args.rate_batched, args.batch, None, None),
            # The listener is down while the simulator publishes; the broker queues everything for
            # its persistent session; then the listener drains the backlog: its capacity without a
            # publisher competing for the two cores.
            "drain_single": (args.rate_single, 1, stop_listener, start_listener),
            "drain_batched": (args.rate_batched, args.batch, stop_listener, start_listener),
        }
        for name in args.scenarios.split(","):
            rate, batch, before, after = plan[name]
            res = run_scenario(name, port, session_factory, recorder, rate, batch, args.duration, before, after,
                               publishers=args.publishers)
            res["listener_peak_rss_mb"] = round(rss.peak / 2**20, 1)
            results.append(res)
            print(json.dumps(res), flush=True)
        listener = holder["listener"]
        snap = listener.stats.snapshot()
        print(json.dumps({"listener_counters": {k: snap[k] for k in ("received", "stored", "duplicates", "rejected",
                                                                    "batches", "db_errors")}}), flush=True)
    finally:
        rss.stop.set()
        if "listener" in holder:
            holder["listener"].stop()
        engine.dispose()
        drop_database(url)
        broker.terminate()
        broker.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)
        if profiler is not None:
            profiler.dump_stats(args.profile)
    print(f"listener peak RSS: {rss.peak / 2**20:.1f} MB", flush=True)
    return 0 if all(r["lost"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())

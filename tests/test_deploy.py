"""The deployment kit (issue 18 deliverable 7, issue 17 item 7): per-node MQTT credentials checked by a
real Mosquitto, backup and restore of a filled PostgreSQL database, a taken web port."""

from __future__ import annotations

import getpass
import hashlib
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import sqlalchemy as sa
from conftest import _port_open, create_pg_database, drop_pg_database, require_or_skip
from ingest_helpers import free_port, seed_fleet, wait_until
from reports_helpers import MONTH, NOW, config_for, seed_known_month

from carbontrack.cli import main as cli_main
from carbontrack.provision import mosquitto_hash, verify_mosquitto_hash
from core.db import make_engine, make_session_factory, upgrade_to_head
from core.evidence.files import Attachment, add_evidence
from core.models import Factory, Report
from core.reporting.reports import generate_reports, read_report_file
from core.storage import DatabaseStore, open_store

REPO = Path(__file__).resolve().parent.parent
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
PREFIX = "carbontrack/v1"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


# --- provision-node ------------------------------------------------------------------------------

def test_password_hash_matches_mosquitto_passwd(tmp_path):
    """Our $7$ line is what mosquitto_passwd writes: verify its own line with our check and vice versa."""
    tool = shutil.which("mosquitto_passwd")
    require_or_skip(tool is not None, "mosquitto_passwd")
    pw_file = tmp_path / "passwd"
    subprocess.run([tool, "-c", "-b", str(pw_file), "node1", "s3cret-pass"], check=True, capture_output=True)
    stored = pw_file.read_text().strip().split(":", 1)[1]
    assert stored.startswith("$7$")
    assert verify_mosquitto_hash("s3cret-pass", stored) and not verify_mosquitto_hash("wrong", stored)
    ours = mosquitto_hash("s3cret-pass")
    assert ours.split("$")[2] == stored.split("$")[2]  # same iteration count
    assert verify_mosquitto_hash("s3cret-pass", ours)


def _connect(port: int, user: str, password: str, received: list | None = None) -> tuple[mqtt.Client, int]:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{user}-{os.getpid()}-{time.monotonic_ns()}")
    client.username_pw_set(user, password)
    result: dict = {}
    connected = threading.Event()

    def on_connect(_c, _u, _f, reason_code, _p):  # noqa: ANN001
        result["rc"] = reason_code.value
        connected.set()

    client.on_connect = on_connect
    if received is not None:
        client.on_message = lambda _c, _u, msg: received.append((msg.topic, msg.payload))
    client.connect("127.0.0.1", port)
    client.loop_start()
    connected.wait(5)
    return client, result.get("rc", -1)


def test_provisioned_node_may_publish_and_read_only_its_own_topics(tmp_path, capsys, monkeypatch):
    require_or_skip(Path(MOSQUITTO).exists(), "the mosquitto binary")
    url = f"sqlite:///{tmp_path / 'ct.db'}"
    upgrade_to_head(url)
    engine = make_engine(url)
    nodes = seed_fleet(make_session_factory(engine), n_factories=2)
    engine.dispose()
    me, other = nodes
    pw_file, acl_file = tmp_path / "passwd", tmp_path / "acl"
    monkeypatch.setenv("CARBONTRACK_DATABASE_URL", url)
    monkeypatch.setenv("CARBONTRACK_DATA_DIR", str(tmp_path))
    files = ["--password-file", str(pw_file), "--acl-file", str(acl_file)]

    def provision(*args: str) -> str:
        assert cli_main(["provision-node", *args, *files]) == 0
        out = capsys.readouterr().out
        line = next(x for x in out.splitlines() if "mqtt_password" in x or "mqtts://" in x)
        return line.split()[-1] if "mqtt_password" in line else re.search(r"mqtts://[^:]+:([^@]+)@", line).group(1)

    first = provision(me.device_id)
    password = provision(me.device_id)  # provisioning again replaces the entry (a new password)
    server_pw = provision("ct-listener", "--service")
    assert first != password
    assert cli_main(["provision-node", "NO-SUCH", *files]) == 1
    assert pw_file.read_text().count(f"{me.device_id}:$7$") == 1 and password not in pw_file.read_text()
    assert acl_file.read_text().count(f"# begin {me.device_id}") == 1
    assert oct(pw_file.stat().st_mode & 0o777) == "0o640"

    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    # `user`: a broker started as root would switch to the mosquitto user, who cannot read tmp_path.
    conf.write_text(f"user {getpass.getuser()}\nlistener {port} 127.0.0.1\nallow_anonymous false\npassword_file {pw_file}\n"
                    f"acl_file {acl_file}\npersistence false\n")
    broker = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    clients: list[mqtt.Client] = []
    try:
        assert wait_until(lambda: _port_open("127.0.0.1", port), 10)
        _, bad_rc = _connect(port, me.device_id, first)  # the replaced password no longer works
        assert bad_rc != 0
        seen: list = []
        server, rc = _connect(port, "ct-listener", server_pw, seen)
        clients.append(server)
        assert rc == 0
        server.subscribe(f"{PREFIX}/+/+/telemetry", qos=1)
        server.subscribe(f"{PREFIX}/+/+/status", qos=1)
        got: list = []
        node, rc = _connect(port, me.device_id, password, got)
        clients.append(node)
        assert rc == 0
        mine = f"{PREFIX}/{me.factory_code}/{me.device_id}"
        theirs = f"{PREFIX}/{other.factory_code}/{other.device_id}"
        node.subscribe(f"{mine}/ack", qos=1)
        node.subscribe(f"{theirs}/ack", qos=1)  # not allowed: nothing may arrive
        node.subscribe(f"{mine}/cmd", qos=1)
        time.sleep(0.3)
        node.publish(f"{theirs}/telemetry", b"spoofed", qos=1).wait_for_publish(5)
        node.publish(f"{mine}/telemetry", b"real", qos=1).wait_for_publish(5)
        node.publish(f"{mine}/status", b"online", qos=1).wait_for_publish(5)
        server.publish(f"{theirs}/ack", b'{"seq": 2}', qos=1).wait_for_publish(5)
        server.publish(f"{mine}/ack", b'{"seq": 1}', qos=1).wait_for_publish(5)
        server.publish(f"{mine}/cmd", b'{"id": "c-1"}', qos=1).wait_for_publish(5)
        assert wait_until(lambda: len(seen) >= 2 and len(got) >= 2, 5)
        time.sleep(0.3)  # anything refused would have arrived by now
        assert seen == [(f"{mine}/telemetry", b"real"), (f"{mine}/status", b"online")]
        assert sorted(got) == [(f"{mine}/ack", b'{"seq": 1}'), (f"{mine}/cmd", b'{"id": "c-1"}')]
    finally:
        for c in clients:
            c.loop_stop()
            c.disconnect()
        broker.terminate()
        broker.wait(5)


# --- backup and restore --------------------------------------------------------------------------

def _counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            tables = sa.inspect(conn).get_table_names()
            return {t: conn.execute(sa.text(f'SELECT count(*) FROM "{t}"')).scalar_one() for t in tables}
    finally:
        engine.dispose()


def test_backup_of_a_filled_database_restores_into_a_new_one(pg_url, tmp_path):
    require_or_skip(shutil.which("pg_dump") is not None and shutil.which("pg_restore") is not None,
                    "pg_dump and pg_restore")
    engine = make_engine(pg_url)
    Session = make_session_factory(engine)  # noqa: N806
    seed_known_month(Session)
    seed_fleet(Session, n_factories=2)
    cfg = config_for(pg_url, tmp_path / "host")
    result = generate_reports(Session, cfg, MONTH, ["TST", "KGW"], requested_by="t", now=NOW)
    assert result.ok and len(result.reports) == 2
    with Session() as s:
        tst = s.scalar(sa.select(Factory.id).where(Factory.code == "TST"))
        from types import SimpleNamespace

        manager = SimpleNamespace(id=None, username="m", role="factory_manager", factory_id=tst, active=True)
        add_evidence(s, cfg.data_dir, manager, Attachment(tst, MONTH, "diesel"), "inv.pdf", PDF,
                     store=open_store(cfg, Session))
        s.commit()
    before = _counts(pg_url)
    assert before["report"] == 2 and before["stored_blob"] == 3 and before["factory"] >= 4
    hashes = {r.scope_key: r.sha256 for r in result.reports}
    engine.dispose()

    env = {**os.environ, "CARBONTRACK_DATABASE_URL": pg_url, "CARBONTRACK_DATA_DIR": str(cfg.data_dir)}
    out = tmp_path / "backup"
    done = subprocess.run(["bash", str(REPO / "deploy" / "backup.sh"), str(out)], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert {p.name for p in out.iterdir()} == {"carbontrack.dump", "data.tar.gz", "SHA256SUMS"}

    target = create_pg_database("ct_restore")
    try:
        env_restore = {**env, "CARBONTRACK_DATABASE_URL": target, "CARBONTRACK_DATA_DIR": str(tmp_path / "restored")}
        done = subprocess.run(["bash", str(REPO / "deploy" / "restore.sh"), str(out)], env=env_restore,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert _counts(target) == before
        engine2 = make_engine(target)
        try:
            Restored = make_session_factory(engine2)  # noqa: N806
            store = DatabaseStore(Restored)
            with Restored() as s:
                for rep in s.scalars(sa.select(Report)):
                    assert hashlib.sha256(read_report_file(store, rep)).hexdigest() == hashes[rep.scope_key]
        finally:
            engine2.dispose()
        restored_files = sorted(p.relative_to(tmp_path / "restored").as_posix()
                                for p in (tmp_path / "restored").rglob("*") if p.is_file())
        assert len(restored_files) == 3 and sum(f.startswith("reports/") for f in restored_files) == 2
        # Restoring over a database that is not empty is refused unless asked for.
        again = subprocess.run(["bash", str(REPO / "deploy" / "restore.sh"), str(out)], env=env_restore,
                               capture_output=True, text=True, timeout=120)
        assert again.returncode != 0 and "already holds Carbon Track tables" in again.stderr
        # A damaged backup is refused before anything is touched.
        with open(out / "data.tar.gz", "ab") as fh:
            fh.write(b"x")
        broken = subprocess.run(["bash", str(REPO / "deploy" / "restore.sh"), str(out)],
                                env={**env_restore, "RESTORE_OVER_EXISTING": "1"}, capture_output=True, text=True)
        assert broken.returncode != 0 and "damaged" in broken.stderr
    finally:
        drop_pg_database(target)


# --- a taken port (issue 17 item 7) --------------------------------------------------------------

def test_a_taken_port_stops_the_whole_run_at_once_with_one_line(tmp_path):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("CARBONTRACK_")}
        env.update(PYTHONPATH=str(REPO), CARBONTRACK_DATABASE_URL=f"sqlite:///{tmp_path / 'ct.db'}",
                   CARBONTRACK_DATA_DIR=str(tmp_path / "data"))
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "carbontrack", "run", "--port", str(port)], env=env,
                              capture_output=True, text=True, timeout=60)
        took = time.monotonic() - started
    assert done.returncode == 3
    lines = [x for x in done.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, done.stderr
    assert f"port {port} on 127.0.0.1 is already in use" in lines[0] and f"make run PORT={port + 1}" in lines[0]
    assert not (tmp_path / "ct.db").exists()  # nothing started: not even the database was created
    assert took < 30


def test_every_systemd_unit_runs_a_command_the_cli_accepts():
    """A unit with a mistyped subcommand or flag fails only on the server at 02:30: parse each here."""
    import shlex

    from carbontrack.cli import build_parser

    units = sorted((REPO / "deploy" / "systemd").glob("*.service"))
    assert units
    checked = []
    for unit in units:
        text = unit.read_text().replace("\\\n", " ")
        for line in text.splitlines():
            if not line.startswith("ExecStart="):
                continue
            argv = shlex.split(line.removeprefix("ExecStart="))
            if argv[0].endswith("/carbontrack"):
                build_parser().parse_args(argv[1:])  # SystemExit(2) on an unknown command or flag
                checked.append(unit.name)
    assert {"carbontrack-retention.service", "carbontrack-scheduler.service"} <= set(checked)
    for timer in (REPO / "deploy" / "systemd").glob("*.timer"):
        assert (timer.with_suffix(".service")).exists(), f"{timer.name} has no service to start"

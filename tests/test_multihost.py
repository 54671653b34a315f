"""Two web hosts (gunicorn processes with their own data directories) on one PostgreSQL and one Redis,
and a `carbontrack worker` (issue 18, deliverable 2).

A report generated through host A's page (a Dash background callback queued on Celery) is polled
for and downloaded through host B; sign-in throttling and the audit log see the client's address
from X-Forwarded-For when the request comes from a trusted proxy, and the socket's otherwise.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import _port_open, require_or_skip
from ingest_helpers import free_port, wait_until
from web_helpers import callback_body

from core.accounts.auth import failure_key
from core.accounts.users import create_user
from core.db import make_engine, make_session_factory
from core.models import AuditLog, Report, SignInFailure
from core.reporting.reports import STATUS_DONE
from core.storage import DatabaseStore

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
REDIS = ("127.0.0.1", 6379)
SECRET = "multi-host-test-" + "k" * 32
PASSWORD = "hq-password-123"
GENERATE = "..reports-generate-status.children...reports-generated.data.."
PERIOD = "2025-06"  # a past month whatever the wall clock says (the subprocesses run on the real clock)
CLIENT = "203.0.113.7"  # the browser's address as the trusted proxy reports it (TEST-NET-3)


def _start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    fh = open(log, "wb")  # noqa: SIM115 - the process writes to it until it is stopped
    return subprocess.Popen(argv, cwd=REPO, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


class Host:
    """One web process seen through plain HTTP; the session cookie is sent by hand (it is Secure)."""

    def __init__(self, port: int) -> None:
        import requests

        self.base = f"http://127.0.0.1:{port}"
        self.http = requests.Session()
        self.cookie = ""

    def get(self, path: str, **kw):  # noqa: ANN003, ANN201
        return self.http.get(self.base + path, headers=self._headers(kw.pop("headers", None)), timeout=30,
                             allow_redirects=False, **kw)

    def post(self, path: str, **kw):  # noqa: ANN003, ANN201
        return self.http.post(self.base + path, headers=self._headers(kw.pop("headers", None)), timeout=30,
                              allow_redirects=False, **kw)

    def _headers(self, extra: dict | None) -> dict:
        h = dict(extra or {})
        if self.cookie:
            h["Cookie"] = f"session={self.cookie}"
        return h

    def _keep_cookie(self, resp) -> None:  # noqa: ANN001
        m = re.search(r"session=([^;]+)", resp.headers.get("Set-Cookie", ""))
        if m:
            self.cookie = m.group(1)

    def login(self, username: str, password: str, forwarded_for: str | None = None):  # noqa: ANN201
        headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
        page = self.get("/login", headers=headers)
        self._keep_cookie(page)
        token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        resp = self.post("/login", data={"csrf": token, "username": username, "password": password, "next": "/"},
                         headers=headers)
        self._keep_cookie(resp)
        return resp


@pytest.fixture
def hosts(pg_url: str, tmp_path: Path) -> Iterator[dict]:
    require_or_skip(_port_open(*REDIS), f"Redis on {REDIS[0]}:{REDIS[1]}")
    pytest.importorskip("celery")
    engine = make_engine(pg_url)
    Session = make_session_factory(engine)  # noqa: N806
    from reports_helpers import seed_known_month

    seed_known_month(Session)
    with Session() as s:
        create_user(s, "hq", PASSWORD, "hq")
        s.commit()
    redis_db = 1 + secrets.randbelow(15)  # one of Redis's 16 databases: other runs rarely share it
    base = {k: v for k, v in os.environ.items() if not k.startswith("CARBONTRACK_")}
    base.update(PYTHONPATH=str(REPO), CARBONTRACK_DATABASE_URL=pg_url, CARBONTRACK_SECRET_KEY=SECRET,
                CARBONTRACK_REDIS_URL=f"redis://{REDIS[0]}:{REDIS[1]}/{redis_db}", CARBONTRACK_PROXY_HOPS="1",
                CARBONTRACK_LOG_LEVEL="WARNING")
    ports = {"a": free_port(), "b": free_port()}
    # Host A trusts the proxy on loopback (the test client); host B trusts only 10.9.9.9, so the same
    # X-Forwarded-For header reaching it from loopback is ignored.
    trusted = {"a": "127.0.0.1,::1", "b": "10.9.9.9"}
    procs = []
    try:
        for name, port in ports.items():
            env = {**base, "CARBONTRACK_DATA_DIR": str(tmp_path / name), "CARBONTRACK_TRUSTED_PROXIES": trusted[name]}
            procs.append(_start([sys.executable, "-m", "gunicorn", "app:server", "-b", f"127.0.0.1:{port}", "-w", "1",
                                 "--timeout", "60"], env, tmp_path / f"web-{name}.log"))
        procs.append(_start([sys.executable, "-m", "carbontrack", "worker", "--concurrency", "1"],
                            {**base, "CARBONTRACK_DATA_DIR": str(tmp_path / "worker")}, tmp_path / "worker.log"))
        for name, port in ports.items():
            up = wait_until(lambda p=port: _port_open("127.0.0.1", p) or any(x.poll() is not None for x in procs), 60)
            dead = [x for x in procs if x.poll() is not None]
            if not up or dead:
                logs = "\n".join(f.name + ":\n" + f.read_text()[-3000:] for f in tmp_path.glob("*.log"))
                pytest.fail(f"host {name} did not start:\n{logs}")
        yield {"a": Host(ports["a"]), "b": Host(ports["b"]), "Session": Session, "tmp": tmp_path}
    finally:
        for p in procs:
            _stop(p)
        engine.dispose()


def test_generate_on_one_host_poll_and_download_on_the_other(hosts):
    a, b, Session, tmp = hosts["a"], hosts["b"], hosts["Session"], hosts["tmp"]  # noqa: N806
    assert a.login("hq", PASSWORD).status_code == 302
    b.cookie = a.cookie  # the same browser; the load balancer sends its next request to host B
    body = callback_body(GENERATE, [{"id": "reports-generate", "property": "n_clicks", "value": 1}],
                         [{"id": "reports-month", "property": "value", "value": PERIOD},
                          {"id": "reports-scope", "property": "value", "value": "TST"},
                          {"id": "reports-restate-reason", "property": "value", "value": None}])
    started = a.post("/_dash-update-component", json=body)
    assert started.status_code == 200, started.text
    handles = started.json()
    assert {"cacheKey", "job"} <= set(handles)

    result: dict = {}

    def poll() -> bool:
        resp = b.post("/_dash-update-component", json=body,
                      params={"cacheKey": handles["cacheKey"], "job": handles["job"]})
        assert resp.status_code in (200, 204), resp.text
        if resp.status_code == 200 and "response" in resp.json():
            result.update(resp.json()["response"])
            return True
        return False

    worker_log = tmp / "worker.log"
    assert wait_until(poll, 60, 0.3), "no result through host B; worker log:\n" + worker_log.read_text()[-3000:]
    assert "1 workbook for" in str(result["reports-generate-status"]["children"])
    with Session() as s:
        rep = s.scalar(sa.select(Report).where(Report.scope_key == "TST"))
        assert rep.status == STATUS_DONE and rep.requested_by == "hq"
        assert Path(rep.path).is_relative_to((tmp / "worker").resolve())  # written by the worker
    assert not (tmp / "b" / "reports").exists() and not (tmp / "a" / "reports").exists()
    resp = b.get(f"/reports/download/{rep.id}")
    assert resp.status_code == 200
    assert hashlib.sha256(resp.content).hexdigest() == rep.sha256
    assert resp.content == DatabaseStore(Session).get(f"reports/{PERIOD}/{Path(rep.path).name}")
    assert a.get(f"/reports/download/{rep.id}").content == resp.content


def test_throttle_and_audit_see_the_client_address_only_through_a_trusted_proxy(hosts):
    a, b, Session = hosts["a"], hosts["b"], hosts["Session"]  # noqa: N806
    for _ in range(3):  # FREE_FAILURES (core/accounts/auth.py): then this (username, address) must wait
        assert a.login("hq", "wrong-password!", forwarded_for=CLIENT).status_code == 401
    refused = a.login("hq", PASSWORD, forwarded_for=CLIENT)
    assert refused.status_code == 401 and "wait" in refused.text
    # Another client behind the same proxy is not slowed by it: the proxy's own address is not the key.
    assert Host(int(a.base.rsplit(":", 1)[1])).login("hq", PASSWORD, forwarded_for="198.51.100.9").status_code == 302
    # Host B does not trust loopback as a proxy: the header is ignored and the socket's address counts.
    assert b.login("hq", "wrong-password!", forwarded_for="192.0.2.55").status_code == 401
    with Session() as s:
        failures = {(f.username, f.ip): f.failures for f in s.scalars(sa.select(SignInFailure))}
        details = [d for (d,) in s.execute(sa.select(AuditLog.detail).where(AuditLog.entity == "session")
                                           .order_by(AuditLog.id))]
    assert failures == {(failure_key("hq"), CLIENT): 3, (failure_key("hq"), "127.0.0.1"): 1}
    assert details[:3] == [f"wrong username or password; from {CLIENT}"] * 3
    assert details[3] == f"waiting after 3 failures; from {CLIENT}"
    assert details[4] == "from 198.51.100.9"
    assert details[5] == "wrong username or password; from 127.0.0.1"
    assert not any("192.0.2.55" in d for d in details)

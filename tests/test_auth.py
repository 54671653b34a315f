"""Sign-in, sign-out, lockout, throttling, and the signed-in-only rule for every route."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from web_helpers import PASSWORDS, build_small_db, csrf_from, login, logout, web_config

import core.accounts.auth as auth
from app import create_app
from core.accounts.sessions import start_session
from core.db import make_engine, make_session_factory
from core.models import AuditLog, User


@pytest.fixture
def web(sqlite_url, tmp_path, monkeypatch):
    monkeypatch.setattr(auth, "FAILURE_DELAY_S", 0.0)
    auth.IP_THROTTLE.reset()
    engine = make_engine(sqlite_url)
    Session = make_session_factory(engine)
    fx = build_small_db(Session)
    app = create_app(web_config(sqlite_url, tmp_path), Session)
    yield app, Session, fx
    engine.dispose()


def test_anonymous_page_redirects_to_login(web):
    app, _, _ = web
    client = app.server.test_client()
    resp = client.get("/hq")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/login?next=/hq")


@pytest.mark.parametrize("path", ["/_dash-layout", "/_dash-dependencies"])
def test_anonymous_dash_api_gets_401(web, path):
    app, _, _ = web
    resp = app.server.test_client().get(path)
    assert resp.status_code == 401 and resp.get_json() == {"error": "sign in required"}


def test_anonymous_callback_post_gets_401(web):
    app, _, _ = web
    resp = app.server.test_client().post("/_dash-update-component", json={"output": "x.children", "inputs": []})
    assert resp.status_code == 401


def test_static_assets_and_login_are_public(web):
    app, _, _ = web
    client = app.server.test_client()
    assert client.get("/login").status_code == 200
    assert client.get("/assets/00-bootstrap.min.css").status_code == 200


def test_sign_in_and_out(web):
    app, Session, _ = web
    client = app.server.test_client()
    resp = login(client, "kagwe")
    assert resp.status_code == 302
    assert client.get("/_dash-layout").status_code == 200
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    client.get("/logout")  # a GET (a link, a prefetch) only shows the sign-out form
    assert client.get("/_dash-layout").status_code == 200
    assert logout(client).headers["Location"] == "/login"
    assert client.get("/_dash-layout").status_code == 401
    with Session() as s:
        actions = list(s.scalars(sa.select(AuditLog.action).where(AuditLog.username == "kagwe")))
    assert "login" in actions and "logout" in actions


def test_secure_cookie_outside_embedded(sqlite_url, tmp_path):
    from dataclasses import replace

    engine = make_engine(sqlite_url)
    Session = make_session_factory(engine)
    build_small_db(Session, readings=False)
    app = create_app(replace(web_config(sqlite_url, tmp_path), embedded=False), Session)
    client = app.server.test_client()
    resp = login(client, "hq")
    assert "Secure" in resp.headers["Set-Cookie"]
    engine.dispose()


def test_wrong_password_refused_and_audited(web):
    app, Session, _ = web
    client = app.server.test_client()
    resp = login(client, "kagwe", "wrong-password")
    assert resp.status_code == 401
    assert "Wrong username or password" in resp.get_data(as_text=True)
    assert client.get("/_dash-layout").status_code == 401
    with Session() as s:
        row = s.scalar(sa.select(AuditLog).where(AuditLog.action == "login_failed"))
    assert row.username == "kagwe"


def test_missing_csrf_refused(web):
    app, _, _ = web
    client = app.server.test_client()
    client.get("/login")
    resp = client.post("/login", data={"username": "kagwe", "password": PASSWORDS["kagwe"]})
    assert resp.status_code == 400
    assert client.get("/_dash-layout").status_code == 401


def test_failures_slow_the_address_without_locking_the_account(web):
    app, Session, _ = web
    attacker = app.server.test_client()
    for _ in range(auth.FREE_FAILURES):
        assert login(attacker, "kagwe", "nope-nope").status_code == 401
    resp = login(attacker, "kagwe")  # the right password, but this address must wait now
    assert resp.status_code == 401 and "wait 15 seconds" in resp.get_data(as_text=True)
    # The real user at another address is not locked out.
    real = app.server.test_client()
    real.environ_base["REMOTE_ADDR"] = "10.9.9.9"
    assert login(real, "kagwe").status_code == 302
    with Session() as s:
        assert s.scalar(sa.select(User.locked_until).where(User.username == "kagwe")) is None


def test_address_throttled_after_many_failures(web, monkeypatch):
    app, _, _ = web
    monkeypatch.setattr(auth.IP_THROTTLE, "limit", 3)
    client = app.server.test_client()
    for name in ("a1", "a2", "a3"):
        login(client, name, "whatever1")
    resp = login(client, "hq")
    assert resp.status_code == 401 and "Too many failed sign-ins" in resp.get_data(as_text=True)


def test_failed_sign_in_is_slowed(web, monkeypatch):
    app, Session, _ = web
    slept = []
    with Session() as s:
        result = auth.authenticate(s, "kagwe", "bad-password", "10.0.0.1", sleep=slept.append)
    assert result.user is None and slept == [auth.FAILURE_DELAY_S]


def test_inactive_user_cannot_sign_in_and_is_signed_out(web):
    app, Session, _ = web
    client = app.server.test_client()
    login(client, "kagwe")
    assert client.get("/_dash-layout").status_code == 200
    with Session() as s:
        s.execute(sa.update(User).where(User.username == "kagwe").values(active=False))
        s.commit()
    assert client.get("/_dash-layout").status_code == 401
    assert login(client, "kagwe").status_code == 401


def _sign_in_with_next(client, next_value: str):  # noqa: ANN001, ANN202
    page = client.get("/login")
    token = csrf_from(page.get_data(as_text=True))
    return client.post("/login", data={"csrf": token, "username": "hq", "password": PASSWORDS["hq"],
                                       "next": next_value})


@pytest.mark.parametrize("target", [
    "//evil.example/x",
    "/\t/evil.com",  # browsers drop the tab: //evil.com
    "/\t\\evil.com",
    "/\\evil.com",
    "\\/evil.com",
    "https://evil.com",
    "http:/evil.com",
    "javascript:alert(1)",
    "/ok\n/x",
    "/ok\r\nSet-Cookie: x=1",
    "/ok x",
    "/ok\x7f",
    "evil.com",
    "",
])
def test_next_redirect_only_same_site(web, target):
    app, _, _ = web
    resp = _sign_in_with_next(app.server.test_client(), target)
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/"


@pytest.mark.parametrize("target", ["/ok?x=1", "/factory/history?month=2026-10", "/hq"])
def test_next_redirect_keeps_same_site_paths(web, target):
    app, _, _ = web
    resp = _sign_in_with_next(app.server.test_client(), target)
    assert resp.status_code == 302 and resp.headers["Location"] == target


def test_next_on_login_page_is_sanitised(web):
    app, _, _ = web
    body = app.server.test_client().get("/login?next=/%09/evil.com").get_data(as_text=True)
    assert 'name="next" value="/"' in body


@pytest.mark.parametrize("path", ["/login-anything", "/loginx", "/login/x"])
def test_login_is_public_only_exactly(web, path):
    app, _, _ = web
    resp = app.server.test_client().get(path)
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/login?next=")


def test_login_page_escapes_username(web):
    app, _, _ = web
    resp = login(app.server.test_client(), "<script>x</script>", "whatever1")
    assert "<script>x</script>" not in resp.get_data(as_text=True)


def test_password_reset_ends_other_sessions(web):
    app, Session, _ = web
    from core.accounts.users import hash_password

    client = app.server.test_client()
    login(client, "kagwe")
    assert client.get("/_dash-layout").status_code == 200
    with Session() as s:
        s.execute(sa.update(User).where(User.username == "kagwe").values(password_hash=hash_password("new-pass-123")))
        s.commit()
    assert client.get("/_dash-layout").status_code == 401
    assert login(client, "kagwe", "new-pass-123").status_code == 302


def test_forged_session_id_refused(web):
    app, Session, _ = web
    with Session() as s:
        assert auth.load_web_user(s, "1") is None
        assert auth.load_web_user(s, "1.deadbeef") is None
        assert auth.load_web_user(s, "x.y") is None
        row = s.scalar(sa.select(User).where(User.username == "hq"))
        assert auth.load_web_user(s, auth.WebUser.from_row(row).get_id()) is None  # no server-side session
        token = start_session(s, row.id)
        s.commit()
        assert auth.load_web_user(s, auth.WebUser.from_row(row, token).get_id()).username == "hq"
        assert auth.load_web_user(s, auth.WebUser.from_row(row, token + "x").get_id()) is None


def test_signed_out_logout_does_not_become_the_next_page(web):
    resp = web[0].server.test_client().post("/logout")
    assert resp.status_code == 302 and resp.headers["Location"] == "/login"


def test_next_keeps_the_whole_query_string(web):
    resp = web[0].server.test_client().get("/factory/history?factory=3&range=30")
    assert resp.headers["Location"] == "/login?next=/factory/history%3Ffactory%3D3%26range%3D30"


# --- Issue 16, findings 8-10: sessions that really end, a lockout that reveals nothing, CSP, Secure ---
from datetime import timedelta  # noqa: E402

from core.accounts import sessions as sessions_mod  # noqa: E402
from core.models import WebSession  # noqa: E402
from core.registry.admin import admin_end_sessions, reset_password, update_user  # noqa: E402


def _saved_cookie_client(app, client):
    """A second client holding a copy of `client`'s session cookie (as an attacker who saved it would)."""
    copy = app.server.test_client()
    cookie = client.get_cookie("session")
    copy.set_cookie("session", cookie.value)
    return copy


def _admin(Session):
    with Session() as s:
        row = s.scalar(sa.select(User).where(User.username == "admin"))
        return auth.WebUser.from_row(row)


def test_finding8_saved_cookie_is_dead_after_sign_out(web):
    app, Session, _ = web
    client = app.server.test_client()
    login(client, "kagwe")
    saved = _saved_cookie_client(app, client)
    assert saved.get("/_dash-layout").status_code == 200
    logout(client)
    assert saved.get("/_dash-layout").status_code == 401
    with Session() as s:
        row = s.scalar(sa.select(WebSession))
        assert row.ended_reason == "signed out" and row.ended_at is not None


@pytest.mark.parametrize("how", ["password", "deactivate", "everywhere"])
def test_finding8_sessions_end_on_password_change_deactivation_and_sign_out_everywhere(web, how):
    app, Session, _ = web
    phone, laptop = app.server.test_client(), app.server.test_client()
    login(phone, "kagwe")
    login(laptop, "kagwe")
    assert phone.get("/_dash-layout").status_code == 200 and laptop.get("/_dash-layout").status_code == 200
    admin = _admin(Session)
    with Session() as s:
        uid = s.scalar(sa.select(User.id).where(User.username == "kagwe"))
        if how == "password":
            reset_password(s, admin, uid, "brand-new-pass-1")
        elif how == "deactivate":
            update_user(s, admin, uid, active=False)
        else:
            _, n = admin_end_sessions(s, admin, uid)
            assert n == 2
        s.commit()
    assert phone.get("/_dash-layout").status_code == 401 and laptop.get("/_dash-layout").status_code == 401


def test_finding8_idle_and_absolute_timeouts(web):
    _, Session, _ = web
    start = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)
    with Session() as s:
        uid = s.scalar(sa.select(User.id).where(User.username == "hq"))
        idle = sessions_mod.start_session(s, uid, now=start)
        busy = sessions_mod.start_session(s, uid, now=start)
        s.commit()
        # Used every hour: alive until the absolute timeout, then ended.
        t = start
        while t + timedelta(hours=1) < start + sessions_mod.ABSOLUTE_TIMEOUT:
            t += timedelta(hours=1)
            assert sessions_mod.check_session(s, busy, now=t) is not None
        assert sessions_mod.check_session(s, busy, now=start + sessions_mod.ABSOLUTE_TIMEOUT) is None
        # Unused for the idle timeout: ended.
        assert sessions_mod.check_session(s, idle, now=start + sessions_mod.IDLE_TIMEOUT - timedelta(seconds=1))
        later = start + sessions_mod.IDLE_TIMEOUT - timedelta(seconds=1) + sessions_mod.IDLE_TIMEOUT
        assert sessions_mod.check_session(s, idle, now=later) is None
        reasons = {r.ended_reason for r in s.scalars(sa.select(WebSession))}
        assert reasons == {"idle timeout", "absolute timeout"}


def test_finding9_refusals_do_not_reveal_which_accounts_exist(web):
    app, _, _ = web
    answers = {}
    for name in ("admin", "no-such-user"):
        client = app.server.test_client()
        texts = [login(client, name, "wrong-guess-1").get_data(as_text=True) for _ in range(auth.FREE_FAILURES + 1)]
        answers[name] = [re.search(r'id="login-error">([^<]*)<', t).group(1) for t in texts]
    assert answers["admin"] == answers["no-such-user"]
    assert "wait 15 seconds" in answers["admin"][-1]


def test_finding9_admin_cannot_be_locked_out_from_elsewhere(web):
    app, _, _ = web
    attacker = app.server.test_client()
    attacker.environ_base["REMOTE_ADDR"] = "203.0.113.7"
    for _ in range(auth.FREE_FAILURES + 5):
        login(attacker, "admin", "guess-guess")
    desk = app.server.test_client()
    desk.environ_base["REMOTE_ADDR"] = "10.0.0.5"
    assert login(desk, "admin").status_code == 302


def test_finding9_delays_grow_per_failure(web):
    _, Session, _ = web
    t0 = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
    waits = []
    with Session() as s:
        t = t0
        for _ in range(auth.FREE_FAILURES + 3):
            auth.authenticate(s, "hq", "bad-guess-1", "198.51.100.1", now=t, sleep=lambda _x: None)
            row = s.get(auth.SignInFailure, (auth.failure_key("hq"), "198.51.100.1"))
            waits.append(None if row.next_allowed_at is None else (row.next_allowed_at - t).total_seconds())
            t = (row.next_allowed_at or t) + timedelta(seconds=1)
        # 15 s after the FREE_FAILURES-th failure, then doubling
        assert waits == [None] * (auth.FREE_FAILURES - 1) + [15.0, 30.0, 60.0, 120.0]
        ok = auth.authenticate(s, "hq", PASSWORDS["hq"], "198.51.100.1", now=t, sleep=lambda _x: None)
        assert ok.user is not None and s.get(auth.SignInFailure, (auth.failure_key("hq"), "198.51.100.1")) is None


def test_finding9_proxy_addresses_are_per_client(sqlite_url, tmp_path, monkeypatch):
    from dataclasses import replace

    monkeypatch.setattr(auth.IP_THROTTLE, "limit", 3)
    engine = make_engine(sqlite_url)
    Session = make_session_factory(engine)
    build_small_db(Session, readings=False)
    app = create_app(replace(web_config(sqlite_url, tmp_path), proxy_hops=1), Session)
    bad = app.server.test_client()
    bad.environ_base["HTTP_X_FORWARDED_FOR"] = "203.0.113.9"
    for name in ("a1", "a2", "a3"):
        login(bad, name, "whatever1")
    assert "Too many failed sign-ins" in login(bad, "hq").get_data(as_text=True)
    good = app.server.test_client()  # the same proxy (127.0.0.1), another client behind it
    good.environ_base["HTTP_X_FORWARDED_FOR"] = "198.51.100.20"
    assert login(good, "hq").status_code == 302
    engine.dispose()


def test_finding10_csp_header_without_inline_scripts(web):
    app, _, _ = web
    client = app.server.test_client()
    login(client, "hq")
    for path in ("/login", "/hq"):
        csp = client.get(path).headers["Content-Security-Policy"]
        script_src = next(p for p in csp.split("; ") if p.startswith("script-src"))
        assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
        assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    index = re.sub(r"<!--.*?-->", "", client.get("/hq").get_data(as_text=True), flags=re.S)  # IE-only comments
    # Every executable inline script on the page is allowed by its hash (Dash's renderer start-up).
    import base64
    import hashlib
    inline = re.findall(r'<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>(.*?)</script>', index, re.S)
    assert inline
    for body in inline:
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in script_src


def test_finding10_logout_by_get_does_nothing(web):
    app, _, _ = web
    client = app.server.test_client()
    login(client, "hq")
    page = client.get("/logout")
    assert page.status_code == 200 and 'method="post"' in page.get_data(as_text=True)
    assert client.get("/_dash-layout").status_code == 200
    assert client.post("/logout", data={"csrf": "forged"}).status_code == 302
    assert client.get("/_dash-layout").status_code == 200  # a forged sign-out is ignored


@pytest.mark.parametrize("how", ["behind_tls", "proxy_https"])
def test_finding10_secure_cookie_on_sqlite_behind_tls(sqlite_url, tmp_path, how):
    from dataclasses import replace

    engine = make_engine(sqlite_url)
    Session = make_session_factory(engine)
    build_small_db(Session, readings=False)
    cfg = replace(web_config(sqlite_url, tmp_path), **({"behind_tls": True} if how == "behind_tls" else
                                                         {"proxy_hops": 1}))
    app = create_app(cfg, Session)
    client = app.server.test_client()
    if how == "proxy_https":
        client.environ_base["HTTP_X_FORWARDED_PROTO"] = "https"
    resp = login(client, "hq")
    assert "Secure" in resp.headers["Set-Cookie"]
    plain = create_app(web_config(sqlite_url, tmp_path), Session).server.test_client()
    assert "Secure" not in login(plain, "hq").headers["Set-Cookie"]  # plain http on localhost
    engine.dispose()


def test_finding10_secret_key_minimum_length():
    from core.config import ConfigError, load_config

    prod = {"CARBONTRACK_DATABASE_URL": "postgresql://u@h/db", "CARBONTRACK_MQTT_URL": "mqtt://h"}
    with pytest.raises(ConfigError, match="^CARBONTRACK_SECRET_KEY: at least 32 characters, got 6"):
        load_config({**prod, "CARBONTRACK_SECRET_KEY": "s3cret"})
    assert load_config({**prod, "CARBONTRACK_SECRET_KEY": "k" * 32}).secret_key == "k" * 32
    cfg = load_config({**prod, "CARBONTRACK_SECRET_KEY": "k" * 32, "CARBONTRACK_BEHIND_TLS": "1",
                       "CARBONTRACK_PROXY_HOPS": "1"})
    assert cfg.behind_tls and cfg.proxy_hops == 1
    with pytest.raises(ConfigError, match="^CARBONTRACK_PROXY_HOPS"):
        load_config({**prod, "CARBONTRACK_SECRET_KEY": "k" * 32, "CARBONTRACK_PROXY_HOPS": "many"})


def test_a_password_typed_as_username_is_kept_nowhere(web):
    """Issue 18: failed sign-ins store neither the typed text in the audit log nor in the delay table."""
    _, Session, _ = web
    typed = "Tr0ub4dor&3-secret"
    with Session() as s:
        for _ in range(auth.FREE_FAILURES + 1):
            auth.authenticate(s, typed, "x", "198.51.100.9", sleep=lambda _x: None)
        keys = list(s.scalars(sa.select(auth.SignInFailure.username)))
        audit = [(a.username or "") + (a.detail or "") for a in s.scalars(sa.select(AuditLog))]
    assert keys and all(typed.lower() not in k for k in keys)
    assert auth.failure_key(typed) in keys
    assert all(typed not in text and typed.lower() not in text for text in audit)


def test_address_limit_holds_across_processes(web):
    """Each worker process has its own IpThrottle; the shared sign_in_failure table makes the address
    limit hold across them: failures spread over two throttles (two workers) still add up."""
    _, Session, _ = web
    limit = 4
    workers = [auth.IpThrottle(limit=limit), auth.IpThrottle(limit=limit)]
    now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    with Session() as s:
        for n in range(limit):  # alternate workers: neither sees more than half of the failures
            r = auth.authenticate(s, f"guess{n}", "whatever1", "10.9.9.9", now=now, throttle=workers[n % 2],
                                  sleep=lambda _s: None)
            assert r.user is None and "Too many" not in r.message
        assert not any(w.blocked("10.9.9.9", now) for w in workers)
        refused = auth.authenticate(s, "hq", PASSWORDS["hq"], "10.9.9.9", now=now, throttle=workers[0],
                                    sleep=lambda _s: None)
        assert refused.user is None and "Too many failed sign-ins" in refused.message
        # Another address is not affected, and the window passes.
        assert auth.authenticate(s, "hq", PASSWORDS["hq"], "10.9.9.10", now=now, throttle=workers[0]).user
        later = now + auth.IP_WINDOW + auth.IP_WINDOW
        assert auth.authenticate(s, "hq", PASSWORDS["hq"], "10.9.9.9", now=later, throttle=workers[1]).user

"""Sign-in, sign-out, lockout, throttling, and the signed-in-only rule for every route."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from web_helpers import PASSWORDS, build_small_db, csrf_from, login, web_config

import core.accounts.auth as auth
from app import create_app
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
    client.get("/logout")
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


def test_account_locked_after_repeated_failures(web):
    app, Session, _ = web
    client = app.server.test_client()
    for _ in range(auth.MAX_USER_FAILURES):
        login(client, "kagwe", "nope-nope")
    resp = login(client, "kagwe")  # the right password, but locked
    assert resp.status_code == 401 and "locked" in resp.get_data(as_text=True)
    with Session() as s:
        assert s.scalar(sa.select(User.locked_until).where(User.username == "kagwe")) is not None


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
        assert auth.load_web_user(s, auth.WebUser.from_row(row).get_id()).username == "hq"


def test_signed_out_logout_does_not_become_the_next_page(web):
    resp = web[0].server.test_client().get("/logout")
    assert resp.status_code == 302 and resp.headers["Location"] == "/login"


def test_next_keeps_the_whole_query_string(web):
    resp = web[0].server.test_client().get("/factory/history?factory=3&range=30")
    assert resp.headers["Location"] == "/login?next=/factory/history%3Ffactory%3D3%26range%3D30"

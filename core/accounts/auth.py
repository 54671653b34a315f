"""Sign-in, sign-out and the "signed-in users only" rule for every route (flask-login).

- Passwords are checked with core.accounts.users (salted werkzeug hashes).
- Failed sign-ins are slowed: every failure waits FAILURE_DELAY_S; an account is locked for
  LOCKOUT after MAX_USER_FAILURES failures in a row (kept in the database, so it holds across
  web workers); an address is refused for IP_WINDOW after MAX_IP_FAILURES failures (kept per
  worker process: a cheap second line against one address guessing many usernames).
- Every request except the sign-in page and static files needs an active signed-in user:
  Dash's JSON endpoints get 401 JSON, pages are redirected to /login. Callbacks still check
  the factory they touch (core.access); this only keeps strangers out.
- The session cookie is signed, HttpOnly, SameSite=Lax and Secure outside the embedded default.
"""

from __future__ import annotations

import hashlib
import html
import secrets
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote, urlencode, urlsplit

import flask
import sqlalchemy as sa
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from sqlalchemy.orm import Session, sessionmaker

from core.accounts.users import hash_password, verify_password
from core.audit import record_audit
from core.models import User
from core.timeutil import DEFAULT_TZ, utcnow

MAX_USER_FAILURES = 5  # failures in a row before the account is locked
LOCKOUT = timedelta(minutes=5)
MAX_IP_FAILURES = 20  # failures from one address within IP_WINDOW before it is refused
IP_WINDOW = timedelta(minutes=15)
FAILURE_DELAY_S = 0.5  # every failed attempt costs the guesser this long; tests patch it

# Paths anyone may fetch: the sign-in page (matched exactly) and static files (no data in them).
PUBLIC_PATHS = frozenset({"/login"})
PUBLIC_PREFIXES = ("/assets/", "/_dash-component-suites/", "/_favicon")
# Dash's JSON endpoints: an anonymous caller gets 401 JSON rather than a redirect.
API_PREFIXES = ("/_dash-update-component", "/_dash-layout", "/_dash-dependencies", "/_reload-hash")
# A hash to check against when the username is unknown, so both cases take as long.
_DUMMY_HASH = hash_password("not-a-real-password")


@dataclass
class WebUser(UserMixin):
    """The signed-in user as the web layer sees it (a detached snapshot of the row)."""

    id: int
    username: str
    role: str
    factory_id: int | None
    active: bool
    full_name: str | None = None
    password_tag: str = ""  # changes when the password does: sessions from before a reset end

    @property
    def is_active(self) -> bool:  # flask-login refuses inactive users
        return self.active

    def get_id(self) -> str:
        return f"{self.id}.{self.password_tag}"

    @classmethod
    def from_row(cls, row: User) -> WebUser:
        """Snapshot a User row."""
        return cls(row.id, row.username, row.role, row.factory_id, bool(row.active), row.full_name,
                   password_tag(row.password_hash))


def password_tag(password_hash: str) -> str:
    """Return a short digest of the stored hash, kept in the session to end it after a password reset."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class SignInResult:
    user: WebUser | None
    message: str


class IpThrottle:
    """Failed sign-ins per client address in a sliding window (one per worker process)."""

    def __init__(self, limit: int = MAX_IP_FAILURES, window: timedelta = IP_WINDOW) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[datetime]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _trim(self, ip: str, now: datetime) -> deque[datetime]:
        q = self._failures[ip]
        while q and q[0] <= now - self.window:
            q.popleft()
        return q

    def blocked(self, ip: str, now: datetime) -> bool:
        """Tell whether `ip` has used up its failures."""
        with self._lock:
            return len(self._trim(ip, now)) >= self.limit

    def fail(self, ip: str, now: datetime) -> None:
        """Count one failure from `ip`."""
        with self._lock:
            self._trim(ip, now).append(now)

    def reset(self) -> None:
        """Forget every address (tests)."""
        with self._lock:
            self._failures.clear()


IP_THROTTLE = IpThrottle()


def authenticate(
    session: Session,
    username: str,
    password: str,
    ip: str = "unknown",
    now: datetime | None = None,
    throttle: IpThrottle = IP_THROTTLE,
    sleep: Callable[[float], None] = time.sleep,
) -> SignInResult:
    """Check a username and password with lockout and throttling; audit the attempt; commit."""
    now = now or utcnow()
    username = (username or "").strip()[:80]
    if throttle.blocked(ip, now):
        record_audit(session, None, "login_refused", "session", username=username or None,
                     detail=f"too many failed sign-ins from {ip}")
        session.commit()
        return SignInResult(None, "Too many failed sign-ins from this address. Try again in a few minutes.")
    row = session.scalar(sa.select(User).where(User.username == username)) if username else None
    if row is not None and row.locked_until is not None and row.locked_until > now:
        until = row.locked_until.astimezone(DEFAULT_TZ).strftime("%H:%M")
        record_audit(session, row, "login_refused", "session", detail=f"account locked; from {ip}")
        session.commit()
        return SignInResult(None, f"This account is locked after repeated failed sign-ins until {until} EAT.")
    if row is None:
        verify_password_hash(_DUMMY_HASH, password)  # same cost as a real check
        ok = False
    else:
        ok = verify_password(row, password)
    if not ok or row is None or not row.active:
        throttle.fail(ip, now)
        if row is not None and not ok:
            row.failed_logins = (row.failed_logins or 0) + 1
            if row.failed_logins >= MAX_USER_FAILURES:
                row.locked_until = now + LOCKOUT
                row.failed_logins = 0
        reason = "inactive account" if ok else "wrong username or password"
        record_audit(session, row, "login_failed", "session", username=username or None,
                     detail=f"{reason}; from {ip}")
        session.commit()
        sleep(FAILURE_DELAY_S)
        return SignInResult(None, "Wrong username or password, or the account is not active.")
    row.failed_logins = 0
    row.locked_until = None
    row.last_login_at = now
    record_audit(session, row, "login", "session", detail=f"from {ip}")
    session.commit()
    return SignInResult(WebUser.from_row(row), "signed in")


def verify_password_hash(password_hash: str, password: str) -> bool:
    """Check `password` against a bare hash."""
    from werkzeug.security import check_password_hash

    return check_password_hash(password_hash, password)


def load_web_user(session: Session, user_id: str) -> WebUser | None:
    """Return the active user for a session's "<id>.<password tag>", or None (also after a reset)."""
    uid_text, _, tag = (user_id or "").partition(".")
    try:
        uid = int(uid_text)
    except (TypeError, ValueError):
        return None
    row = session.get(User, uid)
    if row is None or not row.active:
        return None
    user = WebUser.from_row(row)
    if not secrets.compare_digest(tag, user.password_tag):
        return None
    return user


def _safe_next(target: str | None) -> str:
    """Return `target` if it is a path on this site, else "/".

    Refused: any control character, space, DEL or backslash (browsers drop tabs and newlines and
    read a backslash as "/", so "/<TAB>/evil.com" would become "//evil.com"; a newline would also
    break the Location header), anything with a scheme or host, and paths starting with "//".
    """
    if not target or any(ord(ch) <= 0x20 or ord(ch) == 0x7F or ch == "\\" for ch in target):
        return "/"
    try:
        parts = urlsplit(target)
    except ValueError:
        return "/"
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or parts.path.startswith("//"):
        return "/"
    return target


def _csrf_token() -> str:
    token = flask.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        flask.session["csrf"] = token
    return token


LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · Carbon Track</title>
<link rel="stylesheet" href="/assets/00-bootstrap.min.css">
<link rel="stylesheet" href="/assets/carbontrack.css">
</head><body class="bg-light">
<main class="container" style="max-width: 420px; margin-top: 10vh">
  <h1 class="h3 mb-1">Carbon Track</h1>
  <p class="text-muted mb-4">Emissions monitoring for KTDA tea factories</p>
  {message}
  <form method="post" action="/login" id="login-form" class="card card-body shadow-sm">
    <input type="hidden" name="csrf" value="{csrf}">
    <input type="hidden" name="next" value="{next}">
    <label class="form-label" for="login-username">Username</label>
    <input class="form-control mb-3" id="login-username" name="username" autocomplete="username"
           value="{username}" required autofocus>
    <label class="form-label" for="login-password">Password</label>
    <input class="form-control mb-3" id="login-password" name="password" type="password"
           autocomplete="current-password" required>
    <button class="btn btn-success w-100" id="login-submit" type="submit">Sign in</button>
  </form>
</main></body></html>"""


def _login_page(message: str = "", username: str = "", next_path: str = "/", status: int = 200) -> flask.Response:
    alert = f'<div class="alert alert-danger" id="login-error">{html.escape(message)}</div>' if message else ""
    body = LOGIN_PAGE.format(
        message=alert, csrf=html.escape(_csrf_token()), next=html.escape(next_path), username=html.escape(username)
    )
    resp = flask.make_response(body, status)
    resp.headers["Cache-Control"] = "no-store"
    return resp


def init_auth(server: flask.Flask, session_factory: sessionmaker[Session]) -> LoginManager:
    """Install flask-login, the sign-in/sign-out routes and the signed-in-only rule on `server`."""
    manager = LoginManager()
    manager.init_app(server)
    manager.session_protection = "basic"

    @manager.user_loader
    def _load(user_id: str) -> WebUser | None:
        with session_factory() as s:
            return load_web_user(s, user_id)

    @server.before_request
    def _require_login():  # noqa: ANN202
        path = flask.request.path
        if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
            return None
        if current_user.is_authenticated:
            return None
        if path.startswith(API_PREFIXES):
            return flask.jsonify(error="sign in required"), 401
        if path == "/logout":  # signed out already: signing in must not sign out again
            return flask.redirect("/login")
        return flask.redirect("/login?" + urlencode({"next": flask.request.full_path.rstrip("?")}, safe="/", quote_via=quote))

    @server.after_request
    def _headers(resp: flask.Response) -> flask.Response:
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        return resp

    @server.route("/login", methods=["GET", "POST"])
    def login():  # noqa: ANN202
        if flask.request.method == "GET":
            if current_user.is_authenticated:
                return flask.redirect("/")
            return _login_page(next_path=_safe_next(flask.request.args.get("next")))
        form = flask.request.form
        next_path = _safe_next(form.get("next"))
        sent = form.get("csrf", "")
        expected = flask.session.get("csrf", "")
        if not expected or not secrets.compare_digest(sent, expected):
            return _login_page("The form expired. Please sign in again.", next_path=next_path, status=400)
        ip = flask.request.remote_addr or "unknown"
        with session_factory() as s:
            result = authenticate(s, form.get("username", ""), form.get("password", ""), ip)
        if result.user is None:
            return _login_page(result.message, form.get("username", "")[:80], next_path, status=401)
        flask.session.clear()  # a fresh session on sign-in (no fixation)
        login_user(result.user)
        flask.session["csrf"] = secrets.token_urlsafe(32)
        return flask.redirect(next_path)

    @server.route("/logout", methods=["GET", "POST"])
    def logout():  # noqa: ANN202
        if current_user.is_authenticated:
            with session_factory() as s:
                record_audit(s, current_user, "logout", "session")
                s.commit()
        logout_user()
        flask.session.clear()
        return flask.redirect("/login")

    return manager

"""Sign-in, sign-out and the "signed-in users only" rule for every route (flask-login).

- Passwords are checked with core.accounts.users (salted werkzeug hashes).
- Sessions live on the server (core.accounts.sessions): the signed cookie holds a random token
  and every request checks it against the database, so sign-out (a POST), a password change,
  deactivation, an admin's "sign out everywhere" and the idle and absolute timeouts really end it.
- Failed sign-ins are slowed per (username as typed, client address): FREE_FAILURES failures,
  then a delay that doubles with every further failure up to MAX_DELAY. The answer is the same
  whether or not the account exists, and failures from one address never lock the account out
  for anyone else (the admin signing in from their own desk is not slowed by an attacker).
  An address is also refused for IP_WINDOW after MAX_IP_FAILURES failures across usernames: counted
  in this process (IpThrottle) and, for every worker and host together, from sign_in_failure.
  The client address is the proxy's X-Forwarded-For only when CARBONTRACK_PROXY_HOPS says
  there is a proxy (werkzeug ProxyFix) *and* the request comes from one of
  CARBONTRACK_TRUSTED_PROXIES (default loopback); otherwise the socket's, so a client that
  reaches a web host directly cannot choose the address it is throttled and audited under.
- Every request except the sign-in page and static files needs an active signed-in user:
  Dash's JSON endpoints get 401 JSON, pages are redirected to /login. Callbacks still check
  the factory they touch (core.access); this only keeps strangers out.
- The session cookie is signed, HttpOnly, SameSite=Lax, and Secure whenever the deployment is
  behind TLS (CARBONTRACK_BEHIND_TLS, or the request arrived as https through the proxy).
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
from flask.sessions import SecureCookieSessionInterface
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.middleware.proxy_fix import ProxyFix

from core.accounts.sessions import check_session, end_session, start_session
from core.accounts.users import hash_password, verify_password
from core.audit import record_audit
from core.models import SignInFailure, User
from core.timeutil import utcnow

FREE_FAILURES = 3  # failures per (username, address) before the delays start
FIRST_DELAY = timedelta(seconds=15)  # then 15 s, 30 s, 1 min, 2 min … per further failure
MAX_DELAY = timedelta(minutes=15)
MAX_IP_FAILURES = 20  # failures from one address within IP_WINDOW before it is refused
IP_WINDOW = timedelta(minutes=15)
FAILURE_DELAY_S = 0.5  # every failed attempt costs the guesser this long; tests patch it

# Paths anyone may fetch: the sign-in page (matched exactly) and static files (no data in them).
PUBLIC_PATHS = frozenset({"/login", "/language"})  # /language: the switch on the sign-in page
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
    session_token: str = ""  # the server-side session (core.accounts.sessions) this request belongs to
    language: str | None = None  # the chosen portal language (app_user.language), None = not chosen

    @property
    def is_active(self) -> bool:  # flask-login refuses inactive users
        return self.active

    def get_id(self) -> str:
        # The password tag too: a password changed by any path (CLI, SQL) ends the session as well.
        return f"{self.session_token}.{self.password_tag}"

    @classmethod
    def from_row(cls, row: User, session_token: str = "") -> WebUser:
        """Snapshot a User row."""
        return cls(row.id, row.username, row.role, row.factory_id, bool(row.active), row.full_name,
                   password_tag(row.password_hash), session_token, row.language)


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


GENERIC_REFUSAL = "Wrong username or password, or the account is not active."


def _delay_after(failures: int) -> timedelta | None:
    """Return the wait before the next attempt after `failures` failures in a row (None: no wait)."""
    if failures < FREE_FAILURES:
        return None
    return min(FIRST_DELAY * 2 ** min(failures - FREE_FAILURES, 20), MAX_DELAY)


def _wait_text(wait: timedelta) -> str:
    seconds = max(1, int(wait.total_seconds() + 0.999))
    return f"{seconds} seconds" if seconds < 120 else f"{(seconds + 59) // 60} minutes"


# What the audit log says for a failed or refused sign-in whose username names no account: what
# was typed may be a password typed into the wrong field, so it is never stored.
UNKNOWN_USER = "(unknown user)"


def _audit_username(session: Session, username: str, row: User | None = None) -> str | None:
    """The username to audit for a sign-in attempt: an existing account's name, else UNKNOWN_USER."""
    if not username:
        return None
    if row is None:
        row = session.scalar(sa.select(User).where(User.username == username))
    return row.username if row is not None else UNKNOWN_USER


def failure_key(username: str) -> str:
    """The throttle key of a typed username: its SHA-256, never the text.

    People type passwords into the username field; the delay table must not keep them. The hash of
    the lower-cased name still ties repeated attempts at one name together ("" for nothing typed).
    """
    name = username.strip().lower()
    return hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest() if name else ""


def address_failures(session: Session, ip: str, now: datetime, window: timedelta = IP_WINDOW) -> int:
    """Failed sign-ins from `ip` seen by every process: the failures of the names tried from it whose
    last failure is within `window` (sign_in_failure is shared by every worker and host, the
    in-process IpThrottle is not)."""
    total = session.scalar(sa.select(sa.func.coalesce(sa.func.sum(SignInFailure.failures), 0))
                           .where(SignInFailure.ip == ip, SignInFailure.last_failure_at > now - window))
    return int(total or 0)


def authenticate(
    session: Session,
    username: str,
    password: str,
    ip: str = "unknown",
    now: datetime | None = None,
    throttle: IpThrottle = IP_THROTTLE,
    sleep: Callable[[float], None] = time.sleep,
) -> SignInResult:
    """Check a username and password with per-(username, address) delays and an address limit; audit; commit."""
    now = now or utcnow()
    username = (username if isinstance(username, str) else "").strip()[:80]
    password = password if isinstance(password, str) else ""
    ip = (ip or "unknown")[:64]
    key = failure_key(username)
    if throttle.blocked(ip, now) or address_failures(session, ip, now) >= throttle.limit:
        record_audit(session, None, "login_refused", "session", username=_audit_username(session, username),
                     detail=f"too many failed sign-ins from {ip}")
        session.commit()
        return SignInResult(None, "Too many failed sign-ins from this address. Try again in a few minutes.")
    failure = session.get(SignInFailure, (key, ip)) if key else None
    if failure is not None and failure.next_allowed_at is not None and failure.next_allowed_at > now:
        # The same answer for every username typed (existing or not): nothing is revealed.
        record_audit(session, None, "login_refused", "session", username=_audit_username(session, username),
                     detail=f"waiting after {failure.failures} failures; from {ip}")
        session.commit()
        return SignInResult(None, f"{GENERIC_REFUSAL} After repeated failures, wait "
                                  f"{_wait_text(failure.next_allowed_at - now)} before trying again.")
    row = session.scalar(sa.select(User).where(User.username == username)) if username else None
    if row is None:
        verify_password_hash(_DUMMY_HASH, password)  # same cost as a real check
        ok = False
    else:
        ok = verify_password(row, password)
    if not ok or row is None or not row.active:
        throttle.fail(ip, now)
        if key:
            if failure is None:
                failure = SignInFailure(username=key, ip=ip, failures=0)
                session.add(failure)
            failure.failures = (failure.failures or 0) + 1
            failure.last_failure_at = now
            wait = _delay_after(failure.failures)
            failure.next_allowed_at = now + wait if wait else None
        if row is not None and not ok:
            row.failed_logins = (row.failed_logins or 0) + 1  # shown to admins; never locks the account
        reason = "inactive account" if ok else "wrong username or password"
        record_audit(session, row, "login_failed", "session", username=_audit_username(session, username, row),
                     detail=f"{reason}; from {ip}")
        session.commit()
        sleep(FAILURE_DELAY_S)
        return SignInResult(None, GENERIC_REFUSAL)
    if failure is not None:
        session.delete(failure)
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
    """Return the active user of an open server-side session "<token>.<password tag>", or None.

    None when the session ended (sign-out, password change, deactivation, "sign out everywhere"),
    timed out, or the password changed since.
    """
    token, _, tag = (user_id if isinstance(user_id, str) else "").partition(".")
    found = check_session(session, token)
    if found is None:
        return None
    _, row = found
    user = WebUser.from_row(row, token)
    if not secrets.compare_digest(tag, user.password_tag):
        return None
    return user


def safe_next(target: str | None) -> str:
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
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{t_title} · Carbon Track</title>
<link rel="stylesheet" href="/assets/00-bootstrap.min.css">
<link rel="stylesheet" href="/assets/carbontrack.css">
</head><body class="bg-light">
<main class="container" style="max-width: 420px; margin-top: 10vh">
  {switch}
  <h1 class="h3 mb-1">Carbon Track</h1>
  <p class="text-muted mb-4">{t_tagline}</p>
  {message}
  <form method="post" action="/login" id="login-form" class="card card-body shadow-sm">
    <input type="hidden" name="csrf" value="{csrf}">
    <input type="hidden" name="next" value="{next}">
    <label class="form-label" for="login-username">{t_username}</label>
    <input class="form-control mb-3" id="login-username" name="username" autocomplete="username"
           value="{username}" required autofocus>
    <label class="form-label" for="login-password">{t_password}</label>
    <input class="form-control mb-3" id="login-password" name="password" type="password"
           autocomplete="current-password" required>
    <button class="btn btn-success w-100" id="login-submit" type="submit">{t_title}</button>
  </form>
</main></body></html>"""


@dataclass(frozen=True)
class PageLanguage:
    """How the sign-in and sign-out pages speak the visitor's language.

    Given by the web layer (init_auth's `page_language`): core holds no catalog. `translate`
    takes the English text (also a filled-in message such as "wait 15 seconds"), `language`
    gives the `<html lang>` code, `switch_html(csrf, next)` the language switch's HTML.
    """

    translate: Callable[[str], str] = str
    language: Callable[[], str] = lambda: "en"
    switch_html: Callable[[str, str], str] = lambda csrf, next_path: ""


def _page_language() -> PageLanguage:
    return flask.current_app.config.get("CT_PAGE_LANGUAGE") or PageLanguage()


def _login_page(message: str = "", username: str = "", next_path: str = "/", status: int = 200) -> flask.Response:
    lang = _page_language()
    t = lang.translate
    alert = f'<div class="alert alert-danger" id="login-error">{html.escape(t(message))}</div>' if message else ""
    csrf = _csrf_token()
    body = LOGIN_PAGE.format(
        message=alert, csrf=html.escape(csrf), next=html.escape(next_path), username=html.escape(username),
        lang=html.escape(lang.language()), switch=lang.switch_html(csrf, "/login?" + urlencode({"next": next_path})),
        t_title=html.escape(t("Sign in")), t_tagline=html.escape(t("Emissions monitoring for KTDA tea factories")),
        t_username=html.escape(t("Username")), t_password=html.escape(t("Password")),
    )
    resp = flask.make_response(body, status)
    resp.headers["Cache-Control"] = "no-store"
    return resp


LOGOUT_PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{t_title} · Carbon Track</title>
<link rel="stylesheet" href="/assets/00-bootstrap.min.css">
</head><body class="bg-light">
<main class="container" style="max-width: 420px; margin-top: 10vh">
  <form method="post" action="/logout" id="logout-form" class="card card-body shadow-sm">
    <input type="hidden" name="csrf" value="{csrf}">
    <p>{t_question}</p>
    <button class="btn btn-success w-100" id="logout-submit" type="submit">{t_title}</button>
  </form>
</main></body></html>"""


class _SessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie, marked Secure when configured or when this request came over https."""

    def get_cookie_secure(self, app: flask.Flask) -> bool:
        if app.config.get("SESSION_COOKIE_SECURE"):
            return True
        return bool(flask.has_request_context() and flask.request.is_secure)


def content_security_policy(script_hashes: list[str]) -> str:
    """Return the CSP every response carries: scripts only from this site (and Dash's one hashed inline script).

    Styles allow 'unsafe-inline' because Plotly injects <style> elements for its charts; no script
    can run from an inline attribute, a string or another site.
    """
    return "; ".join([
        "default-src 'self'",
        "script-src 'self' " + " ".join(script_hashes),
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


def current_token() -> str | None:
    """Return the server-side session token of this request, or None."""
    user = current_user if flask.has_request_context() else None
    return getattr(user, "session_token", None) or None


class TrustedProxyFix:
    """werkzeug's ProxyFix applied only to requests whose peer is a trusted proxy address."""

    def __init__(self, app: Callable, hops: int, trusted: tuple[str, ...]) -> None:
        import ipaddress

        self.plain = app
        self.fixed = ProxyFix(app, x_for=hops, x_proto=hops)
        self.trusted = [ipaddress.ip_network(n, strict=False) for n in trusted]

    def is_trusted(self, peer: str | None) -> bool:
        """Whether the socket peer `peer` is one of the trusted proxies."""
        import ipaddress

        try:
            addr = ipaddress.ip_address((peer or "").split("%")[0])
        except ValueError:
            return False
        return any(addr in net for net in self.trusted)

    def __call__(self, environ: dict, start_response: Callable):  # noqa: ANN204
        app = self.fixed if self.is_trusted(environ.get("REMOTE_ADDR")) else self.plain
        return app(environ, start_response)


def init_auth(server: flask.Flask, session_factory: sessionmaker[Session],
              script_hashes: Callable[[], list[str]] | None = None, proxy_hops: int = 0,
              page_language: PageLanguage | None = None) -> LoginManager:
    """Install flask-login, server-side sessions, the sign-in/sign-out routes, the signed-in-only rule and the CSP."""
    server.config["CT_PAGE_LANGUAGE"] = page_language or PageLanguage()
    if proxy_hops > 0:
        # Trust exactly this many proxies for the client address and the scheme (https), and only
        # when the request really comes from one of them (CARBONTRACK_TRUSTED_PROXIES).
        cfg = server.config.get("CT_CONFIG")
        trusted = getattr(cfg, "trusted_proxies", ("127.0.0.1/32", "::1/128"))
        server.wsgi_app = TrustedProxyFix(server.wsgi_app, proxy_hops, trusted)
    server.session_interface = _SessionInterface()
    csp: dict[str, str] = {}  # built on the first response, once every callback (and inline script) exists
    manager = LoginManager()
    manager.init_app(server)
    manager.session_protection = None  # the server-side session is the protection (ended on sign-out etc.)

    @manager.user_loader
    def _load(token: str) -> WebUser | None:
        with session_factory() as s:
            return load_web_user(s, token)

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
        if "value" not in csp:
            csp["value"] = content_security_policy(list(script_hashes() if script_hashes else []))
        resp.headers.setdefault("Content-Security-Policy", csp["value"])
        return resp

    @server.route("/login", methods=["GET", "POST"])
    def login():  # noqa: ANN202
        if flask.request.method == "GET":
            if current_user.is_authenticated:
                return flask.redirect("/")
            return _login_page(next_path=safe_next(flask.request.args.get("next")))
        form = flask.request.form
        next_path = safe_next(form.get("next"))
        sent = form.get("csrf", "")
        expected = flask.session.get("csrf", "")
        if not expected or not secrets.compare_digest(sent, expected):
            return _login_page("The form expired. Please sign in again.", next_path=next_path, status=400)
        ip = flask.request.remote_addr or "unknown"
        with session_factory() as s:
            result = authenticate(s, form.get("username", ""), form.get("password", ""), ip)
            if result.user is not None:
                token = start_session(s, result.user.id, ip, flask.request.headers.get("User-Agent"))
                s.commit()
        if result.user is None:
            return _login_page(result.message, form.get("username", "")[:80], next_path, status=401)
        flask.session.clear()  # a fresh session on sign-in (no fixation)
        result.user.session_token = token
        login_user(result.user)
        flask.session["csrf"] = secrets.token_urlsafe(32)
        return flask.redirect(next_path)

    @server.route("/logout", methods=["GET", "POST"])
    def logout():  # noqa: ANN202
        if flask.request.method == "GET":  # a link or a prefetch never signs anyone out
            lang = _page_language()
            resp = flask.make_response(LOGOUT_PAGE.format(
                csrf=html.escape(_csrf_token()), lang=html.escape(lang.language()),
                t_title=html.escape(lang.translate("Sign out")),
                t_question=html.escape(lang.translate("Sign out of Carbon Track on this browser?"))))
            resp.headers["Cache-Control"] = "no-store"
            return resp
        sent = flask.request.form.get("csrf", "")
        expected = flask.session.get("csrf", "")
        if not expected or not secrets.compare_digest(sent, expected):
            return flask.redirect("/logout")
        if current_user.is_authenticated:
            with session_factory() as s:
                end_session(s, current_token(), "signed out")
                record_audit(s, current_user, "logout", "session")
                s.commit()
        logout_user()
        flask.session.clear()
        return flask.redirect("/login")

    return manager

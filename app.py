"""The web app: `create_app(config)` builds the Dash app; `server` is its Flask app for gunicorn.

`gunicorn app:server` reads the configuration from the environment when it first asks for
`server` (a module-level __getattr__), so importing this module in tests touches nothing.
`python app.py` runs the all-in-one (web + listener + scheduler), like `carbontrack run`.
"""

from __future__ import annotations

import gc
import gzip
import importlib
import logging
import pkgutil
import secrets
from pathlib import Path
from typing import Any

import dash
import dash_bootstrap_components as dbc
import diskcache
import flask
from dash import dcc, html
from sqlalchemy.orm import Session, sessionmaker

import callbacks
from api import create_api, mount_api
from callbacks.i18n import LANGUAGES, current_language, init_i18n, switch_form, tr_message
from callbacks.i18n import gettext as _
from core.accounts.auth import PageLanguage, init_auth
from core.config import MIN_SECRET_KEY_CHARS, Config, load_config
from core.db import open_database

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent
_server = None
_gc_frozen = False
MAX_REQUEST_BYTES = 1024 * 1024
# Answers compressed by the app itself (issue 17, item 6): pages and callback answers are JSON and
# HTML that shrink 5-10x (the overview's ~80 KiB callback answer to ~15 KiB). Level 5 takes ~1 ms
# for 100 KiB; under GZIP_MIN_BYTES the header costs more than it saves. Scripts and styles are not
# compressed here: Dash serves them with long cache lifetimes, and compressing plotly.js (4.6 MB)
# on every first load would cost more than it saves on a LAN. Behind the reverse proxy
# (CARBONTRACK_PROXY_HOPS >= 1) nginx compresses (deploy/nginx: gzip on), so the app does not.
GZIP_LEVEL = 5
GZIP_MIN_BYTES = 1024
GZIP_MIMETYPES = frozenset({"application/json", "text/html"})


def callback_request_problem(body: Any, callback_map: dict) -> str | None:
    """Return why a /_dash-update-component body is malformed, or None when its shape is right."""
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    output = body.get("output")
    if not isinstance(output, str) or output not in callback_map:
        return "unknown output"
    for key in ("inputs", "state", "changedPropIds"):
        if not isinstance(body.get(key, []), list):
            return f"{key} must be a list"
    # One entry per declared input and state (a list for a wildcard one): Dash indexes them by
    # position, so a shorter body raised IndexError (a 500) inside the callback's wrapper.
    spec = callback_map[output]
    for key in ("inputs", "state"):
        want, got = len(spec.get(key, [])), body.get(key, [])
        if len(got) != want:
            return f"{key}: {want} expected, {len(got)} sent"
        if not all(isinstance(item, dict | list) for item in got):
            return f"malformed {key}"
    if output.startswith(".._pages_content."):
        for item in body["inputs"]:
            if not isinstance(item, dict):
                return "malformed input"
            value = item.get("value")
            if value is not None and not isinstance(value, str):
                return "the page path must be text"
            if item.get("property") == "pathname" and value is not None and not value.startswith("/"):
                return "the page path must start with /"
    return None


def _freeze_startup_objects() -> None:
    """Take the objects built at start-up (modules, Dash, plotly's validators) out of the GC's scans.

    Measured: a full collection over them took 100–200 ms and landed inside random callbacks,
    doubling their p95. Done once per process, so apps built later (tests) are still collected.
    """
    global _gc_frozen
    if not _gc_frozen:
        gc.collect()
        gc.freeze()
        _gc_frozen = True


def gzip_response(resp: flask.Response) -> flask.Response:
    """Compress `resp` with gzip when the browser accepts it and it is a large JSON or HTML answer."""
    if (resp.direct_passthrough or resp.status_code != 200 or resp.mimetype not in GZIP_MIMETYPES
            or "Content-Encoding" in resp.headers
            or "gzip" not in flask.request.headers.get("Accept-Encoding", "").lower()):
        return resp
    body = resp.get_data()
    if len(body) < GZIP_MIN_BYTES:
        return resp
    resp.set_data(gzip.compress(body, GZIP_LEVEL))
    resp.headers["Content-Encoding"] = "gzip"
    resp.vary.add("Accept-Encoding")
    return resp


def navbar() -> dbc.Navbar:
    """Return the top bar: the signed-in role's pages only, and sign-out."""
    from callbacks.common import HOME_BY_ROLE, NAV_ITEMS, ROLE_LABELS, web_user

    user = web_user()
    if user is None:
        return dbc.Navbar(dbc.Container(dbc.NavbarBrand("Carbon Track", href="/login")), color="success", dark=True)
    links = [
        dbc.NavItem(dbc.NavLink(_(label), href=path, active="partial" if path != "/hq" else "exact",
                                id=f"nav-{path.strip('/').replace('/', '-')}"))
        for label, path in NAV_ITEMS.get(user.role, ())
    ]
    # The user's own page (personal API tokens) hangs off their name, for every role.
    who = html.A(f"{user.username} · {_(ROLE_LABELS.get(user.role, user.role))}", href="/account/api-tokens",
                 className="navbar-text small me-3 text-light", id="nav-user", title=_("Your account: API tokens"))
    from core.alerts.state import badge_count

    with flask.current_app.config["CT_SESSION_FACTORY"]() as s:
        firing = badge_count(s, user)
    from callbacks.i18n import ngettext

    badge = dbc.Badge(ngettext("{n} alert", "{n} alerts", firing), color="danger" if firing else "secondary",
                      href="/alerts", id="nav-alert-badge", className="me-2 text-decoration-none")
    return dbc.Navbar(
        dbc.Container(
            [
                dbc.NavbarBrand("Carbon Track", href=HOME_BY_ROLE.get(user.role, "/")),
                dbc.NavbarToggler(id="nav-toggler"),
                dbc.Collapse(
                    [dbc.Nav(links, navbar=True, className="me-auto flex-wrap"), badge, who,
                     language_switch(), sign_out_form()],
                    id="nav-collapse", navbar=True, className="flex-wrap",
                ),
            ],
            fluid=True,
        ),
        color="success", dark=True, className="mb-2",
    )


def language_switch() -> html.Form:
    """Return the navbar's language switch: one button naming the other language, a POST (CSRF token) to /language."""
    token = flask.session.get("csrf") or ""
    here = current_language()
    return html.Form([
        dcc.Input(type="hidden", name="csrf", value=token, id="nav-language-csrf"),
        *[html.Button(name, type="submit", name="language", value=code, lang=code, id=f"nav-lang-{code}",
                      className="btn btn-link btn-sm text-light me-2 px-1")
          for code, name in LANGUAGES.items() if code != here],
    ], action="/language", method="POST", className="d-inline mb-0", id="nav-language")


def sign_out_form() -> html.Form:
    """Return the navbar's sign-out button: a POST with the CSRF token (a GET never signs out)."""
    token = flask.session.get("csrf") or ""
    return html.Form([
        dcc.Input(type="hidden", name="csrf", value=token, id="nav-logout-csrf"),
        html.Button(_("Sign out"), type="submit", className="btn btn-outline-light btn-sm", id="nav-logout"),
    ], action="/logout", method="POST", className="d-inline mb-0")


def shell_layout() -> html.Div:
    """Return the shell: navbar, the page container, and app-wide stores."""
    return html.Div(
        [
            navbar(),
            dcc.Store(id="app-tick", storage_type="memory"),
            dash.page_container,
        ]
    )


def _register_callbacks(app: dash.Dash) -> None:
    """Attach every callbacks module's callbacks that offers `register(app)`."""
    for info in pkgutil.iter_modules(callbacks.__path__):
        module = importlib.import_module(f"callbacks.{info.name}")
        register = getattr(module, "register", None)
        if callable(register):
            register(app)


def background_manager(config: Config) -> dash.DiskcacheManager | dash.CeleryManager:
    """Where Dash background callbacks (report generation) run.

    With CARBONTRACK_REDIS_URL: Dash's CeleryManager on Redis (broker and result backend), so the
    job runs in a `carbontrack worker` process and any web host can answer the page's progress and
    result polls. Without it (the embedded default): diskcache in the data directory, jobs in a
    child process of this web process.
    """
    if config.redis_url:
        from celery import Celery

        celery_app = Celery("carbontrack", broker=config.redis_url, backend=config.redis_url)
        celery_app.conf.update(
            result_expires=24 * 3600,  # a result nobody polled for is dropped after a day
            worker_prefetch_multiplier=1,  # a long generation does not hold a queue of others
            broker_connection_retry_on_startup=True,
            worker_hijack_root_logger=False,
        )
        return dash.CeleryManager(celery_app)
    cache_dir = config.data_dir / "cache"
    cache_dir.mkdir(parents=True, exist_ok=True)
    return dash.DiskcacheManager(diskcache.Cache(str(cache_dir)))


def create_app(config: Config | None = None, session_factory: sessionmaker[Session] | None = None) -> dash.Dash:
    """Build the Dash app for `config` (default: from the environment) and a session factory."""
    config = config or load_config()
    if session_factory is None:
        _engine, session_factory = open_database(config.database_url)
    manager = background_manager(config)
    app = dash.Dash(
        __name__,
        use_pages=True,
        pages_folder=str(ROOT / "pages"),
        assets_folder=str(ROOT / "assets"),
        suppress_callback_exceptions=True,
        serve_locally=True,
        title="Carbon Track",
        update_title=None,
        background_callback_manager=manager,
        meta_tags=[{"name": "viewport", "content": "width=device-width, initial-scale=1"}],
    )
    # The page's language, for screen readers and hyphenation (WCAG 3.1.1); Dash's template has none.
    # It follows the request's language (callbacks.i18n): the switch reloads the page.
    app.index_string = app.index_string.replace("<html>", '<html lang="en">', 1)
    plain_index = app.interpolate_index

    def interpolate_index(**kwargs: Any) -> str:
        return plain_index(**kwargs).replace('<html lang="en">', f'<html lang="{current_language()}">', 1)

    app.interpolate_index = interpolate_index
    server = app.server
    if not config.secret_key:
        # load_config always sets one; a hand-made Config without it still gets signed sessions.
        log.warning("no secret key configured: using a random one (sessions end when the process ends)")
    server.config.update(
        SECRET_KEY=config.secret_key or secrets.token_hex(32),
        # A callback body is a few kilobytes; anything near this is not a browser's request.
        MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # Behind TLS in production or when the deployment says so; the embedded default is plain
        # http on localhost. A request that arrives as https (through a trusted proxy) also gets Secure.
        SESSION_COOKIE_SECURE=config.behind_tls or not config.embedded,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SECURE=config.behind_tls or not config.embedded,
        CT_CONFIG=config,
        CT_SESSION_FACTORY=session_factory,
        CT_CELERY=getattr(manager, "handle", None),  # the Celery app (`carbontrack worker`), or None
    )
    if len(server.config["SECRET_KEY"]) < MIN_SECRET_KEY_CHARS:
        log.warning("the secret key has fewer than %d characters: session cookies could be forged",
                    MIN_SECRET_KEY_CHARS)
    # The REST API (api/) answers every /api/ path on this same server, before the portal's
    # sign-in rule: it authenticates bearer tokens only, never the portal's cookie. Mounted before
    # init_auth so that the proxy fix (client address, https) wraps the API too.
    mount_api(server, create_api(config, session_factory))
    init_auth(server, session_factory, app.csp_hashes, config.proxy_hops,
              PageLanguage(translate=tr_message, language=current_language, switch_html=switch_form))
    init_i18n(server)

    @server.before_request
    def _check_callback_request():  # noqa: ANN202
        # Dash parses the callback body itself and answers a malformed one with a 500; a body of
        # the wrong shape, or Dash's own page-routing callback with a non-text path, is refused here.
        if flask.request.path != "/_dash-update-component" or flask.request.method != "POST":
            return None
        problem = callback_request_problem(flask.request.get_json(silent=True), app.callback_map)
        if problem:
            return flask.jsonify(error=problem), 400
        return None

    @server.before_request
    def _home_by_role():  # noqa: ANN202
        from callbacks.common import HOME_BY_ROLE, web_user

        if flask.request.path == "/" and flask.request.method == "GET":
            user = web_user()
            if user is not None:
                return flask.redirect(HOME_BY_ROLE.get(user.role, "/hq"))
        return None
    if config.proxy_hops == 0:
        server.after_request(gzip_response)
    app.layout = shell_layout
    _register_callbacks(app)
    _freeze_startup_objects()
    return app


def __getattr__(name: str) -> Any:
    """Build `server` on first use (gunicorn app:server), from the environment."""
    global _server
    if name == "server":
        if _server is None:
            _server = create_app().server
        return _server
    raise AttributeError(name)


if __name__ == "__main__":
    # `python app.py` is shorthand for `carbontrack run`. The web layer never imports the
    # composition layer above it (it would be a cycle: the runner builds this app), so the
    # script hands over to the CLI by module name instead of importing it.
    import runpy
    import sys

    sys.argv = [sys.argv[0], "run"]
    runpy.run_module("carbontrack", run_name="__main__")

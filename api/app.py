"""The API application: an OpenAPI (flask-openapi3) Flask app mounted under /api on the portal's server.

- `create_api(config, session_factory)` builds it; `mount_api(server, api)` sends every request
  whose path starts with /api/ to it and everything else to the Dash server, so
  `gunicorn app:server` serves both. It is a separate Flask app on purpose: the portal's
  sign-in cookie never reaches the API's code, so a browser session cannot call the API (no CSRF
  surface), and the portal's "signed-in users only" redirect never answers an API client.
- Public: /api/openapi.json, /api/docs (Swagger UI), /api/redoc (Redoc) and their assets, all
  served from the installed packages (no CDN). Everything under /api/v1/ needs a bearer token
  (core.accounts.tokens); the token's user is scoped by core.access exactly like the portals.
- Every error is RFC 9457 problem+json (api.problems); an unexpected error is logged with the
  request and answers a 500 problem without internals.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from typing import Any

import flask
from flask_openapi3 import Info, OpenAPI, Server, Tag
from flask_openapi3.models import Schema
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.exceptions import HTTPException

from api.problems import (
    COMMON_RESPONSES,
    ApiProblem,
    Problem,
    http_problem,
    problem_response,
    validation_problem,
)
from core.config import Config

log = logging.getLogger(__name__)

API_PREFIX = "/api"
MAX_BODY_BYTES = 64 * 1024  # an energy entry is under 2 KiB; anything near this is not a client of ours
API_VERSION = "1.0.0"
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
            "frame-ancestors 'none'")

DESCRIPTION = """\
Read and write Carbon Track data: factories and their stacks and sensor nodes, stack readings,
measured emissions, monthly inventories, the leaderboard, node health, emission-factor versions,
compliance reports, monthly energy entries and the audit log.

**Authentication**: a personal API token (the portal's page /account/api-tokens,
`carbontrack create-token USERNAME`, or the `/api/v1/tokens` endpoints) sent as
`Authorization: Bearer ct_…`. A token acts as its user: a
factory manager's token sees only their factory (another factory's resources answer 404), HQ
and auditors see all factories, only HQ and admins approve, only admins and auditors read the
audit log. Portal cookies do not authenticate the API.

**Conventions**: times are ISO 8601 with an offset (answers in UTC); days and months are local
days and months in Africa/Nairobi (EAT, UTC+3), months written `YYYY-MM`; units are in the field
names (`co2_kg`, `covered_s`, `made_tea_kg`) or their descriptions. Lists are paged
(`page`, `page_size`). Errors are RFC 9457 `application/problem+json`.
"""

TAGS = [
    Tag(name="factories", description="Factories with their stacks (chimneys), sensor nodes and targets"),
    Tag(name="measurements", description="Stack readings and measured CO2 (hourly, daily, monthly)"),
    Tag(name="inventories", description="Monthly inventories (Scope 1, Scope 2, biogenic CO2, intensity), leaderboard"),
    Tag(name="energy entries", description="A factory-month's energy and production: draft, submit, approve, return"),
    Tag(name="fleet", description="Sensor node health"),
    Tag(name="reference", description="Emission-factor versions"),
    Tag(name="reports", description="Generated compliance workbooks (Excel)"),
    Tag(name="audit", description="Who changed what, when (admins and auditors)"),
    Tag(name="tokens", description="The caller's own API tokens"),
]


def _blueprints() -> Iterable[Any]:
    from api.routes import ALL_BLUEPRINTS

    return ALL_BLUEPRINTS


def create_api(config: Config | None = None, session_factory: sessionmaker[Session] | None = None) -> OpenAPI:
    """Build the API app; without a session factory it still serves the spec and the docs."""
    api = OpenAPI(
        __name__,
        info=Info(title="Carbon Track API", version=API_VERSION, description=DESCRIPTION),
        servers=[Server(url="/", description="this server")],
        security_schemes={"bearer": {"type": "http", "scheme": "bearer",
                                     "description": "A personal API token: `ct_` followed by 43 characters"}},
        responses=COMMON_RESPONSES,
        validation_error_status=422,
        validation_error_model=Problem,
        validation_error_callback=validation_problem,
        doc_prefix=API_PREFIX,
        doc_url="/openapi.json",
    )
    api.config.update(MAX_CONTENT_LENGTH=MAX_BODY_BYTES, CT_CONFIG=config, CT_SESSION_FACTORY=session_factory,
                      JSON_SORT_KEYS=False)
    api.json.sort_keys = False
    for tag in TAGS:
        api.tags.append(tag)
        api.tag_names.append(tag.name)
    for bp in _blueprints():
        api.register_api(bp)
    api.components_schemas["Problem"] = Schema(**Problem.model_json_schema())
    _install_docs(api)
    _install_auth(api)
    _install_errors(api)
    return api


def _install_docs(api: OpenAPI) -> None:
    """Serve Swagger UI at /api/docs; the Redoc plugin itself serves /api/redoc (no CDN in either)."""
    from flask_openapi3_redoc.templates import redoc_html_string
    from flask_openapi3_swagger.templates import swagger_html_string

    swagger = swagger_html_string.replace("<title>Swagger UI</title>", "<title>Carbon Track API · Swagger UI</title>")
    redoc = re.sub(r"<!--.*?-->", "", redoc_html_string, flags=re.S)  # a commented-out font link
    api.config["REDOC_HTML_STRING"] = redoc.replace("<title>ReDoc</title>", "<title>Carbon Track API · Redoc</title>")
    # /api/docs sits in /api/, so the plugin's relative asset paths (swagger/js/…) resolve to the
    # Swagger plugin blueprint's static folder under /api/swagger/.

    @api.get(f"{API_PREFIX}/docs", doc_ui=False)
    def swagger_ui():  # noqa: ANN202
        return flask.render_template_string(swagger, doc_url="openapi.json", swagger_config={"persistAuthorization": True},
                                            oauth_config=None)

    @api.get(API_PREFIX, doc_ui=False)
    def api_root():  # noqa: ANN202
        return flask.redirect(f"{API_PREFIX}/docs")


def _install_auth(api: OpenAPI) -> None:
    """Require a valid bearer token for everything under /api/v1/."""
    from core.accounts.tokens import check_token

    @api.before_request
    def _bearer():  # noqa: ANN202
        if not flask.request.path.startswith(f"{API_PREFIX}/v1/"):
            return None
        header = flask.request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return problem_response(401, "Send a personal API token: `Authorization: Bearer ct_…`.",
                                    headers={"WWW-Authenticate": 'Bearer realm="carbontrack"'})
        session_factory = api.config["CT_SESSION_FACTORY"]
        if session_factory is None:
            return problem_response(503, "The API has no database configured.")
        ip = flask.request.remote_addr or "unknown"
        with session_factory() as s:
            result = check_token(s, token.strip(), ip)
        if result.user is None:
            headers = {"WWW-Authenticate": 'Bearer realm="carbontrack", error="invalid_token"'}
            if result.status == 429:
                headers = {"Retry-After": "60"}
            return problem_response(result.status, result.message, headers=headers)
        flask.g.api_user = result.user
        flask.g.api_token_id = result.token_id
        return None

    @api.after_request
    def _headers(resp: flask.Response) -> flask.Response:
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Cache-Control", "no-store")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        # The docs pages may load only what this server serves: Redoc's bundle would otherwise fetch
        # its logo from cdn.redoc.ly. Inline script and style: the plugin pages and Redoc use both.
        resp.headers.setdefault("Content-Security-Policy", DOCS_CSP)
        return resp


def _install_errors(api: OpenAPI) -> None:
    """Answer every error with problem+json."""

    @api.errorhandler(ApiProblem)
    def _problem(exc: ApiProblem):  # noqa: ANN202
        return problem_response(exc.status, exc.detail, exc.errors, exc.headers)

    @api.errorhandler(HTTPException)
    def _http(exc: HTTPException):  # noqa: ANN202
        return http_problem(exc)

    @api.errorhandler(Exception)
    def _unexpected(exc: Exception):  # noqa: ANN202
        if isinstance(exc, HTTPException):
            return http_problem(exc)
        log.exception("API error on %s %s", flask.request.method, flask.request.path)
        return problem_response(500, "An unexpected error; it has been logged.")


def spec_json(api: OpenAPI | None = None) -> dict:
    """Return the OpenAPI document (builds an API without a database if none is given)."""
    return (api or create_api()).api_doc


class ApiDispatcher:
    """WSGI: paths under /api/ go to the API app, everything else to the portal."""

    def __init__(self, portal: Callable, api: Callable) -> None:
        self.portal = portal
        self.api = api

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
            return self.api(environ, start_response)
        return self.portal(environ, start_response)


def mount_api(server: flask.Flask, api: OpenAPI) -> None:
    """Serve `api` under /api on `server` (the Dash app's Flask server)."""
    server.wsgi_app = ApiDispatcher(server.wsgi_app, api.wsgi_app)  # type: ignore[method-assign]
    server.config["CT_API"] = api

"""RFC 9457 problem details: every 4xx and 5xx of the API is `application/problem+json`."""

from __future__ import annotations

import json
from typing import Any

import flask
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from werkzeug.exceptions import HTTPException

PROBLEM_JSON = "application/problem+json"


class Problem(BaseModel):
    """An RFC 9457 problem: what went wrong, in words a person can act on."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "type": "about:blank", "title": "Not Found", "status": 404,
        "detail": "No factory 999 (or you may not see it).", "instance": "/api/v1/factories/999"}]})

    type: str = Field("about:blank", description="A URI naming the problem type; about:blank = the HTTP status says it")
    title: str = Field(description="The HTTP status phrase", examples=["Unprocessable Content"])
    status: int = Field(description="The HTTP status code", examples=[422])
    detail: str = Field(description="What went wrong and how to fix it")
    instance: str | None = Field(None, description="The request path")
    errors: list[dict[str, Any]] | None = Field(
        None, description="Field errors for 422: `loc` (where), `msg` (why), `type` (pydantic error code)")


class ApiProblem(Exception):
    """Raise in a view to answer with a problem document."""

    def __init__(self, status: int, detail: str, errors: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem_response(status: int, detail: str, errors: list[dict[str, Any]] | None = None,
                     headers: dict[str, str] | None = None) -> flask.Response:
    """Build a problem+json response."""
    body: dict[str, Any] = {"type": "about:blank", "title": _title(status), "status": status, "detail": detail,
                            "instance": flask.request.path if flask.has_request_context() else None}
    if errors is not None:
        body["errors"] = errors
    resp = flask.Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    for key, value in (headers or {}).items():
        resp.headers[key] = value
    return resp


def validation_problem(exc: ValidationError) -> flask.Response:
    """Turn a pydantic ValidationError (bad query, path or body) into a 422 problem."""
    errors = [{"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", ""), "type": e.get("type", "")}
              for e in exc.errors(include_url=False, include_input=False, include_context=False)]
    where = "; ".join(f"{'.'.join(e['loc']) or 'body'}: {e['msg']}" for e in errors[:5])
    return problem_response(422, f"The request is not valid: {where}", errors)


def http_problem(exc: HTTPException) -> flask.Response:
    """Turn a werkzeug HTTP error (404 route, 405, 413, bad JSON) into a problem."""
    if exc.response is not None and exc.response.mimetype == PROBLEM_JSON:
        return exc.response
    detail = exc.description or _title(exc.code or 500)
    if exc.code == 413:
        detail = "The request body is too large."
    resp = problem_response(exc.code or 500, detail)
    if exc.code == 405 and hasattr(exc, "valid_methods") and exc.valid_methods:
        resp.headers["Allow"] = ", ".join(exc.valid_methods)
    return resp


def problem_content(description: str) -> dict[str, Any]:
    """An OpenAPI response object whose body is a Problem."""
    return {"description": description,
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}}


# Responses every operation may give (documented on each operation, so clients and schemathesis know them).
COMMON_RESPONSES: dict[int, dict[str, Any]] = {
    400: problem_content("Bad request: the body is not JSON, or a value is out of range"),
    401: problem_content("No token, or the token is unknown, revoked or expired (send `Authorization: Bearer ct_…`)"),
    404: problem_content("Not found, or not visible to the token's user (another factory's data answers 404)"),
    413: problem_content("The request body is larger than 64 KiB"),
    422: problem_content("A parameter or body field is missing, has the wrong type or is out of range"),
    429: problem_content("Too many failed tokens from this address; retry after the `Retry-After` seconds"),
}
FORBIDDEN = {403: problem_content("The token's user may not do this (role)")}
CONFLICT = {409: problem_content("The month's state does not allow this (approved and locked, not submitted, …)")}

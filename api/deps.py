"""What every view needs: the token's user, a database session, and errors mapped to problems."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import flask
from sqlalchemy.orm import Session

from api.problems import ApiProblem
from core.access import AccessDenied
from core.accounts.auth import WebUser
from core.config import Config
from core.timeutil import DEFAULT_TZ, parse_month


def user() -> WebUser:
    """Return the user the request's token acts as (set by the bearer check)."""
    return flask.g.api_user


def config() -> Config | None:
    return flask.current_app.config.get("CT_CONFIG")


def tz():  # noqa: ANN201
    cfg = config()
    return cfg.tz if cfg is not None else DEFAULT_TZ


def gwp() -> str:
    """The configured GWP-100 set (CARBONTRACK_GWP_SET): API figures match the workbooks and portals."""
    cfg = config()
    return cfg.gwp_set if cfg is not None else Config.gwp_set


@contextmanager
def db() -> Iterator[Session]:
    """Open a session for one request; map core's refusals to problems (the view commits)."""
    with flask.current_app.config["CT_SESSION_FACTORY"]() as s:
        try:
            yield s
        except LookupError as exc:
            s.rollback()
            raise ApiProblem(404, _sentence(str(exc).strip("'\"") or "not found") + " (or you may not see it).") from exc
        except AccessDenied as exc:
            s.rollback()
            raise ApiProblem(403, _sentence(str(exc) or "you may not do this") + ".") from exc


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def month_of(text: str) -> date:
    """Return the first day of a validated YYYY-MM month."""
    return parse_month(text)


def page_info(page: int, page_size: int, total: int) -> dict:
    return {"page": page, "page_size": page_size, "total": total}


def operation_id(*, bp_name: str = "", name: str = "", path: str = "", method: str = "") -> str:
    """Name each operation after its view function (unique across the API): readable in Postman and generated clients."""
    return name

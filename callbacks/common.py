"""What every page and callback shares: the signed-in user, the database, navigation, formatting.

Pages and callbacks reach the session factory and config through the Flask app (set by
app.create_app), so nothing here holds global state.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

import dash_bootstrap_components as dbc
import flask
import sqlalchemy as sa
from dash import html
from flask_login import current_user
from sqlalchemy.orm import Session, sessionmaker

from callbacks.i18n import N_, format_number
from callbacks.i18n import gettext as _
from core.access import allowed_factory_ids
from core.config import Config
from core.models import ROLE_ADMIN, ROLE_AUDITOR, ROLE_FACTORY_MANAGER, ROLE_HQ, Factory
from core.validation import optional_id

# Navigation per role: (label, path). Reports belongs to every role (its page is elsewhere).
NAV_ITEMS: dict[str, tuple[tuple[str, str], ...]] = {
    ROLE_FACTORY_MANAGER: (
        (N_("Live"), "/factory/live"), (N_("Energy entry"), "/factory/entry"), (N_("History"), "/factory/history"),
        (N_("Reports"), "/reports"), (N_("Evidence"), "/evidence"), (N_("Alerts"), "/alerts"),
    ),
    ROLE_HQ: (
        (N_("Overview"), "/hq"), (N_("Leaderboard"), "/hq/leaderboard"), (N_("Submissions"), "/hq/submissions"), (N_("Nodes"), "/hq/nodes"),
        (N_("Live"), "/factory/live"), (N_("Entries"), "/factory/entry"), (N_("History"), "/factory/history"),
        (N_("Reports"), "/reports"), (N_("Evidence"), "/evidence"), (N_("Firmware"), "/hq/firmware"), (N_("Alerts"), "/alerts"),
    ),
    ROLE_ADMIN: (
        (N_("Overview"), "/hq"), (N_("Leaderboard"), "/hq/leaderboard"), (N_("Submissions"), "/hq/submissions"), (N_("Nodes"), "/hq/nodes"),
        (N_("Live"), "/factory/live"), (N_("Entries"), "/factory/entry"), (N_("History"), "/factory/history"),
        (N_("Reports"), "/reports"), (N_("Evidence"), "/evidence"), (N_("Firmware"), "/hq/firmware"), (N_("Alerts"), "/alerts"),
        (N_("Admin"), "/admin"), (N_("Audit log"), "/audit"),
    ),
    ROLE_AUDITOR: (
        (N_("Overview"), "/hq"), (N_("Leaderboard"), "/hq/leaderboard"), (N_("Submissions"), "/hq/submissions"), (N_("Nodes"), "/hq/nodes"),
        (N_("Live"), "/factory/live"), (N_("Entries"), "/factory/entry"), (N_("History"), "/factory/history"),
        (N_("Reports"), "/reports"), (N_("Evidence"), "/evidence"), (N_("Firmware"), "/hq/firmware"), (N_("Alerts"), "/alerts"),
        (N_("Admin (read-only)"), "/admin"), (N_("Audit log"), "/audit"),
    ),
}
# Role names as the navbar shows them (translated when shown).
ROLE_LABELS = {ROLE_FACTORY_MANAGER: N_("factory manager"), ROLE_HQ: N_("hq"), ROLE_ADMIN: N_("admin"),
               ROLE_AUDITOR: N_("auditor")}
HOME_BY_ROLE = {ROLE_FACTORY_MANAGER: "/factory/live", ROLE_HQ: "/hq", ROLE_ADMIN: "/hq", ROLE_AUDITOR: "/hq"}
TONNE_KG = 1000.0


def session_factory() -> sessionmaker[Session]:
    """Return the app's session factory."""
    return flask.current_app.config["CT_SESSION_FACTORY"]


def app_config() -> Config:
    """Return the app's configuration."""
    return flask.current_app.config["CT_CONFIG"]


def app_tz() -> ZoneInfo:
    """Return the local time zone (EAT by default)."""
    return app_config().tz


def app_gwp() -> str:
    """Return the configured GWP-100 set (CARBONTRACK_GWP_SET): portal figures match the workbooks.

    Outside a request (plain-function tests) the default set, as in core.config.Config.
    """
    if not flask.has_app_context():
        return Config.gwp_set
    return app_config().gwp_set


def web_user():  # noqa: ANN201 - WebUser | None
    """Return the signed-in user, or None."""
    try:
        return current_user if current_user.is_authenticated else None
    except Exception:  # outside a request (plain-function tests)
        return None


def role_paths(role: str | None) -> set[str]:
    """Return paths in `role`'s navigation."""
    return {path for _, path in NAV_ITEMS.get(role or "", ())}


def page_allowed(user, path: str) -> bool:  # noqa: ANN001
    """Tell whether `user`'s role has the page at `path`."""
    return user is not None and path in role_paths(user.role)


def not_permitted(what: str = "this page") -> html.Div:
    """Return what a user sees on a page their role does not have."""
    return dbc.Container(dbc.Alert(_("Your role does not have access to {what}.", what=what), color="warning",
                                   className="mt-4", id="not-permitted"))


def factory_options(session: Session, user) -> list[dict]:  # noqa: ANN001
    """Return dropdown options for the factories `user` may see."""
    ids = allowed_factory_ids(session, user)
    if not ids:
        return []
    rows = session.execute(
        sa.select(Factory.id, Factory.code, Factory.name).where(Factory.id.in_(ids)).order_by(Factory.name)
    )
    return [{"label": f"{name} ({code})", "value": fid} for fid, code, name in rows]


def factory_picker(page: str, user, selected: int | None = None) -> tuple[dbc.Col, int | None]:  # noqa: ANN001
    """A factory dropdown: fixed for a factory manager, a choice of allowed factories for others."""
    with session_factory()() as s:
        options = factory_options(s, user)
    values = [o["value"] for o in options]
    if selected not in values:
        selected = user.factory_id if user.factory_id in values else (values[0] if values else None)
    from dash import dcc

    col = dbc.Col(
        [
            dbc.Label(_("Factory"), html_for=f"{page}-factory", className="small text-muted mb-0"),
            dcc.Dropdown(id=f"{page}-factory", options=options, value=selected, clearable=False,
                         disabled=user.role == ROLE_FACTORY_MANAGER),
        ],
        xs=12, md=5, lg=4,
    )
    return col, selected


def parse_factory_id(value) -> int | None:  # noqa: ANN001
    """Return an integer factory id from a callback input, or None (lists, objects, 10**30, "²" are None)."""
    return optional_id(value)


def fmt_num(value: float | None, unit: str = "", digits: int = 0) -> str:
    """A number with thousands separators and its unit; an em dash when missing."""
    if value is None:
        return "—"
    text = format_number(value, digits)  # the locale's separators (sw_KE and en_KE: "1,234.5")
    return f"{text} {unit}".strip()


def fmt_t(kg: float | None, digits: int = 1) -> str:
    """Return kilograms shown as tonnes with thousands separators."""
    return fmt_num(None if kg is None else kg / TONNE_KG, "t", digits)


def fmt_pct(share: float | None, digits: int = 0) -> str:
    """A 0..1 share as a percentage."""
    return "—" if share is None else f"{format_number(share * 100, digits)} %"


def fmt_eat(dt: datetime | None, tz: ZoneInfo | None = None, with_date: bool = True) -> str:
    """A UTC instant in local time, labelled with the zone's abbreviation (EAT in Nairobi, the default)."""
    if dt is None:
        return _("never")
    local = dt.astimezone(tz or ZoneInfo("Africa/Nairobi"))
    return local.strftime("%Y-%m-%d %H:%M %Z" if with_date else "%H:%M:%S %Z")


def _id(elem_id: str | None) -> dict:
    return {"id": elem_id} if elem_id else {}


def kpi_card(title: str, value: str, sub: str = "", card_id: str | None = None, color: str | None = None) -> dbc.Col:
    """A small number card."""
    body = [html.Div(title, className="small text-muted"),
            html.Div(value, className="fs-4 fw-semibold", **_id(card_id))]
    if sub:
        body.append(html.Div(sub, className="small text-muted"))
    return dbc.Col(dbc.Card(dbc.CardBody(body), className="h-100 shadow-sm",
                            color=color, outline=color is not None), xs=6, md=4, lg=3, className="mb-3")


def empty_state(message: str, elem_id: str | None = None) -> dbc.Alert:
    """A sentence saying what is missing, instead of a blank chart."""
    return dbc.Alert(message, color="light", className="border text-muted", **_id(elem_id))


def page_header(title: str, subtitle: str = "") -> html.Div:
    """A page title with a muted subtitle."""
    return html.Div([html.H2(title, className="h4 mb-0"), html.Div(subtitle, className="text-muted small mb-3")],
                    className="mt-3")


def ids_in(values: Iterable) -> list[int]:
    """Return integers from a list of callback values, dropping junk."""
    out = []
    for v in values if isinstance(values, (list, tuple)) else ():
        fid = parse_factory_id(v)
        if fid is not None:
            out.append(fid)
    return out

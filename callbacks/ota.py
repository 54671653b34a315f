"""Firmware page callbacks, and the image download route the nodes use (`/ota/<token>/<device>/firmware.bin`)."""

from __future__ import annotations

import base64
import binascii
import io
import logging
import re
from pathlib import Path
from typing import Any

import dash
import dash_bootstrap_components as dbc
import flask
import sqlalchemy as sa
from dash import ALL, Input, Output, State, ctx, html

from callbacks.common import app_config, app_tz, empty_state, fmt_eat, web_user
from callbacks.common import session_factory as app_session_factory
from callbacks.grid import data_grid, grid_controls, grid_size
from callbacks.i18n import N_, format_number, tr_message
from callbacks.i18n import gettext as _
from core.access import AccessDenied, is_admin
from core.fleet import ota
from core.models import FirmwareImage
from core.storage import BlobMissing, cached_store
from core.validation import optional_id

log = logging.getLogger(__name__)

# A node's update state and a campaign's status as core.fleet.ota names them, in words.
STATE_WORDS = {"pending": N_("pending"), "offered": N_("offered"), "downloading": N_("downloading"),
               "trial_boot": N_("trial boot"), "confirmed": N_("confirmed"), "rolled_back": N_("rolled back"),
               "failed": N_("failed"), "aborted": N_("aborted")}
CAMPAIGN_WORDS = {"running": N_("running"), "paused": N_("paused"), "aborted": N_("aborted"), "done": N_("done")}
ACTION_WORDS = {"pause": N_("Pause"), "resume": N_("Resume"), "abort": N_("Abort")}
TARGET_WORDS = {"device": N_("device"), "factory": N_("factory"), "region": N_("region"), "all": N_("all")}
_TARGET = re.compile(r"^(?P<kind>\w+)(?P<value>.*?)(?:, canary (?P<pct>\S+) %)?$")
# A node's update state as the tone word of its CtStatus cell (a key of COLOURS in assets/ct_grid.js):
# grey waiting, blue on its way, dark blue trial boot, green confirmed, amber rolled back, red failed,
# grey aborted. The colour only repeats the state's words.
STATE_TONES = {"pending": "pending", "offered": "running", "downloading": "running", "trial_boot": "submitted",
               "confirmed": "ok", "rolled_back": "draft", "failed": "failed", "aborted": "withdrawn"}
NODES_GRID, INVENTORY_GRID = "ota-campaign-nodes-grid", "ota-inventory-grid"
NODE_COLUMNS = [
    {"field": "node", "headerName": N_("Node"), "minWidth": 90, "maxWidth": 140},
    {"field": "campaign", "headerName": N_("Campaign"), "filter": "agNumberColumnFilter", "type": "numericColumn",
     "grouped": False,
     "minWidth": 80, "maxWidth": 110},
    {"field": "firmware", "headerName": N_("Firmware"), "maxWidth": 130, "priority": 2},
    {"field": "state", "headerName": N_("State"), "cellRenderer": "CtStatus", "minWidth": 100},
    {"field": "detail", "headerName": N_("Detail"), "minWidth": 150, "priority": 3},
    {"field": "since", "headerName": N_("Since (EAT)"), "minWidth": 150, "priority": 2},
]
INVENTORY_COLUMNS = [
    {"field": "node", "headerName": N_("Node"), "minWidth": 90, "maxWidth": 140},
    {"field": "factory", "headerName": N_("Factory"), "maxWidth": 130, "priority": 2},
    {"field": "firmware", "headerName": N_("Firmware"), "minWidth": 100},
    {"field": "since", "headerName": N_("Since (EAT)"), "minWidth": 150, "priority": 2},
]


def _serve_image(session_factory, data_dir: Path) -> Any:  # noqa: ANN001
    """A before-request hook serving OTA images to nodes (no session: the campaign token is the key)."""

    def _hook() -> Any:
        parts = flask.request.path.strip("/").split("/")
        if len(parts) != 4 or parts[0] != "ota" or parts[3] != "firmware.bin" or flask.request.method != "GET":
            return None
        with session_factory() as s:
            image = ota.image_for_download(s, parts[1], parts[2])
            if image is None:
                return flask.Response("no such update", status=404, mimetype="text/plain")
        # From the shared store (core.storage): any web host serves an image uploaded on another.
        store = cached_store(flask.current_app.config["CT_CONFIG"], session_factory, flask.current_app.extensions)
        try:
            data = ota.image_bytes(image, data_dir, store)
        except (FileNotFoundError, BlobMissing, ota.OtaError):
            log.exception("OTA image %s cannot be served", image.version)
            return flask.Response("update image unavailable", status=503, mimetype="text/plain")
        return flask.send_file(io.BytesIO(data), mimetype="application/octet-stream", as_attachment=False,
                               download_name=f"carbontrack-{image.version}.bin", max_age=0)

    return _hook


def state_text(state: str) -> str:
    """A node's update state in words ("rolled back")."""
    return _(STATE_WORDS[state]) if state in STATE_WORDS else state.replace("_", " ")


def target_text(target: str) -> str:
    """A campaign's target as core.fleet.ota writes it ("factory KGW, canary 10 %"), in this request's language."""
    m = _TARGET.match(target)
    if m is None or m.group("kind") not in TARGET_WORDS:
        return target
    text = _(TARGET_WORDS[m.group("kind")]) + m.group("value")
    return _("{target}, canary {pct} %", target=text, pct=m.group("pct")) if m.group("pct") else text


def render_campaigns(views: list[ota.CampaignView], admin: bool, tz: Any) -> Any:
    """One card per campaign: what, where, its status, counts per state, and pause/resume/abort for admins.

    Each node's state is a row of the campaign-node grid below the cards (`campaign_node_rows`).
    """
    if not views:
        return empty_state(_("No update campaigns yet."), "ota-no-campaigns")
    cards = []
    for v in views:
        buttons = []
        if admin:
            for action, allowed in (("pause", ("running",)), ("resume", ("paused",)), ("abort", ("running", "paused"))):
                if v.status in allowed:
                    buttons.append(dbc.Button(_(ACTION_WORDS[action]), size="sm", className="me-1",
                                              color="danger" if action == "abort" else "secondary",
                                              id={"type": "ota-action", "index": f"{v.id}:{action}"}))
        counts = " · ".join(f"{state_text(state)}: {format_number(n)}" for state, n in v.counts.items())
        cards.append(dbc.Card(dbc.CardBody([
            html.Div([html.Strong(_("#{id} firmware {version}", id=v.id, version=v.version)),
                      " → " + _("{target} · {status} · by {user} {when}", target=target_text(v.target),
                                status=_(CAMPAIGN_WORDS.get(v.status, v.status)), user=v.created_by or "—",
                                when=fmt_eat(v.created_at, tz))]),
            html.Div(counts, className="small text-muted", id=f"ota-counts-{v.id}"),
            html.Div(buttons, className="mt-1")]), className="mb-2"))
    return html.Div(cards, id="ota-campaign-list")


def campaign_node_rows(views: list[ota.CampaignView], tz: Any) -> list[dict]:
    """Every campaign's nodes as grid rows (campaign id a number, so it sorts), newest campaign first as listed."""
    rows = []
    for v in views:
        for device, state, detail, at in v.targets:
            rows.append({"key": f"{v.id}:{device}", "node": device, "campaign": v.id, "firmware": v.version,
                         "state": state_text(state), "state__tone": STATE_TONES.get(state, "pending"),
                         "detail": detail or "—", "since": fmt_eat(at, tz)})
    return rows


def inventory_rows(inventory: list[ota.FirmwareRow], tz: Any) -> list[dict]:
    """The firmware each node runs, as grid rows."""
    return [{"key": r.device_id, "node": r.device_id, "factory": r.factory_code, "firmware": r.version or "—",
             "since": fmt_eat(r.since_at, tz) if r.since_at else "—"} for r in inventory]


def _page_grid(grid_id: str, columns: list[dict], export_name: str, search_label: str) -> html.Div:
    """An empty data grid for the page's layout; the refresh callback fills its rows.

    The grid stays on the page while its rows refresh every few seconds: a row keeps its identity
    (`getRowId` on the row's key), so the reader's sort, filters, search and page survive a refresh.
    """
    return data_grid(grid_id, [{**c, "headerName": _(c["headerName"])} for c in columns], [],
                     export_name=export_name, search_label=search_label, extra_options={"getRowId": "params.data.key"})


def campaign_nodes_section() -> html.Div:
    """The campaign-node grid under its heading (hidden until there is a campaign to show)."""
    return html.Div([html.H3(_("Nodes in the campaigns"), className="h6 mt-2"),
                     _page_grid(NODES_GRID, NODE_COLUMNS, "update-campaign-nodes", _("Search campaign nodes"))], id="ota-campaign-nodes", hidden=True)


def inventory_section() -> html.Div:
    """The fleet's firmware inventory grid under its heading."""
    return html.Div([html.H3(_("Firmware inventory"), className="h6 mt-3"),
                     _page_grid(INVENTORY_GRID, INVENTORY_COLUMNS, "firmware-inventory",
                                _("Search the inventory"))], id="ota-inventory", hidden=True)


def register(app: dash.Dash) -> None:
    """Attach the firmware page's callbacks and the image route to `app`."""
    server = app.server
    # Nodes have no session: this hook runs before the sign-in check (core.accounts.auth) and answers
    # only /ota/<token>/<device>/firmware.bin, where the per-campaign token is the authorisation.
    server.before_request_funcs.setdefault(None, []).insert(0, _serve_image(
        server.config["CT_SESSION_FACTORY"], server.config["CT_CONFIG"].data_dir))

    grid_controls(app, NODES_GRID)
    grid_controls(app, INVENTORY_GRID)

    @app.callback(Output("ota-campaigns", "children"), Output(NODES_GRID, "rowData"), Output(NODES_GRID, "style"),
                  Output("ota-campaign-nodes", "hidden"), Output(INVENTORY_GRID, "rowData"),
                  Output(INVENTORY_GRID, "style"), Output("ota-inventory", "hidden"),
                  Input("ota-interval", "n_intervals"), Input("ota-action-feedback", "children"))
    def _render(_n, _fb):  # noqa: ANN001, ANN202
        user, tz = web_user(), app_tz()
        try:
            with app_session_factory()() as s:
                views = ota.campaigns(s, user)
                inventory = ota.firmware_inventory(s, user)
        except AccessDenied:
            return (dbc.Alert(_("Your role does not have access to firmware updates."), color="warning"), [],
                    grid_size(0), True, [], grid_size(0), True)
        nodes, fleet = campaign_node_rows(views, tz), inventory_rows(inventory, tz)
        return (render_campaigns(views, is_admin(user), tz), nodes, grid_size(len(nodes)), not views,
                fleet, grid_size(len(fleet)), False)

    @app.callback(Output("ota-image", "options"), Input("ota-interval", "n_intervals"),
                  Input("ota-upload-feedback", "children"))
    def _images(_n, _fb):  # noqa: ANN001, ANN202
        if not is_admin(web_user()):
            return []
        with app_session_factory()() as s:
            return [{"label": _("{version} ({n} bytes)", version=v, n=format_number(n)), "value": i} for i, v, n in s.execute(
                sa.select(FirmwareImage.id, FirmwareImage.version, FirmwareImage.size_bytes)
                .order_by(FirmwareImage.id.desc()))]

    @app.callback(Output("ota-upload-feedback", "children"), Input("ota-upload", "n_clicks"),
                  State("ota-version", "value"), State("ota-sha256", "value"), State("ota-file", "contents"),
                  prevent_initial_call=True)
    def _upload(_n, version, sha, contents):  # noqa: ANN001, ANN202
        try:
            data = base64.b64decode(str(contents or "").split(",", 1)[-1], validate=True) if contents else b""
        except (binascii.Error, ValueError):
            return dbc.Alert(_("The file could not be read."), color="warning", id="ota-upload-invalid")
        try:
            with app_session_factory()() as s:
                image = ota.store_image(s, web_user(), app_config().data_dir, str(version or ""), data, str(sha or ""),
                                        store=cached_store(app_config(), app_session_factory(),
                                                           flask.current_app.extensions))
        except AccessDenied:
            return dbc.Alert(_("Only administrators may upload firmware."), color="danger", id="ota-refused")
        except ota.OtaError as exc:
            return dbc.Alert(tr_message(str(exc)), color="warning", id="ota-upload-invalid")
        return dbc.Alert(_("Firmware {version} stored ({n} bytes, SHA-256 checked).", version=image.version,
                           n=format_number(image.size_bytes)),
                         color="success", id="ota-upload-ok")

    @app.callback(Output("ota-start-feedback", "children"), Input("ota-start", "n_clicks"),
                  State("ota-image", "value"), State("ota-target-kind", "value"), State("ota-target-value", "value"),
                  State("ota-canary", "value"), prevent_initial_call=True)
    def _start(_n, image_id, kind, value, canary):  # noqa: ANN001, ANN202
        try:
            with app_session_factory()() as s:
                c = ota.create_campaign(s, web_user(), optional_id(image_id) or 0, str(kind or ""), value,
                                        None if canary in (None, "") else canary)
        except AccessDenied:
            return dbc.Alert(_("Only administrators may start updates."), color="danger", id="ota-refused")
        except (ota.OtaError, ValueError, TypeError) as exc:
            return dbc.Alert(tr_message(str(exc)), color="warning", id="ota-start-invalid")
        return dbc.Alert(_("Campaign #{id} started.", id=c.id), color="success", id="ota-start-ok")

    @app.callback(Output("ota-action-feedback", "children"), Input({"type": "ota-action", "index": ALL}, "n_clicks"),
                  prevent_initial_call=True)
    def _action(clicks):  # noqa: ANN001, ANN202
        trigger = ctx.triggered_id
        if not trigger or not any(clicks or []):
            return dash.no_update
        campaign_id, _sep, action = str(trigger.get("index", "")).partition(":")
        try:
            with app_session_factory()() as s:
                c = ota.set_campaign_status(s, web_user(), int(campaign_id), action)
        except AccessDenied:
            return dbc.Alert(_("Only administrators may change campaigns."), color="danger", id="ota-refused")
        except (ota.OtaError, ValueError) as exc:
            return dbc.Alert(tr_message(str(exc)), color="warning", id="ota-action-invalid")
        return html.Div(_("Campaign #{id} is {status}.", id=c.id, status=_(CAMPAIGN_WORDS.get(c.status, c.status))),
                        className="small text-muted", id="ota-action-ok")

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
STATE_COLORS = {"pending": "secondary", "offered": "info", "downloading": "info", "trial_boot": "primary",
                "confirmed": "success", "rolled_back": "warning", "failed": "danger", "aborted": "dark"}


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
    """One card per campaign: counts per state, per-node table, and pause/resume/abort for admins."""
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
        rows = [html.Tr([html.Td(d), html.Td(dbc.Badge(state_text(state), color=STATE_COLORS.get(state))),
                         html.Td(detail or "—", className="small"), html.Td(fmt_eat(at, tz))])
                for d, state, detail, at in v.targets]
        cards.append(dbc.Card(dbc.CardBody([
            html.Div([html.Strong(_("#{id} firmware {version}", id=v.id, version=v.version)),
                      " → " + _("{target} · {status} · by {user} {when}", target=target_text(v.target),
                                status=_(CAMPAIGN_WORDS.get(v.status, v.status)), user=v.created_by or "—",
                                when=fmt_eat(v.created_at, tz))]),
            html.Div(counts, className="small text-muted", id=f"ota-counts-{v.id}"), html.Div(buttons, className="my-1"),
            dbc.Table([html.Thead(html.Tr([html.Th(_(h)) for h in (N_("Node"), N_("State"), N_("Detail"),
                                                                    N_("Since (EAT)"))])),
                       html.Tbody(rows)], size="sm", className="mb-0")]), className="mb-2"))
    return html.Div(cards, id="ota-campaign-list")


def register(app: dash.Dash) -> None:
    """Attach the firmware page's callbacks and the image route to `app`."""
    server = app.server
    # Nodes have no session: this hook runs before the sign-in check (core.accounts.auth) and answers
    # only /ota/<token>/<device>/firmware.bin, where the per-campaign token is the authorisation.
    server.before_request_funcs.setdefault(None, []).insert(0, _serve_image(
        server.config["CT_SESSION_FACTORY"], server.config["CT_CONFIG"].data_dir))

    @app.callback(Output("ota-campaigns", "children"), Output("ota-inventory", "children"),
                  Input("ota-interval", "n_intervals"), Input("ota-action-feedback", "children"))
    def _render(_n, _fb):  # noqa: ANN001, ANN202
        user, tz = web_user(), app_tz()
        try:
            with app_session_factory()() as s:
                views = ota.campaigns(s, user)
                inventory = ota.firmware_inventory(s, user)
        except AccessDenied:
            return dbc.Alert(_("Your role does not have access to firmware updates."), color="warning"), None
        rows = [html.Tr([html.Td(r.device_id), html.Td(r.factory_code), html.Td(r.version or "—"),
                         html.Td(fmt_eat(r.since_at, tz) if r.since_at else "—")]) for r in inventory]
        table = dbc.Table([html.Thead(html.Tr([html.Th(_(h)) for h in (N_("Node"), N_("Factory"), N_("Firmware"),
                                                                        N_("Since (EAT)"))])),
                           html.Tbody(rows)], size="sm", striped=True, id="ota-inventory-table")
        return render_campaigns(views, is_admin(user), tz), table

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

"""Energy and production entry: a monthly form per source with validation, preview and workflow."""

from __future__ import annotations

import json

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from callbacks.common import (
    factory_picker,
    not_permitted,
    page_allowed,
    page_header,
    parse_factory_id,
    session_factory,
    web_user,
)
from callbacks.factory_entry import month_options
from callbacks.i18n import N_, format_month, page_title
from callbacks.i18n import gettext as _
from core.access import can_approve
from core.inventory.entry import SOURCE_LABELS, UNITS_BY_SOURCE, pending_approvals
from core.models import ENERGY_SOURCES

dash.register_page(__name__, path="/factory/entry", title=page_title(N_("Energy entry")), name="Energy entry")


HELP = N_("Leave a field empty when the source is not used. To remove a source already saved for the month, "
        "type 0: an emptied field is never taken as a deletion. Numbers only (816210 or 816,210); "
        "impossible values are refused with a message and nothing is saved.")


def _number_input(id_, placeholder: str | None = None) -> dbc.Input:  # noqa: ANN001
    """A text field for a number: the server sees exactly what was typed and checks it.

    Not type="number": a browser sends nothing for a number it considers invalid (below min,
    above max, not a number), which looked like an empty field and deleted stored data. Not
    debounced: a debounced value reaches the server only on blur, so typing and then clicking
    Submit at once could submit the previous value.
    """
    return dbc.Input(id=id_, type="text", inputmode="decimal", autoComplete="off", placeholder=placeholder,
                     debounce=False)


def dom_id(component_id: dict) -> str:
    """The id a pattern-matching component gets in the page (Dash: JSON with sorted keys), for <label for>."""
    return json.dumps(component_id, sort_keys=True, separators=(",", ":"))


def _checked_input(id_: str, placeholder: str | None = None) -> list:
    """A number field with its own error line under it (shown while the field is marked invalid)."""
    return [_number_input(id_, placeholder), dbc.FormFeedback(id=f"{id_}-error", type="invalid")]


def _source_row(src: str) -> dbc.Row:
    units = UNITS_BY_SOURCE[src]
    qty_id = {"type": "factory-entry-qty", "source": src}
    unit_id = {"type": "factory-entry-unit", "source": src}
    return dbc.Row(
        [
            dbc.Col(dbc.Label(_(SOURCE_LABELS[src]), html_for=dom_id(qty_id)), xs=12, sm=4),
            dbc.Col([_number_input(qty_id, _("not used")),
                     dbc.FormFeedback(id={"type": "factory-entry-qty-error", "source": src}, type="invalid")],
                    xs=7, sm=5),
            dbc.Col([dbc.Label(_("{source}: unit", source=_(SOURCE_LABELS[src])), html_for=dom_id(unit_id), className="visually-hidden"),
                     dcc.Dropdown(id=unit_id,
                                 options=[{"label": u.replace("m3", "m³"), "value": u} for u in units],
                                 value=units[0], clearable=False)], xs=5, sm=3),
        ],
        className="mb-2 align-items-center",
    )


def _pending(user) -> html.Div | None:  # noqa: ANN001
    """Months waiting for approval (HQ and admin): one link each."""
    if not can_approve(user):
        return None
    with session_factory()() as s:
        rows = [(sub.factory_id, sub.month, name) for sub, name in pending_approvals(s, user)]
    if not rows:
        return dbc.Alert(_("No submitted months are waiting for approval."), color="light", className="border",
                         id="factory-entry-pending")
    links = [dcc.Link(f"{name} · {format_month(m, abbreviated=True)}", href=f"/factory/entry?factory={fid}&month={m:%Y-%m}",
                      className="me-3 d-inline-block") for fid, m, name in rows[:12]]
    more = _(" and {n} more", n=len(rows) - 12) if len(rows) > 12 else ""
    return dbc.Alert([html.Strong(_("Waiting for approval ({n}): ", n=len(rows))), *links, more], color="info",
                     id="factory-entry-pending")


def layout(factory: str | None = None, month: str | None = None, **kwargs) -> html.Div:
    """Entry page; `?factory=<id>&month=YYYY-MM` preselect."""
    user = web_user()
    if not page_allowed(user, "/factory/entry"):
        return not_permitted(_("energy entry"))
    picker, _selected = factory_picker("factory-entry", user, parse_factory_id(factory))
    options = month_options()
    values = [o["value"] for o in options]
    chosen = month if month in values else values[1]
    energy = dbc.Card(dbc.CardBody([html.H3(_("Energy used in the month"), className="h6"),
                                    html.P(_(HELP), className="small text-muted", id="factory-entry-help")]
                                   + [_source_row(s) for s in ENERGY_SOURCES]
                                   + [dbc.Row([
                                       dbc.Col(dbc.Label(_("Firewood moisture (%, as received)"),
                                                         html_for="factory-entry-moisture"), xs=12, sm=4),
                                       dbc.Col(_checked_input("factory-entry-moisture", _("e.g. 30")), xs=12, sm=8)],
                                       className="mb-2"),
                                      dbc.Row([
                                       dbc.Col(dbc.Label(_("Firewood stacked density (kg/m³)"),
                                                         html_for="factory-entry-density"), xs=12, sm=4),
                                       dbc.Col(_checked_input("factory-entry-density", _("factory default")),
                                               xs=12, sm=8)], className="mb-2")]),
                      className="shadow-sm mb-3")
    production = dbc.Card(dbc.CardBody([
        html.H3(_("Production"), className="h6"),
        dbc.Row([dbc.Col(dbc.Label(_("Green leaf (kg)"), html_for="factory-entry-green-leaf"), xs=12, sm=4),
                 dbc.Col(_checked_input("factory-entry-green-leaf"), xs=12, sm=8)],
                className="mb-2"),
        dbc.Row([dbc.Col(dbc.Label(_("Made tea (kg)"), html_for="factory-entry-made-tea"), xs=12, sm=4),
                 dbc.Col(_checked_input("factory-entry-made-tea"), xs=12, sm=8)],
                className="mb-2"),
        dbc.Row([dbc.Col(dbc.Label(_("Note"), html_for="factory-entry-note"), xs=12, sm=4),
                 dbc.Col(dbc.Textarea(id="factory-entry-note", maxLength=1000, debounce=False), xs=12, sm=8)]),
    ]), className="shadow-sm mb-3")
    buttons = html.Div([
        html.Div(id="factory-entry-approval"),
        dbc.Button(_("Save draft"), id="factory-entry-save", color="secondary", className="me-2 mb-2"),
        dbc.Button(_("Submit to HQ"), id="factory-entry-submit", color="success", className="me-2 mb-2"),
        dbc.Button(_("Approve"), id="factory-entry-approve", color="primary", className="me-2 mb-2"),
        dbc.InputGroup([dbc.Label(_("Reason for reopening"), html_for="factory-entry-reopen-reason",
                                  className="visually-hidden"),
                        dbc.Input(id="factory-entry-reopen-reason", placeholder=_("reason for reopening")),
                        dbc.Button(_("Reopen"), id="factory-entry-reopen", color="warning")],
                       className="mb-2", id="factory-entry-reopen-group"),
    ])
    return dbc.Container(
        [
            page_header(_("Energy and production entry"),
                        _("One form per month. Save a draft any time; submit when complete; HQ approves. "
                        "A submitted month is corrected by submitting it again.")),
            _pending(user),
            dbc.Row([picker,
                     dbc.Col([dbc.Label(_("Month"), html_for="factory-entry-month", className="small text-muted mb-0"),
                              dcc.Dropdown(id="factory-entry-month", options=options, value=chosen,
                                           clearable=False)], xs=6, md=3),
                     dbc.Col(html.Div(id="factory-entry-status", className="mt-4"), xs=6, md=4)],
                    className="mb-3"),
            dcc.Store(id="factory-entry-saved", data=0),
            # The month's version as loaded: save/submit/approve/return send it back (issue 18).
            dcc.Store(id="factory-entry-version", data=None),
            dcc.Store(id="factory-entry-submit-go", data=0),
            dcc.ConfirmDialog(id="factory-entry-confirm"),
            dbc.Row([
                dbc.Col([energy, production], xs=12, lg=7),
                dbc.Col([
                    dbc.Card(dbc.CardBody([html.H3(_("What this entry implies"), className="h6"),
                                           dcc.Loading(html.Div(id="factory-entry-preview"))]),
                             className="shadow-sm mb-3"),
                    html.Div(id="factory-entry-messages"),
                    buttons,
                    html.Div(id="factory-entry-result"),
                ], xs=12, lg=5),
            ]),
        ],
        fluid=True,
    )

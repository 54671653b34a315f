"""Admin: users, factories, stacks and devices, the emission-factor library (auditors read only)."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from callbacks.admin_nodes import LIFECYCLE_ACTIONS
from callbacks.common import not_permitted, page_allowed, page_header, web_user
from callbacks.i18n import N_, page_title
from callbacks.i18n import gettext as _
from core.models import ROLES
from core.registry.admin import FACTOR_NUMERIC_FIELDS, FACTOR_TEXT_FIELDS

dash.register_page(__name__, path="/admin", title=page_title(N_("Admin")), name="Admin")


def _field(label: str, component, width: int = 3) -> dbc.Col:  # noqa: ANN001
    # The label names its field (for= the field's id): screen readers read it, a click focuses the field.
    return dbc.Col([dbc.Label(label, html_for=getattr(component, "id", None), className="small text-muted mb-0"),
                    component], xs=12, md=width, className="mb-2")


def _users_tab() -> html.Div:
    role_opts = [{"label": r.replace("_", " "), "value": r} for r in ROLES]
    return html.Div([
        html.H3(_("Create a user"), className="h6 mt-3"),
        dbc.Row([
            _field("Username", dbc.Input(id="admin-user-new-name")),
            _field("Full name", dbc.Input(id="admin-user-new-full")),
            _field("Role", dcc.Dropdown(id="admin-user-new-role", options=role_opts, value="factory_manager"), 2),
            _field("Factory (managers)", dcc.Dropdown(id="admin-user-new-factory"), 2),
            _field("Password (8+ characters)", dbc.Input(id="admin-user-new-password", type="password"), 2),
        ]),
        dbc.Button(_("Create user"), id="admin-user-create", color="success", className="mb-3"),
        html.H3(_("Change a user"), className="h6"),
        dbc.Row([
            _field("User", dcc.Dropdown(id="admin-user-pick")),
            _field("Role", dcc.Dropdown(id="admin-user-role", options=role_opts), 2),
            _field("Factory (managers)", dcc.Dropdown(id="admin-user-factory"), 2),
            _field("Active", dcc.Dropdown(id="admin-user-active", options=[{"label": "active", "value": "yes"},
                                                                             {"label": "deactivated", "value": "no"}]),
                   2),
            _field("New password", dbc.Input(id="admin-user-password", type="password"), 3),
        ]),
        dbc.Button(_("Save changes"), id="admin-user-save", color="primary", className="mb-2 me-2"),
        dbc.Button(_("Sign out everywhere"), id="admin-user-signout", color="warning", className="mb-2",
                   title=_("End every session of the picked user now")),
        html.Div(id="admin-user-result"),
        dcc.Loading(html.Div(id="admin-user-table")),
    ])


def _factories_tab() -> html.Div:
    return html.Div([
        dbc.Row([
            _field("Factory", dcc.Dropdown(id="admin-factory-pick"), 4),
            _field("Target (kg CO2e per kg made tea)", dbc.Input(id="admin-factory-target", type="number", min=0)),
            _field("Default firewood density (kg/m³)", dbc.Input(id="admin-factory-density", type="number", min=150,
                                                                 max=1000)),
        ], className="mt-3"),
        dbc.Button(_("Save factory"), id="admin-factory-save", color="primary", className="mb-2"),
        html.Div(id="admin-factory-result"),
        dcc.Loading(html.Div(id="admin-factory-table")),
    ])


def _stacks_tab() -> html.Div:
    return html.Div([
        html.H3(_("Stack parameters (changes are audited)"), className="h6 mt-3"),
        dbc.Row([
            _field("Stack", dcc.Dropdown(id="admin-stack-pick"), 4),
            _field("Diameter (m)", dbc.Input(id="admin-stack-diameter", type="number", min=0.05, max=10), 2),
            _field("Flue moisture (fraction)", dbc.Input(id="admin-stack-moisture", type="number", min=0, max=0.5), 2),
            _field("Velocity profile factor", dbc.Input(id="admin-stack-profile", type="number", min=0.3, max=1.5), 2),
            _field("Analyser basis", dcc.Dropdown(id="admin-stack-dry", options=[{"label": "wet", "value": "wet"},
                                                                                {"label": "dry", "value": "dry"}]), 2),
        ]),
        dbc.Button(_("Save stack"), id="admin-stack-save", color="primary", className="mb-2"),
        html.Div(id="admin-stack-result"),
        *_nodes_section(),
        dcc.Loading(html.Div(id="admin-stack-table")),
    ])


def _node_field(key: str, label: str, component, width: int = 3) -> dbc.Col:  # noqa: ANN001
    """A node form field with the line where the server's refusal of it appears."""
    return dbc.Col([dbc.Label(label, html_for=f"admin-{key}", className="small text-muted mb-0"), component,
                    html.Div(id=f"admin-{key}-error", className="small text-danger", role="alert")],
                   xs=12, md=width, className="mb-2")


def _nodes_section() -> list:
    """Register a node with its commissioning time; move, replace, retire or reactivate one (callbacks/admin_nodes.py)."""
    return [
        html.H3(_("Register a sensor node"), className="h6 mt-3"),
        html.Div(_("The node counts for expected coverage and data availability from its commissioning time, so "
                 "registering it never changes past figures."), className="small text-muted mb-1"),
        dbc.Row([
            _node_field("device-id", "Device id (e.g. KGW-S2)", dbc.Input(id="admin-device-id")),
            _node_field("device-stack", "Stack", dcc.Dropdown(id="admin-device-stack"), 3),
            _node_field("device-interval", "Sample interval (s)",
                        dbc.Input(id="admin-device-interval", type="number", value=60, min=1), 2),
            _node_field("device-commissioned", "Commissioned (EAT, YYYY-MM-DD HH:MM; empty = now)",
                        dbc.Input(id="admin-device-commissioned", placeholder="2026-11-14 09:30"), 2),
            _node_field("device-reason", "Reason", dbc.Input(id="admin-device-reason", maxLength=200), 2),
        ]),
        dbc.Button(_("Register node"), id="admin-device-add", color="success", className="mb-2"),
        html.H3(_("Move, replace or retire a node"), className="h6 mt-3"),
        html.Div(_("History is kept: the old assignment is closed and a new one opened at the effective time."),
                 className="small text-muted mb-1"),
        dbc.Row([
            _node_field("device-pick", "Node", dcc.Dropdown(id="admin-device-pick"), 2),
            _node_field("lifecycle-action", "Change", dcc.Dropdown(id="admin-lifecycle-action", options=[
                {"label": v, "value": k} for k, v in LIFECYCLE_ACTIONS.items()]), 2),
            _node_field("lifecycle-stack", "New stack (move)", dcc.Dropdown(id="admin-lifecycle-stack"), 2),
            _node_field("lifecycle-new-id", "New node id (replace)", dbc.Input(id="admin-lifecycle-new-id"), 2),
            _node_field("lifecycle-interval", "New node's sample interval (s; empty = the old one's)",
                        dbc.Input(id="admin-lifecycle-interval", type="number", min=1), 2),
            _node_field("lifecycle-at", "Effective (EAT, YYYY-MM-DD HH:MM; empty = now)",
                        dbc.Input(id="admin-lifecycle-at", placeholder="2026-11-14 09:30"), 2),
            _node_field("lifecycle-reason", "Reason", dbc.Input(id="admin-lifecycle-reason", maxLength=200), 4),
        ]),
        dbc.Button(_("Apply"), id="admin-lifecycle-apply", color="warning", className="mb-2"),
        html.Div(id="admin-node-result"),
    ]


def _factors_tab() -> html.Div:
    fields = [{"label": f, "value": f} for f in FACTOR_NUMERIC_FIELDS + FACTOR_TEXT_FIELDS + ("year",)]
    return html.Div([
        html.H3(_("Add a version (earlier versions are never changed)"), className="h6 mt-3"),
        dbc.Row([
            _field("Factor", dcc.Dropdown(id="admin-factor-code"), 3),
            _field("Field", dcc.Dropdown(id="admin-factor-field", options=fields), 3),
            _field("New value", dbc.Input(id="admin-factor-value"), 3),
        ]),
        dbc.Button(_("Add version"), id="admin-factor-add", color="success", className="mb-2"),
        html.Div(id="admin-factor-result"),
        dcc.Loading(html.Div(id="admin-factor-table")),
    ])


def layout(**kwargs) -> html.Div:
    """Render the admin page: admins change things; auditors see the same tables read-only."""
    user = web_user()
    if not page_allowed(user, "/admin"):
        return not_permitted("administration")
    note = [] if user.role == "admin" else [dbc.Alert(_("Read-only: your role cannot change anything here."),
                                                      color="info", id="admin-read-only")]
    return dbc.Container(
        [
            page_header(_("Administration"), _("Every change is written to the audit log.")),
            *note,
            dcc.Store(id="admin-changed", data=0),
            # The picked record's version as loaded into its form: a save refused if it changed since (issue 18).
            dcc.Store(id="admin-factory-version"), dcc.Store(id="admin-stack-version"),
            dcc.Store(id="admin-user-version"),
            dbc.Tabs([
                dbc.Tab(_users_tab(), label=_("Users"), tab_id="users"),
                dbc.Tab(_factories_tab(), label=_("Factories"), tab_id="factories"),
                dbc.Tab(_stacks_tab(), label=_("Stacks and devices"), tab_id="stacks"),
                dbc.Tab(_factors_tab(), label=_("Emission factors"), tab_id="factors"),
            ], id="admin-tabs", active_tab="users"),
        ],
        fluid=True,
    )

"""Admin page, sensor nodes (issue 12): register a node with its commissioning time; move, replace, retire or
reactivate one at a stated time with a reason.

Every write goes through core.registry.admin (admin check, validation, audit; the lifecycle rules of
core.fleet.lifecycle); a refusal is shown next to the field it concerns.
"""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
import sqlalchemy as sa
from dash import Input, Output, State, ctx

from callbacks.common import app_tz, fmt_eat, web_user
from callbacks.common import session_factory as app_session_factory
from callbacks.i18n import N_, tr_message
from callbacks.i18n import gettext as _
from core.access import AccessDenied, is_admin
from core.fleet.lifecycle import history, open_assignment
from core.models import Factory, Stack
from core.registry.admin import AdminError, add_device, move_device, replace_device, set_device_active
from core.timeutil import DEFAULT_TZ
from core.validation import FieldError, optional_id, parse_number

# Form fields (component ids without "admin-"), each with an error line under it.
REGISTER_FIELDS = ("device-id", "device-stack", "device-interval", "device-commissioned", "device-reason")
LIFECYCLE_FIELDS = ("device-pick", "lifecycle-action", "lifecycle-stack", "lifecycle-new-id",
                    "lifecycle-interval", "lifecycle-at", "lifecycle-reason")
LIFECYCLE_ACTIONS = {"move": N_("Move to another stack"), "replace": N_("Replace by a new node"), "retire": N_("Retire"),
                     "reactivate": N_("Put back on its stack")}


# Where a refusal belongs: (words in core.registry.admin's / core.fleet.lifecycle's message, field), first match.
_REGISTER_RULES = (("device id:", "device-id"), ("exists already", "device-id"), ("sample interval", "device-interval"),
                   ("stack", "device-stack"), ("effective time", "device-commissioned"),
                   ("in the future", "device-commissioned"), ("reason", "device-reason"))
_LIFECYCLE_RULES = (("pick a node", "device-pick"), ("no such device", "device-pick"),
                    ("pick an action", "lifecycle-action"), ("device id:", "lifecycle-new-id"),
                    ("exists already", "lifecycle-new-id"), ("sample interval", "lifecycle-interval"),
                    ("stack already", "lifecycle-stack"), ("stack", "lifecycle-stack"),
                    ("effective time", "lifecycle-at"), ("in the future", "lifecycle-at"),
                    ("cannot be retired before", "lifecycle-at"), ("cannot be commissioned before", "lifecycle-at"),
                    ("reason", "lifecycle-reason"))


def field_for(form: str, message: str) -> str | None:
    """The form field a refusal concerns (from its wording), None when it concerns the whole change."""
    low = message.lower()
    for needle, fid in _REGISTER_RULES if form == "register" else _LIFECYCLE_RULES:
        if needle in low:
            return fid
    return None


def _num(v: object) -> float | None:
    try:
        return parse_number(v, "Sample interval")
    except FieldError as exc:
        raise AdminError(exc.message) from exc


def _text_id(v: object, what: str) -> str:
    if not isinstance(v, str) or not v or len(v) > 40:
        raise AdminError(f"pick {what}")  # English: tr_message shows it translated
    return v


def register_node(user: Any, values: dict, session_factory: Any, tz: Any = DEFAULT_TZ) -> str:
    """Register a node on a stack from its commissioning time (empty: now); raises AdminError or AccessDenied."""
    if not is_admin(user):
        raise AccessDenied("only admins register nodes")
    stack_id = optional_id(values.get("device-stack"))
    if stack_id is None:
        raise AdminError(N_("Stack: pick the node's stack."))
    interval = values.get("device-interval")
    with session_factory() as s:
        d = add_device(s, user, values.get("device-id"), stack_id, 60.0 if interval in (None, "") else _num(interval),
                       commissioned_at=values.get("device-commissioned"), reason=values.get("device-reason"), tz=tz)
        s.commit()
        row = open_assignment(s, d.id)
        return _("Registered node {id} (sample interval {interval} s), commissioned {when}: it counts for coverage "
                 "and availability from then on.", id=d.id, interval=format(d.sample_interval_s, "g"),
                 when=fmt_eat(row.commissioned_at, tz))


def lifecycle_change(user: Any, values: dict, session_factory: Any, tz: Any = DEFAULT_TZ) -> str:
    """Move, replace, retire or reactivate the picked node at the given time; raises AdminError or AccessDenied."""
    if not is_admin(user):
        raise AccessDenied("only admins change a node's assignment")
    device_id = _text_id(values.get("device-pick"), N_("a node"))
    action = values.get("lifecycle-action")
    if not isinstance(action, str) or action not in LIFECYCLE_ACTIONS:
        raise AdminError(N_("pick an action"))
    at, reason = values.get("lifecycle-at"), values.get("lifecycle-reason")
    with session_factory() as s:
        if action == "move":
            stack_id = optional_id(values.get("lifecycle-stack"))
            if stack_id is None:
                raise AdminError(N_("pick the new stack"))
            d = move_device(s, user, device_id, stack_id, at, reason, tz)
            s.commit()
            st = s.get(Stack, d.stack_id)
            f = s.get(Factory, d.factory_id)
            done = _("moved to {factory} · {stack} (#{id})", factory=f.code, stack=st.name, id=st.id)
        elif action == "replace":
            new_id = values.get("lifecycle-new-id")
            interval = values.get("lifecycle-interval")
            d = replace_device(s, user, device_id, new_id, None if interval in (None, "") else _num(interval), at,
                               reason, tz)
            s.commit()
            done = _("replaced by {id}, which is commissioned on the same stack", id=d.id)
        else:
            d = set_device_active(s, user, device_id, action == "reactivate", at, reason, tz)
            s.commit()
            done = _("back on its stack") if action == "reactivate" else _("retired (its readings are kept)")
        rows = history(s, d.id)
        last = rows[-1] if rows else None
    when = None if last is None else (last.commissioned_at if last.retired_at is None else last.retired_at)
    if when is None:
        return _("Node {id}: {done}.", id=device_id, done=done)
    return _("Node {id}: {done} from {when}.", id=device_id, done=done, when=fmt_eat(when, tz))


def register(app: dash.Dash) -> None:
    """Attach the admin page's node callbacks to `app`."""

    @app.callback(
        Output("admin-node-result", "children"),
        Output("admin-changed", "data", allow_duplicate=True),
        *[Output(f"admin-{f}-error", "children") for f in REGISTER_FIELDS + LIFECYCLE_FIELDS],
        Input("admin-device-add", "n_clicks"), Input("admin-lifecycle-apply", "n_clicks"),
        *[State(f"admin-{f}", "value") for f in REGISTER_FIELDS + LIFECYCLE_FIELDS],
        State("admin-changed", "data"),
        prevent_initial_call=True,
    )
    def _act(_add, _apply, *args):  # noqa: ANN001, ANN002, ANN202
        names = REGISTER_FIELDS + LIFECYCLE_FIELDS
        values = dict(zip(names, args[:len(names)], strict=True))
        before = args[len(names)]
        form = {"admin-device-add": "register", "admin-lifecycle-apply": "lifecycle"}.get(ctx.triggered_id)
        if form is None:
            return (dash.no_update,) * (2 + len(names))
        errors: dict[str, str] = {}
        changed = dash.no_update
        try:
            fn = register_node if form == "register" else lifecycle_change
            text = fn(web_user(), values, app_session_factory(), app_tz())
            msg = dbc.Alert(text, color="success", id="admin-node-ok")
            changed = (before if isinstance(before, int) and not isinstance(before, bool) and 0 <= before < 10**9
                       else 0) + 1
        except AccessDenied as exc:
            msg = dbc.Alert(_("Not allowed: {reason}.", reason=tr_message(str(exc))), color="danger",
                            id="admin-node-denied")
        except (AdminError, ValueError) as exc:
            where = field_for(form, str(exc))  # by the English wording
            if where is not None:
                errors[where] = tr_message(str(exc))
                msg = dbc.Alert(_("Not changed: correct the field marked below."), color="danger", id="admin-node-error")
            else:
                msg = dbc.Alert(tr_message(str(exc)), color="danger", id="admin-node-error")
        reg = [errors.get(f) for f in REGISTER_FIELDS]
        life = [errors.get(f) for f in LIFECYCLE_FIELDS]
        return msg, changed, *reg, *life

    @app.callback(Output("admin-lifecycle-stack", "options"), Input("admin-changed", "data"))
    def _stack_options(_changed):  # noqa: ANN001, ANN202
        user = web_user()
        if user is None or user.role not in ("admin", "auditor") or not user.active:
            return []
        with app_session_factory()() as s:
            rows = s.execute(sa.select(Stack, Factory.code).join(Factory).order_by(Factory.code, Stack.id)).all()
        return [{"label": f"{code} · {st.name} (#{st.id})", "value": st.id} for st, code in rows]

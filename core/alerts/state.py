"""Alert state: firing -> acknowledged -> resolved, with who and when; the in-app list and its badge.

`evaluate` runs every rule and reconciles: a new condition fires an alert; a condition that holds
again clears its `clear_since`; an open alert whose condition is gone resolves once it has stayed
gone for the rule's RESOLVE_AFTER (hysteresis), by "system". A rule that fails (a bug, a
database error) leaves its alerts as they are: no data is not "all clear".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.access import AccessDenied, allowed_factory_ids
from core.alerts.rules import RESOLVE_AFTER, RULE_OUTPUTS, RULES, Condition
from core.audit import record_audit
from core.models import (
    ALERT_ACKNOWLEDGED,
    ALERT_FIRING,
    ALERT_RESOLVED,
    ROLE_ADMIN,
    ROLE_FACTORY_MANAGER,
    ROLE_HQ,
    Alert,
)
from core.timeutil import utcnow

log = logging.getLogger(__name__)
OPEN = (ALERT_FIRING, ALERT_ACKNOWLEDGED)


@dataclass
class Evaluation:
    """What one evaluation changed."""

    fired: list[Alert]
    resolved: list[Alert]
    failed_rules: list[str]


def evaluate(session: Session, now: datetime | None = None, tz: tzinfo | None = None) -> Evaluation:
    """Run every rule and update the alerts; commits."""
    from core.timeutil import DEFAULT_TZ

    now, tz = now or utcnow(), tz or DEFAULT_TZ
    conditions: dict[str, Condition] = {}
    decided: set[str] = set()
    failed = []
    for name, rule in RULES.items():
        try:
            with session.begin_nested():
                found = rule(session, now, tz)
        except Exception:
            log.exception("alert rule %s failed; its alerts are left as they are", name)
            failed.append(name)
            continue
        decided.update(RULE_OUTPUTS.get(name, (name,)))
        for c in found:
            conditions[c.key] = c
    open_alerts = {a.key: a for a in session.scalars(sa.select(Alert).where(Alert.state.in_(OPEN)))}
    fired, resolved = [], []
    for key, c in conditions.items():
        a = open_alerts.get(key)
        if a is None:
            a = Alert(rule=c.rule, key=key, factory_id=c.factory_id, device_id=c.device_id,
                      audience=",".join(c.audience), title=c.title[:300], detail=c.detail, state=ALERT_FIRING,
                      fired_at=now, last_true_at=now)
            session.add(a)
            fired.append(a)
        else:
            a.last_true_at, a.clear_since, a.title, a.detail = now, None, c.title[:300], c.detail
    for key, a in open_alerts.items():
        if key in conditions or a.rule not in decided:
            continue
        a.clear_since = a.clear_since or now
        if now - a.clear_since >= RESOLVE_AFTER.get(a.rule, timedelta(0)):
            a.state, a.resolved_at, a.resolved_by = ALERT_RESOLVED, now, "system"
            resolved.append(a)
    session.commit()
    return Evaluation(fired, resolved, failed)


def _visible(session: Session, user: Any) -> sa.ColumnElement[bool]:
    ids = allowed_factory_ids(session, user)
    scoped = Alert.factory_id.in_(ids) if ids else sa.false()
    if user.role == ROLE_FACTORY_MANAGER:
        return scoped
    return sa.or_(scoped, Alert.factory_id.is_(None))


@dataclass(frozen=True)
class AlertView:
    """One alert as the notification list shows it."""

    id: int
    rule: str
    title: str
    detail: str | None
    state: str
    fired_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None


def list_alerts(session: Session, user: Any, include_resolved: bool = False, limit: int = 200) -> list[AlertView]:
    """Alerts `user` may see (their factories; network-wide ones for HQ, admin, auditor), newest first."""
    if user is None or not getattr(user, "active", False):
        return []
    q = sa.select(Alert).where(_visible(session, user))
    if not include_resolved:
        q = q.where(Alert.state.in_(OPEN))
    rows = session.scalars(q.order_by(Alert.state == ALERT_RESOLVED, Alert.fired_at.desc()).limit(limit))
    return [AlertView(a.id, a.rule, a.title, a.detail, a.state, a.fired_at, a.acknowledged_at, a.acknowledged_by,
                      a.resolved_at, a.resolved_by) for a in rows]


def badge_count(session: Session, user: Any) -> int:
    """Firing (not yet acknowledged) alerts `user` may see: the number on the bell."""
    if user is None or not getattr(user, "active", False):
        return 0
    return session.scalar(sa.select(sa.func.count()).select_from(Alert)
                          .where(_visible(session, user), Alert.state == ALERT_FIRING)) or 0


def acknowledge(session: Session, user: Any, alert_id: int, now: datetime | None = None) -> Alert:
    """Mark an alert acknowledged by `user` (who may see it; auditors only read); commits."""
    if user is None or not getattr(user, "active", False) or user.role not in (ROLE_FACTORY_MANAGER, ROLE_HQ,
                                                                                ROLE_ADMIN):
        raise AccessDenied("your role cannot acknowledge alerts")
    a = session.scalars(sa.select(Alert).where(Alert.id == int(alert_id), _visible(session, user))).one_or_none()
    if a is None:
        raise AccessDenied("no such alert")
    if a.state == ALERT_FIRING:
        now = now or utcnow()
        a.state, a.acknowledged_at, a.acknowledged_by = ALERT_ACKNOWLEDGED, now, user.username
        record_audit(session, user, "acknowledge", "alert", entity_id=str(a.id), factory_id=a.factory_id,
                     field="state", old_value=ALERT_FIRING, new_value=ALERT_ACKNOWLEDGED, detail=a.title, at=now)
        session.commit()
    return a


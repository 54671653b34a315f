"""Notifications: who hears about an alert, on which channel, when — and never twice.

Recipients: the factory's managers for factory alerts, HQ users for network ones (approvals),
admins for node problems (`Condition.audience`). Channels: email over SMTP
(`CARBONTRACK_SMTP_URL`) to `UserContact.email`, and SMS/WhatsApp through an `SmsSender` to
`UserContact.phone`. Kenyan gateways that plug in behind `SmsSender`: Africa's Talking (SMS and
WhatsApp), Advanta SMS or Onfon Media (bulk SMS on Safaricom/Airtel), Infobip or Twilio (WhatsApp
Business API). The shipped `LoggingSmsSender` only logs.

Exactly once: `plan` inserts one `alert_notification` row per (alert, user, channel, occasion)
— a unique key, so a second scheduler inserting the same row fails harmlessly — and `deliver`
claims each pending row with a compare-and-set before sending it. The occasion is `fired` for a
one-off alert, `day:<local date>` for reminder rules, which repeat every local day until the
month is submitted. Quiet hours (the user's local hours) leave a row pending until they end; an
opt-out records the row as `opted_out` and sends nothing.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from email.message import EmailMessage
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.access import allowed_factory_ids
from core.alerts.rules import AUDIENCE_ADMIN, AUDIENCE_FACTORY, AUDIENCE_HQ, REMINDER_RULES
from core.i18n import gettext_in, language_or_default, month_names_in, tr_message
from core.models import (
    ALERT_ACKNOWLEDGED,
    ALERT_FIRING,
    ROLE_ADMIN,
    ROLE_FACTORY_MANAGER,
    ROLE_HQ,
    Alert,
    AlertNotification,
    Factory,
    User,
    UserContact,
)
from core.timeutil import local_date, utcnow

log = logging.getLogger(__name__)
SMTP_TIMEOUT_S = 20
EMAIL = "email"
SMS = "sms"


class SmsSender(Protocol):
    """Sends a short text to a phone number (E.164); raises on failure."""

    def send(self, phone: str, text: str) -> None: ...


@dataclass
class LoggingSmsSender:
    """An SmsSender that only logs (and remembers) what it would send."""

    sent: list[tuple[str, str]] = field(default_factory=list)

    def send(self, phone: str, text: str) -> None:
        """Log the message instead of sending it."""
        log.info("SMS to %s: %s", phone, text)
        self.sent.append((phone, text))


class SmtpMailer:
    """Sends email through the server in CARBONTRACK_SMTP_URL (smtp://, smtps://, smtp+starttls://)."""

    def __init__(self, smtp_url: str, mail_from: str) -> None:
        parts = urlsplit(smtp_url)
        self.scheme, self.host = parts.scheme, parts.hostname or "localhost"
        self.port = parts.port or (465 if self.scheme == "smtps" else 587 if self.scheme == "smtp+starttls" else 25)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.mail_from = mail_from

    def send(self, to: str, subject: str, body: str) -> None:
        """Send one plain-text message; raises on failure."""
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = self.mail_from, to, subject
        msg.set_content(body)
        if self.scheme == "smtps":
            client: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=SMTP_TIMEOUT_S,
                                                    context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=SMTP_TIMEOUT_S)
        with client:
            if self.scheme == "smtp+starttls":
                client.starttls(context=ssl.create_default_context())
            if self.username:
                client.login(self.username, self.password or "")
            client.send_message(msg)


@dataclass
class Senders:
    """The channels available to `deliver`: a mailer (None = no email configured) and an SMS sender."""

    mailer: SmtpMailer | None = None
    sms: SmsSender | None = None
    public_url: str = ""


def recipients(session: Session, alert: Alert) -> list[User]:
    """Active users responsible for `alert`."""
    audience = set((alert.audience or "").split(","))
    conds = []
    if AUDIENCE_FACTORY in audience and alert.factory_id is not None:
        conds.append(sa.and_(User.role == ROLE_FACTORY_MANAGER, User.factory_id == alert.factory_id))
    if AUDIENCE_HQ in audience:
        conds.append(User.role == ROLE_HQ)
    if AUDIENCE_ADMIN in audience:
        conds.append(User.role == ROLE_ADMIN)
    if not conds:
        return []
    return list(session.scalars(sa.select(User).where(User.active.is_(True), sa.or_(*conds)).order_by(User.id)))


def occasion(alert: Alert, now: datetime, tz: tzinfo) -> str:
    """The notification occasion now: once per alert, or once per local day for reminders."""
    return f"day:{local_date(now, tz):%Y-%m-%d}" if alert.rule in REMINDER_RULES else "fired"


def plan(session: Session, now: datetime, tz: tzinfo) -> int:
    """Add the notification rows that open alerts owe now (each at most once); commits; return how many."""
    alerts = list(session.scalars(sa.select(Alert).where(Alert.state.in_((ALERT_FIRING, ALERT_ACKNOWLEDGED)))))
    added = 0
    for a in alerts:
        if a.rule not in REMINDER_RULES and a.state != ALERT_FIRING:
            continue  # acknowledged before anyone was told: nothing to tell
        occ = occasion(a, now, tz)
        have = {(uid, ch) for uid, ch in session.execute(
            sa.select(AlertNotification.user_id, AlertNotification.channel)
            .where(AlertNotification.alert_id == a.id, AlertNotification.occasion == occ))}
        for u in recipients(session, a):
            contact = session.get(UserContact, u.id)
            if contact is None:
                continue
            for channel, address, opted_out in ((EMAIL, contact.email, contact.email_opt_out),
                                                (SMS, contact.phone, contact.sms_opt_out)):
                if not address or (u.id, channel) in have:
                    continue
                row = AlertNotification(alert_id=a.id, user_id=u.id, channel=channel, occasion=occ, address=address,
                                        status="opted_out" if opted_out else "pending", created_at=now)
                try:
                    with session.begin_nested():
                        session.add(row)
                    added += 1
                except IntegrityError:  # another scheduler planned it first
                    continue
                if a.rule in REMINDER_RULES:  # a reminder still held back (quiet hours) is replaced by today's
                    session.execute(sa.update(AlertNotification).where(
                        AlertNotification.alert_id == a.id, AlertNotification.user_id == u.id,
                        AlertNotification.channel == channel, AlertNotification.status == "pending",
                        AlertNotification.occasion != occ).values(status="cancelled",
                                                                  detail="superseded by a newer reminder"))
    session.commit()
    return added


def in_quiet_hours(contact: UserContact | None, now: datetime, tz: tzinfo) -> bool:
    """Whether `now` falls in the user's quiet hours (local; a range may wrap midnight, e.g. 21 to 6)."""
    if contact is None or contact.quiet_from_hour is None or contact.quiet_to_hour is None:
        return False
    h, start, end = now.astimezone(tz).hour, contact.quiet_from_hour, contact.quiet_to_hour
    if start == end:
        return False
    return start <= h < end if start < end else (h >= start or h < end)


# The message around an alert's own title and detail, as catalog entries: the recipient reads it in
# the language they chose in the portal (`User.language`; English when they never chose).
SUBJECT = "[Carbon Track] {title}"
FIRST_SEEN = "First seen {when} UTC. Acknowledge it or see all alerts at {link}."
NO_LINK = "the Alerts page"
WHY = ("You receive this because you are responsible for this factory or network; opt out of a channel on "
       "the Alerts page.")


def alert_words(text: str | None, language: str) -> str:
    """An alert's stored English title or detail (core.alerts.rules) in `language`, month names too."""
    return month_names_in(tr_message(text, language), language)


def message(alert: Alert, public_url: str, language: str | None = None) -> tuple[str, str, str]:
    """(email subject, email body, SMS text) about `alert` in `language` (English if None or unknown)."""
    lang = language_or_default(language)
    title, detail = alert_words(alert.title, lang), alert_words(alert.detail, lang)
    link = f"{public_url.rstrip('/')}/alerts" if public_url else gettext_in(lang, NO_LINK)
    subject = gettext_in(lang, SUBJECT, title=title)
    body = (f"{title}\n\n{detail}\n\n"
            + gettext_in(lang, FIRST_SEEN, when=f"{alert.fired_at:%Y-%m-%d %H:%M}", link=link) + "\n\n"
            + gettext_in(lang, WHY) + "\n")
    return subject, body, title[:300]


def deliver(session: Session, senders: Senders, now: datetime | None = None, tz: tzinfo | None = None) -> int:
    """Send every pending notification that is due (not in quiet hours); return how many were sent."""
    from core.timeutil import DEFAULT_TZ

    now, tz = now or utcnow(), tz or DEFAULT_TZ
    sent = 0
    pending = list(session.scalars(sa.select(AlertNotification).where(AlertNotification.status == "pending")
                                   .order_by(AlertNotification.id)))
    for n in pending:
        alert = session.get(Alert, n.alert_id)
        if alert.state not in (ALERT_FIRING, ALERT_ACKNOWLEDGED):
            session.execute(sa.update(AlertNotification).where(AlertNotification.id == n.id,
                                                               AlertNotification.status == "pending")
                            .values(status="cancelled", detail="resolved before it could be sent"))
            session.commit()
            continue
        if in_quiet_hours(session.get(UserContact, n.user_id), now, tz):
            continue
        claimed = session.execute(sa.update(AlertNotification)
                                  .where(AlertNotification.id == n.id, AlertNotification.status == "pending")
                                  .values(status="sending")).rowcount
        session.commit()
        if not claimed:
            continue  # another scheduler took it
        user = session.get(User, n.user_id)
        subject, body, sms_text = message(alert, senders.public_url, user.language if user else None)
        try:
            if n.channel == EMAIL:
                if senders.mailer is None:
                    raise RuntimeError("no SMTP server configured (CARBONTRACK_SMTP_URL)")
                senders.mailer.send(n.address, subject, body)
            else:
                if senders.sms is None:
                    raise RuntimeError("no SMS sender configured")
                senders.sms.send(n.address, sms_text)
            status, detail = "sent", None
            sent += 1
        except Exception as exc:  # recorded on the row; the alert stays visible in the app
            log.warning("alert %s: %s to %s failed: %s", alert.id, n.channel, n.address, exc)
            status, detail = "failed", f"{type(exc).__name__}: {exc}"[:2000]
        session.execute(sa.update(AlertNotification).where(AlertNotification.id == n.id)
                        .values(status=status, detail=detail, sent_at=utcnow() if status == "sent" else None))
        session.commit()
    return sent


@dataclass(frozen=True)
class ReminderRow:
    """One reminder sent about a month's energy data: to whom, how and when."""

    factory_code: str
    factory_name: str
    month: date
    username: str
    channel: str
    sent_at: datetime


def reminders_sent(session: Session, user: Any, months: Iterable[date] | None = None) -> list[ReminderRow]:
    """Energy-data reminders sent to the factories `user` may see, newest first (HQ overview: who was reminded)."""
    ids = allowed_factory_ids(session, user)
    if not ids:
        return []
    rows = session.execute(
        sa.select(Factory.code, Factory.name, Alert.key, User.username, AlertNotification.channel,
                  AlertNotification.sent_at)
        .join(Alert, Alert.id == AlertNotification.alert_id).join(Factory, Factory.id == Alert.factory_id)
        .join(User, User.id == AlertNotification.user_id)
        .where(Alert.rule.in_(REMINDER_RULES), AlertNotification.status == "sent", Alert.factory_id.in_(ids))
        .order_by(AlertNotification.sent_at.desc())).all()
    wanted = {m.strftime("%Y-%m") for m in months} if months is not None else None
    out = []
    for code, name, key, username, channel, sent_at in rows:
        month_text = key.rsplit(":", 1)[-1]
        if wanted is not None and month_text not in wanted:
            continue
        out.append(ReminderRow(code, name, date(int(month_text[:4]), int(month_text[5:7]), 1), username, channel,
                               sent_at))
    return out


def save_contact(session: Session, user: Any, email: str | None, phone: str | None, email_opt_out: bool,
                 sms_opt_out: bool, quiet_from_hour: int | None, quiet_to_hour: int | None) -> UserContact:
    """Set the signed-in user's own alert contact and preferences (validated); commits."""
    import re

    if user is None or not getattr(user, "active", False):
        raise PermissionError("sign in first")
    email = (email or "").strip() or None
    phone = (phone or "").strip().replace(" ", "") or None
    if email is not None and (len(email) > 200 or not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email)):
        raise ValueError("email: an address like name@ktda.co.ke")
    if phone is not None and not re.fullmatch(r"\+[1-9][0-9]{7,14}", phone):
        raise ValueError("phone: international format, e.g. +254712345678")
    hours = []
    for name, h in (("quiet from", quiet_from_hour), ("quiet until", quiet_to_hour)):
        if h in (None, ""):
            hours.append(None)
            continue
        try:
            value = int(h)
        except (TypeError, ValueError):
            raise ValueError(f"{name}: an hour 0 to 23") from None
        if not 0 <= value <= 23 or value != float(h):
            raise ValueError(f"{name}: an hour 0 to 23")
        hours.append(value)
    if (hours[0] is None) != (hours[1] is None):
        raise ValueError("quiet hours: give both the start and the end hour, or neither")
    contact = session.get(UserContact, user.id) or UserContact(user_id=user.id)
    contact.email, contact.phone = email, phone
    contact.email_opt_out, contact.sms_opt_out = bool(email_opt_out), bool(sms_opt_out)
    contact.quiet_from_hour, contact.quiet_to_hour = hours
    session.add(contact)
    session.commit()
    return contact

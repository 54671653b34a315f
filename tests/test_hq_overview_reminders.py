"""HQ overview: who was reminded to submit energy data, and when (issue 13, deliverable 4)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from callbacks.hq_overview import reminders_table
from core.alerts.notify import ReminderRow
from core.timeutil import DEFAULT_TZ


def _text(component) -> str:  # noqa: ANN001
    if isinstance(component, str):
        return component
    children = getattr(component, "children", None)
    if children is None:
        return ""
    if isinstance(children, (list, tuple)):
        return " ".join(_text(c) for c in children)
    return _text(children)


def test_reminders_table_names_factory_person_channel_and_local_time():
    rows = [ReminderRow("KGW", "Kagwe", date(2026, 11, 1), "kagwe", "email",
                        datetime(2026, 12, 8, 5, 0, tzinfo=UTC))]  # 08:00 in Nairobi (UTC+3)
    text = _text(reminders_table(rows, DEFAULT_TZ))
    for part in ("Kagwe (KGW)", "Nov 2026", "kagwe", "email", "08 Dec 08:00"):
        assert part in text


def test_no_reminders_says_so():
    assert "No energy-data reminders" in _text(reminders_table([], DEFAULT_TZ))

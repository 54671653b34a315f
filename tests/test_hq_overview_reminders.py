"""HQ overview: who was reminded to submit energy data, and when (issue 13, deliverable 4), as a data grid."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import dash_ag_grid as dag

from callbacks.hq_overview import MAX_REMINDERS, REMINDERS_GRID_ID, reminders_grid, reminders_view
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


def _grid(component) -> dag.AgGrid | None:  # noqa: ANN001
    if isinstance(component, dag.AgGrid):
        return component
    children = getattr(component, "children", None)
    for child in children if isinstance(children, (list, tuple)) else [children]:
        found = _grid(child) if child is not None else None
        if found is not None:
            return found
    return None


def test_reminder_rows_name_factory_person_channel_and_local_time():
    rows = [ReminderRow("KGW", "Kagwe", date(2026, 11, 1), "kagwe", "email",
                        datetime(2026, 12, 8, 5, 0, tzinfo=UTC))]  # 08:00 in Nairobi (UTC+3)
    message, grid_rows, hidden = reminders_view(rows, DEFAULT_TZ)
    assert message is None and hidden is False
    # Month and time as text that sorts (YYYY-MM, YYYY-MM-DD HH:MM in local time).
    assert grid_rows == [{"factory": "Kagwe (KGW)", "month": "2026-11", "user": "kagwe", "channel": "email",
                          "sent": "2026-12-08 08:00 EAT"}]


def test_no_reminders_says_so_and_hides_the_grid():
    message, grid_rows, hidden = reminders_view([], DEFAULT_TZ)
    assert "No energy-data reminders" in _text(message) and grid_rows == [] and hidden is True


def test_many_reminders_newest_first_capped_with_a_note():
    sent = datetime(2026, 12, 8, 5, 0, tzinfo=UTC)
    rows = [ReminderRow("KGW", "Kagwe", date(2026, 11, 1), "kagwe", "sms", sent - timedelta(minutes=i))
            for i in range(MAX_REMINDERS + 5)]
    message, grid_rows, _ = reminders_view(rows, DEFAULT_TZ)
    assert len(grid_rows) == MAX_REMINDERS and grid_rows[0]["sent"] == "2026-12-08 08:00 EAT"
    assert f"Showing the {MAX_REMINDERS} newest of {MAX_REMINDERS + 5} reminders." in _text(message)


def test_reminders_grid_in_the_layout_is_hidden_until_rows_come():
    wrap = reminders_grid()
    grid = _grid(wrap)
    assert wrap.hidden is True and grid is not None and grid.id == REMINDERS_GRID_ID and grid.rowData == []
    assert [c["field"] for c in grid.columnDefs] == ["factory", "month", "user", "channel", "sent"]
    assert grid.columnDefs[0]["pinned"] == "left"


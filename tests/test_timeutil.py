"""Local days and months in Africa/Nairobi (UTC+3, no DST) against UTC storage."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from core.timeutil import (
    add_months,
    as_utc,
    days_in_month,
    from_unix,
    iter_months,
    local_date,
    local_day_bounds_utc,
    local_month_bounds_utc,
    month_start,
    parse_month,
    previous_month,
)

NAIROBI = ZoneInfo("Africa/Nairobi")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    "instant, day",
    [
        (utc(2026, 10, 31, 20, 59, 59), date(2026, 10, 31)),  # 23:59:59 EAT
        (utc(2026, 10, 31, 21, 0, 0), date(2026, 11, 1)),  # 00:00 EAT: new day and new month
        (utc(2026, 12, 31, 21, 0, 0), date(2027, 1, 1)),  # new year
        (utc(2026, 11, 28, 0, 0, 0), date(2026, 11, 28)),  # UTC midnight is 03:00 local
        (utc(2028, 2, 28, 21, 0, 0), date(2028, 2, 29)),  # leap day
    ],
)
def test_nairobi_midnight(instant: datetime, day: date) -> None:
    assert local_date(instant, NAIROBI) == day
    assert local_date(instant) == day  # Africa/Nairobi is the default


def test_naive_datetimes_are_taken_as_utc() -> None:
    assert local_date(datetime(2026, 10, 31, 21, 0)) == date(2026, 11, 1)
    assert as_utc(datetime(2026, 1, 1, 12)) == utc(2026, 1, 1, 12)
    assert as_utc(datetime(2026, 1, 1, 15, tzinfo=NAIROBI)) == utc(2026, 1, 1, 12)
    assert as_utc(datetime(2026, 1, 1, 15, tzinfo=timezone(timedelta(hours=3)))).tzinfo is UTC


def test_local_day_bounds() -> None:
    assert local_day_bounds_utc(date(2026, 11, 1), NAIROBI) == (utc(2026, 10, 31, 21), utc(2026, 11, 1, 21))


@pytest.mark.parametrize(
    "month, start, end",
    [
        (date(2026, 11, 1), utc(2026, 10, 31, 21), utc(2026, 11, 30, 21)),
        (date(2026, 11, 17), utc(2026, 10, 31, 21), utc(2026, 11, 30, 21)),  # any day names its month
        (date(2026, 12, 1), utc(2026, 11, 30, 21), utc(2026, 12, 31, 21)),
        (date(2028, 2, 1), utc(2028, 1, 31, 21), utc(2028, 2, 29, 21)),
    ],
)
def test_local_month_bounds_utc(month: date, start: datetime, end: datetime) -> None:
    assert local_month_bounds_utc(month, NAIROBI) == (start, end)


def test_month_bounds_contain_exactly_the_local_month() -> None:
    start, end = local_month_bounds_utc(date(2026, 11, 1))
    assert local_date(start) == date(2026, 11, 1)
    assert local_date(end - timedelta(seconds=1)) == date(2026, 11, 30)
    assert local_date(end) == date(2026, 12, 1)


def test_month_arithmetic() -> None:
    assert month_start(date(2026, 11, 28)) == date(2026, 11, 1)
    assert add_months(date(2026, 11, 1), 2) == date(2027, 1, 1)
    assert add_months(date(2026, 1, 1), -1) == date(2025, 12, 1)
    assert add_months(date(2026, 1, 1), -12) == date(2025, 1, 1)
    assert previous_month(date(2026, 1, 15)) == date(2025, 12, 1)
    assert days_in_month(date(2028, 2, 10)) == 29
    assert days_in_month(date(2026, 2, 10)) == 28
    assert list(iter_months(date(2025, 11, 30), date(2026, 2, 1))) == [
        date(2025, 11, 1), date(2025, 12, 1), date(2026, 1, 1), date(2026, 2, 1)]


def test_from_unix_is_aware_utc() -> None:
    # The golden payload's ts 1764331200 is 2025-11-28T12:00:00Z.
    assert from_unix(1764331200.0) == utc(2025, 11, 28, 12)


@pytest.mark.parametrize("text", ["2026-13", "2026", "Oct 2026", "", "2026-00"])
def test_parse_month_rejects_nonsense(text: str) -> None:
    with pytest.raises(ValueError, match="2026-10"):
        parse_month(text)


def test_parse_month() -> None:
    assert parse_month(" 2026-10 ") == date(2026, 10, 1)

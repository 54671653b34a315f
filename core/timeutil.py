"""Local days and months (CARBONTRACK_TZ, Africa/Nairobi by default) against UTC storage.

Everything is stored in UTC. Every day or month a person sees or a report totals is a *local*
day or month; these helpers are the only place that conversion happens.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

DEFAULT_TZ = ZoneInfo("Africa/Nairobi")
# The one clock of the code: every "now" in core/, callbacks/ and pages/ comes from utcnow(), so a
# test or a replay can set it (set_clock) and the awkward-dates CI run can move it (time-machine).
_clock: Callable[[], datetime] | None = None


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime (from the injected clock when one is set)."""
    return _clock() if _clock is not None else datetime.now(UTC)


def set_clock(clock: Callable[[], datetime] | None) -> Callable[[], datetime] | None:
    """Make `clock` the source of utcnow() (None: the system clock); return the previous one."""
    global _clock
    previous, _clock = _clock, clock
    return previous


def as_utc(dt: datetime) -> datetime:
    """Return `dt` as aware UTC; a naive datetime is taken to be UTC already."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def from_unix(ts: float) -> datetime:
    """Unix seconds -> aware UTC datetime."""
    return datetime.fromtimestamp(ts, UTC)


def local_date(dt: datetime, tz: tzinfo = DEFAULT_TZ) -> date:
    """The local calendar day that the instant `dt` falls on."""
    return as_utc(dt).astimezone(tz).date()


def month_start(d: date) -> date:
    """First day of the month containing `d`."""
    return d.replace(day=1)


def add_months(month: date, n: int) -> date:
    """The first day of the month `n` months after `month` (n may be negative)."""
    index = month.year * 12 + month.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def local_day_bounds_utc(day: date, tz: tzinfo = DEFAULT_TZ) -> tuple[datetime, datetime]:
    """[start, end) of the local day `day`, in UTC."""
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    end_day = day + timedelta(days=1)
    end = datetime(end_day.year, end_day.month, end_day.day, tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def local_month_bounds_utc(month: date, tz: tzinfo = DEFAULT_TZ) -> tuple[datetime, datetime]:
    """[start, end) of the local month containing `month`, in UTC."""
    first = month_start(month)
    start, _ = local_day_bounds_utc(first, tz)
    end, _ = local_day_bounds_utc(add_months(first, 1), tz)
    return start, end


def days_in_month(month: date) -> int:
    """Number of days in the month containing `month`."""
    return (add_months(month_start(month), 1) - month_start(month)).days


def iter_months(first: date, last: date) -> Iterator[date]:
    """Month starts from the month of `first` to the month of `last`, inclusive."""
    m = month_start(first)
    while m <= month_start(last):
        yield m
        m = add_months(m, 1)


def previous_month(today: date) -> date:
    """The first day of the month before the one containing `today`."""
    return add_months(month_start(today), -1)


def parse_month(text: str) -> date:
    """Parse 'YYYY-MM' into the first day of that month; ValueError with a clear message."""
    try:
        year, month = text.strip().split("-")
        return date(int(year), int(month), 1)
    except (ValueError, AttributeError) as exc:
        raise ValueError(f"month must look like 2026-10, got {text!r}") from exc

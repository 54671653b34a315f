"""Reporting periods: a local calendar month, a CBAM quarter (Jan-Mar, Apr-Jun, Jul-Sep, Oct-Dec) or a
calendar year. A period is stored on a `Report` row as its kind (`month`/`quarter`/`year`) and its
first day; its text form is `2026-10`, `2026-Q4` or `2026`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from core.timeutil import add_months, month_start, parse_month

PERIOD_MONTH = "month"
PERIOD_QUARTER = "quarter"
PERIOD_YEAR = "year"
PERIOD_KINDS = (PERIOD_MONTH, PERIOD_QUARTER, PERIOD_YEAR)
MONTHS_IN = {PERIOD_MONTH: 1, PERIOD_QUARTER: 3, PERIOD_YEAR: 12}

_QUARTER_RE = re.compile(r"^\s*(\d{4})-?[Qq]([1-4])\s*$")
_YEAR_RE = re.compile(r"^\s*(\d{4})\s*$")


@dataclass(frozen=True, order=True)
class Period:
    """A reporting period: its kind and its first day (the first of a month)."""

    kind: str
    start: date

    def __post_init__(self) -> None:
        if self.kind not in PERIOD_KINDS:
            raise ValueError(f"unknown period kind {self.kind!r}")
        if self.start.day != 1 or (self.start.month - 1) % MONTHS_IN[self.kind] != 0:
            raise ValueError(f"{self.start} does not start a {self.kind}")

    @property
    def months(self) -> list[date]:
        """The first day of every month in the period."""
        return [add_months(self.start, i) for i in range(MONTHS_IN[self.kind])]

    @property
    def last_month(self) -> date:
        return self.months[-1]

    @property
    def end(self) -> date:
        """The period's last day."""
        return add_months(self.start, MONTHS_IN[self.kind]) - timedelta(days=1)

    @property
    def label(self) -> str:
        """`2026-10`, `2026-Q4` or `2026`."""
        if self.kind == PERIOD_MONTH:
            return f"{self.start:%Y-%m}"
        if self.kind == PERIOD_QUARTER:
            return f"{self.start.year}-Q{(self.start.month - 1) // 3 + 1}"
        return f"{self.start.year}"

    @property
    def title(self) -> str:
        """`October 2026`, `Q4 2026 (October-December)` or `calendar year 2026`."""
        if self.kind == PERIOD_MONTH:
            return f"{self.start:%B %Y}"
        if self.kind == PERIOD_QUARTER:
            return f"Q{(self.start.month - 1) // 3 + 1} {self.start.year} ({self.start:%B}-{self.last_month:%B})"
        return f"calendar year {self.start.year}"

    def next(self) -> Period:
        """The period of the same kind that follows this one."""
        return Period(self.kind, add_months(self.start, MONTHS_IN[self.kind]))


def month_period(month: date) -> Period:
    """The month containing `month`."""
    return Period(PERIOD_MONTH, month_start(month))


def quarter_of(day: date) -> Period:
    """The CBAM quarter containing `day`."""
    return Period(PERIOD_QUARTER, date(day.year, (day.month - 1) // 3 * 3 + 1, 1))


def year_of(day: date) -> Period:
    """The calendar year containing `day`."""
    return Period(PERIOD_YEAR, date(day.year, 1, 1))


def period_of(kind: str, day: date) -> Period:
    """The period of `kind` containing `day`."""
    return {PERIOD_MONTH: month_period, PERIOD_QUARTER: quarter_of, PERIOD_YEAR: year_of}[kind](day)


def parse_period(text: str) -> Period:
    """Parse `YYYY-MM`, `YYYY-Qn` or `YYYY`; ValueError with a readable message otherwise."""
    text = (text or "").strip()
    m = _QUARTER_RE.match(text)
    if m:
        return Period(PERIOD_QUARTER, date(int(m.group(1)), (int(m.group(2)) - 1) * 3 + 1, 1))
    m = _YEAR_RE.match(text)
    if m:
        return Period(PERIOD_YEAR, date(int(m.group(1)), 1, 1))
    try:
        return month_period(parse_month(text))
    except ValueError as exc:
        raise ValueError(f"period {text!r} is not YYYY-MM, YYYY-Qn (quarter) or YYYY (year)") from exc

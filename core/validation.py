"""One validation layer for every write (portal callbacks now, the REST API later).

Every value a person or a crafted request sends passes one of these functions before it reaches
the database: numbers must be finite and inside a stated range, text has a length and character
limit, dates are inside the range the page offers, and the type is checked (a list, an object or
a 30-digit integer where a number is expected is refused, not converted). A refusal raises
`FieldError` naming the field and saying what is allowed, so the page can show it next to the
field and store nothing. Imports nothing but the standard library and core.timeutil.
"""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import UTC, date, datetime, tzinfo

from core.timeutil import parse_month

# Numbers beyond this magnitude are never a real figure in this system (and 10**30 would
# overflow a float conversion or a database integer): refuse them before any arithmetic.
MAX_ABS_NUMBER = 1e15
# Integer ids and small counts: a PostgreSQL integer column holds at most 2**31 - 1.
MAX_INT = 2**31 - 1
# Years a factor, a report or a month may name.
YEAR_RANGE = (1990, 2100)
# Free text (notes, reasons): what a person writes in a sentence or two; the audit log copies it.
NOTE_MAX_CHARS = 1000
SHORT_TEXT_MAX_CHARS = 200
_GROUPED = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?$")
USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,39}$")
USERNAME_RULE = "2–40 letters, digits, '.', '_' or '-', starting with a letter or digit"


class FieldError(ValueError):
    """A value is refused; `field` names the form field, the message says what is allowed."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _fmt(x: float) -> str:
    return f"{x:,.10g}"


def parse_number(value: object, field: str = "value") -> float | None:
    """Return the number in `value` (None when empty); raise FieldError for anything else.

    Accepts numbers and text such as "816,210", "−5" (typographic minus) and "1 200"; refuses
    booleans, lists, objects, NaN, infinities and magnitudes above MAX_ABS_NUMBER.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise FieldError(field, f"{field}: expected a number, got {type(value).__name__}.")
    if isinstance(value, str):
        text = value.strip().replace("\u2212", "-").replace("\u00a0", "").replace(" ", "")
        if text == "":
            return None
        if len(text) > 40:
            raise FieldError(field, f"{field}: not a number.")
        if _GROUPED.match(text):
            text = text.replace(",", "")
        try:
            x = float(text)
        except ValueError:
            raise FieldError(field, f"{field}: not a number.") from None
    elif isinstance(value, int):
        if abs(value) > MAX_ABS_NUMBER:
            raise FieldError(field, f"{field}: the number is too large.")
        x = float(value)
    else:
        x = value
    if math.isnan(x) or math.isinf(x):
        raise FieldError(field, f"{field}: not a number.")
    if abs(x) > MAX_ABS_NUMBER:
        raise FieldError(field, f"{field}: the number is too large.")
    return x


def number_in(value: object, field: str, lo: float, hi: float, unit: str = "", *, lo_open: bool = False,
              required: bool = False) -> float | None:
    """Return a finite number within [lo, hi] (or (lo, hi] with lo_open); None when empty and not required."""
    unit_text = f" {unit}" if unit else ""
    lo_word = "above" if lo_open else "from"
    rule = f"must be {lo_word} {_fmt(lo)} to {_fmt(hi)}{unit_text}"
    x = _parse_with_rule(value, field, rule)
    if x is None:
        if required:
            raise FieldError(field, f"{field}: enter a number.")
        return None
    below = x <= lo if lo_open else x < lo
    if below or x > hi:
        raise FieldError(field, f"{field}: {rule}; got {_fmt(x)}.")
    return x


def _parse_with_rule(value: object, field: str, rule: str) -> float | None:
    """parse_number, with the allowed range in the message when the number is refused."""
    try:
        return parse_number(value, field)
    except FieldError as exc:
        raise FieldError(field, f"{exc.message[:-1]}; {rule}.") from None


def int_in(value: object, field: str, lo: int, hi: int, *, required: bool = False) -> int | None:
    """Return a whole number within [lo, hi]; None when empty and not required."""
    x = _parse_with_rule(value, field, f"must be from {lo} to {hi}")
    if x is None:
        if required:
            raise FieldError(field, f"{field}: enter a whole number.")
        return None
    if not float(x).is_integer():
        raise FieldError(field, f"{field}: must be a whole number.")
    if not lo <= x <= hi:
        raise FieldError(field, f"{field}: must be from {lo} to {hi}; got {_fmt(x)}.")
    return int(x)


def optional_id(value: object) -> int | None:
    """Return a database id from a callback value, or None for anything that is not one (never raises)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 < value <= MAX_INT else None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() and len(value.strip()) <= 10:
        n = int(value.strip())
        return n if 0 < n <= MAX_INT else None
    if isinstance(value, float) and value.is_integer() and 0 < value <= MAX_INT:
        return int(value)
    return None


def text(value: object, field: str, max_chars: int = SHORT_TEXT_MAX_CHARS, *, required: bool = False,
         multiline: bool = False) -> str | None:
    """Return stripped text of at most `max_chars` characters without control characters; None when empty."""
    if value is None:
        if required:
            raise FieldError(field, f"{field}: required.")
        return None
    if not isinstance(value, str):
        raise FieldError(field, f"{field}: expected text, got {type(value).__name__}.")
    out = value.strip()
    if not out:
        if required:
            raise FieldError(field, f"{field}: required.")
        return None
    if len(out) > max_chars:
        raise FieldError(field, f"{field}: at most {max_chars:,} characters; this has {len(out):,}.")
    allowed = "\n\t" if multiline else ""
    for ch in out:
        if ch not in allowed and unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn"):
            raise FieldError(field, f"{field}: contains a control or invisible character ({ord(ch):#06x}).")
    return out


def username(value: object, field: str = "Username") -> str:
    """Return a valid username (USERNAME_RULE) or raise FieldError."""
    name = text(value, field, 40, required=True)
    if not USERNAME_RE.match(name):
        raise FieldError(field, f"{field}: {USERNAME_RULE}.")
    return name


def choice(value: object, field: str, allowed: tuple | list | set | frozenset | dict) -> str:
    """Return `value` when it is one of `allowed` (compared as exact strings), else raise FieldError."""
    if not isinstance(value, str) or value not in allowed:
        raise FieldError(field, f"{field}: pick one of the offered values.")
    return value


def month_in(value: object, field: str, first: date, last: date) -> date:
    """Return the month named "YYYY-MM" when it lies in [first, last] (the months the page offers)."""
    if not isinstance(value, str) or len(value) > 10:
        raise FieldError(field, f"{field}: pick a month.")
    try:
        month = parse_month(value)
    except ValueError:
        raise FieldError(field, f"{field}: pick a month.") from None
    if not first <= month <= last:
        raise FieldError(field, f"{field}: {month:%B %Y} is outside {first:%B %Y} – {last:%B %Y}.")
    return month


def iso_date(value: object, field: str, first: date | None = None, last: date | None = None) -> date | None:
    """Return a YYYY-MM-DD date (None when empty or malformed); clamp nothing, refuse out-of-range."""
    if not isinstance(value, str) or not value or len(value) > 32:
        return None
    try:
        d = date.fromisoformat(value[:10])
    except ValueError:
        return None
    if (first is not None and d < first) or (last is not None and d > last):
        return None
    return d


def local_datetime(value: object, field: str, tz: tzinfo, *, required: bool = False) -> datetime | None:
    """Return the aware UTC instant of a local "YYYY-MM-DD HH:MM" (or "YYYY-MM-DDTHH:MM") in `tz`.

    None when empty (unless `required`); seconds are accepted, offsets and other shapes refused.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise FieldError(field, f"{field}: required.")
        return None
    if not isinstance(value, str) or len(value) > 25:
        raise FieldError(field, f"{field}: expected a local date and time such as 2026-11-14 09:30.")
    try:
        dt = datetime.fromisoformat(value.strip().replace(" ", "T", 1))
    except ValueError:
        raise FieldError(field, f"{field}: expected a local date and time such as 2026-11-14 09:30.") from None
    if dt.tzinfo is not None:
        raise FieldError(field, f"{field}: give the local time without a UTC offset.")
    if not YEAR_RANGE[0] <= dt.year <= YEAR_RANGE[1]:
        raise FieldError(field, f"{field}: the year must lie in {YEAR_RANGE[0]}–{YEAR_RANGE[1]}.")
    return dt.replace(tzinfo=tz).astimezone(UTC)

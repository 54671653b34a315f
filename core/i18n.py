"""The message catalog, without a web request: English (the source) and Swahili.

The Swahili catalog is `translations/sw/LC_MESSAGES/messages.po`, read once with Babel's .po reader
(no compile step). The portal (callbacks/i18n.py) picks the language from the request; code with no
request, such as the alert emails and SMS (core.alerts.notify), names the language itself — the
recipient's choice (`User.language`).

`tr_message(text, language)` translates a message made in English with its values already filled
in ("Firewood must be a number"), by the catalog's exact entry or its `{placeholder}` patterns
("{what} must be a number"); English month names in it become the language's own.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from babel.dates import get_month_names
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
CATALOG_DIR = ROOT / "translations"
DEFAULT_LANGUAGE = "en"
LANGUAGES = {"en": "English", "sw": "Kiswahili"}  # code -> the language's own name
LOCALES = {"en": "en", "sw": "sw_KE"}  # Babel locales (en, not en_KE: en_KE abbreviates September "Sept")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_EN_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
              "November", "December")
_EN_MONTH = re.compile(r"\b(" + "|".join(_EN_MONTHS) + r")\b")


def language_or_default(language: str | None) -> str:
    """`language` if the portal has it, else English (a user who never chose one, an unknown code)."""
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


@lru_cache(maxsize=4)
def catalog(language: str) -> dict[str, str]:
    """Return {English msgid: translation} for `language` (empty for English or a missing catalog)."""
    path = CATALOG_DIR / language / "LC_MESSAGES" / "messages.po"
    if language == DEFAULT_LANGUAGE or not path.exists():
        return {}
    with path.open("rb") as fh:
        cat = read_po(fh, locale=language)
    out: dict[str, str] = {}
    for message in cat:
        if not message.id or message.fuzzy:
            continue
        if isinstance(message.id, tuple):  # a plural entry: singular and plural ids, one form each
            forms = message.string if isinstance(message.string, tuple) else (message.string,)
            for msgid, text in zip(message.id, forms, strict=False):
                if text:
                    out[msgid] = text
        elif message.string:
            out[message.id] = message.string
    return out


@lru_cache(maxsize=4)
def _patterns(language: str) -> list[tuple[re.Pattern[str], str]]:
    """Regexes for the catalog's messages with `{placeholders}`, to translate filled-in English text."""
    out = []
    for msgid, text in catalog(language).items():
        if not _PLACEHOLDER.search(msgid):
            continue
        parts = _PLACEHOLDER.split(msgid)  # literal, name, literal, name, ...
        names = parts[1::2]
        if len(set(names)) != len(names):  # a placeholder used twice: exact matches only
            continue
        regex = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)" for i, p in enumerate(parts))
        literal = sum(len(p) for p in parts[0::2])
        out.append((literal, re.compile(f"^{regex}$", re.DOTALL), text))
    # The most specific pattern first: the most literal text (placeholder names do not count), so
    # "{n} of {total}" never takes "{n} out of control" apart.
    out.sort(key=lambda item: -item[0])
    return [(pattern, text) for _literal, pattern, text in out]


def gettext_in(language: str, msgid: str, /, **values: object) -> str:
    """Return `msgid` in `language`, with `{name}` placeholders filled from `values`."""
    text = catalog(language).get(msgid, msgid) if language != DEFAULT_LANGUAGE else msgid
    return text.format(**values) if values else text


def tr_message(text: str | None, language: str) -> str:
    """Translate a message made in English by its text (exact, or a catalog pattern); else unchanged."""
    if not text:
        return text or ""
    if language == DEFAULT_LANGUAGE:
        return text
    found = catalog(language).get(text)
    if found is not None:
        return found
    for pattern, translation in _patterns(language):
        match = pattern.match(text)
        if match:
            values = {k: tr_message(v, language) for k, v in match.groupdict().items()}
            try:
                return translation.format(**values)
            except (KeyError, IndexError, ValueError):
                return text
    return text


def month_names_in(text: str, language: str) -> str:
    """English month names in `text` ("November 2026", "10 December") in `language`'s own names."""
    if language == DEFAULT_LANGUAGE or not text:
        return text
    names = get_month_names("wide", locale=LOCALES.get(language, language))
    return _EN_MONTH.sub(lambda m: names[_EN_MONTHS.index(m.group(1)) + 1], text)

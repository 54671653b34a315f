"""The portal's languages: English (the source) and Swahili, chosen per user.

`_("English text", name=value)` returns the text in the current request's language, with
`{name}` placeholders filled. The Swahili catalog is `translations/sw/LC_MESSAGES/messages.po`,
read once with Babel's .po reader (no compile step). The language of a request is, in order:
the signed-in user's choice (`app_user.language`), the `ct_lang` cookie (set by the switch, also
for anonymous visitors on the sign-in page), the browser's Accept-Language, else English.

Messages that come from `core` (validation, sign-in) stay English there; the web layer
translates them when it shows them (`tr_message`), by their English text, including messages
with values in them (`"{what} must be a number"` matches "Firewood must be a number").

Numbers and dates: `format_number` uses the locale's symbols from Babel's CLDR data (sw_KE, like
en_KE, groups thousands with "," and marks decimals with "."), `format_month` gives month names
in the language (Mei 2026, Februari).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import flask
from babel.dates import format_date
from babel.numbers import get_decimal_symbol, get_group_symbol

from core.i18n import CATALOG_DIR, DEFAULT_LANGUAGE, LANGUAGES, LOCALES, catalog  # noqa: F401 - re-exported
from core.i18n import tr_message as core_tr_message

COOKIE = "ct_lang"
COOKIE_MAX_AGE = 365 * 24 * 3600


def current_language() -> str:
    """Return the language of this request ("en" or "sw"); English outside a request."""
    if not flask.has_request_context():
        return DEFAULT_LANGUAGE
    cached = flask.g.get("ct_language")
    if cached:
        return cached
    language = None
    try:
        from flask_login import current_user

        if current_user.is_authenticated:
            language = getattr(current_user, "language", None)
    except Exception:  # no login manager (plain Flask tests)
        language = None
    if language not in LANGUAGES:
        language = flask.request.cookies.get(COOKIE)
    if language not in LANGUAGES:
        language = flask.request.accept_languages.best_match(list(LANGUAGES)) or DEFAULT_LANGUAGE
    flask.g.ct_language = language
    return language


def gettext(msgid: str, /, **values: object) -> str:
    """Return `msgid` in the current language, with `{name}` placeholders filled from `values`."""
    text = catalog(current_language()).get(msgid, msgid) if current_language() != DEFAULT_LANGUAGE else msgid
    return text.format(**values) if values else text


_ = gettext


def N_(msgid: str) -> str:  # noqa: N802 - the gettext convention
    """Mark `msgid` for the catalog without translating it (module constants, translated when shown)."""
    return msgid


def ngettext(singular: str, plural: str, n: int, /, **values: object) -> str:
    """Return the singular or plural form for `n` (English and Swahili both: one, other), `{n}` filled."""
    return gettext(singular if n == 1 else plural, n=n, **values)


def tr_message(text: str | None, language: str | None = None) -> str:
    """Translate a message made in `core` by its English text (exact, or a catalog pattern); else unchanged."""
    return core_tr_message(text, language or current_language())


def locale() -> str:
    """Return the Babel locale of this request (en_KE or sw_KE)."""
    return LOCALES.get(current_language(), LOCALES[DEFAULT_LANGUAGE])


def format_number(value: float, digits: int = 0) -> str:
    """A number with the locale's thousands and decimal symbols, rounded as Python rounds floats.

    The digits come from Python's own formatting (so English output never changes); only the
    symbols come from the locale's CLDR data.
    """
    text = f"{value:,.{digits}f}"
    loc = locale()
    group, decimal = get_group_symbol(loc), get_decimal_symbol(loc)
    if (group, decimal) == (",", "."):
        return text
    return text.replace(",", "\0").replace(".", decimal).replace("\0", group)


def format_month(month: date, abbreviated: bool = False) -> str:
    """A month as "May 2026" / "Mei 2026" (abbreviated: "Aug 2026" / "Ago 2026", CLDR's short names)."""
    if current_language() == DEFAULT_LANGUAGE:  # exactly as before (strftime, C locale)
        return month.strftime("%b %Y" if abbreviated else "%B %Y")
    return format_date(month, "MMM y" if abbreviated else "MMMM y", locale=locale())


def format_month_range(months: Sequence[date]) -> str:
    """'Mar 2026 – Aug 2026', or 'Mar 2026' for one month ('' for none), in the language."""
    if not months:
        return ""
    a, b = format_month(months[0], abbreviated=True), format_month(months[-1], abbreviated=True)
    return a if a == b else f"{a} – {b}"


def format_day_month(day: date) -> str:
    """A day of the year as "06 Dec" / "06 Des" (a date whose year is plain from the page)."""
    if current_language() == DEFAULT_LANGUAGE:
        return f"{day:%d %b}"
    return format_date(day, "dd MMM", locale=locale())


def format_day(day: date) -> str:
    """A date as "1 February 2026" / "1 Februari 2026"."""
    if current_language() == DEFAULT_LANGUAGE:
        return f"{day.day} {day:%B %Y}"
    return format_date(day, "d MMMM y", locale=locale())


def page_title(name: str):  # noqa: ANN201 - Dash calls it with the page's path variables
    """A page's browser-tab title in the request's language ("History · Carbon Track" / "Historia · Carbon
    Track"): Dash pages accept a function as `title` and call it for each request."""

    def title(**_path_variables: object) -> str:
        return f"{gettext(name)} · Carbon Track" if name else "Carbon Track"

    return title


def graph_config(**extra: object) -> dict:
    """A dcc.Graph's config in this request's language: Plotly's Swahili locale (month and day names
    on date axes, toolbar tooltips; assets/plotly_locale_sw.js) when the page is in Swahili."""
    config: dict = {"displaylogo": False, **extra}
    if current_language() != DEFAULT_LANGUAGE:
        config["locale"] = current_language()
    return config


def html_lang() -> str:
    """The value of `<html lang>` for this request."""
    return current_language()


def switch_form(csrf: str, next_path: str = "") -> str:
    """The language switch as plain HTML (the sign-in page): one POST button per other language."""
    import html

    buttons = "".join(
        f'<button class="btn btn-link btn-sm p-0 ms-2" type="submit" name="language" value="{code}" '
        f'id="lang-{code}" lang="{code}">{html.escape(name)}</button>'
        for code, name in LANGUAGES.items() if code != current_language()
    )
    return (f'<form method="post" action="/language" id="language-form" class="text-end mb-2">'
            f'<input type="hidden" name="csrf" value="{html.escape(csrf)}">'
            f'<input type="hidden" name="next" value="{html.escape(next_path)}">{buttons}</form>')


def init_i18n(server: flask.Flask) -> None:
    """Add the language switch's route: POST /language (csrf, language, next) -> back to the page.

    Stored on the signed-in user (so it follows them to any browser and across sign-ins) and in a
    cookie (anonymous visitors: the sign-in page, and the page after signing out).
    """
    import secrets

    from core.accounts.auth import safe_next
    from core.accounts.users import set_language

    @server.route("/language", methods=["POST"])
    def set_language_route():  # noqa: ANN202
        form = flask.request.form
        language = form.get("language", "")
        sent, expected = form.get("csrf", ""), flask.session.get("csrf", "")
        target = safe_next(form.get("next") or _referrer_path())
        if language not in LANGUAGES or not expected or not secrets.compare_digest(sent, expected):
            return flask.redirect(target)
        from flask_login import current_user

        if current_user.is_authenticated:
            with server.config["CT_SESSION_FACTORY"]() as s:
                set_language(s, current_user.id, language)
                s.commit()
        resp = flask.redirect(target)
        resp.set_cookie(COOKIE, language, max_age=COOKIE_MAX_AGE, httponly=True, samesite="Lax",
                        secure=bool(server.config.get("SESSION_COOKIE_SECURE")) or flask.request.is_secure)
        return resp


def _referrer_path() -> str:
    """The path (and query) of the page the switch was used on, from the same-origin Referer."""
    from urllib.parse import urlsplit

    ref = urlsplit(flask.request.referrer or "")
    if ref.netloc and ref.netloc != flask.request.host:
        return "/"
    return ref.path + (f"?{ref.query}" if ref.query else "") if ref.path else "/"

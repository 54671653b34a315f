"""Swahili (issue 17 item 5): the catalog covers every string, the switch is kept per user, locale formatting."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po
from web_helpers import NOW, PASSWORDS, login, logout, make_web_db, web_config

import core.accounts.auth as auth
from app import create_app
from callbacks import i18n
from core.models import User

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "translations" / "sw" / "LC_MESSAGES" / "messages.po"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def used_msgids() -> dict[str, str]:
    """Every msgid in a _(), gettext(), ngettext() or N_() call of the web layer -> where it is."""
    found: dict[str, str] = {}
    files = [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py")), *sorted((ROOT / "callbacks").glob("*.py"))]
    for path in files:
        for lineno, msg, _comments, _ctx in extract_from_file("python", str(path), keywords=KEYWORDS):
            for m in msg if isinstance(msg, tuple) else (msg,):
                if m:
                    found.setdefault(m, f"{path.name}:{lineno}")
    return found


def test_the_catalog_holds_each_msgid_once():
    """Branches that add entries merge with `merge=union` (.gitattributes), which can keep an entry twice;
    the .po reader would silently keep the last one. Each msgid (with its plural) must appear once."""
    seen: dict[str, int] = {}
    key: list[str] = []
    for line in PO.read_text(encoding="utf-8").splitlines() + [""]:
        if line.startswith(("msgid ", "msgid_plural ")) or (key and line.startswith('"')):
            key.append(line)
            continue
        if key:
            text = "\n".join(key)
            if text != 'msgid ""':
                seen[text] = seen.get(text, 0) + 1
            key = []
    assert len(seen) > 900
    assert {k: n for k, n in seen.items() if n > 1} == {}


def test_every_msgid_has_a_swahili_translation():
    with PO.open("rb") as fh:
        catalog = {m.id: m.string for m in read_po(fh, locale="sw") if m.id}
    used = used_msgids()
    assert len(used) > 200  # the extraction really ran over the pages
    missing = {m: where for m, where in used.items() if not catalog.get(m)}
    assert not missing, f"no Swahili for: {missing}"
    # The placeholders survive translation (a missing {what} would raise or lose the value).
    bad = {m: catalog[m] for m in used if set(PLACEHOLDER.findall(m)) != set(PLACEHOLDER.findall(catalog[m]))}
    assert not bad, bad


@pytest.fixture
def web(tmp_path, monkeypatch):
    monkeypatch.setattr(auth, "FAILURE_DELAY_S", 0.0)
    auth.IP_THROTTLE.reset()
    engine, Session, fx, url = make_web_db(tmp_path / "i18n.db")  # noqa: N806
    app = create_app(web_config(url, tmp_path), Session)
    yield app, Session
    engine.dispose()


def _csrf(client) -> str:  # noqa: ANN001
    with client.session_transaction() as sess:
        return sess["csrf"]


def _layout_text(client) -> str:  # noqa: ANN001
    return client.get("/_dash-layout").get_data(as_text=True)


def test_switch_to_swahili_is_kept_on_the_user_across_sign_in(web):
    app, Session = web  # noqa: N806
    client = app.server.test_client()
    assert login(client, "kagwe").status_code == 302
    shell = _layout_text(client)
    assert '"Live"' in shell and '"Sign out"' in shell  # English by default
    assert 'lang="en"' in client.get("/factory/live").get_data(as_text=True)

    resp = client.post("/language", data={"csrf": _csrf(client), "language": "sw", "next": "/factory/history"})
    assert resp.status_code == 302 and resp.headers["Location"] == "/factory/history"
    with Session() as s:
        assert s.scalar(sa.select(User.language).where(User.username == "kagwe")) == "sw"
    shell = _layout_text(client)
    for word in ("Moja kwa moja", "Kuingiza nishati", "Historia", "Ripoti", "Toka", "meneja wa kiwanda"):
        assert word in shell, word
    assert '"Sign out"' not in shell
    assert 'lang="sw"' in client.get("/factory/live").get_data(as_text=True)

    # Page text, rendered in this user's request: the live page and its "not allowed" answer.
    with client:
        client.get("/factory/live")
        from pages import factory_live, hq_overview

        live = str(factory_live.layout())
        assert "Moja kwa moja" in live and "Vitambuzi" in live and "Kiwanda" in live
        assert "Jukumu lako halina ruhusa ya kufikia muhtasari wa makao makuu." in str(hq_overview.layout())

    # Signed out, then in again from a fresh browser (no cookie): the choice is the user's.
    logout(client)
    fresh = app.server.test_client()
    assert "Ingia" not in fresh.get("/login").get_data(as_text=True)  # anonymous, no cookie: English
    assert login(fresh, "kagwe").status_code == 302
    assert "Moja kwa moja" in _layout_text(fresh)
    # Another user is not affected.
    other = app.server.test_client()
    login(other, "hq")
    assert '"Overview"' in _layout_text(other)


def test_anonymous_language_from_the_browser_and_the_cookie(web):
    app, _ = web
    client = app.server.test_client()
    page = client.get("/login", headers={"Accept-Language": "sw-KE,sw;q=0.9,en;q=0.5"}).get_data(as_text=True)
    assert 'lang="sw"' in page and ">Ingia<" in page and "Jina la mtumiaji" in page
    page = client.get("/login").get_data(as_text=True)
    assert 'lang="en"' in page and ">Sign in<" in page
    # The switch on the sign-in page sets a cookie; a wrong password answers in Swahili.
    resp = client.post("/language", data={"csrf": _csrf(client), "language": "sw", "next": "/login"})
    assert resp.status_code == 302
    page = client.get("/login").get_data(as_text=True)
    assert ">Ingia<" in page
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    bad = client.post("/login", data={"csrf": token, "username": "kagwe", "password": "nope", "next": "/"})
    assert "Jina la mtumiaji au nenosiri si sahihi" in bad.get_data(as_text=True)
    # A user who never chose follows the cookie; the right password still works.
    assert client.post("/login", data={"csrf": token, "username": "kagwe", "password": PASSWORDS["kagwe"],
                                       "next": "/"}).status_code == 302
    assert "Moja kwa moja" in _layout_text(client)


def test_switch_refuses_a_wrong_token_or_language(web):
    app, Session = web  # noqa: N806
    client = app.server.test_client()
    login(client, "hq")
    client.post("/language", data={"csrf": "forged", "language": "sw"})
    client.post("/language", data={"csrf": _csrf(client), "language": "fr"})
    with Session() as s:
        assert s.scalar(sa.select(User.language).where(User.username == "hq")) is None
    assert '"Overview"' in _layout_text(client)
    # An off-site `next` is not followed.
    resp = client.post("/language", data={"csrf": _csrf(client), "language": "sw", "next": "//evil.example/"})
    assert resp.headers["Location"] == "/"


def test_core_messages_are_translated_when_shown():
    # Field names and messages from core.validation / core.inventory.entry, by their English text.
    assert i18n.tr_message("Firewood: not a number.", "sw") == "Kuni: si namba."
    assert i18n.tr_message("Made tea: must be from 0 to 5; got 7.", "sw") == "Chai iliyotengenezwa: lazima iwe kati ya 0 na 5; imepokea 7."
    assert i18n.tr_message("Firewood: not a number.", "en") == "Firewood: not a number."
    assert i18n.tr_message("Something the catalog does not know.", "sw") == "Something the catalog does not know."
    wait = "Wrong username or password, or the account is not active. After repeated failures, wait 15 seconds before trying again."
    assert i18n.tr_message(wait, "sw").endswith("subiri sekunde 15 kabla ya kujaribu tena.")


def test_numbers_and_months_for_the_locale():
    from babel.numbers import format_decimal

    from callbacks.common import fmt_num, fmt_pct

    flask_app = __import__("flask").Flask("t")
    with flask_app.test_request_context(headers={"Accept-Language": "sw"}):
        assert i18n.current_language() == "sw"
        # sw_KE groups thousands with "," and marks decimals with "." (CLDR), like en_KE.
        assert fmt_num(1234567.891, "t", 2) == "1,234,567.89 t"
        assert format_decimal(1234567.89, locale="sw_KE") == "1,234,567.89"
        assert fmt_pct(0.125, 1) == "12.5 %"
        assert i18n.format_month(date(2026, 5, 1)) == "Mei 2026"
        assert i18n.format_day(date(2026, 2, 1)) == "1 Februari 2026"
        assert i18n.format_month(date(2026, 1, 1)) == "Januari 2026"
    with flask_app.test_request_context():
        assert i18n.current_language() == "en"
        assert i18n.format_month(date(2026, 5, 1)) == "May 2026"
        assert fmt_num(1234567.891, "t", 2) == "1,234,567.89 t"
    # Outside a request (plain-function tests): English.
    assert i18n.gettext("Sign out") == "Sign out"
    assert NOW.year == 2026


@pytest.mark.browser
@pytest.mark.clock_independent
def test_browser_switches_to_swahili_and_back(dash_duo, tmp_path, sqlite_url, monkeypatch):
    import socket

    from selenium.webdriver.common.by import By
    from web_helpers import build_small_db

    from core.db import make_engine, make_session_factory
    from core.timeutil import utcnow

    monkeypatch.setattr(auth, "FAILURE_DELAY_S", 0.0)
    auth.IP_THROTTLE.reset()
    engine = make_engine(sqlite_url)
    Session = make_session_factory(engine)  # noqa: N806
    build_small_db(Session, now=utcnow())
    app = create_app(web_config(sqlite_url, tmp_path), Session)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dash_duo.server.port = port
    dash_duo.start_server(app, navigate=False, port=port)
    base = dash_duo.server.url.rstrip("/")
    driver = dash_duo.driver

    driver.get(base + "/login")
    dash_duo.wait_for_element("#lang-sw").click()  # the switch on the sign-in page (a cookie)
    dash_duo.wait_for_contains_text("#login-submit", "Ingia")
    dash_duo.find_element("#login-username").send_keys("kagwe")
    dash_duo.find_element("#login-password").send_keys(PASSWORDS["kagwe"])
    dash_duo.find_element("#login-submit").click()
    dash_duo.wait_for_contains_text("#nav-factory-live", "Moja kwa moja")
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "sw"
    dash_duo.wait_for_contains_text("#nav-logout", "Toka")

    dash_duo.wait_for_element("#nav-lang-en").click()  # back to English: stored on the user
    dash_duo.wait_for_contains_text("#nav-factory-live", "Live")
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    dash_duo.wait_for_element("#nav-lang-sw").click()
    dash_duo.wait_for_contains_text("#nav-factory-history", "Historia")
    dash_duo.wait_for_contains_text(".h4", "Moja kwa moja")  # the page header too
    with Session() as s:
        assert s.scalar(sa.select(User.language).where(User.username == "kagwe")) == "sw"
    engine.dispose()


# Where the portal shows messages made in core (validation of every form, the entry workflow, access),
# and the alerts' titles and details, which the Alerts page, the emails and the SMS show.
CORE_MESSAGE_FILES = ("core/validation.py", "core/inventory/entry.py", "core/alerts/rules.py")


def core_messages(path: Path) -> list[tuple[int, str]]:
    """Every message a core module raises or records for a person, as a sample with each value set to 7.

    Messages are the text of `FieldError`, `EntryError` and `AccessDenied`, of `refuse(field, text)`,
    of what is appended to `warnings`/`errors`, and an alert `Condition`'s title and detail; f-strings
    are filled with "7" for each value.
    """
    import ast

    def sample(node: ast.AST) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.JoinedStr):
            return "".join(v.value if isinstance(v, ast.Constant) else "7" for v in node.values)
        return None

    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        fn = node.func
        name = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")
        args: list[ast.AST] = []
        if name == "refuse" and len(node.args) >= 2:
            args = [node.args[1]]
        elif name in ("EntryError", "AccessDenied") and node.args:
            args = [node.args[0]]
        elif name == "FieldError" and node.args:
            args = [node.args[-1]]
        elif name == "Condition":  # core.alerts.rules: (rule, key, title, detail, ...)
            args = node.args[2:4]
        elif name == "append" and isinstance(fn, ast.Attribute) and (
                getattr(fn.value, "attr", None) in ("warnings", "errors") or getattr(fn.value, "id", None) == "out"):
            args = node.args[:1]
        for arg in args:
            text = sample(arg)
            # Messages made only of values ("7: 7.") carry no words of their own.
            if text and re.search(r"[A-Za-z]{3}", text.replace("7", "")):
                out.append((node.lineno, text))
    return out


def test_every_core_message_the_portal_shows_has_swahili():
    found = {f"{name}:{line}": text for name in CORE_MESSAGE_FILES for line, text in core_messages(ROOT / name)}
    assert len(found) > 40  # the scan really found the validation and workflow messages
    untranslated = {where: text for where, text in found.items() if i18n.tr_message(text, "sw") == text}
    assert not untranslated, untranslated


def test_every_catalog_pattern_comes_back_through_itself():
    """Fill each {placeholder} entry's values with a neutral word and translate the English back: the
    entry itself must win, not a more general one ("{n} of {total}" must not take "{n} out of control")."""
    cat = i18n.catalog("sw")
    wrong = {}
    for msgid, text in cat.items():
        names = PLACEHOLDER.findall(msgid)
        if not names or len(set(names)) != len(names) or "%{" in msgid:  # "%{y}": Plotly's hover template
            continue
        values = {name: f"Q{k}Q" for k, name in enumerate(names)}
        got = i18n.tr_message(msgid.format(**values), "sw")
        if got != text.format(**values):
            wrong[msgid] = got
    assert not wrong, wrong

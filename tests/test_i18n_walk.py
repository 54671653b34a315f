"""Every page in Swahili shows no English (issue 17, item 5), found in a real browser.

Each role's user is set to Swahili; headless Chromium signs in and opens every page of the role's
menu (as tests/test_walk_pages.py does), then reads what a person sees: the page's visible text
(headings, labels, buttons, grid headers and cells, alerts), the placeholders, titles and
aria-labels, and the text drawn in the charts (titles, axis titles and tick labels, legends,
annotations). Any word of that text that is an English word of the portal's vocabulary and not a
word the Swahili catalog itself uses is reported with the sentence it sits in.

The English vocabulary is every word of the catalog's English side (the msgids) plus the English
month and weekday names (Plotly's date axes, hand-formatted dates); the Swahili side is every word
of the catalog's translations (which keep units and names such as "CO2", "kg", "Scope", "KTDA").
Data (factory names, node ids, usernames, numbers) are not words of the English vocabulary.
"""

from __future__ import annotations

import re
import time

import pytest
import sqlalchemy as sa
from babel.messages.pofile import read_po
from browser_walk import go
from test_walk_pages import ROLES, role_pages, sign_in, small_site_db
from test_web_browser import free_port
from web_helpers import PASSWORDS, web_config

from app import create_app
from callbacks.i18n import CATALOG_DIR
from core.models import User

pytestmark = pytest.mark.browser
WORD = re.compile(r"[A-Za-z][A-Za-z'’]+")
MONTHS_AND_DAYS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December", "Jan", "Feb", "Mar", "Apr", "Jun", "Jul", "Aug", "Sep", "Sept", "Oct", "Nov", "Dec", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
# What a person reads on the page: visible text, placeholders/titles/aria-labels, chart text.
PAGE_TEXT_JS = """
const out = [];
const main = document.getElementById('_pages_content') || document.body;
// Recorded data marked translate="no" / .notranslate (the audit log's values) is not the portal's text.
let text = document.body.innerText;
for (const el of document.querySelectorAll('[translate="no"], .notranslate')) {
  const t = el.innerText;
  if (t) text = text.split(t).join(' ');
}
out.push(text);
for (const el of document.querySelectorAll('[placeholder], [title], [aria-label]')) {
  if (el.closest('.modebar')) continue;  // Plotly's toolbar: its own tooltips
  for (const a of ['placeholder', 'title', 'aria-label']) { const v = el.getAttribute(a); if (v) out.push(v); }
}
for (const t of main.querySelectorAll('.js-plotly-plot svg text')) out.push(t.textContent);
return out.join('\\n');
"""


def _catalog_words() -> tuple[set[str], set[str]]:
    with (CATALOG_DIR / "sw" / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        cat = read_po(fh, locale="sw")
    english: set[str] = set(MONTHS_AND_DAYS)
    swahili: set[str] = set()
    for m in cat:
        if not m.id:
            continue
        for text in m.id if isinstance(m.id, tuple) else (m.id,):
            english.update(w.lower() for w in WORD.findall(re.sub(r"\{\w+\}", " ", text)))
        for text in m.string if isinstance(m.string, tuple) else (m.string,):
            swahili.update(w.lower() for w in WORD.findall(re.sub(r"\{\w+\}", " ", text or "")))
    english = {w.lower() for w in english}
    # Data, not text: the test users' names ("admin · msimamizi" is a username and its role), and
    # CLDR's Swahili month abbreviations (Jan, Feb, Apr, Jun, Jul, Sep and Nov are Swahili too).
    swahili |= {u.lower() for u in PASSWORDS}
    swahili |= {"jan", "feb", "mac", "apr", "mei", "jun", "jul", "ago", "sep", "okt", "nov", "des"}
    return english, swahili


def english_left(text: str, english: set[str], swahili: set[str]) -> dict[str, str]:
    """English words in `text` (word -> the first line it is on)."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        if "WebGL" in line:  # Plotly's notice in a browser without a GPU (headless tests), not the portal's
            continue
        for word in WORD.findall(line):
            w = word.lower()
            if w in english and w not in swahili and w not in found:
                found[w] = line.strip()[:120]
    return found


@pytest.fixture
def swahili_site(sqlite_url, tmp_path, monkeypatch):
    engine, Session = small_site_db(sqlite_url, monkeypatch)  # noqa: N806
    with Session() as s:
        s.execute(sa.update(User).values(language="sw"))
        s.commit()
    yield create_app(web_config(sqlite_url, tmp_path), Session)
    engine.dispose()


def test_english_left_finds_english_and_spares_swahili_and_data():
    english, swahili = _catalog_words()
    found = english_left("Historia ya uzalishaji\nKagwe KGW-S1 12,345 kg CO2\nDownload the workbook\nMay 2026",
                         english, swahili)
    assert "download" in found and "workbook" in found and "may" in found
    assert not {"historia", "kagwe", "kgw", "kg", "co"} & set(found)


def signed_in(dash_duo, app, username: str):  # noqa: ANN001, ANN201
    """Serve `app`, sign `username` in at a desktop width; return (driver, base url)."""
    port = free_port()
    dash_duo.server.port = port
    dash_duo.start_server(app, navigate=False, port=port)
    base = dash_duo.server.url.rstrip("/")
    driver = dash_duo.driver
    driver.set_window_size(1440, 900)
    sign_in(driver, base, username)
    return driver, base


# A factory manager's pages, and an admin's (every other page: the HQ and auditor menus are parts of
# it; what differs for them, read-only notes, is checked per page in test_i18n_pages_h2).
@pytest.mark.parametrize("username", ["kagwe", "admin"])
def test_i18n_walk_every_page_in_swahili_has_no_english(dash_duo, swahili_site, username):
    english, swahili = _catalog_words()
    driver, base = signed_in(dash_duo, swahili_site, username)
    problems = []
    for i, path in enumerate(role_pages(ROLES[username])):
        go(driver, base, path, in_app=i > 0)
        assert driver.execute_script("return document.documentElement.lang") == "sw"
        for word, line in sorted(english_left(driver.execute_script(PAGE_TEXT_JS), english, swahili).items()):
            problems.append(f"{path}: {word!r} in {line!r}")
    assert not problems, f"{len(problems)} English words on Swahili pages:\n" + "\n".join(problems)


def test_date_picker_calendar_in_swahili(dash_duo, swahili_site):
    """The date pickers' calendars (date-fns inside Dash) name months and weekdays in Swahili
    (assets/datefns_locale_sw.js): the walk above reads the page with the calendars closed."""
    from selenium.webdriver.common.by import By

    english, swahili = _catalog_words()
    driver, base = signed_in(dash_duo, swahili_site, "kagwe")
    go(driver, base, "/factory/history", in_app=False)
    driver.find_element(By.ID, "factory-history-range").click()  # the start date's input opens the calendar
    time.sleep(1.0)
    text = driver.execute_script("""
        const out = [];
        for (const e of document.querySelectorAll('.dash-datepicker, .dash-datepicker *')) {
          if (e.classList && e.classList.contains('dash-datepicker')) out.push(e.innerText || '');
          for (const a of ['aria-label', 'title']) { const v = e.getAttribute(a); if (v) out.push(v); }
        }
        return out.join('\\n');""")
    months = ["Januari", "Februari", "Machi", "Aprili", "Mei", "Juni", "Julai", "Agosti", "Septemba", "Oktoba", "Novemba", "Desemba"]
    assert any(m in text for m in months), text[:400]
    left = english_left(text, english, swahili)
    assert not left, left

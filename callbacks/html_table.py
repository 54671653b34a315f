"""Long read-only tables drawn as one component instead of one Dash component per cell.

Measured (bench/bench_pages.py, demo data): the Nodes table (77 rows × 11 cells, badges) took
3–4 s to appear in Chromium and the Admin page 6 s, while their callbacks answered in < 120 ms.
The time was the Dash renderer: each html.Td / dbc.Badge is a React component wired to the
store, and every store update (each callback, each loading flag) revisits all of them. Here the
whole table is one `dcc.Markdown` holding plain HTML, so the browser builds it in one pass.

Safety: callers never pass markup. Every cell is text (escaped here) or one of the small markers
below (`Badge`, `Link`), whose text is escaped too; `dangerously_allow_html` only ever sees HTML
made in this module. The table keeps Bootstrap's classes, its id (tests and CSS select on it)
and a scrolling wrapper that keyboard users can focus (WCAG 2.1.1).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape

from dash import dcc

BADGE_COLORS = frozenset({"success", "danger", "warning", "secondary", "info", "primary", "light", "dark"})


@dataclass(frozen=True)
class Badge:
    """A coloured label; the text carries the meaning, the colour only repeats it."""

    text: str
    color: str = "secondary"


@dataclass(frozen=True)
class Link:
    """A link inside the app (a path such as /factory/history?factory=3)."""

    text: str
    href: str


@dataclass(frozen=True)
class Cell:
    """Several parts in one cell, with an optional CSS class (e.g. "small")."""

    parts: tuple
    class_name: str = ""


def _part(value: object) -> str:
    if isinstance(value, Badge):
        color = value.color if value.color in BADGE_COLORS else "secondary"
        return f'<span class="badge bg-{color}">{escape(value.text)}</span>'
    if isinstance(value, Link):
        href = value.href if value.href.startswith("/") and not value.href.startswith("//") else "#"
        return f'<a href="{escape(href, quote=True)}">{escape(value.text)}</a>'
    if value is None:
        return ""
    return escape(str(value))


def _cell(value: object, tag: str = "td") -> str:
    if isinstance(value, Cell):
        cls = f' class="{escape(value.class_name, quote=True)}"' if value.class_name else ""
        return f"<{tag}{cls}>{''.join(_part(p) for p in value.parts)}</{tag}>"
    return f"<{tag}>{_part(value)}</{tag}>"


def table_html(head: Sequence[str], rows: Iterable[Sequence[object]], table_id: str, striped: bool = True,
               hover: bool = False, label: str = "") -> str:
    """Return the HTML of a Bootstrap table (escaped text, markers only) inside a scrolling region."""
    classes = "table table-sm" + (" table-striped" if striped else "") + (" table-hover" if hover else "")
    thead = "<thead><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr></thead>"
    tbody = "<tbody>" + "".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in rows) + "</tbody>"
    name = escape(label or table_id.replace("-", " "), quote=True)
    return (f'<div class="table-responsive" tabindex="0" role="region" aria-label="{name}">'
            f'<table class="{classes}" id="{escape(table_id, quote=True)}">{thead}{tbody}</table></div>')


def html_table(head: Sequence[str], rows: Iterable[Sequence[object]], table_id: str, striped: bool = True,
               hover: bool = False, label: str = "") -> dcc.Markdown:
    """Return a long read-only table as a single component (see the module docstring)."""
    return dcc.Markdown(table_html(head, rows, table_id, striped, hover, label), dangerously_allow_html=True,
                        className="ct-html-table", id=f"{table_id}-wrap")

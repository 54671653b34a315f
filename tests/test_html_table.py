"""callbacks/html_table.py: long tables as one component of escaped HTML — nothing a user typed
can become markup, links stay inside the app, and the table keeps its id and Bootstrap classes."""

from __future__ import annotations

from callbacks.html_table import Badge, Cell, Link, html_table, table_html


def test_table001_text_is_escaped_everywhere():
    evil = '<img src=x onerror="alert(1)">'
    html = table_html(["<b>head</b>"], [[evil, Badge(evil, "danger"), Link(evil, "/x?a=1&b=2"), Cell((evil,), evil)]],
                      "t-1", label=evil)
    assert "<img" not in html and "<b>" not in html and 'onerror="' not in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
    assert 'href="/x?a=1&amp;b=2"' in html


def test_table002_links_stay_in_the_app_and_colours_are_known():
    html = table_html(["a"], [[Link("out", "https://evil.example/")], [Link("proto", "//evil.example")],
                              [Link("js", "javascript:alert(1)")], [Badge("x", "red; background:url(x)")]], "t")
    assert "evil.example" not in html and "javascript:" not in html
    assert html.count('href="#"') == 3 and 'class="badge bg-secondary"' in html


def test_table003_keeps_id_classes_and_a_focusable_region():
    comp = html_table(["Node", "Status"], [["KGW-S1", Badge("online", "success")], ["MTR-S1", None]], "hq-nodes-grid",
                      hover=True, label="Sensor nodes")
    html = comp.children
    assert comp.dangerously_allow_html is True and comp.id == "hq-nodes-grid-wrap"
    assert '<table class="table table-sm table-striped table-hover" id="hq-nodes-grid">' in html
    assert '<div class="table-responsive" tabindex="0" role="region" aria-label="Sensor nodes">' in html
    assert html.count("<tr>") == 3 and "<td></td>" in html  # header + 2 rows; None is an empty cell
    assert '<span class="badge bg-success">online</span>' in html

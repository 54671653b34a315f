"""The HQ overview's offline map (issue 17, item 2): Kenya with its borders, lakes and 47 counties from
the bundled base map, factories marked by last month's target result (colour and symbol), hover
and click-through; in the browser, nothing is loaded from outside the app."""

from __future__ import annotations

import json

import pytest
from browser_walk import wait_idle
from test_web_browser import site, start  # noqa: F401 - `site` is a fixture
from web_helpers import PASSWORDS

from callbacks.figures import MAP_FILE, MAP_RESULTS, base_map, map_figure, map_result

# The 47 counties of the Constitution of Kenya 2010, First Schedule (spelling as in the map data).
COUNTIES = {
    "Mombasa", "Kwale", "Kilifi", "Tana River", "Lamu", "Taita Taveta", "Garissa", "Wajir", "Mandera", "Marsabit",
    "Isiolo", "Meru", "Tharaka-Nithi", "Embu", "Kitui", "Machakos", "Makueni", "Nyandarua", "Nyeri", "Kirinyaga",
    "Murang'a", "Kiambu", "Turkana", "West Pokot", "Samburu", "Trans Nzoia", "Uasin Gishu", "Elegeyo-Marakwet",
    "Nandi", "Baringo", "Laikipia", "Nakuru", "Narok", "Kajiado", "Kericho", "Bomet", "Kakamega", "Vihiga",
    "Bungoma", "Busia", "Siaya", "Kisumu", "Homa Bay", "Migori", "Kisii", "Nyamira", "Nairobi",
}
# Towns (lon, lat) and the county they are in: an independent check that the shapes were decoded right.
TOWNS = {"Nairobi": (36.822, -1.292), "Kisumu": (34.762, -0.092), "Nyeri": (36.948, -0.420),
         "Kericho": (35.286, -0.368), "Garissa": (39.646, -0.453), "Turkana": (35.597, 3.119)}  # Lodwar


def inside(point: tuple[float, float], ring: list) -> bool:
    """Ray casting: is `point` inside the polygon `ring`?"""
    x, y = point
    hit = False
    for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1], strict=True):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            hit = not hit
    return hit


def contrast(hex_color: str, other: str = "#ffffff") -> float:
    """WCAG 2.x contrast ratio of two sRGB colours."""
    def lum(h: str) -> float:
        chans = [int(h[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in chans]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    a, b = sorted((lum(hex_color), lum(other)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def test_map001_base_map_has_the_47_counties_where_the_towns_are():
    raw = json.loads(MAP_FILE.read_text(encoding="utf-8"))
    assert set(raw["counties"]) == COUNTIES
    for county, town in TOWNS.items():
        assert any(inside(town, ring) for ring in raw["counties"][county]), county
        assert any(inside(town, ring) for ring in raw["kenya"]), county
        others = [c for c in COUNTIES if c != county and any(inside(town, r) for r in raw["counties"][c])]
        assert others == [], (county, others)
    # Lake Victoria (off Kisumu) and Lake Turkana are drawn; Kampala is outside Kenya.
    assert any(inside((34.5, -0.3), ring) for ring in raw["lakes"])
    assert any(inside((36.1, 3.6), ring) for ring in raw["lakes"])
    assert not any(inside((32.58, 0.35), ring) for ring in raw["kenya"])
    assert MAP_FILE.stat().st_size < 80_000  # simplified: the figure stays small for a phone


def _factory(fid: int, **kw) -> dict:
    base = {"id": fid, "code": f"F{fid}", "name": f"Factory {fid}", "region": 1, "county": "Nyeri",
            "lat": -0.4, "lon": 36.9, "intensity": 1.0, "target": 1.5, "target_met": None, "status": "missing"}
    return {**base, **kw}


def test_map002_factories_by_result_with_colour_and_symbol_and_click_ids():
    factories = [_factory(1, target_met=True, status="approved"), _factory(2, target_met=False, status="approved"),
                 _factory(3, status="submitted"), _factory(4), _factory(5, target_met=True, status="approved")]
    assert [map_result(f) for f in factories] == ["met", "missed", "pending", "none", "met"]
    fig = map_figure(factories)
    assert {t.type for t in fig.data} == {"scatter"}  # plain axes: no geo subplot, so no TopoJSON fetch
    assert not {"geo", "map", "mapbox"} & set(fig.to_plotly_json()["layout"])
    by_key = {t.meta: t for t in fig.data if t.meta}
    assert list(by_key["met"].customdata) == [1, 5]
    assert list(by_key["missed"].customdata) == [2]
    assert list(by_key["pending"].customdata) == [3]
    assert list(by_key["none"].customdata) == [4]
    symbols = {t.marker.symbol for t in by_key.values()}
    colours = {t.marker.color for t in by_key.values()}
    assert len(symbols) == 4 and len(colours) == 4  # never colour alone
    for _, _, colour, _ in MAP_RESULTS:
        assert contrast(colour) >= 3.0, colour  # WCAG 1.4.11 against the white land
    assert "Nyeri County" in by_key["met"].text[0] and "target 1.50" in by_key["met"].text[0]
    sneaky = map_figure([_factory(9, name="<img src=x onerror=alert(1)>")])
    assert "<img" not in next(t for t in sneaky.data if t.meta == "none").text[0]
    counties = next(t for t in fig.data if t.name == "counties")
    assert list(counties.x).count(None) + 1 >= 47
    assert all(t.hoverinfo == "skip" for t in fig.data if not t.meta)  # only factories answer the pointer
    assert len(fig.to_json()) < 120_000


def test_map003_title_clears_the_toolbar():
    """The title sits below Plotly's toolbar row, so the two never collide on a phone."""
    fig = map_figure([_factory(1)])
    assert fig.layout.title.yref == "container" and fig.layout.title.pad.t >= 25
    assert fig.layout.margin.t >= fig.layout.title.pad.t + 20
    assert base_map()["county_names"] == sorted(COUNTIES)


@pytest.mark.browser
def test_wmap001_overview_map_is_served_with_the_app(dash_duo, site):  # noqa: F811
    app, _, fx = site
    base = start(dash_duo, app)
    driver = dash_duo.driver
    driver.get(base + "/login")
    dash_duo.wait_for_element("#login-username").send_keys("hq")
    dash_duo.find_element("#login-password").send_keys(PASSWORDS["hq"])
    dash_duo.find_element("#login-submit").click()
    dash_duo.wait_for_element("#hq-overview-map .js-plotly-plot")
    wait_idle(driver)
    gd = driver.execute_script(
        "const gd = document.querySelector('#hq-overview-map .js-plotly-plot');"
        "return gd.data.map(t => ({name: t.name, meta: t.meta || null, n: (t.x || []).length,"
        " color: t.marker ? t.marker.color : null, ids: t.customdata || null}));")
    names = {t["name"] for t in gd}
    assert {"kenya", "counties", "lakes", "neighbours"} <= names
    assert next(t for t in gd if t["name"] == "counties")["n"] > 1000
    plotted = sorted(i for t in gd if t["meta"] for i in (t["ids"] or []))
    assert plotted == sorted(fx.factory_ids.values())
    legend = driver.execute_script(
        "return Array.from(document.querySelectorAll('#hq-overview-map .legendtext')).map(e => e.textContent)")
    assert any(text.startswith(("target met", "awaiting approval", "no result yet")) for text in legend), legend
    # Nothing came from outside the app: every resource the page fetched is on its own origin.
    urls = driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
        ".concat(performance.getEntriesByType('navigation').map(e => e.name))")
    assert urls and all(u.startswith(base) for u in urls), [u for u in urls if not u.startswith(base)]

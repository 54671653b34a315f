"""What a browser test reads from a data grid (callbacks/grid.py) in headless Chromium, and a short wait."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

SHOWN_JS = (
    "var field = arguments[1]; try { var out = []; dash_ag_grid.getApi(arguments[0])"
    ".forEachNodeAfterFilterAndSort(function (n) { out.push(n.data[field]); }); return out; }"
    " catch (e) { return null; }")


def shown(dash_duo: Any, grid_id: str, field: str) -> list | None:
    """The `field` of each row in the order the grid shows them, after its sort and filters (None until ready)."""
    return dash_duo.driver.execute_script(SHOWN_JS, grid_id, field)


def until(fn: Callable[[], Any], expected: Any, timeout: float = 15) -> Any:
    """Call `fn` until it returns `expected` or `timeout` seconds pass; return its last value (assert on it)."""
    deadline = time.time() + timeout
    value = fn()
    while value != expected and time.time() < deadline:
        time.sleep(0.1)
        value = fn()
    return value

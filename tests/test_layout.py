"""The package layout holds: the import-linter contracts in setup.cfg are kept, and no import cycles.

A wrong import fails CI here instead of waiting for a reviewer (issue 9). `app.py` is a module,
which import-linter cannot take as a root package, so its place is checked with `ast`.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("carbontrack", "pages", "callbacks", "mqtt_listener", "core")


def _lint_imports() -> Path:
    exe = Path(sys.executable).with_name("lint-imports")
    return exe if exe.exists() else Path(shutil.which("lint-imports") or "lint-imports")


def test_import_contracts_are_kept():
    proc = subprocess.run([str(_lint_imports())], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 kept, 0 broken" in proc.stdout


def test_a_wrong_import_breaks_the_contract(tmp_path):
    """The contract can fail: the kernel importing a capability is reported as broken."""
    work = tmp_path / "tree"
    shutil.copytree(ROOT, work, ignore=shutil.ignore_patterns(".venv", ".git", "var", "firmware", "*.pyc", "build"))
    models = work / "core" / "models.py"
    models.write_text(models.read_text() + "\nimport core.reporting.reports  # noqa\n")
    proc = subprocess.run([str(_lint_imports())], cwd=work, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(work), "PATH": "/usr/bin:/bin"})
    assert proc.returncode != 0
    assert "core.models -> core.reporting.reports" in proc.stdout


def _strongly_connected(adj: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: the groups of modules that import each other (size > 1)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in adj[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for m in sorted(adj):
        if m not in index:
            visit(m)
    return found


def test_no_import_cycles():
    graph = grimp.build_graph(*PACKAGES)
    adj = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    assert _strongly_connected(adj) == []
    assert _strongly_connected({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]  # the check can fail


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_app_sits_between_composition_and_web():
    """app.py builds the web app: it never imports the composition layer above it or ingest."""
    assert not _imported_roots(ROOT / "app.py") & {"carbontrack", "mqtt_listener"}
    for folder in ("pages", "callbacks", "core", "mqtt_listener"):
        for path in (ROOT / folder).rglob("*.py"):
            assert "app" not in _imported_roots(path), f"{path} imports app.py"


@pytest.mark.parametrize("folder", ["carbontrack", "core", "pages", "callbacks", "mqtt_listener", *[f"core/{p}" for p in (
    "inventory", "measurement", "fleet", "accounts", "registry", "insights", "reporting")]])
def test_every_package_says_what_lives_there(folder):
    doc = ast.get_docstring(ast.parse((ROOT / folder / "__init__.py").read_text()))
    assert doc and "import" in doc, f"{folder}/__init__.py needs a docstring naming what it may import"
